"""Successful enrollments: the response structure of §6.1/§6.2 and what each profile puts in a certificate."""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID
from pyasn1.type import char, univ

from tests.localca import independent as ind
from tests.localca.conftest import FULL, SIMPLE, Client, LocalCA, issued_certificates


def test_agent_signed_pkcs10_success_structure(local_ca: LocalCA, agent: Client) -> None:
    key = local_ca.new_rsa_key()
    request = ind.tagged_pkcs10(7, ind.pkcs10(key, "CN=web.example.com,O=Example"))
    data = ind.pki_data(
        [
            ind.control(2, ind.CMC["transactionId"], univ.Integer(4242)),
            ind.control(3, ind.CMC["senderNonce"], univ.OctetString(b"client nonce")),
            ind.control(4, ind.CMC["dataReturn"], univ.OctetString(b"give it back")),
        ],
        [request],
    )
    response = local_ca.cmc(FULL + "?profileId=caCMCserverCert", local_ca.agent_signed(agent, data), agent)

    assert response.signed
    assert response.control_names() == [
        "statusInfoV2",
        "dataReturn",
        "transactionId",
        "recipientNonce",
        "senderNonce",
    ]
    assert [item[0] for item in response.controls] == [1, 2, 3, 4, 5]
    status = response.statuses[0]
    assert (status.status, status.body_list, status.status_string, status.fail_info) == (0, [7], None, None)
    assert ind.decode(response.control_values("transactionId")[0], univ.Integer()) == 4242
    assert ind.decode(response.control_values("recipientNonce")[0], univ.OctetString()) == b"client nonce"
    assert ind.decode(response.control_values("dataReturn")[0], univ.OctetString()) == b"give it back"
    nonce = bytes(ind.decode(response.control_values("senderNonce")[0], univ.OctetString()))
    assert nonce.endswith(b"\r\n") and len(nonce) == 46

    issued = issued_certificates(local_ca, response)
    assert len(issued) == 1 and len(response.certificates) == 2
    certificate = issued[0]
    issued[0].verify_directly_issued_by(local_ca.ca_certificate)
    assert certificate.subject.rfc4514_string() == "CN=web.example.com,O=Example"
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.key_encipherment
    assert usage.value.data_encipherment and not usage.value.content_commitment
    eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["web.example.com"]
    certificate.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
    aia = certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert aia[0].access_location.value.endswith("/ca/ocsp")
    days = (certificate.not_valid_after_utc - certificate.not_valid_before_utc).days
    assert days == 720

    record = local_ca.ca.store.get_certificate(certificate.serial_number)
    assert record is not None and record.profile_id == "caCMCserverCert" and record.status == "VALID"


