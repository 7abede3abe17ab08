"""RFC 7512 URIs: what users type parses, prints canonically, and bad input is named."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokens.errors import InvalidUri
from tokens.keys import dogtag_key_id, parse_dogtag_key_id
from tokens.uri import Pkcs11Uri


def test_parses_the_rfc_examples() -> None:
    uri = Pkcs11Uri.parse(
        "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;"
        "model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial="
        "?pin-source=file:/etc/token"
    )
    assert uri.token == "The Software PKCS#11 Softtoken"
    assert uri.manufacturer == "Snake Oil, Inc."
    assert uri.object == "my-certificate"
    assert uri.type == "cert"
    assert uri.id == bytes.fromhex("69953e5cf4bdec91")
    assert uri.serial == ""
    assert uri.pin_source == "file:/etc/token"


def test_prints_canonically_in_rfc_order() -> None:
    uri = Pkcs11Uri.parse("pkcs11:type=private;object=my%20key;token=T;id=%01%ff?module-path=/usr/lib/x.so")
    assert str(uri) == "pkcs11:token=T;object=my%20key;type=private;id=%01%FF?module-path=/usr/lib/x.so"
    assert Pkcs11Uri.parse(str(uri)) == uri


def test_pin_value_never_printed_by_without_secrets() -> None:
    uri = Pkcs11Uri.parse("pkcs11:token=T?pin-value=1234")
    assert uri.pin_value == "1234"
    assert "1234" not in str(uri.without_secrets())
    assert "1234" not in repr(uri)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("pkcs12:token=x", "not a pkcs11: URI"),
        ("pkcs11:token=x;token=y", "given twice"),
        ("pkcs11:colour=blue", "unknown path attribute 'colour'"),
        ("pkcs11:token", "has no '='"),
        ("pkcs11:token=a%2", "bad percent-encoding"),
        ("pkcs11:type=secret", "type='secret'"),
        ("pkcs11:slot-id=abc", "slot-id='abc'"),
        ("pkcs11:slot-id=-1", "slot-id='-1'"),
        ("pkcs11:slot-id=1_0", "slot-id='1_0'"),
        ("pkcs11:slot-id=%2B5", "slot-id='%2B5'"),
        ("pkcs11:token=x?module=foo", "unknown query attribute 'module'"),
        ("pkcs11:token=%ff%fe", "not UTF-8"),
    ],
)
def test_malformed_uris_are_named(text: str, problem: str) -> None:
    with pytest.raises(InvalidUri, match=problem.replace("(", r"\(").replace("?", r"\?")):
        Pkcs11Uri.parse(text)


@given(
    token=st.text(min_size=1, max_size=20),
    label=st.text(max_size=20),
    key_id=st.binary(max_size=24),
)
def test_any_value_survives_a_round_trip(token: str, label: str, key_id: bytes) -> None:
    uri = Pkcs11Uri(token=token, object=label, id=key_id, type="private", module_path="/a b/c;d.so")
    assert Pkcs11Uri.parse(str(uri)) == uri


def test_dogtag_key_id_text_form_matches_java_biginteger() -> None:
    # Values as Java's new BigInteger(bytes).toString(16) prints them.
    assert dogtag_key_id(bytes.fromhex("2500b867acad0064bdba3fde9762a3ff1487fcfa")) == (
        "2500b867acad0064bdba3fde9762a3ff1487fcfa"
    )
    assert dogtag_key_id(bytes.fromhex("a5a0ed6f37f004566115978b31f3a488abdfc75e")) == (
        "-5a5f1290c80ffba99eea6874ce0c5b77542038a2"
    )
    assert dogtag_key_id(bytes.fromhex("00ff") + bytes(18)) == "ff" + "00" * 18


def test_dogtag_key_id_parses_all_forms() -> None:
    assert parse_dogtag_key_id("-5a5f1290c80ffba99eea6874ce0c5b77542038a2") == bytes.fromhex(
        "a5a0ed6f37f004566115978b31f3a488abdfc75e"
    )
    assert parse_dogtag_key_id("ff" + "00" * 18) == bytes.fromhex("00ff") + bytes(18)
    assert parse_dogtag_key_id("0x0102") == b"\x01\x02"
    with pytest.raises(InvalidUri, match="not a Dogtag key id"):
        parse_dogtag_key_id("xyz")


@given(st.binary(min_size=20, max_size=20))
def test_dogtag_key_id_round_trips(key_id: bytes) -> None:
    assert parse_dogtag_key_id(dogtag_key_id(key_id)) == key_id
