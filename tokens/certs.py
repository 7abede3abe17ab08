"""Certificates on a device: import bound to their key by CKA_ID, list, find.

Importing is all or nothing: every object this call creates is destroyed again if any step fails, so a
chain is never half-imported. The end-entity certificate gets the key's CKA_ID and the given label (its
NSS nickname); CA certificates of the chain are stored too (labelled by subject) unless already present.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from asn1crypto import cms as asn1_cms
from asn1crypto import keys as asn1_keys
from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509
from pkcs11 import Attribute, CertificateType, ObjectClass
from pkcs11 import exceptions as p11x

from tokens.device import OpenToken, translate
from tokens.errors import CertificateMismatch, InvalidCertificate, ObjectExists
from tokens.keys import nss_key_id
from tokens.uri import Pkcs11Uri

log = logging.getLogger(__name__)


def read_certificates(data: bytes) -> list[asn1_x509.Certificate]:
    """Certificates from PEM (any number of CERTIFICATE or PKCS7 blocks), DER, or a DER PKCS#7 chain."""
    blobs: list[tuple[str, bytes]] = []
    if asn1_pem.detect(data):
        try:
            for kind, _, der in asn1_pem.unarmor(data, multiple=True):
                blobs.append((kind, der))
        except ValueError as exc:
            raise InvalidCertificate(f"bad PEM: {exc}") from None
    else:
        blobs.append(("", data))
    certs: list[asn1_x509.Certificate] = []
    for kind, der in blobs:
        certs.extend(_from_der(kind, der))
    if not certs:
        raise InvalidCertificate("no certificate found in the input")
    return certs


def _from_der(kind: str, der: bytes) -> list[asn1_x509.Certificate]:
    if kind in ("CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"):
        return [_load_cert(der)]
    if kind and kind not in ("PKCS7", "CMS", "CERTIFICATE CHAIN"):
        raise InvalidCertificate(f"a PEM block of type {kind!r} is not a certificate or PKCS#7 chain")
    try:
        info = asn1_cms.ContentInfo.load(der, strict=True)
        if info["content_type"].native == "signed_data":
            return [c.chosen for c in info["content"]["certificates"] if c.name == "certificate"]
    except (ValueError, TypeError, KeyError):
        pass
    return [_load_cert(der)]


def _load_cert(der: bytes) -> asn1_x509.Certificate:
    try:
        cert = asn1_x509.Certificate.load(der, strict=True)
        cert.native  # noqa: B018 - parse every field now, not later in the middle of an import
    except (ValueError, TypeError) as exc:
        raise InvalidCertificate(f"not a certificate: {exc}") from None
    return cert


def order_chain(certs: list[asn1_x509.Certificate]) -> list[asn1_x509.Certificate]:
    """Leaf first, then each issuer; the leaf is the certificate that issued none of the others."""
    unique = list({c.dump(): c for c in certs}.values())
    subjects = {c.subject.dump() for c in unique}
    issuers_in_set = {c.issuer.dump() for c in unique if c.issuer.dump() != c.subject.dump()}
    leaves = [c for c in unique if c.subject.dump() not in issuers_in_set]
    if len(leaves) != 1:
        if len(unique) == 1:
            return unique
        raise InvalidCertificate(f"the input holds {len(leaves)} end-entity certificates; give one chain")
    chain = [leaves[0]]
    by_subject = {c.subject.dump(): c for c in unique}
    while chain[-1].issuer.dump() != chain[-1].subject.dump() and chain[-1].issuer.dump() in subjects:
        nxt = by_subject[chain[-1].issuer.dump()]
        if nxt in chain:
            break
        chain.append(nxt)
    return chain


def _cert_template(cert: asn1_x509.Certificate, label: str, key_id: bytes | None) -> dict[Any, Any]:
    template = {
        Attribute.CLASS: ObjectClass.CERTIFICATE,
        Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
        Attribute.TOKEN: True,
        Attribute.PRIVATE: False,
        Attribute.LABEL: label,
        Attribute.SUBJECT: cert.subject.dump(),
        Attribute.ISSUER: cert.issuer.dump(),
        Attribute.SERIAL_NUMBER: cert["tbs_certificate"]["serial_number"].dump(),
        Attribute.VALUE: cert.dump(),
    }
    if key_id is not None:
        template[Attribute.ID] = key_id
    return template


def _existing(session: Any, cert: asn1_x509.Certificate) -> list[Any]:
    return list(session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.VALUE: cert.dump()}))


def _ca_label(cert: asn1_x509.Certificate) -> str:
    return str(cert.subject.native.get("common_name") or cert.subject.human_friendly)


@dataclass(frozen=True)
class ImportResult:
    label: str
    key_id: bytes
    uri: Pkcs11Uri
    chain_labels: tuple[str, ...]


