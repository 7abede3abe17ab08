"""CA users (agents): registering a certificate, issued here or by another CA, as a CA user.

Dogtag's CI makes its admin certificate an agent; a deployment may do the same with a certificate from
another CA. A certificate from another CA is registered together with its issuer's certificate, which
then joins the CAs that TLS client certificates are verified against (``DIR/client-issuers.pem``):
the certificate must verify under that issuer, which must be a CA, and both must be valid now.
"""

from __future__ import annotations

from datetime import UTC, datetime

from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509 as crypto_x509
from cryptography.exceptions import InvalidSignature

from localca.authority import CertificateAuthority
from localca.cadir import write_file_atomically
from localca.names import dn_string
from localca.recognition import issued_here


class AgentRegistrationError(Exception):
    """The certificate cannot be registered as a CA user; the text says why and what to give instead."""


def agent_description(certificate: asn1_x509.Certificate) -> str:
    """``UGSubsystem.getCertificateString``: how Dogtag's user entries name their certificate."""
    version = int(certificate["tbs_certificate"]["version"].native.lstrip("v")) + 1
    return (
        f"{version};{certificate.serial_number};"
        f"{dn_string(certificate.issuer)};{dn_string(certificate.subject)}"
    )


def register_agent(
    ca: CertificateAuthority, certificate: asn1_x509.Certificate, *, in_agent_group: bool
) -> None:
    ca.store.add_agent(
        serial=certificate.serial_number,
        issuer=dn_string(certificate.issuer),
        subject=dn_string(certificate.subject),
        description=agent_description(certificate),
        der=certificate.dump(),
        in_agent_group=in_agent_group,
    )


def _valid_now(certificate: crypto_x509.Certificate) -> bool:
    now = datetime.now(UTC)
    return certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc


def _is_ca(certificate: crypto_x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(crypto_x509.BasicConstraints).value
    except crypto_x509.ExtensionNotFound:
        return False
    return bool(constraints.ca)


def register_existing_certificate(
    ca: CertificateAuthority,
    certificate_der: bytes,
    issuer_der: bytes | None,
    *,
    in_agent_group: bool,
) -> asn1_x509.Certificate:
    """``agent add --cert [--issuer-cert]``: check the certificate, trust its issuer for TLS, register it."""
    try:
        crypto_certificate = crypto_x509.load_der_x509_certificate(certificate_der)
        certificate = asn1_x509.Certificate.load(certificate_der)
    except ValueError as exc:
        raise AgentRegistrationError(f"not an X.509 certificate: {exc}") from None
    if not _valid_now(crypto_certificate):
        raise AgentRegistrationError("the certificate is not valid now (see its notBefore/notAfter)")
    if issuer_der is None:
        if not issued_here(ca, certificate):
            raise AgentRegistrationError(
                "the certificate was not issued by this CA; give its issuer's certificate with --issuer-cert"
            )
        register_agent(ca, certificate, in_agent_group=in_agent_group)
        return certificate
    try:
        issuer = crypto_x509.load_der_x509_certificate(issuer_der)
    except ValueError as exc:
        raise AgentRegistrationError(f"--issuer-cert is not an X.509 certificate: {exc}") from None
    if not _is_ca(issuer):
        raise AgentRegistrationError("--issuer-cert is not a CA certificate (no basicConstraints CA:TRUE)")
    if not _valid_now(issuer):
        raise AgentRegistrationError("--issuer-cert is not valid now (see its notBefore/notAfter)")
    try:
        crypto_certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        raise AgentRegistrationError(
            "the certificate was not issued by --issuer-cert (names or signature do not match)"
        ) from None
    _trust_client_issuer(ca, issuer)
    register_agent(ca, certificate, in_agent_group=in_agent_group)
    return certificate


def _trust_client_issuer(ca: CertificateAuthority, issuer: crypto_x509.Certificate) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    path = ca.directory.client_issuers
    existing = path.read_bytes() if path.exists() else b""
    issuer_der = issuer.public_bytes(Encoding.DER)
    known = [der for _, _, der in pem.unarmor(existing, multiple=True)] if existing else []
    if issuer_der in known:
        return
    write_file_atomically(path, existing + pem.armor("CERTIFICATE", issuer_der))
