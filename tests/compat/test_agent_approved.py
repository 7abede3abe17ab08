"""The walkthrough's 5.3.1, with its config files: a user's PKCS10Client request in the user's NSS
database, approved by a CA agent (CMCRequest signed with ``nickname=ca_agent`` in the agent's database),
sent with HttpClient over mutual TLS with the same key, read with CMCResponse, imported with
client-cert-import next to the user's key."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from tests.compat.conftest import (
    DogtagDatabase,
    LocalCA,
    issue_directly,
    new_database,
    spki,
    submit_config,
    tool,
    trust_ca,
    write_config,
)
from tests.devices import make_softhsm_token

SERVLET = "/ca/ee/ca/profileSubmitCMCFull?profileId=caFullCMCUserCert"


@dataclass(frozen=True)
class Enrollment:
    user_db: DogtagDatabase
    work: Path
    pkcs10: subprocess.CompletedProcess[str]
    request: subprocess.CompletedProcess[str]
    submit: subprocess.CompletedProcess[str]
    response: subprocess.CompletedProcess[str]
    imported: subprocess.CompletedProcess[str]


def cmc_request_config(agent_db: DogtagDatabase, csr: Path, request: Path, *, tokenname: str = "internal",
                       nickname: str = "ca_agent", password: str | None = None) -> str:  # fmt: skip
    """The walkthrough's cmc-request.cfg, comments and all."""
    return (
        "# NSS database directory where CA agent certificate is stored\n"
        f"dbdir={agent_db.directory}/\n\n"
        "# NSS database password\n"
        f"password={password or agent_db.password}\n\n"
        "# Token name (default is internal)\n"
        f"tokenname={tokenname}\n\n"
        "# Nickname for signing certificate\n"
        f"nickname={nickname}\n\n"
        "# Request format: pkcs10 or crmf\n"
        "format=pkcs10\n\n"
        "# Total number of PKCS10/CRMF requests\n"
        "numRequests=1\n\n"
        "# Path to the PKCS10/CRMF request\n"
        "# The content must be in Base-64 encoded format.\n"
        "# Multiple files are supported. They must be separated by a space.\n"
        f"input={csr}\n\n"
        "# Path for the CMC request\n"
        f"output={request}\n"
    )


@pytest.fixture(scope="module")
def enrollment(
    local_ca: LocalCA, agent_db: DogtagDatabase, tmp_path_factory: pytest.TempPathFactory
) -> Enrollment:
    work = tmp_path_factory.mktemp("agent-approved")
    user_db = new_database(work / "user-nssdb", "user-password")
    csr = work / "request.csr"
    pkcs10 = tool("PKCS10Client", "-d", str(user_db.directory), "-P", str(user_db.password_file),
                  "-n", "CN=Jane Doe,UID=jdoe,O=Example", "-o", str(csr))  # fmt: skip

    request, response = work / "cmc-request.bin", work / "cmc-response.bin"
    write_config(work / "cmc-request.cfg", cmc_request_config(agent_db, csr, request))
    made = tool("CMCRequest", str(work / "cmc-request.cfg"))
    write_config(
        work / "cmc-submit.cfg", submit_config(local_ca, agent_db, request, response, SERVLET, "ca_agent")
    )
    submitted = tool("HttpClient", str(work / "cmc-submit.cfg"))
    chain = work / "cert_chain.crt"
    shown = tool("CMCResponse", "-d", str(agent_db.directory), "-i", str(response), "-o", str(chain))
    imported = tool("cmc-agent", "client-cert-import", "-d", str(user_db.directory), "-C",
                    str(user_db.password_file), "user_name certificate", "--cert", str(chain))  # fmt: skip
    return Enrollment(user_db, work, pkcs10, made, submitted, shown, imported)


def test_pkcs10client_writes_the_request_and_the_dogtag_key_id(enrollment: Enrollment) -> None:
    csr = enrollment.work / "request.csr"
    assert enrollment.pkcs10.stdout.splitlines() == [
        f"PKCS10Client: Certificate request written into {csr}",
        f"PKCS10Client: PKCS#10 request key id written into {csr}.keyId",
    ]
    text = csr.read_bytes()
    assert text.startswith(b"-----BEGIN CERTIFICATE REQUEST-----\n")
    assert text.endswith(b"\r\n-----END CERTIFICATE REQUEST-----\n")
    assert all(len(line) <= 76 for line in text.split(b"\r\n")[1:-1])
    key_id = (enrollment.work / "request.csr.keyId").read_bytes()
    assert not key_id.endswith(b"\n")
    # Dogtag's text form is Java BigInteger(CKA_ID).toString(16): the same key certutil -K lists
    number = int(key_id, 16)
    assert number.to_bytes(20, "big", signed=True).hex() in enrollment.user_db.key_ids()


