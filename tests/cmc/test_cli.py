"""``cmc-agent request`` and ``cmc-agent response`` as a user runs them: fresh processes, keys on a real
SoftHSM2 token, results checked with openssl and by recomputation."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from asn1crypto import core, x509
from pyasn1.codec.der import decoder, encoder
from pyasn1_modules import rfc6402

from agent.cmc import crmf, pkcs10, pkiresponse
from agent.cmc.asn1 import cmc
from agent.cmc.pem import to_der, to_pem
from agent.keyops import SoftwareKey
from tests.cmc import pki
from tests.cmc.independent import controls_by_type, openssl_cms_verify, signed_pki_data
from tests.devices import SoftHSMToken

pytestmark = pytest.mark.usefixtures("softhsm")
_labels = itertools.count()


def cmc_agent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli.main", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
    )


def _value_der(control: object) -> bytes:
    """The DER of a control's single value (pyasn1 has already decoded it by type)."""
    return encoder.encode(control["attrValues"][0])  # type: ignore[index]


def _keygen(softhsm: SoftHSMToken, key_type: str) -> str:
    label = f"cmc-cli-{os.getpid()}-{next(_labels)}"
    made = cmc_agent(
        "token",
        "keygen",
        "--token",
        softhsm.uri,
        "--label",
        label,
        "--type",
        key_type,
        "--pin-file",
        str(softhsm.pin_file),
    )
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def _csr(softhsm: SoftHSMToken, uri: str, path: Path, subject: str, *extra: str) -> csr_type:  # type: ignore[name-defined]  # noqa: F821
    made = cmc_agent(
        "csr",
        "--key",
        uri,
        "--subject",
        subject,
        "-o",
        str(path),
        "--pin-file",
        str(softhsm.pin_file),
        *extra,
    )
    assert made.returncode == 0, made.stderr
    return pkcs10.load_csr(path.read_bytes())


@pytest.fixture(scope="module")
def device_agent(
    softhsm: SoftHSMToken, ca: pki.Issued, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path, Path]:
    """An agent key on the token, its certificate from the test CA; returns (URI, cert file, chain file)."""
    directory = tmp_path_factory.mktemp("agent")
    uri = _keygen(softhsm, "rsa:2048")
    request = _csr(softhsm, uri, directory / "agent.csr", "CN=Device Agent,O=Example")
    issued = pki.issue(
        "Device Agent",
        issuer=ca,
        serial=31,
        public_key=request["certification_request_info"]["subject_pk_info"],
    )
    (directory / "agent.pem").write_bytes(issued.pem)
    (directory / "ca.pem").write_bytes(ca.pem)
    return uri, directory / "agent.pem", directory / "ca.pem"


def test_agent_signed_request(
    softhsm: SoftHSMToken, device_agent: tuple[str, Path, Path], ca: pki.Issued, tmp_path: Path
) -> None:
    agent_uri, agent_pem, ca_pem = device_agent
    user_uri = _keygen(softhsm, "ec:p256")
    _csr(softhsm, user_uri, tmp_path / "user.csr", "CN=server.example.com", "--san", "dns:server.example.com")
    out = tmp_path / "request.der"
    made = cmc_agent(
        "request",
        "--csr",
        str(tmp_path / "user.csr"),
        "--signer-key",
        agent_uri,
        "--signer-cert",
        str(agent_pem),
        "--chain",
        str(ca_pem),
        "--sender-nonce",
        "--transaction-id",
        "42",
        "-o",
        str(out),
        "--json",
        "--pin-file",
        str(softhsm.pin_file),
    )
    assert made.returncode == 0, made.stderr
    report = json.loads(made.stdout)
    assert report["mode"] == "signed" and len(bytes.fromhex(report["sender_nonce"])) == 16
    message = out.read_bytes()
    assert openssl_cms_verify(message, tmp_path, ca_pem=ca.pem).returncode == 0
    _, pki_data, _ = signed_pki_data(message)
    controls = controls_by_type(pki_data)
    nonce, _ = decoder.decode(_value_der(controls[str(rfc6402.id_cmc_senderNonce)][0]))
    assert bytes(nonce).hex() == report["sender_nonce"]


