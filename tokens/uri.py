"""RFC 7512 ``pkcs11:`` URIs: parse, validate, print canonically.

The URI is how every token, key and certificate is named, on the command line and in state files.
Canonical printing (fixed attribute order, minimal percent-encoding, ``id`` always fully encoded) makes
two spellings of the same object compare and print the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote, unquote_to_bytes

from tokens.errors import InvalidUri

# Path attributes in the order RFC 7512 lists them; we print them in this order.
PATH_ATTRIBUTES = (
    "library-manufacturer",
    "library-description",
    "library-version",
    "slot-manufacturer",
    "slot-description",
    "slot-id",
    "manufacturer",
    "model",
    "serial",
    "token",
    "object",
    "type",
    "id",
)
QUERY_ATTRIBUTES = ("pin-source", "pin-value", "module-name", "module-path")
OBJECT_TYPES = ("private", "public", "cert", "secret-key", "data")

# RFC 7512 p-pchar: unreserved / pct-encoded / ":" / "[" / "]" / "@" / "!" / "$" / "'" / "(" / ")"
# / "*" / "+" / "," / "=" / "&". q-pchar is the same with "/" and "?" and without "&".
_PATH_SAFE = ":[]@!$'()*+,=&"
_QUERY_SAFE = ":[]@!$'()*+,=/?|"
_VERSION = re.compile(r"^\d+(\.\d+)?$")
_SLOT_ID = re.compile(rb"[0-9]+\Z")


def _decode(value: str, what: str) -> bytes:
    if re.search(r"%(?![0-9A-Fa-f]{2})", value):
        raise InvalidUri(f"bad percent-encoding in {what}={value!r}")
    return unquote_to_bytes(value)


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidUri(f"{what} is not UTF-8 after percent-decoding") from None


@dataclass(frozen=True)
class Pkcs11Uri:
    """A parsed ``pkcs11:`` URI. Absent attributes are ``None``; ``id`` is bytes (CKA_ID)."""

    token: str | None = None
    manufacturer: str | None = None
    serial: str | None = None
    model: str | None = None
    object: str | None = None
    id: bytes | None = None
    type: str | None = None
    library_manufacturer: str | None = None
    library_description: str | None = None
    library_version: str | None = None
    slot_manufacturer: str | None = None
    slot_description: str | None = None
    slot_id: int | None = None
    module_path: str | None = None
    module_name: str | None = None
    pin_source: str | None = None
    pin_value: str | None = field(default=None, repr=False)
    """Discouraged: the PIN in clear. Accepted from files and library callers, refused on the command line."""

    def __post_init__(self) -> None:
        if self.type is not None and self.type not in OBJECT_TYPES:
            raise InvalidUri(f"type={self.type!r} is not one of {', '.join(OBJECT_TYPES)}")
        if self.library_version is not None and not _VERSION.match(self.library_version):
            raise InvalidUri(f"library-version={self.library_version!r} is not M or M.N")

    @classmethod
    def parse(cls, text: str) -> Pkcs11Uri:
        """Parse a URI; every error names the offending attribute."""
        if not isinstance(text, str) or not text[:7].lower() == "pkcs11:":
            raise InvalidUri(f"not a pkcs11: URI: {text!r}")
        body = text[7:]
        path, _, query = body.partition("?")
        values: dict[str, Any] = {}
        for part in filter(None, path.split(";")):
            name, sep, raw = part.partition("=")
            name = name.strip().lower()
            if not sep:
                raise InvalidUri(f"path attribute {part!r} has no '='")
            if name not in PATH_ATTRIBUTES:
                if name.startswith("x-"):
                    continue  # vendor extensions are allowed and ignored
                raise InvalidUri(f"unknown path attribute {name!r}; known: {', '.join(PATH_ATTRIBUTES)}")
            key = name.replace("-", "_")
            if key in values:
                raise InvalidUri(f"attribute {name!r} given twice")
            decoded = _decode(raw, name)
            if name == "id":
                values[key] = decoded
            elif name == "slot-id":
                # RFC 7512: DIGIT+ (int() would also take "-1", "+5", " 7", "1_0" and non-ASCII digits)
                if not _SLOT_ID.match(decoded):
                    raise InvalidUri(f"slot-id={raw!r} is not a decimal number")
                values[key] = int(decoded)
            else:
                values[key] = _text(decoded, name)
        for part in filter(None, query.split("&")):
            name, sep, raw = part.partition("=")
            name = name.strip().lower()
            if not sep:
                raise InvalidUri(f"query attribute {part!r} has no '='")
            if name not in QUERY_ATTRIBUTES:
                if name.startswith("x-"):
                    continue
                raise InvalidUri(f"unknown query attribute {name!r}; known: {', '.join(QUERY_ATTRIBUTES)}")
            key = name.replace("-", "_")
            if key in values:
                raise InvalidUri(f"attribute {name!r} given twice")
            values[key] = _text(_decode(raw, name), name)
        return cls(**values)

    def __str__(self) -> str:
        parts = []
        for name in PATH_ATTRIBUTES:
            value = getattr(self, name.replace("-", "_"))
            if value is None:
                continue
            if name == "id":
                encoded = "".join(f"%{b:02X}" for b in value)
            elif name == "slot-id":
                encoded = str(value)
            else:
                encoded = quote(str(value), safe=_PATH_SAFE)
            parts.append(f"{name}={encoded}")
        queries = []
        for name in QUERY_ATTRIBUTES:
            value = getattr(self, name.replace("-", "_"))
            if value is not None:
                queries.append(f"{name}={quote(value, safe=_QUERY_SAFE)}")
        text = "pkcs11:" + ";".join(parts)
        if queries:
            text += "?" + "&".join(queries)
        return text

    def with_(self, **changes: Any) -> Pkcs11Uri:
        """A copy with some attributes changed (``None`` removes one)."""
        return replace(self, **changes)

    @property
    def token_part(self) -> Pkcs11Uri:
        """Only the attributes that select a module and token (for naming the token itself)."""
        return Pkcs11Uri(
            token=self.token,
            manufacturer=self.manufacturer,
            serial=self.serial,
            model=self.model,
            library_manufacturer=self.library_manufacturer,
            library_description=self.library_description,
            library_version=self.library_version,
            slot_manufacturer=self.slot_manufacturer,
            slot_description=self.slot_description,
            slot_id=self.slot_id,
            module_path=self.module_path,
            module_name=self.module_name,
        )

    def without_secrets(self) -> Pkcs11Uri:
        """The URI without ``pin-value``: safe to print and log."""
        return replace(self, pin_value=None)


def parse_uri(value: str | Pkcs11Uri) -> Pkcs11Uri:
    return value if isinstance(value, Pkcs11Uri) else Pkcs11Uri.parse(value)
