"""A running local CA (``cmc-localca serve`` in its own process, real TLS on 127.0.0.1) and CA agents
whose keys live on devices, for end-to-end flows driven through the command line as users run them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.devices import NSSDatabase, SoftHSMToken, make_nssdb

BIN = Path(sys.executable).parent


def run(
    *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one of our commands (``cmc-agent ...`` / ``cmc-localca ...``) as a user would."""
    program, *rest = args
    result = subprocess.run(
        [str(BIN / program), *rest],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=180,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


@dataclass(frozen=True)
class LocalCA:
    directory: Path
    port: int

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.pem"

    def url(self, servlet: str = "profileSubmitCMCFull", profile: str | None = None) -> str:
        query = f"?profileId={profile}" if profile else ""
        return f"https://127.0.0.1:{self.port}/ca/ee/ca/{servlet}{query}"


@pytest.fixture(scope="session")
def local_ca(tmp_path_factory: pytest.TempPathFactory, softhsm: SoftHSMToken) -> Iterator[LocalCA]:
    directory = tmp_path_factory.mktemp("localca") / "ca"
    run("cmc-localca", "init", str(directory))
    process = subprocess.Popen(
        [str(BIN / "cmc-localca"), "serve", str(directory), "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"listening on https://127\.0\.0\.1:(\d+)", line)
    assert match, f"cmc-localca serve said {line!r}"
    yield LocalCA(directory, int(match.group(1)))
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


@dataclass(frozen=True)
class DeviceAgent:
    """A CA agent whose signing key is on a device, with the certificate the CA issued for it."""

    key_uri: str
    cert: Path
    pin_args: tuple[str, ...]


def _make_agent(ca: LocalCA, key_uri: str, pin_args: tuple[str, ...], out: Path, subject: str) -> DeviceAgent:
    run("cmc-agent", "csr", "--key", key_uri, "--subject", subject, "-o", str(out / "agent.csr"), *pin_args)
    run(
        "cmc-localca",
        "agent",
        "add",
        str(ca.directory),
        "--csr",
        str(out / "agent.csr"),
        "--out",
        str(out / "agent.pem"),
    )
    return DeviceAgent(key_uri, out / "agent.pem", pin_args)


@pytest.fixture(scope="session")
def hsm_agent(
    local_ca: LocalCA, softhsm: SoftHSMToken, tmp_path_factory: pytest.TempPathFactory
) -> DeviceAgent:
    """A CA agent whose RSA key is on the SoftHSM2 token (the HSM agent of the walkthrough)."""
    pin_args = ("--pin-file", str(softhsm.pin_file))
    made = run("cmc-agent", "token", "keygen", "--token", softhsm.uri, "--label", "e2e-agent", *pin_args)
    out = tmp_path_factory.mktemp("hsm-agent")
    return _make_agent(local_ca, made.stdout.strip(), pin_args, out, "CN=HSM Agent,UID=hsmagent,O=Example")


@pytest.fixture(scope="session")
def agent_nssdb(tmp_path_factory: pytest.TempPathFactory) -> NSSDatabase:
    return make_nssdb(tmp_path_factory.mktemp("agent-nss") / "db")


@pytest.fixture(scope="session")
def nss_agent(
    local_ca: LocalCA, agent_nssdb: NSSDatabase, tmp_path_factory: pytest.TempPathFactory
) -> DeviceAgent:
    """A CA agent whose EC key is in an NSS database, as in ~/.dogtag/nssdb."""
    pin_args = ("--nssdb", str(agent_nssdb.directory), "--pin-file", str(agent_nssdb.password_file))
    made = run("cmc-agent", "token", "keygen", "--label", "ca_agent", "--type", "ec:p256", *pin_args)
    out = tmp_path_factory.mktemp("nss-agent")
    return _make_agent(local_ca, made.stdout.strip(), pin_args, out, "CN=NSS Agent,UID=nssagent,O=Example")
