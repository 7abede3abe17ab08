"""Every step of dogtag-cmc-server.md §3 and §3.1: a request failing there gets exactly that answer.

A failure is ``createFullResponseWithFailedStatus``: a signed response with one control, status failed,
bodyList literally ``{0}`` (the LRA case aside), the statusString and failInfo of the table, no echoed
controls, and only the CA chain as certificates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pyasn1.type import char, univ

from tests.localca import independent as ind
from tests.localca.conftest import FULL, USER_SIGNED, Client, LocalCA

BAD_MESSAGE_CHECK, BAD_REQUEST, BAD_IDENTITY, POP_FAILED, INTERNAL_CA_ERROR = 1, 2, 7, 9, 11
NOT_PRE_SIGNED = (
    "Proof-of-Identification Verification Failed:"
    "not pre-signed CMC request; missing Proof of Identification control"
)


def assert_failed(
    response: ind.Response, fail_info: int, text: str | None, body_list: list[int] | None = None
) -> None:
    assert response.signed
    assert response.control_names() == ["statusInfoV2"], response.controls
    status = response.statuses[0]
    assert status.body_part_id == 1
    assert status.status == 2
    assert status.body_list == (body_list if body_list is not None else [0])
    assert status.status_string == text
    assert status.fail_info == fail_info
    assert len(response.certificates) == 1  # the CA chain only


def pkcs10_data(
    local_ca: LocalCA, subject: str = "CN=failure test", *, corrupt_signature: bool = False
) -> bytes:
    key = local_ca.new_rsa_key()
    request = ind.tagged_pkcs10(1, ind.pkcs10(key, subject, corrupt_signature=corrupt_signature))
    nonce = ind.control(2, ind.CMC["senderNonce"], univ.OctetString(b"not echoed on failure"))
    return ind.pki_data([nonce], [request])


# --- step 2: profile lookup ----------------------------------------------------------------------------


def test_unknown_profile(local_ca: LocalCA, agent: Client) -> None:
    body = local_ca.agent_signed(agent, pkcs10_data(local_ca))
    assert_failed(
        local_ca.cmc(FULL + "?profileId=caNoSuchProfile", body, agent),
        11,
        "Profile caNoSuchProfile Not Found",
    )


def test_self_signed_endpoint_has_no_profile(local_ca: LocalCA, agent: Client) -> None:
    body = local_ca.agent_signed(agent, pkcs10_data(local_ca))
    response = local_ca.cmc("/ca/ee/ca/profileSubmitSelfSignedCMCFull", body, agent)
    assert_failed(response, 11, "Profile caFullCMCSelfSignedCert Not Found")


def test_disabled_profile_is_not_found(local_ca: LocalCA, agent: Client) -> None:
    """Real Dogtag ships caFullCMCUserSignedCert disabled; the double enables it in CS.cfg."""
    body = local_ca.agent_signed(agent, pkcs10_data(local_ca))
    with local_ca.configured(profile__caFullCMCUserSignedCert__enable="false"):
        response = local_ca.cmc(USER_SIGNED, body, agent)
    assert_failed(response, 11, "Profile caFullCMCUserSignedCert Not Found")


# --- step 3: authentication ----------------------------------------------------------------------------


def test_cmcauth_needs_tls_client_certificate(local_ca: LocalCA, agent: Client) -> None:
    body = local_ca.agent_signed(agent, pkcs10_data(local_ca))
    assert_failed(local_ca.cmc(FULL, body, None), BAD_REQUEST, "Invalid Credential.")
    with local_ca.configured(cmc__bypassClientAuth="true"):
        response = local_ca.cmc(FULL, body, None)
    assert response.statuses[0].status == 0


def test_cmcauth_tls_certificate_must_match_signer(
    local_ca: LocalCA, agent: Client, other_agent: Client
) -> None:
    body = local_ca.agent_signed(agent, pkcs10_data(local_ca))
    assert_failed(local_ca.cmc(FULL, body, other_agent), BAD_REQUEST, "Invalid Credential.")


def test_cmcauth_signer_must_be_registered(local_ca: LocalCA, agent: Client) -> None:
    user = local_ca.enroll_user(agent, "CN=Not An Agent,O=Example")
    body = local_ca.agent_signed(user, pkcs10_data(local_ca))
    assert_failed(local_ca.cmc(FULL, body, user), BAD_REQUEST, "Invalid Credential.")


def test_cmcauth_refuses_unsigned_and_bad_signatures(local_ca: LocalCA, agent: Client) -> None:
    data = pkcs10_data(local_ca)
    assert_failed(local_ca.cmc(FULL, ind.unsigned_data(data), agent), BAD_REQUEST, "Invalid Credential.")
    other_key = local_ca.new_rsa_key()
    forged = ind.signed_cms(data, other_key, signer_certificate=agent.der, certificates=[agent.der])
    assert_failed(local_ca.cmc(FULL, forged, agent), BAD_REQUEST, "Invalid Credential.")
    no_certificates = ind.signed_cms(data, agent.key, signer_certificate=agent.der)
    assert_failed(local_ca.cmc(FULL, no_certificates, agent), BAD_REQUEST, "Invalid Credential.")


def test_cmcauth_rsa_digest_identifier_must_carry_null(local_ca: LocalCA, agent: Client) -> None:
    """JSS rebuilds DigestInfo from SignerInfo.digestAlgorithm's bytes: absent parameters cannot verify."""
    body = local_ca.agent_signed(agent, pkcs10_data(local_ca), digest_null=False)
    assert_failed(local_ca.cmc(FULL, body, agent), BAD_REQUEST, "Invalid Credential.")


