"""A CMC client built only from pyasn1-modules and cryptography, to prove the CA is not tuned to our own.

Nothing here imports ``agent`` or ``localca``: requests are encoded with the RFC modules of
pyasn1-modules (rfc2986 PKCS#10, rfc4211 CRMF, rfc5652 CMS, rfc6402 CMC, rfc5280) and signed with
``cryptography``; responses are decoded and their signatures checked the same way. The encodings follow
what Dogtag's tools write (dogtag-cmc-client.md §1, §10): NULL digest parameters, NULL ECDSA parameters
in SignerInfo and CRMF POP, a bare Name in GetCert, CRMF SKI as the whole extnValue, and so on.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509 as crypto_x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding
from pyasn1.codec.der import decoder, encoder
from pyasn1.type import char, univ, useful
from pyasn1_modules import rfc2986, rfc4211, rfc5280, rfc5652, rfc6402

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

OID_RSA_ENCRYPTION = univ.ObjectIdentifier("1.2.840.113549.1.1.1")
OID_SHA256_RSA = univ.ObjectIdentifier("1.2.840.113549.1.1.11")
OID_ECDSA_SHA256 = univ.ObjectIdentifier("1.2.840.10045.4.3.2")
OID_SHA1 = univ.ObjectIdentifier("1.3.14.3.2.26")
OID_SHA256 = univ.ObjectIdentifier("2.16.840.1.101.3.4.2.1")
OID_SHA384 = univ.ObjectIdentifier("2.16.840.1.101.3.4.2.2")
OID_SHA512 = univ.ObjectIdentifier("2.16.840.1.101.3.4.2.3")
OID_HMAC = {
    "sha1": "1.2.840.113549.2.7",
    "sha256": "1.2.840.113549.2.9",
    "sha384": "1.2.840.113549.2.10",
    "sha512": "1.2.840.113549.2.11",
}
OID_HASH = {"sha1": OID_SHA1, "sha256": OID_SHA256, "sha384": OID_SHA384, "sha512": OID_SHA512}
OID_AES128_CBC = "2.16.840.1.101.3.4.1.2"
OID_AES128_WRAP_PAD = "2.16.840.1.101.3.4.1.8"
OID_SKI = univ.ObjectIdentifier("2.5.29.14")
OID_EXTENSION_REQUEST = univ.ObjectIdentifier("1.2.840.113549.1.9.14")
OID_CONTENT_TYPE = univ.ObjectIdentifier("1.2.840.113549.1.9.3")
OID_MESSAGE_DIGEST = univ.ObjectIdentifier("1.2.840.113549.1.9.4")
OID_SIGNED_DATA = univ.ObjectIdentifier("1.2.840.113549.1.7.2")
OID_DATA = univ.ObjectIdentifier("1.2.840.113549.1.7.1")
OID_PKI_DATA = univ.ObjectIdentifier("1.3.6.1.5.5.7.12.2")
OID_PKI_RESPONSE = univ.ObjectIdentifier("1.3.6.1.5.5.7.12.3")
OID_ARCHIVE_OPTIONS = univ.ObjectIdentifier("1.3.6.1.5.5.7.5.1.4")

ID_CMC = "1.3.6.1.5.5.7.7"
CMC = {
    "statusInfo": f"{ID_CMC}.1",
    "identification": f"{ID_CMC}.2",
    "identityProof": f"{ID_CMC}.3",
    "dataReturn": f"{ID_CMC}.4",
    "transactionId": f"{ID_CMC}.5",
    "senderNonce": f"{ID_CMC}.6",
    "recipientNonce": f"{ID_CMC}.7",
    "encryptedPOP": f"{ID_CMC}.9",
    "decryptedPOP": f"{ID_CMC}.10",
    "lraPOPWitness": f"{ID_CMC}.11",
    "getCert": f"{ID_CMC}.15",
    "revokeRequest": f"{ID_CMC}.17",
    "regInfo": f"{ID_CMC}.18",
    "responseInfo": f"{ID_CMC}.19",
    "queryPending": f"{ID_CMC}.21",
    "popLinkRandom": f"{ID_CMC}.22",
    "confirmCertAcceptance": f"{ID_CMC}.24",
    "statusInfoV2": f"{ID_CMC}.25",
    "popLinkWitnessV2": f"{ID_CMC}.33",
    "identityProofV2": f"{ID_CMC}.34",
}
CMC_NAMES = {oid: name for name, oid in CMC.items()}


def encode(value: Any) -> bytes:
    return bytes(encoder.encode(value))


def decode(data: bytes, spec: Any) -> Any:
    value, rest = decoder.decode(data, asn1Spec=spec)
    if rest:
        raise ValueError(f"{len(rest)} trailing bytes after {type(spec).__name__}")
    return value


def fill(target: Any, source: Any) -> Any:
    """Copy a SEQUENCE's components into ``target`` (a tagged instance of the same type)."""
    for name in source:
        if source[name].isValue:
            target[name] = source[name]
    return target


