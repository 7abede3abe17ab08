"""Full PKI Requests in every form, checked with openssl and pyasn1-modules, and with the witness values
recomputed here from the raw bytes (hashlib/hmac, not our code)."""

from __future__ import annotations

import datetime
import hashlib
import hmac
from pathlib import Path

import pytest
from asn1crypto import cms
from pyasn1.codec.der import decoder, encoder
from pyasn1.type import char, univ
from pyasn1_modules import rfc2986, rfc4211, rfc5280, rfc5652, rfc6402

from agent.cmc import crmf, pkcs10, pkiresponse, signeddata
from agent.cmc.asn1 import cmc
from agent.cmc.errors import (
    InvalidRequestInput,
    KeyMismatch,
    MissingSubjectKeyIdentifier,
    UnsupportedAlgorithm,
)
from agent.cmc.pkidata import FullPKIRequestBuilder, second_trip_builder
from agent.keyops import KeyTransport, SoftwareKey
from tests.cmc import pki
from tests.cmc.independent import controls_by_type, decode_exact, openssl_cms_verify, signed_pki_data

SECRET = b"Secret.123"
IDENT = "testuser"
RANDOM = bytes(range(64))


def _value(control: univ.Asn1Item, spec: univ.Asn1Item) -> univ.Asn1Item:
    values = control["attrValues"]
    assert len(values) == 1
    return decode_exact(encoder.encode(values[0]), spec)


def _control_types(pki_data: rfc6402.PKIData) -> list[tuple[int, str]]:
    return [(int(c["bodyPartID"]), str(c["attrType"])) for c in pki_data["controlSequence"]]


# --- agent- or user-signed ---------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["pkcs10", "crmf"])
def test_agent_signed_request_verifies_with_openssl(
    form: str, agent: pki.Issued, ca: pki.Issued, user_key: SoftwareKey, tmp_path: Path
) -> None:
    builder = FullPKIRequestBuilder()
    if form == "pkcs10":
        builder = builder.add_pkcs10(pkcs10.build_csr(user_key, "CN=server.example.com"))
    else:
        builder = builder.add_crmf(crmf.build_crmf(user_key, "CN=server.example.com"))
    message = builder.sign(agent.key, agent.certificate, chain=[ca.certificate]).dump()

    result = openssl_cms_verify(message, tmp_path, ca_pem=ca.pem)
    assert result.returncode == 0, result.stderr
    signed, pki_data, econtent = signed_pki_data(message)
    assert (tmp_path / "content").read_bytes() == econtent

    # Dogtag's layout: version 3, digest SHA-256 with NULL, issuerAndSerialNumber, two signed attributes
    assert int(signed["version"]) == 3
    assert encoder.encode(signed["digestAlgorithms"][0]) == bytes.fromhex("300d06096086480165030402010500")
    signer = signed["signerInfos"][0]
    assert int(signer["version"]) == 1
    assert int(signer["sid"]["issuerAndSerialNumber"]["serialNumber"]) == agent.certificate.serial_number
    assert [str(a["attrType"]) for a in signer["signedAttrs"]] == [
        "1.2.840.113549.1.9.3",
        "1.2.840.113549.1.9.4",
    ]
    assert signer["signatureAlgorithm"]["parameters"].asOctets() == b"\x05\x00"  # NULL for RSA and ECDSA
    assert len(signed["certificates"]) == 2
    assert _control_types(pki_data) == []
    request = pki_data["reqSequence"][0]
    if form == "pkcs10":
        assert int(request["tcr"]["bodyPartID"]) == 1
    else:
        assert int(request["crm"]["certReq"]["certReqId"]) == 1


def test_signer_key_must_match_the_certificate(agent_rsa: pki.Issued, user_rsa: SoftwareKey) -> None:
    builder = FullPKIRequestBuilder().add_pkcs10(pkcs10.build_csr(user_rsa, "CN=x"))
    with pytest.raises(KeyMismatch):
        builder.sign(user_rsa, agent_rsa.certificate)


