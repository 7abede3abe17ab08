"""A certificate printed line for line as JSS's ``CertPrettyPrint`` prints it, for CMCResponse.

Scripts grep CMCResponse's certificate listing (Dogtag's own CI checks a sub-CA certificate's extension
lines), so the layout, labels, indentation and trailing spaces are JSS 5.3's (``CertPrettyPrint``,
``PubKeyPrettyPrint``, ``ExtPrettyPrint``, ``PrettyPrintResources``):

* names as Java's ``X500Principal.toString`` writes them: most specific RDN first, ``", "`` between
  RDNs, Java's keywords (``CN``, ``O``, ``UID``, ``EMAILADDRESS``, ``OID.2.5.4.x`` for others), values
  quoted when RFC 1779 wants it;
* dates as Java's ``DateFormat.FULL`` in the ``en_US`` locale: ``Thursday, November 26, 2026 at 7:03:43
  PM Coordinated Universal Time``. Always in UTC: Dogtag prints the JVM's time zone, and a script
  comparing output needs one that does not depend on the machine;
* the RSA modulus as unsigned bytes, the key size as its byte length times 8; any other key's
  subjectPublicKey bits as hex;
* the extensions in certificate order, each with JSS's printer for it (the ones ``cmc-localca`` issues
  and the common others); an extension JSS has no printer for shows its OID and its extnValue in hex;
* the signature, and the MD2, MD5, SHA-1, SHA-256 and SHA-512 fingerprints of the DER.

MD2 is not in OpenSSL 3, so it comes from pycryptodomex.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
from collections.abc import Callable
from typing import TYPE_CHECKING

from asn1crypto import core, x509

if TYPE_CHECKING:
    from agent.cmc.response import CMCResponse

JSS_SIGNATURE_NAMES = {
    "1.2.840.113549.1.1.2": "MD2withRSA",
    "1.2.840.113549.1.1.4": "MD5withRSA",
    "1.2.840.113549.1.1.5": "SHA1withRSA",
    "1.2.840.113549.1.1.11": "SHA256withRSA",
    "1.2.840.113549.1.1.12": "SHA384withRSA",
    "1.2.840.113549.1.1.13": "SHA512withRSA",
    "1.2.840.10045.4.1": "SHA1withEC",
    "1.2.840.10045.4.3.2": "SHA256withEC",
    "1.2.840.10045.4.3.3": "SHA384withEC",
    "1.2.840.10045.4.3.4": "SHA512withEC",
    "1.2.840.10040.4.3": "SHA1withDSA",
    "1.2.840.113549.1.1.1": "RSA",
    "1.2.840.10045.2.1": "EC",
    "1.2.840.10040.4.1": "DSA",
}
"""JSS ``AlgorithmId.getName``; anything else is ``OID.<dotted>``."""
RSASSA_PSS = "1.2.840.113549.1.1.10"
PSS_HASH_NAMES = {"sha256": "SHA256withRSA/PSS", "sha384": "SHA384withRSA/PSS", "sha512": "SHA512withRSA/PSS"}

JAVA_KEYWORDS = {
    "2.5.4.3": "CN",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.12": "T",
    "2.5.4.9": "STREET",
    "0.9.2342.19200300.100.1.25": "DC",
    "2.5.4.46": "DNQ",
    "2.5.4.4": "SURNAME",
    "2.5.4.42": "GIVENNAME",
    "2.5.4.43": "INITIALS",
    "2.5.4.44": "GENERATION",
    "1.2.840.113549.1.9.1": "EMAILADDRESS",
    "0.9.2342.19200300.100.1.1": "UID",
    "2.5.4.5": "SERIALNUMBER",
}
"""Java's ``AVAKeyword`` table as ``X500Principal.toString`` uses it (the last keyword of an OID wins)."""
RFC1779_SPECIALS = ',+=\n<>#;\\"'

