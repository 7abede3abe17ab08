"""Revocation the Dogtag ways: CMCRequest ``revRequest.*`` signed by the certificate's owner, or unsigned
with the revocation shared secret, and the legacy CMCRevoke signed by an agent. Each is sent with
HttpClient and read with CMCResponse; the CA's record must then say REVOKED."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from asn1crypto import cms

from tests.compat.conftest import (
    DogtagDatabase,
    LocalCA,
    issue_directly,
    new_database,
    submit_config,
    tool,
    trust_ca,
    write_config,
)
from tests.compat.test_agent_approved import SERVLET as AGENT_SERVLET

USER_SIGNED = "/ca/ee/ca/profileSubmitUserSignedCMCFull"


def certificate_status(ca: LocalCA, serial: int) -> str:
    shown = tool("cmc-localca", "cert", "show", str(ca.directory), str(serial), "--json")
    status: str = json.loads(shown.stdout)["status"]
    return status.upper()


@pytest.fixture
def user(local_ca: LocalCA, tmp_path: Path) -> tuple[DogtagDatabase, int]:
    """A user whose database holds a certificate of their own (``mine``), and that certificate's serial."""
    database = new_database(tmp_path / "nssdb")
    trust_ca(database, local_ca)
    issue_directly(local_ca, database, "mine", "CN=Revocable,UID=revocable", tmp_path, agent=False)
    return database, database.certificate("mine").serial_number


def revocation_config(database: DogtagDatabase, output: Path, serial: str, extra: str) -> str:
    return (
        f"dbdir={database.directory}/\n"
        f"password={database.password}\n"
        "tokenname=internal\n"
        "nickname=mine\n"
        "format=pkcs10\n"
        f"output={output}\n"
        "revRequest.enable=true\n"
        f"revRequest.serial={serial}\n"
        "revRequest.reason=keyCompromise\n"
        "revRequest.comment=the laptop was stolen\n"
        "revRequest.invalidityDatePresent=true\n"
        f"{extra}"
    )


def _send_and_show(ca: LocalCA, database: DogtagDatabase, request: Path, work: Path, servlet: str,
                   nickname: str | None) -> tuple[int, str]:  # fmt: skip
    response = work / "response.bin"
    submit = submit_config(ca, database, request, response, servlet, nickname)
    tool("HttpClient", str(write_config(work / "submit.cfg", submit)))
    shown = tool("CMCResponse", "-d", str(database.directory), "-i", str(response), check=False)
    return shown.returncode, shown.stdout + shown.stderr


def test_owner_revokes_with_a_signed_cmcrequest(
    local_ca: LocalCA, user: tuple[DogtagDatabase, int], tmp_path: Path
) -> None:
    database, serial = user
    request = tmp_path / "revoke.bin"
    config = revocation_config(database, request, hex(serial), "")  # 0x form, as Dogtag's CI writes it
    tool("CMCRequest", str(write_config(tmp_path / "revoke.cfg", config)))
    code, shown = _send_and_show(local_ca, database, request, tmp_path, USER_SIGNED, "mine")
    assert code == 0 and "   Status: SUCCESS" in shown, shown
    assert certificate_status(local_ca, serial) == "REVOKED"


def test_revocation_with_the_shared_secret_needs_no_key(
    local_ca: LocalCA, user: tuple[DogtagDatabase, int], tmp_path: Path
) -> None:
    database, serial = user
    secret = write_config(tmp_path / "revocation-secret", "forget me\n")
    tool("cmc-localca", "shared-token", "add", str(local_ca.directory), "--serial", str(serial),
         "--secret-file", str(secret))  # fmt: skip
    issuer = "CN=CA Signing Certificate,OU=localca,O=EXAMPLE"
    for passphrase, expected in (("a guess", 1), ("forget me", 0)):
        request = tmp_path / "revoke.bin"
        extra = f"revRequest.issuer={issuer}\nrevRequest.sharedSecret={passphrase}\n"
        config = revocation_config(database, request, str(serial), extra).replace("nickname=mine\n", "")
        tool("CMCRequest", str(write_config(tmp_path / "revoke.cfg", config)))
        sent = cms.ContentInfo.load(request.read_bytes())
        assert sent["content_type"].native == "data", "unsigned: the passphrase is the proof"
        code, shown = _send_and_show(local_ca, database, request, tmp_path, USER_SIGNED, None)
        assert code == expected, shown
    assert certificate_status(local_ca, serial) == "REVOKED"


def test_agent_revokes_with_cmcrevoke(
    local_ca: LocalCA, agent_db: DogtagDatabase, user: tuple[DogtagDatabase, int], tmp_path: Path
) -> None:
    _, serial = user
    made = tool("CMCRevoke", f"-d{agent_db.directory}", "-nca_agent",
                "-iCN=CA Signing Certificate,OU=localca,O=EXAMPLE", f"-s{serial}", "-m1",
                f"-P{agent_db.password_file}", "-cdone with it", cwd=tmp_path)  # fmt: skip
    lines = made.stdout.splitlines()
    begin = lines.index("-----BEGIN CERTIFICATE REQUEST-----")
    assert lines[begin + 2] == "-----END CERTIFICATE REQUEST-----", "one base-64 line"
    assert "CMC revocation binary blob written to CMCRevoke.out" in made.stdout
    code, shown = _send_and_show(local_ca, agent_db, tmp_path / "CMCRevoke.out", tmp_path, AGENT_SERVLET,
                                 "ca_agent")  # fmt: skip
    assert code == 0 and "   Status: SUCCESS" in shown, shown
    assert certificate_status(local_ca, serial) == "REVOKED"