def test_rsa_pss_signed_request_verifies_with_openssl(
    agent_rsa: pki.Issued, ca: pki.Issued, user_rsa: SoftwareKey, tmp_path: Path
) -> None:
    message = (
        FullPKIRequestBuilder()
        .add_pkcs10(pkcs10.build_csr(user_rsa, "CN=x"))
        .sign(agent_rsa.key, agent_rsa.certificate, chain=[ca.certificate], pss=True)
        .dump()
    )
    assert openssl_cms_verify(message, tmp_path, ca_pem=ca.pem).returncode == 0


def test_nonce_and_transaction_id_controls(agent_rsa: pki.Issued, user_rsa: SoftwareKey) -> None:
    message = (
        FullPKIRequestBuilder()
        .add_pkcs10(pkcs10.build_csr(user_rsa, "CN=x"))
        .sender_nonce(b"nonce-1")
        .transaction_id(0x313233)
        .data_return(b"echo me")
        .sign(agent_rsa.key, agent_rsa.certificate)
        .dump()
    )
    _, pki_data, _ = signed_pki_data(message)
    assert _control_types(pki_data) == [
        (2, str(rfc6402.id_cmc_dataReturn)),
        (3, str(rfc6402.id_cmc_senderNonce)),
        (4, str(rfc6402.id_cmc_transactionId)),
    ]
    controls = controls_by_type(pki_data)
    assert bytes(_value(controls[str(rfc6402.id_cmc_senderNonce)][0], univ.OctetString())) == b"nonce-1"
    assert int(_value(controls[str(rfc6402.id_cmc_transactionId)][0], univ.Integer())) == 0x313233


# --- shared secret --------------------------------------------------------------------------------------


def _shared_secret_message(
    form: str, key: SoftwareKey, *, pop_link: bool = True, mac: str = "sha256", hash_name: str = "sha256"
) -> bytes:
    builder = FullPKIRequestBuilder()
    if form == "pkcs10":
        builder = builder.add_pkcs10(pkcs10.build_csr(key, "CN=testuser,UID=testuser", ski=True))
    else:
        builder = builder.add_crmf(crmf.build_crmf(key, "CN=testuser,UID=testuser", ski=True))
    builder = builder.identification(IDENT).identity_proof_v2(SECRET, hash_name=hash_name, mac_name=mac)
    if pop_link:
        builder = builder.pop_link_witness_v2(SECRET, hash_name=hash_name, mac_name=mac, random=RANDOM)
    return builder.sign_with_request_key(key).dump()


