"""X.509 extensions that the profile defaults add, built with asn1crypto.

Each function returns one ``asn1crypto.x509.Extension``; :mod:`localca.policy` decides which ones a
profile wants. Only what Dogtag's CMC profiles add is here.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re

from asn1crypto import core
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509

OCSP_ACCESS_METHOD = "1.3.6.1.5.5.7.48.1"

_DNS_LABEL = re.compile(r"^(\*|[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)$")


def key_identifier(public_key_info: asn1_keys.PublicKeyInfo) -> bytes:
    """RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING contents."""
    return hashlib.sha1(public_key_info["public_key"].contents[1:], usedforsecurity=False).digest()


def key_usage(usages: frozenset[str], critical: bool) -> asn1_x509.Extension:
    return asn1_x509.Extension(
        {"extn_id": "key_usage", "critical": critical, "extn_value": asn1_x509.KeyUsage(set(usages))}
    )


def extended_key_usage(oids: tuple[str, ...], critical: bool) -> asn1_x509.Extension:
    return asn1_x509.Extension(
        {
            "extn_id": "extended_key_usage",
            "critical": critical,
            "extn_value": asn1_x509.ExtKeyUsageSyntax([asn1_x509.KeyPurposeId(oid) for oid in oids]),
        }
    )


def subject_key_identifier(public_key_info: asn1_keys.PublicKeyInfo) -> asn1_x509.Extension:
    return asn1_x509.Extension(
        {
            "extn_id": "key_identifier",
            "critical": False,
            "extn_value": core.OctetString(key_identifier(public_key_info)),
        }
    )


def authority_key_identifier(issuer_certificate: asn1_x509.Certificate) -> asn1_x509.Extension:
    """keyIdentifier = the issuer's own SubjectKeyIdentifier (or its computed value if it has none)."""
    identifier = issuer_certificate.key_identifier or key_identifier(issuer_certificate.public_key)
    return asn1_x509.Extension(
        {
            "extn_id": "authority_key_identifier",
            "critical": False,
            "extn_value": asn1_x509.AuthorityKeyIdentifier({"key_identifier": identifier}),
        }
    )


def authority_info_access_ocsp(url: str) -> asn1_x509.Extension:
    return asn1_x509.Extension(
        {
            "extn_id": "authority_information_access",
            "critical": False,
            "extn_value": asn1_x509.AuthorityInfoAccessSyntax(
                [
                    {
                        "access_method": OCSP_ACCESS_METHOD,
                        "access_location": asn1_x509.GeneralName(
                            name="uniform_resource_identifier", value=url
                        ),
                    }
                ]
            ),
        }
    )


def basic_constraints(ca: bool, path_length: int | None, critical: bool) -> asn1_x509.Extension:
    value: dict[str, object] = {"ca": ca}
    if ca and path_length is not None:
        value["path_len_constraint"] = path_length
    return asn1_x509.Extension(
        {
            "extn_id": "basic_constraints",
            "critical": critical,
            "extn_value": asn1_x509.BasicConstraints(value),
        }
    )


def ocsp_no_check() -> asn1_x509.Extension:
    return asn1_x509.Extension({"extn_id": "ocsp_no_check", "critical": False, "extn_value": core.Null()})


def is_dns_name(text: str) -> bool:
    labels = text.rstrip(".").split(".")
    return bool(text) and len(text) <= 253 and all(_DNS_LABEL.match(label) for label in labels)


def subject_alt_name(dns_names: list[str], ip_addresses: list[str] | None = None) -> asn1_x509.Extension:
    names = [asn1_x509.GeneralName(name="dns_name", value=name) for name in dns_names]
    for address in ip_addresses or []:
        names.append(asn1_x509.GeneralName(name="ip_address", value=str(ipaddress.ip_address(address))))
    return asn1_x509.Extension(
        {"extn_id": "subject_alt_name", "critical": False, "extn_value": asn1_x509.GeneralNames(names)}
    )


def common_names(name: asn1_x509.Name) -> list[str]:
    """The CN values of a name, most specific first."""
    values = []
    for rdn in reversed(list(name.chosen)):
        for type_and_value in rdn:
            if type_and_value["type"].native == "common_name":
                native = type_and_value["value"].native
                if isinstance(native, str):
                    values.append(native)
    return values