KEY_USAGE_LABELS = (
    ("digital_signature", "Digital Signature "),
    ("non_repudiation", "Non Repudiation "),
    ("key_encipherment", "Key Encipherment "),
    ("data_encipherment", "Data Encipherment "),
    ("key_agreement", "Key Agreement "),
    ("key_cert_sign", "Key CertSign "),
    ("crl_sign", "Crl Sign "),
    ("encipher_only", "Encipher Only "),
    ("decipher_only", "Decipher Only "),
)
NETSCAPE_CERT_TYPE_LABELS = (
    (0, "SSL Client "),
    (1, "SSL Server "),
    (2, "Secure Email "),
    (3, "Object Signing "),
    (5, "SSL CA "),
    (6, "Secure Email CA "),
    (7, "ObjectSigning CA "),
)
OCSP_METHOD = "1.3.6.1.5.5.7.48.1"
OCSP_SIGNING = "1.3.6.1.5.5.7.3.9"
FINGERPRINTS = ("MD2", "MD5", "SHA-1", "SHA-256", "SHA-512")

YES, NO = "yes ", "no "


# --- values as Java and JSS write them ------------------------------------------------------------


def indent(size: int) -> str:
    return " " * size


def hex_block(data: bytes, indent_size: int, per_line: int = 16) -> list[str]:
    """JSS ``PrettyPrintFormat.toHexString``: ``AB:CD:`` lines of ``per_line`` bytes; a colon follows
    every byte but the very last, so every line but the last ends in one."""
    last = len(data) - 1
    return [
        indent(indent_size)
        + "".join(
            f"{data[i]:02X}" + (":" if i != last else "")
            for i in range(start, min(start + per_line, len(data)))
        )
        for start in range(0, len(data), per_line)
    ]


def java_date(moment: datetime.datetime) -> str:
    """``DateFormat.FULL`` date and time in ``en_US``, in UTC (see the module docstring)."""
    utc = moment.astimezone(datetime.UTC)
    hour = utc.hour % 12 or 12
    return (
        f"{utc:%A}, {utc:%B} {utc.day}, {utc.year} at {hour}:{utc:%M}:{utc:%S} "
        f"{'AM' if utc.hour < 12 else 'PM'} Coordinated Universal Time"
    )


def _java_value(value: core.Asn1Value) -> str:
    """Java's ``AVA.toKeywordValueString`` for the value part (RFC 1779 quoting)."""
    if not isinstance(value, x509.DirectoryString | core.AbstractString):
        return "#" + value.dump().hex()
    text = str(value.native)
    quote = False
    previous_white = False
    out = []
    for index, char in enumerate(text):
        if char in RFC1779_SPECIALS or (index == 0 and char in " \n"):
            quote = True
        if char in " \n":
            if previous_white:
                quote = True
            previous_white = True
        else:
            if char in '"\\':
                out.append("\\")
            previous_white = False
        out.append(char)
    if out and out[-1] in " \n":
        quote = True
    body = "".join(out)
    return f'"{body}"' if quote else body


def java_name(name: x509.Name) -> str:
    """``X500Principal.toString``: ``CN=Test CA Signing Certificate, O=Example Test``."""
    rdns = []
    for rdn in reversed(list(name.chosen)):
        values = []
        for attribute in rdn:
            oid = attribute["type"].dotted
            keyword = JAVA_KEYWORDS.get(oid, f"OID.{oid}")
            values.append(f"{keyword}={_java_value(attribute['value'])}")
        rdns.append(" + ".join(values))
    return ", ".join(rdns)


_LDAP_KEYWORDS = {**JAVA_KEYWORDS, "2.5.4.8": "ST", "1.2.840.113549.1.9.1": "E", "2.5.4.4": "SN"}


def ldap_name(name: x509.Name) -> str:
    """JSS's own ``X500Name.toString`` (LDAP form ``CN=a,O=b``), used for directory names in extensions."""
    parts = []
    for rdn in reversed(list(name.chosen)):
        values = []
        for attribute in rdn:
            oid = attribute["type"].dotted
            text = str(attribute["value"].native)
            escaped = "".join("\\" + c if c in ',+"\\<>;=' else c for c in text)
            values.append(f"{_LDAP_KEYWORDS.get(oid, oid)}={escaped}")
        parts.append("+".join(values))
    return ",".join(parts)


def algorithm_name(algorithm: core.Sequence) -> str:
    oid = algorithm["algorithm"].dotted
    if oid == RSASSA_PSS:
        parameters = algorithm["parameters"]
        hash_name = parameters["hash_algorithm"]["algorithm"].native if parameters.native else "sha1"
        return PSS_HASH_NAMES.get(hash_name, f"OID.{oid}")
    return JSS_SIGNATURE_NAMES.get(oid, f"OID.{oid}")