def test_cmcauth_bad_csr_signature_is_invalid_credential(local_ca: LocalCA, agent: Client) -> None:
    body = local_ca.agent_signed(agent, pkcs10_data(local_ca, corrupt_signature=True))
    assert_failed(local_ca.cmc(FULL, body, agent), BAD_REQUEST, "Invalid Credential.")


def test_empty_body(local_ca: LocalCA, agent: Client) -> None:
    assert_failed(local_ca.cmc(FULL, b"", agent), BAD_REQUEST, "attempted login with empty CMC")


def test_user_signed_texts(local_ca: LocalCA, agent: Client) -> None:
    user = local_ca.enroll_user(agent, "CN=Texts User,O=Example")
    data = pkcs10_data(local_ca)
    signed = ind.signed_cms(data, user.key, signer_certificate=user.der, certificates=[user.der])
    assert_failed(local_ca.cmc(USER_SIGNED, signed, None), BAD_REQUEST, "No Client Certificate Found")
    assert_failed(
        local_ca.cmc(USER_SIGNED, signed, agent),
        BAD_REQUEST,
        "Invalid Credential.:SSL client authentication certificate and CMC signer do not match",
    )
    no_certs = ind.signed_cms(data, user.key, signer_certificate=user.der)
    assert_failed(
        local_ca.cmc(USER_SIGNED, no_certs, user), BAD_REQUEST, "no certificate found in cmcFullReq"
    )
    forged = ind.signed_cms(
        data, local_ca.new_rsa_key(), signer_certificate=user.der, certificates=[user.der]
    )
    assert_failed(
        local_ca.cmc(USER_SIGNED, forged, user), BAD_REQUEST, "userToken null; verifySignerInfo failure"
    )
    info = ind.rfc5652.ContentInfo()
    info["contentType"] = ind.univ.ObjectIdentifier("1.2.840.113549.1.7.3")
    info["content"] = univ.Any(ind.encode(univ.OctetString(b"x")))
    assert_failed(
        local_ca.cmc(USER_SIGNED, ind.encode(info), user),
        BAD_REQUEST,
        "unsupported cmc rquest content type; must be either ContentInfo.SIGNED_DATA or ContentInfo.DATA;",
    )


def test_self_signed_request_checks(local_ca: LocalCA) -> None:
    key = local_ca.new_rsa_key()
    requests = [ind.tagged_pkcs10(1, ind.pkcs10(key, "CN=self"))]
    without_ski = ind.signed_cms(ind.pki_data([], requests), key, subject_key_identifier=ind.key_id(key))
    assert_failed(
        local_ca.cmc(USER_SIGNED, without_ski),
        BAD_REQUEST,
        "CMCUserSignedAuth: authenticate: SubjectKeyIdentifierExtension not found: "
        "missing SubjectKeyIdentifierExtension in request",
    )
    requests = [ind.tagged_pkcs10(1, ind.pkcs10(key, "CN=self", ski=True))]
    wrong_id = ind.signed_cms(ind.pki_data([], requests), key, subject_key_identifier=b"\x01" * 20)
    assert_failed(
        local_ca.cmc(USER_SIGNED, wrong_id),
        BAD_REQUEST,
        "CMCUserSignedAuth: verifySelfSignedCMC: Invalid Credential.",
    )


# --- step 4: authorization -----------------------------------------------------------------------------


def test_cmcauth_needs_agent_group(local_ca: LocalCA) -> None:
    user = local_ca.add_agent("CN=Plain CA User,O=Example", in_group=False)
    body = local_ca.agent_signed(user, pkcs10_data(local_ca))
    assert_failed(
        local_ca.cmc(FULL, body, user), BAD_REQUEST, "ProfileSubmitCMCServlet authorization failure"
    )