def import_certificate(
    token: OpenToken, label: str, data: bytes, *, include_chain: bool = True, require_key: bool = True
) -> ImportResult:
    """Import the end-entity certificate in ``data`` (and its CA chain) onto the token, atomically."""
    chain = order_chain(read_certificates(data))
    leaf = chain[0]
    key_id = nss_key_id(leaf.public_key)
    session = token.session()
    created: list[Any] = []
    try:
        key_template = {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.ID: key_id}
        has_key = bool(list(session.get_objects(key_template)))  # a search must run to its end
        if require_key and not has_key:
            raise CertificateMismatch(
                f"no private key on token {token.label!r} matches the certificate for "
                f"{leaf.subject.human_friendly!r} (key id {key_id.hex()}); "
                "import it on the token that holds its key"
            )
        if _existing(session, leaf):
            raise ObjectExists(f"token {token.label!r} already holds this certificate")
        taken = list(session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.LABEL: label}))
        if taken:
            raise ObjectExists(f"token {token.label!r} already has a certificate labelled {label!r}")
        created.append(session.create_object(_cert_template(leaf, label, key_id)))
        chain_labels = []
        if include_chain:
            for ca_cert in chain[1:]:
                if _existing(session, ca_cert):
                    continue
                ca_label = _ca_label(ca_cert)
                created.append(session.create_object(_cert_template(ca_cert, ca_label, None)))
                chain_labels.append(ca_label)
        if has_key:
            _label_key_if_unlabelled(session, key_id, label)
    except p11x.PKCS11Error as exc:
        _roll_back(created, token.label)
        raise translate(exc, "importing the certificate", token.label) from None
    except Exception:
        _roll_back(created, token.label)
        raise
    return ImportResult(
        label, key_id, token.uri.with_(object=label, id=key_id, type="cert"), tuple(chain_labels)
    )


def _label_key_if_unlabelled(session: Any, key_id: bytes, label: str) -> None:
    """Give the key pair the certificate's nickname if it has no label, as NSS shows keys by nickname."""
    for object_class in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY):
        for key in list(session.get_objects({Attribute.CLASS: object_class, Attribute.ID: key_id})):
            try:
                if not key[Attribute.LABEL]:
                    key[Attribute.LABEL] = label
            except p11x.PKCS11Error:
                log.debug("could not label key %s", key_id.hex())


def _roll_back(created: list[Any], token_label: str) -> None:
    for obj in reversed(created):
        try:
            obj.destroy()
        except p11x.PKCS11Error:
            log.error("could not remove a partly imported certificate from token %s", token_label)


@dataclass(frozen=True)
class CertListing:
    uri: Pkcs11Uri
    label: str | None
    key_id: bytes | None
    subject: str
    issuer: str
    serial: int
    not_after: str
    certificate: asn1_x509.Certificate

    def as_json(self) -> dict[str, object]:
        return {
            "uri": str(self.uri),
            "label": self.label,
            "id": self.key_id.hex() if self.key_id else None,
            "subject": self.subject,
            "issuer": self.issuer,
            "serial": self.serial,
            "not_after": self.not_after,
        }


def list_certificates(
    token: OpenToken, *, label: str | None = None, key_id: bytes | None = None, subject: str | None = None
) -> Iterator[CertListing]:
    """Certificates on the token, optionally only those with a label, id or subject (RFC 4514 text)."""
    template: dict[Any, Any] = {Attribute.CLASS: ObjectClass.CERTIFICATE}
    if label is not None:
        template[Attribute.LABEL] = label
    if key_id is not None:
        template[Attribute.ID] = key_id
    session = token.session()
    try:
        objects = list(session.get_objects(template))
        for obj in objects:
            try:
                cert = asn1_x509.Certificate.load(bytes(obj[Attribute.VALUE]))
                serial, not_after = int(cert.serial_number), cert.not_valid_after.isoformat()
            except (ValueError, TypeError):
                log.warning("token %s holds a certificate object that does not parse; skipped", token.label)
                continue
            subject_text, issuer_text = _names(cert)
            if subject is not None and subject not in (subject_text, cert.subject.human_friendly):
                continue
            obj_id = bytes(obj[Attribute.ID]) or None
            obj_label = obj[Attribute.LABEL] or None
            yield CertListing(
                uri=token.uri.with_(object=obj_label, id=obj_id, type="cert"),
                label=obj_label,
                key_id=obj_id,
                subject=subject_text,
                issuer=issuer_text,
                serial=serial,
                not_after=not_after,
                certificate=cert,
            )
    except p11x.PKCS11Error as exc:
        raise translate(exc, "listing certificates", token.label) from None


def _names(cert: asn1_x509.Certificate) -> tuple[str, str]:
    """Subject and issuer as RFC 4514 strings (what users type with --subject and see in openssl)."""
    from cryptography import x509

    try:
        parsed = x509.load_der_x509_certificate(cert.dump())
        return parsed.subject.rfc4514_string(), parsed.issuer.rfc4514_string()
    except ValueError:
        return "(unreadable certificate)", "(unreadable certificate)"


def public_key_from_certificate_object(session: Any, key_id: bytes) -> asn1_keys.PublicKeyInfo | None:
    """The public key of the certificate with this CKA_ID, if the token holds one."""
    found = list(session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.ID: key_id}))
    return asn1_x509.Certificate.load(bytes(found[0][Attribute.VALUE])).public_key if found else None
