"""Session-wide real devices. SoftHSM2 reads its configuration once per process, so every test in a
session shares one SoftHSM2 directory; tests that need their own token create one in it with
``make_softhsm_token`` and a unique label."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.devices import NSSDatabase, SoftHSMToken, make_nssdb, make_softhsm_token, use_softhsm_conf
from tests.running_ca import local_ca  # noqa: F401 - one running CA for the whole session


@pytest.fixture(scope="session")
def softhsm_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("softhsm")
    use_softhsm_conf(directory / "softhsm2.conf")
    yield directory


@pytest.fixture(scope="session")
def softhsm(softhsm_dir: Path) -> SoftHSMToken:
    """The session's main SoftHSM2 token (label ``test-token``, PIN in ``pin_file``)."""
    return make_softhsm_token(softhsm_dir, "test-token")


@pytest.fixture(scope="session")
def nssdb(tmp_path_factory: pytest.TempPathFactory) -> NSSDatabase:
    """A fresh NSS database (softokn) with a password file."""
    return make_nssdb(tmp_path_factory.mktemp("nss") / "db")
