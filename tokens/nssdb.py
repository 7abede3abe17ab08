"""An NSS database seen as PKCS#11: softokn with its init string, plus the modules its ``pkcs11.txt`` lists.

Dogtag's tools name keys by ``dbdir`` + ``tokenname`` + nickname. To reach the same keys we load
softokn on that directory (its user keys live on the token "NSS Certificate DB") and, as NSS does, the
other modules registered in the database (SoftHSM2, OpenSC, an HSM added with ``modutil``), whose
tokens are then reachable by label.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from tokens.errors import ModuleNotFound, TokenNotFound
from tokens.modules import ModuleSpec, find_module

NSS_USER_TOKEN = "NSS Certificate DB"  # noqa: S105 (a token label, not a password)
NSS_FIPS_USER_TOKEN = "NSS FIPS 140-2 Certificate DB"  # noqa: S105 (a token label)
# Names Dogtag configs use for the database's own key token.
INTERNAL_TOKEN_NAMES = frozenset({"", "internal", "internal key storage token", NSS_USER_TOKEN.lower()})


def nss_init_string(directory: str | os.PathLike[str], read_only: bool = False) -> str:
    """softokn's init string for the database in ``directory`` (an absolute path).

    Inside NSS's quoted parameter values a backslash escapes the next character, so a ``'`` or ``\\`` in
    the path is escaped; unescaped, softokn would fail to initialise (or open another directory).
    """
    escaped = os.fspath(directory).replace("\\", "\\\\").replace("'", "\\'")
    flags = "readOnly" if read_only else "optimizeSpace"
    return f"configdir='sql:{escaped}' certPrefix='' keyPrefix='' secmod='secmod.db' flags={flags}"


@dataclass(frozen=True)
class RegisteredModule:
    """One ``library=`` entry of ``pkcs11.txt``."""

    name: str
    library: str
    parameters: str


@dataclass(frozen=True)
class NssDatabase:
    """An NSS database directory (``cert9.db``, ``key4.db``, ``pkcs11.txt``)."""

    directory: Path

    @classmethod
    def open(cls, directory: str | os.PathLike[str]) -> NssDatabase:
        path = Path(directory).expanduser().resolve()
        if not (path / "cert9.db").is_file() or not (path / "key4.db").is_file():
            raise TokenNotFound(
                f"{path} is not an NSS database (no cert9.db/key4.db); create one with "
                f"'certutil -N -d sql:{path}'"
            )
        return cls(path)

    def init_string(self, read_only: bool = False) -> bytes:
        """The ``pReserved`` string softokn needs in ``C_Initialize``."""
        return nss_init_string(self.directory, read_only).encode()

    def softokn_spec(self) -> ModuleSpec:
        path = find_module("softokn3")
        if path is None:
            raise ModuleNotFound("NSS softokn (libsoftokn3.so) is not installed; run 'make system'")
        return ModuleSpec(path, self.init_string())

    def registered_modules(self) -> list[RegisteredModule]:
        """External modules listed in ``pkcs11.txt`` (softokn's own entries are left out)."""
        config = self.directory / "pkcs11.txt"
        if not config.is_file():
            return []
        modules = []
        for block in config.read_text(errors="replace").split("\n\n"):
            fields: dict[str, str] = {}
            for line in block.splitlines():
                key, sep, value = line.partition("=")
                if sep:
                    fields[key.strip().lower()] = value.strip()
            library = fields.get("library", "")
            if library and "softokn" not in library and "freebl" not in library:
                name = fields.get("name", library)
                if name.startswith('"') and name.endswith('"'):
                    name = shlex.split(name)[0]
                modules.append(RegisteredModule(name, library, fields.get("parameters", "")))
        return modules
