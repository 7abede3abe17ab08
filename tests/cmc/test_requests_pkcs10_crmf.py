"""PKCS#10 and CRMF builders, checked with openssl and pyasn1-modules."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from asn1crypto import core, csr, x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap_with_padding
from pyasn1.codec.der import encoder
from pyasn1_modules import rfc2986, rfc4211, rfc5280

from agent.cmc import archive, crmf, pkcs10
from agent.cmc.archive import ArchiveForm
from agent.cmc.asn1 import cmc
from agent.cmc.errors import InvalidCertificationRequest, KeyMismatch
from agent.cmc.pem import to_pem
from agent.keyops import KeyTransport, PrivateKeyWrapping, SoftwareKey
from tests.cmc import pki
from tests.cmc.independent import decode_exact, openssl


def _verify_with_cryptography(key: SoftwareKey, signature: bytes, data: bytes) -> None:
    public = key.private_key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    else:
        assert isinstance(public, ec.EllipticCurvePublicKey)
        public.verify(signature, data, ec.ECDSA(hashes.SHA256()))


def test_csr_verifies_with_openssl_and_decodes_with_pyasn1(user_key: SoftwareKey, tmp_path: Path) -> None:
    request = pkcs10.build_csr(
        user_key, "CN=alice,UID=alice,O=Example", ski=True, san=["dns:alice.example", "10.0.0.1"]
    )
    path = tmp_path / "req.pem"
    path.write_text(to_pem(request.dump(), "CERTIFICATE REQUEST"))
    result = openssl("req", "-in", str(path), "-verify", "-noout", "-subject")
    assert result.returncode == 0, result.stderr
    assert b"verify OK" in result.stderr + result.stdout
    assert b"O = Example, UID = alice, CN = alice" in result.stdout

    decoded = decode_exact(request.dump(), rfc2986.CertificationRequest())
    algorithm = decoded["signatureAlgorithm"]
    if user_key.key_algorithm == "rsa":
        assert algorithm["parameters"].asOctets() == b"\x05\x00"  # NULL, as PKCS10Client writes
    else:
        assert not algorithm["parameters"].isValue  # absent for ECDSA (RFC 5758)
    spki_bits = decoded["certificationRequestInfo"]["subjectPKInfo"]["subjectPublicKey"].asOctets()
    assert pkcs10.requested_ski(request) == hashlib.sha1(spki_bits, usedforsecurity=False).digest()


def test_csr_without_extensions_carries_empty_attributes() -> None:
    request = pkcs10.build_csr(SoftwareKey.generate("ec:p256"), "CN=bob")
    info = request["certification_request_info"].dump()
    assert info.endswith(b"\xa0\x00")


def test_resigned_csr_with_pop_link_witness_verifies_with_openssl(
    user_key: SoftwareKey, tmp_path: Path
) -> None:
    request = pkcs10.build_csr(user_key, "CN=alice", ski=True)
    witness = cmc.PopLinkWitnessV2(
        {
            "key_gen_algorithm": {"algorithm": "sha256"},
            "mac_algorithm": {"algorithm": "sha256"},
            "witness": b"w" * 32,
        }
    )
    attribute = csr.CRIAttribute({"type": "pop_link_witness_v2", "values": [witness]})
    resigned = pkcs10.add_attribute_and_resign(request, attribute, user_key)
    path = tmp_path / "resigned.der"
    path.write_bytes(resigned.dump())
    result = openssl("req", "-inform", "DER", "-in", str(path), "-verify", "-noout")
    assert result.returncode == 0, result.stderr
    decoded = decode_exact(resigned.dump(), rfc2986.CertificationRequest())
    types = [str(a["type"]) for a in decoded["certificationRequestInfo"]["attributes"]]
    assert sorted(types) == ["1.2.840.113549.1.9.14", "1.3.6.1.5.5.7.7.33"]


def test_resigning_with_another_key_is_refused(user_rsa: SoftwareKey, user_ec: SoftwareKey) -> None:
    request = pkcs10.build_csr(user_rsa, "CN=alice")
    with pytest.raises(KeyMismatch):
        pkcs10.add_attribute_and_resign(
            request,
            csr.CRIAttribute(
                {"type": "challenge_password", "values": [x509.DirectoryString("utf8_string", "x")]}
            ),
            user_ec,
        )


def test_load_csr_refuses_a_bad_signature_and_non_der(user_rsa: SoftwareKey) -> None:
    good = pkcs10.build_csr(user_rsa, "CN=alice").dump()
    pkcs10.load_csr(to_pem(good, "NEW CERTIFICATE REQUEST").encode())  # Dogtag's other label works
    broken = bytearray(good)
    broken[-5] ^= 0xFF
    with pytest.raises(InvalidCertificationRequest, match="does not verify"):
        pkcs10.load_csr(bytes(broken))
    with pytest.raises(InvalidCertificationRequest, match="trailing"):
        pkcs10.load_csr(good + b"\x00")


def test_crmf_signature_pop_verifies_independently(user_key: SoftwareKey) -> None:
    messages = crmf.build_crmf(user_key, "CN=alice,UID=alice", ski=True)
    decoded = decode_exact(messages.dump(), rfc4211.CertReqMessages())
    message = decoded[0]
    cert_request_der = encoder.encode(message["certReq"])
    pop = message["popo"]["signature"]
    assert pop["algorithmIdentifier"]["parameters"].asOctets() == b"\x05\x00"  # NULL even for ECDSA (Dogtag)
    _verify_with_cryptography(user_key, pop["signature"].asOctets(), cert_request_der)
    template = message["certReq"]["certTemplate"]
    assert int(template["version"]) == 2
    assert "controls" not in [n for n, v in message["certReq"].items() if v.isValue]
    # subject in PrintableString, like CRMFPopClient
    for rdn in template["subject"]["rdnSequence"]:
        assert bytes(rdn[0]["value"])[0] == 0x13
    extension = template["extensions"][0]
    assert extension["extnID"] == rfc5280.id_ce_subjectKeyIdentifier
    assert not extension["critical"]  # DEFAULT FALSE, not encoded
    assert b"\x01\x01\x00" not in encoder.encode(extension)
    assert crmf.shared_secret_signer_identifier(messages[0]) == bytes(extension["extnValue"])
    assert len(crmf.shared_secret_signer_identifier(messages[0]) or b"") == 22


def test_crmf_without_pop_and_with_encr_cert() -> None:
    key = SoftwareKey.generate("rsa:2048")
    none = crmf.build_crmf(key.public_key_info, "CN=enc", pop="none")
    assert not decode_exact(none.dump(), rfc4211.CertReqMessages())[0]["popo"].isValue
    encr = crmf.build_crmf(key.public_key_info, "CN=enc", pop="encr-cert")
    popo = decode_exact(encr.dump(), rfc4211.CertReqMessages())[0]["popo"]
    assert int(popo["keyEncipherment"]["subsequentMessage"]) == 0  # encrCert


def test_load_crmf_accepts_dogtag_empty_controls_and_checks_the_pop(user_rsa: SoftwareKey) -> None:
    request = crmf.build_cert_request(user_rsa.public_key_info, "CN=alice")
    request["controls"] = []
    message = crmf.sign_cert_request(request, user_rsa)
    data = crmf.build_crmf(user_rsa, "CN=x").__class__([message]).dump()
    assert b"\x30\x00\xa1" in data  # controls 30 00 followed by the POP
    loaded = crmf.load_crmf(data)
    assert loaded[0]["cert_req"]["controls"].native == []
    tampered = bytearray(data)
    tampered[-3] ^= 0x01
    with pytest.raises(InvalidCertificationRequest):
        crmf.load_crmf(bytes(tampered))


@pytest.mark.parametrize("form", ["encrypted-value", "enveloped-data"])
@pytest.mark.parametrize(
    ("wrapping", "key_transport"), [("aes-kwp", "rsa-pkcs1v15"), ("aes-cbc-pad", "rsa-oaep-sha256")]
)
def test_archive_options_unwrap_to_the_private_key(
    form: ArchiveForm, wrapping: PrivateKeyWrapping, key_transport: KeyTransport, transport: pki.Issued
) -> None:
    user = SoftwareKey.generate("ec:p256")
    options = archive.build_archive_options(
        user, transport.certificate, wrapping=wrapping, transport=key_transport, form=form
    )
    messages = crmf.build_crmf(user, "CN=archived", archive_options=options)
    decoded = decode_exact(messages.dump(), rfc4211.CertReqMessages())
    control = decoded[0]["certReq"]["controls"][0]
    assert control["type"] == rfc4211.id_regCtrl_pkiArchiveOptions
    value = decode_exact(bytes(control["value"]), rfc4211.PKIArchiveOptions())
    encrypted_key = value["encryptedPrivKey"]
    kra = transport.key.private_key
    assert isinstance(kra, rsa.RSAPrivateKey)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    pad = oaep if key_transport == "rsa-oaep-sha256" else padding.PKCS1v15()
    if form == "encrypted-value":
        encrypted = encrypted_key["encryptedValue"]
        algorithm = encrypted["symmAlg"]
        session = kra.decrypt(encrypted["encSymmKey"].asOctets(), pad)
        payload = encrypted["encValue"].asOctets()
    else:
        enveloped = encrypted_key["envelopedData"]
        algorithm = enveloped["encryptedContentInfo"]["contentEncryptionAlgorithm"]
        session = kra.decrypt(bytes(enveloped["recipientInfos"][0]["ktri"]["encryptedKey"]), pad)
        payload = bytes(enveloped["encryptedContentInfo"]["encryptedContent"])
    parameter = core.OctetString.load(
        bytes(algorithm["parameters"])
    ).native  # the KRA insists on an OCTET STRING
    if wrapping == "aes-kwp":
        assert str(algorithm["algorithm"]) == "2.16.840.1.101.3.4.1.8" and len(parameter) == 8
        pkcs8 = aes_key_unwrap_with_padding(session, payload)
    else:
        assert str(algorithm["algorithm"]) == "2.16.840.1.101.3.4.1.2" and len(parameter) == 16
        decryptor = Cipher(algorithms.AES(session), modes.CBC(parameter)).decryptor()
        padded = decryptor.update(payload) + decryptor.finalize()
        pkcs8 = padded[: -padded[-1]]
    recovered = serialization.load_der_private_key(pkcs8, password=None)
    assert (
        recovered.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        == user.public_key_info.dump()
    )


def test_pop_over_wrong_bytes_does_not_verify(user_rsa: SoftwareKey) -> None:
    messages = crmf.build_crmf(user_rsa, "CN=alice")
    signature = messages[0]["popo"].chosen["signature"].native
    with pytest.raises(InvalidSignature):
        _verify_with_cryptography(user_rsa, signature, b"\x01" * 8)  # Dogtag's POP_FAIL input
