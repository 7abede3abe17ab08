"""The ASN.1 types: every one round-trips, and pyasn1-modules decodes what we encode to the same bytes."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from asn1crypto import algos, cms, core, csr, x509
from pyasn1.codec.der import decoder
from pyasn1.type import univ
from pyasn1_modules import rfc4211, rfc5652, rfc6402

from agent.cmc import der, names
from agent.cmc.asn1 import cmc, crmf
from agent.cmc.asn1.pkcs10 import CertificationRequest
from agent.cmc.errors import MalformedMessage
from agent.keyops import SoftwareKey
from tests.cmc.independent import decode_exact

WHEN = datetime.datetime(2026, 5, 17, 10, 30, 0, tzinfo=datetime.UTC)
NAME = names.parse_dn("CN=CA,O=Example")
KEY = SoftwareKey.generate("ec:p256").public_key_info
SHA256 = {"algorithm": "sha256"}
HMAC = {"algorithm": "sha256"}
TEMPLATE = {"version": "v3", "subject": NAME, "public_key": KEY}
CERT_REQUEST = {"cert_req_id": 1, "cert_template": TEMPLATE}


def _ref(value: int) -> cmc.BodyPartReference:
    return cmc.BodyPartReference("body_part_id", value)


CASES: list[tuple[str, type, object, univ.Asn1Item | None]] = [
    ("BodyPartPath", cmc.BodyPartPath, [1, 2, 3], rfc6402.BodyPartPath()),
    ("BodyPartList", cmc.BodyPartList, [4, 5], rfc6402.BodyPartList()),
    ("PendInfo", cmc.PendInfo, {"pend_token": b"42", "pend_time": WHEN}, rfc6402.PendInfo()),
    (
        "ExtendedFailInfo",
        cmc.ExtendedFailInfo,
        {"fail_info_oid": "1.2.3.4", "fail_info_value": core.UTF8String("x")},
        None,
    ),
    (
        "CMCStatusInfoV2 failed",
        cmc.CMCStatusInfoV2,
        {
            "cmc_status": "failed",
            "body_list": [_ref(0)],
            "status_string": "nope",
            "other_info": cmc.OtherStatusInfo("fail_info", "bad_identity"),
        },
        None,  # pyasn1-modules cannot decode any otherInfo: its CHOICE has two untagged SEQUENCEs
    ),
    (
        "CMCStatusInfoV2 path",
        cmc.CMCStatusInfoV2,
        {"cmc_status": "success", "body_list": [cmc.BodyPartReference("body_part_path", [1, 7]), _ref(2)]},
        rfc6402.CMCStatusInfoV2(),
    ),
    (
        "CMCStatusInfo v1",
        cmc.CMCStatusInfo,
        {
            "cmc_status": "pending",
            "body_list": [1],
            "other_info": cmc.CMCStatusInfoOtherInfo("pend_info", {"pend_token": b"7", "pend_time": WHEN}),
        },
        rfc6402.CMCStatusInfo(),
    ),
    (
        "IdentityProofV2",
        cmc.IdentityProofV2,
        {"proof_alg_id": SHA256, "mac_alg_id": HMAC, "witness": b"w" * 32},
        rfc6402.IdentifyProofV2(),
    ),
    (
        "PopLinkWitnessV2",
        cmc.PopLinkWitnessV2,
        {"key_gen_algorithm": SHA256, "mac_algorithm": HMAC, "witness": b"v" * 32},
        rfc6402.PopLinkWitnessV2(),
    ),
    (
        "DecryptedPOP",
        cmc.DecryptedPOP,
        {
            "body_part_id": 1,
            "the_pop_alg_id": {"algorithm": "aes128_cbc", "parameters": core.OctetString(b"i" * 16)},
            "the_pop": b"p" * 32,
        },
        rfc6402.DecryptedPOP(),
    ),
    ("LraPopWitness", cmc.LraPopWitness, {"pki_data_bodyid": 0, "body_ids": [1, 2]}, rfc6402.LraPopWitness()),
    (
        "GetCert GeneralName",
        cmc.GetCert,
        {"issuer_name": cmc.IssuerNameChoice("directory_name", NAME), "serial_number": 5},
        rfc6402.GetCert(),
    ),
    ("GetCRL", cmc.GetCRL, {"issuer_name": NAME, "time": WHEN}, rfc6402.GetCRL()),
    (
        "RevokeRequest",
        cmc.RevokeRequest,
        {
            "issuer_name": NAME,
            "serial_number": 99,
            "reason": "key_compromise",
            "invalidity_date": WHEN,
            "passphrase": b"pw",
            "comment": "lost",
        },
        rfc6402.RevokeRequest(),
    ),
    (
        "AddExtensions",
        cmc.AddExtensions,
        {
            "pki_data_reference": 0,
            "cert_references": [1],
            "extensions": [{"extn_id": "key_identifier", "extn_value": b"k" * 20}],
        },
        rfc6402.AddExtensions(),
    ),
    (
        "PublishTrustAnchors",
        cmc.PublishTrustAnchors,
        {"seq_number": 1, "hash_algorithm": SHA256, "anchor_hashes": [b"h" * 32]},
        rfc6402.PublishTrustAnchors(),
    ),
    ("ControlsProcessed", cmc.ControlsProcessed, {"body_list": [_ref(3)]}, rfc6402.ControlsProcessed()),
    (
        "ModCertTemplate",
        cmc.ModCertTemplate,
        {
            "pki_data_reference": [1],
            "cert_references": [2],
            "replace": False,
            "cert_template": {"subject": NAME},
        },
        rfc6402.ModCertTemplate(),
    ),
    (
        "TaggedContentInfo",
        cmc.TaggedContentInfo,
        {"body_part_id": 3, "content_info": {"content_type": "data", "content": b"x"}},
        rfc6402.TaggedContentInfo(),
    ),
    (
        "OtherMsg",
        cmc.OtherMsg,
        {"body_part_id": 4, "other_msg_type": "1.2.3", "other_msg_value": core.Integer(5)},
        rfc6402.OtherMsg(),
    ),
    (
        "CertTemplate",
        crmf.CertTemplate,
        {**TEMPLATE, "serial_number": 3, "validity": {"not_before": x509.Time("general_time", WHEN)}},
        rfc4211.CertTemplate(),
    ),
    (
        "CertRequest",
        crmf.CertRequest,
        {**CERT_REQUEST, "controls": [{"type": "reg_token", "value": core.UTF8String("tok")}]},
        rfc4211.CertRequest(),
    ),
    (
        "CertReqMsg raVerified",
        crmf.CertReqMsg,
        {"cert_req": CERT_REQUEST, "popo": crmf.ProofOfPossession("ra_verified", core.Null())},
        rfc4211.CertReqMsg(),
    ),
    (
        "CertReqMsg signature",
        crmf.CertReqMsg,
        {
            "cert_req": CERT_REQUEST,
            "popo": crmf.ProofOfPossession(
                "signature",
                {
                    "algorithm_identifier": {"algorithm": "sha256_ecdsa", "parameters": core.Null()},
                    "signature": b"s" * 70,
                },
            ),
        },
        rfc4211.CertReqMsg(),
    ),
    (
        "CertReqMsg keyEncipherment",
        crmf.CertReqMsg,
        {
            "cert_req": CERT_REQUEST,
            "popo": crmf.ProofOfPossession(
                "key_encipherment", crmf.POPOPrivKey("subsequent_message", "encr_cert")
            ),
        },
        rfc4211.CertReqMsg(),
    ),
    (
        "PKIArchiveOptions EncryptedValue",
        crmf.PKIArchiveOptions,
        crmf.PKIArchiveOptions(
            "encrypted_priv_key",
            crmf.EncryptedKey(
                "encrypted_value",
                {
                    "symm_alg": {"algorithm": "aes128_wrap_pad", "parameters": core.OctetString(b"8" * 8)},
                    "enc_symm_key": b"k" * 256,
                    "enc_value": b"v" * 40,
                },
            ),
        ),
        rfc4211.PKIArchiveOptions(),
    ),
    (
        "PKIArchiveOptions archiveRemGenPrivKey",
        crmf.PKIArchiveOptions,
        crmf.PKIArchiveOptions("archive_rem_gen_priv_key", True),
        rfc4211.PKIArchiveOptions(),
    ),
    (
        "PKIPublicationInfo",
        crmf.PKIPublicationInfo,
        {"action": "please_publish", "pub_infos": [{"pub_method": "ldap"}]},
        rfc4211.PKIPublicationInfo(),
    ),
    (
        "CertId",
        crmf.CertId,
        {"issuer": x509.GeneralName("directory_name", NAME), "serial_number": 3},
        rfc4211.CertId(),
    ),
]


_CSR = CertificationRequest(
    {
        "certification_request_info": {
            "version": "v1",
            "subject": NAME,
            "subject_pk_info": KEY,
            "attributes": [],
        },
        "signature_algorithm": {"algorithm": "sha256_ecdsa"},
        "signature": b"s" * 70,
    }
)
_ENVELOPE = {
    "content_type": "enveloped_data",
    "content": {
        "version": "v0",
        "recipient_infos": [
            cms.RecipientInfo(
                "ktri",
                {
                    "version": "v0",
                    "rid": cms.RecipientIdentifier(
                        "issuer_and_serial_number", {"issuer": NAME, "serial_number": 0}
                    ),
                    "key_encryption_algorithm": {"algorithm": "rsaes_pkcs1v15", "parameters": core.Null()},
                    "encrypted_key": b"k" * 256,
                },
            )
        ],
        "encrypted_content_info": {
            "content_type": "data",
            "content_encryption_algorithm": {
                "algorithm": "aes128_cbc",
                "parameters": core.OctetString(b"\x01" * 16),
            },
            "encrypted_content": b"c" * 64,
        },
    },
}
CASES += [
    (
        "TaggedCertificationRequest",
        cmc.TaggedCertificationRequest,
        {"body_part_id": 1, "certification_request": _CSR},
        rfc6402.TaggedCertificationRequest(),
    ),
    (
        "EncryptedPOP",
        cmc.EncryptedPOP,
        {
            "request": cmc.TaggedRequest("tcr", {"body_part_id": 1, "certification_request": _CSR}),
            "cms": _ENVELOPE,
            "the_pop_alg_id": {"algorithm": "aes128_cbc", "parameters": core.OctetString(b"i" * 16)},
            "witness_alg_id": SHA256,
            "witness": b"w" * 32,
        },
        rfc6402.EncryptedPOP(),
    ),
    (
        "PKIResponse",
        cmc.PKIResponse,
        {
            "control_sequence": [
                {"body_part_id": 1, "attr_type": "recipient_nonce", "attr_values": [core.OctetString(b"n")]},
                {
                    "body_part_id": 2,
                    "attr_type": "batch_responses",
                    "attr_values": [cmc.BodyPartList([1, 2])],
                },
            ],
            "cms_sequence": [],
            "other_msg_sequence": [],
        },
        rfc6402.PKIResponse(),
    ),
    (
        "CMCCertId bare Name",
        cmc.CMCCertId,
        {"issuer": [cmc.IssuerNameChoice("name", NAME.chosen)], "serial": 9},
        None,
    ),
    ("ChangeSubjectName", cmc.ChangeSubjectName, {"subject": NAME}, None),  # pyasn1-modules misdecodes it
    (
        "CMCPublicationInfo",
        cmc.CMCPublicationInfo,
        {"hash_alg": SHA256, "cert_hashes": [b"h" * 32], "pub_info": {"action": "dont_publish"}},
        rfc6402.CMCPublicationInfo(),
    ),
    (
        "POPOSigningKey with input",
        crmf.POPOSigningKey,
        {
            "poposk_input": {
                "auth_info": crmf.POPOSigningKeyInputAuthInfo(
                    "sender", x509.GeneralName("dns_name", "ra.example")
                ),
                "public_key": KEY,
            },
            "algorithm_identifier": {"algorithm": "sha256_ecdsa"},
            "signature": b"s" * 70,
        },
        rfc4211.POPOSigningKey(),
    ),
    (
        "OptionalValidity",
        crmf.OptionalValidity,
        {"not_after": x509.Time("general_time", WHEN)},
        rfc4211.OptionalValidity(),
    ),
]


@pytest.mark.parametrize(("label", "spec", "value", "pyasn1_spec"), CASES, ids=[c[0] for c in CASES])
def test_round_trip_and_pyasn1_agree(
    label: str, spec: Any, value: Any, pyasn1_spec: univ.Asn1Item | None
) -> None:
    built = value if isinstance(value, spec) else spec(value)
    encoded = built.dump()
    decoded = der.load_der(spec, encoded, label)
    assert decoded.dump() == encoded
    assert decoded.native == spec.load(encoded).native
    if pyasn1_spec is not None:
        decode_exact(encoded, pyasn1_spec)


def _status(other_info: cmc.OtherStatusInfo) -> bytes:
    return cmc.CMCStatusInfoV2(
        {"cmc_status": "pending", "body_list": [_ref(1)], "other_info": other_info}
    ).dump()


def test_other_status_info_picks_pend_info_by_content() -> None:
    encoded = _status(cmc.OtherStatusInfo("pend_info", {"pend_token": b"123", "pend_time": WHEN}))
    decoded = cmc.CMCStatusInfoV2.load(encoded)
    assert decoded["other_info"].name == "pend_info"
    assert decoded["other_info"].chosen["pend_token"].native == b"123"
    assert decoded["other_info"].chosen["pend_time"].native == WHEN


def test_other_status_info_picks_extended_fail_info_by_content() -> None:
    encoded = _status(
        cmc.OtherStatusInfo(
            "extended_fail_info", {"fail_info_oid": "1.3.6.1.4.1.99", "fail_info_value": core.Integer(7)}
        )
    )
    decoded = cmc.CMCStatusInfoV2.load(encoded)
    assert decoded["other_info"].name == "extended_fail_info"
    assert decoded["other_info"].chosen["fail_info_oid"].native == "1.3.6.1.4.1.99"
    assert decoded["other_info"].chosen["fail_info_value"].dump() == core.Integer(7).dump()


def test_other_status_info_refuses_a_sequence_of_neither_kind() -> None:
    encoded = cmc.CMCStatusInfoV2({"cmc_status": "failed", "body_list": [_ref(1)]}).dump()
    bogus = core.Sequence.load(b"\x30\x03\x02\x01\x05")  # SEQUENCE { INTEGER 5 }: no alternative starts so
    tampered = encoded[:1] + bytes([encoded[1] + len(bogus.dump())]) + encoded[2:] + bogus.dump()
    with pytest.raises(MalformedMessage):
        der.load_der(cmc.CMCStatusInfoV2, tampered)


def test_fail_info_names_cover_rfc_5272() -> None:
    assert [cmc.CMCFailInfo(i).native for i in range(14)] == [
        "bad_alg", "bad_message_check", "bad_request", "bad_time", "bad_cert_id", "unsupported_ext",
        "must_archive_keys", "bad_identity", "pop_required", "pop_failed", "no_key_reuse",
        "internal_ca_error", "try_later", "auth_data_fail",
    ]  # fmt: skip


def test_control_oids_match_pyasn1_modules() -> None:
    pairs = {
        "identification": rfc6402.id_cmc_identification,
        "identity_proof_v2": rfc6402.id_cmc_identityProofV2,
        "pop_link_witness_v2": rfc6402.id_cmc_popLinkWitnessV2,
        "pop_link_random": rfc6402.id_cmc_popLinkRandom,
        "status_info_v2": rfc6402.id_cmc_statusInfoV2,
        "encrypted_pop": rfc6402.id_cmc_encryptedPOP,
        "decrypted_pop": rfc6402.id_cmc_decryptedPOP,
        "response_info": rfc6402.id_cmc_responseInfo,
        "reg_info": rfc6402.id_cmc_regInfo,
        "revoke_request": rfc6402.id_cmc_revokeRequest,
        "get_cert": rfc6402.id_cmc_getCert,
        "lra_pop_witness": rfc6402.id_cmc_lraPOPWitness,
        "batch_requests": rfc6402.id_cmc_batchRequests,
        "batch_responses": rfc6402.id_cmc_batchResponses,
        "publish_cert": rfc6402.id_cmc_publishCert,
        "mod_cert_template": rfc6402.id_cmc_modCertTemplate,
        "control_processed": rfc6402.id_cmc_controlProcessed,
        "query_pending": rfc6402.id_cmc_queryPending,
        "transaction_id": rfc6402.id_cmc_transactionId,
        "sender_nonce": rfc6402.id_cmc_senderNonce,
        "recipient_nonce": rfc6402.id_cmc_recipientNonce,
        "response_body": rfc6402.id_cmc_responseBody,
    }
    for name, oid in pairs.items():
        assert cmc.CMCControlType(name).dotted == str(oid), name
    assert cms.ContentType("pki_data").dotted == str(rfc6402.id_cct_PKIData)
    assert cms.ContentType("pki_response").dotted == str(rfc6402.id_cct_PKIResponse)


def test_asn1crypto_cms_parses_pki_data_inside_encapsulated_content() -> None:
    pki_data = cmc.PKIData(
        {"control_sequence": [], "req_sequence": [], "cms_sequence": [], "other_msg_sequence": []}
    )
    encap = cms.EncapsulatedContentInfo(
        {"content_type": "pki_data", "content": core.ParsableOctetString(pki_data.dump())}
    )
    reparsed = cms.EncapsulatedContentInfo.load(encap.dump())
    assert reparsed["content_type"].native == "pki_data"
    assert isinstance(reparsed["content"].parsed, cmc.PKIData)
    assert reparsed["content"].parsed.dump() == b"\x30\x08\x30\x00\x30\x00\x30\x00\x30\x00"


# --- Dogtag quirks the types accept ----------------------------------------------------------------


def test_empty_crmf_controls_as_dogtag_sends_them() -> None:
    request = crmf.CertRequest({**CERT_REQUEST, "controls": []}).dump()
    assert request.endswith(b"\x30\x00")
    decoded = der.load_der(crmf.CertRequest, request)
    assert decoded["controls"].native == []


def test_empty_csr_attributes_a0_00() -> None:
    info = csr.CertificationRequestInfo(
        {"version": "v1", "subject": NAME, "subject_pk_info": KEY, "attributes": []}
    )
    encoded = info.dump()
    assert encoded.endswith(b"\xa0\x00")
    assert der.load_der(csr.CertificationRequestInfo, encoded)["attributes"].native == []
    decode_exact(encoded, __import__("pyasn1_modules.rfc2986", fromlist=["x"]).CertificationRequestInfo())


def test_get_cert_with_a_bare_name_as_dogtag_writes_it() -> None:
    value = cmc.GetCert({"issuer_name": cmc.IssuerNameChoice("name", NAME.chosen), "serial_number": 7})
    encoded = value.dump()
    name_der = NAME.dump()
    assert encoded == der.encode_tlv(0x30, name_der + b"\x02\x01\x07")  # a Name where a GeneralName [4] goes
    decoded = der.load_der(cmc.GetCert, encoded)
    assert decoded["issuer_name"].as_name == NAME
    # the RFC form also decodes, to the same name
    rfc_form = cmc.GetCert({"issuer_name": cmc.IssuerNameChoice("directory_name", NAME), "serial_number": 7})
    assert der.load_der(cmc.GetCert, rfc_form.dump())["issuer_name"].as_name == NAME


def test_ecdsa_null_parameters_are_kept_in_pop_signing_key() -> None:
    popo = crmf.POPOSigningKey(
        {"algorithm_identifier": {"algorithm": "sha256_ecdsa", "parameters": core.Null()}, "signature": b"x"}
    )
    encoded = popo.dump()
    assert bytes.fromhex("300c06082a8648ce3d0403020500") in encoded
    assert der.load_der(crmf.POPOSigningKey, encoded).dump() == encoded


def test_duplicate_body_part_ids_decode() -> None:
    controls = [
        {"body_part_id": 1, "attr_type": "pop_link_random", "attr_values": [core.OctetString(b"r" * 64)]},
        {"body_part_id": 1, "attr_type": "identification", "attr_values": [core.UTF8String("u")]},
    ]
    data = cmc.PKIData(
        {"control_sequence": controls, "req_sequence": [], "cms_sequence": [], "other_msg_sequence": []}
    )
    decoded = der.load_der(cmc.PKIData, data.dump())
    assert [c["body_part_id"].native for c in decoded["control_sequence"]] == [1, 1]


def test_hash_identifiers_keep_absent_parameters() -> None:
    proof = cmc.IdentityProofV2({"proof_alg_id": SHA256, "mac_alg_id": HMAC, "witness": b""})
    # SEQUENCE { SEQUENCE { sha256 } SEQUENCE { hmacWithSHA256 } OCTET STRING }: no NULLs anywhere
    assert proof.dump() == bytes.fromhex("301b300b0609608648016503040201300a06082a864886f70d02090400")
    assert (
        algos.DigestAlgorithm(SHA256).dump() != cmc.HashAlgorithmIdentifier(SHA256).dump()
    )  # asn1crypto adds NULL


def test_pyasn1_cannot_decide_other_status_info_but_we_can() -> None:
    """pyasn1 picks the first untagged SEQUENCE alternative, so an ExtendedFailInfo misdecodes there."""
    encoded = _status(
        cmc.OtherStatusInfo(
            "extended_fail_info", {"fail_info_oid": "1.2.3", "fail_info_value": core.Integer(1)}
        )
    )
    with pytest.raises(Exception):  # noqa: B017 - any pyasn1 failure will do
        decoder.decode(encoded, asn1Spec=rfc6402.CMCStatusInfoV2())
    assert cmc.CMCStatusInfoV2.load(encoded)["other_info"].name == "extended_fail_info"


def test_tagged_request_alternatives() -> None:
    message = crmf.CertReqMsg({"cert_req": CERT_REQUEST})
    tagged = cmc.TaggedRequest("crm", message)
    assert tagged.dump()[0] == 0xA1
    assert tagged.dump()[1:] == message.dump()[1:]
    other = cmc.TaggedRequest(
        "orm", {"body_part_id": 2, "request_message_type": "1.2.3", "request_message_value": core.Null()}
    )
    assert other.dump()[0] == 0xA2
    for value in (tagged, other):
        assert cmc.TaggedRequest.load(value.dump()).name == value.name
    decode_exact(tagged.dump(), rfc6402.TaggedRequest())
    decode_exact(
        cmc.TaggedContentInfo(
            {"body_part_id": 1, "content_info": {"content_type": "data", "content": b""}}
        ).dump(),
        rfc6402.TaggedContentInfo(),
    )
    assert rfc5652  # imported for the content-type map pyasn1-modules extends
