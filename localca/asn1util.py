"""Small asn1crypto helpers the CA's parsing code shares."""

from __future__ import annotations

from asn1crypto import core


def is_absent(value: object) -> bool:
    """An OPTIONAL field that was not sent. Cheaper and safer than ``.native is None``, which decodes the
    whole value (and fails on a hostile one) just to test for presence."""
    return isinstance(value, core.Void)
