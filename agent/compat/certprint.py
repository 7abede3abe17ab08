"""A certificate printed the way Dogtag's ``CertPrettyPrint`` starts it, for CMCResponse.

Users read CMCResponse's certificate listing to find which certificate is which ("check the Subject:
under each Certificate", says the walkthrough), so the first lines follow JSS's layout and labels:
version, serial (``0x`` hex), signature algorithm (JSS name and OID), issuer, validity, subject, key
algorithm. JSS's full dump (every extension, five fingerprints, locale-dependent dates) is not
reproduced; ``-v`` prints each certificate's base-64 for anything more.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

from asn1crypto import x509

if TYPE_CHECKING:
    from agent.cmc.response import CMCResponse

JSS_SIGNATURE_NAMES = {
    "sha1_rsa": "SHA1withRSA",
    "sha256_rsa": "SHA256withRSA",
    "sha384_rsa": "SHA384withRSA",
    "sha512_rsa": "SHA512withRSA",
    "rsassa_pss": "RSAPSSSignatureWithSHA256Digest",
    "sha1_ecdsa": "SHA1withEC",
    "sha256_ecdsa": "SHA256withEC",
    "sha384_ecdsa": "SHA384withEC",
    "sha512_ecdsa": "SHA512withEC",
}
JSS_KEY_NAMES = {"rsa": "RSA", "ec": "EC", "dsa": "DSA"}


def _date(value: datetime.datetime) -> str:
    local = value.astimezone()
    zone = local.tzname() or ""
    return local.strftime("%A, %B %d, %Y %I:%M:%S %p ") + zone


_SHORT_NAMES = {
    "2.5.4.3": "CN",
    "2.5.4.4": "SN",
    "2.5.4.5": "SERIALNUMBER",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.9": "STREET",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.12": "T",
    "2.5.4.42": "GIVENNAME",
    "1.2.840.113549.1.9.1": "E",
    "0.9.2342.19200300.100.1.1": "UID",
    "0.9.2342.19200300.100.1.25": "DC",
}


def _escape(value: str) -> str:
    escaped = "".join("\\" + c if c in ',+"\\<>;=' else c for c in value)
    if escaped.startswith((" ", "#")):
        escaped = "\\" + escaped
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return escaped


def name_text(name: x509.Name) -> str:
    """RFC 4514 text, most specific RDN first, as JSS's ``X500Name.toString`` shows a name."""
    parts = []
    for rdn in reversed(list(name.chosen)):
        values = []
        for attribute in rdn:
            key = _SHORT_NAMES.get(attribute["type"].dotted, attribute["type"].dotted)
            values.append(f"{key}={_escape(str(attribute['value'].native))}")
        parts.append("+".join(values))
    return ",".join(parts)


def pretty_certificate(certificate: x509.Certificate) -> str:
    """The head of JSS's pretty print: enough to tell the certificates of a response apart."""
    tbs = certificate["tbs_certificate"]
    algorithm = certificate["signature_algorithm"]["algorithm"]
    key_algorithm = certificate.public_key.algorithm
    validity = tbs["validity"]
    lines = [
        "    Certificate:",
        "        Data:",
        f"            Version:  {tbs['version'].native}",
        f"            Serial Number: 0x{certificate.serial_number:X}",
        f"            Signature Algorithm: {JSS_SIGNATURE_NAMES.get(algorithm.native, algorithm.dotted)} - "
        f"{algorithm.dotted}",
        f"            Issuer: {name_text(certificate.issuer)}",
        "            Validity:",
        f"                Not Before: {_date(validity['not_before'].native)}",
        f"                Not  After: {_date(validity['not_after'].native)}",
        f"            Subject: {name_text(certificate.subject)}",
        "            Subject Public Key Info:",
        f"                Algorithm: {JSS_KEY_NAMES.get(key_algorithm, key_algorithm)} - "
        f"{certificate.public_key['algorithm']['algorithm'].dotted}",
    ]
    return "\n".join(lines) + "\n"


def signer_name(response: CMCResponse) -> str:
    """Who signed a verified response, written as JSS writes names (``CN=...,O=...``)."""
    for certificate in response.certificates:
        if certificate.subject.human_friendly == response.signature.signer:
            return name_text(certificate.subject)
    return str(response.signature.signer)
