"""CRL reasons (RFC 5280 §5.3.1) as users, Dogtag's tools and the RevokeRequest name them.

The builder takes asn1crypto's names (``key_compromise``); users type ``keyCompromise``, ``KEYCOMPROMISE``
or a number. Dogtag's CMCRequest accepts only the eight reasons a Dogtag CA keeps as given (it maps
aACompromise and privilegeWithdrawn to unspecified), so its config keys are checked against those.
"""

from __future__ import annotations

from asn1crypto import crl

REASON_NUMBERS: dict[int, str] = dict(crl.CRLReason._map)
"""CRLReason code -> asn1crypto name (0-6, 8-10; 7 is unused)."""
DOGTAG_REASONS = frozenset(REASON_NUMBERS[n] for n in (0, 1, 2, 3, 4, 5, 6, 8))
"""The reasons Dogtag's ``revRequest.reason`` accepts."""
_BY_FOLDED_NAME = {name.replace("_", ""): name for name in REASON_NUMBERS.values()}


def revocation_reason(text: str, *, dogtag_only: bool = False) -> str | None:
    """The asn1crypto name for a reason given by name (any case, ``_``/``-`` ignored) or by code; None if
    it is not one (or, with ``dogtag_only``, not one Dogtag accepts)."""
    text = text.strip()
    if text.isdigit():
        name = REASON_NUMBERS.get(int(text))
    else:
        name = _BY_FOLDED_NAME.get(text.replace("_", "").replace("-", "").lower())
    if name is None or (dogtag_only and name not in DOGTAG_REASONS):
        return None
    return name
