"""CMCResponse prints certificates as JSS's CertPrettyPrint does, line for line: compared with the stdout
of Dogtag's own CMCResponse on the same response (tests/samples/dogtag), and, for RSA and EC keys and every
extension cmc-localca issues, with values read independently by ``cryptography``."""

from __future__ import annotations

import datetime
import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from agent.compat.certprint import java_date, java_name, pretty_certificate
from localca import extensions
from tests.compat.conftest import tool

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "dogtag"
OURS_ONLY = "Response signature verified: "


def dogtag_stdout(name: str) -> list[str]:
    """Dogtag's captured stdout, without the ``exit code: 0`` line the capture appended."""
    lines = (SAMPLES / name).read_text().splitlines()
    assert lines[-1] == "exit code: 0"
    return lines[:-1]


@pytest.fixture
def sample_db(tmp_path: Path) -> Path:
    shutil.copytree(SAMPLES / "nssdb", tmp_path / "nssdb")
    return tmp_path / "nssdb"


@pytest.mark.parametrize(
    ("flags", "captured"), [((), "resp-success.cmcresponse.txt"), (("-v",), "resp-success.cmcresponse-v.txt")]
)
def test_cmcresponse_prints_dogtag_lines_for_dogtags_response(
    sample_db: Path, flags: tuple[str, ...], captured: str
) -> None:
    shown = tool("CMCResponse", "-d", str(sample_db), "-i", str(SAMPLES / "resp-success.der"), *flags)
    ours = shown.stdout.splitlines()
    added = [line for line in ours if line.startswith(OURS_ONLY)]
    assert added == [
        f"{OURS_ONLY}signed by CN=Test CA Signing Certificate, O=Example Test, a trusted CA "
        f"('Test CA' (CT,C,C) in {sample_db})"
    ]
    assert [line for line in ours if not line.startswith(OURS_ONLY)] == dogtag_stdout(captured)