def test_cmcrequest_prints_and_writes_the_request(enrollment: Enrollment) -> None:
    out = enrollment.request.stdout
    assert "got signerCert: ca_agent" in out
    assert "\nThe CMC enrollment request in base-64 encoded format:\n\n" in out
    assert out.rstrip().endswith(
        f"The CMC enrollment request in binary format is stored in {enrollment.work / 'cmc-request.bin'}"
    )
    assert (enrollment.work / "cmc-request.bin").read_bytes()[:1] == b"\x30"


def test_httpclient_reports_like_dogtag(enrollment: Enrollment) -> None:
    out = enrollment.submit.stdout
    request_size = (enrollment.work / "cmc-request.bin").stat().st_size
    response_size = (enrollment.work / "cmc-response.bin").stat().st_size
    assert f"Total number of bytes read = {request_size}\n" in out
    assert "client cert is not null" in out
    headers = out.split("##Response Headers begin##\n")[1].split("\n##end##")[0].splitlines()
    assert headers[0].startswith("HTTP/1.1 200"), "the status line as received"
    assert "Content-Type: application/pkcs7-mime" in headers
    assert f"Content-Length: {response_size}" in headers
    assert f"Total number of bytes read = {response_size}\n" in out
    assert f"The response in binary format is stored in {enrollment.work / 'cmc-response.bin'}" in out


def test_cmcresponse_shows_success_and_verifies_the_signature(enrollment: Enrollment) -> None:
    lines = enrollment.response.stdout.splitlines()
    start = lines.index("Number of controls is 1")
    assert lines[start : start + 6] == [
        "Number of controls is 1",
        "Control #0: CMCStatusInfoV2",
        "   OID: {1 3 6 1 5 5 7 7 25}",
        "   BodyList: 1 ",
        "   Status: SUCCESS",
        "CMC Full Response.",
    ]
    assert lines[0] == "Certificates: "
    assert "            Subject: CN=Jane Doe, UID=jdoe, O=Example" in lines
    assert any(
        line.startswith("Response signature verified: signed by CN=CA Signing Certificate") for line in lines
    )
    assert lines[-1] == f"PKCS#7 now stored in file: {enrollment.work / 'cert_chain.crt'}"
    assert enrollment.response.stderr == ""


