"""Real devices for tests: a fresh SoftHSM2 token and a fresh NSS database per test session.

Made with the project's own ``softhsm-setup`` scripts, so the tests exercise what the demo and users run.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETUP = ROOT / "softhsm-setup"
SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
NSS_SOFTOKN = "/usr/lib/x86_64-linux-gnu/libsoftokn3.so"


@dataclass(frozen=True)
class SoftHSMToken:
    directory: Path
    conf: Path
    label: str
    pin: str
    pin_file: Path
    so_pin: str
    module: str = SOFTHSM_MODULE

    @property
    def uri(self) -> str:
        return f"pkcs11:token={self.label}"


@dataclass(frozen=True)
class NSSDatabase:
    directory: Path
    password: str
    password_file: Path
    module: str = NSS_SOFTOKN
    token_label: str = "NSS Certificate DB"


def write_secret(path: Path, value: str) -> Path:
    path.write_text(value + "\n")
    path.chmod(0o600)
    return path


def make_softhsm_token(directory: Path, label: str, pin: str = "1234", so_pin: str = "5678") -> SoftHSMToken:
    """Create a SoftHSM2 token with its own configuration. Several tokens may share one directory."""
    directory.mkdir(parents=True, exist_ok=True)
    pin_file = write_secret(directory / f"{label}.pin", pin)
    so_pin_file = write_secret(directory / f"{label}.so-pin", so_pin)
    subprocess.run(
        [
            "bash",
            str(SETUP / "make-softhsm-token.sh"),
            str(directory),
            label,
            str(pin_file),
            str(so_pin_file),
        ],
        check=True,
        capture_output=True,
    )
    return SoftHSMToken(directory, directory / "softhsm2.conf", label, pin, pin_file, so_pin)


def make_nssdb(directory: Path, password: str = "nss-secret") -> NSSDatabase:
    directory.mkdir(parents=True, exist_ok=True)
    password_file = write_secret(directory.parent / f"{directory.name}.pw", password)
    subprocess.run(
        ["bash", str(SETUP / "make-nssdb.sh"), str(directory), str(password_file)],
        check=True,
        capture_output=True,
    )
    return NSSDatabase(directory, password, password_file)


def use_softhsm_conf(conf: Path) -> None:
    """SoftHSM2 reads SOFTHSM2_CONF once, when the module is first initialised in this process."""
    os.environ["SOFTHSM2_CONF"] = str(conf)
