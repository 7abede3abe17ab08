"""User-signed enrollment and renewal (§4.2), revocation (§7), GetCert and the Simple response (§6.7)."""

from __future__ import annotations

import json

import requests
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from pyasn1.type import univ

from localca.cli import main as cli_main
from tests.localca import independent as ind
from tests.localca.conftest import FULL, USER_SIGNED, Client, LocalCA, issued_certificates


def user_signed(user: Client, data: bytes) -> bytes:
    return ind.signed_cms(data, user.key, signer_certificate=user.der, certificates=[user.der])


def test_user_signed_enrollment_takes_the_signers_subject(local_ca: LocalCA, agent: Client) -> None:
    user = local_ca.enroll_user(agent, "CN=Alice Signer,O=Example")
    key = local_ca.new_rsa_key()
    data = ind.pki_data([], [ind.tagged_pkcs10(1, ind.pkcs10(key, "CN=Someone Else"))])
    response = local_ca.cmc(USER_SIGNED, user_signed(user, data), user)
    assert response.statuses[0].status == 0, response.statuses
    certificate = issued_certificates(local_ca, response)[0]
    assert certificate.subject == user.certificate.subject


def test_user_signed_same_key_renewal_outside_grace_period(local_ca: LocalCA, agent: Client) -> None:
    user = local_ca.enroll_user(agent, "CN=Early Renewer,O=Example")
    data = ind.pki_data([], [ind.tagged_pkcs10(1, ind.pkcs10(user.key, "CN=Early Renewer,O=Example"))])
    status = local_ca.cmc(USER_SIGNED, user_signed(user, data), user).statuses[0]
    assert status.fail_info == 11
    assert status.status_string == (
        "Request Outside of Renewal Grace Period: 30 days before and 30 days after "
        "original cert expiration date Rejected - {1}"
    )


def test_revoked_signer_cannot_sign(local_ca: LocalCA, agent: Client) -> None:
    user = local_ca.enroll_user(agent, "CN=Soon Revoked,O=Example")
    revoke = ind.revoke_request(local_ca.ca_name_der, user.serial, 1)
    data = ind.pki_data([ind.control(2, ind.CMC["revokeRequest"], revoke)], [])
    assert local_ca.cmc(USER_SIGNED, user_signed(user, data), user).statuses[0].status == 0
    data = ind.pki_data([], [ind.tagged_pkcs10(1, ind.pkcs10(local_ca.new_rsa_key(), "CN=x"))])
    status = local_ca.cmc(USER_SIGNED, user_signed(user, data), user).statuses[0]
    assert status.status_string == "Invalid Credential.:CMC signing cert is a revoked certificate"


# --- revocation --------------------------------------------------------------------------------------


def certificate_status(local_ca: LocalCA, serial: int) -> dict[str, object]:
    session = requests.Session()
    session.trust_env = False
    answer = session.get(f"{local_ca.server.url}/localca/status?serial={serial}", verify=str(local_ca.ca_pem))
    document: dict[str, object] = json.loads(answer.text)
    return document


