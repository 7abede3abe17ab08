"""Dogtag's end-entity REST resources on the local CA, checked as raw JSON over real TLS, then through
the agent's client (agent/rest.py).

The expected shapes are Dogtag's (``com.netscape.certsrv.cert.CertRequestInfo``, ``CertData``,
``CertDataInfos``/``CertDataInfo``, ``CertSearchRequest``, ``profile.ProfileData``/``ProfileDataInfos``,
``base.PKIException.Data``, as Jackson writes them): ``0x``-hex identifiers, epoch-millisecond times,
Dogtag's status words.
"""

from __future__ import annotations

import re
import subprocess
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from agent.rest import (
    CertSearch,
    DogtagRest,
    RestBadRequest,
    RestForbidden,
    RestNotFound,
)
from tests.localca import independent as ind
from tests.localca.conftest import FULL, Client, LocalCA

JAVA_DATE = re.compile(r"^[A-Z][a-z]{2} [A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d UTC \d{4}$")


def _get(local_ca: LocalCA, path: str, client: Client | None = None) -> requests.Response:
    cert = (str(client.cert_path), str(client.key_path)) if client is not None else None
    return local_ca.session().get(
        local_ca.server.url + path, cert=cert, verify=str(local_ca.ca_pem), timeout=30
    )


def _search(local_ca: LocalCA, document: dict[str, Any], query: str = "") -> requests.Response:
    return local_ca.session().post(
        local_ca.server.url + "/ca/rest/certs/search" + query,
        json=document,
        verify=str(local_ca.ca_pem),
        timeout=30,
    )


def _refused_request_data(local_ca: LocalCA) -> bytes:
    key = local_ca.new_rsa_key()
    return ind.pki_data([], [ind.tagged_pkcs10(1, ind.pkcs10(key, "CN=rest refused"))])


