"""Full TLS handshakes per second: a client key on SoftHSM2 (through pkcs11-provider) against the same kind
of key in a file, same ``openssl s_server -Verify 1``, same run.

Machines here are noisy (two cores, other work running), so the two sides are measured *paired*: one
worker process alternates a device handshake and a key-file handshake and times each, so both see the
same moment's load; a few workers (fresh processes: the provider serves one module per process) give a
median. Every handshake is a full one (no session resumption), with the client certificate requested,
verified and signed for, and ends when the server answers a one-line HTTP request (the only way to know
that a TLS 1.3 server has finished checking the client certificate).

The ratio has a floor that belongs to the device, not to us: a handshake cannot beat the key-file one plus
the extra time the token needs for its one signature. SoftHSM2 2.6.1 signs RSA-2048 about 2x slower than
OpenSSL in memory (it rebuilds the key from its object store each time), ECDSA P-256 is cheap on both.
So the signature rates are measured the same paired way (python-pkcs11 against ``cryptography``) and each
line also gives the device-limited rate and how close the real one comes (``vs floor 1.00``: the provider,
ctypes and Python add nothing measurable). An NSS database key is measured for information: softokn reads
key4.db on every private-key operation.

    python -m bench tls
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.devices import BenchToken

ROOT = Path(__file__).resolve().parent.parent
SECONDS_PER_ROUND = 1.5
ROUNDS = 3
TARGET_RATIO = 0.9
CASES = (("rsa", "TLSv1_3"), ("ec", "TLSv1_3"), ("rsa", "TLSv1_2"), ("ec", "TLSv1_2"))
SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"

Pair = tuple[float, float]  # (device, software) operations per second


def run() -> list[str]:
    from bench.devices import make_bench_token

    work = Path(tempfile.mkdtemp(prefix="cmc-bench-tls-"))
    token = make_bench_token("tls-bench")  # sets SOFTHSM2_CONF for the workers
    try:
        return _measure_all(work, token)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(token.directory, ignore_errors=True)


def _measure_all(work: Path, token: BenchToken) -> list[str]:
    from tests.devices import make_nssdb
    from tests.tokens.tls_helpers import SServer, TestCA, nss_key_pair, percent_encode, softhsm_key_pair
    from tokens.tls import nss_init_args

    ca = TestCA.create(work / "ca")
    server_key, server_cert = ca.software_pair("ec", "bench server", server_ip="127.0.0.1")

    device: dict[str, dict[str, Any]] = {}
    software: dict[str, dict[str, Any]] = {}
    for kind, key_type, hex_id in (("rsa", "rsa:2048", "01"), ("ec", "EC:prime256v1", "02")):
        public_key = softhsm_key_pair(
            SOFTHSM_MODULE, token.label, token.pin, key_type, hex_id, f"bench-{kind}"
        )
        cert = ca.write(f"softhsm-{kind}.pem", ca.issue(public_key, f"softhsm {kind}"))
        uri = f"pkcs11:token={token.label};id={percent_encode(hex_id)}"
        device[kind] = {"module": SOFTHSM_MODULE, "uri": uri, "pin": token.pin, "cert": str(cert)}
        key_file, cert_file = ca.software_pair(kind, f"software {kind}")
        software[kind] = {"key_file": str(key_file), "cert": str(cert_file)}
    db = make_nssdb(work / "nss")
    nss_id, nss_public = nss_key_pair(db.directory, db.password_file, "rsa", "nss rsa")
    nss = {
        "module": db.module,
        "uri": f"pkcs11:token=NSS%20Certificate%20DB;id={percent_encode(nss_id)}",
        "pin": db.password,
        "init_args": nss_init_args(str(db.directory)),
        "cert": str(ca.write("nss-rsa.pem", ca.issue(nss_public, "nss rsa"))),
    }

    lines = [
        f"paired measurements, median of {ROUNDS} fresh processes x {SECONDS_PER_ROUND:.1f} s; "
        f"server: openssl s_server -Verify 1 on 127.0.0.1 (EC P-256); target ratio >= {TARGET_RATIO}"
    ]
    extra_sign_seconds = {}
    for kind in ("rsa", "ec"):
        sign_params = {"mode": "sign", "kind": kind, "token_label": token.label, "device": device[kind]}
        on_token, in_memory = _median_pair(sign_params | {"software": software[kind]})
        extra_sign_seconds[kind] = 1 / on_token - 1 / in_memory
        lines.append(
            f"{kind.upper():<3} signatures (as TLS 1.3 makes them): SoftHSM2 {on_token:6.0f}/s  "
            f"in memory {in_memory:6.0f}/s  (the device adds {1000 * extra_sign_seconds[kind]:.2f} ms)"
        )
    with SServer(server_cert, server_key, client_ca=ca.cert_file) as server:
        common: dict[str, Any] = {"mode": "handshake", "port": server.port, "ca": str(ca.cert_file)}
        for kind, version in CASES:
            params = common | {"version": version, "device": device[kind], "software": software[kind]}
            on_device, in_file = _median_pair(params)
            ratio = on_device / in_file
            floor = 1 / (1 / in_file + extra_sign_seconds[kind])
            verdict = "ok" if ratio >= TARGET_RATIO else "below target"
            lines.append(
                f"{kind.upper():<3} {version.replace('_', '.')} handshakes: SoftHSM2 {on_device:4.0f}/s  "
                f"key file {in_file:4.0f}/s  ratio {ratio:.2f} ({verdict}); "
                f"device-limited {floor:4.0f}/s, vs floor {on_device / floor:.2f}"
            )
        nss_params = common | {"version": "TLSv1_3", "device": nss, "software": software["rsa"]}
        on_nss, in_file = _median_pair(nss_params, rounds=1)
        lines.append(
            f"RSA TLSv1.3 handshakes: NSS softokn {on_nss:4.0f}/s  key file {in_file:4.0f}/s  "
            f"ratio {on_nss / in_file:.2f} (information: softokn reads key4.db for every signature)"
        )
    rsa_server_key, rsa_server_cert = ca.software_pair("rsa", "bench rsa server", server_ip="127.0.0.1")
    with SServer(rsa_server_cert, rsa_server_key, client_ca=ca.cert_file) as server:
        rsa_params = {"mode": "handshake", "port": server.port, "ca": str(ca.cert_file), "version": "TLSv1_3"}
        on_device, in_file = _median_pair(rsa_params | {"device": device["rsa"], "software": software["rsa"]})
        lines.append(
            f"RSA TLSv1.3 handshakes, RSA-2048 server (Dogtag's default): SoftHSM2 {on_device:4.0f}/s  "
            f"key file {in_file:4.0f}/s  ratio {on_device / in_file:.2f}"
        )
    return lines


def _median_pair(params: dict[str, Any], rounds: int = ROUNDS) -> Pair:
    pairs = [_run_worker(params) for _ in range(rounds)]
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


def _run_worker(params: dict[str, Any]) -> Pair:
    completed = subprocess.run(
        [sys.executable, "-m", "bench.tls_bench", json.dumps(params | {"seconds": SECONDS_PER_ROUND})],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if completed.returncode:
        raise RuntimeError(f"TLS benchmark worker failed: {completed.stderr.strip()}")
    device_rate, software_rate = json.loads(completed.stdout.strip().splitlines()[-1])
    return float(device_rate), float(software_rate)


def _paired_rates(device: Callable[[], None], software: Callable[[], None], seconds: float) -> Pair:
    """Alternate the two operations, timing each, until ``seconds`` have passed; one warm-up each."""
    device()
    software()
    spent = [0.0, 0.0]
    count = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for index, operation in enumerate((device, software)):
            begin = time.perf_counter()
            operation()
            spent[index] += time.perf_counter() - begin
        count += 1
    return count / spent[0], count / spent[1]


def _handshakes(params: dict[str, Any]) -> Pair:
    from tokens.tls import DeviceTlsKey, client_ssl_context

    version = ssl.TLSVersion[params["version"]]
    on_device = params["device"]
    key = DeviceTlsKey(on_device["module"], on_device["uri"], on_device["pin"], on_device.get("init_args"))
    device_context = client_ssl_context(
        key, on_device["cert"], params["ca"], minimum_version=version, maximum_version=version
    )
    file_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    file_context.minimum_version = file_context.maximum_version = version
    file_context.load_verify_locations(cafile=params["ca"])
    file_context.load_cert_chain(params["software"]["cert"], params["software"]["key_file"])

    def handshake_with(context: ssl.SSLContext) -> Callable[[], None]:
        def handshake() -> None:
            with socket.create_connection(("127.0.0.1", params["port"])) as raw:
                with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls_socket:
                    # wait for the server's answer: in TLS 1.3 it checks the client certificate only after
                    # our side of the handshake is done, and that work belongs to this handshake
                    tls_socket.sendall(b"GET / HTTP/1.0\r\n\r\n")
                    if not tls_socket.recv(64).startswith(b"HTTP/1.0 200"):
                        raise RuntimeError("the server did not accept the handshake")

        return handshake

    return _paired_rates(handshake_with(device_context), handshake_with(file_context), params["seconds"])


def _signatures(params: dict[str, Any]) -> Pair:
    """The signature a TLS 1.3 client makes: RSA-PSS SHA-256, or ECDSA P-256 SHA-256."""
    import hashlib

    import pkcs11
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from pkcs11 import MGF, Mechanism, ObjectClass

    on_device = params["device"]
    token = pkcs11.lib(on_device["module"]).get_token(token_label=params["token_label"])
    session = token.open(user_pin=on_device["pin"])
    key_id = bytes.fromhex(on_device["uri"].rsplit("id=", 1)[1].replace("%", ""))
    token_key: Any = session.get_key(ObjectClass.PRIVATE_KEY, id=key_id)
    with open(params["software"]["key_file"], "rb") as handle:
        memory_key = serialization.load_pem_private_key(handle.read(), password=None)
    data = b"transcript hash"
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)

    def sign_on_token() -> None:
        if params["kind"] == "rsa":
            mechanism_param = (Mechanism.SHA256, MGF.SHA256, 32)
            token_key.sign(data, mechanism=Mechanism.SHA256_RSA_PKCS_PSS, mechanism_param=mechanism_param)
        else:  # SoftHSM2 has no CKM_ECDSA_SHA256: hash here, sign on the token (as the provider does)
            token_key.sign(hashlib.sha256(data).digest(), mechanism=Mechanism.ECDSA)

    def sign_in_memory() -> None:
        if isinstance(memory_key, rsa.RSAPrivateKey):
            memory_key.sign(data, pss, hashes.SHA256())
        elif isinstance(memory_key, ec.EllipticCurvePrivateKey):
            memory_key.sign(data, ec.ECDSA(hashes.SHA256()))

    return _paired_rates(sign_on_token, sign_in_memory, params["seconds"])


if __name__ == "__main__":
    worker_params = json.loads(sys.argv[1])
    measure = _signatures if worker_params["mode"] == "sign" else _handshakes
    print(json.dumps(measure(worker_params)))
