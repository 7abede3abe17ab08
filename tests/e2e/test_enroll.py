"""``cmc-agent enroll``: whole enrollments in one command against the session's running local CA, with real
SoftHSM2 tokens and real TLS, and what happens when a run is interrupted at each step and run again.

Interruptions are made with the command's hidden ``--stop-after STEP`` hook, which behaves as Ctrl-C right
after the step was recorded; whether anything was sent twice is read from the CA's own request list.
"""

from __future__ import annotations

import fcntl
import json
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.devices import NSSDatabase, SoftHSMToken, make_softhsm_token, write_secret
from tests.e2e.conftest import DeviceAgent, LocalCA, run

UID = "enroll-user"
SECRET = "enrollment shared passphrase"
SERVER_PROFILE = "caCMCserverCert"
INTERRUPTED = 130


def _requests_at_ca(ca: LocalCA) -> int:
    listed = json.loads(run("cmc-localca", "request", "list", str(ca.directory), "--json").stdout)
    return len(listed)


def _spki(certificate: x509.Certificate) -> bytes:
    return certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _leaf(chain: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificates(chain.read_bytes())[0]


def _state(path: Path) -> dict[str, object]:
    document: dict[str, object] = json.loads(path.read_text())
    return document


def _agent_args(ca: LocalCA, agent: DeviceAgent) -> list[str]:
    return ["--agent-key", agent.key_uri, "--agent-cert", str(agent.cert), "--url",
            ca.url(profile=SERVER_PROFILE), "--ca-cert", str(ca.ca_cert)]  # fmt: skip


def _token(device: SoftHSMToken) -> str:
    """The token's URI with its module, so that no "found by search" notice joins the output."""
    return f"{device.uri}?module-path={device.module}"


def _enroll(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return run("cmc-agent", "enroll", *args, check=check)


@pytest.fixture(scope="module")
def card(softhsm_dir: Path) -> SoftHSMToken:
    """A smart card stand-in with its own PIN, for the shared-secret and archival journeys."""
    return make_softhsm_token(softhsm_dir, "enroll-card", pin="card-pin-97531")


def test_agent_approved_server_key_in_one_command(
    local_ca: LocalCA, hsm_agent: DeviceAgent, softhsm: SoftHSMToken, tmp_path: Path
) -> None:
    state, chain = tmp_path / "web.enroll.json", tmp_path / "chain.pem"
    command = ["--label", "enroll-web", "--token", softhsm.uri, "--subject",
               "CN=enroll.example.com,O=Example", "--san", "dns:enroll.example.com",
               *_agent_args(local_ca, hsm_agent), "--state", str(state), "--chain-out", str(chain), "--json",
               "--pin-file", str(softhsm.pin_file)]  # fmt: skip
    before = _requests_at_ca(local_ca)

    done = _enroll(*command)

    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["status"] == "success" and summary["key_generated"] is True
    assert "generated on token" in done.stderr, "it says it made the key"
    assert _requests_at_ca(local_ca) == before + 1
    leaf = _leaf(chain)
    assert summary["serial"] == leaf.serial_number
    assert summary["subject"] == leaf.subject.rfc4514_string() == "CN=enroll.example.com,O=Example"
    assert summary["certificate_label"] == f"enroll.example.com-{leaf.serial_number}"
    verify = subprocess.run(["openssl", "verify", "-CAfile", str(local_ca.ca_cert), str(chain)],
                            capture_output=True, text=True)  # fmt: skip
    assert verify.returncode == 0, verify.stderr

    pin = ("--pin-file", str(softhsm.pin_file))
    certs = json.loads(run("cmc-agent", "token", "certs", "--token", softhsm.uri, "--json", *pin).stdout)
    (imported,) = [c for c in certs if c["label"] == summary["certificate_label"]]
    keys = json.loads(run("cmc-agent", "token", "keys", "--token", softhsm.uri, "--json", *pin).stdout)
    (key,) = [k for k in keys if k["label"] == "enroll-web"]
    assert imported["id"] == key["id"] and key["has_certificate"], "the certificate is bound to its key"
    assert summary["key"] == key["uri"]

    text = state.read_text()
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert str(softhsm.pin_file) not in text, "nor where the PIN comes from"
    assert _state(state)["step"] == "imported"

    again = _enroll(*command)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["already_done"] is True and "done already" in again.stderr
    assert _requests_at_ca(local_ca) == before + 1, "nothing is sent again"


@pytest.fixture(scope="module")
def signing_enrollment(
    local_ca: LocalCA, card: SoftHSMToken, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, object], Path, Path]:
    """Shared-secret enrollment of the card's signing key: no agent, signed with the request's own key."""
    work = tmp_path_factory.mktemp("enroll-shared")
    secret = write_secret(work / "secret", SECRET)
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
    state = work / "signing.enroll.json"
    done = _enroll("--label", "enroll-signing", "--token", _token(card), "--subject",
                   f"CN=Enroll User,UID={UID}", "--identification", UID, "--secret-file", str(secret),
                   "--pop-link-witness", "--url", local_ca.url(profile="caFullCMCSharedTokenCert"),
                   "--ca-cert", str(local_ca.ca_cert), "--state", str(state), "--json",
                   "--pin-file", str(card.pin_file))  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), state, secret