@pytest.mark.parametrize("form", ["pkcs10", "crmf"])
def test_shared_secret_request_verifies_with_openssl(
    form: str, user_key: SoftwareKey, tmp_path: Path
) -> None:
    message = _shared_secret_message(form, user_key)
    signed, _pki_data, _ = signed_pki_data(message)
    signer = signed["signerInfos"][0]
    assert int(signer["version"]) == 3
    identifier = bytes(signer["sid"]["subjectKeyIdentifier"])
    spki_bits = user_key.public_key_info["public_key"].contents[1:]
    key_id = hashlib.sha1(spki_bits, usedforsecurity=False).digest()
    # PKCS#10: the 20-byte key id; CRMF: the whole extnValue, 04 14 || key id (Dogtag's rule)
    assert identifier == (key_id if form == "pkcs10" else b"\x04\x14" + key_id)
    assert len(signed["certificates"]) == 0 and signed["certificates"].isValue  # A0 00, as Dogtag sends
    assert b"\xa0\x00" in message

    # openssl finds the signer by SKI in a certificate carrying the same identifier
    holder = pki.issue("holder", key=user_key, key_identifier=identifier)
    result = openssl_cms_verify(message, tmp_path, signer_pem=holder.pem)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("hash_name", "mac"), [("sha256", "sha256"), ("sha512", "sha512"), ("sha384", "sha256")]
)
@pytest.mark.parametrize("form", ["pkcs10", "crmf"])
def test_identity_proof_and_pop_link_witness_recomputed_from_raw_bytes(
    form: str, hash_name: str, mac: str, user_rsa: SoftwareKey
) -> None:
    message = _shared_secret_message(form, user_rsa, hash_name=hash_name, mac=mac)
    _, pki_data, econtent = signed_pki_data(message)
    oid = {
        "sha256": "2.16.840.1.101.3.4.2.1",
        "sha384": "2.16.840.1.101.3.4.2.2",
        "sha512": "2.16.840.1.101.3.4.2.3",
    }
    hmac_oid = {"sha256": "1.2.840.113549.2.9", "sha512": "1.2.840.113549.2.11"}

    # IDs are unique, controls in Dogtag's order
    assert _control_types(pki_data) == [
        (2, str(rfc6402.id_cmc_popLinkRandom)),
        (3, str(rfc6402.id_cmc_identification)),
        (4, str(rfc6402.id_cmc_identityProofV2)),
    ]
    controls = controls_by_type(pki_data)
    assert str(_value(controls[str(rfc6402.id_cmc_identification)][0], char.UTF8String())) == IDENT
    random = bytes(_value(controls[str(rfc6402.id_cmc_popLinkRandom)][0], univ.OctetString()))
    assert random == RANDOM

    key = hashlib.new(hash_name, SECRET + IDENT.encode()).digest()
    # identityProofV2 = HMAC(Hash(secret || ident), DER(reqSequence)), reqSequence cut from the raw PKIData
    raw_pki_data, _ = decoder.decode(econtent, asn1Spec=rfc6402.PKIData())
    req_sequence = encoder.encode(raw_pki_data["reqSequence"])
    assert req_sequence in econtent
    proof = _value(controls[str(rfc6402.id_cmc_identityProofV2)][0], rfc6402.IdentifyProofV2())
    assert str(proof["proofAlgID"]["algorithm"]) == oid[hash_name]
    assert not proof["proofAlgID"]["parameters"].isValue and not proof["macAlgId"]["parameters"].isValue
    assert str(proof["macAlgId"]["algorithm"]) == hmac_oid[mac]
    assert bytes(proof["witness"]) == hmac.new(key, req_sequence, mac).digest()

    # popLinkWitnessV2 = HMAC(Hash(secret || ident), popLinkRandom), inside the re-signed request
    request = pki_data["reqSequence"][0]
    if form == "pkcs10":
        attributes = request["tcr"]["certificationRequest"]["certificationRequestInfo"]["attributes"]
        found = [a for a in attributes if a["attrType"] == rfc6402.id_cmc_popLinkWitnessV2]
        witness_der = encoder.encode(found[0]["attrValues"][0])
        # the re-signed CSR verifies (openssl req -verify is in test_requests_pkcs10_crmf)
        csr_der = encoder.encode(request["tcr"]["certificationRequest"])
        pkcs10.load_csr(csr_der)
    else:
        controls_in_crmf = request["crm"]["certReq"]["controls"]
        found = [c for c in controls_in_crmf if c["type"] == rfc6402.id_cmc_popLinkWitnessV2]
        witness_der = bytes(found[0]["value"])
        crmf.verify_pop(crmf.asn1_crmf.CertReqMsg.load(b"\x30" + encoder.encode(request["crm"])[1:]))
    witness = decode_exact(witness_der, rfc6402.PopLinkWitnessV2())
    assert str(witness["keyGenAlgorithm"]["algorithm"]) == oid[hash_name]
    assert bytes(witness["witness"]) == hmac.new(key, RANDOM, mac).digest()


def test_re_signed_pkcs10_verifies_with_openssl(user_key: SoftwareKey, tmp_path: Path) -> None:
    from tests.cmc.independent import openssl

    message = _shared_secret_message("pkcs10", user_key)
    _, pki_data, _ = signed_pki_data(message)
    csr_der = encoder.encode(pki_data["reqSequence"][0]["tcr"]["certificationRequest"])
    (tmp_path / "csr.der").write_bytes(csr_der)
    result = openssl("req", "-inform", "DER", "-in", str(tmp_path / "csr.der"), "-verify", "-noout")
    assert result.returncode == 0, result.stderr
    decode_exact(csr_der, rfc2986.CertificationRequest())


def test_hmac_sha384_is_refused_because_dogtag_cannot_verify_it() -> None:
    with pytest.raises(UnsupportedAlgorithm, match="SHA-384"):
        FullPKIRequestBuilder().identity_proof_v2(SECRET, mac_name="sha384")


