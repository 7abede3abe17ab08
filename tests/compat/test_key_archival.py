"""The walkthrough's 5.3.2.3: an encryption-only certificate whose key is archived in the KRA, in two
trips, with the walkthrough's commands and config files (``-oaep``/``oaep=true``, so against a CA with
``keyWrap.useOAEP=true``; the keys are in an NSS database, which can do RSA-OAEP with SHA-256)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

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

TRIP_1_SERVLET = "/ca/ee/ca/profileSubmitUserSignedCMCFull?profileId=caFullCMCUserSignedCert"
TRIP_2_SERVLET = "/ca/ee/ca/profileSubmitCMCFull?profileId=caFullCMCUserSignedCert"


def request_config(database: DogtagDatabase, crmf: Path, output: Path, trip_two: str = "") -> str:
    """The walkthrough's cmc-crmf-request.cfg (trip 1) or cmc_DecryptedPOP.cfg (with ``trip_two``)."""
    return (
        "#numRequests: Total number of PKCS10 requests or CRMF requests.\n"
        "numRequests=1\n\n"
        "#input: full path for the PKCS10 request or CRMF request,\n"
        "#the content must be in Base-64 encoded format\n"
        f"input={crmf}\n\n"
        "#output: full path for the CMC request in binary format\n"
        f"output={output}\n\n"
        "#tokenname: name of token where agent signing cert can be found\n"
        "#(default is internal)\n"
        "tokenname=internal\n\n"
        "#nickname: nickname for user certificate which will be used\n"
        "#to sign the CMC full request.\n"
        "nickname=signing_certificate\n\n"
        "#dbdir: directory for cert9.db, key4.db and pkcs11.txt\n"
        f"dbdir={database.directory}/\n\n"
        "#password: password for cert9.db which stores the agent certificate\n"
        f"password={database.password}\n\n"
        "#format: request format, either pkcs10 or crmf\n"
        "format=crmf\n\n"
        f"{trip_two or 'decryptedPop.enable=false'}\n"
        "request.selfSign=false\n"
    )


@dataclass(frozen=True)
class TwoTrips:
    database: DogtagDatabase
    work: Path
    crmf: subprocess.CompletedProcess[str]
    first: subprocess.CompletedProcess[str]
    second_request: subprocess.CompletedProcess[str]
    second: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def trips(oaep_ca: LocalCA, tmp_path_factory: pytest.TempPathFactory) -> TwoTrips:
    work = tmp_path_factory.mktemp("key-archival")
    database = new_database(work / "nssdb", "user-password")
    trust_ca(database, oaep_ca)
    issue_directly(oaep_ca, database, "signing_certificate", "CN=user_name,UID=example", work)
    db = database.directory
    (db / "kra.transport").write_bytes((oaep_ca.directory / "kra-transport.pem").read_bytes())
    # the walkthrough runs CRMFPopClient inside the database directory: -d .
    crmf = tool("CRMFPopClient", "-d", ".", "-P", str(database.password_file), "-n", "cn=subject_name",
                "-q", "POP_NONE", "-b", "kra.transport", "-w", "AES KeyWrap/Wrapped", "-v", "-o", "crmf.req",
                "-oaep", cwd=db)  # fmt: skip

    round_1, response_1 = db / "cmc-round_1.req", db / "cmc-response_round_1.bin"
    tool(
        "CMCRequest",
        str(write_config(db / "cmc-crmf-request.cfg", request_config(database, db / "crmf.req", round_1))),
    )
    submit = submit_config(oaep_ca, database, round_1, response_1, TRIP_1_SERVLET, "signing_certificate")
    tool("HttpClient", str(write_config(db / "cmc-submit.cfg", submit)))
    first = tool("CMCResponse", "-d", f"{db}/", "-i", str(response_1), check=False)

    round_2, response_2 = db / "cmc.DecryptedPOP.req", db / "cmc-response_round_2.bin"
    second_trip = (
        "decryptedPop.enable=true\n"
        "oaep=true\n"
        f"encryptedPopResponseFile={response_1}\n\n"
        f"request.privKeyId={(db / 'crmf.req.keyId').read_text()}\n"
        f"decryptedPopRequestFile={round_2}"
    )
    config = request_config(database, db / "crmf.req", db / "cmc2.req", second_trip)
    second_request = tool("CMCRequest", str(write_config(db / "cmc_DecryptedPOP.cfg", config)))
    submit = submit_config(oaep_ca, database, round_2, response_2, TRIP_2_SERVLET, "signing_certificate")
    tool("HttpClient", str(write_config(db / "decrypted_POP_cmc-submit.cfg", submit)))
    second = tool("CMCResponse", "-i", str(response_2), "-o", "encryption_only_certs.p7", cwd=db, check=False)
    return TwoTrips(database, work, crmf, first, second_request, second)