def _issue(local_ca: LocalCA, agent: Client, subject: str) -> tuple[x509.Certificate, int]:
    """An agent-approved certificate; returns it and the CA's request id for it."""
    user = local_ca.enroll_user(agent, subject)
    (record,) = local_ca.ca.store.certificates_with_public_key(
        user.certificate.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    assert record.request_id is not None
    return user.certificate, record.request_id


def test_cert_request_info_for_an_issued_certificate(local_ca: LocalCA, agent: Client) -> None:
    before_ms = int(time.time() // 1 * 1000) - 1000
    certificate, request_id = _issue(local_ca, agent, "CN=rest request,O=Example")
    answer = _get(local_ca, f"/ca/rest/certrequests/{request_id}")
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json"
    info = answer.json()
    assert info["requestID"] == hex(request_id)
    assert info["requestType"] == "enrollment"
    assert info["requestStatus"] == "complete"
    assert info["operationResult"] == "success"
    assert info["certId"] == hex(certificate.serial_number)
    assert info["certURL"].endswith(f"/ca/rest/certs/{certificate.serial_number}")
    assert info["requestURL"].endswith(f"/ca/rest/certrequests/{request_id}")
    assert isinstance(info["creationTime"], int) and before_ms <= info["creationTime"] <= time.time() * 1000
    assert "errorMessage" not in info
    # Dogtag's RequestId takes 0x-hex as well as decimal.
    assert _get(local_ca, f"/ca/rest/certrequests/{hex(request_id)}").json() == info


def test_cert_request_info_for_refused_and_pending_requests(local_ca: LocalCA, agent: Client) -> None:
    local_ca.cmc(
        FULL + "?profileId=caMissing", local_ca.agent_signed(agent, _refused_request_data(local_ca)), agent
    )
    refused = local_ca.ca.store.list_requests()[-1]
    info = _get(local_ca, f"/ca/rest/certrequests/{refused.request_id}").json()
    assert (info["requestStatus"], info["operationResult"]) == ("rejected", "error")
    assert info["errorMessage"] == "Profile caMissing Not Found"
    assert "certId" not in info

    pending_id = local_ca.ca.store.create_request(profile_id="caFullCMCUserCert", kind="cmc", body=None)
    local_ca.ca.store.update_request(pending_id, status="pending")
    info = _get(local_ca, f"/ca/rest/certrequests/{pending_id}").json()
    assert (info["requestStatus"], info["operationResult"]) == ("pending", "success")


def test_unknown_request_and_certificate_are_dogtag_404s(local_ca: LocalCA) -> None:
    answer = _get(local_ca, "/ca/rest/certrequests/0x7ffffff0")
    assert answer.status_code == 404
    assert answer.json() == {
        "Attributes": {"Attribute": [{"name": "requestId", "value": str(0x7FFFFFF0)}]},
        "ClassName": "com.netscape.certsrv.request.RequestNotFoundException",
        "Code": 404,
        "Message": "Request ID 0x7ffffff0 not found",
    }
    answer = _get(local_ca, "/ca/rest/certs/0x7ffffff0")
    assert answer.status_code == 404
    assert answer.json()["Message"] == "Certificate ID 0x7ffffff0 not found"
    assert _get(local_ca, "/ca/rest/certs/not-a-number").status_code == 400
    assert _get(local_ca, "/ca/rest/nothing/here").status_code == 404


def test_cert_data_holds_the_certificate_and_its_chain(
    local_ca: LocalCA, agent: Client, tmp_path: Any
) -> None:
    certificate, _ = _issue(local_ca, agent, "CN=rest cert,O=Example")
    data = _get(local_ca, f"/ca/rest/certs/{certificate.serial_number}").json()
    assert data["id"] == hex(certificate.serial_number)
    assert x509.load_pem_x509_certificate(data["Encoded"].encode()) == certificate
    assert data["SubjectDN"] == "CN=rest cert, O=Example"
    assert data["Status"] == "VALID"
    assert JAVA_DATE.match(data["NotBefore"]) and JAVA_DATE.match(data["NotAfter"])
    assert "RevokedOn" not in data
    # PKCS7CertChain is a certs-only PKCS#7 that openssl reads: the certificate and the CA's.
    p7 = tmp_path / "chain.p7b"
    p7.write_text("-----BEGIN PKCS7-----\n" + data["PKCS7CertChain"] + "-----END PKCS7-----\n")
    printed = subprocess.run(
        ["openssl", "pkcs7", "-in", str(p7), "-print_certs", "-noout"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "subject=O = Example, CN = rest cert" in printed
    assert printed.count("subject=") == 2


def test_search_by_subject_status_and_issue_time(local_ca: LocalCA, agent: Client) -> None:
    started = datetime.now(UTC).replace(microsecond=0)
    certificate, _ = _issue(local_ca, agent, "CN=rest search unique,O=Example")
    exact = {
        "subjectInUse": True,
        "matchExactly": True,
        "commonName": "rest search unique",
        "status": "VALID",
        "issuedOnInUse": True,
        "issuedOnFrom": str(int(started.timestamp() * 1000)),
    }
    result = _search(local_ca, exact).json()
    assert result.get("total") == 1, result
    (entry,) = result["entries"]
    assert entry["id"] == hex(certificate.serial_number)
    assert entry["SubjectDN"] == "CN=rest search unique, O=Example"
    assert entry["Status"] == "VALID" and entry["Type"] == "X.509" and entry["Version"] == 2
    assert entry["KeyAlgorithmOID"] == "1.2.840.113549.1.1.1" and entry["KeyLength"] == 2048
    assert isinstance(entry["NotValidBefore"], int) and isinstance(entry["IssuedOn"], int)
    assert entry["IssuedOn"] >= int(started.timestamp() * 1000)

    # Issued before the window: not found. A substring matches only without matchExactly.
    later = datetime.now(UTC) + timedelta(hours=1)
    assert (
        _search(local_ca, {**exact, "issuedOnFrom": str(int(later.timestamp() * 1000))}).json()["total"] == 0
    )
    assert _search(local_ca, {**exact, "commonName": "search uniq"}).json()["total"] == 0
    assert (
        _search(local_ca, {**exact, "commonName": "search uniq", "matchExactly": False}).json()["total"] == 1
    )
    # Without its InUse flag a filter group is ignored, as Dogtag's FilterBuilder does.
    assert _search(local_ca, {**exact, "status": "REVOKED"}).json()["total"] == 0
    ignored = {key: value for key, value in exact.items() if key != "subjectInUse"}
    assert _search(local_ca, ignored).json()["total"] >= 1


def test_search_pages_and_bad_bodies(local_ca: LocalCA, agent: Client) -> None:
    for index in range(3):
        _issue(local_ca, agent, f"CN=rest page {index},OU=paging,O=Example")
    document = {"subjectInUse": True, "matchExactly": True, "orgUnit": "paging"}
    first = _search(local_ca, document, "?start=0&size=2").json()
    second = _search(local_ca, document, "?start=2&size=2").json()
    assert first["total"] == second["total"] == 3
    assert len(first["entries"]) == 2 and len(second["entries"]) == 1
    ids = [entry["id"] for entry in first["entries"] + second["entries"]]
    assert len(set(ids)) == 3
    broken = local_ca.session().post(
        local_ca.server.url + "/ca/rest/certs/search",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
        verify=str(local_ca.ca_pem),
        timeout=30,
    )
    assert broken.status_code == 500 and "could not be parsed as JSON" in broken.json()["Message"]


def test_profiles_for_agents_and_for_anybody(local_ca: LocalCA, agent: Client) -> None:
    anonymous = _get(local_ca, "/ca/rest/profiles/caFullCMCUserCert")
    assert anonymous.status_code == 403 and anonymous.json()["Message"] == "Anonymous access not allowed."
    profile = _get(local_ca, "/ca/rest/profiles/caECFullCMCUserCert", agent).json()
    assert profile["id"] == "caECFullCMCUserCert" and profile["enabled"] is True
    constraints = [policy["constraint"] for policies in profile["policySets"].values() for policy in policies]
    (key,) = [c for c in constraints if c["classId"] == "keyConstraintImpl"]
    values = {item["name"]: item["value"] for item in key["constraints"]}
    assert values["keyType"] == "EC"
    missing = _get(local_ca, "/ca/rest/profiles/caNoSuchProfile", agent)
    assert missing.status_code == 404 and missing.json()["Message"] == "Profile ID caNoSuchProfile not found"

    # Dogtag's CMC profiles are not visible: anybody's listing leaves them out, an agent's has them.
    listed = {entry["profileId"] for entry in _get(local_ca, "/ca/rest/profiles").json()["entries"]}
    assert "caFullCMCUserCert" not in listed
    agent_list = _get(local_ca, "/ca/rest/profiles?size=100", agent).json()
    assert "caFullCMCUserCert" in {entry["profileId"] for entry in agent_list["entries"]}

    # The enrollment template: anybody, for a profile that exists.
    template = _get(local_ca, "/ca/rest/certrequests/profiles/caFullCMCUserCert")
    assert template.status_code == 200 and template.json()["ProfileID"] == "caFullCMCUserCert"
    assert _get(local_ca, "/ca/rest/certrequests/profiles/caNoSuchProfile").status_code == 400

    with local_ca.configured(profile__caFullCMCUserCert__enable="false"):
        assert _get(local_ca, "/ca/rest/profiles/caFullCMCUserCert", agent).json()["enabled"] is False


# -- the agent's client -----------------------------------------------------------------------------


def _client(local_ca: LocalCA, agent: Client | None = None) -> DogtagRest:
    if agent is None:
        return DogtagRest.open(local_ca.server.url + FULL, str(local_ca.ca_pem))
    session = requests.Session()
    session.trust_env = False
    session.verify = str(local_ca.ca_pem)
    session.cert = (str(agent.cert_path), str(agent.key_path))
    return DogtagRest(local_ca.server.url, session)


def test_client_follows_a_request_to_its_certificate(local_ca: LocalCA, agent: Client) -> None:
    certificate, request_id = _issue(local_ca, agent, "CN=rest client,O=Example")
    with _client(local_ca) as rest:
        info = rest.cert_request(request_id)
        assert info.complete and not info.refused and info.cert_id == certificate.serial_number
        data = rest.cert(info.cert_id)
        assert data.der == certificate.public_bytes(serialization.Encoding.DER)
        assert data.status == "VALID"
        with pytest.raises(RestNotFound, match="Request ID 0x7ffffff1 not found"):
            rest.cert_request(0x7FFFFFF1)
        with pytest.raises(RestNotFound):
            rest.cert(0x7FFFFFF1)


def test_client_search_and_profiles(local_ca: LocalCA, agent: Client) -> None:
    started = datetime.now(UTC) - timedelta(seconds=2)
    certificate, _ = _issue(local_ca, agent, "CN=rest client search,O=Example")
    search = CertSearch(subject={"commonName": "rest client search"}, status="VALID", issued_on_from=started)
    with _client(local_ca) as rest:
        found = list(rest.find_certs(search, page_size=1))
        assert [entry.serial for entry in found] == [certificate.serial_number]
        with pytest.raises(RestForbidden):
            rest.profile("caFullCMCUserCert")
        assert rest.enrollment_template("caFullCMCUserCert")["ProfileID"] == "caFullCMCUserCert"
        with pytest.raises(RestBadRequest):
            rest.enrollment_template("caNoSuchProfile")
    with _client(local_ca, agent) as rest:
        profile = rest.profile("caFullCMCUserCert")
        assert profile.enabled and [c.key_type for c in profile.key_constraints] == ["RSA"]
        assert "2048" in profile.key_constraints[0].parameters
        with pytest.raises(RestNotFound):
            rest.profile("caNoSuchProfile")
        assert "caECFullCMCUserCert" in {info.profile_id for info in rest.profiles()}


def test_client_refuses_answers_off_shape() -> None:
    from agent.rest import CertData, CertRequestInfo, RestAnswerInvalid

    with pytest.raises(RestAnswerInvalid):
        CertRequestInfo.from_json({"requestID": "0xZZ", "requestStatus": "complete"})
    with pytest.raises(RestAnswerInvalid):
        CertRequestInfo.from_json(["not", "an", "object"])
    with pytest.raises(RestAnswerInvalid):
        CertData.from_json({"id": "0x1", "Encoded": "-----BEGIN CERTIFICATE-----\n%%%\n"})
    info = CertRequestInfo.from_json({"requestID": "0x10", "requestStatus": "complete", "certId": "0x1f"})
    assert (info.request_id, info.cert_id) == (16, 31)