def test_shared_secret_enrollment_records_no_secret(
    signing_enrollment: tuple[dict[str, object], Path, Path], card: SoftHSMToken
) -> None:
    summary, state, secret_file = signing_enrollment
    assert summary["status"] == "success"
    chain = Path(summary["files"]["chain"])  # type: ignore[index]
    assert _leaf(chain).subject.rfc4514_string().lower() == f"uid={UID},ou=people,dc=example,dc=com"
    text = state.read_text()
    assert SECRET not in text and card.pin not in text
    assert str(card.pin_file) not in text and str(secret_file) not in text, "nor where they come from"
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    recorded = _state(state)
    assert recorded["key"]["uri"] == summary["key"]  # type: ignore[index]
    assert recorded["spec"]["auth"] == {  # type: ignore[index]
        "mode": "shared-secret", "key": None, "cert": None, "cert_sha256": None, "identification": UID,
        "pop_link_witness": True,
    }  # fmt: skip


def test_encryption_key_archived_with_the_encrypted_pop_trip_resumed(
    local_ca: LocalCA,
    card: SoftHSMToken,
    signing_enrollment: tuple[dict[str, object], Path, Path],
    tmp_path: Path,
) -> None:
    """Trip 1, interrupted once the CA's challenge is recorded; the rerun answers it from the saved
    response (decrypted on the card) without sending trip 1 again; the KRA holds the card's key."""
    summary, _, _ = signing_enrollment
    signing_key, signing_chain = str(summary["key"]), str(summary["files"]["chain"])  # type: ignore[index]
    state = tmp_path / "encryption.enroll.json"
    command = ["--label", "enroll-encryption", "--archivable", "--token", _token(card),
               "--subject", f"CN=Enroll User,UID={UID},OU=keyArchivalExample", "--format", "crmf",
               "--pop", "none", "--archive-to", str(local_ca.directory / "kra-transport.pem"),
               "--signer-key", signing_key, "--signer-cert", signing_chain,
               "--url", local_ca.url("profileSubmitUserSignedCMCFull", "caFullCMCUserSignedCert"),
               "--ca-cert", str(local_ca.ca_cert), "--state", str(state),
               "--pin-file", str(card.pin_file)]  # fmt: skip
    before = _requests_at_ca(local_ca)

    stopped = _enroll(*command, "--stop-after", "pop-required")
    assert stopped.returncode == INTERRUPTED, stopped.stderr
    recorded = _state(state)
    assert recorded["step"] == "pop-required" and isinstance(recorded["request_id"], int)
    assert _requests_at_ca(local_ca) == before + 1

    resumed = _enroll("--resume", str(state), "--json", "--pin-file", str(card.pin_file))
    assert resumed.returncode == 0, resumed.stderr
    assert "trip 2: challenge decrypted on the device" in resumed.stderr
    assert _requests_at_ca(local_ca) == before + 2, "trip 1 was not sent again; trip 2 once"
    result = json.loads(resumed.stdout)
    assert result["request_id"] == recorded["request_id"]
    assert [Path(result["files"][f]).exists() for f in ("trip1_response", "trip2_request", "trip2_response")]

    recovered = tmp_path / "recovered.pem"
    run("cmc-localca", "key", "recover", str(local_ca.directory), "--serial", str(result["serial"]),
        "--out", str(recovered))  # fmt: skip
    private = serialization.load_pem_private_key(recovered.read_bytes(), password=None)
    assert private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == _spki(_leaf(Path(result["files"]["chain"])))