def test_default_profile_user_certificate(local_ca: LocalCA, agent: Client) -> None:
    key = local_ca.new_rsa_key()
    data = ind.pki_data([], [ind.tagged_pkcs10(1, ind.pkcs10(key, "UID=jdoe,CN=John Doe,O=Example"))])
    response = local_ca.cmc(FULL, local_ca.agent_signed(agent, data), agent)
    assert response.statuses[0].status == 0
    certificate = issued_certificates(local_ca, response)[0]
    eku = list(certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert eku == [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION]
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.content_commitment and usage.key_encipherment and usage.digital_signature
    assert (certificate.not_valid_after_utc - certificate.not_valid_before_utc).days == 180


def test_crmf_with_signature_pop_and_ec_profile(local_ca: LocalCA, agent: Client) -> None:
    key = local_ca.new_ec_key()
    message = ind.crmf(key, "CN=ec user,O=Example", request_id=9)
    data = ind.pki_data([], [ind.tagged_crmf(message)])
    response = local_ca.cmc(
        FULL + "?profileId=caECFullCMCUserCert", local_ca.agent_signed(agent, data), agent
    )
    assert response.statuses[0].status == 0
    assert response.statuses[0].body_list == [9]
    certificate = issued_certificates(local_ca, response)[0]
    assert certificate.extensions.get_extension_for_class(x509.KeyUsage).value.key_agreement


def test_ec_agent_signs_ecdsa_request(local_ca: LocalCA) -> None:
    ec_agent = local_ca.add_agent("CN=EC Agent,O=Example", key=local_ca.new_ec_key())
    key = local_ca.new_rsa_key()
    data = ind.pki_data([], [ind.tagged_pkcs10(1, ind.pkcs10(key, "CN=signed by ec agent"))])
    response = local_ca.cmc(FULL, local_ca.agent_signed(ec_agent, data), ec_agent)
    assert response.statuses[0].status == 0


def test_system_certificate_profiles(local_ca: LocalCA, agent: Client) -> None:
    def enroll(profile_id: str, subject: str, key: ind.PrivateKey | None = None) -> x509.Certificate:
        request = ind.tagged_pkcs10(1, ind.pkcs10(key or local_ca.new_rsa_key(), subject))
        data = ind.pki_data([], [request])
        response = local_ca.cmc(f"{FULL}?profileId={profile_id}", local_ca.agent_signed(agent, data), agent)
        assert response.statuses[0].status == 0, response.statuses
        return issued_certificates(local_ca, response)[0]

    sub_ca = enroll("caCMCcaCert", "CN=Sub CA,O=Example")
    constraints = sub_ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length is None
    assert sub_ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    sub_ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert sub_ca.not_valid_after_utc <= local_ca.ca_certificate.not_valid_after_utc

    ocsp = enroll("caCMCocspCert", "CN=OCSP Signing,O=Example", local_ca.new_ec_key())
    assert list(ocsp.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.OCSP_SIGNING
    ]
    ocsp.extensions.get_extension_for_class(x509.OCSPNoCheck)

    subsystem = enroll("caCMCsubsystemCert", "CN=Subsystem,O=Example")
    assert list(subsystem.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    audit = enroll("caCMCauditSigningCert", "CN=Audit,O=Example", local_ca.new_ec_key())
    assert audit.extensions.get_extension_for_class(x509.KeyUsage).value.content_commitment
    enroll("caCMCkraTransportCert", "CN=Transport,O=Example")
    enroll("caCMCcaIssuanceProtectionCert", "CN=Issuance Protection,O=Example")


def test_dedicated_endpoints_use_their_default_profile(local_ca: LocalCA, agent: Client) -> None:
    key = local_ca.new_rsa_key()
    data = ind.pki_data([], [ind.tagged_pkcs10(1, ind.pkcs10(key, "CN=host.example.com"))])
    response = local_ca.cmc(
        "/ca/ee/ca/profileSubmitCMCFullServerCert", local_ca.agent_signed(agent, data), agent
    )
    assert response.statuses[0].status == 0
    serial = issued_certificates(local_ca, response)[0].serial_number
    record = local_ca.ca.store.get_certificate(serial)
    assert record is not None and record.profile_id == "caCMCserverCert"


def test_confirm_required_and_simple_on_success(local_ca: LocalCA, agent: Client) -> None:
    key = local_ca.new_rsa_key()
    data = ind.pki_data([], [ind.tagged_pkcs10(1, ind.pkcs10(key, "CN=confirm me"))])
    with local_ca.configured(cmc__cert__confirmRequired="true"):
        response = local_ca.cmc(FULL, local_ca.agent_signed(agent, data), agent)
    assert response.statuses[0].status == 5

    data = ind.pki_data([], [ind.tagged_pkcs10(1, ind.pkcs10(local_ca.new_rsa_key(), "CN=simple please"))])
    with local_ca.configured(cmc__response__useSimpleOnSuccess="true"):
        response = local_ca.cmc(FULL, local_ca.agent_signed(agent, data), agent)
    assert not response.signed and response.controls == []
    assert len(issued_certificates(local_ca, response)) == 1
    signed_data = response.signed_data
    assert int(signed_data["version"]) == 3 and len(signed_data["digestAlgorithms"]) == 0


def test_identification_and_unknown_controls_are_not_echoed(local_ca: LocalCA, agent: Client) -> None:
    key = local_ca.new_rsa_key()
    data = ind.pki_data(
        [
            ind.control(5, ind.CMC["identification"], char.UTF8String("someone")),
            ind.control(6, "1.2.3.4.5", univ.OctetString(b"unknown control")),
        ],
        [ind.tagged_pkcs10(1, ind.pkcs10(key, "CN=quiet"))],
    )
    response = local_ca.cmc(FULL, local_ca.agent_signed(agent, data), agent)
    assert response.control_names() == ["statusInfoV2"]


def test_simple_endpoint_with_agent_tls_certificate(local_ca: LocalCA, agent: Client) -> None:
    key = local_ca.new_rsa_key()
    response = local_ca.cmc(SIMPLE, ind.pkcs10(key, "CN=simple user"), agent)
    assert not response.signed
    issued = issued_certificates(local_ca, response)
    assert [c.subject.rfc4514_string() for c in issued] == ["CN=simple user"]
    assert len(response.certificates) == 2

    failed = local_ca.cmc(SIMPLE, ind.pkcs10(local_ca.new_rsa_key(), "CN=no tls"))
    assert (failed.statuses[0].fail_info, failed.statuses[0].status_string) == (2, "Invalid Credential.")


def test_nonce_and_transaction_id_sets_are_echoed_whatever_they_hold(
    local_ca: LocalCA, agent: Client
) -> None:
    """Dogtag copies the request's senderNonce and transactionId SETs into its answer without decoding
    them: values of another type come back byte for byte, and the issued certificate is not lost to an
    error page."""
    key = local_ca.new_rsa_key()
    odd_transaction_id = b"\x80\x03abc"  # a context-tagged value where an INTEGER belongs
    odd_nonces = [b"\x02\x01\x4d", b"\x81\x01\x00"]
    data = ind.pki_data(
        [
            ind.control(2, ind.CMC["transactionId"], odd_transaction_id),
            ind.control(3, ind.CMC["senderNonce"], *odd_nonces),
        ],
        [ind.tagged_pkcs10(1, ind.pkcs10(key, "CN=odd controls"))],
    )
    response = local_ca.cmc(FULL, local_ca.agent_signed(agent, data), agent)
    assert response.statuses[0].status == 0 and len(issued_certificates(local_ca, response)) == 1
    assert response.control_names() == ["statusInfoV2", "transactionId", "recipientNonce", "senderNonce"]
    assert response.control_values("transactionId") == [odd_transaction_id]
    assert response.control_values("recipientNonce") == sorted(odd_nonces)


def test_query_pending_reads_integers_as_ascii_request_ids(local_ca: LocalCA, agent: Client) -> None:
    """§6.8: each queryPending value is decoded as an INTEGER whose contents are an ASCII decimal request
    id; a pending request gets a pending status naming that INTEGER. An id beyond any database key names
    no request; neither may turn the issued certificate into an error page."""
    pending_id = local_ca.ca.store.create_request(profile_id="caFullCMCUserCert", kind="cmc", body=None)
    local_ca.ca.store.update_request(pending_id, status="pending")
    ascii_id = str(pending_id).encode("ascii")
    absurd = b"9" * 23
    data = ind.pki_data(
        [
            ind.control(
                2,
                ind.CMC["queryPending"],
                univ.Integer(int.from_bytes(ascii_id, "big")),
                b"\x02\x17" + absurd,
            )
        ],
        [ind.tagged_pkcs10(1, ind.pkcs10(local_ca.new_rsa_key(), "CN=query pending"))],
    )
    response = local_ca.cmc(FULL, local_ca.agent_signed(agent, data), agent)
    assert len(issued_certificates(local_ca, response)) == 1
    assert [(s.status, s.body_list) for s in response.statuses] == [
        (0, [1]),
        (3, [int.from_bytes(ascii_id, "big")]),
    ]
