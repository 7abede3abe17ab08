"""A tiny PKI for codec tests: a root CA, an agent certificate, helpers to issue more. Software keys only
(:class:`agent.keyops.SoftwareKey`); certificates made with ``cryptography``, independent of our code."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from agent.keyops import SoftwareKey

NOW = datetime.datetime.now(datetime.UTC)


@dataclass(frozen=True)
class Issued:
    key: SoftwareKey
    certificate: asn1_x509.Certificate

    @property
    def pem(self) -> bytes:
        return x509.load_der_x509_certificate(self.certificate.dump()).public_bytes(
            serialization.Encoding.PEM
        )

    @property
    def key_pem(self) -> bytes:
        return self.key.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def issue(
    common_name: str,
    *,
    key: SoftwareKey | None = None,
    issuer: Issued | None = None,
    ca: bool = False,
    serial: int = 1000,
    days: int = 30,
    not_before: datetime.datetime | None = None,
    public_key: asn1_keys.PublicKeyInfo | None = None,
    key_identifier: bytes | None = None,
    ski: bool = True,
    key_cert_sign: bool | None = None,
) -> Issued:
    key = key or SoftwareKey.generate("rsa:2048")
    subject = _name(common_name)
    issuer_name = x509.load_der_x509_certificate(issuer.certificate.dump()).subject if issuer else subject
    signing_key = issuer.key.private_key if issuer else key.private_key
    start = not_before or NOW - datetime.timedelta(days=1)
    certified = (
        serialization.load_der_public_key(public_key.dump())
        if public_key is not None
        else key.private_key.public_key()
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(certified)  # type: ignore[arg-type]
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if key_cert_sign is not None:  # a keyUsage extension, with or without keyCertSign
        usage = dict.fromkeys(
            (
                "content_commitment",
                "key_encipherment",
                "data_encipherment",
                "key_agreement",
                "crl_sign",
                "encipher_only",
                "decipher_only",
            ),
            False,
        )
        usage_extension = x509.KeyUsage(digital_signature=True, key_cert_sign=key_cert_sign, **usage)
        builder = builder.add_extension(usage_extension, critical=True)
    if ski:
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier(key_identifier)
            if key_identifier is not None
            else x509.SubjectKeyIdentifier.from_public_key(certified),  # type: ignore[arg-type]
            critical=False,
        )
    certificate = builder.sign(signing_key, hashes.SHA256())
    return Issued(key, asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER)))


def root_ca(common_name: str = "Test Root CA", key_spec: str = "rsa:2048") -> Issued:
    return issue(common_name, key=SoftwareKey.generate(key_spec), ca=True, serial=1, days=3650)
