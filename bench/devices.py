"""A throwaway SoftHSM2 token for benchmarks, made as the tests make theirs (softhsm-setup scripts)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.devices import SoftHSMToken, make_softhsm_token, use_softhsm_conf


def make_bench_token(label: str = "bench") -> SoftHSMToken:
    """Create a SoftHSM2 token and point this process (and its children) at it. Call before loading."""
    token = make_softhsm_token(Path(tempfile.mkdtemp(prefix="cmc-bench-")), label)
    use_softhsm_conf(token.conf)
    return token
