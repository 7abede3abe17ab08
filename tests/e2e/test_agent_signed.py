"""Agent-approved enrollment (the walkthrough's 5.3.1), end to end: the user's key and the agent's key on
devices, the CMC request signed on the agent's device, TLS client authentication with the same device key,
the CA's answer verified, the certificate imported next to its key."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.devices import NSSDatabase, SoftHSMToken, make_nssdb
from tests.e2e.conftest import DeviceAgent, LocalCA, run


def _enroll(ca: LocalCA, agent: DeviceAgent, csr: Path, profile: str, out: Path) -> dict[str, object]:
    request, response = out / "cmc-request.bin", out / "cmc-response.bin"
    run("cmc-agent", "request", "--csr", str(csr), "--signer-key", agent.key_uri, "--signer-cert",
        str(agent.cert), "--chain", str(ca.ca_cert), "-o", str(request), *agent.pin_args)  # fmt: skip
    run("cmc-agent", "submit", str(request), "--url", ca.url(profile=profile), "--ca-cert", str(ca.ca_cert),
        "--key", agent.key_uri, "--cert", str(agent.cert), "-o", str(response), *agent.pin_args)  # fmt: skip
    read = run("cmc-agent", "response", str(response), "--ca-cert", str(ca.ca_cert), "--json",
               "--chain-out", str(out / "chain.pem"), check=False)  # fmt: skip
    result: dict[str, object] = json.loads(read.stdout)
    result["exit"] = read.returncode
    return result


def _leaf(chain: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificates(chain.read_bytes())[0]


def _csr_public_key(csr: Path) -> bytes:
    return (
        x509.load_pem_x509_csr(csr.read_bytes())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def test_server_certificate_for_an_hsm_key_approved_by_an_hsm_agent(
    local_ca: LocalCA, hsm_agent: DeviceAgent, softhsm: SoftHSMToken, tmp_path: Path
) -> None:
    pin = ("--pin-file", str(softhsm.pin_file))
    key = run(
        "cmc-agent", "token", "keygen", "--token", softhsm.uri, "--label", "e2e-web", *pin
    ).stdout.strip()
    csr = tmp_path / "request.csr"
    run("cmc-agent", "csr", "--key", key, "--subject", "CN=www.example.com,O=Example", "-o", str(csr), *pin)

    result = _enroll(local_ca, hsm_agent, csr, "caCMCserverCert", tmp_path)

    assert result["exit"] == 0 and result["status"] == "success", result
    assert result["signature"]["verified"] is True  # type: ignore[index]
    leaf = _leaf(tmp_path / "chain.pem")
    assert leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == _csr_public_key(csr), "the CA certified the key on the token"
    assert leaf.subject.rfc4514_string() == "CN=www.example.com,O=Example"
    assert (
        ExtendedKeyUsageOID.SERVER_AUTH
        in leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    )
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["www.example.com"]
    verify = subprocess.run(
        ["openssl", "verify", "-CAfile", str(local_ca.ca_cert), str(tmp_path / "chain.pem")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stderr

    run("cmc-agent", "token", "import-cert", "--token", softhsm.uri, "--label", "e2e-web-cert",
        str(tmp_path / "chain.pem"), *pin)  # fmt: skip
    listed = json.loads(run("cmc-agent", "token", "keys", "--token", softhsm.uri, "--json", *pin).stdout)
    (entry,) = [k for k in listed if k["label"] == "e2e-web"]
    assert entry["has_certificate"] is True


def test_user_certificate_in_an_nss_database_approved_by_an_nss_agent(
    local_ca: LocalCA, nss_agent: DeviceAgent, tmp_path: Path
) -> None:
    user_db: NSSDatabase = make_nssdb(tmp_path / "user-db")
    pin = ("--nssdb", str(user_db.directory), "--pin-file", str(user_db.password_file))
    key = run("cmc-agent", "token", "keygen", "--label", "user", "--type", "rsa:2048", *pin).stdout.strip()
    csr = tmp_path / "request.csr"
    run("cmc-agent", "csr", "--key", key, "--subject", "CN=Jane Doe,UID=jdoe,O=Example", "-o", str(csr), *pin)

    result = _enroll(local_ca, nss_agent, csr, "caFullCMCUserCert", tmp_path)

    assert result["exit"] == 0 and result["status"] == "success", result
    run(
        "cmc-agent",
        "token",
        "import-cert",
        "--label",
        "Jane Doe certificate",
        str(tmp_path / "chain.pem"),
        *pin,
    )
    listing = subprocess.run(
        ["certutil", "-L", "-d", f"sql:{user_db.directory}", "-n", "Jane Doe certificate"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert listing.returncode == 0 and "CN=Jane Doe" in listing.stdout, listing.stderr
    keys = subprocess.run(
        ["certutil", "-K", "-d", f"sql:{user_db.directory}", "-f", str(user_db.password_file)],
        capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert "user" in keys


def test_agent_tls_certificate_must_match_the_cmc_signer(
    local_ca: LocalCA, hsm_agent: DeviceAgent, nss_agent: DeviceAgent, softhsm: SoftHSMToken, tmp_path: Path
) -> None:
    """CMCAuth: signed by one agent, TLS as another -> Dogtag's 'Invalid Credential.' (server doc §4.1)."""
    pin = ("--pin-file", str(softhsm.pin_file))
    key = run(
        "cmc-agent", "token", "keygen", "--token", softhsm.uri, "--label", "e2e-mismatch", *pin
    ).stdout.strip()
    csr = tmp_path / "request.csr"
    run("cmc-agent", "csr", "--key", key, "--subject", "CN=mismatch", "-o", str(csr), *pin)
    request, response = tmp_path / "req.bin", tmp_path / "resp.bin"
    run("cmc-agent", "request", "--csr", str(csr), "--signer-key", nss_agent.key_uri, "--signer-cert",
        str(nss_agent.cert), "-o", str(request), *nss_agent.pin_args)  # fmt: skip
    run("cmc-agent", "submit", str(request), "--url", local_ca.url(profile="caFullCMCUserCert"), "--ca-cert",
        str(local_ca.ca_cert), "--key", hsm_agent.key_uri, "--cert", str(hsm_agent.cert), "-o", str(response),
        *hsm_agent.pin_args)  # fmt: skip
    read = run(
        "cmc-agent", "response", str(response), "--ca-cert", str(local_ca.ca_cert), "--json", check=False
    )
    assert read.returncode == 1
    (status,) = json.loads(read.stdout)["statuses"]
    assert status["status"] == "failed" and status["fail_info"] == "badRequest"
    assert status["status_string"] == "Invalid Credential."


def test_an_untrusted_ca_certificate_stops_the_submission(
    local_ca: LocalCA, hsm_agent: DeviceAgent, tmp_path: Path
) -> None:
    other = tmp_path / "other-ca"
    run("cmc-localca", "init", str(other))
    request = tmp_path / "req.bin"
    request.write_bytes(b"\x30\x00")
    result = run("cmc-agent", "submit", str(request), "--url", local_ca.url(), "--ca-cert",
                 str(other / "ca.pem"), "-o", str(tmp_path / "resp.bin"), check=False)  # fmt: skip
    assert result.returncode == 1
    assert "server certificate did not verify" in result.stderr
    assert not (tmp_path / "resp.bin").exists()
