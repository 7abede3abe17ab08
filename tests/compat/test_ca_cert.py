"""``cmc-agent ca-cert-find`` / ``ca-cert-export``: the walkthrough's ``pki -p 8443 ca-cert-find --name
"DRM Transport Certificate"`` and ``pki -p 8443 ca-cert-export 12345 --output kra.transport`` against
cmc-localca's REST resources over verified TLS, printing what pki v11.3.1 prints."""

from __future__ import annotations

import re
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.compat.conftest import LocalCA, tool

JAVA_DATE = r"[A-Z][a-z]{2} [A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d UTC \d{4}"


def transport(local_ca: LocalCA) -> x509.Certificate:
    return x509.load_pem_x509_certificate((local_ca.directory / "kra-transport.pem").read_bytes())


def test_find_the_transport_certificate_as_pki_prints_it(local_ca: LocalCA) -> None:
    found = tool("cmc-agent", "ca-cert-find", "-h", "localhost", "-p", str(local_ca.port), "--ca-cert",
                 str(local_ca.ca_cert), "--name", "DRM Transport Certificate")  # fmt: skip
    certificate = transport(local_ca)
    lines = found.stdout.splitlines()
    assert lines[:3] == ["-" * 15, "1 entries found", "-" * 15]
    assert lines[3] == f"  Serial Number: 0x{certificate.serial_number:x}"
    assert lines[4].startswith("  Subject DN: CN=DRM Transport Certificate,")
    assert lines[5].startswith("  Issuer DN: CN=") and "Subject DN" not in lines[5]
    assert lines[6:8] == ["  Status: VALID", "  Type: X.509 version 3"]
    assert lines[8] == f"  Key Algorithm: PKCS #1 RSA with {certificate.public_key().key_size}-bit key"
    for line, label in zip(lines[9:12], ("Not Valid Before", "Not Valid After", "Issued On"), strict=True):
        assert re.fullmatch(rf"  {label}: {JAVA_DATE}", line), line
    assert lines[9].endswith(
        f"{certificate.not_valid_before_utc:%H:%M:%S} UTC {certificate.not_valid_before_utc.year}"
    )
    assert lines[12].startswith("  Issued By: ")
    assert lines[13:] == [
        "----------------------------",
        "Number of entries returned 1",
        "----------------------------",
    ]
    assert found.stderr == ""

    none = tool("cmc-agent", "ca-cert-find", "-U", f"https://localhost:{local_ca.port}", "--ca-cert",
                str(local_ca.ca_cert), "--name", "No Such Certificate", "--matchExactly")  # fmt: skip
    assert none.stdout.splitlines() == ["-" * 15, "0 entries found", "-" * 15]


def test_export_writes_the_certificate_asked_for(local_ca: LocalCA, tmp_path: Path) -> None:
    certificate = transport(local_ca)
    output = tmp_path / "kra.transport"
    tool("cmc-agent", "ca-cert-export", str(certificate.serial_number), "-h", "localhost", "-p",
         str(local_ca.port), "--ca-cert", str(local_ca.ca_cert), "--output", str(output))  # fmt: skip
    written = x509.load_pem_x509_certificate(output.read_bytes())
    assert written.public_bytes(serialization.Encoding.DER) == certificate.public_bytes(
        serialization.Encoding.DER
    )
    shown = tool("cmc-agent", "ca-cert-export", f"0x{certificate.serial_number:x}", "-h", "localhost", "-p",
                 str(local_ca.port), "--ca-cert", str(local_ca.ca_cert))  # fmt: skip
    assert shown.stdout.encode() == output.read_bytes()


def test_unknown_serial_wrong_ca_and_plain_http_are_one_line_errors(
    local_ca: LocalCA, tmp_path: Path
) -> None:
    base = ["-h", "localhost", "-p", str(local_ca.port)]
    missing = tool("cmc-agent", "ca-cert-export", "0x7fffffff", *base, "--ca-cert", str(local_ca.ca_cert),
                   "--output", str(tmp_path / "x.pem"), check=False)  # fmt: skip
    assert missing.returncode == 1 and len(missing.stderr.splitlines()) == 1 and "404" in missing.stderr
    assert not (tmp_path / "x.pem").exists()
    other_ca = tmp_path / "other.pem"
    other_ca.write_bytes(
        (Path(__file__).resolve().parents[1] / "samples" / "dogtag" / "test-ca.pem").read_bytes()
    )
    untrusted = tool(
        "cmc-agent", "ca-cert-find", *base, "--ca-cert", str(other_ca), "--name", "x", check=False
    )
    assert untrusted.returncode == 1 and len(untrusted.stderr.splitlines()) == 1
    assert "certificate verify failed" in untrusted.stderr or "TLS" in untrusted.stderr
    plain = tool("cmc-agent", "ca-cert-find", "-U", f"http://localhost:{local_ca.port}", "--ca-cert",
                 str(local_ca.ca_cert), check=False)  # fmt: skip
    assert plain.returncode == 1 and "only https://" in plain.stderr
