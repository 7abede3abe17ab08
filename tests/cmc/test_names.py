"""RFC 4514 subject strings: same RDNs and order as ``cryptography``'s parser, Dogtag's string types."""

from __future__ import annotations

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509

from agent.cmc import names
from agent.cmc.errors import InvalidRequestInput


@pytest.mark.parametrize(
    "text",
    [
        "CN=alice",
        "CN=testuser,UID=testuser",
        "CN=server.example.com,OU=Web,O=Example Corp,L=Berlin,ST=Berlin,C=DE",
        r"CN=Doe\, John,O=Acme\+Co",
        "CN=a+UID=b,O=Example",
        "CN=J\u00fcrgen M\u00fcller,O=Beispiel",
        "UID=jdoe,DC=example,DC=com",
        r"CN=\23hash \20,O=x",
    ],
)
def test_same_rdns_and_order_as_cryptography(text: str) -> None:
    ours = x509.Name.from_rfc4514_string(text)  # independent parser; compares values, not string types
    parsed = names.parse_dn(text)
    theirs = x509.load_der_x509_certificate  # noqa: F841 - only the Name below matters
    mine = x509.Name(
        [
            x509.RelativeDistinguishedName(
                [
                    x509.NameAttribute(x509.ObjectIdentifier(a["type"].dotted), str(a["value"].native))
                    for a in rdn
                ]
            )
            for rdn in parsed.chosen
        ]
    )
    assert mine == ours


def test_utf8_policy_follows_pkcs10client() -> None:
    parsed = names.parse_dn("CN=alice,UID=alice,C=DE,DC=example")
    tags = {
        a["type"].native: a["value"].chosen.tag
        if isinstance(a["value"], asn1_x509.DirectoryString)
        else a["value"].tag
        for rdn in parsed.chosen
        for a in rdn
    }
    assert tags == {"common_name": 12, "user_id": 12, "country_name": 19, "domain_component": 22}


def test_printable_policy_follows_crmfpopclient() -> None:
    parsed = names.parse_dn("CN=alice,UID=alice,O=J\u00fcrgen", "printable")
    tags = {a["type"].native: a["value"].chosen.tag for rdn in parsed.chosen for a in rdn}
    # PrintableString where possible; UTF8String (not JSS's TeletexString) where not
    assert tags == {"common_name": 19, "user_id": 19, "organization_name": 12}


def test_string_order_is_reversed_into_der_order() -> None:
    parsed = names.parse_dn("CN=testuser,UID=testuser")
    assert [rdn[0]["type"].native for rdn in parsed.chosen] == ["user_id", "common_name"]


@pytest.mark.parametrize("text", ["", "CN", "CN=", "XYZ=1", "CN=a\\", r"CN=bad\q", "C=D\u00e9", 'CN="open'])
def test_bad_strings_say_what_is_wrong(text: str) -> None:
    with pytest.raises(InvalidRequestInput):
        names.parse_dn(text)