def test_shared_secret_needs_a_ski(user_rsa: SoftwareKey) -> None:
    builder = (
        FullPKIRequestBuilder()
        .add_pkcs10(pkcs10.build_csr(user_rsa, "CN=x"))
        .identification(IDENT)
        .identity_proof_v2(SECRET)
    )
    with pytest.raises(MissingSubjectKeyIdentifier):
        builder.sign_with_request_key(user_rsa)


def test_shared_secret_with_a_foreign_key_is_refused(user_rsa: SoftwareKey, user_ec: SoftwareKey) -> None:
    builder = (
        FullPKIRequestBuilder()
        .add_pkcs10(pkcs10.build_csr(user_rsa, "CN=x", ski=True))
        .identification(IDENT)
        .identity_proof_v2(SECRET)
    )
    with pytest.raises(KeyMismatch):
        builder.sign_with_request_key(user_ec)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda b: b, "empty"),
        (lambda b: b.identity_proof_v2(SECRET).get_cert("CN=CA", 1), "needs identification"),
        (
            lambda b: b.identification("x").identity_proof_v2(SECRET).get_cert("CN=CA", 1),
            "covers the requests",
        ),
    ],
)
def test_build_checks_the_whole(make: object, message: str) -> None:
    with pytest.raises(InvalidRequestInput, match=message):
        make(FullPKIRequestBuilder()).build()  # type: ignore[operator]


def test_setters_check_their_input_and_do_not_mutate() -> None:
    empty = FullPKIRequestBuilder()
    with pytest.raises(InvalidRequestInput):
        empty.transaction_id(-1)
    with pytest.raises(InvalidRequestInput):
        empty.sender_nonce(b"")
    with pytest.raises(InvalidRequestInput):
        empty.identification("  ")
    with pytest.raises(InvalidRequestInput):
        empty.revoke_request("CN=CA", 1, "bored")
    changed = empty.sender_nonce(b"n")
    assert changed is not empty and empty == FullPKIRequestBuilder()


def test_duplicate_request_ids_are_refused(user_rsa: SoftwareKey) -> None:
    message = crmf.build_crmf(user_rsa, "CN=x")
    builder = FullPKIRequestBuilder().add_crmf(message)
    with pytest.raises(InvalidRequestInput, match="certReqId 1"):
        builder.add_crmf(message)
    with pytest.raises(InvalidRequestInput, match="bodyPartID 1"):
        builder.add_pkcs10(pkcs10.build_csr(user_rsa, "CN=x"), body_part_id=1)
    two = builder.add_pkcs10(pkcs10.build_csr(user_rsa, "CN=y")).build()
    ids = [cmc.TaggedRequest.load(r.dump()) for r in two["req_sequence"]]
    assert [
        r.chosen["cert_req"]["cert_req_id"].native if r.name == "crm" else r.chosen["body_part_id"].native
        for r in ids
    ] == [1, 2]


# --- revocation and getCert -----------------------------------------------------------------------------


def test_signed_revocation(agent_rsa: pki.Issued, ca: pki.Issued, tmp_path: Path) -> None:
    when = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    message = (
        FullPKIRequestBuilder()
        .revoke_request(
            agent_rsa.certificate.issuer, 4660, "key_compromise", invalidity_date=when, comment="lost card"
        )
        .sign(agent_rsa.key, agent_rsa.certificate, chain=[ca.certificate])
        .dump()
    )
    assert openssl_cms_verify(message, tmp_path, ca_pem=ca.pem).returncode == 0
    _, pki_data, _ = signed_pki_data(message)
    assert len(pki_data["reqSequence"]) == 0
    (control,) = pki_data["controlSequence"]
    revoke = _value(control, rfc6402.RevokeRequest())
    assert encoder.encode(revoke["issuerName"]) == agent_rsa.certificate.issuer.dump()
    assert int(revoke["serialNumber"]) == 4660 and int(revoke["reason"]) == 1
    assert str(revoke["invalidityDate"]) == "20260102030405Z"
    assert str(revoke["comment"]) == "lost card" and not revoke["passphrase"].isValue


