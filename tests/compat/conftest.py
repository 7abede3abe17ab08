"""The Dogtag-compatible commands run as a Dogtag user runs them: NSS databases made with ``certutil``,
config files written like the walkthrough's, every command a separate process, real TLS to a running
``cmc-localca``.

The local CA and ``run`` come from the end-to-end suite (``tests/e2e/conftest.py``); a CA with
``keyWrap.useOAEP=true`` (the walkthrough's ``-oaep``/``oaep=true``) is started here for the archival
flow, because CA settings are read when the CA starts.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.devices import make_nssdb
from tests.running_ca import BIN, LocalCA, run, serving

__all__ = ["BIN", "LocalCA", "run"]


def tool(
    *args: str, cwd: Path | None = None, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """One of the Dogtag-compatible commands (or cmc-agent / cmc-localca), run in ``cwd`` (``env``: extra
    environment variables)."""
    program, *rest = args
    result = subprocess.run(
        [str(BIN / program), *rest],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=180,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def write_config(path: Path, text: str) -> Path:
    """A config file holding a password: private, as the tools expect."""
    path.write_text(text)
    path.chmod(0o600)
    return path


@dataclass(frozen=True)
class DogtagDatabase:
    """An NSS database as a Dogtag user has one (``~/.dogtag/nssdb``), with its password."""

    directory: Path
    password: str
    password_file: Path

    def certutil(self, *args: str) -> str:
        result = subprocess.run(
            ["certutil", *args, "-d", f"sql:{self.directory}", "-f", str(self.password_file)],
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout

    def certificate(self, nickname: str) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.certutil("-L", "-n", nickname, "-a").encode())

    def key_ids(self) -> list[str]:
        """``certutil -K``'s key ids (hex CKA_ID)."""
        return re.findall(r"^<\s*\d+>\s+\w+\s+([0-9a-f]{40})", self.certutil("-K"), re.MULTILINE)


def new_database(directory: Path, password: str = "dogtag-password") -> DogtagDatabase:
    made = make_nssdb(directory, password)
    return DogtagDatabase(made.directory, made.password, made.password_file)


def trust_ca(database: DogtagDatabase, ca: LocalCA, nickname: str = "CA Signing Certificate") -> None:
    tool("cmc-agent", "client-cert-import", "-d", str(database.directory), "-C", str(database.password_file),
         "--ca-cert", str(ca.ca_cert), nickname)  # fmt: skip


def issue_directly(
    ca: LocalCA, database: DogtagDatabase, nickname: str, subject: str, work: Path, *, agent: bool = True
) -> Path:
    """A key made by PKCS10Client and a certificate the CA issues for it outside CMC (``agent add``),
    imported under ``nickname``: the quick way to give a database a signing certificate (an agent's,
    or with ``agent=False`` a plain user's)."""
    csr = work / f"{nickname}.csr"
    tool("PKCS10Client", "-d", str(database.directory), "-P", str(database.password_file), "-a", "ec",
         "-n", subject, "-o", str(csr))  # fmt: skip
    pem = work / f"{nickname}.pem"
    group = [] if agent else ["--no-agent-group"]
    tool("cmc-localca", "agent", "add", str(ca.directory), "--csr", str(csr), "--out", str(pem), *group)
    tool("cmc-agent", "client-cert-import", "-d", str(database.directory), "-C", str(database.password_file),
         nickname, "--cert", str(pem))  # fmt: skip
    return pem


@pytest.fixture(scope="session")
def agent_db(local_ca: LocalCA, tmp_path_factory: pytest.TempPathFactory) -> DogtagDatabase:
    """The CA agent's ``~/.dogtag/nssdb``: an EC key, its agent certificate ``ca_agent``, the CA trusted."""
    work = tmp_path_factory.mktemp("agent")
    database = new_database(work / "nssdb")
    trust_ca(database, local_ca)
    issue_directly(local_ca, database, "ca_agent", "CN=CA Agent,UID=caagent,O=Example", work)
    return database


@pytest.fixture(scope="session")
def oaep_ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCA]:
    """A second local CA whose KRA and EncryptedPOP use RSA-OAEP (``keyWrap.useOAEP=true``)."""
    directory = tmp_path_factory.mktemp("oaep-ca") / "ca"
    tool("cmc-localca", "init", str(directory))
    tool("cmc-localca", "config", "set", str(directory), "keyWrap.useOAEP", "true")
    with serving(directory) as ca:
        yield ca


def spki(certificate_or_csr: x509.Certificate | x509.CertificateSigningRequest) -> bytes:
    return certificate_or_csr.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def submit_config(ca: LocalCA, database: DogtagDatabase, request: Path, response: Path, servlet: str,
                  nickname: str | None = None) -> str:  # fmt: skip
    """An HttpClient config as the walkthrough writes it (host name, not address: the server is checked)."""
    client = f"clientmode=true\nnickname={nickname}\n" if nickname else "clientmode=false\n"
    return (
        "# CA server host name\n"
        "host=localhost\n"
        f"port={ca.port}\n"
        "secure=true\n"
        f"{client}"
        f"dbdir={database.directory}/\n"
        f"password={database.password}\n"
        "tokenname=internal\n"
        f"input={request}\n"
        f"output={response}\n"
        f"servlet={servlet}\n"
    )