def test_cmcresponse_pkcs7_is_the_chain_openssl_reads(enrollment: Enrollment) -> None:
    chain = enrollment.work / "cert_chain.crt"
    text = chain.read_bytes()
    assert text.startswith(b"-----BEGIN PKCS7-----\n") and text.endswith(b"\r\n-----END PKCS7-----\n")
    printed = subprocess.run(["openssl", "pkcs7", "-in", str(chain), "-print_certs", "-noout"],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "CN = Jane Doe" in printed and "CN = CA Signing Certificate" in printed


def test_the_certificate_lands_next_to_the_key_in_the_users_database(enrollment: Enrollment) -> None:
    assert enrollment.imported.stdout.strip() == 'Imported certificate "user_name certificate"'
    certificate = enrollment.user_db.certificate("user_name certificate")
    csr = x509.load_pem_x509_csr((enrollment.work / "request.csr").read_bytes())
    assert spki(certificate) == spki(csr), "the CA certified the key PKCS10Client made"
    listing = enrollment.user_db.certutil("-L")
    assert "user_name certificate" in listing and "u,u,u" in listing
    # the certificate's key id is the one certutil -K lists for the key
    key_id = (enrollment.work / "request.csr.keyId").read_text()
    assert int(key_id, 16).to_bytes(20, "big", signed=True).hex() in enrollment.user_db.key_ids()


def test_cmcresponse_refuses_a_tampered_response(enrollment: Enrollment, tmp_path: Path) -> None:
    good = (enrollment.work / "cmc-response.bin").read_bytes()
    tampered = tmp_path / "tampered.bin"
    tampered.write_bytes(good[:-10] + bytes(b ^ 0x01 for b in good[-10:]))
    result = tool("CMCResponse", "-d", str(enrollment.user_db.directory), "-i", str(tampered),
                  "-o", str(tmp_path / "out.p7"), check=False)  # fmt: skip
    assert result.returncode == 1
    assert "ERROR: the response does not verify" in result.stderr
    assert not (tmp_path / "out.p7").exists()


def test_cmcresponse_says_when_it_could_not_verify(enrollment: Enrollment, tmp_path: Path) -> None:
    result = tool("CMCResponse", "-d", str(tmp_path), "-i", str(enrollment.work / "cmc-response.bin"))
    assert "   Status: SUCCESS" in result.stdout
    assert "WARNING: the response signature was NOT verified" in result.stderr


def test_cmcresponse_with_another_ca_fails(enrollment: Enrollment, tmp_path: Path) -> None:
    tool("cmc-localca", "init", str(tmp_path / "other"))
    result = tool("CMCResponse", "-d", str(tmp_path), "--ca-cert", str(tmp_path / "other" / "ca.pem"),
                  "-i", str(enrollment.work / "cmc-response.bin"), check=False)  # fmt: skip
    assert result.returncode == 1 and "does not verify" in result.stderr


def test_httpclient_verifies_the_server(local_ca: LocalCA, enrollment: Enrollment, tmp_path: Path) -> None:
    """The user's database trusts no CA: HttpClient refuses to talk rather than trust blindly."""
    empty = new_database(tmp_path / "empty")
    config = write_config(tmp_path / "submit.cfg", submit_config(
        local_ca, empty, enrollment.work / "cmc-request.bin", tmp_path / "resp.bin", SERVLET))  # fmt: skip
    result = tool("HttpClient", str(config), check=False)
    assert result.returncode == 1
    assert "no CA certificate to verify the server" in result.stderr
    assert not (tmp_path / "resp.bin").exists()


def test_agent_key_on_an_hsm_registered_in_the_database(
    local_ca: LocalCA, enrollment: Enrollment, softhsm_dir: Path, tmp_path: Path
) -> None:
    """``tokenname=`` names a SoftHSM2 token added to the agent's database with modutil; the key signs
    the request and authenticates TLS there, the CA certificate comes from the database."""
    card = make_softhsm_token(softhsm_dir, "agent-card", pin="975310")
    agent_db = new_database(tmp_path / "hsm-agent-db", "agent-db-password")
    register = ["modutil", "-add", "softhsm", "-libfile", card.module, "-dbdir", f"sql:{agent_db.directory}"]
    subprocess.run([*register, "-force"], capture_output=True, check=True)
    trust_ca(agent_db, local_ca)
    csr = tmp_path / "agent.csr"
    tool("PKCS10Client", "-d", str(agent_db.directory), "-h", "agent-card", "-P", str(card.pin_file),
         "-n", "CN=HSM Agent,UID=hsmagent", "-o", str(csr))  # fmt: skip
    tool(
        "cmc-localca",
        "agent",
        "add",
        str(local_ca.directory),
        "--csr",
        str(csr),
        "--out",
        str(tmp_path / "a.pem"),
    )
    tool("cmc-agent", "client-cert-import", "-d", str(agent_db.directory), "-C", str(card.pin_file),
         "--token", "agent-card", "hsm agent", "--cert", str(tmp_path / "a.pem"))  # fmt: skip

    request, response = tmp_path / "req.bin", tmp_path / "resp.bin"
    config = cmc_request_config(agent_db, enrollment.work / "request.csr", request, tokenname="agent-card",
                                nickname="hsm agent", password=card.pin)  # fmt: skip
    tool("CMCRequest", str(write_config(tmp_path / "req.cfg", config)))
    submit = submit_config(local_ca, agent_db, request, response, SERVLET, "hsm agent")
    submit = submit.replace("tokenname=internal", "tokenname=agent-card").replace(
        f"password={agent_db.password}", f"password={card.pin}"
    )
    sent = tool("HttpClient", str(write_config(tmp_path / "submit.cfg", submit)))
    assert "thread token is agent-card" in sent.stdout
    shown = tool("CMCResponse", "-d", str(agent_db.directory), "-i", str(response))
    assert "   Status: SUCCESS" in shown.stdout and "Response signature verified" in shown.stdout


def test_a_signer_outside_the_agent_group_gets_dogtags_failure_lines(
    local_ca: LocalCA, enrollment: Enrollment, tmp_path: Path
) -> None:
    """CMCAuth with a certificate the CA issued to someone who is not an agent: HTTP works, CMC fails,
    and CMCResponse prints the failure as Dogtag does and exits 1."""
    clerk = new_database(tmp_path / "clerk")
    trust_ca(clerk, local_ca)
    issue_directly(local_ca, clerk, "clerk", "CN=Clerk,UID=clerk", tmp_path, agent=False)
    request, response = tmp_path / "req.bin", tmp_path / "resp.bin"
    config = cmc_request_config(clerk, enrollment.work / "request.csr", request, nickname="clerk")
    tool("CMCRequest", str(write_config(tmp_path / "req.cfg", config)))
    submit = submit_config(local_ca, clerk, request, response, SERVLET, "clerk")
    tool("HttpClient", str(write_config(tmp_path / "submit.cfg", submit)))
    shown = tool("CMCResponse", "-d", str(clerk.directory), "-i", str(response), "-o", str(tmp_path / "x.p7"),
                 check=False)  # fmt: skip
    assert shown.returncode == 1
    assert shown.stderr == "ERROR: CMC status for [0]: failed\n"
    assert (
        "   BodyList: 0 \n"
        "   Status String: ProfileSubmitCMCServlet authorization failure\n"
        "   OtherInfo type: FAIL\n"
        "     failInfo=bad request\n"
        "CMC Full Response.\n"
    ) in shown.stdout
    assert not (tmp_path / "x.p7").exists()