@pytest.mark.parametrize(
    ("stop_after", "sent_before_stop"),
    [("key-ready", 0), ("trip1-built", 0), ("trip1-sent", 0), ("trip1-answered", 1), ("issued", 1)],
)
def test_resume_after_an_interruption_sends_nothing_twice(
    local_ca: LocalCA,
    hsm_agent: DeviceAgent,
    softhsm: SoftHSMToken,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    stop_after: str,
    sent_before_stop: int,
) -> None:
    label = f"enroll-resume-{stop_after}"
    command = ["--label", label, "--token", softhsm.uri, "--subject", f"CN={label}.example.com",
               *_agent_args(local_ca, hsm_agent), "--pin-file", str(softhsm.pin_file)]  # fmt: skip
    monkeypatch.chdir(tmp_path)  # the default state file goes to ./<label>.enroll.json
    state = tmp_path / f"{label}.enroll.json"
    before = _requests_at_ca(local_ca)

    stopped = _enroll(*command, "--stop-after", stop_after)

    assert stopped.returncode == INTERRUPTED, stopped.stderr
    recorded = _state(state)
    assert recorded["step"] == stop_after, "the state shows how far it got"
    assert recorded["key"]["label"] == label  # type: ignore[index]
    assert _requests_at_ca(local_ca) == before + sent_before_stop
    assert not Path(f"{state}.lock").exists()

    again = _enroll(*command)  # the same command continues
    assert again.returncode == 0, again.stderr
    assert _requests_at_ca(local_ca) == before + 1, "exactly one request reached the CA in all"
    assert f"existing key {label!r}" in again.stdout, "found the key, did not generate another"
    assert _state(state)["step"] == "imported"


def test_a_rerun_that_contradicts_the_state_is_refused(
    local_ca: LocalCA, hsm_agent: DeviceAgent, softhsm: SoftHSMToken, tmp_path: Path
) -> None:
    state = tmp_path / "contradict.enroll.json"
    pin = ("--pin-file", str(softhsm.pin_file))
    command = ["--label", "enroll-contradict", "--token", softhsm.uri, "--subject",
               "CN=contradict.example.com", *_agent_args(local_ca, hsm_agent), "--state", str(state),
               *pin]  # fmt: skip
    assert _enroll(*command, "--stop-after", "trip1-built").returncode == INTERRUPTED
    recorded = state.read_bytes()

    other_profile = [a.replace(SERVER_PROFILE, "caCMCUserCert") for a in command]
    refused = _enroll(*other_profile)
    assert refused.returncode == 1
    assert "profile 'caCMCserverCert'" in refused.stderr and "'caCMCUserCert'" in refused.stderr

    run("cmc-agent", "token", "keygen", "--token", softhsm.uri, "--label", "enroll-other", *pin)
    other_key = [a.replace("enroll-contradict", "enroll-other") for a in command]
    refused = _enroll(*other_key)
    assert refused.returncode == 1 and "names another key" in refused.stderr
    assert state.read_bytes() == recorded, "a refused rerun changes nothing"


