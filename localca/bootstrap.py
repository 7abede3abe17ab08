"""``cmc-localca init``: make a CA directory with every key, certificate and file the CA needs.

What a Dogtag installation (pkispawn) sets up, reduced to what CMC needs: a self-signed CA signing
certificate, a TLS server certificate it issues for 127.0.0.1/localhost, a KRA transport certificate
and the issuance protection certificate (dogtag-cmc-server.md §8.1, always RSA because it wraps
keys), the database and CS.cfg. The system certificates are issued through the same profiles a CMC
request would use and recorded in the database, as Dogtag records its own system certificates.
"""

from __future__ import annotations

import base64
import os
from datetime import timedelta
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization

from agent.keyops import SoftwareKey
from localca import extensions
from localca.authority import certificate_pem
from localca.cadir import CADirectory, write_file_atomically, write_private_file
from localca.config import initial_config_text
from localca.issuer import CertificateContent, sign_certificate
from localca.names import dn_string, name_from_dn_string
from localca.policy import EnrollmentFacts, IssuerFacts, populate
from localca.profiles import ProfileRegistry
from localca.store import Store, utc_now

DEFAULT_SUFFIX = "OU=localca,O=EXAMPLE"
CA_VALIDITY_DAYS = 7305
SUPPORTED_KEY_TYPES = ("rsa:2048", "rsa:3072", "rsa:4096", "ec:p256", "ec:p384")


class InitError(Exception):
    """``init`` cannot make the CA directory."""


def _private_key_pem(key: SoftwareKey) -> bytes:
    return key.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _self_signed_ca(key: SoftwareKey, subject: asn1_x509.Name, serial: int) -> asn1_x509.Certificate:
    now = utc_now()
    public_key_info = key.public_key_info
    identifier = extensions.key_identifier(public_key_info)
    content = CertificateContent(
        subject=subject,
        public_key_info=public_key_info,
        not_before=now - timedelta(minutes=5),
        not_after=now + timedelta(days=CA_VALIDITY_DAYS),
        extensions=[
            asn1_x509.Extension(
                {
                    "extn_id": "authority_key_identifier",
                    "critical": False,
                    "extn_value": asn1_x509.AuthorityKeyIdentifier({"key_identifier": identifier}),
                }
            ),
            extensions.basic_constraints(True, None, True),
            extensions.key_usage(
                frozenset({"digital_signature", "non_repudiation", "key_cert_sign", "crl_sign"}), True
            ),
            extensions.subject_key_identifier(public_key_info),
        ],
    )
    return sign_certificate(serial=serial, issuer=subject, content=content, signer=key)


def _record(store: Store, certificate: asn1_x509.Certificate, profile_id: str) -> None:
    validity = certificate["tbs_certificate"]["validity"]
    store.add_certificate(
        serial=certificate.serial_number,
        subject=dn_string(certificate.subject),
        issuer=dn_string(certificate.issuer),
        not_before=validity["not_before"].native,
        not_after=validity["not_after"].native,
        public_key=certificate.public_key.dump(),
        der=certificate.dump(),
        profile_id=profile_id,
        request_id=None,
    )


