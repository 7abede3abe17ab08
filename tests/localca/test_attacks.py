"""cmc-localca lets no one in where Dogtag would not, nor with a forged certificate (issue 12).

Each attack is made here as an attacker would make it: the forged certificates are built by the test,
signed with the attacker's own key, carrying the fields of a victim's certificate (its serial number,
this CA's name as issuer, an agent's subject). The CA must answer with a CMC failure and issue nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from localca.issuer import CertificateContent
from localca.policy import EnrollmentFacts, populate
from tests.localca import independent as ind
from tests.localca.conftest import FULL, SIMPLE, USER_SIGNED, Client, LocalCA, issued_certificates
from tests.localca.test_user_signed_and_revocation import certificate_status

CA_CERT = "/ca/ee/ca/profileSubmitCMCFullCACert"
BAD_REQUEST = 2
INVALID_CREDENTIAL = "Invalid Credential."


def forged_certificate(
    like: x509.Certificate, key: ind.PrivateKey, *, subject: x509.Name | None = None
) -> bytes:
    """A certificate with ``like``'s serial number, issuer (this CA's name), version and (unless given)
    subject, but the attacker's public key, signed by the attacker's own key."""
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject if subject is not None else like.subject)
        .issuer_name(like.issuer)
        .serial_number(like.serial_number)
        .public_key(key.public_key())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
    )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def assert_refused(local_ca: LocalCA, response: ind.Response, text: str) -> None:
    status = response.statuses[0]
    assert (status.status, status.fail_info) == (2, BAD_REQUEST), response.statuses
    assert status.status_string is not None and status.status_string.startswith(text), status
    assert issued_certificates(local_ca, response) == []


def test_user_signed_with_a_forged_signer_naming_a_victims_serial(local_ca: LocalCA, agent: Client) -> None:
    """The attacker is an honest user of the CA; the forged signer carries the attacker's own subject
    (so it matches the TLS client certificate) but the agent's serial number. Today's main looks the
    subject up by that serial and issues a certificate in the agent's name."""
    attacker = local_ca.enroll_user(agent, local_ca.unique("CN=Mallory User,O=Example"))
    forged = forged_certificate(agent.certificate, attacker.key, subject=attacker.certificate.subject)
    new_key = local_ca.new_rsa_key()
    data = ind.pki_data([], [ind.tagged_pkcs10(1, ind.pkcs10(new_key, "CN=anything"))])
    body = ind.signed_cms(data, attacker.key, signer_certificate=forged, certificates=[forged])
    response = local_ca.cmc(USER_SIGNED, body, attacker)
    assert_refused(
        local_ca, response, f"{INVALID_CREDENTIAL}:CMC signing cert is not the certificate this CA issued"
    )
    assert not any(c.subject == agent.certificate.subject for c in response.certificates[1:])


def test_user_signed_with_a_signer_certificate_not_from_this_ca(local_ca: LocalCA, agent: Client) -> None:
    """The signer names itself issued by this CA under the attacker's own serial, but the bytes differ
    from the CA's record (a re-signed copy with another key)."""
    attacker = local_ca.enroll_user(agent, local_ca.unique("CN=Copycat,O=Example"))
    other_key = local_ca.new_rsa_key()
    forged = forged_certificate(attacker.certificate, other_key)
    data = ind.pki_data([], [ind.tagged_pkcs10(1, ind.pkcs10(local_ca.new_rsa_key(), "CN=x"))])
    body = ind.signed_cms(data, other_key, signer_certificate=forged, certificates=[forged])
    assert_refused(
        local_ca, local_ca.cmc(USER_SIGNED, body, attacker), f"{INVALID_CREDENTIAL}:CMC signing cert"
    )


def _certificate_with_subject(local_ca: LocalCA, subject: x509.Name, key: ind.PrivateKey) -> Client:
    """A real certificate of this CA carrying ``subject`` for the attacker's key: what the first attack
    yielded on today's main (it is issued here directly, since that attack no longer works)."""
    from asn1crypto import keys as asn1_keys

    public_key_info = asn1_keys.PublicKeyInfo.load(ind.spki_der(key))
    profile = local_ca.ca.profiles.get("caFullCMCUserCert")
    assert profile is not None
    facts = EnrollmentFacts(
        requested_subject=asn1_x509.Name.load(subject.public_bytes()), public_key_info=public_key_info
    )
    content: CertificateContent = populate(profile, facts, local_ca.ca.issuer_facts(), local_ca.ca.store)
    certificate = local_ca.ca.issue(content, profile_id=profile.profile_id, request_id=None)
    pem = x509.load_der_x509_certificate(certificate.dump()).public_bytes(serialization.Encoding.PEM)
    return local_ca._client_files(key, pem, local_ca.unique("lookalike"))