def test_user_signed_revocation(local_ca: LocalCA, agent: Client) -> None:
    user = local_ca.enroll_user(agent, "CN=Revoke Myself,O=Example")
    revoke = ind.revoke_request(local_ca.ca_name_der, user.serial, 1, comment="key lost")
    data = ind.pki_data(
        [
            ind.control(1, ind.CMC["senderNonce"], univ.OctetString(b"n")),
            ind.control(2, ind.CMC["revokeRequest"], revoke),
        ],
        [],
    )
    response = local_ca.cmc(USER_SIGNED, user_signed(user, data), user)
    # the revocation status comes after the echo controls and names the revokeRequest control
    assert response.control_names() == ["recipientNonce", "senderNonce", "statusInfoV2"]
    status = response.statuses[0]
    assert (status.status, status.body_list, status.status_string) == (0, [2], None)
    assert certificate_status(local_ca, user.serial)["status"] == "REVOKED"
    record = local_ca.ca.store.get_certificate(user.serial)
    assert record is not None and record.revocation_reason == 1 and record.revocation_comment == "key lost"

    session = requests.Session()
    session.trust_env = False
    crl_der = session.get(f"{local_ca.server.url}/ca/ee/ca/getCRL", verify=str(local_ca.ca_pem)).content
    crl = x509.load_der_x509_crl(crl_der)
    ca_public_key = local_ca.ca_certificate.public_key()
    assert isinstance(ca_public_key, rsa.RSAPublicKey)
    assert crl.is_signature_valid(ca_public_key)
    assert crl.get_revoked_certificate_by_serial_number(user.serial) is not None

    # The signer is now revoked, so it cannot sign the same request again: its own check comes first.
    again = local_ca.cmc(USER_SIGNED, user_signed(user, data), user).statuses[0]
    assert again.status_string == "Invalid Credential.:CMC signing cert is a revoked certificate"


def test_user_can_only_revoke_own_certificate(local_ca: LocalCA, agent: Client) -> None:
    user = local_ca.enroll_user(agent, "CN=Mallory,O=Example")
    victim = local_ca.enroll_user(agent, "CN=Victim,O=Example")
    revoke = ind.revoke_request(local_ca.ca_name_der, victim.serial, 0)
    data = ind.pki_data([ind.control(7, ind.CMC["revokeRequest"], revoke)], [])
    status = local_ca.cmc(USER_SIGNED, user_signed(user, data), user).statuses[0]
    assert (status.status, status.body_list, status.fail_info, status.status_string) == (
        2,
        [7],
        7,
        " certificate principal and signer do not match",
    )
    assert certificate_status(local_ca, victim.serial)["status"] == "VALID"


def test_agent_revocation_and_outcomes(local_ca: LocalCA, agent: Client) -> None:
    target = local_ca.enroll_user(agent, "CN=Agent Revokes Me,O=Example")

    def revoke(serial: int, reason: int = 4) -> ind.Status:
        request = ind.revoke_request(local_ca.ca_name_der, serial, reason)
        data = ind.pki_data([ind.control(1, ind.CMC["revokeRequest"], request)], [])
        return local_ca.cmc(FULL, local_ca.agent_signed(agent, data), agent).statuses[0]

    assert revoke(target.serial).status == 0
    assert revoke(target.serial).status == 0  # already revoked: still success
    unknown = revoke(99_999_999)
    assert (unknown.status, unknown.fail_info) == (2, 4)  # badCertId
    other = local_ca.enroll_user(agent, "CN=Privilege Withdrawn,O=Example")
    assert revoke(other.serial, reason=9).status == 0
    record = local_ca.ca.store.get_certificate(other.serial)
    assert record is not None and record.revocation_reason == 0  # privilegeWithdrawn -> unspecified


def test_shared_secret_revocation(local_ca: LocalCA, agent: Client) -> None:
    target = local_ca.enroll_user(agent, "CN=Lost Card,O=Example")
    secret_file = local_ca.work / "revocation.secret"
    secret_file.write_text("revoke-me-please\n")
    argv = [
        "shared-token",
        "add",
        str(local_ca.directory),
        "--serial",
        str(target.serial),
        "--secret-file",
        str(secret_file),
    ]
    assert cli_main(argv) == 0

    def revoke(serial: int, passphrase: bytes, issuer_der: bytes) -> ind.Status:
        request = ind.revoke_request(issuer_der, serial, 1, passphrase=passphrase)
        body = ind.unsigned_data(ind.pki_data([ind.control(1, ind.CMC["revokeRequest"], request)], []))
        return local_ca.cmc(USER_SIGNED, body).statuses[0]

    wrong = revoke(target.serial, b"not it", local_ca.ca_name_der)
    assert (wrong.status, wrong.fail_info, wrong.status_string) == (2, 7, None)
    unknown = revoke(88_888_888, b"revoke-me-please", local_ca.ca_name_der)
    assert (unknown.status, unknown.fail_info) == (2, 7)  # unknown serial: badIdentity, not badCertId
    other_issuer = x509.Name.from_rfc4514_string("CN=Some Other CA").public_bytes()
    mismatch = revoke(target.serial, b"revoke-me-please", other_issuer)
    assert (mismatch.fail_info, mismatch.status_string) == (
        7,
        " certificate issuer DN and revocation request issuer DN do not match",
    )
    lowercase_issuer = x509.Name.from_rfc4514_string(
        "CN=ca signing certificate,OU=localca,O=EXAMPLE"
    ).public_bytes()
    assert revoke(target.serial, b"revoke-me-please", lowercase_issuer).status == 0
    assert certificate_status(local_ca, target.serial)["status"] == "REVOKED"


