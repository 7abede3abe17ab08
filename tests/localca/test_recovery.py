"""What became of a request whose answer was lost (agent/flows/recovery.py), asked of the local CA over
real TLS: found by request id or by search, refused, waiting, nothing issued; and a certificate found
this way passes the checks of a CMC answer (our key, a path to the trust anchors, the subject) or is
refused."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import keys
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization

from agent.cmc.names import parse_dn
from agent.flows.recovery import (
    CannotTell,
    ExpectedSubject,
    FoundCertificateRejected,
    Issued,
    NotIssued,
    Refused,
    Waiting,
    what_became_of,
)
from agent.rest import DogtagRest
from tests.localca import independent as ind
from tests.localca.conftest import FULL, Client, LocalCA

SUBJECT = "CN=lost answer,O=Example"


def _spki(client: Client) -> keys.PublicKeyInfo:
    return keys.PublicKeyInfo.load(
        client.certificate.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def _trusted(local_ca: LocalCA) -> list[asn1_x509.Certificate]:
    return [asn1_x509.Certificate.load(local_ca.ca_certificate.public_bytes(serialization.Encoding.DER))]


def _rest(local_ca: LocalCA) -> DogtagRest:
    return DogtagRest.open(local_ca.server.url + FULL, str(local_ca.ca_pem))


def _ask(local_ca: LocalCA, public_key: keys.PublicKeyInfo, subject: str, **kwargs: object) -> object:
    arguments: dict[str, object] = {
        "request_id": None,
        "sent": datetime.now(UTC) - timedelta(seconds=5),
        "public_key": public_key,
        "subject": ExpectedSubject(parse_dn(subject)),
        "trusted": _trusted(local_ca),
        **kwargs,
    }
    with _rest(local_ca) as rest:
        return what_became_of(rest, **arguments)  # type: ignore[arg-type]


def test_found_by_search_only_for_our_key(local_ca: LocalCA, agent: Client) -> None:
    user = local_ca.enroll_user(agent, SUBJECT)
    other = local_ca.enroll_user(agent, SUBJECT)  # same subject, another key

    verdict = _ask(local_ca, _spki(user), SUBJECT)
    assert isinstance(verdict, Issued), verdict
    assert verdict.certificate.serial_number == user.certificate.serial_number
    assert verdict.chain[-1].dump() == _trusted(local_ca)[0].dump(), "the path ends at the trust anchor"
    assert isinstance(_ask(local_ca, _spki(other), SUBJECT), Issued)

    stranger = (
        local_ca.new_rsa_key()
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert isinstance(_ask(local_ca, keys.PublicKeyInfo.load(stranger), SUBJECT), NotIssued)
    # Issued before the request was sent (by more than the clock-skew allowance): not ours to find.
    later = datetime.now(UTC) + timedelta(hours=2)
    assert isinstance(_ask(local_ca, _spki(user), SUBJECT, sent=later), NotIssued)


def test_by_request_id_complete_refused_and_waiting(local_ca: LocalCA, agent: Client) -> None:
    user = local_ca.enroll_user(agent, "CN=lost by id,O=Example")
    public_key = _spki(user)
    (record,) = local_ca.ca.store.certificates_with_public_key(public_key.dump())
    verdict = _ask(local_ca, public_key, "CN=lost by id,O=Example", request_id=record.request_id)
    assert isinstance(verdict, Issued) and f"request {record.request_id} is complete" in verdict.how

    data = ind.pki_data([], [ind.tagged_pkcs10(1, ind.pkcs10(local_ca.new_rsa_key(), "CN=refused"))])
    local_ca.cmc(FULL + "?profileId=caMissing", local_ca.agent_signed(agent, data), agent)
    refused = local_ca.ca.store.list_requests()[-1]
    verdict = _ask(local_ca, public_key, SUBJECT, request_id=refused.request_id)
    assert isinstance(verdict, Refused) and "Profile caMissing Not Found" in verdict.message

    waiting = local_ca.ca.store.create_request(profile_id="caFullCMCUserCert", kind="cmc", body=None)
    local_ca.ca.store.update_request(waiting, status="pending")
    verdict = _ask(local_ca, public_key, SUBJECT, request_id=waiting)
    assert isinstance(verdict, Waiting) and "pending" in verdict.message


def test_a_found_certificate_is_checked_like_a_cmc_answer(local_ca: LocalCA, agent: Client) -> None:
    user = local_ca.enroll_user(agent, "CN=checked,O=Example")
    (record,) = local_ca.ca.store.certificates_with_public_key(_spki(user).dump())
    # The subject the profile gives is not the one asked for: refused, not imported.
    with pytest.raises(FoundCertificateRejected, match="names 'CN=checked"):
        _ask(local_ca, _spki(user), "CN=someone else,O=Example", request_id=record.request_id)
    # A trust anchor that did not issue it (the agent's certificate): no path, refused.
    anchor = asn1_x509.Certificate.load(agent.certificate.public_bytes(serialization.Encoding.DER))
    with pytest.raises(FoundCertificateRejected, match="does not chain to --ca-cert"):
        _ask(local_ca, _spki(user), "CN=checked,O=Example", request_id=record.request_id, trusted=[anchor])
    # By request id the CA names the certificate; a key that is not ours is refused, not skipped.
    stranger = (
        local_ca.new_rsa_key()
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(FoundCertificateRejected, match="is not for our key"):
        _ask(
            local_ca, keys.PublicKeyInfo.load(stranger), "CN=checked,O=Example", request_id=record.request_id
        )


def test_subjects_a_profile_may_give() -> None:
    requested = parse_dn("CN=Jane,O=Example")
    assert ExpectedSubject(requested).accepts(parse_dn("cn=jane, o=example"))
    assert not ExpectedSubject(requested).accepts(parse_dn("CN=John,O=Example"))
    signer = parse_dn("CN=Jane Signing,O=Example")
    assert ExpectedSubject(requested, signer=signer).accepts(signer)
    shared = ExpectedSubject(requested, identification="jdoe")
    assert shared.accepts(parse_dn("UID=jdoe,OU=People,DC=example,DC=com"))
    assert not shared.accepts(parse_dn("UID=jdoe2,OU=People,DC=example,DC=com"))


def test_a_ca_that_cannot_be_asked(local_ca: LocalCA, agent: Client) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    user = local_ca.enroll_user(agent, "CN=unreachable,O=Example")
    with DogtagRest.open(f"https://127.0.0.1:{port}/ca/ee/ca/x", str(local_ca.ca_pem), timeout=5) as rest:
        verdict = what_became_of(
            rest,
            request_id=None,
            sent=None,
            public_key=_spki(user),
            subject=ExpectedSubject(parse_dn("CN=unreachable,O=Example")),
            trusted=_trusted(local_ca),
        )
    assert isinstance(verdict, CannotTell) and "connection refused" in verdict.message
