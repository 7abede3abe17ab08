"""Profile defaults (what goes into the certificate) and constraints (what is refused), Dogtag's order.

Dogtag runs a profile's defaults when it populates a request (a failure there is a badRequest with the
default's text) and its constraints when the request is submitted (a failure there is a rejection,
reported as ``Request <reason> Rejected - {1}``). The reason texts below are Dogtag's, including the
ones where a ``{0}`` placeholder is left unfilled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509

from localca import extensions
from localca.issuer import CertificateContent
from localca.names import dn_string, name_from_dn_string
from localca.profiles import Profile
from localca.store import Store, utc_now

EC_CURVE_NAMES = {
    "secp256r1": ("nistp256", "secp256r1", "prime256v1"),
    "secp384r1": ("nistp384", "secp384r1"),
    "secp521r1": ("nistp521", "secp521r1"),
}


class DefaultFailed(Exception):
    """A profile default could not compute its value (Dogtag: EProfileException in populate)."""


class Rejected(Exception):
    """A profile constraint refused the request (Dogtag: ERejectException). The text is the reason."""


@dataclass(frozen=True)
class EnrollmentFacts:
    """What authentication and the request tell the profile."""

    requested_subject: asn1_x509.Name | None
    public_key_info: asn1_keys.PublicKeyInfo
    signing_cert_serial: int | None = None
    """CMCUserSignedAuth's ``cmcSigningCert``."""
    authenticated_name: str | None = None
    """``AUTHENTICATED_NAME``: signer subject (user-signed) or shared-token entry DN."""
    shared_token_subject: str | None = None
    """``TOKEN_SHARED_TOKEN_AUTHENTICATED_CERT_SUBJECT``: set only by a verified identityProofV2."""


@dataclass(frozen=True)
class IssuerFacts:
    """What the defaults need to know about the CA."""

    certificate: asn1_x509.Certificate
    ocsp_url: str


def _signer_subject(store: Store, serial: int | None) -> asn1_x509.Name:
    method = "EnrollProfile: getCMCSigningCertFromCertSerial: "
    record = store.get_certificate(serial) if serial is not None else None
    if record is None:
        raise DefaultFailed(f"java.lang.Exception: {method}signing user cert not found: serial={serial}")
    subject: asn1_x509.Name = asn1_x509.Certificate.load(record.der).subject
    return subject


def subject_for(profile: Profile, facts: EnrollmentFacts, store: Store) -> asn1_x509.Name:
    """The subject default of the profile."""
    if profile.subject_default == "cmcSigner":
        if facts.signing_cert_serial is None:
            raise DefaultFailed(
                "CMCUserSignedSubjectNameDefault: populate: "
                "signing user serial not found; request was unsigned?"
            )
        return _signer_subject(store, facts.signing_cert_serial)
    if profile.subject_default == "authToken":
        if not facts.authenticated_name:
            raise DefaultFailed("Subject Name Not Found")
        try:
            return name_from_dn_string(facts.authenticated_name)
        except ValueError:
            raise DefaultFailed("Subject Name Not Found") from None
    if facts.requested_subject is None:
        raise DefaultFailed("Subject Name Not Found")
    return facts.requested_subject


def _validity(profile: Profile, issuer: IssuerFacts) -> tuple[datetime, datetime]:
    not_before = utc_now()
    not_after = not_before + timedelta(days=profile.validity_default_days)
    ca_not_after = issuer.certificate["tbs_certificate"]["validity"]["not_after"].native
    # Dogtag never issues past its own expiry (ca.enablePastCATime=false).
    return not_before, min(not_after, ca_not_after)


def populate(
    profile: Profile, facts: EnrollmentFacts, issuer: IssuerFacts, store: Store
) -> CertificateContent:
    """Run the profile's defaults: the certificate the request would get."""
    subject = subject_for(profile, facts, store)
    not_before, not_after = _validity(profile, issuer)
    extension_list: list[asn1_x509.Extension] = []
    if profile.authority_key_identifier:
        extension_list.append(extensions.authority_key_identifier(issuer.certificate))
    if profile.authority_info_access:
        extension_list.append(
            extensions.authority_info_access_ocsp(profile.authority_info_access_location or issuer.ocsp_url)
        )
    if profile.basic_constraints is not None:
        spec = profile.basic_constraints
        extension_list.append(extensions.basic_constraints(spec.ca, spec.path_length, spec.critical))
    if profile.key_usage is not None:
        extension_list.append(extensions.key_usage(profile.key_usage.usages, profile.key_usage.critical))
    if profile.extended_key_usage:
        extension_list.append(
            extensions.extended_key_usage(profile.extended_key_usage, profile.extended_key_usage_critical)
        )
    if profile.ocsp_no_check:
        extension_list.append(extensions.ocsp_no_check())
    if profile.subject_key_identifier:
        extension_list.append(extensions.subject_key_identifier(facts.public_key_info))
    if profile.common_name_to_san:
        dns_names = [cn for cn in extensions.common_names(subject)[:1] if extensions.is_dns_name(cn)]
        if dns_names:
            extension_list.append(extensions.subject_alt_name(dns_names))
    return CertificateContent(
        subject=subject,
        public_key_info=facts.public_key_info,
        not_before=not_before,
        not_after=not_after,
        extensions=extension_list,
    )


# --- constraints ---------------------------------------------------------------------------------------


