"""CMS SignedData (RFC 5652) for CMC, built and verified the way the Dogtag CA does.

Generic over the encapsulated content type: the agent signs id-cct-PKIData requests with it, the local
CA signs id-cct-PKIResponse responses and verifies requests with it.

What :func:`sign_content` writes (``dogtag-cmc-client.md`` §1.4, ``dogtag-cmc-server.md`` §6.1):

* SignedData version 3; digestAlgorithms ``{ hash, NULL }``; ``certificates [0]`` always present
  (``A0 00`` when empty, as Dogtag's shared-secret requests carry); no CRLs; one SignerInfo.
* SignerInfo version 1 with issuerAndSerialNumber, or version 3 with a ``[0]`` subjectKeyIdentifier.
* Signed attributes exactly contentType and messageDigest (DER-sorted, which keeps that order).
* signatureAlgorithm ``sha*WithRSAEncryption`` + NULL, or ``ecdsa-with-SHA*`` + NULL (Dogtag's quirk;
  pass ``ecdsa_null_params=False`` for the RFC 5758 form), or RSASSA-PSS when asked.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import cms, core, keys, x509

from agent.cmc import algorithms, chain, der
from agent.cmc.errors import (
    CMCError,
    InvalidRequestInput,
    KeyMismatch,
    MalformedMessage,
    NonCanonicalEncoding,
    SignatureInvalid,
    SignerNotFound,
    UnexpectedContentType,
)
from agent.cmc.keyid import same_public_key, subject_key_identifier
from agent.cmc.verify import verify_signature
from agent.keyops import HashName, Signer


def sign_content(
    content: bytes,
    content_type: str,
    signer: Signer,
    *,
    certificate: x509.Certificate | None = None,
    subject_key_identifier: bytes | None = None,
    certificates: Sequence[x509.Certificate] = (),
    hash_name: HashName = "sha256",
    pss: bool = False,
    ecdsa_null_params: bool = True,
) -> cms.ContentInfo:
    """Sign ``content`` (the DER of the eContent) as a SignedData ContentInfo.

    Name the signer by ``certificate`` (issuerAndSerialNumber; the certificate must carry the signer's
    key) or by ``subject_key_identifier`` (the raw bytes to put in the SignerIdentifier), not both.
    ``certificates`` are included as given (the SET is DER-sorted, as JSS sorts it).

    The message is assembled from DER pieces rather than built as an asn1crypto tree: asn1crypto
    re-walks a constructed tree on every encoding, which costs more than the device signature itself.
    The pieces are small asn1crypto values; the tests check the result against asn1crypto's own
    encoding of the same SignedData, against pyasn1-modules and against ``openssl cms -verify``.
    """
    if (certificate is None) == (subject_key_identifier is None):
        raise InvalidRequestInput("name the signer by exactly one of certificate or subject_key_identifier")
    if certificate is not None:
        if not same_public_key(certificate.public_key, signer.public_key_info):
            raise KeyMismatch(
                f"the signing key does not belong to the certificate {certificate.subject.human_friendly!r}"
            )
        sid = der.encode_tlv(0x30, certificate.issuer.dump() + core.Integer(certificate.serial_number).dump())
        signer_version = 1
    else:
        if not subject_key_identifier:
            raise InvalidRequestInput("empty subject key identifier")
        sid = der.encode_tlv(0x80, subject_key_identifier)
        signer_version = 3
    if pss and signer.key_algorithm != "rsa":
        raise InvalidRequestInput("RSA-PSS needs an RSA key")

    content_type_der = cms.ContentType(content_type).dump()
    signed_attributes = signed_attributes_der(content_type_der, algorithms.digest(hash_name, content))
    signature = signer.sign(signed_attributes, hash_name, pss=pss)
    if pss:
        signature_algorithm = algorithms.rsassa_pss_algorithm(hash_name).dump()
    else:
        signature_algorithm = algorithms.signature_algorithm_der(
            signer.key_algorithm, hash_name, ecdsa_null_params=ecdsa_null_params
        )
    digest_algorithm = algorithms.cms_digest_algorithm_der(hash_name)
    signer_info = der.encode_tlv(
        0x30,
        core.Integer(signer_version).dump()
        + sid
        + digest_algorithm
        + b"\xa0"
        + signed_attributes[1:]  # [0] IMPLICIT: the same SET with a context tag
        + signature_algorithm
        + der.encode_tlv(0x04, signature),
    )
    return assemble_signed_data(content_type_der, content, digest_algorithm, certificates, signer_info)


def signed_attributes_der(content_type_der: bytes, message_digest: bytes) -> bytes:
    """``SET { contentType, messageDigest }`` in DER order: the bytes a CMC signer signs (RFC 5652 §5.4)."""
    content_type_attribute = der.encode_tlv(0x30, _CONTENT_TYPE_OID + der.encode_tlv(0x31, content_type_der))
    digest_attribute = der.encode_tlv(
        0x30, _MESSAGE_DIGEST_OID + der.encode_tlv(0x31, der.encode_tlv(0x04, message_digest))
    )
    return der.encode_tlv(0x31, b"".join(sorted((content_type_attribute, digest_attribute))))


def assemble_signed_data(
    content_type_der: bytes,
    content: bytes,
    digest_algorithm_der: bytes,
    certificates: Sequence[x509.Certificate],
    signer_info_der: bytes,
) -> cms.ContentInfo:
    """``ContentInfo { signedData, SignedData v3 { ... } }`` around one encoded SignerInfo.

    ``certificates [0]`` is always present, ``A0 00`` when empty, as Dogtag writes it.
    """
    encapsulated = der.encode_tlv(
        0x30, content_type_der + der.encode_tlv(0xA0, der.encode_tlv(0x04, content))
    )
    certificate_set = der.encode_tlv(0xA0, b"".join(sorted({c.dump() for c in certificates})))
    signed_data = der.encode_tlv(
        0x30,
        _VERSION_3
        + der.encode_tlv(0x31, digest_algorithm_der)
        + encapsulated
        + certificate_set
        + der.encode_tlv(0x31, signer_info_der),
    )
    content_info = der.encode_tlv(0x30, _SIGNED_DATA_OID + der.encode_tlv(0xA0, signed_data))
    return cms.ContentInfo.load(content_info)


_CONTENT_TYPE_OID = cms.CMSAttributeType("content_type").dump()
_MESSAGE_DIGEST_OID = cms.CMSAttributeType("message_digest").dump()
_SIGNED_DATA_OID = cms.ContentType("signed_data").dump()
_VERSION_3 = core.Integer(3).dump()


@dataclass(frozen=True)
class VerifiedSignedData:
    """A SignedData whose signature verified; ``content`` is the exact eContent octets that were signed."""

    content_type: str
    content: bytes
    signed_data: cms.SignedData
    signer_info: cms.SignerInfo
    signer_public_key: keys.PublicKeyInfo
    signer_certificate: x509.Certificate | None
    certificates: tuple[x509.Certificate, ...]
    trust_path: tuple[x509.Certificate, ...]
    """Signer certificate up to the trust anchor, when trust anchors were given; else empty."""


def load_content_info(data: bytes, what: str = "message") -> cms.ContentInfo:
    """Decode a CMS ContentInfo, strict DER (see :mod:`agent.cmc.der`).

    For a SignedData, the certificates are checked by ``cryptography``'s strict DER parser and
    everything else by re-encoding; re-encoding whole certificates with asn1crypto would cost more than
    the rest of the message put together.
    """
    der.check_der(data, what)
    try:
        content_info = cms.ContentInfo.load(data, strict=True)
        if content_info["content_type"].native != "signed_data":
            return der.load_der(cms.ContentInfo, data, what)
        signed = content_info["content"]
        for name, _spec, _params in signed._fields:
            field = signed[name]
            if name == "certificates":
                _check_certificates(field, what)
            elif name != "crls" or field.native is not None:
                original = field.dump()
                if field.dump(force=True) != original:
                    raise NonCanonicalEncoding(
                        f"{what} is not canonical DER: its {name} change when re-encoded"
                    )
    except CMCError:
        raise
    except Exception as exc:  # asn1crypto raises ValueError, TypeError and worse on hostile input
        raise MalformedMessage(f"{what} does not decode as a CMS ContentInfo: {exc}") from None
    return content_info


def _check_certificates(certificates: cms.CertificateSet, what: str) -> None:
    if certificates.native is None:
        return
    for choice in certificates:
        if choice.name != "certificate":
            original = choice.dump()
            if choice.dump(force=True) != original:
                raise NonCanonicalEncoding(f"{what}: a certificate-set entry is not canonical DER")
            continue
        try:
            chain.parse_certificate(choice.chosen.dump())  # strict DER, by an independent parser
        except Exception as exc:
            raise MalformedMessage(f"{what} carries a certificate that does not parse: {exc}") from None


def signed_data_of(content_info: cms.ContentInfo, what: str = "message") -> cms.SignedData:
    if content_info["content_type"].native != "signed_data":
        raise UnexpectedContentType(
            f"{what} is a CMS {content_info['content_type'].native}, not a SignedData"
        )
    signed: cms.SignedData = content_info["content"]
    return signed


def certificates_of(signed_data: cms.SignedData) -> tuple[x509.Certificate, ...]:
    """The X.509 certificates carried in a SignedData (other certificate formats are skipped)."""
    found = []
    for choice in signed_data["certificates"] or []:
        if choice.name == "certificate":
            found.append(choice.chosen)
    return tuple(found)


def verify_signed_data(
    content_info: cms.ContentInfo,
    *,
    expected_content_type: str,
    signer_public_key: keys.PublicKeyInfo | None = None,
    trusted_certificates: Sequence[x509.Certificate] | None = None,
    at: datetime.datetime | None = None,
    what: str = "message",
) -> VerifiedSignedData:
    """Verify a SignedData ContentInfo with exactly one signer; return what was signed.

    * ``expected_content_type``: the eContentType it must carry (``"pki_data"``, ``"pki_response"``).
    * The signer is found by issuerAndSerialNumber among the SignedData's certificates, or, for a
      subjectKeyIdentifier, matched against ``signer_public_key`` (the request's own key, in a
      shared-secret request; both the 20-byte key id and Dogtag's 22-byte CRMF form are accepted)
      or against the SKI extensions of the carried certificates.
    * ``trusted_certificates``: when given, the signer's certificate must chain to one of them.
    """
    signed = signed_data_of(content_info, what)
    try:
        return _verify(signed, expected_content_type, signer_public_key, trusted_certificates, at, what)
    except CMCError:
        raise
    except Exception as exc:  # a structure that decoded but is inconsistent in a way we did not foresee
        raise MalformedMessage(f"{what}: cannot verify the SignedData: {exc}") from None


def _verify(
    signed: cms.SignedData,
    expected_content_type: str,
    signer_public_key: keys.PublicKeyInfo | None,
    trusted: Sequence[x509.Certificate] | None,
    at: datetime.datetime | None,
    what: str,
) -> VerifiedSignedData:
    if signed["version"].native not in ("v3", "v4", "v5"):
        raise MalformedMessage(
            f"{what}: SignedData version {signed['version'].native} is not valid for {expected_content_type} "
            "content (RFC 5652 §5.1 requires 3 or more)"
        )
    encap = signed["encap_content_info"]
    content_type = encap["content_type"]
    if content_type.native != expected_content_type:
        raise UnexpectedContentType(
            f"{what} carries {content_type.native} content, expected {expected_content_type}"
        )
    if encap["content"].native is None:
        raise MalformedMessage(f"{what}: the SignedData has no encapsulated content")
    content: bytes = encap["content"].contents
    signer_infos = signed["signer_infos"]
    if len(signer_infos) != 1:
        raise MalformedMessage(f"{what} has {len(signer_infos)} signers; exactly one is supported")
    signer_info = signer_infos[0]
    expected_version = "v1" if signer_info["sid"].name == "issuer_and_serial_number" else "v3"
    if signer_info["version"].native != expected_version:
        raise MalformedMessage(
            f"{what}: SignerInfo version does not match its signer identifier (RFC 5652 §5.3)"
        )
    certificates = certificates_of(signed)

    digest_name = signer_info["digest_algorithm"]["algorithm"].native
    if digest_name not in algorithms.HASH_NAMES:
        raise SignatureInvalid(f"{what}: unsupported digest algorithm {digest_name}")
    listed = {d["algorithm"].native for d in signed["digest_algorithms"]}
    if digest_name not in listed:
        raise MalformedMessage(f"{what}: the signer's digest algorithm is not listed in the SignedData")

    signed_attrs = signer_info["signed_attrs"]
    if signed_attrs.native is None:
        raise SignatureInvalid(f"{what}: the signer has no signed attributes (required for CMC)")
    _check_signed_attributes(signed_attrs, content_type.dotted, algorithms.digest(digest_name, content), what)

    signer_certificate, public_key = _signer_key(signer_info["sid"], certificates, signer_public_key, what)
    verify_signature(
        public_key,
        signer_info["signature_algorithm"],
        signer_info["signature"].native,
        der.retag(signed_attrs, 0x31),
        default_hash=digest_name,
        what=f"{what} signature",
    )

    path: tuple[x509.Certificate, ...] = ()
    if trusted is not None:
        if signer_certificate is None:
            raise SignerNotFound(f"{what}: the signer has no certificate to check against the trusted CAs")
        path = tuple(chain.path_to_trust(signer_certificate, certificates, trusted, at=at))
    return VerifiedSignedData(
        content_type=content_type.dotted,
        content=content,
        signed_data=signed,
        signer_info=signer_info,
        signer_public_key=public_key,
        signer_certificate=signer_certificate,
        certificates=certificates,
        trust_path=path,
    )


def _check_signed_attributes(
    signed_attrs: cms.CMSAttributes, content_type: str, expected_digest: bytes, what: str
) -> None:
    content_types = [a for a in signed_attrs if a["type"].native == "content_type"]
    digests = [a for a in signed_attrs if a["type"].native == "message_digest"]
    if len(content_types) != 1 or len(content_types[0]["values"]) != 1:
        raise SignatureInvalid(f"{what}: signed attributes need exactly one content-type value")
    if content_types[0]["values"][0].dotted != content_type:
        raise SignatureInvalid(f"{what}: the signed content-type attribute does not match the content")
    if len(digests) != 1 or len(digests[0]["values"]) != 1:
        raise SignatureInvalid(f"{what}: signed attributes need exactly one message-digest value")
    if digests[0]["values"][0].native != expected_digest:
        raise SignatureInvalid(f"{what}: the message digest does not match the content (altered content)")


def _signer_key(
    sid: cms.SignerIdentifier,
    certificates: Sequence[x509.Certificate],
    signer_public_key: keys.PublicKeyInfo | None,
    what: str,
) -> tuple[x509.Certificate | None, keys.PublicKeyInfo]:
    if sid.name == "issuer_and_serial_number":
        issuer = sid.chosen["issuer"]
        serial = sid.chosen["serial_number"].native
        for certificate in certificates:
            if certificate.serial_number == serial and chain.same_name(certificate.issuer, issuer):
                return certificate, certificate.public_key
        raise SignerNotFound(
            f"{what}: the signer (issuer {issuer.human_friendly!r}, serial {serial}) is not among the "
            "certificates in the message"
        )
    identifier: bytes = sid.chosen.native
    if signer_public_key is not None:
        key_id = subject_key_identifier(signer_public_key)
        if identifier in (key_id, b"\x04\x14" + key_id):
            return None, signer_public_key
        raise SignerNotFound(f"{what}: the signer's key identifier does not name the request key")
    wanted = {identifier, identifier[2:]} if identifier[:2] == b"\x04\x14" else {identifier}
    for certificate in certificates:
        if certificate.key_identifier is not None and certificate.key_identifier in wanted:
            return certificate, certificate.public_key
    raise SignerNotFound(f"{what}: no certificate in the message has the signer's key identifier")


def unsigned_data(content: bytes) -> cms.ContentInfo:
    """``ContentInfo { id-data, OCTET STRING content }``: Dogtag's unsigned shared-secret revocation."""
    return cms.ContentInfo({"content_type": "data", "content": content})
