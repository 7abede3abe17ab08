"""Signing certificates and CRLs with the CA key.

Certificates are assembled with asn1crypto rather than ``cryptography``'s builder so that the subject
and public key of a request are copied byte for byte (string types included), as Dogtag copies them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from asn1crypto import algos as asn1_algos
from asn1crypto import core as asn1_core
from asn1crypto import crl as asn1_crl
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509

from agent.keyops import SoftwareKey

_UTC_TIME_LIMIT = datetime(2050, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class CertificateContent:
    """Everything a profile decides about a certificate; the issuer adds serial, issuer and signature."""

    subject: asn1_x509.Name
    public_key_info: asn1_keys.PublicKeyInfo
    not_before: datetime
    not_after: datetime
    extensions: list[asn1_x509.Extension] = field(default_factory=list)


def x509_time(moment: datetime) -> asn1_x509.Time:
    """UTCTime before 2050, GeneralizedTime from then on (RFC 5280 §4.1.2.5)."""
    moment = moment.astimezone(UTC).replace(microsecond=0)
    if moment < _UTC_TIME_LIMIT:
        return asn1_x509.Time(name="utc_time", value=moment)
    return asn1_x509.Time(name="general_time", value=moment)


def signature_algorithm(signer: SoftwareKey) -> asn1_algos.SignedDigestAlgorithm:
    """The CA's default signing algorithm: SHA256withRSA (NULL parameters) or SHA256withEC (none)."""
    if signer.key_algorithm == "rsa":
        return asn1_algos.SignedDigestAlgorithm({"algorithm": "sha256_rsa", "parameters": asn1_core.Null()})
    return asn1_algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"})


def sign_certificate(
    *,
    serial: int,
    issuer: asn1_x509.Name,
    content: CertificateContent,
    signer: SoftwareKey,
) -> asn1_x509.Certificate:
    algorithm = signature_algorithm(signer)
    fields: dict[str, object] = {
        "version": "v3",
        "serial_number": serial,
        "signature": algorithm,
        "issuer": issuer,
        "validity": {"not_before": x509_time(content.not_before), "not_after": x509_time(content.not_after)},
        "subject": content.subject,
        "subject_public_key_info": content.public_key_info,
    }
    if content.extensions:
        fields["extensions"] = content.extensions
    tbs = asn1_x509.TbsCertificate(fields)
    signature = signer.sign(tbs.dump(), "sha256")
    return asn1_x509.Certificate(
        {"tbs_certificate": tbs, "signature_algorithm": algorithm, "signature_value": signature}
    )


@dataclass(frozen=True)
class RevokedEntry:
    serial: int
    revoked_at: datetime
    reason: int | None
    invalidity_date: datetime | None


_CRL_REASONS = {
    0: "unspecified",
    1: "key_compromise",
    2: "ca_compromise",
    3: "affiliation_changed",
    4: "superseded",
    5: "cessation_of_operation",
    6: "certificate_hold",
    8: "remove_from_crl",
    9: "privilege_withdrawn",
    10: "aa_compromise",
}


def sign_crl(
    *,
    issuer_certificate: asn1_x509.Certificate,
    signer: SoftwareKey,
    entries: list[RevokedEntry],
    this_update: datetime,
    next_update: datetime,
    crl_number: int,
) -> asn1_crl.CertificateList:
    """A full CRL of every revoked certificate (Dogtag's MasterCRL)."""
    algorithm = signature_algorithm(signer)
    revoked = []
    for entry in entries:
        entry_extensions = []
        if entry.reason is not None and entry.reason in _CRL_REASONS:
            entry_extensions.append(
                {"extn_id": "crl_reason", "critical": False, "extn_value": _CRL_REASONS[entry.reason]}
            )
        if entry.invalidity_date is not None:
            entry_extensions.append(
                {"extn_id": "invalidity_date", "critical": False, "extn_value": entry.invalidity_date}
            )
        revoked.append(
            {
                "user_certificate": entry.serial,
                "revocation_date": x509_time(entry.revoked_at),
                "crl_entry_extensions": entry_extensions or None,
            }
        )
    identifier = issuer_certificate.key_identifier
    crl_extensions: list[dict[str, object]] = [
        {"extn_id": "crl_number", "critical": False, "extn_value": crl_number}
    ]
    if identifier:
        crl_extensions.append(
            {
                "extn_id": "authority_key_identifier",
                "critical": False,
                "extn_value": {"key_identifier": identifier},
            }
        )
    tbs = asn1_crl.TbsCertList(
        {
            "version": "v2",
            "signature": algorithm,
            "issuer": issuer_certificate.subject,
            "this_update": x509_time(this_update),
            "next_update": x509_time(next_update),
            "revoked_certificates": revoked or None,
            "crl_extensions": crl_extensions,
        }
    )
    signature = signer.sign(tbs.dump(), "sha256")
    return asn1_crl.CertificateList(
        {"tbs_cert_list": tbs, "signature_algorithm": algorithm, "signature": signature}
    )
