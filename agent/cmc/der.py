"""Strict DER: decode hostile bytes into asn1crypto objects, refusing anything that is not canonical.

asn1crypto accepts BER and, even in strict mode, only rejects trailing bytes. CMC peers (the Dogtag CA
in particular) re-encode what they receive before they verify signatures or MACs, so a message that is
BER but not DER could mean different things to us and to them. Two checks close that gap:

1. :func:`check_der` walks the raw TLV structure without any schema: definite, minimal lengths; minimal
   tags; primitive strings; DER BOOLEAN, INTEGER, BIT STRING, NULL and OID contents; sorted SET OFs.
2. :func:`load_der` then decodes with a schema and requires the re-encoding to equal the input, which
   catches what needs the schema (implicitly tagged SETs, DEFAULT values written out, time formats).

Every failure becomes a :class:`~agent.cmc.errors.MalformedMessage` subclass, never a bare exception.
"""

from __future__ import annotations

from typing import TypeVar

from asn1crypto.core import Asn1Value

from agent.cmc.errors import MalformedMessage, NonCanonicalEncoding, TrailingData

T = TypeVar("T", bound=Asn1Value)

MAX_DEPTH = 64
"""Deeper nesting than any CMC message needs; refused to keep hostile input from exhausting the stack."""

_UNIVERSAL = 0
_BOOLEAN, _INTEGER, _BIT_STRING, _OCTET_STRING, _NULL, _OID, _ENUMERATED = 1, 2, 3, 4, 5, 6, 10
_SEQUENCE, _SET = 16, 17
_STRING_TAGS = frozenset({3, 4, 12, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 30})
"""BIT/OCTET STRING, the character strings and the times: DER wants them primitive."""


def check_der(data: bytes, what: str = "message") -> None:
    """Raise unless ``data`` is exactly one canonical DER value (structure only, no schema)."""
    if not data:
        raise MalformedMessage(f"{what} is empty")
    end = _check_value(data, 0, len(data), 0, what)
    if end != len(data):
        raise TrailingData(f"{what} has {len(data) - end} byte(s) of trailing data after the DER value")


def _check_value(data: bytes, pos: int, limit: int, depth: int, what: str) -> int:
    """Check the TLV at ``pos`` (which must end by ``limit``); return the offset just after it."""
    if depth > MAX_DEPTH:
        raise MalformedMessage(f"{what} is nested more than {MAX_DEPTH} levels deep")
    start = pos
    if pos >= limit:
        raise MalformedMessage(f"{what} is truncated (a value is missing at offset {pos})")
    first = data[pos]
    pos += 1
    class_ = first >> 6
    constructed = bool(first & 0x20)
    tag = first & 0x1F
    if tag == 0x1F:
        tag = 0
        if pos < limit and data[pos] == 0x80:
            raise NonCanonicalEncoding(f"{what}: tag at offset {start} has a padded high tag number")
        while True:
            if pos >= limit:
                raise MalformedMessage(f"{what} is truncated inside a tag at offset {start}")
            byte = data[pos]
            pos += 1
            tag = (tag << 7) | (byte & 0x7F)
            if tag > 0xFFFFFFFF:
                raise MalformedMessage(f"{what}: tag number too large at offset {start}")
            if not byte & 0x80:
                break
        if tag < 0x1F:
            raise NonCanonicalEncoding(f"{what}: tag at offset {start} uses the long form needlessly")

    if pos >= limit:
        raise MalformedMessage(f"{what} is truncated inside a length at offset {start}")
    length_byte = data[pos]
    pos += 1
    if length_byte == 0x80:
        raise NonCanonicalEncoding(f"{what}: indefinite length at offset {start} (BER, not DER)")
    if length_byte & 0x80:
        count = length_byte & 0x7F
        if count > 4:
            raise MalformedMessage(f"{what}: length at offset {start} is implausibly large")
        if pos + count > limit:
            raise MalformedMessage(f"{what} is truncated inside a length at offset {start}")
        length_bytes = data[pos : pos + count]
        pos += count
        if length_bytes[0] == 0:
            raise NonCanonicalEncoding(f"{what}: length at offset {start} has a leading zero byte")
        length = int.from_bytes(length_bytes, "big")
        if length < 0x80:
            raise NonCanonicalEncoding(f"{what}: length at offset {start} uses the long form needlessly")
    else:
        length = length_byte
    end = pos + length
    if end > limit:
        raise MalformedMessage(
            f"{what} is truncated: a value at offset {start} needs {length} bytes, {limit - pos} remain"
        )

    if class_ == _UNIVERSAL:
        _check_universal(data, start, pos, end, tag, constructed, what)
    if constructed:
        children: list[bytes] = []
        child = pos
        while child < end:
            child_end = _check_value(data, child, end, depth + 1, what)
            if class_ == _UNIVERSAL and tag == _SET:
                children.append(data[child:child_end])
            child = child_end
        if children and children != sorted(children):
            raise NonCanonicalEncoding(f"{what}: SET OF at offset {start} is not sorted as DER requires")
    return end


