"""Distinguished names as Dogtag prints and compares them.

Dogtag's profile constraints match regular expressions against the string form of a DN (for example
``CN=.*`` must match the whole string), its revocation and GetCert checks compare string forms, and its
status strings quote them. That string form lists RDNs most-specific first with short attribute names,
separated by ", ", which is what :func:`dn_string` produces.
"""

from __future__ import annotations

from asn1crypto import x509 as asn1_x509

from agent.cmc.errors import InvalidRequestInput
from agent.cmc.names import parse_dn

SHORT_NAMES = {
    "2.5.4.3": "CN",
    "2.5.4.4": "SURNAME",
    "2.5.4.5": "SERIALNUMBER",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.9": "STREET",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.12": "TITLE",
    "2.5.4.42": "GIVENNAME",
    "2.5.4.43": "INITIALS",
    "2.5.4.44": "GENERATION",
    "2.5.4.46": "DNQUALIFIER",
    "0.9.2342.19200300.100.1.1": "UID",
    "0.9.2342.19200300.100.1.25": "DC",
    "1.2.840.113549.1.9.1": "E",
}

_SPECIALS = ',+"\\<>;='


def _escape(value: str) -> str:
    out = []
    for index, char in enumerate(value):
        if char in _SPECIALS or (char == "#" and index == 0):
            out.append("\\" + char)
        else:
            out.append(char)
    text = "".join(out)
    if text.startswith(" "):
        text = "\\" + text
    if text.endswith(" ") and len(text) > 1:
        text = text[:-1] + "\\ "
    return text


def _attribute_text(type_and_value: asn1_x509.NameTypeAndValue) -> str:
    oid = type_and_value["type"].dotted
    label = SHORT_NAMES.get(oid, oid)
    value = type_and_value["value"]
    try:
        native = value.native
    except ValueError:
        native = None
    if isinstance(native, str):
        return f"{label}={_escape(native)}"
    return f"{label}=#{value.dump().hex()}"


def dn_string(name: asn1_x509.Name) -> str:
    """The DN as Dogtag prints it: most-specific RDN first, ``CN=a, O=b``."""
    rdns = list(name.chosen)
    parts = []
    for rdn in reversed(rdns):
        parts.append(" + ".join(_attribute_text(atv) for atv in rdn))
    return ", ".join(parts)


def name_from_dn_string(text: str) -> asn1_x509.Name:
    """Build a Name from an RFC 4514 string such as ``uid=jdoe,ou=People,dc=example,dc=com``.

    Keywords are case-insensitive, values UTF8String (DC and E IA5String, C PrintableString), as
    Dogtag's X500Name encodes a DN string. Raises ValueError for a string that is not a DN.
    """
    try:
        return parse_dn(text)
    except InvalidRequestInput as exc:
        raise ValueError(str(exc)) from None
