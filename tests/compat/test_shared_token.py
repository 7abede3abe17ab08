"""The walkthrough's 5.3.2.2: a first signing certificate without an agent. CMCSharedToken encrypts the
passphrase for the CA (the administrator stores the blob), PKCS10Client -y makes the request with a
SubjectKeyIdentifier, CMCRequest signs it with its own key (shrTok_example_request.cfg), HttpClient sends
it without client authentication, CMCResponse reads the answer."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509

from tests.compat.conftest import (
    DogtagDatabase,
    LocalCA,
    new_database,
    spki,
    submit_config,
    tool,
    trust_ca,
    write_config,
)

SERVLET = "/ca/ee/ca/profileSubmitCMCFull?profileId=caFullCMCSharedTokenCert"
PASSPHRASE = "the passphrase the admin gave me"


def shared_secret_config(database: DogtagDatabase, csr: Path, output: Path, uid: str, *,
                         algorithms: bool = True, secret: str = PASSPHRASE) -> str:  # fmt: skip
    """The walkthrough's shrTok_example_request.cfg (``algorithms=False`` leaves the *Alg keys out)."""
    key_id = csr.with_name(csr.name + ".keyId").read_text()
    chosen = "identityProofV2.hashAlg=SHA-512\nidentityProofV2.macAlg=SHA-256-HMAC\n" if algorithms else ""
    link = "popLinkWitnessV2.keyGenAlg=SHA-256\npopLinkWitnessV2.macAlg=SHA-256-HMAC\n" if algorithms else ""
    return (
        "### numRequests: Total number of PKCS10 requests or CRMF requests.\n"
        "numRequests=1\n\n"
        f"input={csr}\n\n"
        "### output: full path for the CMC request in binary format\n"
        f"output={output}\n\n"
        "tokenname=internal\n"
        "request.useSharedSecret=true\n\n"
        "### nickname: not needed for shared secret enrollments.\n"
        "#nickname=\n\n"
        f"dbdir={database.directory}/\n\n"
        f"password={database.password}\n\n"
        "format=pkcs10\n\n"
        "identityProofV2.enable=true\n"
        f"{chosen}\n"
        f"witness.sharedSecret={secret}\n\n"
        "popLinkWitnessV2.enable=true\n"
        f"{link}\n"
        f"request.privKeyId={key_id}\n\n"
        "### identification works with identityProofV2\n"
        "identification.enable=true\n"
        f"identification={uid}\n"
    )


@pytest.fixture(scope="module")
def user(local_ca: LocalCA, tmp_path_factory: pytest.TempPathFactory) -> tuple[DogtagDatabase, Path]:
    """A user with a shared token stored at the CA and a PKCS10Client -y request in the user's database."""
    work = tmp_path_factory.mktemp("shared-token")
    database = new_database(work / "nssdb")
    trust_ca(database, local_ca)  # HttpClient verifies the CA's TLS certificate with it
    passphrase = write_config(work / "passphrase", PASSPHRASE + "\n")
    token = work / "shrtok.b64"
    made = tool("CMCSharedToken", "-d", str(database.directory), "-b",
                str(local_ca.directory / "issuance-protection.pem"), "--passphrase-file", str(passphrase),
                "-o", str(token))  # fmt: skip
    assert "\nEncrypted Secret Data:\n" in made.stdout
    assert f"\nStoring Base64 secret data into {token}" in made.stdout
    assert PASSPHRASE not in made.stdout + made.stderr
    assert token.read_bytes().endswith(b"\r\n") and all(
        len(line) <= 76 for line in token.read_bytes().split(b"\r\n")
    )
    tool("cmc-localca", "shared-token", "add", str(local_ca.directory), "--uid", "jdoe2",
         "--token-file", str(token))  # fmt: skip
    csr = work / "request.csr"
    tool("PKCS10Client", "-d", str(database.directory), "-P", str(database.password_file),
         "-n", "CN=John Doe,UID=jdoe2", "-y", "true", "-o", str(csr))  # fmt: skip
    return database, csr


