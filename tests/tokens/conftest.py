from __future__ import annotations

import pytest

from tests.devices import NSSDatabase, SoftHSMToken
from tokens.device import OpenToken, open_token
from tokens.pins import PinSource


@pytest.fixture(scope="session")
def sh_token(softhsm: SoftHSMToken) -> OpenToken:
    """The session's SoftHSM2 token, opened and logged in through tokens."""
    return open_token(softhsm.uri, pins=PinSource(file=softhsm.pin_file))


@pytest.fixture(scope="session")
def nss_token(nssdb: NSSDatabase) -> OpenToken:
    """The NSS database's user token ("NSS Certificate DB"), logged in with the database password."""
    return open_token("pkcs11:", nssdb=nssdb.directory, pins=PinSource(file=nssdb.password_file))


@pytest.fixture(params=["softhsm", "nss"])
def any_token(request: pytest.FixtureRequest) -> OpenToken:
    """Each test using this runs once on SoftHSM2 and once on an NSS database."""
    return request.getfixturevalue("sh_token" if request.param == "softhsm" else "nss_token")