def test_shared_secret_revocation_is_unsigned_id_data() -> None:
    message = (
        FullPKIRequestBuilder()
        .revoke_request("CN=CA Signing Certificate,O=Example", 17, "superseded", passphrase=SECRET)
        .unsigned()
        .dump()
    )
    content_info = decode_exact(message, rfc5652.ContentInfo(), open_types=False)
    assert content_info["contentType"] == rfc5652.id_data
    inner, _ = decoder.decode(bytes(content_info["content"]), asn1Spec=univ.OctetString())
    pki_data = decode_exact(bytes(inner), rfc6402.PKIData())
    revoke = _value(pki_data["controlSequence"][0], rfc6402.RevokeRequest())
    assert bytes(revoke["passphrase"]) == SECRET
    # issuer in DER order (O first), UTF8String as Dogtag's X500Name writes
    first_rdn = revoke["issuerName"]["rdnSequence"][0][0]
    assert first_rdn["type"] == rfc5280.id_at_organizationName
    assert encoder.encode(first_rdn["value"])[0] == 0x0C


def test_unsigned_is_only_for_shared_secret_revocation(user_rsa: SoftwareKey) -> None:
    with pytest.raises(InvalidRequestInput):
        FullPKIRequestBuilder().add_pkcs10(pkcs10.build_csr(user_rsa, "CN=x")).unsigned()


def test_get_cert_carries_a_bare_name(agent_rsa: pki.Issued) -> None:
    message = (
        FullPKIRequestBuilder()
        .get_cert(agent_rsa.certificate.issuer, 11)
        .sign(agent_rsa.key, agent_rsa.certificate)
        .dump()
    )
    _, pki_data, _ = signed_pki_data(message, open_types=False)  # pyasn1 would want a GeneralName
    value = bytes(pki_data["controlSequence"][0]["attrValues"][0])
    issuer_der = agent_rsa.certificate.issuer.dump()
    assert value == b"\x30" + bytes([len(issuer_der) + 3]) + issuer_der + b"\x02\x01\x0b"


# --- DecryptedPOP second trip ---------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["rsa-pkcs1v15", "rsa-oaep-sha256"])
def test_decrypted_pop_second_trip(
    transport: KeyTransport, agent_rsa: pki.Issued, ca: pki.Issued, user_rsa: SoftwareKey, tmp_path: Path
) -> None:
    first = (
        FullPKIRequestBuilder()
        .add_crmf(crmf.build_crmf(user_rsa, "CN=enc", pop="none"))
        .sign(agent_rsa.key, agent_rsa.certificate)
        .dump()
    )
    _, first_data, _ = signed_pki_data(first)
    tagged_request = cmc.TaggedRequest.load(encoder.encode(first_data["reqSequence"][0]))
    challenge = bytes(range(100, 164))
    encrypted_pop, _ = pkiresponse.encrypted_pop(
        tagged_request, user_rsa.public_key_info, transport=transport, challenge=challenge
    )

    builder = second_trip_builder(encrypted_pop, b"\x00\xc8", user_rsa, transport)
    second = builder.sign(agent_rsa.key, agent_rsa.certificate, chain=[ca.certificate]).dump()
    assert openssl_cms_verify(second, tmp_path, ca_pem=ca.pem).returncode == 0
    _, pki_data, _ = signed_pki_data(second)
    assert _control_types(pki_data) == [
        (2, str(rfc6402.id_cmc_decryptedPOP)),
        (3, str(rfc6402.id_cmc_regInfo)),
    ]
    assert encoder.encode(pki_data["reqSequence"][0]) == encrypted_pop["request"].dump()
    controls = controls_by_type(pki_data)
    assert bytes(_value(controls[str(rfc6402.id_cmc_regInfo)][0], univ.OctetString())) == b"\x00\xc8"
    decrypted = _value(controls[str(rfc6402.id_cmc_decryptedPOP)][0], rfc6402.DecryptedPOP())
    assert int(decrypted["bodyPartID"]) == 1
    assert encoder.encode(decrypted["thePOPAlgID"]) == encrypted_pop["the_pop_alg_id"].dump()
    # thePOP = HMAC-SHA256(challenge, DER(TaggedRequest as the CA returned it))
    assert (
        bytes(decrypted["thePOP"]) == hmac.new(challenge, encrypted_pop["request"].dump(), "sha256").digest()
    )