def initialise(
    root: Path,
    *,
    key_type: str = "rsa:2048",
    subject_suffix: str = DEFAULT_SUFFIX,
    hostnames: tuple[str, ...] = ("localhost",),
    ip_addresses: tuple[str, ...] = ("127.0.0.1", "::1"),
) -> CADirectory:
    """Create the CA in ``root`` (which must not hold a CA already)."""
    if key_type not in SUPPORTED_KEY_TYPES:
        raise InitError(f"unsupported --key-type {key_type!r}; use one of {', '.join(SUPPORTED_KEY_TYPES)}")
    directory = CADirectory(root)
    if directory.is_initialised() or directory.database.exists():
        raise InitError(f"{root} already holds a CA; remove it or choose another directory")
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    directory.profiles.mkdir(exist_ok=True)

    ca_key = SoftwareKey.generate(key_type)
    tls_key = SoftwareKey.generate(key_type)
    transport_key = SoftwareKey.generate("rsa:2048")
    protection_key = SoftwareKey.generate("rsa:2048")

    store = Store(directory.database)
    try:
        ca_subject = name_from_dn_string(f"CN=CA Signing Certificate,{subject_suffix}")
        ca_certificate = _self_signed_ca(ca_key, ca_subject, store.next_serial())
        _record(store, ca_certificate, "caCMCcaCert")

        profiles = ProfileRegistry.load(None)
        issuer = IssuerFacts(certificate=ca_certificate, ocsp_url="http://localhost:8080/ca/ocsp")

        def issue(profile_id: str, key: SoftwareKey, subject: str, extra: list[asn1_x509.Extension]) -> bytes:
            profile = profiles.get(profile_id)
            assert profile is not None, profile_id
            facts = EnrollmentFacts(
                requested_subject=name_from_dn_string(subject), public_key_info=key.public_key_info
            )
            content = populate(profile, facts, issuer, store)
            replaced = {ext["extn_id"].native for ext in extra}
            kept = [ext for ext in content.extensions if ext["extn_id"].native not in replaced]
            content = CertificateContent(
                subject=content.subject,
                public_key_info=content.public_key_info,
                not_before=content.not_before,
                not_after=content.not_after,
                extensions=[*kept, *extra],
            )
            certificate = sign_certificate(
                serial=store.next_serial(), issuer=ca_subject, content=content, signer=ca_key
            )
            _record(store, certificate, profile_id)
            return certificate_pem(certificate)

        tls_profile = "caCMCserverCert" if tls_key.key_algorithm == "rsa" else "caCMCECserverCert"
        # The profile's CN->SAN default names only the host; a TLS certificate for 127.0.0.1 needs the IPs.
        san = extensions.subject_alt_name(list(hostnames), list(ip_addresses))
        tls_pem = issue(tls_profile, tls_key, f"CN={hostnames[0]},{subject_suffix}", [san])
        transport_pem = issue(
            "caCMCkraTransportCert", transport_key, f"CN=DRM Transport Certificate,{subject_suffix}", []
        )
        protection_pem = issue(
            "caCMCcaIssuanceProtectionCert", protection_key, f"CN=CA Issuance Protection,{subject_suffix}", []
        )
    finally:
        store.close()

    write_private_file(directory.ca_key, _private_key_pem(ca_key))
    write_private_file(directory.tls_key, _private_key_pem(tls_key))
    write_private_file(directory.kra_transport_key, _private_key_pem(transport_key))
    write_private_file(directory.issuance_protection_key, _private_key_pem(protection_key))
    write_private_file(directory.kra_storage_key, os.urandom(32))
    write_file_atomically(directory.ca_cert, certificate_pem(ca_certificate))
    write_file_atomically(directory.tls_cert, tls_pem)
    write_file_atomically(directory.kra_transport_cert, transport_pem)
    write_file_atomically(directory.issuance_protection_cert, protection_pem)
    transport_b64 = base64.b64encode(asn1_x509.Certificate.load(_unarmor(transport_pem)).dump()).decode(
        "ascii"
    )
    write_file_atomically(
        directory.config,
        initial_config_text(
            {
                "ca.signing.defaultSigningAlgorithm": "SHA256withRSA"
                if ca_key.key_algorithm == "rsa"
                else "SHA256withEC",
                "ca.connector.KRA.transportCert": transport_b64,
                "auths.instance.SharedToken.pluginName": "SharedToken",
                "auths.instance.SharedToken.shrTokAttr": "shrTok",
            }
        ).encode("utf-8"),
    )
    return directory


def _unarmor(data: bytes) -> bytes:
    from asn1crypto import pem

    _, _, der = pem.unarmor(data)
    return der
