"""Kill it anywhere: ``cmc-agent enroll`` killed with SIGKILL at every step boundary and at random points
inside each trip, then run again; every rerun finishes, and the CA issues at most once per key.

Three flows, each against a CA of this module's own (so that what it issued can be counted in its
SQLite file) and a SoftHSM2 token of its own:

* agent-signed PKCS#10 for an EC key (CMCAuth, one trip);
* shared secret (identityProofV2 + popLinkWitnessV2, one trip);
* EncryptedPOP + key archival (CRMF with POP none, wrapped for the KRA, agent-signed: two trips).

Step boundaries are hit exactly with the ``CMC_AGENT_TEST_KILL_AT`` hook (agent/flows/killpoints.py):
after each recorded step, after the key exists but before its state is saved, and between receiving the
CA's answer and saving it (the moment the CA has acted and we do not know it). Random kills wait for the
line that opens a trip and strike a random few milliseconds later, while the request is on its way. After
each rerun: exit 0 and step ``imported``; the CA issued exactly one certificate for that key; at the end,
each label names one key on the token, with one certificate. The CA itself is killed (SIGKILL) between
the two trips of an archival enrollment and restarted on the same port.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.devices import SoftHSMToken, make_softhsm_token, write_secret
from tests.running_ca import BIN, run

KILL_ENV = "CMC_AGENT_TEST_KILL_AT"
UID = "kill-user"
SECRET = "kill test shared passphrase"
TIME_BUDGET_SECONDS = 420.0
"""Per flow: random kills stop when it is spent (the step boundaries always run)."""
RUN_TIMEOUT = 120

BOUNDARIES_ONE_TRIP = [
    "key-opened", "key-ready", "trip1-built", "trip1-sent", "trip1-received", "trip1-response-saved",
    "trip1-answered", "issued", "imported",
]  # fmt: skip
BOUNDARIES_TWO_TRIPS = [
    *BOUNDARIES_ONE_TRIP[:7], "pop-required", "trip2-built", "trip2-sent", "trip2-received",
    "trip2-response-saved", "trip2-answered", "issued", "imported",
]  # fmt: skip
MIN_KILLS = {"agent": 15, "shared-secret": 15, "archival": 21}
"""Boundaries plus random kills per flow: at least 51 in all."""

KILLS: Counter[str] = Counter()
ASKED: Counter[str] = Counter()
"""Reruns that asked the CA what became of a request (the answer had been lost)."""


@dataclass
class KillCA:
    """A ``cmc-localca serve`` of this module's own, on a fixed port so that it can be restarted."""

    directory: Path
    port: int
    process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(BIN / "cmc-localca"), "serve", str(self.directory), "--host", "127.0.0.1", "--port",
             str(self.port)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert "listening on https://127.0.0.1:" in line, line

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)
            self.process = None

    def url(self, servlet: str, profile: str) -> str:
        return f"https://127.0.0.1:{self.port}/ca/ee/ca/{servlet}?profileId={profile}"

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.pem"

    def certificates_for(self, spki: bytes) -> int:
        with sqlite3.connect(f"file:{self.directory / 'localca.db'}?mode=ro", uri=True) as db:
            (count,) = db.execute("SELECT count(*) FROM certs WHERE public_key = ?", (spki,)).fetchone()
        return int(count)