def general_name(name: x509.GeneralName) -> str:
    """JSS's ``GeneralName.toString`` for each kind."""
    kind, value = name.name, name.chosen
    if kind == "dns_name":
        return f"DNSName: {value.native}"
    if kind == "rfc822_name":
        return f"RFC822Name: {value.native}"
    if kind == "uniform_resource_identifier":
        return f"URIName: {value.native}"
    if kind == "ip_address":
        return f"IPAddress: {_ip_text(bytes(value.contents))}"
    if kind == "directory_name":
        return ldap_name(value)
    if kind == "registered_id":
        return f"OIDName: {value.dotted}"
    if kind == "other_name":
        return f"OtherName: {value['type_id'].dotted}"
    return value.dump().hex()


def _ip_text(raw: bytes) -> str:
    if len(raw) in (4, 8):
        halves = [raw[i : i + 4] for i in range(0, len(raw), 4)]
        return ",".join(".".join(str(b) for b in half) for half in halves)
    if len(raw) in (16, 32):
        halves = [raw[i : i + 16] for i in range(0, len(raw), 16)]
        return ",".join(
            ":".join(f"{int.from_bytes(half[j : j + 2], 'big'):x}" for j in range(0, 16, 2))
            for half in halves
        )
    return str(ipaddress.IPv4Address(0))


# --- the parts of a certificate --------------------------------------------------------------------


