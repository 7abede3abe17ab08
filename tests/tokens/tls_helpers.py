"""A test CA, an ``openssl s_server`` that demands client certificates, and key pairs made on devices.

Shared by the TLS tests and the TLS benchmark. Keys are made with the devices' own tools (pkcs11-tool for
SoftHSM2, certutil for NSS) so that what ``tokens.tls`` reads is exactly what users will have.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


def percent_encode(hex_id: str) -> str:
    """A CKA_ID in hex as an RFC 7512 ``id=`` value (every byte percent-encoded)."""
    return "".join(f"%{hex_id[i : i + 2]}" for i in range(0, len(hex_id), 2))


@dataclass
class TestCA:
    """A one-level CA whose files live in ``directory``."""

    __test__ = False  # not a pytest test class

    directory: Path
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @classmethod
    def create(cls, directory: Path, name: str = "cmc-agent TLS test CA") -> TestCA:
        directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        subject = _name(name)
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .sign(key, hashes.SHA256())
        )
        ca = cls(directory, key, certificate)
        ca.write("ca.pem", certificate)
        return ca

    @property
    def cert_file(self) -> Path:
        return self.directory / "ca.pem"

    def issue(
        self, public_key: PublicKey, common_name: str, *, server_ip: str | None = None
    ) -> x509.Certificate:
        """A client certificate, or a server certificate for ``server_ip`` (its only name)."""
        now = datetime.datetime.now(datetime.UTC)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server_ip else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if server_ip:
            san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(server_ip))])
            builder = builder.add_extension(san, critical=False)
        return builder.sign(self.key, hashes.SHA256())

    def write(self, file_name: str, certificate: x509.Certificate) -> Path:
        path = self.directory / file_name
        path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return path

    def software_pair(
        self, spec: str, common_name: str, *, server_ip: str | None = None
    ) -> tuple[Path, Path]:
        """A key file (PKCS#8 PEM, unencrypted) and its certificate: servers, and the benchmark's baseline."""
        key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
        key = (
            ec.generate_private_key(ec.SECP256R1()) if spec == "ec" else rsa.generate_private_key(65537, 2048)
        )
        stem = re.sub(r"\W+", "-", common_name)
        key_file = self.directory / f"{stem}.key"
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        key_file.chmod(0o600)
        cert_file = self.write(f"{stem}.pem", self.issue(key.public_key(), common_name, server_ip=server_ip))
        return key_file, cert_file


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SServer:
    """``openssl s_server`` on 127.0.0.1 answering HTTP GETs with a status page (``-www``).

    With a ``client_ca`` it demands a client certificate (``-Verify 1 -verify_return_error``) and its page
    shows the certificate's subject, which is how tests see what the server received.
    """

    def __init__(self, cert_file: Path, key_file: Path, client_ca: Path | None) -> None:
        self.cert_file, self.key_file, self.client_ca = cert_file, key_file, client_ca
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log = Path(tempfile.mkstemp(prefix="s_server-", suffix=".log")[1])

    def __enter__(self) -> SServer:
        for _ in range(5):  # another process may take the free port between probe and bind
            self.port = free_port()
            command = [
                "openssl", "s_server", "-accept", f"127.0.0.1:{self.port}", "-www", "-quiet",
                "-cert", str(self.cert_file), "-key", str(self.key_file),
            ]  # fmt: skip
            if self.client_ca:
                command += ["-CAfile", str(self.client_ca), "-Verify", "1", "-verify_return_error"]
            with open(self._log, "wb") as log:
                self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            if self._wait_until_listening():
                return self
            self._stop()
        output = self._log.read_text(errors="replace")
        self._log.unlink(missing_ok=True)
        raise RuntimeError(f"openssl s_server did not start: {output}")

    def _wait_until_listening(self) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._stop()
        self._log.unlink(missing_ok=True)

    def _stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def url(self, host: str = "127.0.0.1", path: str = "/") -> str:
        return f"https://{host}:{self.port}{path}"


def softhsm_key_pair(
    module: str, token_label: str, pin: str, key_type: str, hex_id: str, label: str
) -> PublicKey:
    """Generate a key pair on a SoftHSM2 token with pkcs11-tool; return its public key.

    ``key_type`` is pkcs11-tool's: ``rsa:2048`` or ``EC:prime256v1``. The PIN goes on pkcs11-tool's command
    line, which is acceptable only for a throwaway test token.
    """
    base = ["pkcs11-tool", "--module", module, "--token-label", token_label]
    subprocess.run(
        [
            *base,
            "--login",
            "--pin",
            pin,
            "--keypairgen",
            "--key-type",
            key_type,
            "--id",
            hex_id,
            "--label",
            label,
        ],
        check=True,
        capture_output=True,
    )
    with tempfile.TemporaryDirectory() as scratch:
        out = os.path.join(scratch, "pub.der")
        subprocess.run(
            [*base, "--read-object", "--type", "pubkey", "--id", hex_id, "-o", out],
            check=True,
            capture_output=True,
        )
        with open(out, "rb") as handle:
            public_key = serialization.load_der_public_key(handle.read())
    assert isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
    return public_key


def nss_key_pair(db_dir: Path, password_file: Path, kind: str, common_name: str) -> tuple[str, PublicKey]:
    """Generate a key pair in an NSS database with ``certutil -R``; return its CKA_ID (hex) and public key.

    certutil gives such keys no label, so tests address them by ``id=``, as users must.
    """
    before = _nss_key_ids(db_dir, password_file)
    with tempfile.TemporaryDirectory() as scratch:
        noise, request = Path(scratch, "noise"), Path(scratch, "req.der")
        noise.write_bytes(os.urandom(64))
        key_args = ["-k", "rsa", "-g", "2048"] if kind == "rsa" else ["-k", "ec", "-q", "nistp256"]
        subprocess.run(
            ["certutil", "-R", "-d", f"sql:{db_dir}", "-f", str(password_file), "-z", str(noise),
             "-s", f"CN={common_name}", *key_args, "-o", str(request)],
            check=True,
            capture_output=True,
        )  # fmt: skip
        data = request.read_bytes()
    csr = x509.load_der_x509_csr(data) if data[:1] == b"\x30" else x509.load_pem_x509_csr(data)
    (new_id,) = _nss_key_ids(db_dir, password_file) - before
    public_key = csr.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
    return new_id, public_key


def _nss_key_ids(db_dir: Path, password_file: Path) -> set[str]:
    listing = subprocess.run(
        ["certutil", "-K", "-d", f"sql:{db_dir}", "-f", str(password_file)], capture_output=True, text=True
    )
    return set(re.findall(r"<\s*\d+>\s+\w+\s+([0-9a-f]{40})", listing.stdout))
