"""Distinguished names from RFC 4514 strings, encoded the way Dogtag's tools encode them.

``CN=alice,UID=alice,O=Example`` is written most-specific first; DER stores the RDNs in the reverse
order, so the last RDN of the string becomes the first in the Name (Dogtag does the same).

Two string-type policies, because the Dogtag tools differ and the bytes end up in requests:

* ``"utf8"`` (PKCS10Client, and the issuer names of CMCRequest): UTF8String, except C and
  SERIALNUMBER (PrintableString) and E, EMAIL, MAIL and DC (IA5String).
* ``"printable"`` (CRMFPopClient): PrintableString whenever the value allows it. Where it does not,
  JSS falls back to TeletexString; we use UTF8String, which RFC 5280 prefers and every CA reads.
"""

from __future__ import annotations

import re
from typing import Literal

from asn1crypto import core, x509

from agent.cmc.errors import InvalidRequestInput

StringPolicy = Literal["utf8", "printable"]

_KEYWORDS: dict[str, str] = {
    "CN": "2.5.4.3",
    "SN": "2.5.4.4",
    "SURNAME": "2.5.4.4",
    "SERIALNUMBER": "2.5.4.5",
    "C": "2.5.4.6",
    "L": "2.5.4.7",
    "ST": "2.5.4.8",
    "S": "2.5.4.8",
    "STREET": "2.5.4.9",
    "O": "2.5.4.10",
    "OU": "2.5.4.11",
    "T": "2.5.4.12",
    "TITLE": "2.5.4.12",
    "BUSINESSCATEGORY": "2.5.4.15",
    "POSTALCODE": "2.5.4.17",
    "GN": "2.5.4.42",
    "GIVENNAME": "2.5.4.42",
    "INITIALS": "2.5.4.43",
    "GENERATIONQUALIFIER": "2.5.4.44",
    "DNQUALIFIER": "2.5.4.46",
    "PSEUDONYM": "2.5.4.65",
    "E": "1.2.840.113549.1.9.1",
    "EMAIL": "1.2.840.113549.1.9.1",
    "EMAILADDRESS": "1.2.840.113549.1.9.1",
    "UID": "0.9.2342.19200300.100.1.1",
    "MAIL": "0.9.2342.19200300.100.1.3",
    "DC": "0.9.2342.19200300.100.1.25",
}
_PRINTABLE_ONLY = {"2.5.4.6", "2.5.4.5"}  # C, SERIALNUMBER
_IA5 = {"1.2.840.113549.1.9.1", "0.9.2342.19200300.100.1.3", "0.9.2342.19200300.100.1.25"}
_PRINTABLE_RE = re.compile(r"[A-Za-z0-9 '()+,\-./:=?]*")
_OID_RE = re.compile(r"(?:OID\.)?([0-2](?:\.(?:0|[1-9][0-9]*))+)", re.IGNORECASE)
_SPECIAL = ',+"\\<>;=# '


def parse_dn(text: str, policy: StringPolicy = "utf8") -> x509.Name:
    """Parse an RFC 4514 string into an ``x509.Name``, with the string types of ``policy``."""
    rdns = _split_rdns(text)
    sequence = x509.RDNSequence()
    for rdn_text in reversed(rdns):
        pairs = []
        for attribute in rdn_text:
            key, value = attribute
            oid = _attribute_oid(key)
            pairs.append(x509.NameTypeAndValue({"type": oid, "value": _encode_value(oid, value, policy)}))
        sequence.append(x509.RelativeDistinguishedName(pairs))
    return x509.Name(name="", value=sequence)


def _attribute_oid(key: str) -> str:
    oid = _KEYWORDS.get(key.upper())
    if oid is not None:
        return oid
    match = _OID_RE.fullmatch(key)
    if match:
        return match.group(1)
    raise InvalidRequestInput(f"unknown attribute type {key!r} in distinguished name")


