"""The CA directory: which file holds what, and how secrets are written.

``DIR/ca.pem`` signs everything (the TLS server certificate included), so it is the one file a client
must trust. Private keys are PEM files with mode 0600, written atomically so that an interrupted
``init`` never leaves a half-written key behind.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from localca.config import CONFIG_FILE_NAME
from localca.store import DATABASE_FILE_NAME


@dataclass(frozen=True)
class CADirectory:
    root: Path

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca-key.pem"

    @property
    def tls_cert(self) -> Path:
        return self.root / "tls.pem"

    @property
    def tls_key(self) -> Path:
        return self.root / "tls-key.pem"

    @property
    def kra_transport_cert(self) -> Path:
        return self.root / "kra-transport.pem"

    @property
    def kra_transport_key(self) -> Path:
        return self.root / "kra-transport-key.pem"

    @property
    def issuance_protection_cert(self) -> Path:
        return self.root / "issuance-protection.pem"

    @property
    def issuance_protection_key(self) -> Path:
        return self.root / "issuance-protection-key.pem"

    @property
    def kra_storage_key(self) -> Path:
        """32 random bytes: the AES-256 key under which the KRA keeps archived private keys."""
        return self.root / "kra-storage.key"

    @property
    def config(self) -> Path:
        return self.root / CONFIG_FILE_NAME

    @property
    def database(self) -> Path:
        return self.root / DATABASE_FILE_NAME

    @property
    def client_issuers(self) -> Path:
        """Other CAs whose certificates TLS clients may present: issuers of agents registered with
        ``agent add --cert --issuer-cert`` (the CA's own ``ca.pem`` is always trusted)."""
        return self.root / "client-issuers.pem"

    @property
    def profiles(self) -> Path:
        return self.root / "profiles"

    def private_files(self) -> list[Path]:
        return [
            self.ca_key,
            self.tls_key,
            self.kra_transport_key,
            self.issuance_protection_key,
            self.kra_storage_key,
        ]

    def is_initialised(self) -> bool:
        return self.ca_cert.exists() and self.config.exists()


def write_file_atomically(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write to a temporary file created with ``mode``, then rename it over ``path``."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_private_file(path: Path, data: bytes) -> None:
    """A secret: readable by the owner only."""
    write_file_atomically(path, data, 0o600)