# --- step 5: parseCMC (§3.1) ---------------------------------------------------------------------------


def self_signed(key: ind.PrivateKey, controls: list[Any], subject: str = "CN=ignored") -> bytes:
    requests = [ind.tagged_pkcs10(1, ind.pkcs10(key, subject, ski=True))]
    data = ind.pki_data(controls, requests)
    return ind.signed_cms(data, key, subject_key_identifier=ind.key_id(key))


def test_a_control_whose_values_are_not_a_set_is_an_invalid_request(local_ca: LocalCA, agent: Client) -> None:
    """JSS decodes every control's attrValues as a SET OF ANY with the PKIData (§3.1 step 1), so a control
    whose values are not a SET fails there, before anything is issued."""
    subject = local_ca.unique("CN=values not a set ")
    request = ind.tagged_pkcs10(1, ind.pkcs10(local_ca.new_rsa_key(), subject))
    data = ind.pki_data([ind.control(2, ind.CMC["senderNonce"], univ.OctetString(b"n"))], [request])
    assert data.count(b"\x31\x03\x04\x01n") == 1
    data = data.replace(b"\x31\x03\x04\x01n", b"\x51\x03\x04\x01n")  # the SET tag made [APPLICATION 17]
    assert_failed(
        local_ca.cmc(FULL, local_ca.agent_signed(agent, data), agent), INTERNAL_CA_ERROR, "Invalid Request"
    )
    assert all(record.subject != subject for record in local_ca.ca.store.list_certificates())


def test_identification_must_be_utf8(local_ca: LocalCA, agent: Client) -> None:
    request = ind.tagged_pkcs10(1, ind.pkcs10(local_ca.new_rsa_key(), "CN=x"))
    data = ind.pki_data([ind.control(2, ind.CMC["identification"], univ.OctetString(b"not utf8"))], [request])
    assert_failed(
        local_ca.cmc(FULL, local_ca.agent_signed(agent, data), agent), INTERNAL_CA_ERROR, "Invalid Request"
    )


def test_proof_of_identity_required_without_signer_certificate(local_ca: LocalCA) -> None:
    key = local_ca.new_rsa_key()
    # With no control at all Dogtag skips the identity checks; the user-signed subject default then fails.
    assert_failed(
        local_ca.cmc(USER_SIGNED, self_signed(key, [])),
        BAD_REQUEST,
        "CMCUserSignedSubjectNameDefault: populate: signing user serial not found; request was unsigned?",
    )
    identification = ind.control(2, ind.CMC["identification"], char.UTF8String("nobody"))
    assert_failed(local_ca.cmc(USER_SIGNED, self_signed(key, [identification])), BAD_REQUEST, NOT_PRE_SIGNED)


def test_identity_proof_v2_needs_identification(local_ca: LocalCA) -> None:
    key = local_ca.new_rsa_key()
    requests = [ind.tagged_pkcs10(1, ind.pkcs10(key, "CN=x", ski=True))]
    proof = ind.control(2, ind.CMC["identityProofV2"], ind.identity_proof_v2("s", "u", requests))
    body = ind.signed_cms(ind.pki_data([proof], requests), key, subject_key_identifier=ind.key_id(key))
    assert_failed(
        local_ca.cmc(USER_SIGNED, body),
        BAD_IDENTITY,
        "Invalid Request:id_cmc_identityProofV2 missing id_cmc_identification",
    )


@pytest.mark.parametrize(
    ("secret", "mac"),
    [("wrong secret", "sha256"), ("right secret", "sha384"), ("right secret", "sha1")],
    ids=["wrong-secret", "hmac-sha384-never-verifies", "hmac-sha1-never-verifies"],
)
def test_identity_proof_v2_failures(local_ca: LocalCA, secret: str, mac: str) -> None:
    uid = local_ca.unique("poi")
    local_ca.add_shared_token(uid, "right secret")
    key = local_ca.new_rsa_key()
    requests = [ind.tagged_pkcs10(1, ind.pkcs10(key, "CN=x", ski=True))]
    controls = [
        ind.control(2, ind.CMC["identification"], char.UTF8String(uid)),
        ind.control(
            3, ind.CMC["identityProofV2"], ind.identity_proof_v2(secret, uid, requests, mac_name=mac)
        ),
    ]
    body = ind.signed_cms(ind.pki_data(controls, requests), key, subject_key_identifier=ind.key_id(key))
    assert_failed(
        local_ca.cmc(USER_SIGNED, body),
        BAD_IDENTITY,
        "Proof-of-Identification Verification Failed after verifyIdentityProofV2",
    )


