"""The walkthrough's own command lines run: a password on the command line where Dogtag's tools take
one (``-p`` of PKCS10Client, CRMFPopClient and CMCSharedToken, ``-c`` of client-cert-import) works with
one warning line on stderr (``CMC_AGENT_STRICT_SECRETS=1`` refuses it: tests/compat/test_refusals.py);
an NSS database with an empty password (Dogtag's CI has one) works with client-cert-import; the key lines
scripts test are Dogtag's, and CRMFPopClient writes the empty ``controls`` Dogtag's CMCRequest needs."""

from __future__ import annotations

import datetime
import subprocess
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from agent.cmc.crmf import load_crmf
from agent.cmc.pem import to_der
from tests.compat.conftest import new_database, tool

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "dogtag"


def warning_line(stderr: str, tool_name: str, option: str) -> None:
    (line,) = stderr.splitlines()
    assert line.startswith(f"{tool_name}: warning: {option} puts the ")
    assert "other users" in line


def self_signed(path: Path, common_name: str, key: rsa.RSAPrivateKey | None = None) -> rsa.RSAPrivateKey:
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return key


def issue(ca_key: rsa.RSAPrivateKey, ca_pem: Path, csr_path: Path, out: Path) -> None:
    ca = x509.load_pem_x509_certificate(ca_pem.read_bytes())
    csr = x509.load_pem_x509_csr(csr_path.read_bytes())
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(ca.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(ca_key, hashes.SHA256())
    )
    out.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def test_walkthrough_lines_with_p_work_with_one_warning(tmp_path: Path) -> None:
    database = new_database(tmp_path / "nssdb", password="token_password")
    transport = tmp_path / "kra.transport"
    self_signed(transport, "DRM Transport Certificate")
    # the walkthrough's CRMFPopClient line, verbatim but for the database directory
    walkthrough = ["-p", "token_password", "-n", "cn=subject_name", "-q", "POP_NONE", "-b", str(transport),
                   "-w", "AES KeyWrap/Wrapped", "-v", "-o", "crmf.req", "-oaep"]  # fmt: skip
    made = tool("CRMFPopClient", "-d", str(database.directory), *walkthrough, cwd=tmp_path)
    warning_line(made.stderr, "CRMFPopClient", "-p")
    assert "-P FILE" in made.stderr and "--pin-env NAME" in made.stderr
    assert len(database.key_ids()) == 1
    assert load_crmf((tmp_path / "crmf.req").read_bytes())[0]["cert_req"]["controls"][0]["type"].native == (
        "pki_archive_options"
    )

    made = tool("PKCS10Client", "-d", str(database.directory), "-p", "token_password", "-n", "CN=p10",
                "-y", "true", "-v", "-o", "p10.csr", cwd=tmp_path)  # fmt: skip
    warning_line(made.stderr, "PKCS10Client", "-p")
    assert "PKCS10Client: use_shared_secret true. Generating SubjectKeyIdentifier extension.\n" in made.stdout
    assert len(database.key_ids()) == 2

    arguments = ["-p", "token_password", "-b", str(transport), "--passphrase-env", "PHRASE", "-o", "t.b64"]
    shared = tool("CMCSharedToken", *arguments, cwd=tmp_path, env={"PHRASE": "Secret.123"})
    warning_line(shared.stderr, "CMCSharedToken", "-p")
    assert (tmp_path / "t.b64").read_text().strip()


def test_crmfpopclient_writes_dogtags_empty_controls_and_ski_line(tmp_path: Path) -> None:
    database = new_database(tmp_path / "nssdb", password="Secret.123")
    arguments = [
        "-p",
        "Secret.123",
        "-n",
        "CN=testuser,UID=testuser",
        "-q",
        "POP_SUCCESS",
        "-y",
        "-o",
        "o.req",
    ]
    made = tool("CRMFPopClient", "-d", str(database.directory), *arguments, cwd=tmp_path)
    assert (
        "CRMFPopClient: use_shared_secret true. Generating SubjectKeyIdentifier extension.\n" in made.stdout
    )
    ours = load_crmf((tmp_path / "o.req").read_bytes())[0]["cert_req"]
    dogtags = load_crmf((SAMPLES / "crmf-popsuccess-ski.req").read_bytes())[0]["cert_req"]
    for cert_request in (ours, dogtags):  # CertRequest { certReqId, certTemplate, controls 30 00 }
        assert cert_request.dump().endswith(cert_request["cert_template"].dump() + b"\x30\x00")
        assert len(cert_request["controls"]) == 0


def test_client_cert_import_with_an_empty_password(tmp_path: Path) -> None:
    directory = tmp_path / "nssdb"
    directory.mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{directory}", "--empty-password"], check=True)
    tool("PKCS10Client", "-d", str(directory), "-n", "CN=ci user", "-o", "user.csr", cwd=tmp_path)
    ca_pem = tmp_path / "ca.pem"
    ca_key = self_signed(ca_pem, "CI CA")
    issue(ca_key, ca_pem, tmp_path / "user.csr", tmp_path / "user.pem")
    empty = tmp_path / "empty-password"
    empty.write_text("")
    empty.chmod(0o600)
    tool("cmc-agent", "client-cert-import", "-d", str(directory), "-C", str(empty), "--ca-cert", str(ca_pem))
    imported = tool("cmc-agent", "client-cert-import", "-d", str(directory), "--pin-env", "EMPTY", "ci user",
                    "--cert", str(tmp_path / "user.pem"), env={"EMPTY": ""})  # fmt: skip
    assert imported.stdout == 'Imported certificate "ci user"\n'
    again = tool("cmc-agent", "client-cert-import", "-d", str(directory), "-c", "", "CI CA 2", "--ca-cert",
                 str(ca_pem))  # fmt: skip
    warning_line(again.stderr, "cmc-agent client-cert-import", "-c")
    listing = subprocess.run(
        ["certutil", "-L", "-d", f"sql:{directory}"], check=True, capture_output=True, text=True
    ).stdout
    assert "ci user" in listing and "u,u,u" in listing and "CT,C,C" in listing
    certificate = asn1_x509.Certificate.load(to_der((tmp_path / "user.pem").read_bytes(), "cert"))
    shown = subprocess.run(
        ["certutil", "-L", "-d", f"sql:{directory}", "-n", "ci user", "-a"], check=True, capture_output=True
    ).stdout
    assert to_der(shown, "certutil's output") == certificate.dump()