# --- keys and signatures -------------------------------------------------------------------------------


def sign(key: PrivateKey, data: bytes, hash_name: str = "sha256") -> bytes:
    digest = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}[hash_name]
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), digest)
    return key.sign(data, ec.ECDSA(digest))


def algorithm(oid: Any, parameters: Any = None) -> rfc5280.AlgorithmIdentifier:
    identifier = rfc5280.AlgorithmIdentifier()
    identifier["algorithm"] = univ.ObjectIdentifier(str(oid))
    if parameters is not None:
        identifier["parameters"] = parameters
    return identifier


def signature_algorithm(key: PrivateKey, *, ecdsa_null: bool) -> rfc5280.AlgorithmIdentifier:
    if isinstance(key, rsa.RSAPrivateKey):
        return algorithm(OID_SHA256_RSA, univ.Null(""))
    return algorithm(OID_ECDSA_SHA256, univ.Null("") if ecdsa_null else None)


def spki_der(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_id(key: PrivateKey) -> bytes:
    """RFC 5280 method 1: SHA-1 of the subjectPublicKey bits."""
    info = decode(spki_der(key), rfc5280.SubjectPublicKeyInfo())
    return hashlib.sha1(info["subjectPublicKey"].asOctets(), usedforsecurity=False).digest()


def name(rfc4514: str) -> rfc5280.Name:
    der = crypto_x509.Name.from_rfc4514_string(rfc4514).public_bytes()
    return decode(der, rfc5280.Name())


def ski_extension(key: PrivateKey) -> rfc5280.Extension:
    extension = rfc5280.Extension()
    extension["extnID"] = OID_SKI
    extension["extnValue"] = univ.OctetString(encode(univ.OctetString(key_id(key))))
    return extension


# --- PKCS#10 -------------------------------------------------------------------------------------------


def pkcs10(
    key: PrivateKey,
    subject: str,
    *,
    ski: bool = False,
    attributes: Sequence[tuple[str, Any]] = (),
    corrupt_signature: bool = False,
) -> bytes:
    """A PKCS#10 request (rfc2986), attributes ``[0]`` present even when empty (as PKCS10Client writes)."""
    info = rfc2986.CertificationRequestInfo()
    info["version"] = 0
    info["subject"] = name(subject)
    info["subjectPKInfo"] = decode(spki_der(key), rfc2986.SubjectPublicKeyInfo())
    info.setComponentByName("attributes")
    index = 0
    if ski:
        extensions = rfc5280.Extensions()
        extensions.append(ski_extension(key))
        attribute = rfc2986.Attribute()
        attribute["type"] = OID_EXTENSION_REQUEST
        attribute["values"].append(univ.Any(encode(extensions)))
        info["attributes"][index] = attribute
        index += 1
    for oid, value in attributes:
        attribute = rfc2986.Attribute()
        attribute["type"] = univ.ObjectIdentifier(oid)
        attribute["values"].append(univ.Any(encode(value)))
        info["attributes"][index] = attribute
        index += 1
    signature = sign(key, encode(info))
    if corrupt_signature:
        signature = signature[:-1] + bytes([signature[-1] ^ 1])
    request = rfc2986.CertificationRequest()
    request["certificationRequestInfo"] = info
    request["signatureAlgorithm"] = signature_algorithm(key, ecdsa_null=False)
    request["signature"] = univ.BitString.fromOctetString(signature)
    return encode(request)


def tagged_pkcs10(body_part_id: int, csr_der: bytes) -> rfc6402.TaggedRequest:
    tagged = rfc6402.TaggedRequest()
    tagged.setComponentByName("tcr")
    tagged["tcr"]["bodyPartID"] = body_part_id
    tagged["tcr"]["certificationRequest"] = decode(csr_der, rfc6402.CertificationRequest())
    return tagged


# --- CRMF ----------------------------------------------------------------------------------------------


@dataclass
class Archive:
    """Key archival: wrap ``key`` for the KRA transport certificate (EncryptedValue, AES-KWP)."""

    key: PrivateKey
    transport_certificate: crypto_x509.Certificate
    oaep: bool = False


def archive_options(archive: Archive) -> bytes:
    session_key = os.urandom(16)
    pkcs8 = archive.key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    transport_key = archive.transport_certificate.public_key()
    assert isinstance(transport_key, rsa.RSAPublicKey)
    if archive.oaep:
        pad: Any = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    else:
        pad = padding.PKCS1v15()
    options = rfc4211.PKIArchiveOptions()
    options.setComponentByName("encryptedPrivKey")
    encrypted_key = options["encryptedPrivKey"]
    encrypted_key.setComponentByName("encryptedValue")
    value = encrypted_key["encryptedValue"]
    value.setComponentByName("symmAlg")
    value["symmAlg"]["algorithm"] = univ.ObjectIdentifier(OID_AES128_WRAP_PAD)
    value["symmAlg"]["parameters"] = univ.OctetString(os.urandom(8))  # Dogtag's KRA wants an "IV" here
    value.setComponentByName("encSymmKey")
    value["encSymmKey"] = value["encSymmKey"].clone(
        univ.BitString.fromOctetString(transport_key.encrypt(session_key, pad))
    )
    value["encValue"] = univ.BitString.fromOctetString(aes_key_wrap_with_padding(session_key, pkcs8))
    return encode(options)


def crmf(
    key: PrivateKey,
    subject: str | None,
    *,
    request_id: int = 1,
    pop: str = "signature",
    ski: bool = False,
    archive: Archive | None = None,
    extra_controls: Sequence[tuple[str, bytes]] = (),
    corrupt_pop: bool = False,
) -> rfc4211.CertReqMsg:
    """A CertReqMsg (rfc4211). ``pop``: "signature", "none" (EncryptedPOP) or "raVerified"."""
    request = rfc4211.CertRequest()
    request["certReqId"] = request_id
    template = request["certTemplate"]
    if subject is not None:
        template.setComponentByName("subject")
        template["subject"]["rdnSequence"] = name(subject)["rdnSequence"]
    template.setComponentByName("publicKey")
    fill(template["publicKey"], decode(spki_der(key), rfc5280.SubjectPublicKeyInfo()))
    if ski:
        template.setComponentByName("extensions")
        template["extensions"].append(ski_extension(key))
    controls = rfc4211.Controls()
    if archive is not None:
        control = rfc4211.AttributeTypeAndValue()
        control["type"] = OID_ARCHIVE_OPTIONS
        control["value"] = univ.Any(archive_options(archive))
        controls.append(control)
    for oid, value_der in extra_controls:
        control = rfc4211.AttributeTypeAndValue()
        control["type"] = univ.ObjectIdentifier(oid)
        control["value"] = univ.Any(value_der)
        controls.append(control)
    if len(controls):
        request["controls"] = controls
    message = rfc4211.CertReqMsg()
    message["certReq"] = request
    if pop == "signature":
        signature = sign(key, encode(request))
        if corrupt_pop:
            signature = signature[:-1] + bytes([signature[-1] ^ 1])
        message.setComponentByName("popo")
        message["popo"].setComponentByName("signature")
        signing_key = message["popo"]["signature"]
        signing_key["algorithmIdentifier"] = signature_algorithm(key, ecdsa_null=True)
        signing_key["signature"] = univ.BitString.fromOctetString(signature)
    elif pop == "raVerified":
        message.setComponentByName("popo")
        message["popo"]["raVerified"] = message["popo"].componentType["raVerified"].asn1Object.clone("")
    return message


def tagged_crmf(message: rfc4211.CertReqMsg) -> rfc6402.TaggedRequest:
    tagged = rfc6402.TaggedRequest()
    tagged.setComponentByName("crm")
    fill(tagged["crm"], message)
    return tagged


def crmf_ski_signer_id(key: PrivateKey) -> bytes:
    """Dogtag's CRMF shared-secret SignerIdentifier: the whole SKI extnValue (04 14 || key id)."""
    return encode(univ.OctetString(key_id(key)))


# --- controls and PKIData ------------------------------------------------------------------------------


def control(body_part_id: int, oid: str, *values: Any) -> rfc6402.TaggedAttribute:
    attribute = rfc6402.TaggedAttribute()
    attribute["bodyPartID"] = body_part_id
    attribute["attrType"] = univ.ObjectIdentifier(oid)
    for value in values:
        attribute["attrValues"].append(univ.Any(value if isinstance(value, bytes) else encode(value)))
    return attribute


def pki_data(
    controls: list[rfc6402.TaggedAttribute],
    requests: list[rfc6402.TaggedRequest],
    other_messages: Sequence[rfc6402.OtherMsg] = (),
) -> bytes:
    data = rfc6402.PKIData()
    for item in controls:
        data["controlSequence"].append(item)
    for item in requests:
        data["reqSequence"].append(item)
    data["cmsSequence"].extend([])
    for item in other_messages:
        data["otherMsgSequence"].append(item)
    return encode(data)


def request_sequence_der(requests: list[rfc6402.TaggedRequest]) -> bytes:
    """DER of PKIData.reqSequence (what identityProofV2 MACs)."""
    data = rfc6402.PKIData()
    for item in requests:
        data["reqSequence"].append(item)
    return encode(data["reqSequence"])


def identity_proof_v2(
    secret: str,
    identification: str,
    requests: list[rfc6402.TaggedRequest],
    hash_name: str = "sha256",
    mac_name: str = "sha256",
) -> rfc6402.IdentifyProofV2:
    key = hashlib.new(hash_name, secret.encode() + identification.encode()).digest()
    proof = rfc6402.IdentifyProofV2()
    proof["proofAlgID"] = algorithm(OID_HASH[hash_name])
    proof["macAlgId"] = algorithm(OID_HMAC[mac_name])
    proof["witness"] = hmac.new(key, request_sequence_der(requests), mac_name).digest()
    return proof


def pop_link_witness_v2(secret: str, identification: str, random_seed: bytes) -> rfc6402.PopLinkWitnessV2:
    key = hashlib.sha256(secret.encode() + identification.encode()).digest()
    witness = rfc6402.PopLinkWitnessV2()
    witness["keyGenAlgorithm"] = algorithm(OID_SHA256)
    witness["macAlgorithm"] = algorithm(OID_HMAC["sha256"])
    witness["witness"] = hmac.new(key, random_seed, "sha256").digest()
    return witness


def revoke_request(
    issuer_der: bytes,
    serial: int,
    reason: int,
    *,
    passphrase: bytes | None = None,
    comment: str | None = None,
) -> rfc6402.RevokeRequest:
    request = rfc6402.RevokeRequest()
    request["issuerName"] = decode(issuer_der, rfc5280.Name())
    request["serialNumber"] = serial
    request["reason"] = reason
    request["invalidityDate"] = useful.GeneralizedTime("20260101000000Z")
    if passphrase is not None:
        request["passphrase"] = passphrase
    if comment is not None:
        request["comment"] = char.UTF8String(comment)
    return request


def get_cert_value(issuer_der: bytes, serial: int) -> bytes:
    """GetCert as Dogtag's CMCRequest writes it: the issuer as a bare Name, not a GeneralName."""
    sequence = univ.Sequence()
    sequence.setComponentByPosition(0, univ.Any(issuer_der))
    sequence.setComponentByPosition(1, univ.Integer(serial))
    return encode(sequence)


def lra_pop_witness(data_body_part: int, body_ids: list[int]) -> rfc6402.LraPopWitness:
    witness = rfc6402.LraPopWitness()
    witness["pkiDataBodyid"] = data_body_part
    for item in body_ids:
        witness["bodyIds"].append(item)
    return witness


# --- CMS -----------------------------------------------------------------------------------------------


def _attribute(oid: Any, value: Any) -> rfc5652.Attribute:
    attribute = rfc5652.Attribute()
    attribute["attrType"] = oid
    attribute["attrValues"].append(univ.Any(encode(value)))
    return attribute


def signed_cms(
    content: bytes,
    key: PrivateKey,
    *,
    certificates: Sequence[bytes] = (),
    signer_certificate: bytes | None = None,
    subject_key_identifier: bytes | None = None,
    digest_null: bool = True,
    content_type: Any = OID_PKI_DATA,
) -> bytes:
    """ContentInfo{SignedData} as CMCRequest writes it; the signer named by certificate or by SKI."""
    digest_algorithm = algorithm(OID_SHA256, univ.Null("") if digest_null else None)
    attributes = univ.SetOf(componentType=rfc5652.Attribute())
    attributes.append(_attribute(OID_CONTENT_TYPE, content_type))
    attributes.append(_attribute(OID_MESSAGE_DIGEST, univ.OctetString(hashlib.sha256(content).digest())))
    signature = sign(key, encode(attributes))

    signer = rfc5652.SignerInfo()
    if signer_certificate is not None:
        certificate = decode(signer_certificate, rfc5280.Certificate())
        signer["version"] = 1
        signer["sid"].setComponentByName("issuerAndSerialNumber")
        signer["sid"]["issuerAndSerialNumber"]["issuer"] = certificate["tbsCertificate"]["issuer"]
        signer["sid"]["issuerAndSerialNumber"]["serialNumber"] = certificate["tbsCertificate"]["serialNumber"]
    else:
        assert subject_key_identifier is not None
        signer["version"] = 3
        signer["sid"].setComponentByName("subjectKeyIdentifier", subject_key_identifier)
    signer["digestAlgorithm"] = digest_algorithm
    signer.setComponentByName("signedAttrs")
    for item in attributes:
        signer["signedAttrs"].append(item)
    signer["signatureAlgorithm"] = signature_algorithm(key, ecdsa_null=True)
    signer["signature"] = signature

    signed = rfc5652.SignedData()
    signed["version"] = 3
    signed["digestAlgorithms"].append(digest_algorithm)
    signed["encapContentInfo"]["eContentType"] = content_type
    signed["encapContentInfo"].setComponentByName("eContent", content)
    for der in certificates:
        choice = rfc5652.CertificateChoices()
        choice["certificate"] = decode(der, rfc5280.Certificate())
        signed["certificates"].append(choice)  # pyasn1 leaves an empty SET out (Dogtag writes A0 00)
    signed["signerInfos"].append(signer)

    info = rfc5652.ContentInfo()
    info["contentType"] = OID_SIGNED_DATA
    info["content"] = univ.Any(encode(signed))
    return encode(info)


def unsigned_data(content: bytes) -> bytes:
    info = rfc5652.ContentInfo()
    info["contentType"] = OID_DATA
    info["content"] = univ.Any(encode(univ.OctetString(content)))
    return encode(info)


# --- responses -----------------------------------------------------------------------------------------


@dataclass
class Status:
    body_part_id: int
    status: int
    body_list: list[int]
    status_string: str | None
    fail_info: int | None


@dataclass
class Response:
    """A decoded CMC response; ``controls`` are (bodyPartID, control name, [value DER ...])."""

    signed: bool
    controls: list[tuple[int, str, list[bytes]]] = field(default_factory=list)
    statuses: list[Status] = field(default_factory=list)
    certificates: list[crypto_x509.Certificate] = field(default_factory=list)
    signed_data: Any = None

    def control_values(self, control_name: str) -> list[bytes]:
        for _, kind, values in self.controls:
            if kind == control_name:
                return values
        raise KeyError(control_name)

    def control_names(self) -> list[str]:
        return [kind for _, kind, _ in self.controls]


def _decode_status(data: bytes) -> tuple[int, list[int], str | None, int | None]:
    """CMCStatusInfoV2 decoded by hand where pyasn1 cannot (the untagged OtherStatusInfo CHOICE)."""
    outer = decode(data, univ.Sequence())
    status = int(outer[0])
    body_list = [
        int(item) for item in decode(encode(outer[1]), univ.SequenceOf(componentType=univ.Integer()))
    ]
    status_string = None
    fail_info = None
    for index in range(2, len(outer)):
        component = outer[index]
        if isinstance(component, char.UTF8String):
            status_string = str(component)
        elif isinstance(component, univ.Integer):
            fail_info = int(component)
    return status, body_list, status_string, fail_info


def read_response(data: bytes, ca_certificate: crypto_x509.Certificate) -> Response:
    """Decode a CMC response and verify its signature with the CA certificate (when it is signed)."""
    info = decode(data, rfc5652.ContentInfo())
    assert info["contentType"] == OID_SIGNED_DATA
    signed = decode(bytes(info["content"]), rfc5652.SignedData())
    certificates = []
    if signed["certificates"].isValue:
        for choice in signed["certificates"]:
            certificates.append(crypto_x509.load_der_x509_certificate(encode(choice["certificate"])))
    response = Response(signed=len(signed["signerInfos"]) > 0, certificates=certificates, signed_data=signed)
    if not response.signed:
        return response
    content = bytes(signed["encapContentInfo"]["eContent"])
    assert signed["encapContentInfo"]["eContentType"] == OID_PKI_RESPONSE
    signer = signed["signerInfos"][0]
    attributes = univ.SetOf(componentType=rfc5652.Attribute())
    digest = None
    for attribute in signer["signedAttrs"]:
        attributes.append(attribute)
        if attribute["attrType"] == OID_MESSAGE_DIGEST:
            digest = bytes(decode(bytes(attribute["attrValues"][0]), univ.OctetString()))
    assert digest == hashlib.sha256(content).digest(), "messageDigest does not match the content"
    public_key = ca_certificate.public_key()
    signature = bytes(signer["signature"])
    if isinstance(public_key, rsa.RSAPublicKey):
        public_key.verify(signature, encode(attributes), padding.PKCS1v15(), hashes.SHA256())
    else:
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        public_key.verify(signature, encode(attributes), ec.ECDSA(hashes.SHA256()))
    body = decode(content, rfc6402.PKIResponse())
    for item in body["controlSequence"]:
        oid = str(item["attrType"])
        values = [bytes(value) for value in item["attrValues"]]
        kind = CMC_NAMES.get(oid, oid)
        response.controls.append((int(item["bodyPartID"]), kind, values))
        if kind == "statusInfoV2":
            status, body_list, text, fail_info = _decode_status(values[0])
            response.statuses.append(Status(int(item["bodyPartID"]), status, body_list, text, fail_info))
    return response


# --- EncryptedPOP, client side -------------------------------------------------------------------------


def answer_encrypted_pop(
    encrypted_pop_der: bytes, key: rsa.RSAPrivateKey, *, oaep: bool = False
) -> tuple[rfc6402.DecryptedPOP, bytes]:
    """Recover the challenge as CMCRequest does; returns the DecryptedPOP and the TaggedRequest DER."""
    value = decode(encrypted_pop_der, rfc6402.EncryptedPOP())
    request_der = encode(value["request"])
    enveloped = decode(bytes(value["cms"]["content"]), rfc5652.EnvelopedData())
    recipient = enveloped["recipientInfos"][0]["ktri"]
    if oaep:
        pad: Any = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    else:
        pad = padding.PKCS1v15()
    session_key = key.decrypt(bytes(recipient["encryptedKey"]), pad)
    iv = bytes(decode(bytes(value["thePOPAlgID"]["parameters"]), univ.OctetString()))
    encrypted = bytes(enveloped["encryptedContentInfo"]["encryptedContent"])
    decryptor = Cipher(algorithms.AES(session_key), modes.CBC(iv)).decryptor()
    challenge = decryptor.update(encrypted) + decryptor.finalize()
    assert hashlib.sha256(challenge).digest() == bytes(value["witness"]), "witness mismatch"
    decrypted = rfc6402.DecryptedPOP()
    decrypted["bodyPartID"] = 1
    decrypted["thePOPAlgID"] = value["thePOPAlgID"]
    decrypted["thePOP"] = hmac.new(challenge, request_der, "sha256").digest()
    return decrypted, request_der