def _check_subject(
    profile: Profile, content: CertificateContent, facts: EnrollmentFacts, store: Store
) -> None:
    subject_text = dn_string(content.subject)
    if profile.subject_constraint == "pattern":
        if re.fullmatch(profile.subject_pattern, subject_text) is None:
            raise Rejected(f"Subject Name Not Matched {subject_text}")
    elif profile.subject_constraint == "cmcSigner":
        method = "CMCUserSignedSubjectNameConstraint: "
        if facts.signing_cert_serial is None:
            raise Rejected(f"Subject Name Not Matched {{0}}java.lang.Exception: {method}certSerial null")
        try:
            signer_subject = _signer_subject(store, facts.signing_cert_serial)
        except DefaultFailed as exc:
            raise Rejected(f"Subject Name Not Matched {{0}}{exc}") from None
        if signer_subject != content.subject:
            raise Rejected(f"Subject Name Not Matched {{0}}java.lang.Exception: {method}names do not match")
    elif profile.subject_constraint == "sharedToken":
        method = "CMCSharedTokenSubjectNameConstraint: "
        if facts.shared_token_subject is None:
            raise Rejected(
                f"Subject Name Not Matched {{0}}java.lang.Exception: {method}authTokenSharedTokenSN null"
            )
        if not _same_dn(content.subject, facts.shared_token_subject):
            raise Rejected(
                f"Subject Name Not Matched {{0}}java.lang.Exception: {method}names do not match; "
                f"authTokenSharedTokenSN ={facts.shared_token_subject}"
            )


def _same_dn(subject: asn1_x509.Name, dn_text: str) -> bool:
    """Dogtag compares X500Name.getName() with the entry DN ignoring case; the name it built from that
    very string prints back the same, so compare the names themselves (case-insensitively)."""
    try:
        return bool(name_from_dn_string(dn_text) == subject)
    except ValueError:
        return dn_string(subject).lower() == dn_text.lower()


def _check_validity(profile: Profile, content: CertificateContent) -> None:
    days = (content.not_after - content.not_before).total_seconds() / 86400
    if days > profile.validity_max_days + 1e-6:
        raise Rejected(
            f"Validity Out of Range: {content.not_after} is after the {profile.validity_max_days}-day limit"
        )


def _check_key(profile: Profile, public_key_info: asn1_keys.PublicKeyInfo) -> None:
    algorithm = public_key_info.algorithm.upper()
    configured_type = profile.key_type
    parameters = ",".join(profile.key_parameters)
    if configured_type != "-" and algorithm != configured_type:
        raise Rejected(f"Key Type {configured_type} Not Matched")
    if algorithm == "RSA":
        if str(public_key_info.bit_size) not in profile.key_parameters:
            raise Rejected(f"Key Parameters {parameters} Not Matched")
    elif algorithm == "EC":
        curve = public_key_info.curve[1] if public_key_info.curve[0] == "named" else ""
        names = EC_CURVE_NAMES.get(curve, ())
        if configured_type != "-" and not any(name in profile.key_parameters for name in names):
            raise Rejected(f"Key Parameters {parameters} Not Matched")
    else:
        raise Rejected(f"Invalid Key Type {algorithm}")


@dataclass(frozen=True)
class RenewalFacts:
    original_not_after: datetime | None


def _check_unique_key(profile: Profile, content: CertificateContent, store: Store) -> RenewalFacts:
    message = f": allowSameKeyRenewal={'true' if profile.allow_same_key_renewal else 'false'};"
    existing = store.certificates_with_public_key(content.public_key_info.dump())
    if not existing:
        return RenewalFacts(None)
    if not profile.allow_same_key_renewal:
        raise Rejected(message + "found existing cert with same key;")
    latest: datetime | None = None
    for record in existing:
        message += f"existing cert with same key found: {record.serial};"
        if record.status == "REVOKED":
            raise Rejected(message + "revoked cert cannot be renewed;")
        original = asn1_x509.Certificate.load(record.der)
        if original.subject != content.subject:
            raise Rejected(message + "subject name not match in same key renewal;")
        not_after = original["tbs_certificate"]["validity"]["not_after"].native
        latest = not_after if latest is None or not_after > latest else latest
    return RenewalFacts(latest)


def _check_renewal_grace(profile: Profile, renewal: RenewalFacts) -> None:
    if renewal.original_not_after is None:
        return
    before = profile.renewal_grace_before_days
    after = profile.renewal_grace_after_days
    remaining = renewal.original_not_after - utc_now()
    before_text = "" if before is None else str(before)
    after_text = "" if after is None else str(after)
    text = f"{before_text} days before and {after_text} days after original cert expiration date"
    if remaining >= timedelta(0):
        if before is not None and before > 0 and remaining > timedelta(days=before):
            raise Rejected(f"Outside of Renewal Grace Period: {text}")
    elif after is not None and after > 0 and -remaining > timedelta(days=after):
        raise Rejected(f"Outside of Renewal Grace Period: {text}")


def validate(profile: Profile, content: CertificateContent, facts: EnrollmentFacts, store: Store) -> None:
    """Run the profile's constraints in the order Dogtag's profiles list them."""
    _check_subject(profile, content, facts, store)
    _check_validity(profile, content)
    _check_key(profile, content.public_key_info)
    if profile.unique_key:
        renewal = _check_unique_key(profile, content, store)
        _check_renewal_grace(profile, renewal)
