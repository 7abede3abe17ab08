"""One local CA per test session, served over real TLS on 127.0.0.1, and clients with software keys.

Keys are cached (RSA-2048 generation is the slow part); every test that needs a key of its own (the
user-signed profiles refuse a key seen before) takes a fresh one from :func:`LocalCA.new_rsa_key`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from localca.authority import CertificateAuthority
from localca.bootstrap import initialise
from localca.cli import main as cli_main
from localca.server import RunningServer
from tests.localca import independent as ind

FULL = "/ca/ee/ca/profileSubmitCMCFull"
USER_SIGNED = "/ca/ee/ca/profileSubmitUserSignedCMCFull"
SIMPLE = "/ca/ee/ca/profileSubmitCMCSimple"


@dataclass
class Client:
    """A TLS client identity: a key and its certificate, also as files for ``requests``."""

    key: ind.PrivateKey
    certificate: x509.Certificate
    cert_path: Path
    key_path: Path

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def serial(self) -> int:
        return self.certificate.serial_number


class LocalCA:
    def __init__(self, directory: Path, work: Path) -> None:
        self.directory = directory
        self.work = work
        self.ca = CertificateAuthority(directory)
        self.server = RunningServer(self.ca, http_port=0)
        self.server.start()
        self.ca_pem = directory / "ca.pem"
        self.ca_certificate = x509.load_pem_x509_certificate(self.ca_pem.read_bytes())
        self.ca_name_der = self.ca_certificate.subject.public_bytes()
        self.transport_certificate = x509.load_pem_x509_certificate(
            (directory / "kra-transport.pem").read_bytes()
        )
        self._sessions = threading.local()
        self._counter = 0
        self._lock = threading.Lock()

    # -- keys and names ----------------------------------------------------------------------------

    def unique(self, prefix: str) -> str:
        with self._lock:
            self._counter += 1
            return f"{prefix}{self._counter}"

    @staticmethod
    def new_rsa_key() -> rsa.RSAPrivateKey:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    @staticmethod
    def new_ec_key() -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())

    # -- HTTP --------------------------------------------------------------------------------------

    def session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._sessions, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise replace our verify=
            self._sessions.session = session
        return session

    def post(
        self, path: str, body: bytes, client: Client | None = None, headers: dict[str, str] | None = None
    ) -> requests.Response:
        cert = (str(client.cert_path), str(client.key_path)) if client is not None else None
        response = self.session().post(
            self.server.url + path, data=body, cert=cert, verify=str(self.ca_pem), headers=headers, timeout=30
        )
        assert response.status_code == 200, response.text
        return response

    def cmc(self, path: str, body: bytes, client: Client | None = None) -> ind.Response:
        response = self.post(path, body, client)
        assert response.headers["Content-Type"] == "application/pkcs7-mime"
        return ind.read_response(response.content, self.ca_certificate)

    # -- configuration -----------------------------------------------------------------------------

    @contextmanager
    def configured(self, **settings: str) -> Iterator[None]:
        """Change CS.cfg keys for the duration of a test (use ``__`` for ``.`` in key names)."""
        names = {key.replace("__", "."): value for key, value in settings.items()}
        previous: dict[str, str | None] = {key: self.ca.config.get(key) for key in names}
        for key, value in names.items():
            self.ca.config.set(key, value)
        try:
            yield
        finally:
            for key, old in previous.items():
                self.ca.config.set(key, old if old is not None else "")

    # -- identities --------------------------------------------------------------------------------

    def _client_files(self, key: ind.PrivateKey, certificate_pem: bytes, label: str) -> Client:
        cert_path = self.work / f"{label}.pem"
        key_path = self.work / f"{label}-key.pem"
        cert_path.write_bytes(certificate_pem)
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        key_path.chmod(0o600)
        return Client(key, x509.load_pem_x509_certificate(certificate_pem), cert_path, key_path)

    def add_agent(self, subject: str, *, key: ind.PrivateKey | None = None, in_group: bool = True) -> Client:
        """``cmc-localca agent add``, as the demo bootstraps its agent."""
        key = key or self.new_rsa_key()
        label = self.unique("agent")
        csr_path = self.work / f"{label}.csr"
        csr_path.write_bytes(ind.pkcs10(key, subject))
        out = self.work / f"{label}.pem"
        argv = ["agent", "add", str(self.directory), "--csr", str(csr_path), "--out", str(out)]
        if not in_group:
            argv.append("--no-agent-group")
        assert cli_main(argv) == 0
        return self._client_files(key, out.read_bytes(), label)

    def agent_signed(self, agent: Client, data: bytes, *, digest_null: bool = True) -> bytes:
        return ind.signed_cms(
            data, agent.key, signer_certificate=agent.der, certificates=[agent.der], digest_null=digest_null
        )

    def enroll_user(self, agent: Client, subject: str, *, key: ind.PrivateKey | None = None) -> Client:
        """A user certificate from caFullCMCUserCert, approved by ``agent`` (for user-signed tests)."""
        key = key or self.new_rsa_key()
        data = ind.pki_data([], [ind.tagged_pkcs10(1, ind.pkcs10(key, subject))])
        response = self.cmc(FULL, self.agent_signed(agent, data), agent)
        assert response.statuses[0].status == 0, response.statuses
        issued = [c for c in response.certificates if c.subject != self.ca_certificate.subject]
        assert len(issued) == 1
        return self._client_files(
            key, issued[0].public_bytes(serialization.Encoding.PEM), self.unique("user")
        )

    def add_shared_token(self, uid: str, secret: str) -> None:
        secret_file = self.work / f"{uid}.secret"
        secret_file.write_text(secret + "\n")
        assert (
            cli_main(
                ["shared-token", "add", str(self.directory), "--uid", uid, "--secret-file", str(secret_file)]
            )
            == 0
        )

    def close(self) -> None:
        self.server.stop()
        self.ca.close()


@pytest.fixture(scope="session")
def local_ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCA]:
    work = tmp_path_factory.mktemp("localca")
    directory = work / "ca"
    initialise(directory)
    authority = LocalCA(directory, work)
    yield authority
    authority.close()


@pytest.fixture(scope="session")
def agent(local_ca: LocalCA) -> Client:
    return local_ca.add_agent("CN=CA Agent,O=Example")


@pytest.fixture(scope="session")
def other_agent(local_ca: LocalCA) -> Client:
    return local_ca.add_agent("CN=Other Agent,O=Example")


def issued_certificates(local_ca: LocalCA, response: ind.Response) -> list[x509.Certificate]:
    return [c for c in response.certificates if c.subject != local_ca.ca_certificate.subject]
