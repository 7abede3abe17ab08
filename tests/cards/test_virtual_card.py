"""The virtual card itself, checked with OpenSC's own tool before anything is built on it: every listing
of the card, one after another, shows every key and certificate (a card that shows 2, then 0, then 3 of
its keys would make every later test flaky)."""

from __future__ import annotations

import re
import subprocess

from tests.cards.conftest import Card

LISTINGS = 20


def _pkcs11_tool(card: Card, *args: str) -> str:
    return subprocess.run(
        ["pkcs11-tool", "--module", card.stack.module, *args],
        capture_output=True, text=True, env=card.env, timeout=60, check=True,
    ).stdout  # fmt: skip


def test_twenty_listings_in_a_row_each_show_every_key_and_certificate(card: Card) -> None:
    expected = sorted(key.key_id.hex() for key in card.keys.values())
    seen = []
    for _ in range(LISTINGS):
        listing = _pkcs11_tool(card, "--login", "--pin", card.stack.pin, "--list-objects")
        private = sorted(re.findall(r"Private Key Object; RSA.*?ID:\s+(\w+)", listing, re.S))
        certificates = sorted(re.findall(r"Certificate Object;.*?ID:\s+(\w+)", listing, re.S))
        seen.append((private, certificates))
    assert seen == [(expected, expected)] * LISTINGS


def test_the_card_is_a_cac_in_the_virtual_reader(card: Card) -> None:
    slots = _pkcs11_tool(card, "--list-token-slots")
    assert "Virtual PCD" in slots
    assert "token manufacturer : Common Access Card" in slots
    assert "token model        : PKCS#15 emulated" in slots
