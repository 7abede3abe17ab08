"""CA agents whose keys live on devices, for end-to-end flows driven through the command line as users
run them against the session's running local CA (tests/running_ca.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.devices import NSSDatabase, SoftHSMToken, make_nssdb
from tests.running_ca import BIN, LocalCA, run

__all__ = ["BIN", "DeviceAgent", "LocalCA", "run"]


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
