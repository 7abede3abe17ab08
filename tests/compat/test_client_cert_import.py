"""``cmc-agent client-cert-import``: the three ways ``pki client-cert-import`` imports, with its trust
defaults, checked with ``certutil`` (what NSS, and so every Dogtag tool, will see)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.compat.conftest import DogtagDatabase, LocalCA, new_database, tool


def trust_of(database: DogtagDatabase, nickname: str) -> str:
    for line in database.certutil("-L").splitlines():
        match = re.match(rf"^{re.escape(nickname)}\s+(\S*,\S*,\S*)\s*$", line)
        if match:
            return match.group(1)
    raise AssertionError(f"{nickname!r} is not in the database:\n{database.certutil('-L')}")


@pytest.fixture
def issued(local_ca: LocalCA, tmp_path: Path) -> tuple[DogtagDatabase, Path]:
    """A database holding a PKCS10Client key, and a PKCS#7 chain (certificate + CA) issued for it."""
    database = new_database(tmp_path / "nssdb")
    csr, pem, chain = tmp_path / "me.csr", tmp_path / "me.pem", tmp_path / "chain.p7b"
    tool("PKCS10Client", "-d", str(database.directory), "-P", str(database.password_file), "-n", "CN=Me",
         "-o", str(csr))  # fmt: skip
    tool("cmc-localca", "agent", "add", str(local_ca.directory), "--csr", str(csr), "--out", str(pem),
         "--no-agent-group")  # fmt: skip
    certificates = ["-certfile", str(pem), "-certfile", str(local_ca.ca_cert)]
    subprocess.run(["openssl", "crl2pkcs7", "-nocrl", *certificates, "-out", str(chain)], check=True)
    return database, chain


def _import(database: DogtagDatabase, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return tool("cmc-agent", "client-cert-import", "-d", str(database.directory), "-C",
                str(database.password_file), *args, check=check)  # fmt: skip


def test_pkcs7_imports_the_certificate_next_to_its_key_and_trusts_the_root(
    issued: tuple[DogtagDatabase, Path],
) -> None:
    database, chain = issued
    assert _import(database, "me", "--pkcs7", str(chain)).stdout == 'Imported certificate "me"\n'
    assert trust_of(database, "me") == "u,u,u"
    assert trust_of(database, "CA Signing Certificate") == "CT,C,C"


def test_cert_with_a_chain_adds_the_ca_untrusted(issued: tuple[DogtagDatabase, Path]) -> None:
    database, chain = issued
    _import(database, "me", "--cert", str(chain), "--trust", "u,u,Pu")
    assert trust_of(database, "me") == "u,u,Pu"
    assert trust_of(database, "CA Signing Certificate") == ",,"


def test_ca_cert_defaults_to_ct_c_c(local_ca: LocalCA, tmp_path: Path) -> None:
    database = new_database(tmp_path / "nssdb")
    assert _import(database, "--ca-cert", str(local_ca.ca_cert)).stdout == (
        'Imported certificate "CA Signing Certificate"\n'
    )
    assert trust_of(database, "CA Signing Certificate") == "CT,C,C"


def test_someone_elses_certificate_goes_in_with_cert_but_not_with_pkcs7(
    local_ca: LocalCA, tmp_path: Path
) -> None:
    database = new_database(tmp_path / "nssdb")
    peer = local_ca.directory / "tls.pem"
    refused = _import(database, "peer", "--pkcs7", str(peer), check=False)
    assert refused.returncode == 1 and "--pkcs7 imports your own certificate" in refused.stderr
    _import(database, "peer", "--cert", str(peer), "--trust", "P,,")
    assert trust_of(database, "peer") == "P,,"
