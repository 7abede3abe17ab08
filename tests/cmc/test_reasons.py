"""Revocation reasons as people type them, and the subset Dogtag's CMCRequest accepts."""

from __future__ import annotations

import pytest

from agent.cmc.reasons import revocation_reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("keyCompromise", "key_compromise"),
        ("KEYCOMPROMISE", "key_compromise"),
        ("key-compromise", "key_compromise"),
        ("1", "key_compromise"),
        ("8", "remove_from_crl"),
        ("aACompromise", "aa_compromise"),
        ("7", None),
        ("compromised", None),
    ],
)
def test_names_and_codes(text: str, expected: str | None) -> None:
    assert revocation_reason(text) == expected


def test_dogtag_accepts_eight_reasons_only() -> None:
    assert revocation_reason("superseded", dogtag_only=True) == "superseded"
    assert revocation_reason("privilegeWithdrawn", dogtag_only=True) is None
    assert revocation_reason("aACompromise", dogtag_only=True) is None
