"""Dogtag's CRMFPopClient -y writes the SubjectKeyIdentifier extnValue as the raw 20-byte key id
(dogtag-cmc-client.md §11). Our reader takes that one form of that one extension, as Dogtag's
CMCRequest and CA do; everything else stays strict. The sample is Dogtag's own (tests/samples/dogtag)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from asn1crypto import keys
from pyasn1_modules import rfc4211

from agent.cmc import crmf, der
from agent.cmc.asn1 import crmf as asn1_crmf
from agent.cmc.errors import CMCError
from agent.cmc.pem import to_der
from tests.cmc.independent import decode_exact

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "dogtag" / "crmf-popsuccess-ski.req"
SKI_OID = bytes.fromhex("0603551d0e")


def tlv(tag: int, contents: bytes) -> bytes:
    length = len(contents)
    if length < 0x80:
        return bytes([tag, length]) + contents
    size = (length.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + length.to_bytes(size, "big") + contents


def template_with(extension: bytes) -> bytes:
    """A CertTemplate holding just ``extensions [9]`` with one extension."""
    return tlv(0x30, tlv(0xA9, extension))


def test_dogtag_crmf_loads_with_its_raw_key_id_and_keeps_its_bytes() -> None:
    data = to_der(SAMPLE.read_bytes(), "sample")
    messages = crmf.load_crmf(data)  # strict DER, and the signature POP over Dogtag's bytes verifies
    assert messages.dump(force=True) == data
    template = messages[0]["cert_req"]["cert_template"]
    public_key = keys.PublicKeyInfo.load(template["public_key"].untag().dump())
    key_id = hashlib.sha1(public_key["public_key"].contents[1:]).digest()  # noqa: S324 - RFC 5280 key id
    (extension,) = list(template["extensions"])
    assert extension["extn_value"].is_raw_key_id
    assert extension["extn_value"].parsed.native == key_id
    # pyasn1-modules agrees the extnValue holds the 20 bytes themselves, not an OCTET STRING
    independent = decode_exact(data, rfc4211.CertReqMessages(), reencode=False)  # drops 30 00
    (ext,) = list(independent[0]["certReq"]["certTemplate"]["extensions"])
    assert bytes(ext["extnValue"]) == key_id
    # the SignerIdentifier Dogtag's CMCRequest derives: the extnValue contents, 20 bytes here
    assert crmf.shared_secret_signer_identifier(messages[0]) == key_id


def test_a_correct_ski_is_still_read_as_der() -> None:
    correct = tlv(0x30, SKI_OID + tlv(0x04, tlv(0x04, b"\x11" * 20)))
    template = der.load_der(asn1_crmf.CertTemplate, template_with(correct), "template")
    value = template["extensions"][0]["extn_value"]
    assert not value.is_raw_key_id
    assert value.parsed.native == b"\x11" * 20


@pytest.mark.parametrize(
    "extension",
    [
        pytest.param(tlv(0x30, SKI_OID + tlv(0x04, b"\x57" * 19)), id="raw key id of 19 bytes"),
        pytest.param(tlv(0x30, SKI_OID + tlv(0x04, b"\x57" * 21)), id="raw key id of 21 bytes"),
        pytest.param(
            tlv(0x30, bytes.fromhex("0603551d11") + tlv(0x04, b"\x57" * 20)),
            id="raw bytes in another extension",
        ),
    ],
)
def test_other_malformed_extensions_stay_refused(extension: bytes) -> None:
    with pytest.raises(CMCError):
        der.load_der(asn1_crmf.CertTemplate, template_with(extension), "template")
