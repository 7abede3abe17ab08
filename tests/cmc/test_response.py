"""The response reader: typed results for every status, and hostile input refused with our errors only."""

from __future__ import annotations

import datetime
import json

import pytest
from asn1crypto import cms, core
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.cmc import pkcs10, pkiresponse, signeddata
from agent.cmc.asn1 import cmc
from agent.cmc.errors import (
    CMCError,
    IssuedCertificateMismatch,
    MalformedMessage,
    NonCanonicalEncoding,
    NonceMismatch,
    SignatureInvalid,
    SignerNotFound,
    TrailingData,
    TransactionIdMismatch,
    UnexpectedContentType,
    UnknownControl,
    UnsignedResponse,
    UntrustedCertificate,
    UntrustedSigner,
)
from agent.cmc.response import read_response
from agent.keyops import SoftwareKey
from tests.cmc import pki

WHEN = datetime.datetime(2026, 3, 1, 12, 0, 0, tzinfo=datetime.UTC)


@pytest.fixture(scope="module")
def issued(ca: pki.Issued, user_rsa: SoftwareKey) -> pki.Issued:
    return pki.issue("alice", key=user_rsa, issuer=ca, serial=4242)


def _respond(ca: pki.Issued, controls: list[cmc.TaggedAttribute], certificates: list[object]) -> bytes:
    return pkiresponse.sign_response(
        pkiresponse.pki_response(controls), ca.key, ca.certificate, certificates
    ).dump()


def _success(ca: pki.Issued, issued: pki.Issued, *extra: cmc.TaggedAttribute) -> bytes:
    status = pkiresponse.control(1, "status_info_v2", pkiresponse.status_info_v2("success", [1]))
    return _respond(ca, [status, *extra], [issued.certificate, ca.certificate])


def test_success_with_chain_nonce_and_transaction_id(
    ca: pki.Issued, issued: pki.Issued, user_rsa: SoftwareKey
) -> None:
    data = _success(
        ca,
        issued,
        pkiresponse.control(2, "transaction_id", core.Integer(7)),
        pkiresponse.control(3, "recipient_nonce", core.OctetString(b"our nonce")),
        pkiresponse.control(4, "sender_nonce", core.OctetString(b"their nonce")),
    )
    result = read_response(
        data,
        trusted=[ca.certificate],
        expected_recipient_nonce=b"our nonce",
        expected_transaction_id=7,
        request_public_key=user_rsa.public_key_info,
    )
    assert result.succeeded and result.kind == "full"
    assert result.signature.verified
    assert [s.status for s in result.statuses] == ["success"]
    assert result.statuses[0].body_parts == (1,)
    assert result.issued_certificate is not None and result.issued_certificate.serial_number == 4242
    assert [c.serial_number for c in result.chain] == [4242, ca.certificate.serial_number]  # leaf to root
    assert result.sender_nonce == b"their nonce" and result.transaction_id == 7
    assert json.loads(json.dumps(result.to_json()))["status"] == "success"


def test_issued_certificate_found_without_the_key(ca: pki.Issued, issued: pki.Issued) -> None:
    result = read_response(_success(ca, issued), trusted=[ca.certificate])
    assert result.issued_certificate is not None and result.issued_certificate.serial_number == 4242


def test_failure_with_fail_info_and_status_string(ca: pki.Issued) -> None:
    status = pkiresponse.status_info_v2(
        "failed", [0], fail_info="bad_identity", status_string="Proof-of-Identification Verification Failed"
    )
    result = read_response(
        _respond(ca, [pkiresponse.control(1, "status_info_v2", status)], [ca.certificate]),
        trusted=[ca.certificate],
    )
    assert not result.succeeded and result.overall_status == "failed"
    (only,) = result.statuses
    assert only.fail_info == "bad_identity" and only.body_parts == (0,)
    assert only.status_string == "Proof-of-Identification Verification Failed"
    assert "failInfo=badIdentity" in only.describe()
    assert result.issued_certificate is None and result.chain == ()