def _encode_value(oid: str, value: str, policy: StringPolicy) -> core.Asn1Value:
    printable = _PRINTABLE_RE.fullmatch(value) is not None
    if oid in _IA5:
        if not value.isascii():
            raise InvalidRequestInput(f"{value!r} must be ASCII (an IA5String attribute)")
        if oid == "0.9.2342.19200300.100.1.25":
            return x509.DNSName(value)
        if oid == "1.2.840.113549.1.9.1":
            return x509.EmailAddress(value)
        return core.IA5String(value)
    if oid in _PRINTABLE_ONLY:
        if not printable:
            raise InvalidRequestInput(f"{value!r} is not a PrintableString, as C and SERIALNUMBER must be")
        choice = "printable_string"
    elif policy == "printable" and printable:
        choice = "printable_string"
    else:
        choice = "utf8_string"
    if oid in x509.NameType._map:
        return x509.DirectoryString(name=choice, value=value)
    return core.PrintableString(value) if choice == "printable_string" else core.UTF8String(value)


def _split_rdns(text: str) -> list[list[tuple[str, str]]]:
    """Split an RFC 4514 string into RDNs of (type, unescaped value) pairs."""
    if not text.strip():
        raise InvalidRequestInput("empty distinguished name")
    rdns: list[list[tuple[str, str]]] = [[]]
    pos, length = 0, len(text)
    while True:
        equals = text.find("=", pos)
        if equals < 0:
            raise InvalidRequestInput(f"{text!r}: missing '=' after attribute type")
        key = text[pos:equals].strip()
        if not key:
            raise InvalidRequestInput(f"{text!r}: empty attribute type")
        value, pos = _read_value(text, equals + 1)
        rdns[-1].append((key, value))
        if pos >= length:
            break
        separator = text[pos]
        pos += 1
        if separator in ",;":
            rdns.append([])
        # '+' continues a multi-valued RDN
    return rdns


def _read_value(text: str, pos: int) -> tuple[str, int]:
    """Read one attribute value starting at ``pos``; return it unescaped and the separator position."""
    length = len(text)
    while pos < length and text[pos] == " ":
        pos += 1
    if pos < length and text[pos] == "#":
        end = pos + 1
        while end < length and text[end] not in ",;+":
            end += 1
        raise InvalidRequestInput(f"hex-encoded attribute values ({text[pos:end]!r}) are not supported")
    if pos < length and text[pos] == '"':
        end = pos + 1
        chars: list[str] = []
        while end < length and text[end] != '"':
            if text[end] == "\\" and end + 1 < length:
                end += 1
            chars.append(text[end])
            end += 1
        if end >= length:
            raise InvalidRequestInput(f"{text!r}: unterminated quoted value")
        end += 1
        while end < length and text[end] == " ":
            end += 1
        return "".join(chars), end
    raw = bytearray()
    trailing_spaces = 0
    while pos < length and text[pos] not in ",;+":
        char = text[pos]
        if char == "\\":
            if pos + 1 >= length:
                raise InvalidRequestInput(f"{text!r}: dangling backslash")
            nxt = text[pos + 1]
            if nxt in _SPECIAL:
                raw += nxt.encode()
                pos += 2
            elif re.fullmatch(r"[0-9A-Fa-f]{2}", text[pos + 1 : pos + 3]):
                raw.append(int(text[pos + 1 : pos + 3], 16))
                pos += 3
            else:
                raise InvalidRequestInput(f"{text!r}: bad escape '\\{nxt}'")
            trailing_spaces = 0
            continue
        raw += char.encode()
        trailing_spaces = trailing_spaces + 1 if char == " " else 0
        pos += 1
    if trailing_spaces:
        raw = raw[:-trailing_spaces]
    try:
        value = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequestInput(f"{text!r}: escaped bytes are not UTF-8") from None
    if not value:
        raise InvalidRequestInput(f"{text!r}: empty attribute value")
    return value, pos