def test_identity_proof_version_1_never_verifies(local_ca: LocalCA) -> None:
    key = local_ca.new_rsa_key()
    proof = ind.control(2, ind.CMC["identityProof"], univ.OctetString(b"\x00" * 20))
    assert_failed(
        local_ca.cmc(USER_SIGNED, self_signed(key, [proof])),
        BAD_IDENTITY,
        "Proof-of-Identification Verification Failed after verifyIdentityProof",
    )


def test_decrypted_pop_without_reg_info(local_ca: LocalCA, agent: Client) -> None:
    decrypted = ind.rfc6402.DecryptedPOP()
    decrypted["bodyPartID"] = 1
    decrypted["thePOPAlgID"] = ind.algorithm(ind.OID_AES128_CBC, univ.OctetString(b"\x00" * 16))
    decrypted["thePOP"] = b"\x00" * 32
    data = ind.pki_data([ind.control(2, ind.CMC["decryptedPOP"], decrypted)], [])
    assert_failed(
        local_ca.cmc(FULL, local_ca.agent_signed(agent, data), agent),
        POP_FAILED,
        "Proof-of-Possession Verification Failed:id_cmc_decryptedPOP must be accompanied by id_cmc_regInfo "
        "for request id per server/client agreement",
    )


def test_pop_link_witness_required(local_ca: LocalCA, agent: Client) -> None:
    body = local_ca.agent_signed(agent, pkcs10_data(local_ca))
    with local_ca.configured(cmc__popLinkWitnessRequired="true"):
        response = local_ca.cmc(FULL, body, agent)
    assert_failed(
        response,
        BAD_REQUEST,
        "POP Link Witness Verification Failed:"
        "missing needed randomSeed or identification for popLinkWitness(V2)",
    )


# --- step 6: LRA POP witness ---------------------------------------------------------------------------


def test_lra_pop_witness_is_refused_by_default(local_ca: LocalCA, agent: Client) -> None:
    request = ind.tagged_pkcs10(1, ind.pkcs10(local_ca.new_rsa_key(), "CN=lra"))
    data = ind.pki_data([ind.control(2, ind.CMC["lraPOPWitness"], ind.lra_pop_witness(0, [1, 5]))], [request])
    response = local_ca.cmc(FULL, local_ca.agent_signed(agent, data), agent)
    assert_failed(response, POP_FAILED, None, body_list=[1, 5])


# --- step 8: policy sets -------------------------------------------------------------------------------


def test_second_request_has_no_policy_set(local_ca: LocalCA, agent: Client) -> None:
    first = ind.tagged_pkcs10(1, ind.pkcs10(local_ca.new_rsa_key(), "CN=one"))
    second = ind.tagged_pkcs10(2, ind.pkcs10(local_ca.new_rsa_key(), "CN=two"))
    data = ind.pki_data([], [first, second])
    response = local_ca.cmc(FULL, local_ca.agent_signed(agent, data), agent)
    assert_failed(response, INTERNAL_CA_ERROR, "Policy Set Not Found")


def test_duplicate_body_part_ids_are_accepted(local_ca: LocalCA, agent: Client) -> None:
    """Dogtag's CMCRequest gives popLinkRandom and the request both bodyPartID 1; the CA does not mind."""
    request = ind.tagged_pkcs10(1, ind.pkcs10(local_ca.new_rsa_key(), "CN=dup"))
    data = ind.pki_data([ind.control(1, ind.CMC["popLinkRandom"], univ.OctetString(b"r" * 20))], [request])
    assert local_ca.cmc(FULL, local_ca.agent_signed(agent, data), agent).statuses[0].status == 0


# --- step 9: populate ----------------------------------------------------------------------------------


def test_crmf_pop_failures(local_ca: LocalCA, agent: Client) -> None:
    key = local_ca.new_rsa_key()
    for message in (
        ind.crmf(key, "CN=bad pop", corrupt_pop=True),
        ind.crmf(key, "CN=ra verified", pop="raVerified"),
    ):
        data = ind.pki_data([], [ind.tagged_crmf(message)])
        response = local_ca.cmc(FULL, local_ca.agent_signed(agent, data), agent)
        assert_failed(response, POP_FAILED, "Proof-of-Possession Verification Failed")


def test_crmf_without_subject(local_ca: LocalCA, agent: Client) -> None:
    data = ind.pki_data([], [ind.tagged_crmf(ind.crmf(local_ca.new_rsa_key(), None))])
    response = local_ca.cmc(FULL, local_ca.agent_signed(agent, data), agent)
    assert_failed(response, BAD_REQUEST, "Subject Name Not Found")