def test_self_signed_revocation_without_passphrase_is_bad_message_check(
    local_ca: LocalCA, agent: Client
) -> None:
    target = local_ca.enroll_user(agent, "CN=Self Signed Revoke,O=Example")
    request = ind.revoke_request(local_ca.ca_name_der, target.serial, 1)
    data = ind.pki_data([ind.control(1, ind.CMC["revokeRequest"], request)], [])
    body = ind.signed_cms(data, target.key, subject_key_identifier=ind.key_id(target.key))
    status = local_ca.cmc(USER_SIGNED, body).statuses[0]
    assert (status.status, status.fail_info) == (2, 1)


# --- GetCert -----------------------------------------------------------------------------------------


def test_get_cert_alone_gives_a_simple_response(local_ca: LocalCA, agent: Client) -> None:
    user = local_ca.enroll_user(agent, "CN=Fetch Me,O=Example")
    value = ind.get_cert_value(local_ca.ca_name_der, user.serial)
    body = local_ca.agent_signed(agent, ind.pki_data([ind.control(1, ind.CMC["getCert"], value)], []))
    response = local_ca.cmc(FULL, body, agent)
    assert not response.signed
    assert [c.serial_number for c in response.certificates] == [user.serial]  # no CA chain

    missing = ind.get_cert_value(local_ca.ca_name_der, 77_777_777)
    body = local_ca.agent_signed(agent, ind.pki_data([ind.control(1, ind.CMC["getCert"], missing)], []))
    answer = local_ca.post(FULL, body, agent)
    assert answer.content == b""  # Dogtag writes nothing at all


def test_get_cert_with_other_controls(local_ca: LocalCA, agent: Client) -> None:
    missing = ind.get_cert_value(local_ca.ca_name_der, 66_666_666)
    controls = [
        ind.control(3, ind.CMC["getCert"], missing),
        ind.control(4, ind.CMC["transactionId"], univ.Integer(1)),
    ]
    response = local_ca.cmc(FULL, local_ca.agent_signed(agent, ind.pki_data(controls, [])), agent)
    assert response.control_names() == ["statusInfoV2", "transactionId"]
    status = response.statuses[0]
    assert (status.status, status.body_list, status.fail_info) == (2, [3], 4)


def test_confirm_cert_acceptance_always_fails(local_ca: LocalCA, agent: Client) -> None:
    value = univ.Sequence()
    issuers = univ.SequenceOf(componentType=univ.Any())
    issuers.append(univ.Any(local_ca.ca_name_der))
    value.setComponentByPosition(0, issuers)
    value.setComponentByPosition(1, univ.Integer(1))
    controls = [ind.control(5, ind.CMC["confirmCertAcceptance"], value)]
    response = local_ca.cmc(FULL, local_ca.agent_signed(agent, ind.pki_data(controls, [])), agent)
    status = response.statuses[0]
    assert (status.status, status.body_list, status.fail_info) == (2, [5], 4)