def test_pending_with_pend_info(ca: pki.Issued) -> None:
    status = pkiresponse.status_info_v2("pending", [1], pend_token=b"200", pend_time=WHEN)
    result = read_response(
        _respond(ca, [pkiresponse.control(1, "status_info_v2", status)], [ca.certificate]),
        trusted=[ca.certificate],
    )
    (only,) = result.statuses
    assert only.status == "pending" and only.pend_info is not None
    assert only.pend_info.token == b"200" and only.pend_info.time == WHEN


def test_extended_fail_info_and_body_part_paths(ca: pki.Issued) -> None:
    status = cmc.CMCStatusInfoV2(
        {
            "cmc_status": "failed",
            "body_list": [cmc.BodyPartReference("body_part_path", [3, 1])],
            "other_info": cmc.OtherStatusInfo(
                "extended_fail_info",
                {"fail_info_oid": "1.3.6.1.4.1.9.9", "fail_info_value": core.UTF8String("why")},
            ),
        }
    )
    result = read_response(
        _respond(ca, [pkiresponse.control(1, "status_info_v2", status)], [ca.certificate]),
        trusted=[ca.certificate],
    )
    (only,) = result.statuses
    assert only.body_parts == ((3, 1),)
    assert only.extended_fail_info == ("1.3.6.1.4.1.9.9", core.UTF8String("why").dump())


def test_pop_required_with_encrypted_pop_and_request_id(ca: pki.Issued, user_rsa: SoftwareKey) -> None:
    request = cmc.TaggedRequest(
        "tcr", {"body_part_id": 1, "certification_request": pkcs10.build_csr(user_rsa, "CN=enc")}
    )
    encrypted_pop, _ = pkiresponse.encrypted_pop(request, user_rsa.public_key_info)
    controls = [
        pkiresponse.control(1, "encrypted_pop", encrypted_pop),
        pkiresponse.control(
            2, "status_info_v2", pkiresponse.status_info_v2("pop_required", [1], fail_info="pop_required")
        ),
        pkiresponse.control(3, "response_info", core.OctetString(pkiresponse.request_id_bytes(200))),
    ]
    result = read_response(_respond(ca, controls, [ca.certificate]), trusted=[ca.certificate])
    assert result.pop_required and not result.succeeded
    assert result.request_id == 200 and result.request_id_bytes == b"\x00\xc8"
    assert result.encrypted_pop is not None
    assert result.encrypted_pop["request"].dump() == request.dump()
    assert result.controls == ("encrypted_pop", "status_info_v2", "response_info")


def test_simple_response(ca: pki.Issued, issued: pki.Issued, user_rsa: SoftwareKey) -> None:
    data = pkiresponse.simple_response([issued.certificate, ca.certificate]).dump()
    result = read_response(data, trusted=[ca.certificate], request_public_key=user_rsa.public_key_info)
    assert result.kind == "simple" and result.succeeded
    assert not result.signature.verified and "unsigned" in result.signature.detail
    assert [c.serial_number for c in result.chain] == [4242, 1]
    with pytest.raises(UnsignedResponse):
        read_response(data, trusted=[ca.certificate], require_signature=True)


def test_simple_response_from_another_ca_is_refused(
    ca: pki.Issued, other_ca: pki.Issued, user_rsa: SoftwareKey
) -> None:
    stranger = pki.issue("mallory", key=user_rsa, issuer=other_ca, serial=5)
    with pytest.raises(UntrustedCertificate):
        read_response(pkiresponse.simple_response([stranger.certificate]).dump(), trusted=[ca.certificate])


def test_without_trust_anchors_it_says_it_did_not_verify(ca: pki.Issued, issued: pki.Issued) -> None:
    result = read_response(_success(ca, issued), trusted=None)
    assert not result.signature.verified and "not checked" in result.signature.detail


# --- hostile input -------------------------------------------------------------------------------------