# --- step 10: submit -----------------------------------------------------------------------------------


def test_constraint_rejections(local_ca: LocalCA, agent: Client) -> None:
    ec_request = ind.tagged_pkcs10(1, ind.pkcs10(local_ca.new_ec_key(), "CN=ec"))
    response = local_ca.cmc(FULL, local_ca.agent_signed(agent, ind.pki_data([], [ec_request])), agent)
    assert_failed(response, INTERNAL_CA_ERROR, "Request Key Type RSA Not Matched Rejected - {1}")

    no_cn = ind.tagged_pkcs10(1, ind.pkcs10(local_ca.new_rsa_key(), "O=Example"))
    body = local_ca.agent_signed(agent, ind.pki_data([], [no_cn]))
    response = local_ca.cmc(FULL + "?profileId=caCMCsubsystemCert", body, agent)
    assert_failed(response, INTERNAL_CA_ERROR, "Request Subject Name Not Matched O=Example Rejected - {1}")

    small = ind.tagged_pkcs10(1, ind.pkcs10(local_ca.new_rsa_key(), "CN=small"))
    body = local_ca.agent_signed(agent, ind.pki_data([], [small]))
    response = local_ca.cmc(FULL + "?profileId=caCMCcaIssuanceProtectionCert", body, agent)
    assert response.statuses[0].status == 0  # 2048 is allowed; the table's other sizes are checked below
    big_ec = ind.tagged_pkcs10(1, ind.pkcs10(local_ca.new_ec_key(), "CN=wrong curve"))
    body = local_ca.agent_signed(agent, ind.pki_data([], [big_ec]))
    response = local_ca.cmc(FULL + "?profileId=caECFullCMCUserCert", body, agent)
    assert response.statuses[0].status == 0


def test_ec_key_cannot_get_an_encrypted_pop(local_ca: LocalCA, agent: Client) -> None:
    message = ind.crmf(local_ca.new_ec_key(), "CN=ec no pop", pop="none")
    data = ind.pki_data([], [ind.tagged_crmf(message)])
    response = local_ca.cmc(
        FULL + "?profileId=caECFullCMCUserCert", local_ca.agent_signed(agent, data), agent
    )
    assert_failed(response, INTERNAL_CA_ERROR, "Server Internal Error")


def test_profile_without_authenticator_defers(local_ca: LocalCA, agent: Client) -> None:
    """A request that passes every check but has no authenticator is deferred, reported as failed."""
    profile = Path(local_ca.directory) / "profiles" / "caNoAuthTest.cfg"
    profile.write_text(
        "name=test profile without authenticator\nenable=true\nauth=\ninput=cmc\nkey.type=RSA\n"
        "key.parameters=2048\nsubject.pattern=.*\nvalidity.default=10\nvalidity.max=10\n"
    )
    from localca.profiles import ProfileRegistry

    local_ca.ca.profiles = ProfileRegistry.load(local_ca.directory)
    try:
        request = ind.tagged_pkcs10(1, ind.pkcs10(local_ca.new_rsa_key(), "CN=deferred"))
        body = ind.unsigned_data(ind.pki_data([], [request]))
        response = local_ca.cmc(FULL + "?profileId=caNoAuthTest", body)
        assert_failed(response, INTERNAL_CA_ERROR, "Request Deferred - defer request")
        identification = ind.control(2, ind.CMC["identification"], char.UTF8String("x"))
        body = ind.unsigned_data(ind.pki_data([identification], [request]))
        assert_failed(local_ca.cmc(FULL + "?profileId=caNoAuthTest", body), BAD_REQUEST, NOT_PRE_SIGNED)
        # With no authenticator nothing has decoded the body before parseCMC (§3.1 step 1).
        garbage = local_ca.cmc(FULL + "?profileId=caNoAuthTest", b"\x30\x03\x02\x01\x01")
        assert_failed(garbage, INTERNAL_CA_ERROR, "Invalid Request")
    finally:
        profile.unlink()
        local_ca.ca.profiles = ProfileRegistry.load(local_ca.directory)


def test_failures_are_recorded(local_ca: LocalCA, agent: Client) -> None:
    before = len(local_ca.ca.store.list_requests())
    body = local_ca.agent_signed(agent, pkcs10_data(local_ca))
    local_ca.cmc(FULL + "?profileId=caMissing", body, agent)
    records = local_ca.ca.store.list_requests()
    assert len(records) == before + 1
    assert records[-1].status == "rejected" and records[-1].result == "Profile caMissing Not Found"
    assert records[-1].body == body
