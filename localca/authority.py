"""The running CA: its keys, certificates, configuration, database and profiles, loaded from DIR.

One :class:`CertificateAuthority` is shared by every request thread of ``serve`` and by the CLI
commands. Its state that changes (requests, certificates, tokens) lives in the database only, so two
processes on the same directory (``serve`` and ``cmc-localca agent add``) see each other's writes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from asn1crypto import crl as asn1_crl
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.asymmetric import rsa

from agent.keyops import SoftwareKey
from localca.cadir import CADirectory
from localca.config import CAConfig
from localca.issuer import CertificateContent, RevokedEntry, sign_certificate, sign_crl
from localca.names import dn_string
from localca.policy import IssuerFacts
from localca.profiles import ProfileRegistry
from localca.store import Store, utc_now


class CANotInitialised(Exception):
    """DIR is not a CA directory made by ``cmc-localca init``."""


def load_certificate_file(path: Path) -> asn1_x509.Certificate:
    data = path.read_bytes()
    if pem.detect(data):
        _, _, data = pem.unarmor(data)
    return asn1_x509.Certificate.load(data)


def load_key_file(path: Path) -> SoftwareKey:
    return SoftwareKey.from_pem(path.read_bytes())


def certificate_pem(certificate: asn1_x509.Certificate) -> bytes:
    return pem.armor("CERTIFICATE", certificate.dump())


class CertificateAuthority:
    def __init__(self, root: Path) -> None:
        self.directory = CADirectory(root)
        if not self.directory.is_initialised():
            raise CANotInitialised(f"{root} is not a CA directory; run `cmc-localca init {root}` first")
        self.config = CAConfig.load(self.directory.config)
        self.store = Store(self.directory.database)
        self.profiles = ProfileRegistry.load(root)
        self.signing_key = load_key_file(self.directory.ca_key)
        self.certificate = load_certificate_file(self.directory.ca_cert)
        self.issuance_protection_key = load_key_file(self.directory.issuance_protection_key)
        self.issuance_protection_certificate = load_certificate_file(self.directory.issuance_protection_cert)
        self.kra_transport_key = load_key_file(self.directory.kra_transport_key)
        self.kra_transport_certificate = load_certificate_file(self.directory.kra_transport_cert)
        self.kra_storage_key = self.directory.kra_storage_key.read_bytes()
        self.public_http_port: int | None = None
        """Set by ``serve``: the port that AIA URLs name when ``ca.defaultOcspUri`` is unset."""

    @property
    def issuance_protection_rsa_key(self) -> rsa.RSAPrivateKey:
        """The issuance protection private key; RSA by construction (it unwraps keys, §8.1)."""
        key = self.issuance_protection_key.private_key
        if not isinstance(key, rsa.RSAPrivateKey):
            raise TypeError("the issuance protection key must be RSA")
        return key

    @property
    def kra_transport_rsa_key(self) -> rsa.RSAPrivateKey:
        key = self.kra_transport_key.private_key
        if not isinstance(key, rsa.RSAPrivateKey):
            raise TypeError("the KRA transport key must be RSA")
        return key

    # -- identity ----------------------------------------------------------------------------------

    @property
    def name(self) -> asn1_x509.Name:
        subject: asn1_x509.Name = self.certificate.subject
        return subject

    @property
    def name_string(self) -> str:
        return dn_string(self.name)

    def chain(self) -> list[asn1_x509.Certificate]:
        """The CA chain Dogtag appends to responses: here just the (self-signed) CA certificate."""
        return [self.certificate]

    def ocsp_url(self) -> str:
        configured = self.config.get("ca.defaultOcspUri")
        if configured:
            return configured
        host = self.config.get("machineName") or "localhost"
        port = self.public_http_port or 8080
        return f"http://{host}:{port}/ca/ocsp"

    def issuer_facts(self) -> IssuerFacts:
        return IssuerFacts(certificate=self.certificate, ocsp_url=self.ocsp_url())

    # -- issuance ----------------------------------------------------------------------------------

    def issue(
        self, content: CertificateContent, *, profile_id: str | None, request_id: int | None
    ) -> asn1_x509.Certificate:
        """Sign a certificate with a fresh serial and record it before anyone sees it."""
        serial = self.store.next_serial()
        certificate = sign_certificate(
            serial=serial, issuer=self.name, content=content, signer=self.signing_key
        )
        self.store.add_certificate(
            serial=serial,
            subject=dn_string(certificate.subject),
            issuer=self.name_string,
            not_before=content.not_before,
            not_after=certificate["tbs_certificate"]["validity"]["not_after"].native,
            public_key=content.public_key_info.dump(),
            der=certificate.dump(),
            profile_id=profile_id,
            request_id=request_id,
        )
        return asn1_x509.Certificate.load(certificate.dump())  # a parsed copy re-encodes for free

    def certificate_record_certificate(self, serial: int) -> asn1_x509.Certificate | None:
        record = self.store.get_certificate(serial)
        return None if record is None else asn1_x509.Certificate.load(record.der)

    def is_revoked(self, certificate: asn1_x509.Certificate) -> bool:
        """Revoked according to this CA's records (a certificate of another issuer never is)."""
        if certificate.issuer.dump() != self.name.dump() and certificate.issuer != self.name:
            return False
        record = self.store.get_certificate(certificate.serial_number)
        return record is not None and record.status == "REVOKED"

    def crl(self) -> asn1_crl.CertificateList:
        """A fresh full CRL of every certificate revoked so far."""
        entries = []
        for record in self.store.list_certificates():
            if record.status != "REVOKED" or record.revoked_at is None:
                continue
            invalidity = (
                datetime.strptime(record.invalidity_date, "%Y-%m-%dT%H:%M:%S%z")
                if record.invalidity_date
                else None
            )
            entries.append(
                RevokedEntry(
                    serial=record.serial,
                    revoked_at=datetime.strptime(record.revoked_at, "%Y-%m-%dT%H:%M:%S%z"),
                    reason=record.revocation_reason,
                    invalidity_date=invalidity,
                )
            )
        now = utc_now()
        return sign_crl(
            issuer_certificate=self.certificate,
            signer=self.signing_key,
            entries=entries,
            this_update=now,
            next_update=now + timedelta(hours=4),
            crl_number=int(now.timestamp()),
        )

    def close(self) -> None:
        self.store.close()