def test_truncated(ca: pki.Issued, issued: pki.Issued) -> None:
    data = _success(ca, issued)
    for cut in (1, 2, 10, len(data) // 2, len(data) - 1):
        with pytest.raises(MalformedMessage):
            read_response(data[:cut], trusted=[ca.certificate])


def test_trailing_bytes(ca: pki.Issued, issued: pki.Issued) -> None:
    with pytest.raises(TrailingData):
        read_response(_success(ca, issued) + b"\x00", trusted=[ca.certificate])


def test_wrong_signature(ca: pki.Issued, issued: pki.Issued) -> None:
    data = bytearray(_success(ca, issued))
    data[-10] ^= 0x01  # inside the RSA signature, the last field
    with pytest.raises(SignatureInvalid):
        read_response(bytes(data), trusted=[ca.certificate])


def test_altered_content(ca: pki.Issued, issued: pki.Issued) -> None:
    data = _success(ca, issued)
    status = pkiresponse.status_info_v2("success", [1]).dump()
    forged = pkiresponse.status_info_v2("success", [2]).dump()
    assert data.count(status) == 1
    with pytest.raises(SignatureInvalid, match="message digest"):
        read_response(data.replace(status, forged), trusted=[ca.certificate])


def test_wrong_signer(ca: pki.Issued, other_ca: pki.Issued, issued: pki.Issued) -> None:
    data = _success(other_ca, issued)  # a perfectly signed response from a CA we do not trust
    with pytest.raises(UntrustedSigner):
        read_response(data, trusted=[ca.certificate])


def test_signer_certificate_missing(ca: pki.Issued, issued: pki.Issued) -> None:
    status = pkiresponse.control(1, "status_info_v2", pkiresponse.status_info_v2("success", [1]))
    data = _respond(ca, [status], [issued.certificate])  # the CA left its own certificate out
    with pytest.raises(SignerNotFound):
        read_response(data, trusted=[ca.certificate])


def test_expired_signer() -> None:
    long_ago = pki.NOW - datetime.timedelta(days=500)
    root = pki.issue("Old Root", ca=True, serial=1, not_before=long_ago, days=3650)
    signing = pki.issue(
        "Old CA signing",
        key=SoftwareKey.generate("ec:p256"),
        issuer=root,
        ca=True,
        serial=77,
        not_before=long_ago,
        days=10,
    )
    status = pkiresponse.control(1, "status_info_v2", pkiresponse.status_info_v2("success", [1]))
    data = _respond(signing, [status], [signing.certificate, root.certificate])
    with pytest.raises(UntrustedSigner, match="not valid now"):
        read_response(data, trusted=[root.certificate])
    then = long_ago + datetime.timedelta(days=5)
    assert read_response(data, trusted=[root.certificate], at=then).succeeded


def test_mismatched_nonce(ca: pki.Issued, issued: pki.Issued) -> None:
    with_nonce = _success(ca, issued, pkiresponse.control(2, "recipient_nonce", core.OctetString(b"other")))
    with pytest.raises(NonceMismatch):
        read_response(with_nonce, trusted=[ca.certificate], expected_recipient_nonce=b"ours")
    with pytest.raises(NonceMismatch, match="does not echo"):
        read_response(_success(ca, issued), trusted=[ca.certificate], expected_recipient_nonce=b"ours")


def test_mismatched_transaction_id(ca: pki.Issued, issued: pki.Issued) -> None:
    data = _success(ca, issued, pkiresponse.control(2, "transaction_id", core.Integer(8)))
    with pytest.raises(TransactionIdMismatch):
        read_response(data, trusted=[ca.certificate], expected_transaction_id=7)


def test_unknown_control(ca: pki.Issued, issued: pki.Issued) -> None:
    unknown = cmc.TaggedAttribute(
        {"body_part_id": 2, "attr_type": "1.3.6.1.5.5.7.7.99", "attr_values": [core.Null()]}
    )
    with pytest.raises(UnknownControl, match=r"1\.3\.6\.1\.5\.5\.7\.7\.99"):
        read_response(_success(ca, issued, unknown), trusted=[ca.certificate])


def test_duplicate_single_valued_control(ca: pki.Issued, issued: pki.Issued) -> None:
    twice = [pkiresponse.control(n, "recipient_nonce", core.OctetString(b"n")) for n in (2, 3)]
    with pytest.raises(MalformedMessage, match="twice"):
        read_response(_success(ca, issued, *twice), trusted=[ca.certificate])


def test_indefinite_lengths(ca: pki.Issued, issued: pki.Issued) -> None:
    data = _success(ca, issued)
    # re-wrap the outer ContentInfo with an indefinite length: valid BER, not DER
    content = data[4:] if data[1] == 0x82 else data[2:]
    with pytest.raises(NonCanonicalEncoding, match="indefinite"):
        read_response(b"\x30\x80" + content + b"\x00\x00", trusted=[ca.certificate])


def test_non_canonical_inside_the_signed_content(ca: pki.Issued) -> None:
    """A validly signed PKIResponse that is BER, not DER: the signature is right, the bytes are refused."""
    status = pkiresponse.control(1, "status_info_v2", pkiresponse.status_info_v2("success", [1]))
    good = pkiresponse.pki_response([status]).dump()
    # PKIResponse { controlSequence { TaggedAttribute { INTEGER 1, ... } } ... }, all short lengths
    assert good[:6:2] == b"\x30\x30\x30" and good[6:9] == bytes.fromhex("020101")
    ber = bytearray(good[:6] + bytes.fromhex("02020001") + good[9:])  # bodyPartID 1 with a needless 00
    for length_at in (1, 3, 5):
        ber[length_at] += 1
    message = signeddata.sign_content(
        bytes(ber), "pki_response", ca.key, certificate=ca.certificate, certificates=[ca.certificate]
    )
    with pytest.raises(NonCanonicalEncoding):
        read_response(message.dump(), trusted=[ca.certificate])


@pytest.mark.parametrize("what", ["request", "id-data", "other"])
def test_wrong_content_types(what: str, ca: pki.Issued, agent_rsa: pki.Issued, user_rsa: SoftwareKey) -> None:
    from agent.cmc.pkidata import FullPKIRequestBuilder

    if what == "request":
        data = (
            FullPKIRequestBuilder()
            .add_pkcs10(pkcs10.build_csr(user_rsa, "CN=x"))
            .sign(agent_rsa.key, agent_rsa.certificate, chain=[ca.certificate])
            .dump()
        )
    elif what == "id-data":
        data = cms.ContentInfo({"content_type": "data", "content": b"hello"}).dump()
    else:
        data = signeddata.sign_content(
            b"\x04\x00",
            "1.3.6.1.4.1.55555.1",
            ca.key,
            certificate=ca.certificate,
            certificates=[ca.certificate],
        ).dump()
    with pytest.raises(UnexpectedContentType):
        read_response(data, trusted=[ca.certificate])


def test_issued_certificate_must_carry_our_key(
    ca: pki.Issued, issued: pki.Issued, user_ec: SoftwareKey
) -> None:
    with pytest.raises(IssuedCertificateMismatch):
        read_response(
            _success(ca, issued), trusted=[ca.certificate], request_public_key=user_ec.public_key_info
        )


def test_signed_data_version_is_checked(ca: pki.Issued, issued: pki.Issued) -> None:
    data = _success(ca, issued)
    assert data[23:26] == b"\x02\x01\x03"  # SignedData version 3, where Dogtag puts it
    for version in (0, 1, 2, 86):
        tampered = data[:25] + bytes([version]) + data[26:]
        # version 1 makes asn1crypto read PKCS#7 content, which then fails to decode: refused either way
        with pytest.raises(MalformedMessage, match="version" if version != 1 else "decode"):
            read_response(tampered, trusted=[ca.certificate])


def test_pem_and_base64_read_like_der(ca: pki.Issued, issued: pki.Issued) -> None:
    """Dogtag's ``CMCResponse -o`` hands users the whole response as PEM; it is checked the same way."""
    import base64

    from agent.cmc.pem import to_pem

    der = _success(ca, issued)
    expected = read_response(der, trusted=[ca.certificate]).to_json()
    for text in (to_pem(der, "PKCS7").encode(), base64.encodebytes(der)):
        assert read_response(text, trusted=[ca.certificate]).to_json() == expected
    tampered = bytearray(der)
    tampered[-5] ^= 1
    with pytest.raises(CMCError):
        read_response(to_pem(bytes(tampered), "PKCS7").encode(), trusted=[ca.certificate])


def test_an_html_error_page_is_named(ca: pki.Issued) -> None:
    page = b"<html><head><title>Error</title></head><body>The Certificate System has encountered an "
    page += b"unrecoverable error.</body></html>"
    with pytest.raises(MalformedMessage, match=r"an HTML page, not a CMC response: .*unrecoverable error"):
        read_response(page, trusted=[ca.certificate])


# --- fuzz ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_seeds(ca: pki.Issued, issued: pki.Issued, user_rsa: SoftwareKey) -> list[bytes]:
    request = cmc.TaggedRequest(
        "tcr", {"body_part_id": 1, "certification_request": pkcs10.build_csr(user_rsa, "CN=f")}
    )
    encrypted_pop, _ = pkiresponse.encrypted_pop(request, user_rsa.public_key_info)
    pop = _respond(
        ca,
        [
            pkiresponse.control(1, "encrypted_pop", encrypted_pop),
            pkiresponse.control(
                2,
                "status_info_v2",
                pkiresponse.status_info_v2("pending", [1], pend_token=b"1", pend_time=WHEN),
            ),
            pkiresponse.control(3, "response_info", core.OctetString(b"\x01")),
        ],
        [ca.certificate],
    )
    return [
        _success(ca, issued),
        pop,
        pkiresponse.simple_response([issued.certificate, ca.certificate]).dump(),
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_only_our_errors(data: st.DataObject, fuzz_seeds: list[bytes], ca: pki.Issued) -> None:
    seed = data.draw(st.sampled_from(fuzz_seeds))
    mutation = data.draw(st.sampled_from(["flip", "cut", "insert", "splice", "random"]))
    mutated = bytearray(seed)
    if mutation == "flip":
        for _ in range(data.draw(st.integers(1, 4))):
            position = data.draw(st.integers(0, len(mutated) - 1))
            mutated[position] ^= data.draw(st.integers(1, 255))
    elif mutation == "cut":
        start = data.draw(st.integers(0, len(mutated) - 1))
        del mutated[start : start + data.draw(st.integers(1, 64))]
    elif mutation == "insert":
        position = data.draw(st.integers(0, len(mutated)))
        mutated[position:position] = data.draw(st.binary(min_size=1, max_size=16))
    elif mutation == "splice":
        other = data.draw(st.sampled_from(fuzz_seeds))
        position = data.draw(st.integers(0, min(len(mutated), len(other)) - 1))
        mutated = mutated[:position] + bytearray(other[position:])
    else:
        mutated = bytearray(data.draw(st.binary(max_size=300)))
    try:
        read_response(bytes(mutated), trusted=[ca.certificate])
    except CMCError as exc:
        assert str(exc)  # every error says something
        # and it was foreseen: the reader's last-resort net for unexpected exceptions stayed unused
        assert not str(exc).startswith("the response cannot be interpreted"), str(exc)
    else:
        # every byte is covered by DER rules, the signature, or a certificate's own signature
        assert bytes(mutated) in fuzz_seeds, "a tampered response was accepted"


# --- who may sign, and which carried certificates may be believed ----------------------------------------


def _status_only(signer: pki.Issued, certificates: list[object]) -> bytes:
    status = pkiresponse.control(1, "status_info_v2", pkiresponse.status_info_v2("success", [1]))
    return _respond(signer, [status], certificates)


def test_a_certificate_holder_of_the_same_ca_cannot_sign_a_response(
    ca: pki.Issued, issued: pki.Issued, user_rsa: SoftwareKey
) -> None:
    """Any end entity of the CA chains to it; only the CA itself (a CA certificate) speaks for it."""
    mallory = pki.issue("mallory", issuer=ca, serial=66)
    data = _status_only(mallory, [issued.certificate, mallory.certificate, ca.certificate])
    with pytest.raises(UntrustedSigner, match="not a CA certificate"):
        read_response(data, trusted=[ca.certificate], request_public_key=user_rsa.public_key_info)


def test_the_trusted_ca_certificate_itself_may_sign_without_basic_constraints(issued: pki.Issued) -> None:
    legacy = pki.issue("Legacy CA", ca=False, serial=3)  # self-signed, no cA flag: trusted by the caller
    assert read_response(_status_only(legacy, [legacy.certificate]), trusted=[legacy.certificate]).succeeded


def test_a_key_identifier_signer_never_matches_a_certificate_without_one(ca: pki.Issued) -> None:
    bare_ca = pki.issue("Bare CA", ca=True, serial=2, ski=False)
    status = pkiresponse.control(1, "status_info_v2", pkiresponse.status_info_v2("success", [1]))
    message = signeddata.sign_content(
        pkiresponse.pki_response([status]).dump(),
        "pki_response",
        bare_ca.key,
        subject_key_identifier=b"\x01" * 20,
        certificates=[bare_ca.certificate],
    )
    with pytest.raises(SignerNotFound):
        read_response(message.dump(), trusted=[bare_ca.certificate])


def test_a_root_sent_above_the_trusted_intermediate_is_accepted(user_rsa: SoftwareKey) -> None:
    root = pki.root_ca("Upper Root")
    intermediate = pki.issue("Issuing CA", issuer=root, ca=True, serial=2)
    leaf = pki.issue("alice", key=user_rsa, issuer=intermediate, serial=9)
    data = _status_only(intermediate, [leaf.certificate, intermediate.certificate, root.certificate])
    result = read_response(
        data, trusted=[intermediate.certificate], request_public_key=user_rsa.public_key_info
    )
    assert [c.serial_number for c in result.chain] == [9, 2, 1]


def test_a_forged_issuer_above_the_trusted_ca_is_refused(user_rsa: SoftwareKey) -> None:
    """A certificate that copies the real root's key (so it 'issued' our CA) under an attacker's root.

    Nothing vouches for it: it must not be believed, let alone handed out in the chain to import."""
    root = pki.root_ca("Upper Root")
    intermediate = pki.issue("Issuing CA", issuer=root, ca=True, serial=2)
    leaf = pki.issue("alice", key=user_rsa, issuer=intermediate, serial=9)
    attacker_root = pki.root_ca("Upper Root Evil")
    cross = pki.issue("Upper Root", key=root.key, issuer=attacker_root, ca=True, serial=7)
    certificates = [leaf.certificate, intermediate.certificate, cross.certificate, attacker_root.certificate]
    data = _status_only(intermediate, certificates)
    with pytest.raises(UntrustedCertificate):
        read_response(data, trusted=[intermediate.certificate], request_public_key=user_rsa.public_key_info)


def test_an_issuer_whose_key_usage_forbids_certificate_signing_is_refused(user_rsa: SoftwareKey) -> None:
    root = pki.root_ca("Usage Root")
    no_cert_sign = pki.issue("Signing Only", issuer=root, ca=True, serial=2, key_cert_sign=False)
    leaf = pki.issue("alice", key=user_rsa, issuer=no_cert_sign, serial=9)
    data = _status_only(root, [leaf.certificate, no_cert_sign.certificate, root.certificate])
    with pytest.raises(UntrustedCertificate, match="not a CA certificate"):
        read_response(data, trusted=[root.certificate])
    allowed = pki.issue("Issuing", issuer=root, ca=True, serial=3, key_cert_sign=True)
    good_leaf = pki.issue("alice", key=user_rsa, issuer=allowed, serial=10)
    good = _status_only(root, [good_leaf.certificate, allowed.certificate, root.certificate])
    assert read_response(good, trusted=[root.certificate]).succeeded


def test_too_many_certificates_are_refused_before_any_path_is_built(ca: pki.Issued) -> None:
    """Path building compares certificates pairwise: a response with very many would cost minutes."""
    crowd = [pki.issue("crowd", issuer=ca, key=ca.key, serial=100 + n).certificate for n in range(40)]
    with pytest.raises(MalformedMessage, match="certificates"):
        read_response(_status_only(ca, [*crowd, ca.certificate]), trusted=[ca.certificate])


def test_a_freshly_issued_certificate_survives_a_small_clock_difference(
    ca: pki.Issued, user_rsa: SoftwareKey
) -> None:
    """The CA sets notBefore to its own 'now'; a client a minute behind must not refuse the certificate."""
    soon = pki.NOW + datetime.timedelta(minutes=1)
    fresh = pki.issue("alice", key=user_rsa, issuer=ca, serial=4343, not_before=soon)
    result = read_response(
        _status_only(ca, [fresh.certificate, ca.certificate]),
        trusted=[ca.certificate],
        request_public_key=user_rsa.public_key_info,
    )
    assert result.issued_certificate is not None
    future = pki.issue(
        "alice", key=user_rsa, issuer=ca, serial=4344, not_before=pki.NOW + datetime.timedelta(days=1)
    )
    with pytest.raises(UntrustedCertificate, match="not valid now"):
        read_response(_status_only(ca, [future.certificate, ca.certificate]), trusted=[ca.certificate])


@pytest.mark.parametrize(
    "attr_type, value",
    [
        ("trusted_anchors", None),
        ("control_processed", cmc.ControlsProcessed({"body_list": []})),
        ("identification", core.UTF8String("alice")),
    ],
)
def test_known_controls_the_reader_does_not_interpret_are_refused(
    attr_type: str, value: object, ca: pki.Issued, issued: pki.Issued
) -> None:
    if value is None:
        value = cmc.PublishTrustAnchors(
            {"seq_number": 1, "hash_algorithm": {"algorithm": "sha256"}, "anchor_hashes": [b"\x00" * 32]}
        )
    control = pkiresponse.control(2, attr_type, value)  # type: ignore[arg-type]
    with pytest.raises(UnknownControl, match=attr_type):
        read_response(_success(ca, issued, control), trusted=[ca.certificate])


def test_out_of_range_integers_are_refused(ca: pki.Issued, issued: pki.Issued) -> None:
    """Values handed to callers stay printable (Python refuses to print integers of 4300+ digits)."""
    huge = core.Integer(1 << 20000)
    with pytest.raises(MalformedMessage, match="transactionId"):
        read_response(
            _success(ca, issued, pkiresponse.control(2, "transaction_id", huge)), trusted=[ca.certificate]
        )
    status = pkiresponse.control(1, "status_info_v2", pkiresponse.status_info_v2("failed", [1 << 40]))
    with pytest.raises(MalformedMessage, match="bodyPartID"):
        read_response(_respond(ca, [status], [ca.certificate]), trusted=[ca.certificate])


def test_a_missing_nonce_still_reports_the_cas_failure(ca: pki.Issued) -> None:
    """Dogtag echoes no nonce in a failure; the error must still say what the CA answered."""
    status = pkiresponse.status_info_v2(
        "failed", [0], fail_info="bad_request", status_string="Invalid Credential."
    )
    data = _respond(ca, [pkiresponse.control(1, "status_info_v2", status)], [ca.certificate])
    with pytest.raises(NonceMismatch, match=r"badRequest \(Invalid Credential\.\)"):
        read_response(data, trusted=[ca.certificate], expected_recipient_nonce=b"ours")
