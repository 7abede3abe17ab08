"""The ``cmc-localca`` command contract: init's files, the look-inside commands, and their errors."""

from __future__ import annotations

import contextlib
import io
import json
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from localca.cli import main as cli_main
from tests.localca import independent as ind
from tests.localca.conftest import Client, LocalCA


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("key_type", ["rsa:2048", "ec:p256"])
def test_init_makes_a_complete_ca(tmp_path: Path, key_type: str) -> None:
    directory = tmp_path / "ca"
    code, out, _ = run(["init", str(directory), "--key-type", key_type])
    assert code == 0 and "ca.pem" in out
    for name in (
        "ca-key.pem",
        "tls-key.pem",
        "kra-transport-key.pem",
        "issuance-protection-key.pem",
        "kra-storage.key",
    ):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600, name
    ca = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
    for name in ("tls.pem", "kra-transport.pem", "issuance-protection.pem"):
        certificate = x509.load_pem_x509_certificate((directory / name).read_bytes())
        certificate.verify_directly_issued_by(ca)
    tls = x509.load_pem_x509_certificate((directory / "tls.pem").read_bytes())
    san = tls.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert "127.0.0.1" in [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    protection = x509.load_pem_x509_certificate((directory / "issuance-protection.pem").read_bytes())
    assert (
        protection.public_key().__class__.__name__.startswith("RSA")
        or "RSA" in type(protection.public_key()).__name__
    )
    # As JSS writes them: sha256WithRSAEncryption with NULL parameters (RFC 4055), ECDSA with none.
    from asn1crypto import pem as asn1_pem
    from asn1crypto import x509 as asn1_x509

    der = asn1_pem.unarmor((directory / "tls.pem").read_bytes())[2]
    algorithm = asn1_x509.Certificate.load(der)["signature_algorithm"].dump()
    expected = "300d06092a864886f70d01010b0500" if key_type.startswith("rsa") else "300a06082a8648ce3d040302"
    assert algorithm.hex() == expected
    config = (directory / "CS.cfg").read_text()
    assert "keyWrap.useOAEP=false" in config and "cmc.popLinkWitnessRequired=false" in config
    assert "profile.caFullCMCSharedTokenCert.enable=true" in config

    code, _, err = run(["init", str(directory)])
    assert code == 1 and "already holds a CA" in err


def test_profiles_list_and_show(local_ca: LocalCA) -> None:
    code, out, _ = run(["profile", "list", str(local_ca.directory), "--json"])
    assert code == 0
    profiles = {item["id"]: item for item in json.loads(out)}
    for profile_id in (
        "caFullCMCUserCert",
        "caECFullCMCUserCert",
        "caCMCserverCert",
        "caCMCECserverCert",
        "caCMCsubsystemCert",
        "caCMCocspCert",
        "caCMCauditSigningCert",
        "caCMCkraTransportCert",
        "caCMCcaCert",
        "caCMCcaIssuanceProtectionCert",
        "caFullCMCUserSignedCert",
        "caECFullCMCUserSignedCert",
        "caFullCMCSharedTokenCert",
        "caECFullCMCSharedTokenCert",
        "caSimpleCMCUserCert",
    ):
        assert profiles[profile_id]["enabled"], profile_id
    assert profiles["caFullCMCUserSignedCert"]["settings"]["enable"] == "false"  # as Dogtag ships it
    assert profiles["caFullCMCSharedTokenCert"]["authenticator"] == "CMCUserSignedAuth"
    code, out, _ = run(["profile", "show", str(local_ca.directory), "caCMCserverCert"])
    assert code == 0 and "subject.pattern=.*CN=.*" in out


def test_request_cert_and_agent_views(local_ca: LocalCA, agent: Client) -> None:
    code, out, _ = run(["cert", "show", str(local_ca.directory), str(agent.serial), "--json"])
    assert code == 0 and json.loads(out)["subject"] == "CN=CA Agent, O=Example"
    code, out, _ = run(["cert", "show", str(local_ca.directory), hex(agent.serial), "--pem"])
    assert x509.load_pem_x509_certificate(out.encode()).serial_number == agent.serial
    code, out, _ = run(["agent", "list", str(local_ca.directory)])
    assert f"{agent.serial}\tagent\tCN=CA Agent, O=Example" in out.splitlines()
    code, out, _ = run(["request", "list", str(local_ca.directory), "--json"])
    records = json.loads(out)
    assert code == 0 and records
    code, out, _ = run(["request", "show", str(local_ca.directory), str(records[0]["request_id"])])
    assert code == 0 and "status:" in out
    code, _, err = run(["cert", "show", str(local_ca.directory), "999999999"])
    assert code == 1 and "no certificate" in err
    code, out, _ = run(["cert", "list", str(local_ca.directory)])
    assert code == 0 and "CA Signing Certificate" in out


def test_shared_token_generate_and_crl(local_ca: LocalCA, tmp_path: Path) -> None:
    secret_out = tmp_path / "generated.secret"
    code, out, _ = run(
        [
            "shared-token",
            "add",
            str(local_ca.directory),
            "--uid",
            "generated",
            "--generate",
            "--secret-out",
            str(secret_out),
        ]
    )
    assert code == 0 and "secret:" not in out
    assert stat.S_IMODE(secret_out.stat().st_mode) == 0o600 and len(secret_out.read_text().strip()) >= 16
    code, out, _ = run(["shared-token", "list", str(local_ca.directory)])
    assert "generated\tuid=generated,ou=People,dc=example,dc=com" in out
    crl_path = tmp_path / "crl.der"
    assert run(["crl", str(local_ca.directory), "--out", str(crl_path)])[0] == 0
    crl = x509.load_der_x509_crl(crl_path.read_bytes())
    ca_public_key = local_ca.ca_certificate.public_key()
    assert isinstance(ca_public_key, rsa.RSAPublicKey)
    assert crl.is_signature_valid(ca_public_key)


def test_agent_add_refuses_a_bad_csr(local_ca: LocalCA, tmp_path: Path) -> None:
    csr = tmp_path / "bad.csr"
    csr.write_bytes(ind.pkcs10(local_ca.new_rsa_key(), "CN=bad", corrupt_signature=True))
    code, _, err = run(
        ["agent", "add", str(local_ca.directory), "--csr", str(csr), "--out", str(tmp_path / "x.pem")]
    )
    assert code == 1 and "signature" in err
    code, _, err = run(["cert", "list", str(tmp_path / "not-a-ca")])
    assert code == 1 and "cmc-localca init" in err


def test_ec_ca_issues_and_signs_responses(tmp_path: Path) -> None:
    """An EC CA (init --key-type ec:p256) signs certificates and responses with ECDSA."""
    from asn1crypto import x509 as asn1_x509

    from localca.authority import CertificateAuthority
    from localca.pipeline import ENDPOINTS, CMCService

    directory = tmp_path / "ec-ca"
    assert run(["init", str(directory), "--key-type", "ec:p256"])[0] == 0
    agent_key = LocalCA.new_ec_key()
    (tmp_path / "agent.csr").write_bytes(ind.pkcs10(agent_key, "CN=EC CA Agent"))
    argv = [
        "agent",
        "add",
        str(directory),
        "--csr",
        str(tmp_path / "agent.csr"),
        "--out",
        str(tmp_path / "agent.pem"),
    ]
    assert run(argv)[0] == 0
    agent_certificate = x509.load_pem_x509_certificate((tmp_path / "agent.pem").read_bytes())
    agent_der = agent_certificate.public_bytes(serialization.Encoding.DER)
    ca = CertificateAuthority(directory)
    try:
        service = CMCService(ca)
        data = ind.pki_data([], [ind.tagged_pkcs10(1, ind.pkcs10(LocalCA.new_rsa_key(), "CN=issued by ec"))])
        body = ind.signed_cms(data, agent_key, signer_certificate=agent_der, certificates=[agent_der])
        answer = service.submit(
            ENDPOINTS["/ca/ee/ca/profileSubmitCMCFull"], None, body, asn1_x509.Certificate.load(agent_der)
        )
        ca_certificate = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
        response = ind.read_response(answer.body, ca_certificate)
        assert response.statuses[0].status == 0
        issued = next(c for c in response.certificates if c.subject != ca_certificate.subject)
        issued.verify_directly_issued_by(ca_certificate)
    finally:
        ca.close()
