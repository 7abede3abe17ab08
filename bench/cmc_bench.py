"""CMC codec cost against the device floor: building and signing an agent-signed Full PKI Request with a
SoftHSM2 key, and reading a success response, each as time per operation next to the raw device
signature (python-pkcs11 directly, same token, same key) measured in the same run.

Target: building a request costs at most 1.5x the device signature alone. Rounds alternate between the
sides so machine noise hits all of them alike; medians are reported.
"""

from __future__ import annotations

import datetime
import hashlib
import statistics
import time
from collections.abc import Callable
from typing import Any

from asn1crypto import x509
from cryptography import x509 as crypto_x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from pkcs11 import Mechanism, ObjectClass

from bench.devices import make_bench_token

ROUNDS = 7
OPS = {"rsa:2048": 200, "ec:p256": 1000}
TARGET = 1.5


def _certificate(
    subject: str, public_key: Any, issuer: str, signing_key: Any, serial: int, ca: bool
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    built = (
        crypto_x509.CertificateBuilder()
        .subject_name(crypto_x509.Name([crypto_x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(crypto_x509.Name([crypto_x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(crypto_x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(signing_key, hashes.SHA256())
    )
    return x509.Certificate.load(built.public_bytes(serialization.Encoding.DER))


def _per_op(operation: Callable[[], object], count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        operation()
    return (time.perf_counter() - start) / count


def run() -> list[str]:
    bench_token = make_bench_token("cmc-bench")
    from asn1crypto import core

    from agent.cmc import pkcs10, pkiresponse
    from agent.cmc.pkidata import FullPKIRequestBuilder
    from agent.cmc.response import read_response
    from agent.keyops import SoftwareKey
    from tokens.device import open_token
    from tokens.keys import generate_key_pair
    from tokens.pins import PinSource

    token = open_token(f"pkcs11:token={bench_token.label}", pins=PinSource(file=bench_token.pin_file))
    ca_key = SoftwareKey.generate("rsa:2048")
    ca_certificate = _certificate(
        "Bench CA", ca_key.private_key.public_key(), "Bench CA", ca_key.private_key, 1, True
    )
    user = SoftwareKey.generate("rsa:2048")
    csr = pkcs10.build_csr(user, "CN=server.example.com,O=Example", san=["dns:server.example.com"])
    issued = _certificate(
        "server.example.com", user.private_key.public_key(), "Bench CA", ca_key.private_key, 9, False
    )
    status = pkiresponse.control(1, "status_info_v2", pkiresponse.status_info_v2("success", [1]))
    nonce = pkiresponse.control(2, "recipient_nonce", core.OctetString(b"n" * 16))
    response = pkiresponse.sign_response(
        pkiresponse.pki_response([status, nonce]), ca_key, ca_certificate, [issued, ca_certificate]
    ).dump()

    lines = [f"{'operation':<46} {'per op':>10} {'x device sign':>14}"]
    for key_type, count in OPS.items():
        key = generate_key_pair(token, f"bench-{key_type}", key_type)
        raw_key = token.session().get_key(object_class=ObjectClass.PRIVATE_KEY, id=key.key_id)
        public_key = serialization.load_der_public_key(key.public_key_info.dump())
        agent_certificate = _certificate("Bench Agent", public_key, "Bench CA", ca_key.private_key, 2, False)

        def build_request(key: Any = key, agent_certificate: Any = agent_certificate) -> bytes:
            builder = FullPKIRequestBuilder().add_pkcs10(csr)
            return bytes(builder.sign(key, agent_certificate, chain=[ca_certificate]).dump())

        def read_success() -> object:
            return read_response(
                response,
                trusted=[ca_certificate],
                expected_recipient_nonce=b"n" * 16,
                request_public_key=user.public_key_info,
            )

        lines += _measure(key_type, count, _raw_signer(key_type, raw_key), build_request, read_success)
    return lines


def _raw_signer(key_type: str, raw_key: Any) -> Callable[[], object]:
    """One device signature over bytes the size of the two signed attributes a CMC signer signs."""
    signed_attributes = b"\x31\x4b" + b"\x00" * 75
    if key_type.startswith("rsa"):
        return lambda: raw_key.sign(signed_attributes, mechanism=Mechanism.SHA256_RSA_PKCS)
    # SoftHSM2 has no CKM_ECDSA_SHA256: hash, then CKM_ECDSA
    return lambda: raw_key.sign(hashlib.sha256(signed_attributes).digest(), mechanism=Mechanism.ECDSA)


def _measure(
    key_type: str,
    count: int,
    raw_sign: Callable[[], object],
    build_request: Callable[[], object],
    read_success: Callable[[], object],
) -> list[str]:
    build_request()
    read_success()  # warm up
    samples: dict[str, list[float]] = {"raw": [], "build": [], "read": []}
    for _ in range(ROUNDS):
        samples["raw"].append(_per_op(raw_sign, count))
        samples["build"].append(_per_op(build_request, max(count // 4, 20)))
        samples["read"].append(_per_op(read_success, max(count // 4, 20)))
    raw, build, read = (statistics.median(samples[k]) for k in ("raw", "build", "read"))
    verdict = "meets" if build <= TARGET * raw else "MISSES"
    return [
        f"{key_type + ': raw device signature (python-pkcs11)':<46} {raw * 1e3:>8.3f}ms {1.0:>13.2f}x",
        f"{key_type + ': build + sign agent-signed request':<46} {build * 1e3:>8.3f}ms {build / raw:>13.2f}x"
        f"  ({verdict} the {TARGET}x target; codec alone {(build - raw) * 1e3:.3f}ms)",
        f"{key_type + ': read + verify a success response':<46} {read * 1e3:>8.3f}ms {read / raw:>13.2f}x",
    ]