def test_verified_line_names_the_one_anchor_not_every_trusted_ca(sample_db: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.pem"
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Unrelated Root")])
    now = datetime.datetime.now(datetime.UTC)
    root = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    other.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    password = tmp_path / "password"
    password.write_text("Secret.123\n")
    subprocess.run(
        [
            "certutil",
            "-A",
            "-d",
            f"sql:{sample_db}",
            "-f",
            str(password),
            "-n",
            "Unrelated",
            "-t",
            "CT,C,C",
            "-i",
            str(other),
        ],
        check=True,
        capture_output=True,
    )
    shown = tool("CMCResponse", "-d", str(sample_db), "-i", str(SAMPLES / "resp-success.der"))
    (line,) = [line for line in shown.stdout.splitlines() if line.startswith(OURS_ONLY)]
    assert "'Test CA' (CT,C,C)" in line and "Unrelated" not in line


# --- every extension localca issues, RSA and EC --------------------------------------------------------


def colon_hex(data: bytes, indent: int) -> list[str]:
    text = ":".join(f"{b:02X}" for b in data)
    chunks = [text[i : i + 48] for i in range(0, len(text), 48)]
    return [" " * indent + chunk for chunk in chunks]


def issue(
    subject_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
) -> tuple[x509.Certificate, x509.Certificate]:
    """A CA and a certificate it issued carrying each extension ``localca.extensions`` makes."""
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example"),
            x509.NameAttribute(NameOID.COMMON_NAME, "CA"),
        ]
    )
    start = datetime.datetime(2026, 11, 26, 19, 3, 43, tzinfo=datetime.UTC)
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_asn1 = asn1_x509.Certificate.load(ca.public_bytes(serialization.Encoding.DER))
    spki = asn1_x509.PublicKeyInfo.load(
        subject_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    made = [
        extensions.authority_key_identifier(ca_asn1),
        extensions.authority_info_access_ocsp("http://ca.example.com:8080/ca/ocsp"),
        extensions.basic_constraints(True, 0, True),
        extensions.key_usage(
            ("digital_signature", "non_repudiation", "key_encipherment", "key_cert_sign", "crl_sign"), True
        ),
        extensions.extended_key_usage(("1.3.6.1.5.5.7.3.2", "1.3.6.1.5.5.7.3.9"), False),
        extensions.ocsp_no_check(),
        extensions.subject_key_identifier(spki),
        extensions.subject_alt_name(["host.example.com"], ["192.0.2.7", "2001:db8::1"]),
    ]
    builder = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.USER_ID, "jdoe"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "Jane, Doe"),
                ]
            )
        )
        .issuer_name(ca_name)
        .public_key(subject_key.public_key())
        .serial_number(0x1003)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=365))
    )
    for extension in made:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(
                x509.ObjectIdentifier(extension["extn_id"].dotted), extension["extn_value"].contents
            ),
            critical=bool(extension["critical"].native),
        )
    return ca, builder.sign(ca_key, hashes.SHA256())


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_every_localca_extension_and_the_key_print_as_jss_does(kind: str) -> None:
    subject_key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if kind == "rsa"
        else ec.generate_private_key(ec.SECP256R1())
    )
    ca, certificate = issue(subject_key)
    der = certificate.public_bytes(serialization.Encoding.DER)
    lines = pretty_certificate(asn1_x509.Certificate.load(der)).splitlines()
    ski = x509.SubjectKeyIdentifier.from_public_key(subject_key.public_key()).digest
    aki = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    if kind == "rsa":
        numbers = subject_key.public_key().public_numbers()
        assert isinstance(numbers, rsa.RSAPublicNumbers)
        key_lines = [
            "                Algorithm: RSA - 1.2.840.113549.1.1.1",
            "                Public Key: ",
            "                    Exponent: 65537",
            "                    Public Key Modulus: (2048 bits) :",
            *colon_hex(numbers.n.to_bytes(256, "big"), 24),
        ]
    else:
        point = subject_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        key_lines = [
            "                Algorithm: EC - 1.2.840.10045.2.1",
            "                Public Key: ",
            *colon_hex(point, 20),
        ]
    fingerprints = []
    for name, algorithm in (("MD5", "md5"), ("SHA-1", "sha1"), ("SHA-256", "sha256"), ("SHA-512", "sha512")):
        fingerprints += [f"            {name}:", *colon_hex(hashlib.new(algorithm, der).digest(), 16)]
    expected = [
        "    Certificate: ",
        "        Data: ",
        "            Version:  v3",
        "            Serial Number: 0x1003",
        "            Signature Algorithm: SHA256withRSA - 1.2.840.113549.1.1.11",
        "            Issuer: CN=CA, O=Example",
        "            Validity: ",
        "                Not Before: Thursday, November 26, 2026 at 7:03:43 PM Coordinated Universal Time",
        "                Not  After: Friday, November 26, 2027 at 7:03:43 PM Coordinated Universal Time",
        '            Subject: CN="Jane, Doe", UID=jdoe',
        "            Subject Public Key Info: ",
        *key_lines,
        "            Extensions: ",
        "                Identifier: Authority Key Identifier - 2.5.29.35",
        "                    Critical: no ",
        "                    Key Identifier: ",
        *colon_hex(aki, 24),
        "                Identifier: Authority Info Access: - 1.3.6.1.5.5.7.1.1",
        "                    Critical: no ",
        "                    Access Description: ",
        "                        Method #0: ocsp",
        "                        Location #0: URIName: http://ca.example.com:8080/ca/ocsp",
        "                Identifier: Basic Constraints - 2.5.29.19",
        "                    Critical: yes ",
        "                    Is CA: yes ",
        "                    Path Length Constraint: 0",
        "                Identifier: Key Usage: - 2.5.29.15",
        "                    Critical: yes ",
        "                    Key Usage: ",
        "                        Digital Signature ",
        "                        Non Repudiation ",
        "                        Key Encipherment ",
        "                        Key CertSign ",
        "                        Crl Sign ",
        "                Identifier: Extended Key Usage: - 2.5.29.37",
        "                    Critical: no ",
        "                    Extended Key Usage: ",
        "                        1.3.6.1.5.5.7.3.2",
        "                        OCSPSigning",
        "                Identifier: OCSP NoCheck: - 1.3.6.1.5.5.7.48.1.5",
        "                    Critical: no ",
        "                Identifier: Subject Key Identifier - 2.5.29.14",
        "                    Critical: no ",
        "                    Key Identifier: ",
        *colon_hex(ski, 24),
        "                Identifier: Subject Alternative Name - 2.5.29.17",
        "                    Critical: no ",
        "                    Value: ",
        "                        DNSName: host.example.com",
        "                        IPAddress: 192.0.2.7",
        "                        IPAddress: 2001:db8:0:0:0:0:0:1",
        "        Signature: ",
        "            Algorithm: SHA256withRSA - 1.2.840.113549.1.1.11",
        "            Signature: ",
        *colon_hex(certificate.signature, 16),
        "        FingerPrint",
        "            MD2:",
    ]
    assert lines[: len(expected)] == expected
    assert len(lines[len(expected)]) == 16 + 47  # the MD2 fingerprint: 16 bytes on one line
    assert lines[len(expected) + 1 :] == fingerprints


def test_names_and_dates_as_java_writes_them() -> None:
    name = asn1_x509.Name.build({"common_name": " lead", "organization_name": 'a "b"', "country_name": "US"})
    # most specific first; RFC 1779 quotes a leading space and a quote, and escapes the quote
    assert java_name(name) == 'CN=" lead", O="a \\"b\\"", C=US'
    midnight = datetime.datetime(2027, 1, 5, 0, 7, 9, tzinfo=datetime.UTC)
    assert java_date(midnight) == "Tuesday, January 5, 2027 at 12:07:09 AM Coordinated Universal Time"