def test_agent_signed_crmf_request(
    softhsm: SoftHSMToken, device_agent: tuple[str, Path, Path], ca: pki.Issued, tmp_path: Path
) -> None:
    agent_uri, agent_pem, ca_pem = device_agent
    messages = crmf.build_crmf(SoftwareKey.generate("ec:p256"), "CN=crmf user")
    (tmp_path / "user.crmf").write_text(to_pem(messages.dump(), "CERTIFICATE REQUEST"))
    out = tmp_path / "request.der"
    made = cmc_agent(
        "request",
        "--csr",
        str(tmp_path / "user.crmf"),
        "--format",
        "crmf",
        "--signer-key",
        agent_uri,
        "--signer-cert",
        str(agent_pem),
        "--chain",
        str(ca_pem),
        "-o",
        str(out),
        "--pin-file",
        str(softhsm.pin_file),
    )
    assert made.returncode == 0, made.stderr
    assert openssl_cms_verify(out.read_bytes(), tmp_path, ca_pem=ca.pem).returncode == 0
    _, pki_data, _ = signed_pki_data(out.read_bytes())
    assert encoder.encode(pki_data["reqSequence"][0])[1:] == messages[0].dump()[1:]


@pytest.mark.parametrize("key_type", ["rsa:2048", "ec:p256"])
def test_shared_secret_request_with_pop_link_witness(
    softhsm: SoftHSMToken, key_type: str, tmp_path: Path
) -> None:
    user_uri = _keygen(softhsm, key_type)
    request = _csr(softhsm, user_uri, tmp_path / "user.csr", "CN=testuser,UID=testuser", "--ski")
    (tmp_path / "secret").write_text("Secret.123\n")
    out = tmp_path / "request.der"
    made = cmc_agent(
        "request",
        "--csr",
        str(tmp_path / "user.csr"),
        "--request-key",
        user_uri,
        "--identification",
        "testuser",
        "--secret-file",
        str(tmp_path / "secret"),
        "--pop-link-witness",
        "-o",
        str(out),
        "--pin-file",
        str(softhsm.pin_file),
    )
    assert made.returncode == 0, made.stderr
    message = out.read_bytes()
    public_key = request["certification_request_info"]["subject_pk_info"]
    holder = pki.issue("holder", key_identifier=pkcs10.requested_ski(request), public_key=public_key)
    assert openssl_cms_verify(message, tmp_path, signer_pem=holder.pem).returncode == 0
    _, pki_data, econtent = signed_pki_data(message)
    key = hashlib.sha256(b"Secret.123" + b"testuser").digest()
    raw, _ = decoder.decode(econtent, asn1Spec=rfc6402.PKIData())
    proof, _ = decoder.decode(
        _value_der(controls_by_type(pki_data)[str(rfc6402.id_cmc_identityProofV2)][0]),
        asn1Spec=rfc6402.IdentifyProofV2(),
    )
    assert bytes(proof["witness"]) == hmac.new(key, encoder.encode(raw["reqSequence"]), "sha256").digest()
    # the embedded CSR was re-signed on the device and still verifies
    resigned = encoder.encode(pki_data["reqSequence"][0]["tcr"]["certificationRequest"])
    (tmp_path / "resigned.der").write_bytes(resigned)
    check = subprocess.run(
        ["openssl", "req", "-inform", "DER", "-in", str(tmp_path / "resigned.der"), "-verify", "-noout"],
        capture_output=True,
    )
    assert check.returncode == 0, check.stderr


def test_revocation_signed_and_shared_secret(
    softhsm: SoftHSMToken, device_agent: tuple[str, Path, Path], ca: pki.Issued, tmp_path: Path
) -> None:
    agent_uri, agent_pem, ca_pem = device_agent
    signed = tmp_path / "revoke.der"
    made = cmc_agent(
        "request",
        "--revoke",
        "0x1f",
        "--reason",
        "keyCompromise",
        "--signer-key",
        agent_uri,
        "--signer-cert",
        str(agent_pem),
        "--chain",
        str(ca_pem),
        "-o",
        str(signed),
        "--pin-file",
        str(softhsm.pin_file),
    )
    assert made.returncode == 0, made.stderr
    assert openssl_cms_verify(signed.read_bytes(), tmp_path, ca_pem=ca.pem).returncode == 0
    _, pki_data, _ = signed_pki_data(signed.read_bytes())
    revoke, _ = decoder.decode(_value_der(pki_data["controlSequence"][0]), asn1Spec=rfc6402.RevokeRequest())
    assert int(revoke["serialNumber"]) == 31 and int(revoke["reason"]) == 1

    (tmp_path / "secret").write_text("revoke-me\n")
    unsigned = tmp_path / "revoke-secret.der"
    made = cmc_agent(
        "request",
        "--revoke",
        "31",
        "--reason",
        "superseded",
        "--issuer",
        "CN=Test Root CA,O=Example",
        "--secret-file",
        str(tmp_path / "secret"),
        "-o",
        str(unsigned),
    )
    assert made.returncode == 0, made.stderr
    info = core.Sequence.load(unsigned.read_bytes())
    assert info[0].dump() == core.ObjectIdentifier("1.2.840.113549.1.7.1").dump()  # id-data
    assert b"revoke-me" in unsigned.read_bytes()


