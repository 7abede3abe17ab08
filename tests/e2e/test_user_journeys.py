"""A person with a smart card (SoftHSM2 stands in for it), end to end, as the walkthrough's 5.3.2.2 and
5.3.2.3 describe: a first signing certificate with a shared secret, then an encryption-only certificate
whose key is archived in the KRA (two trips: EncryptedPOP answered on the device), then revocation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.devices import SoftHSMToken, make_softhsm_token
from tests.e2e.conftest import DeviceAgent, LocalCA, run

UID = "jdoe"


def _spki_pem_of(certificate_pem: Path) -> bytes:
    return (
        x509.load_pem_x509_certificates(certificate_pem.read_bytes())[0]
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def _read(ca: LocalCA, response: Path, chain: Path | None = None) -> tuple[int, dict[str, object]]:
    args = ["cmc-agent", "response", str(response), "--ca-cert", str(ca.ca_cert), "--json"]
    if chain is not None:
        args += ["--chain-out", str(chain)]
    result = run(*args, check=False)
    return result.returncode, json.loads(result.stdout)


@pytest.fixture(scope="module")
def card(softhsm_dir: Path) -> SoftHSMToken:
    return make_softhsm_token(softhsm_dir, "smartcard", pin="246810")


@pytest.fixture(scope="module")
def signing_certificate(
    local_ca: LocalCA, card: SoftHSMToken, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path]:
    """Shared-token enrollment: no agent, the request signed with its own key (SKI signer)."""
    work = tmp_path_factory.mktemp("shared-secret")
    secret = work / "secret"
    secret.write_text("the user's shared passphrase\n")
    secret.chmod(0o600)
    run(
        "cmc-localca",
        "shared-token",
        "add",
        str(local_ca.directory),
        "--uid",
        UID,
        "--secret-file",
        str(secret),
    )
    pin = ("--pin-file", str(card.pin_file))
    key = run("cmc-agent", "token", "keygen", "--token", card.uri, "--label", "signing", *pin).stdout.strip()
    csr = work / "request.csr"
    run(
        "cmc-agent", "csr", "--key", key, "--subject", f"CN=John Doe,UID={UID}", "--ski", "-o", str(csr), *pin
    )
    request, response, chain = work / "cmc-request.bin", work / "cmc-response.bin", work / "signing.pem"
    run("cmc-agent", "request", "--csr", str(csr), "--request-key", key, "--identification", UID,
        "--secret-file", str(secret), "--pop-link-witness", "-o", str(request), *pin)  # fmt: skip
    run("cmc-agent", "submit", str(request), "--url", local_ca.url(profile="caFullCMCSharedTokenCert"),
        "--ca-cert", str(local_ca.ca_cert), "-o", str(response))  # fmt: skip
    code, result = _read(local_ca, response, chain)
    assert code == 0 and result["status"] == "success", result
    run("cmc-agent", "token", "import-cert", "--token", card.uri, "--label", "signing-cert", str(chain), *pin)
    return key, chain


def test_shared_secret_gives_the_ldap_entry_subject(signing_certificate: tuple[str, Path]) -> None:
    _, chain = signing_certificate
    leaf = x509.load_pem_x509_certificates(chain.read_bytes())[0]
    assert leaf.subject.rfc4514_string().lower() == f"uid={UID},ou=people,dc=example,dc=com"


def test_wrong_shared_secret_is_bad_identity(local_ca: LocalCA, card: SoftHSMToken, tmp_path: Path) -> None:
    pin = ("--pin-file", str(card.pin_file))
    key = run("cmc-agent", "token", "keygen", "--token", card.uri, "--label", "guess", *pin).stdout.strip()
    csr, request, response = tmp_path / "r.csr", tmp_path / "r.bin", tmp_path / "resp.bin"
    run("cmc-agent", "csr", "--key", key, "--subject", "CN=x", "--ski", "-o", str(csr), *pin)
    secret = tmp_path / "guess"
    secret.write_text("not the passphrase\n")
    run("cmc-agent", "request", "--csr", str(csr), "--request-key", key, "--identification", UID,
        "--secret-file", str(secret), "-o", str(request), *pin)  # fmt: skip
    run("cmc-agent", "submit", str(request), "--url", local_ca.url(profile="caFullCMCSharedTokenCert"),
        "--ca-cert", str(local_ca.ca_cert), "-o", str(response))  # fmt: skip
    code, result = _read(local_ca, response)
    assert code == 1
    (status,) = result["statuses"]  # type: ignore[misc]
    assert status["fail_info"] == "badIdentity"
    assert (
        status["status_string"] == "Proof-of-Identification Verification Failed after verifyIdentityProofV2"
    )


def test_encryption_certificate_with_key_archival_in_two_trips(
    local_ca: LocalCA, card: SoftHSMToken, signing_certificate: tuple[str, Path], tmp_path: Path
) -> None:
    signing_key, signing_chain = signing_certificate
    signing_cert = tmp_path / "signing-leaf.pem"
    signing_cert.write_bytes(x509.load_pem_x509_certificates(signing_chain.read_bytes())[0].public_bytes(
        serialization.Encoding.PEM))  # fmt: skip
    pin = ("--pin-file", str(card.pin_file))
    enc_key = run("cmc-agent", "token", "keygen", "--token", card.uri, "--label", "encryption",
                  "--archivable", *pin).stdout.strip()  # fmt: skip
    crmf = tmp_path / "crmf.req"
    run("cmc-agent", "crmf", "--key", enc_key, "--subject", f"CN=John Doe,UID={UID},OU=keyArchivalExample",
        "--pop", "none", "--archive-to", str(local_ca.directory / "kra-transport.pem"), "-o", str(crmf),
        *pin)  # fmt: skip
    user_signed = local_ca.url("profileSubmitUserSignedCMCFull", "caFullCMCUserSignedCert")

    # Trip 1: signed with the signing key, TLS with the same key; the CA challenges the encryption key.
    round1, response1 = tmp_path / "cmc-round_1.req", tmp_path / "cmc-response_round_1.bin"
    run("cmc-agent", "request", "--csr", str(crmf), "--format", "crmf", "--signer-key", signing_key,
        "--signer-cert", str(signing_cert), "-o", str(round1), *pin)  # fmt: skip
    run("cmc-agent", "submit", str(round1), "--url", user_signed, "--ca-cert", str(local_ca.ca_cert),
        "--key", signing_key, "--cert", str(signing_cert), "-o", str(response1), *pin)  # fmt: skip
    code, first = _read(local_ca, response1)
    assert code == 2, "POP required is 'act again', not failure"
    assert first["encrypted_pop"] is True and isinstance(first["request_id"], int)
    assert [s["status"] for s in first["statuses"]] == ["popRequired"]  # type: ignore[attr-defined]

    # Trip 2: the challenge is decrypted on the card, and the DecryptedPOP carries the request id.
    round2, response2, chain = (
        tmp_path / "cmc.DecryptedPOP.req",
        tmp_path / "round_2.bin",
        tmp_path / "enc.pem",
    )
    run("cmc-agent", "request", "--encrypted-pop-response", str(response1), "--ca-cert",
        str(local_ca.ca_cert), "--request-key", enc_key, "--signer-key", signing_key, "--signer-cert",
        str(signing_cert), "-o", str(round2), *pin)  # fmt: skip
    run("cmc-agent", "submit", str(round2), "--url", user_signed, "--ca-cert", str(local_ca.ca_cert),
        "--key", signing_key, "--cert", str(signing_cert), "-o", str(response2), *pin)  # fmt: skip
    code, second = _read(local_ca, response2, chain)
    assert code == 0 and second["status"] == "success", second

    # The KRA holds the very key that is on the card: recover it and compare public keys.
    serial = x509.load_pem_x509_certificates(chain.read_bytes())[0].serial_number
    recovered = tmp_path / "recovered.pem"
    run(
        "cmc-localca",
        "key",
        "recover",
        str(local_ca.directory),
        "--serial",
        str(serial),
        "--out",
        str(recovered),
    )
    private = serialization.load_pem_private_key(recovered.read_bytes(), password=None)
    assert private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == _spki_pem_of(chain)


def test_user_revokes_with_the_signing_key(
    local_ca: LocalCA, card: SoftHSMToken, signing_certificate: tuple[str, Path], tmp_path: Path
) -> None:
    """Signed revocation of a certificate of one's own (the walkthrough's 'later revokes')."""
    signing_key, signing_chain = signing_certificate
    signing_cert = tmp_path / "signing-leaf.pem"
    leaf = x509.load_pem_x509_certificates(signing_chain.read_bytes())[0]
    signing_cert.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    pin = ("--pin-file", str(card.pin_file))
    request, response = tmp_path / "revoke.bin", tmp_path / "revoke-response.bin"
    run("cmc-agent", "request", "--revoke", str(leaf.serial_number), "--reason", "keyCompromise",
        "--signer-key", signing_key, "--signer-cert", str(signing_cert), "-o", str(request),
        *pin)  # fmt: skip
    run("cmc-agent", "submit", str(request), "--url", local_ca.url("profileSubmitUserSignedCMCFull"),
        "--ca-cert", str(local_ca.ca_cert), "--key", signing_key, "--cert", str(signing_cert),
        "-o", str(response), *pin)  # fmt: skip
    code, result = _read(local_ca, response)
    assert code == 0 and result["status"] == "success", result
    shown = json.loads(run("cmc-localca", "cert", "show", str(local_ca.directory), str(leaf.serial_number),
                           "--json").stdout)  # fmt: skip
    assert shown["status"].lower() == "revoked", shown


def test_revocation_with_a_shared_secret_needs_no_key(
    local_ca: LocalCA, hsm_agent: DeviceAgent, softhsm: SoftHSMToken, tmp_path: Path
) -> None:
    """A lost card: the user revokes with the revocation passphrase alone (an unsigned request)."""
    pin = ("--pin-file", str(softhsm.pin_file))
    key = run(
        "cmc-agent", "token", "keygen", "--token", softhsm.uri, "--label", "lost-card", *pin
    ).stdout.strip()
    csr, request, response, chain = (tmp_path / n for n in ("r.csr", "r.bin", "resp.bin", "chain.pem"))
    run("cmc-agent", "csr", "--key", key, "--subject", "CN=Lost Card", "-o", str(csr), *pin)
    run("cmc-agent", "request", "--csr", str(csr), "--signer-key", hsm_agent.key_uri, "--signer-cert",
        str(hsm_agent.cert), "-o", str(request), *hsm_agent.pin_args)  # fmt: skip
    run("cmc-agent", "submit", str(request), "--url", local_ca.url(profile="caFullCMCUserCert"), "--ca-cert",
        str(local_ca.ca_cert), "--key", hsm_agent.key_uri, "--cert", str(hsm_agent.cert), "-o", str(response),
        *hsm_agent.pin_args)  # fmt: skip
    code, _ = _read(local_ca, response, chain)
    assert code == 0
    leaf = x509.load_pem_x509_certificates(chain.read_bytes())[0]
    secret = tmp_path / "revocation-secret"
    secret.write_text("revoke me, please\n")
    secret.chmod(0o600)
    run("cmc-localca", "shared-token", "add", str(local_ca.directory), "--serial", str(leaf.serial_number),
        "--secret-file", str(secret))  # fmt: skip

    wrong = tmp_path / "wrong-secret"
    wrong.write_text("not it\n")
    for passphrase, expected in ((wrong, "failed"), (secret, "success")):
        revoke, answer = tmp_path / "revoke.bin", tmp_path / "revoke-answer.bin"
        run("cmc-agent", "request", "--revoke", str(leaf.serial_number), "--reason", "keyCompromise",
            "--issuer", leaf.issuer.rfc4514_string(), "--secret-file", str(passphrase),
            "-o", str(revoke))  # fmt: skip
        run("cmc-agent", "submit", str(revoke), "--url", local_ca.url("profileSubmitUserSignedCMCFull"),
            "--ca-cert", str(local_ca.ca_cert), "-o", str(answer))  # fmt: skip
        _, result = _read(local_ca, answer)
        (status,) = result["statuses"]  # type: ignore[misc]
        assert status["status"] == expected, result
        if expected == "failed":
            assert status["fail_info"] == "badIdentity"
    shown = json.loads(run("cmc-localca", "cert", "show", str(local_ca.directory), str(leaf.serial_number),
                           "--json").stdout)  # fmt: skip
    assert shown["status"].lower() == "revoked"
