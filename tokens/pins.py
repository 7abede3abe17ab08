"""Where PINs come from: a file, an environment variable the user names, the URI's ``pin-source``, a
prompt, or the device's protected authentication path (PIN pad). Never argv, never a log line.

A :class:`PinSource` is what the caller asked for; :func:`read_pin` turns it into the PIN only at login.
"""

from __future__ import annotations

import getpass
import logging
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from tokens.errors import PinUnavailable
from tokens.uri import Pkcs11Uri

log = logging.getLogger(__name__)


class _ProtectedPath:
    """Marker: log in through the device's own PIN pad (CKF_PROTECTED_AUTHENTICATION_PATH)."""

    def __repr__(self) -> str:
        return "PROTECTED_AUTHENTICATION_PATH"


PROTECTED_AUTHENTICATION_PATH: Final = _ProtectedPath()


@dataclass(frozen=True)
class PinSource:
    """The caller's choice of PIN source; the fields are tried in the order they are declared."""

    file: Path | None = None
    env: str | None = None
    value: str | None = field(default=None, repr=False)
    """A PIN already in memory (library callers, or a config file's ``password=``). Not from argv."""
    prompt: bool = True
    """Ask on the terminal when nothing else gives a PIN and stdin is a terminal."""


def read_pin_file(path: Path) -> str:
    """The first line of ``path``; its trailing newline is not part of the PIN."""
    try:
        info = path.stat()
        with path.open("r", encoding="utf-8") as handle:
            line = handle.readline()
    except OSError as exc:
        raise PinUnavailable(f"cannot read PIN file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise PinUnavailable(f"PIN file {path} is not UTF-8 text") from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("PIN file %s is readable by other users; chmod 600 it", path)
    pin = line.rstrip("\r\n")
    if not pin:
        raise PinUnavailable(f"PIN file {path} is empty")
    return pin


def _from_uri_pin_source(pin_source: str) -> str:
    if pin_source.startswith("|"):
        raise PinUnavailable("pin-source=|command is not supported; use pin-source=file:PATH")
    path = pin_source[5:] if pin_source.startswith("file:") else pin_source
    if path.startswith("//"):  # file:///path
        path = path[2:]
    return read_pin_file(Path(path))


def read_pin(
    source: PinSource, uri: Pkcs11Uri | None, token_label: str, protected_path: bool
) -> str | _ProtectedPath:
    """The PIN for ``token_label``, or the protected-path marker when the device has a PIN pad."""
    if source.file is not None:
        return read_pin_file(source.file)
    if source.env is not None:
        pin = os.environ.get(source.env)
        if not pin:
            raise PinUnavailable(f"environment variable {source.env} is not set or empty")
        return pin
    if source.value is not None:
        return source.value
    if uri is not None and uri.pin_source:
        return _from_uri_pin_source(uri.pin_source)
    if uri is not None and uri.pin_value is not None:
        return uri.pin_value
    if protected_path:
        return PROTECTED_AUTHENTICATION_PATH
    if source.prompt and sys.stdin.isatty():
        return getpass.getpass(f"PIN for token {token_label!r}: ")
    raise PinUnavailable(
        f"token {token_label!r} needs a PIN: give --pin-file FILE, --pin-env NAME or pin-source=file:PATH"
    )
