"""Which certificates the CA takes as proof of who someone is: its own records and its registered users.

A signer certificate in ``SignedData.certificates`` and a TLS client certificate are what the client
says; they prove nothing until the CA recognises them. Dogtag looks a user-signed request's signer up
by serial and an agent by the text ``version;serial;issuer;subject``, which lets anyone with a key of
their own forge a certificate carrying those fields. The double is stricter, which costs an honest
client nothing (it presents the certificate it was given):

* a certificate this CA issued counts only if it is the CA's record for that serial, byte for byte,
  and its signature verifies with the CA's key;
* a CA user (agent) counts only if the certificate presented is the one registered, byte for byte.
"""

from __future__ import annotations

from asn1crypto import x509 as asn1_x509
from cryptography import x509 as crypto_x509
from cryptography.exceptions import InvalidSignature

from localca.authority import CertificateAuthority
from localca.store import AgentRecord


def _directly_issued_by(certificate_der: bytes, issuer_der: bytes) -> bool:
    try:
        certificate = crypto_x509.load_der_x509_certificate(certificate_der)
        issuer = crypto_x509.load_der_x509_certificate(issuer_der)
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def issued_here(ca: CertificateAuthority, certificate: asn1_x509.Certificate) -> bool:
    """True if ``certificate`` is exactly the certificate this CA issued under its serial number."""
    if certificate.issuer.dump() != ca.name.dump():
        return False
    record = ca.store.get_certificate(certificate.serial_number)
    if record is None or record.der != certificate.dump():
        return False
    return _directly_issued_by(record.der, ca.certificate.dump())


def registered_user(ca: CertificateAuthority, certificate: asn1_x509.Certificate) -> AgentRecord | None:
    """The CA user registered with exactly this certificate (``cmc-localca agent add``), or None."""
    return ca.store.find_agent_by_certificate(certificate.dump())


def recognised(ca: CertificateAuthority, certificate: asn1_x509.Certificate) -> bool:
    """A certificate the CA issued or registered: the only ones a TLS client may authenticate with."""
    return issued_here(ca, certificate) or registered_user(ca, certificate) is not None
