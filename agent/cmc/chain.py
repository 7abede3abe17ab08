"""Certificate paths: is a signer's certificate issued, transitively, by a CA we trust? And in what
order do a response's certificates form a chain (leaf first)?

Signatures are checked with ``cryptography``; names are compared as asn1crypto normalises them
(RFC 5280 §7.1 string preparation), so a PrintableString issuer matches a UTF8String subject.
"""

from __future__ import annotations

import datetime
import warnings
from collections.abc import Iterable, Sequence
from functools import lru_cache

from asn1crypto import x509
from cryptography import x509 as crypto_x509
from cryptography.exceptions import InvalidSignature

from agent.cmc.errors import UntrustedSigner

MAX_PATH_LENGTH = 10
CLOCK_SKEW = datetime.timedelta(minutes=5)
"""How far before its notBefore a certificate is accepted. A CA sets notBefore to its own "now" (Dogtag
does), so a freshly issued certificate would otherwise be refused by any client whose clock is behind."""


@lru_cache(maxsize=256)
def parse_certificate(data: bytes) -> crypto_x509.Certificate:
    """``cryptography``'s strict-DER parse of a certificate (cached by encoding)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. a non-positive serial: judged below, not warned about
        return crypto_x509.load_der_x509_certificate(data)


@lru_cache(maxsize=1024)
def _verifies(certificate_der: bytes, issuer_der: bytes) -> bool:
    try:
        parse_certificate(certificate_der).verify_directly_issued_by(parse_certificate(issuer_der))
    except (ValueError, TypeError, InvalidSignature, crypto_x509.InvalidVersion):
        return False
    return True


def same_name(a: x509.Name, b: x509.Name) -> bool:
    """Name equality as RFC 5280 §7.1 compares names; identical encodings short-cut the string prep."""
    return bool(a.dump() == b.dump() or a == b)


def is_issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when ``issuer``'s subject names ``certificate``'s issuer and its key verifies the signature.

    Results are cached by the two encodings: a response's few certificates are compared many times.
    """
    try:
        if not same_name(certificate.issuer, issuer.subject):
            return False
        return _verifies(certificate.dump(), issuer.dump())
    except (ValueError, TypeError):
        return False


def is_self_issued(certificate: x509.Certificate) -> bool:
    return same_name(certificate.issuer, certificate.subject)


def is_ca_certificate(certificate: x509.Certificate) -> bool:
    """The certificate says it belongs to a CA: basicConstraints with cA TRUE."""
    constraints = certificate.basic_constraints_value
    return constraints is not None and bool(constraints["ca"].native)


def _may_issue(certificate: x509.Certificate) -> bool:
    """May sign certificates (RFC 5280 §6.1.4 (k), (n)): a CA certificate, or a version 1 certificate
    (which cannot say), whose key usage, if any, includes keyCertSign."""
    if certificate.basic_constraints_value is None:
        if certificate["tbs_certificate"]["version"].native != "v1":
            return False
    elif not is_ca_certificate(certificate):
        return False
    usage = certificate.key_usage_value
    return usage is None or "key_cert_sign" in usage.native


def _valid_at(certificate: x509.Certificate, when: datetime.datetime) -> bool:
    validity = certificate["tbs_certificate"]["validity"]
    return bool(validity["not_before"].native - CLOCK_SKEW <= when <= validity["not_after"].native)


def path_to_trust(
    leaf: x509.Certificate,
    intermediates: Iterable[x509.Certificate],
    trusted: Sequence[x509.Certificate],
    *,
    at: datetime.datetime | None = None,
) -> list[x509.Certificate]:
    """A path from ``leaf`` to one of ``trusted`` (both ends included), or :class:`UntrustedSigner`.

    Each certificate must be valid at ``at`` (default: now, give or take :data:`CLOCK_SKEW`), each
    issuer must be a CA allowed to sign certificates, and each signature must verify. Trust anchors are
    certificates the caller gave; being self-signed earns nothing.
    """
    when = at or datetime.datetime.now(datetime.UTC)
    trusted_der = {certificate.dump() for certificate in trusted}
    pool = [c for c in intermediates if c.dump() not in trusted_der]
    path = [leaf]
    current = leaf
    for _ in range(MAX_PATH_LENGTH):
        if not _valid_at(current, when):
            raise UntrustedSigner(
                f"certificate {current.subject.human_friendly!r} is not valid now "
                f"(valid {current.not_valid_before:%Y-%m-%d} to {current.not_valid_after:%Y-%m-%d})"
            )
        if current.dump() in trusted_der:
            return path
        issuer = _find_issuer(current, trusted) or _find_issuer(current, pool)
        if issuer is None:
            raise UntrustedSigner(
                f"no trusted CA certificate issued {current.subject.human_friendly!r} "
                f"(issuer {current.issuer.human_friendly!r})"
            )
        if not _may_issue(issuer):
            raise UntrustedSigner(
                f"{issuer.subject.human_friendly!r} is not a CA certificate that may sign certificates"
            )
        pool = [c for c in pool if c.dump() != issuer.dump()]
        path.append(issuer)
        current = issuer
    raise UntrustedSigner("certificate path is too long")


def _find_issuer(
    certificate: x509.Certificate, candidates: Iterable[x509.Certificate]
) -> x509.Certificate | None:
    for candidate in candidates:
        if candidate.dump() != certificate.dump() and is_issued_by(certificate, candidate):
            return candidate
    return None


def order_chain(leaf: x509.Certificate, certificates: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    """``leaf`` followed by its issuers found among ``certificates``, up to a self-issued root or until
    no issuer is present. Certificates that are not on the path are left out."""
    chain = [leaf]
    remaining = [c for c in certificates if c.dump() != leaf.dump()]
    current = leaf
    while not is_self_issued(current) and len(chain) <= MAX_PATH_LENGTH:
        issuer = _find_issuer(current, remaining)
        if issuer is None:
            break
        chain.append(issuer)
        remaining = [c for c in remaining if c.dump() != issuer.dump()]
        current = issuer
    return chain


def leaves(certificates: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    """Certificates that issued none of the others (normally exactly the end-entity certificates)."""
    return [
        candidate
        for candidate in certificates
        if not any(
            other.dump() != candidate.dump() and is_issued_by(other, candidate) for other in certificates
        )
    ]