def test_get_cert_request(
    softhsm: SoftHSMToken, device_agent: tuple[str, Path, Path], ca: pki.Issued, tmp_path: Path
) -> None:
    agent_uri, agent_pem, ca_pem = device_agent
    out = tmp_path / "get-cert.der"
    made = cmc_agent(
        "request", "--get-cert", "4242", "--signer-key", agent_uri, "--signer-cert", str(agent_pem),
        "--chain", str(ca_pem), "-o", str(out), "--pin-file", str(softhsm.pin_file),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert openssl_cms_verify(out.read_bytes(), tmp_path, ca_pem=ca.pem).returncode == 0
    _, pki_data, _ = signed_pki_data(out.read_bytes(), open_types=False)
    (control,) = pki_data["controlSequence"]
    assert control["attrType"] == rfc6402.id_cmc_getCert
    value = cmc.GetCert.load(bytes(control["attrValues"][0]))
    assert value["serial_number"].native == 4242
    assert value["issuer_name"].name == "name"  # a bare Name, as Dogtag's CA expects
    assert value["issuer_name"].as_name == ca.certificate.subject


def test_secrets_are_never_taken_from_the_command_line(tmp_path: Path) -> None:
    refused = cmc_agent(
        "request", "--revoke", "1", "--issuer", "CN=CA", "--secret", "hunter2", "-o", str(tmp_path / "x")
    )
    assert refused.returncode == 2 and "unrecognized arguments" in refused.stderr
    missing = cmc_agent("request", "--revoke", "1", "--issuer", "CN=CA", "-o", str(tmp_path / "x"))
    assert missing.returncode == 1 and missing.stderr.startswith("cmc-agent: error:")
    assert "Traceback" not in missing.stderr
    (tmp_path / "binary").write_bytes(b"\xff\xfe not text")
    binary = cmc_agent(
        "request", "--revoke", "1", "--issuer", "CN=CA", "--secret-file", str(tmp_path / "binary"),
        "-o", str(tmp_path / "x"),
    )  # fmt: skip
    assert binary.returncode == 1 and "is not UTF-8 text" in binary.stderr
    assert "Traceback" not in binary.stderr


def _response_files(ca: pki.Issued, tmp_path: Path, user: SoftwareKey) -> dict[str, Path]:
    issued = pki.issue("alice", key=user, issuer=ca, serial=4242)
    success = pkiresponse.sign_response(
        pkiresponse.pki_response(
            [pkiresponse.control(1, "status_info_v2", pkiresponse.status_info_v2("success", [1]))]
        ),
        ca.key,
        ca.certificate,
        [issued.certificate, ca.certificate],
    )
    failed = pkiresponse.sign_response(
        pkiresponse.pki_response(
            [
                pkiresponse.control(
                    1,
                    "status_info_v2",
                    pkiresponse.status_info_v2(
                        "failed", [0], fail_info="bad_request", status_string="Invalid Credential."
                    ),
                )
            ]
        ),
        ca.key,
        ca.certificate,
        [ca.certificate],
    )
    files = {
        "success": success.dump(),
        "failed": failed.dump(),
        "garbage": b"<html>error</html>",
        "trailing": success.dump() + b"\n",
    }
    paths = {}
    for name, data in files.items():
        paths[name] = tmp_path / f"{name}.der"
        paths[name].write_bytes(data)
    (tmp_path / "ca.pem").write_bytes(ca.pem)
    return paths


def test_response_command(ca: pki.Issued, user_rsa: SoftwareKey, tmp_path: Path) -> None:
    files = _response_files(ca, tmp_path, user_rsa)
    ca_pem = str(tmp_path / "ca.pem")
    chain_out = tmp_path / "chain.pem"
    ok = cmc_agent("response", str(files["success"]), "--ca-cert", ca_pem, "--chain-out", str(chain_out))
    assert ok.returncode == 0, ok.stderr
    assert "body part 1: success" in ok.stdout and "signature: verified" in ok.stdout
    assert "serial 4242" in ok.stdout and "(issued)" in ok.stdout
    listed = subprocess.run(
        ["openssl", "crl2pkcs7", "-nocrl", "-certfile", str(chain_out)], capture_output=True
    )
    assert listed.returncode == 0
    pems = chain_out.read_text().count("BEGIN CERTIFICATE")
    assert pems == 2 and x509.Certificate.load(to_der(chain_out.read_bytes())).serial_number == 4242

    as_json = cmc_agent("response", str(files["success"]), "--ca-cert", ca_pem, "--json")
    assert as_json.returncode == 0 and json.loads(as_json.stdout)["statuses"][0]["status"] == "success"

    failed = cmc_agent("response", str(files["failed"]), "--ca-cert", ca_pem)
    assert failed.returncode == 1
    assert "body part 0: failed failInfo=badRequest (Invalid Credential.)" in failed.stdout

    for hostile in ("garbage", "trailing"):
        refused = cmc_agent("response", str(files[hostile]), "--ca-cert", ca_pem)
        assert refused.returncode == 1 and refused.stderr.startswith("cmc-agent: error:"), refused.stderr
        assert "Traceback" not in refused.stderr and len(refused.stderr.strip().splitlines()) == 1


def test_decrypted_pop_second_trip_on_the_device(
    softhsm: SoftHSMToken, device_agent: tuple[str, Path, Path], ca: pki.Issued, tmp_path: Path
) -> None:
    agent_uri, agent_pem, ca_pem = device_agent
    user_uri = _keygen(softhsm, "rsa:2048")
    request = _csr(softhsm, user_uri, tmp_path / "user.csr", "CN=encryption user")
    tagged = cmc.TaggedRequest("tcr", {"body_part_id": 1, "certification_request": request})
    challenge = os.urandom(64)
    encrypted_pop, _ = pkiresponse.encrypted_pop(
        tagged, request["certification_request_info"]["subject_pk_info"], challenge=challenge
    )
    first = pkiresponse.sign_response(
        pkiresponse.pki_response(
            [
                pkiresponse.control(1, "encrypted_pop", encrypted_pop),
                pkiresponse.control(
                    2,
                    "status_info_v2",
                    pkiresponse.status_info_v2("pop_required", [1], fail_info="pop_required"),
                ),
                pkiresponse.control(3, "response_info", core.OctetString(pkiresponse.request_id_bytes(200))),
            ]
        ),
        ca.key,
        ca.certificate,
        [ca.certificate],
    )
    (tmp_path / "first.der").write_bytes(first.dump())
    shown = cmc_agent("response", str(tmp_path / "first.der"), "--ca-cert", str(ca_pem))
    assert shown.returncode == 2 and "request id: 200" in shown.stdout and "POP required" in shown.stdout

    out = tmp_path / "second.der"
    made = cmc_agent(
        "request",
        "--encrypted-pop-response",
        str(tmp_path / "first.der"),
        "--ca-cert",
        str(ca_pem),
        "--request-key",
        user_uri,
        "--signer-key",
        agent_uri,
        "--signer-cert",
        str(agent_pem),
        "-o",
        str(out),
        "--pin-file",
        str(softhsm.pin_file),
    )
    assert made.returncode == 0, made.stderr
    _, pki_data, _ = signed_pki_data(out.read_bytes())
    controls = controls_by_type(pki_data)
    decrypted, _ = decoder.decode(
        _value_der(controls[str(rfc6402.id_cmc_decryptedPOP)][0]), asn1Spec=rfc6402.DecryptedPOP()
    )
    assert bytes(decrypted["thePOP"]) == hmac.new(challenge, tagged.dump(), "sha256").digest()
    reg_info, _ = decoder.decode(_value_der(controls[str(rfc6402.id_cmc_regInfo)][0]))
    assert bytes(reg_info) == b"\x00\xc8"
