"""CMS SignedData as the Dogtag CA reads and writes it.

Reading: :func:`verify_signer_info` applies JSS's ``SignerInfo.verify`` rules (dogtag-cmc-server.md §4.4),
which are stricter in one place than a textbook verifier: for RSA the PKCS#1 block is compared with a
DigestInfo rebuilt from the **exact bytes** of ``SignerInfo.digestAlgorithm``, so a signer that writes
the digest identifier without NULL parameters fails.

Writing: :func:`signed_response` builds the Full PKI Response wrapper of §6.1 (SignedData version 3,
digest identifiers with NULL, NULL signature parameters even for ECDSA, the signer named by the CA
certificate's issuer and serial), and :func:`certs_only` the Simple PKI Response of §6.7.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from asn1crypto import algos, cms, core
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from agent.cmc import pkiresponse
from agent.cmc.der import encode_tlv
from agent.cmc.signeddata import sign_content
from agent.keyops import HashName, SoftwareKey, hash_algorithm

SUPPORTED_DIGESTS = ("sha1", "sha256", "sha384", "sha512")
"""The digests JSS's ``DigestAlgorithm.fromOID`` maps (MD2/MD5 left out on purpose)."""


class CMSCheckFailed(Exception):
    """A SignedData or SignerInfo does not verify under JSS's rules."""


def digest_name(algorithm: algos.DigestAlgorithm) -> str:
    try:
        name = algorithm["algorithm"].native
    except ValueError:
        name = None
    if name not in SUPPORTED_DIGESTS:
        raise CMSCheckFailed(f"unsupported digest algorithm {algorithm['algorithm'].dotted}")
    return str(name)


def content_digest(
    signed_data: cms.SignedData,
    signer_info: cms.SignerInfo,
    econtent: bytes,
    reencoded_content: Callable[[], bytes],
) -> bytes:
    """The digest a SignerInfo's messageDigest must equal (CMCAuth.verifySignerInfo).

    Dogtag digests the eContent octets with every algorithm listed in ``digestAlgorithms``; a SignerInfo
    whose digest algorithm is not listed gets the digest of the re-encoded PKIData instead.
    """
    listed = {digest_name(algorithm) for algorithm in signed_data["digest_algorithms"]}
    name = digest_name(signer_info["digest_algorithm"])
    data = econtent if name in listed else reencoded_content()
    return hashlib.new(name, data).digest()


def _attribute_value(signed_attrs: cms.CMSAttributes, attribute_name: str) -> core.Asn1Value | None:
    for attribute in signed_attrs:
        if attribute["type"].native == attribute_name:
            values = attribute["values"]
            return values[0] if len(values) else None
    return None


def verify_signer_info(
    signer_info: cms.SignerInfo,
    expected_digest: bytes,
    content_type: str,
    public_key_info: asn1_keys.PublicKeyInfo,
) -> None:
    """JSS ``SignerInfo.verify(digest, contentType, publicKey)``; raises :class:`CMSCheckFailed`."""
    signed_attrs = signer_info["signed_attrs"]
    if not isinstance(signed_attrs, cms.CMSAttributes) or len(signed_attrs) == 0:
        raise CMSCheckFailed("signed attributes are required when the content type is not id-data")
    content_type_value = _attribute_value(signed_attrs, "content_type")
    if content_type_value is None or content_type_value.dotted != content_type:
        raise CMSCheckFailed("the content-type signed attribute does not match the eContentType")
    message_digest = _attribute_value(signed_attrs, "message_digest")
    if message_digest is None or message_digest.native != expected_digest:
        raise CMSCheckFailed("the message-digest signed attribute does not match the content")
    signed_bytes = signed_attrs.untag().dump(force=True)
    hash_name = digest_name(signer_info["digest_algorithm"])
    signature = signer_info["signature"].native
    try:
        public_key = serialization.load_der_public_key(public_key_info.dump())
    except ValueError as exc:
        raise CMSCheckFailed(f"the signer's public key cannot be used: {exc}") from None
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            recovered = public_key.recover_data_from_signature(signature, padding.PKCS1v15(), None)
            digest_info = encode_tlv(
                0x30,
                signer_info["digest_algorithm"].dump()
                + core.OctetString(hashlib.new(hash_name, signed_bytes).digest()).dump(),
            )
            if recovered != digest_info:
                raise CMSCheckFailed(
                    "RSA signature does not match DigestInfo built from SignerInfo.digestAlgorithm"
                )
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, signed_bytes, ec.ECDSA(hash_algorithm(hash_name)))
        else:
            raise CMSCheckFailed("unsupported signer key type")
    except InvalidSignature:
        raise CMSCheckFailed("signature does not verify") from None
    except ValueError as exc:
        raise CMSCheckFailed(f"signature cannot be checked: {exc}") from None


def find_certificate(
    signed_data: cms.SignedData, issuer_and_serial: cms.IssuerAndSerialNumber
) -> asn1_x509.Certificate | None:
    """The certificate in ``SignedData.certificates`` named by issuer DN bytes and serial (as JSS matches)."""
    certificates = signed_data["certificates"]
    if not isinstance(certificates, cms.CertificateSet):
        return None
    wanted_issuer = issuer_and_serial["issuer"].dump()
    wanted_serial = issuer_and_serial["serial_number"].native
    found = None
    for choice in certificates:
        if choice.name != "certificate":
            continue
        certificate = choice.chosen
        if certificate.issuer.dump() == wanted_issuer and certificate.serial_number == wanted_serial:
            found = certificate
    return found


# --- building ------------------------------------------------------------------------------------------


def _unique(certificates: list[asn1_x509.Certificate]) -> list[asn1_x509.Certificate]:
    """Dogtag's tools refuse a certificate set with duplicates (Cert.sortCertificateChain)."""
    unique: dict[bytes, asn1_x509.Certificate] = {}
    for certificate in certificates:
        unique.setdefault(certificate.dump(), certificate)
    return list(unique.values())


def signed_response(
    *,
    econtent_type: str,
    econtent: bytes,
    certificates: list[asn1_x509.Certificate],
    signer_certificate: asn1_x509.Certificate,
    signer: SoftwareKey,
    hash_name: HashName = "sha256",
) -> cms.ContentInfo:
    """A ContentInfo{SignedData} over ``econtent``, laid out as Dogtag's getContentInfo writes it.

    The layout rules are those of the agent's generic builder, which the CA shares: version 3, digest
    identifiers with NULL, issuerAndSerialNumber of the signing certificate, NULL signature parameters
    also for ECDSA, signed attributes contentType and messageDigest.
    """
    return sign_content(
        econtent,
        econtent_type,
        signer,
        certificate=signer_certificate,
        certificates=_unique(certificates),
        hash_name=hash_name,
    )


def certs_only(certificates: list[asn1_x509.Certificate]) -> cms.ContentInfo:
    """Dogtag's Simple PKI Response: SignedData version 3, no digests, id-data without content, no signers."""
    return pkiresponse.simple_response(_unique(certificates))
