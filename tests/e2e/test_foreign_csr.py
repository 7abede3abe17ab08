"""CSRs made by other tools carry attributes and extensions we do not interpret: certmonger writes a
``friendlyName`` attribute (PKCS#9, a BMPString) and Microsoft's certificate-template-name extension
(1.3.6.1.4.1.311.20.2) holding the profile. Such a CSR must be read, wrapped in a CMC request byte for
byte, and issued for, as Dogtag does.

``tests/cmc/golden/certmonger-request.csr`` was made by certmonger 0.79.17 (Debian 12):
``getcert request -c HELPER -d sql:DB -n host -T caCMCserverCert -N CN=host.example.com -D
host.example.com`` with an external CA helper that saved ``$CERTMONGER_CSR``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from asn1crypto import pem
from cryptography import x509
from pyasn1.codec.der import decoder, encoder
from pyasn1_modules import rfc2986, rfc6402

from agent.cmc.pkcs10 import load_csr, requested_extensions
from tests.e2e.conftest import DeviceAgent, LocalCA, run

CERTMONGER_CSR = Path(__file__).parent.parent / "cmc" / "golden" / "certmonger-request.csr"
FRIENDLY_NAME = "1.2.840.113549.1.9.20"


def _csr_der() -> bytes:
    return pem.unarmor(CERTMONGER_CSR.read_bytes())[2]


def test_a_certmonger_csr_is_read_with_its_unknown_attribute_kept_opaque() -> None:
    request = load_csr(CERTMONGER_CSR.read_bytes())

    assert request.dump() == _csr_der(), "read as received, nothing re-encoded"
    attributes = request["certification_request_info"]["attributes"]
    (friendly,) = [a for a in attributes if a["type"].dotted == FRIENDLY_NAME]
    assert friendly["values"][0].dump() == b"\x1e\x08\x00h\x00o\x00s\x00t", "BMPString 'host', untouched"
    extension_ids = {e["extn_id"].dotted for e in requested_extensions(request)}
    assert "1.3.6.1.4.1.311.20.2" in extension_ids and "2.5.29.17" in extension_ids


def test_a_certmonger_csr_is_wrapped_byte_for_byte_and_issued(
    local_ca: LocalCA, hsm_agent: DeviceAgent, tmp_path: Path
) -> None:
    request_file, response = tmp_path / "cmc-request.bin", tmp_path / "cmc-response.bin"
    run("cmc-agent", "request", "--csr", str(CERTMONGER_CSR), "--signer-key", hsm_agent.key_uri,
        "--signer-cert", str(hsm_agent.cert), "-o", str(request_file), *hsm_agent.pin_args)  # fmt: skip

    # An independent decoder finds certmonger's CSR inside our PKIData, unchanged.
    signed = subprocess.run(
        ["openssl", "cms", "-verify", "-noverify", "-inform", "DER", "-in", str(request_file)],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    pki_data, rest = decoder.decode(signed, asn1Spec=rfc6402.PKIData())
    assert not rest
    (tagged,) = list(pki_data["reqSequence"])
    embedded = tagged["tcr"]["certificationRequest"]
    assert encoder.encode(embedded) == _csr_der()
    assert decoder.decode(_csr_der(), asn1Spec=rfc2986.CertificationRequest())[0] is not None

    run("cmc-agent", "submit", str(request_file), "--url", local_ca.url(profile="caCMCserverCert"),
        "--ca-cert", str(local_ca.ca_cert), "--key", hsm_agent.key_uri, "--cert", str(hsm_agent.cert),
        "-o", str(response), *hsm_agent.pin_args)  # fmt: skip
    read = run("cmc-agent", "response", str(response), "--ca-cert", str(local_ca.ca_cert), "--json",
               "--chain-out", str(tmp_path / "chain.pem"))  # fmt: skip
    assert json.loads(read.stdout)["status"] == "success"
    leaf = x509.load_pem_x509_certificates((tmp_path / "chain.pem").read_bytes())[0]
    assert leaf.subject.rfc4514_string() == "CN=host.example.com"
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["host.example.com"]
