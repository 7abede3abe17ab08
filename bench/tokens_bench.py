"""Device signing through ``tokens`` against raw python-pkcs11 on the same token and key, and two-thread
scaling. Rounds alternate between the two sides so machine noise hits both alike; medians are reported."""

from __future__ import annotations

import hashlib
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

from pkcs11 import Mechanism, ObjectClass
from pkcs11.util.ec import encode_ecdsa_signature

from bench.devices import make_bench_token
from tokens.keys import DeviceKey

ROUNDS = 7
OPS = {"rsa:2048": 300, "ec:p256": 2000}


def _rate(operation: Callable[[], object], count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        operation()
    return count / (time.perf_counter() - start)


def _threaded_rate(operation: Callable[[], object], count: int, threads: int) -> float:
    barrier = threading.Barrier(threads + 1)

    def work() -> None:
        barrier.wait()
        for _ in range(count):
            operation()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    start = time.perf_counter()
    for worker in workers:
        worker.join()
    return threads * count / (time.perf_counter() - start)


def run() -> list[str]:
    bench_token = make_bench_token()
    from tokens.device import open_token
    from tokens.keys import generate_key_pair
    from tokens.pins import PinSource

    token = open_token(f"pkcs11:token={bench_token.label}", pins=PinSource(file=bench_token.pin_file))
    lines: list[str] = []
    for key_type, count in OPS.items():
        key = generate_key_pair(token, f"bench-{key_type}", key_type)
        raw_key = token.session().get_key(object_class=ObjectClass.PRIVATE_KEY, id=key.key_id)
        lines += _compare(key_type, key, raw_key, count)
    return lines


def _compare(key_type: str, key: DeviceKey, raw_key: Any, count: int) -> list[str]:
    data = b"x" * 512
    if key_type.startswith("rsa"):

        def raw() -> bytes:
            return bytes(raw_key.sign(data, mechanism=Mechanism.SHA256_RSA_PKCS))

    else:

        def raw() -> bytes:  # what a python-pkcs11 user writes for ECDSA-SHA256 on SoftHSM2
            digest = hashlib.sha256(data).digest()
            return bytes(encode_ecdsa_signature(raw_key.sign(digest, mechanism=Mechanism.ECDSA)))

    def ours() -> bytes:
        return key.sign(data)

    ours()
    raw()
    raw_rates, our_rates = [], []
    for _ in range(ROUNDS):
        raw_rates.append(_rate(raw, count))
        our_rates.append(_rate(ours, count))
    raw_rate, our_rate = statistics.median(raw_rates), statistics.median(our_rates)
    lines = [
        f"{key_type} sign: tokens {our_rate:,.0f}/s, raw python-pkcs11 {raw_rate:,.0f}/s, "
        f"ratio {our_rate / raw_rate:.2f} (target >= 0.90)"
    ]
    if key_type == "rsa:2048":
        lines += _scaling(key, ours, count)
    return lines


def _scaling(key: DeviceKey, ours: Callable[[], object], count: int) -> list[str]:
    """Two threads against one, ours and raw python-pkcs11 (one session per thread) alternating."""
    local = threading.local()

    def raw() -> bytes:
        if not hasattr(local, "key"):
            session = key.token.token.open()
            local.key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=key.key_id)
        return bytes(local.key.sign(b"x" * 512, mechanism=Mechanism.SHA256_RSA_PKCS))

    ratios: dict[str, list[float]] = {"ours": [], "raw": []}
    rates: dict[str, list[float]] = {"ours": [], "raw": []}
    for _ in range(ROUNDS):
        for name, operation in (("ours", ours), ("raw", raw)):
            one = _threaded_rate(operation, count, 1)
            two = _threaded_rate(operation, count, 2)
            ratios[name].append(two / one)
            rates[name].append(two)
    return [
        f"rsa:2048 two threads through tokens: {statistics.median(rates['ours']):,.0f}/s, "
        f"scaling {statistics.median(ratios['ours']):.2f}x (target >= 1.7x on 2 cores); "
        f"raw python-pkcs11 in the same rounds: {statistics.median(ratios['raw']):.2f}x"
    ]