def test_crmfpopclient_prints_the_walkthroughs_lines(trips: TwoTrips) -> None:
    lines = trips.crmf.stdout.splitlines()
    assert lines[:4] == [
        "Initializing security database: .",
        "archival option enabled",
        "Loading transport certificate",
        "Parsing subject DN",
    ]
    assert "Using key wrap algorithm: AES KeyWrap/Wrapped" in lines
    assert lines[-2:] == [
        "Storing CRMF request into crmf.req",
        "Storing CRMF request key id into crmf.req.keyId",
    ]
    key_id = (trips.database.directory / "crmf.req.keyId").read_text()
    assert f"Keypair private key id: {key_id}" in lines


def test_first_trip_is_pop_required_with_the_challenge(trips: TwoTrips) -> None:
    assert trips.first.returncode == 1
    assert trips.first.stderr == "ERROR: CMC status for [1]: pop required\n"
    out = trips.first.stdout
    assert (
        "Number of controls is 3\n"
        "Control #0: CMC encrypted POP\n"
        "   OID: {1 3 6 1 5 5 7 7 9}\n"
        "     encryptedPOP decoded\n"
        "Control #1: CMCStatusInfoV2\n"
        "   OID: {1 3 6 1 5 5 7 7 25}\n"
        "   BodyList: 1 \n"
        "   OtherInfo type: FAIL\n"
        "     failInfo=POP required\n"
        "Control #2: CMC ResponseInfo\n"
        "   requestID: "
    ) in out
    assert "CMC Full Response.\nResponse signature verified" in out


def test_second_trip_answers_the_challenge_on_the_device(trips: TwoTrips) -> None:
    out = trips.second_request.stdout
    assert "processEncryptedPopResponse:  response signature verified" in out
    assert "constructDecryptedPopRequest: Yay! witness verified" in out
    stored = trips.database.directory / "cmc.DecryptedPOP.req"
    assert out.rstrip().endswith(f"The CMC enrollment request in binary format is stored in {stored}")
    assert trips.second.returncode == 0, trips.second.stderr
    assert "   Status: SUCCESS\nCMC Full Response.\n" in trips.second.stdout
    assert "PKCS#7 now stored in file: encryption_only_certs.p7" in trips.second.stdout


def test_encryption_certificate_is_imported_and_its_key_is_in_the_kra(
    oaep_ca: LocalCA, trips: TwoTrips
) -> None:
    db = trips.database.directory
    tool("cmc-agent", "client-cert-import", "-d", f"{db}/", "-C", str(trips.database.password_file),
         "user_name certificate", "--cert", str(db / "encryption_only_certs.p7"))  # fmt: skip
    certificate = trips.database.certificate("user_name certificate")
    # a user-signed profile names the certificate after its signer, as Dogtag's does
    assert certificate.subject.rfc4514_string() == "CN=user_name,UID=example"
    key_id = (db / "crmf.req.keyId").read_text()
    assert int(key_id, 16).to_bytes(20, "big", signed=True).hex() in trips.database.key_ids()

    recovered = trips.work / "recovered.pem"
    tool("cmc-localca", "key", "recover", str(oaep_ca.directory), "--serial", str(certificate.serial_number),
         "--out", str(recovered))  # fmt: skip
    private = serialization.load_pem_private_key(recovered.read_bytes(), password=None)
    assert private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == spki(certificate), "the KRA holds the key that is in the NSS database"


@pytest.mark.parametrize(
    ("response", "oaep", "dogtag_lines", "reason"),
    [
        pytest.param(
            "cmc-response_round_1.bin",
            "false",
            ["constructDecryptedPopRequest: Oops! witness failed to verify.  Must abort!"],
            "OAEP is used exactly when the CA uses it",
            id="wrong oaep setting",
        ),
        pytest.param(
            "cmc-response_round_2.bin",
            "true",
            [
                "processEncryptedPopResponse:    Status: SUCCESS",
                "processEncryptedPopResponse:  not what we expected, because encryptedPOP.enable is true!!!! "
                "exit now",
            ],
            "reports success",
            id="a success response",
        ),
    ],
)
def test_second_trip_refusals_print_dogtags_lines_then_ours(
    trips: TwoTrips, response: str, oaep: str, dogtag_lines: list[str], reason: str
) -> None:
    db = trips.database.directory
    second_trip = (
        "decryptedPop.enable=true\n"
        f"oaep={oaep}\n"
        f"encryptedPopResponseFile={db / response}\n"
        f"request.privKeyId={(db / 'crmf.req.keyId').read_text()}\n"
        f"decryptedPopRequestFile={db / 'refused.req'}"
    )
    config = request_config(trips.database, db / "crmf.req", db / "refused2.req", second_trip)
    refused = tool("CMCRequest", str(write_config(db / f"refused-{oaep}.cfg", config)), check=False)
    assert refused.returncode == 1  # Dogtag's System.exit(1)
    assert refused.stdout.splitlines()[-len(dogtag_lines) :] == dogtag_lines
    (line,) = refused.stderr.splitlines()
    assert line.startswith("ERROR: ") and reason in line
    assert not (db / "refused.req").exists()