def _check_universal(
    data: bytes, start: int, pos: int, end: int, tag: int, constructed: bool, what: str
) -> None:
    contents = data[pos:end]
    if tag in (_SEQUENCE, _SET):
        if not constructed:
            raise MalformedMessage(f"{what}: SEQUENCE/SET at offset {start} is not constructed")
        return
    if constructed:
        if tag in _STRING_TAGS:
            raise NonCanonicalEncoding(f"{what}: constructed string at offset {start} (BER, not DER)")
        if tag in (_BOOLEAN, _INTEGER, _NULL, _OID, _ENUMERATED):
            raise MalformedMessage(f"{what}: primitive type at offset {start} is encoded as constructed")
        return
    if tag == _BOOLEAN:
        if len(contents) != 1:
            raise MalformedMessage(f"{what}: BOOLEAN at offset {start} is not one byte")
        if contents[0] not in (0x00, 0xFF):
            raise NonCanonicalEncoding(f"{what}: BOOLEAN at offset {start} is not 00 or FF")
    elif tag in (_INTEGER, _ENUMERATED):
        if not contents:
            raise MalformedMessage(f"{what}: empty INTEGER at offset {start}")
        if len(contents) > 1 and (
            (contents[0] == 0x00 and contents[1] < 0x80) or (contents[0] == 0xFF and contents[1] >= 0x80)
        ):
            raise NonCanonicalEncoding(f"{what}: INTEGER at offset {start} is not minimally encoded")
    elif tag == _BIT_STRING:
        if not contents or contents[0] > 7 or (len(contents) == 1 and contents[0] != 0):
            raise MalformedMessage(f"{what}: bad BIT STRING at offset {start}")
        if contents[0] and contents[-1] & ((1 << contents[0]) - 1):
            raise NonCanonicalEncoding(f"{what}: BIT STRING at offset {start} has non-zero padding bits")
    elif tag == _NULL:
        if contents:
            raise MalformedMessage(f"{what}: NULL at offset {start} has contents")
    elif tag == _OID:
        if not contents or contents[-1] & 0x80:
            raise MalformedMessage(f"{what}: bad OBJECT IDENTIFIER at offset {start}")
        previous_ended = True
        for byte in contents:
            if previous_ended and byte == 0x80:
                raise NonCanonicalEncoding(f"{what}: OBJECT IDENTIFIER at offset {start} is padded")
            previous_ended = not byte & 0x80


def load_der(spec: type[T], data: bytes, what: str = "message") -> T:
    """Decode ``data`` as ``spec``; raise a :class:`MalformedMessage` unless it is canonical DER.

    The returned object has been fully walked once (its re-encoding computed), so later field access
    does not meet undecodable contents.
    """
    check_der(data, what)
    try:
        value = spec.load(data, strict=True)
        reencoded = value.dump(force=True)
    except Exception as exc:  # asn1crypto raises ValueError, TypeError and worse on hostile input
        raise MalformedMessage(f"{what} does not decode as {spec.__name__}: {_first_line(exc)}") from None
    if reencoded != data:
        raise NonCanonicalEncoding(
            f"{what} is not canonical DER: it changes when re-encoded as {spec.__name__}"
        )
    return value


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def encode_tlv(tag_byte: int, contents: bytes) -> bytes:
    """DER tag-length-value for a low tag number."""
    length = len(contents)
    if length < 0x80:
        header = bytes([tag_byte, length])
    else:
        size = (length.bit_length() + 7) // 8
        header = bytes([tag_byte, 0x80 | size]) + length.to_bytes(size, "big")
    return header + contents


def retag(value: Asn1Value, tag_byte: int) -> bytes:
    """The encoding of ``value`` with its outer tag replaced, e.g. CMS signed attributes (``A0``) with
    the universal SET tag (``31``) they are signed under (RFC 5652 §5.4)."""
    value.dump()  # makes sure the contents of a freshly built value are computed
    contents: bytes = value.contents
    return encode_tlv(tag_byte, contents)
