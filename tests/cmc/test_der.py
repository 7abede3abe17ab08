"""Strict DER: what BER allows and DER forbids is refused, with the error saying why."""

from __future__ import annotations

import pytest
from asn1crypto import core

from agent.cmc import der
from agent.cmc.asn1 import cmc
from agent.cmc.errors import MalformedMessage, NonCanonicalEncoding, TrailingData

GOOD = bytes.fromhex("300602010531013000")[:-2]  # SEQUENCE { INTEGER 5, SET {} } built below
PKI_DATA_EMPTY = bytes.fromhex("30083000300030003000")


def test_canonical_value_passes() -> None:
    der.check_der(PKI_DATA_EMPTY)
    assert der.load_der(cmc.PKIData, PKI_DATA_EMPTY).dump() == PKI_DATA_EMPTY


@pytest.mark.parametrize(
    ("label", "data", "error"),
    [
        (
            "indefinite length",
            bytes.fromhex("3080300030003000300000 00".replace(" ", "")),
            NonCanonicalEncoding,
        ),
        (
            "long-form length for a short value",
            bytes.fromhex("30810830003000300030 00".replace(" ", "")),
            NonCanonicalEncoding,
        ),
        (
            "length with a leading zero byte",
            bytes.fromhex("3082000830003000300030 00".replace(" ", "")),
            NonCanonicalEncoding,
        ),
        ("integer with a needless 00", bytes.fromhex("300402020005"), NonCanonicalEncoding),
        ("integer with a needless FF", bytes.fromhex("30040202ff80"), NonCanonicalEncoding),
        ("boolean that is neither 00 nor FF", bytes.fromhex("3003010101"), NonCanonicalEncoding),
        (
            "constructed OCTET STRING",
            bytes.fromhex("30062404040161 6200".replace(" ", ""))[:8],
            MalformedMessage,
        ),
        ("unsorted SET OF", bytes.fromhex("31060201020201 01".replace(" ", "")), NonCanonicalEncoding),
        ("BIT STRING with dirty padding bits", bytes.fromhex("3004030201ff"), NonCanonicalEncoding),
        ("OID with a padded arc", bytes.fromhex("300506032a8001"), NonCanonicalEncoding),
        ("NULL with contents", bytes.fromhex("3003050100"), MalformedMessage),
        ("truncated", PKI_DATA_EMPTY[:-1], MalformedMessage),
        ("empty", b"", MalformedMessage),
        ("trailing bytes", PKI_DATA_EMPTY + b"\x00", TrailingData),
        ("high tag number in long form needlessly", bytes.fromhex("30039f0100"), NonCanonicalEncoding),
    ],
)
def test_non_der_is_refused(label: str, data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        der.check_der(data, label)


def test_too_deep_nesting_is_refused() -> None:
    data = b""
    for _ in range(der.MAX_DEPTH + 2):
        data = der.encode_tlv(0x30, data)
    with pytest.raises(MalformedMessage, match="nested"):
        der.check_der(data)


def test_schema_level_non_der_is_refused() -> None:
    """A DEFAULT value written out is valid TLV but not DER for the schema: re-encoding catches it."""
    template = cmc.ModCertTemplate(
        {"pki_data_reference": [1], "cert_references": [2], "cert_template": {"serial_number": 1}}
    ).dump()
    # insert "replace BOOLEAN TRUE" (the DEFAULT) before certTemplate
    body = template[2:]
    explicit_default = bytes.fromhex("0101ff")
    cut = body.index(bytes.fromhex("3003810101"))
    tampered = der.encode_tlv(0x30, body[:cut] + explicit_default + body[cut:])
    der.check_der(tampered)  # structurally fine
    with pytest.raises(NonCanonicalEncoding):
        der.load_der(cmc.ModCertTemplate, tampered)


def test_wrong_type_is_a_malformed_message_not_a_traceback() -> None:
    with pytest.raises(MalformedMessage, match="does not decode as PKIData"):
        der.load_der(cmc.PKIData, core.Integer(5).dump())


def test_encode_tlv_long_lengths() -> None:
    for size in (0, 127, 128, 255, 256, 70000):
        encoded = der.encode_tlv(0x04, b"a" * size)
        der.check_der(encoded)
        assert core.OctetString.load(encoded).native == b"a" * size