@dataclass
class Bench:
    ca: KillCA
    token: SoftHSMToken
    agent_key: str
    agent_cert: Path
    secret_file: Path
    work: Path
    labels: dict[str, list[str]] = field(default_factory=dict)
    counter: int = 0

    def new_label(self, flow: str) -> str:
        self.counter += 1
        label = f"kill-{flow}-{self.counter}"
        self.labels.setdefault(flow, []).append(label)
        return label

    def command(self, flow: str, label: str) -> list[str]:
        common = ["enroll", "--label", label, "--token", f"{self.token.uri}?module-path={self.token.module}",
                  "--state", str(self.work / f"{label}.enroll.json"), "--ca-cert", str(self.ca.ca_cert),
                  "--pin-file", str(self.token.pin_file)]  # fmt: skip
        agent = ["--agent-key", self.agent_key, "--agent-cert", str(self.agent_cert)]
        if flow == "agent":
            return [*common, "--type", "ec:p256", "--subject", f"CN={label}.example.com", *agent,
                    "--url", self.ca.url("profileSubmitCMCFull", "caCMCECserverCert")]  # fmt: skip
        if flow == "shared-secret":
            return [*common, "--subject", f"CN={label},UID={UID}", "--identification", UID,
                    "--secret-file", str(self.secret_file), "--pop-link-witness",
                    "--url", self.ca.url("profileSubmitCMCFull", "caFullCMCSharedTokenCert")]  # fmt: skip
        return [*common, "--subject", f"CN={label},UID={label}", "--archivable", "--pop", "none",
                "--archive-to", str(self.ca.directory / "kra-transport.pem"), *agent,
                "--url", self.ca.url("profileSubmitCMCFull", "caFullCMCUserCert")]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def bench(softhsm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    work = tmp_path_factory.mktemp("kill")
    token = make_softhsm_token(softhsm_dir, "kill-card", pin="kill-pin-2468")
    ca = KillCA(work / "ca", _free_port())
    run("cmc-localca", "init", str(ca.directory))
    ca.start()
    try:
        pin = ("--pin-file", str(token.pin_file))
        agent_key = run("cmc-agent", "token", "keygen", "--token", token.uri, "--label", "kill-ca-agent",
                        *pin).stdout.strip()  # fmt: skip
        run("cmc-agent", "csr", "--key", agent_key, "--subject", "CN=Kill Agent,O=Example",
            "-o", str(work / "agent.csr"), *pin)  # fmt: skip
        run("cmc-localca", "agent", "add", str(ca.directory), "--csr", str(work / "agent.csr"),
            "--out", str(work / "agent.pem"))  # fmt: skip
        secret = write_secret(work / "secret", SECRET)
        run(
            "cmc-localca",
            "shared-token",
            "add",
            str(ca.directory),
            "--uid",
            UID,
            "--secret-file",
            str(secret),
        )
        yield Bench(ca, token, agent_key, work / "agent.pem", secret, work)
    finally:
        ca.stop()
        total = sum(KILLS.values())
        print(
            f"\nkill test: {total} SIGKILLs of enroll: {dict(KILLS)}; reruns that asked the CA: {dict(ASKED)}"
        )


def _enroll(args: list[str], kill_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, KILL_ENV: kill_at} if kill_at else None
    return subprocess.run([str(BIN / "cmc-agent"), *args], capture_output=True, text=True, env=env,
                          timeout=RUN_TIMEOUT)  # fmt: skip


def _enroll_killed_after(args: list[str], marker: re.Pattern[str], window: float, rng: random.Random) -> bool:
    """Run until a line matching ``marker`` appears, then SIGKILL it within ``window`` seconds; True when
    the process died by that kill (False when it had finished first)."""
    process = subprocess.Popen([str(BIN / "cmc-agent"), *args], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)  # fmt: skip
    assert process.stdout is not None
    try:
        for line in process.stdout:
            if marker.search(line):
                time.sleep(rng.uniform(0.0, window))
                process.send_signal(signal.SIGKILL)
                break
        process.wait(timeout=RUN_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode == -signal.SIGKILL


def _finish_and_check(bench: Bench, flow: str, label: str) -> subprocess.CompletedProcess[str]:
    """The rerun, and what a user would check after it."""
    state_path = bench.work / f"{label}.enroll.json"
    done = _enroll(bench.command(flow, label))
    assert done.returncode == 0, f"{flow} {label}:\n{done.stdout}\n{done.stderr}"
    state = json.loads(state_path.read_text())
    assert state["step"] == "imported", state["step"]
    chain = state_path.parent / state["certificate"]["chain"]
    leaf = x509.load_pem_x509_certificates(chain.read_bytes())[0]
    spki = leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert bench.ca.certificates_for(spki) == 1, f"{label}: the CA issued more than once for the key"
    if "asked the CA what became of" in done.stdout:
        ASKED[flow] += 1
    return done


def _check_token(bench: Bench, flow: str) -> None:
    """Each label of the flow names one key on the token, holding exactly one certificate."""
    pin = ("--pin-file", str(bench.token.pin_file))
    keys = json.loads(run("cmc-agent", "token", "keys", "--token", bench.token.uri, "--json", *pin).stdout)
    certs = json.loads(run("cmc-agent", "token", "certs", "--token", bench.token.uri, "--json", *pin).stdout)
    for label in bench.labels[flow]:
        mine = [key for key in keys if key["label"] == label]
        assert len(mine) == 1, f"{label}: {len(mine)} keys on the token"
        bound = [cert for cert in certs if cert["id"] == mine[0]["id"]]
        assert len(bound) == 1, f"{label}: {len(bound)} certificates for its key"


TRIP_MARKERS = {
    1: re.compile(r"^trip 1: .* saved as "),
    2: re.compile(r"^trip 2: challenge decrypted"),
}


@pytest.mark.parametrize("flow", ["agent", "shared-secret", "archival"])
def test_enroll_killed_anywhere_finishes_and_the_ca_issues_once(bench: Bench, flow: str) -> None:
    started = time.monotonic()
    rng = random.Random(f"kill-{flow}")
    boundaries = BOUNDARIES_TWO_TRIPS if flow == "archival" else BOUNDARIES_ONE_TRIP
    for point in boundaries:
        label = bench.new_label(flow)
        killed = _enroll(bench.command(flow, label), kill_at=point)
        assert killed.returncode == -signal.SIGKILL, f"no kill at {point}:\n{killed.stdout}\n{killed.stderr}"
        KILLS[flow] += 1
        done = _finish_and_check(bench, flow, label)
        if point in ("trip1-received", "trip2-received") and (
            flow != "archival" or point == "trip2-received"
        ):
            assert "asked the CA what became of" in done.stdout, done.stdout
            assert "nothing sent again" in done.stdout, done.stdout
    trips = (1, 2) if flow == "archival" else (1,)
    while time.monotonic() - started < TIME_BUDGET_SECONDS and KILLS[flow] < MIN_KILLS[flow]:
        label = bench.new_label(flow)
        for trip in trips:  # one enrollment, killed inside each of its trips in turn
            if _enroll_killed_after(bench.command(flow, label), TRIP_MARKERS[trip], 0.25, rng):
                KILLS[flow] += 1
        _finish_and_check(bench, flow, label)
    assert KILLS[flow] >= MIN_KILLS[flow], f"only {KILLS[flow]} kills within the time budget"
    _check_token(bench, flow)


def test_ca_killed_between_the_trips_and_restarted(bench: Bench) -> None:
    """The CA dies (SIGKILL) while it waits for the DecryptedPOP; restarted, it takes the second trip."""
    label = bench.new_label("archival")
    stopped = _enroll(bench.command("archival", label), kill_at="pop-required")
    assert stopped.returncode == -signal.SIGKILL
    KILLS["archival"] += 1
    bench.ca.kill()
    bench.ca.start()
    done = _finish_and_check(bench, "archival", label)
    assert "trip 2: challenge decrypted on the device" in done.stdout


def test_a_refusal_recorded_after_the_ca_issued_builds_no_second_request(bench: Bench) -> None:
    """A state file that says "refused" although the CA certified the key (what a rerun that sent a spent
    DecryptedPOP again used to leave): the next run finds the certificate instead of asking anew."""
    label = bench.new_label("agent")
    state_path = bench.work / f"{label}.enroll.json"
    killed = _enroll(bench.command("agent", label), kill_at="trip1-received")
    assert killed.returncode == -signal.SIGKILL
    KILLS["agent"] += 1
    state = json.loads(state_path.read_text())
    state.update(step="failed", message="the CA answered failed (badRequest): replayed")
    state_path.write_text(json.dumps(state))
    done = _finish_and_check(bench, "agent", label)
    assert "retry" not in done.stdout and "found certificate serial" in done.stdout, done.stdout