def test_wrong_pin_and_ca_failure_exit_1_and_keep_the_key_recorded(
    local_ca: LocalCA, card: SoftHSMToken, signing_enrollment: object, tmp_path: Path
) -> None:
    wrong_secret = write_secret(tmp_path / "wrong-secret", "not the passphrase")
    state = tmp_path / "refused.enroll.json"
    command = ["--label", "enroll-refused", "--token", _token(card), "--subject", f"CN=Refused,UID={UID}",
               "--identification", UID, "--secret-file", str(wrong_secret),
               "--url", local_ca.url(profile="caFullCMCSharedTokenCert"), "--ca-cert", str(local_ca.ca_cert),
               "--state", str(state)]  # fmt: skip

    failed = _enroll(*command, "--pin-file", str(card.pin_file))
    assert failed.returncode == 1
    (line,) = failed.stderr.strip().splitlines()
    assert "badIdentity" in line and "Proof-of-Identification Verification Failed" in line
    recorded = _state(state)
    assert recorded["step"] == "failed" and recorded["key"]["label"] == "enroll-refused"  # type: ignore[index]
    assert "not the passphrase" not in state.read_text()

    wrong_pin = write_secret(tmp_path / "wrong-pin", "00000")
    refused = _enroll(*command, "--pin-file", str(wrong_pin))
    assert refused.returncode == 1
    (line,) = refused.stderr.strip().splitlines()
    assert "PIN" in line and "Traceback" not in refused.stderr
    assert _state(state)["key"] == recorded["key"], "the key's record survives"

    right_secret = write_secret(tmp_path / "secret", SECRET)
    retried = _enroll(*[right_secret.as_posix() if a == str(wrong_secret) else a for a in command],
                      "--pin-file", str(card.pin_file))  # fmt: skip
    assert retried.returncode == 0, retried.stderr
    assert "retry: the CA refused the last attempt" in retried.stdout


def test_two_runs_on_one_state_file_do_not_interleave(
    local_ca: LocalCA, hsm_agent: DeviceAgent, softhsm: SoftHSMToken, tmp_path: Path
) -> None:
    state = tmp_path / "locked.enroll.json"
    with open(f"{state}.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        busy = _enroll("--label", "enroll-locked", "--token", softhsm.uri, "--subject", "CN=locked",
                       *_agent_args(local_ca, hsm_agent), "--state", str(state),
                       "--pin-file", str(softhsm.pin_file))  # fmt: skip
    assert busy.returncode == 1 and "another cmc-agent enroll is working on" in busy.stderr
    assert not state.exists()


def test_nss_database_key_resumed_from_the_state_file_alone(
    local_ca: LocalCA, nss_agent: DeviceAgent, agent_nssdb: NSSDatabase, tmp_path: Path
) -> None:
    """Dogtag's layout: the agent and the new key in one NSS database; the rerun names only the state file
    (the database comes from it) and a PIN source."""
    state = tmp_path / "nss.enroll.json"
    database = ("--nssdb", str(agent_nssdb.directory))
    password = ("--pin-file", str(agent_nssdb.password_file))
    stopped = _enroll("--label", "enroll-nss", "--type", "ec:p256", *database,
                      "--subject", "CN=nss.example.com", "--agent-key", nss_agent.key_uri,
                      "--agent-cert", str(nss_agent.cert),
                      "--url", local_ca.url(profile="caCMCECserverCert"), "--ca-cert", str(local_ca.ca_cert),
                      "--cert-label", "nss server", "--state", str(state), *password,
                      "--stop-after", "issued")  # fmt: skip
    assert stopped.returncode == INTERRUPTED, stopped.stderr
    before = _requests_at_ca(local_ca)

    resumed = _enroll("--resume", str(state), *password)

    assert resumed.returncode == 0, resumed.stderr
    assert _requests_at_ca(local_ca) == before, "the import needs no CA"
    listing = subprocess.run(["certutil", "-L", "-d", f"sql:{agent_nssdb.directory}", "-n", "nss server"],
                             capture_output=True, text=True)  # fmt: skip
    assert listing.returncode == 0 and "CN=nss.example.com" in listing.stdout, listing.stderr


