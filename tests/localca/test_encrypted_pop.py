"""EncryptedPOP / DecryptedPOP (dogtag-cmc-server.md §5.3-§5.5, §6.4), also across a server restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from pyasn1.type import univ

from tests.localca import independent as ind
from tests.localca.conftest import FULL, Client, LocalCA, issued_certificates


def first_trip(
    local_ca: LocalCA, agent: Client, key: rsa.RSAPrivateKey, subject: str, request_id: int = 3
) -> ind.Response:
    message = ind.crmf(key, subject, request_id=request_id, pop="none")
    data = ind.pki_data(
        [ind.control(1, ind.CMC["transactionId"], univ.Integer(77))], [ind.tagged_crmf(message)]
    )
    return local_ca.cmc(FULL, local_ca.agent_signed(agent, data), agent)


def second_trip_body(
    local_ca: LocalCA, agent: Client, trip1: ind.Response, key: rsa.RSAPrivateKey, *, oaep: bool = False
) -> bytes:
    decrypted, request_der = ind.answer_encrypted_pop(trip1.control_values("encryptedPOP")[0], key, oaep=oaep)
    request_id = bytes(ind.decode(trip1.control_values("responseInfo")[0], univ.OctetString()))
    tagged = ind.decode(request_der, ind.rfc6402.TaggedRequest())
    data = ind.pki_data(
        [
            ind.control(2, ind.CMC["decryptedPOP"], decrypted),
            ind.control(3, ind.CMC["regInfo"], univ.OctetString(request_id)),
        ],
        [tagged],
    )
    return local_ca.agent_signed(agent, data)


def test_pop_required_response_structure(local_ca: LocalCA, agent: Client) -> None:
    key = local_ca.new_rsa_key()
    trip1 = first_trip(local_ca, agent, key, "CN=encrypted pop user", request_id=3)
    assert trip1.control_names() == ["encryptedPOP", "statusInfoV2", "responseInfo", "transactionId"]
    assert [item[0] for item in trip1.controls] == [1, 2, 3, 4]
    status = trip1.statuses[0]
    assert (status.status, status.body_list, status.status_string, status.fail_info) == (6, [3], None, 8)
    assert len(trip1.certificates) == 1  # CA chain only

    encrypted = ind.decode(trip1.control_values("encryptedPOP")[0], ind.rfc6402.EncryptedPOP())
    assert str(encrypted["thePOPAlgID"]["algorithm"]) == ind.OID_AES128_CBC
    assert str(encrypted["witnessAlgID"]["algorithm"]) == str(ind.OID_SHA256)
    assert not encrypted["witnessAlgID"]["parameters"].isValue  # parameters absent
    enveloped = ind.decode(bytes(encrypted["cms"]["content"]), ind.rfc5652.EnvelopedData())
    recipient = enveloped["recipientInfos"][0]["ktri"]
    issuer = recipient["rid"]["issuerAndSerialNumber"]
    assert int(issuer["serialNumber"]) == 0
    placeholder = x509.Name.from_rfc4514_string("CN=unUsedIssuerName").public_bytes()
    assert ind.encode(issuer["issuer"]) == placeholder
    dummy_iv = ind.decode(
        bytes(enveloped["encryptedContentInfo"]["contentEncryptionAlgorithm"]["parameters"]),
        univ.OctetString(),
    )
    assert bytes(dummy_iv) == b"\x01" * 16
    assert len(bytes(enveloped["encryptedContentInfo"]["encryptedContent"])) == 64

    request_id = int.from_bytes(
        bytes(ind.decode(trip1.control_values("responseInfo")[0], univ.OctetString())), "big", signed=True
    )
    record = local_ca.ca.store.get_request(request_id)
    assert record is not None and record.status == "pending"
    pop_fields = {key for key in record.ext if key.startswith("pop_")}
    assert pop_fields == {
        "pop_encryptedData",
        "pop_sysPubEncryptedSession",
        "pop_userPubEncryptedSession",
        "pop_encryptedDataIV",
        "pop_witness",
    }  # the challenge itself is not stored
    assert record.ext["cmc_POPchallengeRequired"] is True


def test_decrypted_pop_completes_the_enrollment(local_ca: LocalCA, agent: Client) -> None:
    key = local_ca.new_rsa_key()
    trip1 = first_trip(local_ca, agent, key, "CN=two trips", request_id=5)
    trip2 = local_ca.cmc(FULL, second_trip_body(local_ca, agent, trip1, key), agent)
    assert trip2.statuses[0].status == 0
    assert trip2.statuses[0].body_list == [5]  # the original request's bodyPartId
    issued = issued_certificates(local_ca, trip2)
    assert issued[0].subject.rfc4514_string() == "CN=two trips"


def test_decrypted_pop_with_wrong_pop_and_unknown_request(local_ca: LocalCA, agent: Client) -> None:
    key = local_ca.new_rsa_key()
    trip1 = first_trip(local_ca, agent, key, "CN=wrong pop")
    decrypted, request_der = ind.answer_encrypted_pop(trip1.control_values("encryptedPOP")[0], key)
    decrypted["thePOP"] = b"\x00" * 32
    request_id = bytes(ind.decode(trip1.control_values("responseInfo")[0], univ.OctetString()))
    tagged = ind.decode(request_der, ind.rfc6402.TaggedRequest())

    def send(reg_info: bytes) -> ind.Response:
        data = ind.pki_data(
            [
                ind.control(2, ind.CMC["decryptedPOP"], decrypted),
                ind.control(3, ind.CMC["regInfo"], univ.OctetString(reg_info)),
            ],
            [tagged],
        )
        return local_ca.cmc(FULL, local_ca.agent_signed(agent, data), agent)

    status = send(request_id).statuses[0]
    assert (status.fail_info, status.status_string) == (
        9,
        "Proof-of-Possession Verification Failed:DecryptedPOP failed to verify",
    )
    status = send((10**9).to_bytes(4, "big")).statuses[0]
    assert (status.fail_info, status.status_string, status.body_list) == (11, "Invalid Request", [0])


def test_oaep_key_wrap(local_ca: LocalCA, agent: Client) -> None:
    key = local_ca.new_rsa_key()
    with local_ca.configured(keyWrap__useOAEP="true"):
        trip1 = first_trip(local_ca, agent, key, "CN=oaep")
        with pytest.raises(ValueError):
            ind.answer_encrypted_pop(trip1.control_values("encryptedPOP")[0], key, oaep=False)
        trip2 = local_ca.cmc(FULL, second_trip_body(local_ca, agent, trip1, key, oaep=True), agent)
    assert trip2.statuses[0].status == 0


def test_pkcs10_without_request_verification_gets_a_challenge(local_ca: LocalCA, agent: Client) -> None:
    key = local_ca.new_rsa_key()
    data = ind.pki_data([], [ind.tagged_pkcs10(4, ind.pkcs10(key, "CN=unverified csr"))])
    with local_ca.configured(ca__requestVerify__enabled="false"):
        trip1 = local_ca.cmc(FULL, local_ca.agent_signed(agent, data), agent)
    assert trip1.statuses[0].status == 6 and trip1.statuses[0].body_list == [4]
    trip2 = local_ca.cmc(FULL, second_trip_body(local_ca, agent, trip1, key), agent)
    assert trip2.statuses[0].status == 0


# --- a restart between the trips ----------------------------------------------------------------------


def start_serve(directory: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "localca.cli", "serve", str(directory), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    assert line.startswith("listening on https://127.0.0.1:"), (
        line,
        process.stderr.read() if process.stderr is not None and process.poll() is not None else "",
    )
    return process, line.removeprefix("listening on ")


def stop_serve(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=15)
    assert process.returncode == 0
    assert "stopped" in out


def test_restart_between_trips(tmp_path: Path) -> None:
    from localca.bootstrap import initialise
    from localca.cli import main as cli_main

    directory = tmp_path / "ca"
    initialise(directory)
    helper = _ServeHelper(directory, tmp_path)
    agent_key = LocalCA.new_rsa_key()
    (tmp_path / "agent.csr").write_bytes(ind.pkcs10(agent_key, "CN=Restart Agent"))
    assert (
        cli_main(
            [
                "agent",
                "add",
                str(directory),
                "--csr",
                str(tmp_path / "agent.csr"),
                "--out",
                str(tmp_path / "agent.pem"),
            ]
        )
        == 0
    )
    agent = helper.client(agent_key, tmp_path / "agent.pem")
    key = LocalCA.new_rsa_key()

    process, url = start_serve(directory)
    try:
        message = ind.crmf(key, "CN=survives a restart", request_id=2, pop="none")
        trip1 = helper.cmc(
            url,
            ind.signed_cms(
                ind.pki_data([], [ind.tagged_crmf(message)]),
                agent_key,
                signer_certificate=agent.der,
                certificates=[agent.der],
            ),
            agent,
        )
        assert trip1.statuses[0].status == 6
    finally:
        stop_serve(process)

    process, url = start_serve(directory)
    try:
        decrypted, request_der = ind.answer_encrypted_pop(trip1.control_values("encryptedPOP")[0], key)
        request_id = bytes(ind.decode(trip1.control_values("responseInfo")[0], univ.OctetString()))
        data = ind.pki_data(
            [
                ind.control(2, ind.CMC["decryptedPOP"], decrypted),
                ind.control(3, ind.CMC["regInfo"], univ.OctetString(request_id)),
            ],
            [ind.decode(request_der, ind.rfc6402.TaggedRequest())],
        )
        body = ind.signed_cms(data, agent_key, signer_certificate=agent.der, certificates=[agent.der])
        trip2 = helper.cmc(url, body, agent)
        assert trip2.statuses[0].status == 0 and trip2.statuses[0].body_list == [2]
    finally:
        stop_serve(process)


class _ServeHelper:
    """HTTP against a ``cmc-localca serve`` subprocess."""

    def __init__(self, directory: Path, work: Path) -> None:
        self.ca_pem = directory / "ca.pem"
        self.ca_certificate = x509.load_pem_x509_certificate(self.ca_pem.read_bytes())
        self.work = work

    def client(self, key: ind.PrivateKey, cert_path: Path) -> Client:
        from cryptography.hazmat.primitives import serialization

        key_path = self.work / (cert_path.stem + "-key.pem")
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return Client(key, x509.load_pem_x509_certificate(cert_path.read_bytes()), cert_path, key_path)

    def cmc(self, url: str, body: bytes, client: Client) -> ind.Response:
        session = requests.Session()
        session.trust_env = False
        response = session.post(
            url + FULL,
            data=body,
            verify=str(self.ca_pem),
            cert=(str(client.cert_path), str(client.key_path)),
            timeout=30,
        )
        assert response.status_code == 200
        return ind.read_response(response.content, self.ca_certificate)
