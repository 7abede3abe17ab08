"""How many agent-signed enrollments per second the local CA completes, against its own crypto floor.

The CA runs as ``cmc-localca serve`` in its own process; clients in this process send pre-built,
pre-signed requests over TLS with keep-alive (one connection per client thread), so the measured rate
is the server's. The floor is what the CA cannot avoid per request, measured in the same run with the
same keys: verifying the CMS signature and the PKCS#10 signature, signing the certificate and signing
the response (two RSA-2048 verifications and two RSA-2048 signatures).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from agent.keyops import SoftwareKey

REQUESTS = int(os.environ.get("LOCALCA_BENCH_REQUESTS", "240"))
CLIENTS = int(os.environ.get("LOCALCA_BENCH_CLIENTS", "2"))
FULL = "/ca/ee/ca/profileSubmitCMCFull?profileId=caCMCserverCert"


@dataclass(frozen=True)
class Prepared:
    directory: Path
    agent_cert: Path
    agent_key_file: Path
    bodies: list[bytes]
    agent_key: SoftwareKey
    user_key: SoftwareKey


def _prepare(work: Path) -> Prepared:
    """A CA, a registered agent, and ``REQUESTS`` signed enrollment requests ready to send."""
    from cryptography.hazmat.primitives import serialization

    from agent.cmc.asn1 import cmc
    from agent.cmc.signeddata import sign_content
    from localca.bootstrap import initialise
    from localca.cli import main as cli_main

    directory = work / "ca"
    initialise(directory)
    agent_key = SoftwareKey.generate("rsa:2048")
    csr_path = work / "agent.csr"
    csr_path.write_bytes(_csr(agent_key, "CN=Bench Agent,O=Example"))
    cert_path = work / "agent.pem"
    with open(os.devnull, "w") as devnull:
        stdout, sys.stdout = sys.stdout, devnull
        try:
            cli_main(["agent", "add", str(directory), "--csr", str(csr_path), "--out", str(cert_path)])
        finally:
            sys.stdout = stdout
    key_path = work / "agent-key.pem"
    assert isinstance(agent_key.private_key, rsa.RSAPrivateKey)
    key_path.write_bytes(
        agent_key.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    from asn1crypto import pem, x509

    _, _, der = pem.unarmor(cert_path.read_bytes())
    agent_certificate = x509.Certificate.load(der)

    user_key = SoftwareKey.generate("rsa:2048")  # one key for all: the bench measures the CA, not keygen
    bodies = []
    for index in range(REQUESTS):
        from asn1crypto import csr

        request = csr.CertificationRequest.load(_csr(user_key, f"CN=bench{index}.example.com"))
        pki_data = cmc.PKIData(
            {
                "control_sequence": [],
                "req_sequence": [
                    cmc.TaggedRequest(name="tcr", value={"body_part_id": 1, "certification_request": request})
                ],
                "cms_sequence": [],
                "other_msg_sequence": [],
            }
        )
        content_info = sign_content(
            pki_data.dump(),
            "pki_data",
            agent_key,
            certificate=agent_certificate,
            certificates=[agent_certificate],
        )
        bodies.append(content_info.dump())
    return Prepared(directory, cert_path, key_path, bodies, agent_key, user_key)


def _csr(key: SoftwareKey, subject: str) -> bytes:
    from asn1crypto import csr

    from agent.cmc.algorithms import signature_algorithm
    from agent.cmc.names import parse_dn

    info = csr.CertificationRequestInfo(
        {
            "version": "v1",
            "subject": parse_dn(subject),
            "subject_pk_info": key.public_key_info,
            "attributes": [],
        }
    )
    return bytes(
        csr.CertificationRequest(
            {
                "certification_request_info": info,
                "signature_algorithm": signature_algorithm(
                    key.key_algorithm, "sha256", ecdsa_null_params=False
                ),
                "signature": key.sign(info.dump()),
            }
        ).dump()
    )


def _crypto_floor(prepared: Prepared, seconds: float = 1.5) -> float:
    """Per-request crypto the CA cannot avoid (2 RSA-2048 verifications + 2 signatures), in seconds."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    ca_key = prepared.user_key.private_key  # an RSA-2048 key like the CA's
    agent_key = prepared.agent_key.private_key
    assert isinstance(ca_key, rsa.RSAPrivateKey) and isinstance(agent_key, rsa.RSAPrivateKey)
    data = os.urandom(600)
    signature = agent_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    public = agent_key.public_key()
    rounds = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())  # CMS SignerInfo
        public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())  # PKCS#10
        ca_key.sign(data, padding.PKCS1v15(), hashes.SHA256())  # certificate
        ca_key.sign(data, padding.PKCS1v15(), hashes.SHA256())  # response
        rounds += 1
    return (time.perf_counter() - start) / rounds


def _serve(directory: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "localca.cli", "serve", str(directory), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("listening on "):
        process.kill()
        raise RuntimeError(f"cmc-localca serve did not start: {line!r}")
    return process, line.removeprefix("listening on ")


def _drive(url: str, ca_pem: Path, cert: tuple[str, str], bodies: list[bytes]) -> tuple[float, list[float]]:
    import requests

    latencies: list[float] = []
    lock = threading.Lock()
    chunks = [bodies[index::CLIENTS] for index in range(CLIENTS)]
    sessions = []
    for _ in range(CLIENTS):
        session = requests.Session()
        session.trust_env = False
        session.post(
            url + "/ca/ee/ca/profileSubmitCMCFull?profileId=none", data=b"", cert=cert, verify=str(ca_pem)
        )
        sessions.append(session)  # connection made (and kept) before the clock starts

    def client(session: requests.Session, chunk: list[bytes]) -> None:
        for body in chunk:
            started = time.perf_counter()
            answer = session.post(url + FULL, data=body, cert=cert, verify=str(ca_pem), timeout=60)
            elapsed = time.perf_counter() - started
            if answer.status_code != 200 or len(answer.content) < 1000:
                raise RuntimeError("enrollment failed during the benchmark")
            with lock:
                latencies.append(elapsed)

    threads = [threading.Thread(target=client, args=(s, c)) for s, c in zip(sessions, chunks, strict=True)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start, latencies


def run() -> list[str]:
    with tempfile.TemporaryDirectory(prefix="localca-bench-") as temporary:
        work = Path(temporary)
        prepared = _prepare(work)
        process, url = _serve(prepared.directory)
        try:
            wall, latencies = _drive(
                url,
                prepared.directory / "ca.pem",
                (str(prepared.agent_cert), str(prepared.agent_key_file)),
                prepared.bodies,
            )
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=15)
        floor_seconds = _crypto_floor(prepared)
    rate = len(latencies) / wall
    floor_rate = 1.0 / floor_seconds
    latencies.sort()
    median = latencies[len(latencies) // 2] * 1000
    return [
        f"localca: {len(latencies)} agent-signed enrollments (RSA-2048 CA and keys), "
        f"{CLIENTS} TLS keep-alive clients",
        f"  completed: {rate:.1f} enrollments/s (median latency {median:.1f} ms)",
        f"  CA crypto floor, same run (2 verify + 2 sign per request): {floor_rate:.1f} requests/s "
        f"({floor_seconds * 1000:.2f} ms)",
        f"  ratio completed/floor: {rate / floor_rate:.3f} "
        f"(each enrollment costs the CA {floor_rate / rate:.1f}x its unavoidable crypto time)",
    ]


if __name__ == "__main__":
    print("\n".join(run()))