def public_key_lines(certificate: x509.Certificate, indent_size: int = 16) -> list[str]:
    """``PubKeyPrettyPrint``: the algorithm line, then the RSA exponent and modulus or the key bits."""
    info = certificate.public_key
    oid = info["algorithm"]["algorithm"].dotted
    lines = [f"{indent(indent_size)}Algorithm: {JSS_SIGNATURE_NAMES.get(oid, f'OID.{oid}')} - {oid}"]
    if oid == "1.2.840.113549.1.1.1":
        rsa = info["public_key"].parsed
        modulus = int(rsa["modulus"].native)
        modulus_bytes = modulus.to_bytes((modulus.bit_length() + 7) // 8 or 1, "big")
        lines += [
            f"{indent(indent_size)}Public Key: ",
            f"{indent(indent_size + 4)}Exponent: {int(rsa['public_exponent'].native)}",
            f"{indent(indent_size + 4)}Public Key Modulus: ({len(modulus_bytes) * 8} bits) :",
            *hex_block(modulus_bytes, indent_size + 8),
        ]
    else:
        lines += [f"{indent(indent_size)}Public Key: ", *hex_block(_key_bits(info), indent_size + 4)]
    return lines


def _key_bits(info: x509.PublicKeyInfo) -> bytes:
    contents = bytes(info["public_key"].contents)
    return contents[1:]  # the BIT STRING's unused-bits byte is not part of the key


def _critical_line(extension: x509.Extension, at: int) -> str:
    return f"{indent(at + 4)}Critical: {YES if extension['critical'].native else NO}"


def _header(extension: x509.Extension, label: str, at: int) -> list[str]:
    return [f"{indent(at)}Identifier: {label}- {extension['extn_id'].dotted}", _critical_line(extension, at)]


def _key_usage(extension: x509.Extension, at: int) -> list[str]:
    usages = extension["extn_value"].parsed.native
    lines = [*_header(extension, "Key Usage: ", at), f"{indent(at + 4)}Key Usage: "]
    lines += [indent(at + 8) + label for name, label in KEY_USAGE_LABELS if name in usages]
    return lines


def _netscape_cert_type(extension: x509.Extension, at: int) -> list[str]:
    contents = bytes(extension["extn_value"].parsed.contents)
    bits = contents[1:]  # after the unused-bits byte
    lines = [*_header(extension, "Netscape Certificate Type ", at), f"{indent(at + 4)}Certificate Usage: "]
    for bit, label in NETSCAPE_CERT_TYPE_LABELS:
        if bit // 8 < len(bits) and bits[bit // 8] >> (7 - bit % 8) & 1:
            lines.append(indent(at + 8) + label)
    return lines


def _subject_key_identifier(extension: x509.Extension, at: int) -> list[str]:
    key_id = bytes(extension["extn_value"].parsed.native)
    return [
        *_header(extension, "Subject Key Identifier ", at),
        f"{indent(at + 4)}Key Identifier: ",
        *hex_block(key_id, 24),
    ]


def _authority_key_identifier(extension: x509.Extension, at: int) -> list[str]:
    value = extension["extn_value"].parsed
    lines = _header(extension, "Authority Key Identifier ", at)
    if value["key_identifier"].native is not None:
        lines += [
            f"{indent(at + 4)}Key Identifier: ",
            *hex_block(bytes(value["key_identifier"].native), at + 8),
        ]
    if value["authority_cert_issuer"].native is not None:
        for name in value["authority_cert_issuer"]:
            lines.append(f"{indent(at + 4)}Authority Name: {general_name(name)}")
    if value["authority_cert_serial_number"].native is not None:
        lines.append(f"{indent(at + 4)}Serial Number: 0x{value['authority_cert_serial_number'].native:X}")
    return lines


def _basic_constraints(extension: x509.Extension, at: int) -> list[str]:
    value = extension["extn_value"].parsed
    lines = [
        *_header(extension, "Basic Constraints ", at),
        f"{indent(at + 4)}Is CA: {YES if value['ca'].native else NO}",
    ]
    path_length = value["path_len_constraint"].native
    shown = "UNLIMITED" if path_length is None else str(path_length)
    return [*lines, f"{indent(at + 4)}Path Length Constraint: {shown}"]


def _extended_key_usage(extension: x509.Extension, at: int) -> list[str]:
    lines = [*_header(extension, "Extended Key Usage: ", at), f"{indent(at + 4)}Extended Key Usage: "]
    for purpose in extension["extn_value"].parsed:
        dotted = purpose.dotted
        lines.append(indent(at + 8) + ("OCSPSigning" if dotted == OCSP_SIGNING else dotted))
    return lines


def _alternative_names(label: str, values_label: str | None) -> Callable[[x509.Extension, int], list[str]]:
    def lines_for(extension: x509.Extension, at: int) -> list[str]:
        lines = _header(extension, label, at)
        lines.append(f"{indent(at + 4)}{values_label or 'Value: '}")
        for name in extension["extn_value"].parsed:
            prefix = "DirectoryName: " if name.name == "directory_name" else ""
            lines.append(f"{indent(at + 8)}{prefix}{general_name(name)}")
        return lines

    return lines_for


def _information_access(label: str) -> Callable[[x509.Extension, int], list[str]]:
    def lines_for(extension: x509.Extension, at: int) -> list[str]:
        lines = [*_header(extension, label, at), f"{indent(at + 4)}Access Description: "]
        for index, description in enumerate(extension["extn_value"].parsed):
            method = description["access_method"].dotted
            lines.append(f"{indent(at + 8)}Method #{index}: {'ocsp' if method == OCSP_METHOD else method}")
            lines.append(f"{indent(at + 8)}Location #{index}: {general_name(description['access_location'])}")
        return lines

    return lines_for


def _ocsp_no_check(extension: x509.Extension, at: int) -> list[str]:
    return _header(extension, "OCSP NoCheck: ", at)


def _certificate_policies(extension: x509.Extension, at: int) -> list[str]:
    lines = [*_header(extension, "Certificate Policies: ", at), f"{indent(at + 4)}Certificate Policies: "]
    for policy in extension["extn_value"].parsed:
        lines.append(f"{indent(at + 8)}Policy Identifier: {policy['policy_identifier'].dotted}")
        for qualifier in policy["policy_qualifiers"] if policy["policy_qualifiers"].native else []:
            qualifier_id = qualifier["policy_qualifier_id"].dotted
            if qualifier["policy_qualifier_id"].native == "certification_practice_statement":
                lines.append(
                    f"{indent(at + 12)}Policy Qualifier Identifier: CPS Pointer Qualifier - {qualifier_id}"
                )
                lines.append(f"{indent(at + 12)}Policy Qualifier Data: {qualifier['qualifier'].native}")
            elif qualifier["policy_qualifier_id"].native == "user_notice":
                label = "Policy Qualifier Identifier: CPS User Notice Qualifier - "
                lines.append(f"{indent(at + 12)}{label}{qualifier_id}")
                lines.append(f"{indent(at + 12)}Policy Qualifier Data: ")
                notice = qualifier["qualifier"]
                reference = notice["notice_ref"]
                if reference.native is not None:
                    numbers = ",".join(str(n) for n in reference["notice_numbers"].native)
                    lines.append(f"{indent(at + 16)}Organization: {reference['organization'].native}")
                    lines.append(f"{indent(at + 16)}Notice Numbers: {numbers}")
                if notice["explicit_text"].native is not None:
                    lines.append(f"{indent(at + 16)}Explicit Text: {notice['explicit_text'].native}")
    return lines


def _unknown(extension: x509.Extension, at: int) -> list[str]:
    """JSS's fallback for an extension it has no printer for: the OID and the extnValue octets."""
    return [
        f"{indent(at)}Identifier: {extension['extn_id'].dotted}",
        _critical_line(extension, at),
        f"{indent(at + 4)}Value: ",
        *hex_block(bytes(extension["extn_value"].contents), at + 8),
    ]


EXTENSION_PRINTERS: dict[str, Callable[[x509.Extension, int], list[str]]] = {
    "2.5.29.15": _key_usage,
    "2.16.840.1.113730.1.1": _netscape_cert_type,
    "2.5.29.35": _authority_key_identifier,
    "2.5.29.14": _subject_key_identifier,
    "2.5.29.19": _basic_constraints,
    "2.5.29.18": _alternative_names("Issuer Alternative Name ", "Issuer Names: "),
    "2.5.29.17": _alternative_names("Subject Alternative Name ", None),
    "2.5.29.37": _extended_key_usage,
    "1.3.6.1.5.5.7.1.1": _information_access("Authority Info Access: "),
    "1.3.6.1.5.5.7.1.11": _information_access("Subject Info Access: "),
    "1.3.6.1.5.5.7.48.1.5": _ocsp_no_check,
    "2.5.29.32": _certificate_policies,
}


def extension_lines(extension: x509.Extension, at: int = 16) -> list[str]:
    printer = EXTENSION_PRINTERS.get(extension["extn_id"].dotted, _unknown)
    try:
        return printer(extension, at)
    except (ValueError, TypeError, KeyError):
        return _unknown(extension, at)


def fingerprint(name: str, data: bytes) -> bytes:
    if name == "MD2":
        from Cryptodome.Hash import MD2

        return bytes(MD2.new(data).digest())  # noqa: S303 - a fingerprint Dogtag prints, not a security check
    return hashlib.new(name.replace("-", "").lower(), data).digest()


def pretty_certificate(certificate: x509.Certificate) -> str:
    """The whole certificate as ``CertPrettyPrint.toString`` prints it (each line ending in a newline)."""
    tbs = certificate["tbs_certificate"]
    signature_algorithm = certificate["signature_algorithm"]
    algorithm = f"{algorithm_name(signature_algorithm)} - {signature_algorithm['algorithm'].dotted}"
    validity = tbs["validity"]
    version = {"v1": 1, "v2": 2, "v3": 3}.get(tbs["version"].native, 1)
    lines = [
        "    Certificate: ",
        "        Data: ",
        f"            Version:  v{version}",
        f"            Serial Number: 0x{certificate.serial_number:X}",
        f"            Signature Algorithm: {algorithm}",
        f"            Issuer: {java_name(certificate.issuer)}",
        "            Validity: ",
        f"                Not Before: {java_date(validity['not_before'].native)}",
        f"                Not  After: {java_date(validity['not_after'].native)}",
        f"            Subject: {java_name(certificate.subject)}",
        "            Subject Public Key Info: ",
        *public_key_lines(certificate),
        "            Extensions: ",
    ]
    for extension in tbs["extensions"] if tbs["extensions"].native else []:
        lines += extension_lines(extension)
    lines += [
        "        Signature: ",
        f"            Algorithm: {algorithm}",
        "            Signature: ",
        *hex_block(bytes(certificate["signature_value"].native), 16),
        "        FingerPrint",
    ]
    encoded = certificate.dump()
    for name in FINGERPRINTS:
        lines += [f"            {name}:", *hex_block(fingerprint(name, encoded), 16)]
    return "\n".join(lines) + "\n"


def signer_name(response: CMCResponse) -> str:
    """Who signed a verified response, written as Dogtag writes names."""
    for certificate in response.certificates:
        if certificate.subject.human_friendly == response.signature.signer:
            return java_name(certificate.subject)
    return str(response.signature.signer)