def test_agent_signed_with_a_forged_agent_certificate_gets_no_ca_certificate(
    local_ca: LocalCA, agent: Client
) -> None:
    """A forged certificate with the agent's version, serial, issuer and subject and the attacker's key,
    with a real certificate of the agent's subject as TLS client certificate: today's main accepts it as
    the agent (text match) and caCMCcaCert issues CA:TRUE to the attacker."""
    attacker_key = local_ca.new_rsa_key()
    lookalike = _certificate_with_subject(local_ca, agent.certificate.subject, attacker_key)
    forged = forged_certificate(agent.certificate, attacker_key)
    csr = ind.pkcs10(attacker_key, local_ca.unique("CN=Rogue Sub CA,O=Example"))
    data = ind.pki_data([], [ind.tagged_pkcs10(1, csr)])
    body = ind.signed_cms(data, attacker_key, signer_certificate=forged, certificates=[forged])
    response = local_ca.cmc(CA_CERT, body, lookalike)
    assert_refused(local_ca, response, INVALID_CREDENTIAL)
    # the same with the forged certificate also as TLS client certificate cannot even connect (it does
    # not chain to the CA), and the honest agent still gets its CA certificate through the same path
    honest = ind.pki_data([], [ind.tagged_pkcs10(1, ind.pkcs10(local_ca.new_rsa_key(), "CN=Honest Sub CA"))])
    answer = local_ca.cmc(CA_CERT, local_ca.agent_signed(agent, honest), agent)
    assert answer.statuses[0].status == 0, answer.statuses


def test_agent_signed_with_a_lookalike_tls_certificate_is_refused(local_ca: LocalCA, agent: Client) -> None:
    """The genuine agent signature, sent over TLS with a certificate this CA never issued under that
    subject (it made one for the same subject, but another key): the TLS certificate is this CA's own,
    so only the signer check protects; the request goes through only as the real agent."""
    lookalike = _certificate_with_subject(local_ca, agent.certificate.subject, local_ca.new_rsa_key())
    data = ind.pki_data([], [ind.tagged_pkcs10(1, ind.pkcs10(local_ca.new_rsa_key(), "CN=via lookalike"))])
    # signed by the real agent: the lookalike TLS certificate is this CA's own and matches the subject
    response = local_ca.cmc(FULL, local_ca.agent_signed(agent, data), lookalike)
    assert response.statuses[0].status == 0
    # signed by the lookalike's key with the lookalike as signer: not a registered agent
    body = ind.signed_cms(data, lookalike.key, signer_certificate=lookalike.der, certificates=[lookalike.der])
    assert_refused(local_ca, local_ca.cmc(FULL, body, lookalike), INVALID_CREDENTIAL)


def test_simple_enrollment_refuses_a_ca_user_outside_the_agent_group(local_ca: LocalCA) -> None:
    """profileSubmitCMCSimple's AgentCertAuth checks agentGroup=Certificate Manager Agents (CS.cfg)."""
    user = local_ca.add_agent(local_ca.unique("CN=Plain Simple User,O=Example"), in_group=False)
    response = local_ca.cmc(SIMPLE, ind.pkcs10(local_ca.new_rsa_key(), "CN=simple outsider"), user)
    assert_refused(local_ca, response, "Authorization Error")
    member = local_ca.add_agent(local_ca.unique("CN=Simple Agent,O=Example"))
    allowed = local_ca.cmc(SIMPLE, ind.pkcs10(local_ca.new_rsa_key(), "CN=simple insider"), member)
    assert [c.subject.rfc4514_string() for c in issued_certificates(local_ca, allowed)] == [
        "CN=simple insider"
    ]


def test_revocation_reason_remove_from_crl_is_refused(local_ca: LocalCA, agent: Client) -> None:
    target = local_ca.enroll_user(agent, local_ca.unique("CN=Not Removable,O=Example"))
    request = ind.revoke_request(local_ca.ca_name_der, target.serial, 8)
    data = ind.pki_data([ind.control(3, ind.CMC["revokeRequest"], request)], [])
    status = local_ca.cmc(FULL, local_ca.agent_signed(agent, data), agent).statuses[0]
    assert (status.status, status.body_list, status.fail_info) == (2, [3], BAD_REQUEST)
    assert status.status_string is not None and "removeFromCRL" in status.status_string
    assert certificate_status(local_ca, target.serial)["status"] == "VALID"
    crl = x509.load_der_x509_crl(local_ca.ca.crl().dump())
    assert crl.get_revoked_certificate_by_serial_number(target.serial) is None