def test_import_never_twice_and_a_taken_label_waits_for_another(
    local_ca: LocalCA, hsm_agent: DeviceAgent, softhsm: SoftHSMToken, tmp_path: Path
) -> None:
    """Stopped after the certificate was saved and imported by hand (as if the run died before recording
    the import): the rerun finds it on the token. A label already taken fails the import whole; the
    certificate waits in the state for a rerun with another label, which needs no CA."""
    pin = ("--pin-file", str(softhsm.pin_file))

    def command(label: str) -> list[str]:
        return ["--label", label, "--token", _token(softhsm), "--subject", f"CN={label}.example.com",
                *_agent_args(local_ca, hsm_agent), "--state", str(tmp_path / f"{label}.enroll.json"),
                *pin]  # fmt: skip

    assert _enroll(*command("enroll-lost"), "--stop-after", "issued").returncode == INTERRUPTED
    chain = tmp_path / "enroll-lost.chain.pem"
    run(
        "cmc-agent",
        "token",
        "import-cert",
        "--token",
        _token(softhsm),
        "--label",
        "by hand",
        str(chain),
        *pin,
    )
    found = _enroll(*command("enroll-lost"))
    assert found.returncode == 0, found.stderr
    assert "already holds the certificate, as 'by hand'" in found.stdout

    before = _requests_at_ca(local_ca)
    taken = _enroll(*command("enroll-taken"), "--cert-label", "by hand")
    assert taken.returncode == 1 and "labelled 'by hand'" in taken.stderr
    assert _state(tmp_path / "enroll-taken.enroll.json")["step"] == "issued"
    renamed = _enroll(*command("enroll-taken"), "--cert-label", "taken, renamed")
    assert renamed.returncode == 0, renamed.stderr
    assert _requests_at_ca(local_ca) == before + 1
    certs = json.loads(run("cmc-agent", "token", "certs", "--token", _token(softhsm), "--json", *pin).stdout)
    assert [c["label"] for c in certs].count("taken, renamed") == 1


def test_two_devices_with_their_own_pins(
    local_ca: LocalCA, hsm_agent: DeviceAgent, softhsm: SoftHSMToken, card: SoftHSMToken, tmp_path: Path
) -> None:
    """The new key on the card, the agent on the HSM, each PIN from its URI's pin-source (no --pin-file);
    the state records neither PIN nor where it comes from."""
    state = tmp_path / "two.enroll.json"
    card_token = f"{_token(card)}&pin-source=file:{card.pin_file}"
    agent_key = f"{hsm_agent.key_uri}&pin-source=file:{softhsm.pin_file}"
    done = _enroll("--label", "enroll-two-devices", "--token", card_token, "--subject", "CN=two.example.com",
                   "--agent-key", agent_key, "--agent-cert", str(hsm_agent.cert), "--url",
                   local_ca.url(profile=SERVER_PROFILE), "--ca-cert", str(local_ca.ca_cert),
                   "--state", str(state))  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = state.read_text()
    assert "pin-source" not in text and str(card.pin_file) not in text and str(softhsm.pin_file) not in text
    recorded = _state(state)
    assert "token=enroll-card" in recorded["key"]["uri"]  # type: ignore[index]


def test_a_damaged_state_file_is_named_not_guessed_at(tmp_path: Path) -> None:
    state = tmp_path / "damaged.enroll.json"
    state.write_text('{"format": "cmc-agent-enroll/1", "step": "trip1-built"}\n')
    refused = _enroll("--resume", str(state))
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"cmc-agent: error: the state file {state} is damaged")
    assert "Traceback" not in refused.stderr


@pytest.mark.parametrize("name", ["../outside.req", "/etc/hostname", "..", "", 5])
def test_the_state_names_only_files_next_to_it(tmp_path: Path, name: object) -> None:
    """An edited state file cannot make a run post, read or copy a file from anywhere else."""
    from agent.flows.state import StateError, StateFile

    (tmp_path / "outside.req").write_bytes(b"not ours")
    files = StateFile(tmp_path / "inner" / "web.enroll.json")
    with pytest.raises(StateError, match="where the name of a file next to it belongs"):
        files.read_sibling(name)  # type: ignore[arg-type]
