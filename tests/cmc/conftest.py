"""Keys and certificates shared by the codec tests (software keys; generated once per session)."""

from __future__ import annotations

import pytest

from agent.keyops import SoftwareKey
from tests.cmc import pki


@pytest.fixture(scope="session")
def ca() -> pki.Issued:
    return pki.root_ca("Test Root CA")


@pytest.fixture(scope="session")
def other_ca() -> pki.Issued:
    return pki.root_ca("Some Other CA", "ec:p256")


@pytest.fixture(scope="session")
def agent_rsa(ca: pki.Issued) -> pki.Issued:
    return pki.issue("CA Agent RSA", issuer=ca, serial=11)


@pytest.fixture(scope="session")
def agent_ec(ca: pki.Issued) -> pki.Issued:
    return pki.issue("CA Agent EC", key=SoftwareKey.generate("ec:p256"), issuer=ca, serial=12)


@pytest.fixture(scope="session")
def user_rsa() -> SoftwareKey:
    return SoftwareKey.generate("rsa:2048")


@pytest.fixture(scope="session")
def user_ec() -> SoftwareKey:
    return SoftwareKey.generate("ec:p256")


@pytest.fixture(scope="session", params=["rsa", "ec"])
def user_key(request: pytest.FixtureRequest, user_rsa: SoftwareKey, user_ec: SoftwareKey) -> SoftwareKey:
    return user_rsa if request.param == "rsa" else user_ec


@pytest.fixture(scope="session", params=["rsa", "ec"])
def agent(request: pytest.FixtureRequest, agent_rsa: pki.Issued, agent_ec: pki.Issued) -> pki.Issued:
    return agent_rsa if request.param == "rsa" else agent_ec


@pytest.fixture(scope="session")
def transport(ca: pki.Issued) -> pki.Issued:
    return pki.issue("KRA Transport", issuer=ca, serial=13)