def test_signed_data_module_verifies_what_it_signs(
    agent_ec: pki.Issued, ca: pki.Issued, user_rsa: SoftwareKey
) -> None:
    message = (
        FullPKIRequestBuilder()
        .add_pkcs10(pkcs10.build_csr(user_rsa, "CN=x"))
        .sign(agent_ec.key, agent_ec.certificate, chain=[ca.certificate])
    )
    reloaded = signeddata.load_content_info(message.dump())
    verified = signeddata.verify_signed_data(
        reloaded, expected_content_type="pki_data", trusted_certificates=[ca.certificate]
    )
    assert verified.signer_certificate is not None
    assert verified.signer_certificate.dump() == agent_ec.certificate.dump()
    assert [c.dump() for c in verified.trust_path] == [agent_ec.certificate.dump(), ca.certificate.dump()]
    assert isinstance(
        cms.ContentInfo.load(message.dump())["content"]["encap_content_info"]["content"].parsed, cmc.PKIData
    )
    assert rfc4211  # pyasn1-modules CRMF types are registered through rfc6402


def test_shared_secret_request_verifies_with_the_request_key(user_rsa: SoftwareKey) -> None:
    for form in ("pkcs10", "crmf"):
        message = signeddata.load_content_info(_shared_secret_message(form, user_rsa))
        verified = signeddata.verify_signed_data(
            message, expected_content_type="pki_data", signer_public_key=user_rsa.public_key_info
        )
        assert verified.signer_certificate is None


@pytest.mark.parametrize("with_certificates", [True, False])
def test_assembled_signed_data_equals_asn1crypto_encoding(
    with_certificates: bool, agent_rsa: pki.Issued, ca: pki.Issued
) -> None:
    """sign_content assembles DER by hand for speed; asn1crypto, given the same parts, must agree."""
    from asn1crypto import algos
    from asn1crypto import core as asn1_core

    content = cmc.PKIData(
        {"control_sequence": [], "req_sequence": [], "cms_sequence": [], "other_msg_sequence": []}
    ).dump()
    certificates = [agent_rsa.certificate, ca.certificate] if with_certificates else []
    ours = signeddata.sign_content(
        content, "pki_data", agent_rsa.key, certificate=agent_rsa.certificate, certificates=certificates
    ).dump()
    signer_info = cms.ContentInfo.load(ours)["content"]["signer_infos"][0]
    reference = cms.ContentInfo(
        {
            "content_type": "signed_data",
            "content": cms.SignedData(
                {
                    "version": "v3",
                    "digest_algorithms": [
                        algos.DigestAlgorithm({"algorithm": "sha256", "parameters": asn1_core.Null()})
                    ],
                    "encap_content_info": {
                        "content_type": "pki_data",
                        "content": asn1_core.ParsableOctetString(content),
                    },
                    "certificates": [cms.CertificateChoices("certificate", c) for c in certificates],
                    "signer_infos": [
                        cms.SignerInfo(
                            {
                                "version": "v1",
                                "sid": cms.SignerIdentifier(
                                    "issuer_and_serial_number",
                                    {
                                        "issuer": agent_rsa.certificate.issuer,
                                        "serial_number": agent_rsa.certificate.serial_number,
                                    },
                                ),
                                "digest_algorithm": {"algorithm": "sha256", "parameters": asn1_core.Null()},
                                "signed_attrs": [
                                    {"type": "content_type", "values": ["pki_data"]},
                                    {"type": "message_digest", "values": [hashlib.sha256(content).digest()]},
                                ],
                                "signature_algorithm": {
                                    "algorithm": "sha256_rsa",
                                    "parameters": asn1_core.Null(),
                                },
                                "signature": signer_info[
                                    "signature"
                                ].native,  # RSA PKCS#1 v1.5 is deterministic anyway
                            }
                        )
                    ],
                }
            ),
        }
    ).dump()
    assert ours == reference
