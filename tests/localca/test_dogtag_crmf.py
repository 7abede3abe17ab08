"""Dogtag's own CRMF (``CRMFPopClient -y``: the SKI extnValue is the raw 20-byte key id) is issued, as a
Dogtag CA issues it: shared secret with the 20-byte SignerIdentifier Dogtag's CMCRequest derives, and
agent-signed. The files come from Dogtag v11.3.1's tools (tests/samples/dogtag/SOURCE.md)."""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from pyasn1_modules import rfc4211

from tests.localca import independent as ind
from tests.localca.conftest import FULL, Client, LocalCA, issued_certificates

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "dogtag"
SHARED_TOKEN = FULL + "?profileId=caFullCMCSharedTokenCert"


def dogtag_crmf_der() -> bytes:
    lines = (SAMPLES / "crmf-popsuccess-ski.req").read_text().splitlines()
    return base64.b64decode("".join(line for line in lines if not line.startswith("-----")))


def template_key_der(crmf_der: bytes) -> bytes:
    messages = ind.decode(crmf_der, rfc4211.CertReqMessages())
    return ind.encode(messages[0]["certReq"]["certTemplate"]["publicKey"]).replace(b"\xa6", b"\x30", 1)


def test_dogtag_shared_secret_crmf_with_raw_ski_is_issued(local_ca: LocalCA) -> None:
    local_ca.add_shared_token("testuser", "Secret.123")
    response = local_ca.cmc(SHARED_TOKEN, (SAMPLES / "cmc-sharedsecret-crmf.der").read_bytes())
    assert [s.status for s in response.statuses] == [0], response.statuses
    (certificate,) = issued_certificates(local_ca, response)
    issued_key = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert issued_key == template_key_der(dogtag_crmf_der())


def tlv(tag: int, contents: bytes) -> bytes:
    length = len(contents)
    if length < 0x80:
        return bytes([tag, length]) + contents
    size = (length.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + length.to_bytes(size, "big") + contents


def test_dogtag_agent_signed_crmf_with_raw_ski_is_issued(local_ca: LocalCA, agent: Client) -> None:
    # PKIData around Dogtag's CertReqMsg bytes as they are (re-encoding would drop its empty controls
    # and break the POP signature): TaggedRequest crm [1] IMPLICIT CertReqMsg.
    whole = dogtag_crmf_der()
    header_length = 2 + (whole[1] & 0x7F if whole[1] & 0x80 else 0)
    cert_req_msg = whole[header_length:]  # the one CertReqMsg of CertReqMessages
    assert len(ind.decode(whole, rfc4211.CertReqMessages())) == 1 and cert_req_msg[0] == 0x30
    tagged = b"\xa1" + cert_req_msg[1:]
    data = tlv(0x30, tlv(0x30, b"") + tlv(0x30, tagged) + tlv(0x30, b"") + tlv(0x30, b""))
    response = local_ca.cmc(FULL, local_ca.agent_signed(agent, data), agent)
    assert [s.status for s in response.statuses] == [0], response.statuses
    (certificate,) = issued_certificates(local_ca, response)
    assert certificate.subject.rfc4514_string() == "CN=testuser,UID=testuser"