def _enroll(ca: LocalCA, database: DogtagDatabase, config: str, work: Path) -> tuple[str, str]:
    """CMCRequest with ``config`` (whose output is ``work/cmc-request.bin``), HttpClient, CMCResponse -o:
    CMCRequest's stderr, and CMCResponse's stdout + stderr + exit status."""
    request, response = work / "cmc-request.bin", work / "cmc-response.bin"
    made = tool("CMCRequest", str(write_config(work / "request.cfg", config)))
    submit = submit_config(ca, database, request, response, SERVLET)
    tool("HttpClient", str(write_config(work / "submit.cfg", submit)))
    shown = tool("CMCResponse", "-d", str(database.directory), "-i", str(response), "-o",
                 str(work / "cert.p7"), check=False)  # fmt: skip
    return made.stderr, shown.stdout + shown.stderr + f"exit={shown.returncode}"


def test_shared_token_enrollment(
    local_ca: LocalCA, user: tuple[DogtagDatabase, Path], tmp_path: Path
) -> None:
    database, csr = user
    config = shared_secret_config(database, csr, tmp_path / "cmc-request.bin", "jdoe2")
    warnings, shown = _enroll(local_ca, database, config, tmp_path)
    assert warnings == ""
    assert "   Status: SUCCESS\nCMC Full Response.\nResponse signature verified" in shown and shown.endswith(
        "exit=0"
    )
    tool("cmc-agent", "client-cert-import", "-d", str(database.directory), "-C", str(database.password_file),
         "my signing certificate", "--cert", str(tmp_path / "cert.p7"))  # fmt: skip
    certificate = database.certificate("my signing certificate")
    # the CA decrypted the CMCSharedToken blob: the identity proof verified, the subject is the LDAP entry's
    assert certificate.subject.rfc4514_string().lower() == "uid=jdoe2,ou=people,dc=example,dc=com"
    assert spki(certificate) == spki(x509.load_pem_x509_csr(csr.read_bytes()))


def test_dogtags_broken_sha256_defaults_mean_sha_256_with_a_warning(
    local_ca: LocalCA, user: tuple[DogtagDatabase, Path], tmp_path: Path
) -> None:
    database, csr = user
    config = shared_secret_config(database, csr, tmp_path / "cmc-request.bin", "jdoe2", algorithms=False)
    warnings, shown = _enroll(local_ca, database, config, tmp_path)
    for key in ("identityProofV2.hashAlg", "identityProofV2.macAlg", "popLinkWitnessV2.keyGenAlg"):
        assert f"CMCRequest: warning: {key} is not set: Dogtag's default SHA256" in warnings
    assert "   Status: SUCCESS" in shown and shown.endswith("exit=0")


def test_a_wrong_passphrase_is_bad_identity(
    local_ca: LocalCA, user: tuple[DogtagDatabase, Path], tmp_path: Path
) -> None:
    database, csr = user
    config = shared_secret_config(database, csr, tmp_path / "cmc-request.bin", "jdoe2", secret="a guess")
    _, shown = _enroll(local_ca, database, config, tmp_path)
    assert "     failInfo=bad identity\n" in shown
    assert "ERROR: CMC status for [0]: failed" in shown and shown.endswith("exit=1")
    assert not (tmp_path / "cert.p7").exists()


def test_sha_384_hmac_is_refused_before_anything_is_sent(
    user: tuple[DogtagDatabase, Path], tmp_path: Path
) -> None:
    database, csr = user
    config = shared_secret_config(database, csr, tmp_path / "out.bin", "jdoe2").replace(
        "identityProofV2.macAlg=SHA-256-HMAC", "identityProofV2.macAlg=SHA-384-HMAC"
    )
    result = tool("CMCRequest", str(write_config(tmp_path / "r.cfg", config)), check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("ERROR: identityProofV2.macAlg=SHA-384-HMAC can never be verified")
    assert not (tmp_path / "out.bin").exists()


def test_a_world_readable_config_with_a_password_is_warned_about(
    user: tuple[DogtagDatabase, Path], tmp_path: Path
) -> None:
    database, csr = user
    config = tmp_path / "r.cfg"
    config.write_text(shared_secret_config(database, csr, tmp_path / "out.bin", "jdoe2"))
    config.chmod(0o644)
    result = tool("CMCRequest", str(config))
    assert f"CMCRequest: warning: {config} holds password= and is readable by every user" in result.stderr
