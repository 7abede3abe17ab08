"""Key archival through the KRA (§9); ``cmc-localca key recover`` proves the stored key is the right one."""

from __future__ import annotations

import contextlib
import io

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pyasn1.type import univ

from localca.cli import main as cli_main
from tests.localca import independent as ind
from tests.localca.conftest import FULL, Client, LocalCA, issued_certificates


def recover(local_ca: LocalCA, serial: int) -> bytes:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli_main(["key", "recover", str(local_ca.directory), "--serial", str(serial)]) == 0
    return out.getvalue().encode("ascii")


def public_der(key: ind.PrivateKey) -> bytes:
    return ind.spki_der(key)


def test_archival_with_signature_pop(local_ca: LocalCA, agent: Client) -> None:
    key = local_ca.new_rsa_key()
    archive = ind.Archive(key, local_ca.transport_certificate)
    message = ind.crmf(key, "CN=Encryption Key,O=Example", archive=archive)
    body = local_ca.agent_signed(agent, ind.pki_data([], [ind.tagged_crmf(message)]))
    response = local_ca.cmc(FULL, body, agent)
    assert response.statuses[0].status == 0, response.statuses
    serial = issued_certificates(local_ca, response)[0].serial_number

    recovered = serialization.load_pem_private_key(recover(local_ca, serial), password=None)
    assert isinstance(recovered, rsa.RSAPrivateKey)
    assert ind.spki_der(recovered) == public_der(key)
    records = local_ca.ca.store.archived_keys_for_certificate(serial)
    assert len(records) == 1 and records[0].owner == "CN=Encryption Key, O=Example"
    assert records[0].algorithm == "RSA" and records[0].size == "2048"
    assert (
        key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        not in records[0].wrapped_key
    )  # stored encrypted


def test_archival_through_encrypted_pop(local_ca: LocalCA, agent: Client) -> None:
    key = local_ca.new_rsa_key()
    with local_ca.configured(keyWrap__useOAEP="true"):
        archive = ind.Archive(key, local_ca.transport_certificate, oaep=True)
        message = ind.crmf(key, "CN=Smart Card Encryption,O=Example", pop="none", archive=archive)
        trip1 = local_ca.cmc(
            FULL, local_ca.agent_signed(agent, ind.pki_data([], [ind.tagged_crmf(message)])), agent
        )
        assert trip1.statuses[0].status == 6
        decrypted, request_der = ind.answer_encrypted_pop(
            trip1.control_values("encryptedPOP")[0], key, oaep=True
        )
        request_id = bytes(ind.decode(trip1.control_values("responseInfo")[0], univ.OctetString()))
        data = ind.pki_data(
            [
                ind.control(2, ind.CMC["decryptedPOP"], decrypted),
                ind.control(3, ind.CMC["regInfo"], univ.OctetString(request_id)),
            ],
            [ind.decode(request_der, ind.rfc6402.TaggedRequest())],
        )
        trip2 = local_ca.cmc(FULL, local_ca.agent_signed(agent, data), agent)
    assert trip2.statuses[0].status == 0
    serial = issued_certificates(local_ca, trip2)[0].serial_number
    recovered = serialization.load_pem_private_key(recover(local_ca, serial), password=None)
    assert isinstance(recovered, rsa.RSAPrivateKey)
    assert ind.spki_der(recovered) == public_der(key)


def test_archived_key_must_match_the_request(local_ca: LocalCA, agent: Client) -> None:
    key = local_ca.new_rsa_key()
    archive = ind.Archive(local_ca.new_rsa_key(), local_ca.transport_certificate)  # some other key
    message = ind.crmf(key, "CN=Mismatch", archive=archive)
    body = local_ca.agent_signed(agent, ind.pki_data([], [ind.tagged_crmf(message)]))
    status = local_ca.cmc(FULL, body, agent).statuses[0]
    assert status.fail_info == 11
    assert status.status_string == (
        "Request Invalid Public Key: the archived private key does not match the requested public key "
        "Rejected - {1}"
    )


def test_wrong_transport_wrap_and_disabled_connector(local_ca: LocalCA, agent: Client) -> None:
    key = local_ca.new_rsa_key()
    archive = ind.Archive(key, local_ca.transport_certificate, oaep=True)  # the KRA expects PKCS#1 v1.5
    message = ind.crmf(key, "CN=Wrong Wrap", archive=archive)
    body = local_ca.agent_signed(agent, ind.pki_data([], [ind.tagged_crmf(message)]))
    status = local_ca.cmc(FULL, body, agent).statuses[0]
    assert status.fail_info == 11 and status.status_string is not None
    assert status.status_string.startswith("Request Invalid Private Key: ")

    message = ind.crmf(
        local_ca.new_rsa_key(), "CN=No Connector", archive=ind.Archive(key, local_ca.transport_certificate)
    )
    body = local_ca.agent_signed(agent, ind.pki_data([], [ind.tagged_crmf(message)]))
    with local_ca.configured(ca__connector__KRA__enable="false"):
        status = local_ca.cmc(FULL, body, agent).statuses[0]
    assert (status.fail_info, status.status_string) == (11, "Server Internal Error")

    message = ind.crmf(key, "CN=Old Transport", archive=ind.Archive(key, local_ca.transport_certificate))
    body = local_ca.agent_signed(agent, ind.pki_data([], [ind.tagged_crmf(message)]))
    with local_ca.configured(ca__connector__KRA__transportCert="MIIBogus"):
        status = local_ca.cmc(FULL, body, agent).statuses[0]
    assert status.status_string == "Request Invalid Transport Certificate Rejected - {1}"
