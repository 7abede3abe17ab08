"""Dogtag's end-entity REST resources (``/ca/rest/...``), answered from the local CA's database.

These are what a client asks a Dogtag CA without an agent's credentials: what became of a request,
a certificate by serial, a search over certificates, and (for agents) a profile's definition. Field
names, status words and formats are Dogtag's (``com.netscape.certsrv``, serialised by Jackson):

* ``GET /ca/rest/certrequests/{id}`` -> ``CertRequestInfo``: ``requestID`` and ``certId`` as ``0x``-hex,
  ``requestStatus`` one of Dogtag's ``RequestStatus`` words (``begin``, ``pending``, ``complete``,
  ``rejected``, ``canceled``...), ``operationResult`` ``success``/``error``, times in epoch
  milliseconds. Unknown id -> 404 ``RequestNotFoundException`` "Request ID 0x.. not found".
* ``GET /ca/rest/certs/{serial}`` -> ``CertData``: ``id``, ``IssuerDN``, ``SubjectDN``, ``Encoded`` (PEM),
  ``PKCS7CertChain`` (base64 of a certs-only PKCS#7 with the chain), ``NotBefore``/``NotAfter`` as Java's
  ``Date.toString()``, ``Status``, ``RevokedOn`` (epoch ms), ``RevocationReason``. Unknown serial -> 404
  ``CertNotFoundException``.
* ``POST /ca/rest/certs/search?start=&size=`` with a ``CertSearchRequest`` -> ``CertDataInfos``
  (``total``, ``entries`` of ``CertDataInfo``). Filters as Dogtag's ``FilterBuilder``: each group applies
  only with its ``...InUse`` flag (the serial range always), dates are epoch milliseconds and a ``...To``
  date reaches to the end of that day (+86399999 ms), subject attributes match exactly (all given) with
  ``matchExactly`` and as substrings (any given) without.
* ``GET /ca/rest/profiles`` -> ``ProfileDataInfos``: anybody may list, and sees the visible profiles;
  agents see all.
* ``GET /ca/rest/profiles/{id}`` -> ``ProfileData`` with its policy sets (the key constraint is
  ``keyConstraintImpl`` with ``keyType`` and ``keyParameters``): agents only (403 "Anonymous access not
  allowed." otherwise, as Dogtag's ACL ``certServer.profile.configuration:read``); unknown -> 404.
* ``GET /ca/rest/certrequests/profiles/{id}`` -> ``CertEnrollmentRequest`` (the enrollment template):
  anybody, for any profile that exists, enabled or not; unknown -> 400 "Profile not found".

Errors are Dogtag's ``PKIException.Data`` JSON (``Attributes``, ``ClassName``, ``Code``, ``Message``).
Only JSON is spoken (Dogtag also offers XML). ``IssuedOn`` is the certificate's notBefore, which the
double sets at issuance, to the second. ``CertData`` leaves out ``PrettyPrint`` (Dogtag's localised text
dump) and ``Nonce``; ``GET /ca/rest/certs`` (the unfiltered listing) is not offered: ``pki ca-cert-find``
posts a search.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509

from localca.authority import CertificateAuthority, certificate_pem
from localca.profiles import Profile
from localca.recognition import registered_user
from localca.store import CertRecord, RequestRecord

REST_PREFIX = "/ca/rest/"
JSON_TYPE = "application/json"
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 1000
END_OF_DAY_MS = 86399999

REQUEST_TYPES = {"revocation": "revocation", "decryptedPOP": "enrollment", "getCert": "getCertificate"}
"""The double's request kinds -> Dogtag's ``requestType``; every other kind is an enrollment."""

CERT_REQUEST_TYPES = {"pkcs10": "pkcs10", "crmf": "crmf", "cmc": "cmc", "enrollment": "cmc", "agent": "cmc"}

SUBJECT_ATTRIBUTES = (
    ("email", "email_address"),
    ("commonName", "common_name"),
    ("userID", "user_id"),
    ("orgUnit", "organizational_unit_name"),
    ("org", "organization_name"),
    ("locality", "locality_name"),
    ("state", "state_or_province_name"),
    ("country", "country_name"),
)
"""CertSearchRequest's subject fields (Dogtag's E, CN, UID, OU, O, L, ST, C) -> asn1crypto names."""


@dataclass(frozen=True)
class RestAnswer:
    status: int
    body: bytes
    content_type: str = JSON_TYPE


@dataclass(frozen=True)
class RestCall:
    """One HTTP request to a REST path, as the server front end saw it."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    body: bytes
    client_certificate: asn1_x509.Certificate | None
    base_url: str
    """``https://host:port`` as the client named us (for ``requestURL`` and ``certURL``)."""


class _Failure(Exception):
    def __init__(self, code: int, class_name: str, message: str, **attributes: str) -> None:
        super().__init__(message)
        self.code = code
        self.class_name = class_name
        self.message = message
        self.attributes = attributes

    def answer(self) -> RestAnswer:
        document = {
            "Attributes": {"Attribute": [{"name": k, "value": v} for k, v in self.attributes.items()]},
            "ClassName": self.class_name,
            "Code": self.code,
            "Message": self.message,
        }
        return RestAnswer(self.code, _dump(document))


def _bad_request(message: str) -> _Failure:
    return _Failure(400, "com.netscape.certsrv.base.BadRequestException", message)


def _dump(document: Any) -> bytes:
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def handle(ca: CertificateAuthority, call: RestCall) -> RestAnswer:
    """Answer one REST call; every failure is a Dogtag error document, never a traceback."""
    routes: list[tuple[str, tuple[str, ...], Callable[..., Any]]] = [
        ("GET", ("certrequests", "profiles", "*"), _enrollment_template),
        ("GET", ("certrequests", "*"), _cert_request),
        ("GET", ("certs", "*"), _cert),
        ("POST", ("certs", "search"), _search_certs),
        ("GET", ("profiles",), _list_profiles),
        ("GET", ("profiles", "*"), _profile),
    ]
    segments = tuple(part for part in call.path[len(REST_PREFIX) :].split("/") if part)
    try:
        wrong_method = False
        for method, pattern, resource in routes:
            if len(pattern) != len(segments) or any(
                want != "*" and want != got for want, got in zip(pattern, segments, strict=True)
            ):
                continue
            if method != call.method:
                wrong_method = True
                continue
            arguments = [got for want, got in zip(pattern, segments, strict=True) if want == "*"]
            return RestAnswer(200, _dump(resource(ca, call, *arguments)))
        if wrong_method:
            raise _Failure(405, "javax.ws.rs.NotAllowedException", "HTTP 405 Method Not Allowed")
        raise _Failure(404, "javax.ws.rs.NotFoundException", f"HTTP 404 Not Found: {call.path}")
    except _Failure as failure:
        return failure.answer()


# -- identifiers and times ------------------------------------------------------------------------


def _parse_id(text: str, what: str) -> int:
    """Dogtag's CertId/RequestId: ``0x``-hex or decimal."""
    value = text.strip()
    try:
        number = int(value[2:], 16) if value.lower().startswith("0x") else int(value, 10)
    except ValueError:
        raise _bad_request(f"Id not valid: {text}") from None
    if number < 0:
        raise _bad_request(f"{what} not valid: {text}")
    return number


def _hex(number: int) -> str:
    return f"0x{number:x}"


def _stamp(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _millis(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def _java_date(moment: datetime) -> str:
    """``java.util.Date.toString()`` in a UTC JVM: ``Thu Dec 03 21:06:41 UTC 2026``."""
    return moment.astimezone(UTC).strftime("%a %b %d %H:%M:%S UTC %Y")


def _query_int(call: RestCall, name: str, default: int) -> int:
    values = call.query.get(name) or []
    if not values or values[0] == "":
        return default
    try:
        return int(values[0])
    except ValueError:
        raise _bad_request(f"{name} must be a number, not {values[0]!r}") from None


# -- cert requests --------------------------------------------------------------------------------


def _request_status(record: RequestRecord) -> str:
    """Dogtag's words; the double's ``failed`` (an error while serving) is Dogtag's ``rejected``."""
    return "rejected" if record.status == "failed" else record.status


def _cert_request(ca: CertificateAuthority, call: RestCall, text: str) -> dict[str, Any]:
    request_id = _parse_id(text, "Request ID")
    record = ca.store.get_request(request_id)
    if record is None:
        raise _Failure(
            404,
            "com.netscape.certsrv.request.RequestNotFoundException",
            f"Request ID {_hex(request_id)} not found",
            requestId=str(request_id),
        )
    status = _request_status(record)
    failed = record.status in ("rejected", "failed")
    document: dict[str, Any] = {
        "requestID": _hex(record.request_id),
        "requestType": REQUEST_TYPES.get(record.kind, "enrollment"),
        "requestStatus": status,
        "requestURL": f"{call.base_url}/ca/rest/certrequests/{record.request_id}",
        "creationTime": _millis(_stamp(record.created)),
        "modificationTime": _millis(_stamp(record.updated)),
        "certRequestType": CERT_REQUEST_TYPES.get(record.kind, "cmc"),
        "operationResult": "error" if failed else "success",
    }
    if failed and record.result:
        document["errorMessage"] = record.result
    if status == "complete" and record.cert_serial is not None:
        document["certId"] = _hex(record.cert_serial)
        document["certURL"] = f"{call.base_url}/ca/rest/certs/{record.cert_serial}"
    return {key: value for key, value in document.items() if value is not None}


# -- certificates ---------------------------------------------------------------------------------


def _status(record: CertRecord, now: datetime) -> str:
    """Dogtag's certificate status words: VALID, REVOKED, EXPIRED, REVOKED_EXPIRED."""
    expired = (_stamp(record.not_after) or now) < now
    if record.status == "REVOKED":
        return "REVOKED_EXPIRED" if expired else "REVOKED"
    return "EXPIRED" if expired else record.status


def _certs_only_pkcs7(certificates: list[asn1_x509.Certificate]) -> bytes:
    signed = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [],
            "encap_content_info": {"content_type": "data"},
            "certificates": [cms.CertificateChoices(name="certificate", value=c) for c in certificates],
            "signer_infos": [],
        }
    )
    return cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()


def _base64_lines(data: bytes) -> str:
    text = base64.b64encode(data).decode("ascii")
    return "\n".join(text[i : i + 64] for i in range(0, len(text), 64)) + "\n"


def _cert(ca: CertificateAuthority, call: RestCall, text: str) -> dict[str, Any]:
    serial = _parse_id(text, "Certificate ID")
    record = ca.store.get_certificate(serial)
    if record is None:
        raise _Failure(
            404,
            "com.netscape.certsrv.cert.CertNotFoundException",
            f"Certificate ID {_hex(serial)} not found",
            certId=str(serial),
        )
    certificate = asn1_x509.Certificate.load(record.der)
    validity = certificate["tbs_certificate"]["validity"]
    document: dict[str, Any] = {
        "id": _hex(record.serial),
        "IssuerDN": record.issuer,
        "SubjectDN": record.subject,
        "Encoded": certificate_pem(certificate).decode("ascii"),
        "PKCS7CertChain": _base64_lines(_certs_only_pkcs7([certificate, *ca.chain()])),
        "NotBefore": _java_date(validity["not_before"].native),
        "NotAfter": _java_date(validity["not_after"].native),
        "Status": _status(record, datetime.now(UTC)),
    }
    if record.revoked_at:
        document["RevokedOn"] = _millis(_stamp(record.revoked_at))
    if record.revocation_reason is not None:
        document["RevocationReason"] = record.revocation_reason
    return document


def _cert_data_info(record: CertRecord, issued_by: str | None, now: datetime) -> dict[str, Any]:
    certificate = asn1_x509.Certificate.load(record.der)
    tbs = certificate["tbs_certificate"]
    key_info = tbs["subject_public_key_info"]
    document: dict[str, Any] = {
        "id": _hex(record.serial),
        "SubjectDN": record.subject,
        "IssuerDN": record.issuer,
        "Status": _status(record, now),
        "Type": "X.509",
        "Version": int(tbs["version"].native.lstrip("v")) - 1,  # JSS's 0-based value, as Dogtag sends it
        "KeyAlgorithmOID": key_info["algorithm"]["algorithm"].dotted,
        "NotValidBefore": _millis(tbs["validity"]["not_before"].native),
        "NotValidAfter": _millis(tbs["validity"]["not_after"].native),
        "IssuedOn": _millis(tbs["validity"]["not_before"].native),
        "IssuedBy": issued_by or "system",
    }
    if key_info.algorithm == "rsa":
        document["KeyLength"] = key_info.bit_size
    if record.revoked_at:
        document["RevokedOn"] = _millis(_stamp(record.revoked_at))
    return document


@dataclass(frozen=True)
class _Search:
    """A parsed CertSearchRequest: one predicate per filter group that is in use."""

    predicates: tuple[Callable[[CertRecord, asn1_x509.Certificate], bool], ...]

    def matches(self, record: CertRecord) -> bool:
        certificate = asn1_x509.Certificate.load(record.der)
        return all(predicate(record, certificate) for predicate in self.predicates)


def _flag(document: Mapping[str, Any], name: str) -> bool:
    value = document.get(name, False)
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _text(document: Mapping[str, Any], name: str) -> str | None:
    value = document.get(name)
    if value is None or value == "":
        return None
    return str(value)


def _epoch_ms(document: Mapping[str, Any], name: str) -> int | None:
    value = _text(document, name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise _bad_request(f"{name} must be a time in milliseconds since 1970, not {value!r}") from None


def _date_range(
    document: Mapping[str, Any], low: str, high: str, moment: Callable[[CertRecord, Any], datetime | None]
) -> Callable[[CertRecord, asn1_x509.Certificate], bool]:
    start, end = _epoch_ms(document, low), _epoch_ms(document, high)

    def predicate(record: CertRecord, certificate: asn1_x509.Certificate) -> bool:
        when = _millis(moment(record, certificate))
        if when is None:
            return False
        if start is not None and when < start:
            return False
        return not (end is not None and when > end + END_OF_DAY_MS)

    return predicate


def _subject_values(certificate: asn1_x509.Certificate, attribute: str) -> list[str]:
    value = certificate.subject.native.get(attribute)
    if value is None:
        return []
    return [str(item) for item in value] if isinstance(value, list) else [str(value)]


def _parse_search(document: Any) -> _Search:
    if not isinstance(document, dict):
        raise _bad_request("Search request is null")
    predicates: list[Callable[[CertRecord, asn1_x509.Certificate], bool]] = []
    issuer = _text(document, "issuerDN")
    if issuer is not None:
        predicates.append(lambda record, _c: record.issuer.lower() == issuer.lower())
    serial_from, serial_to = _text(document, "serialFrom"), _text(document, "serialTo")
    if serial_from is not None:
        low = _parse_id(serial_from, "serialFrom")
        predicates.append(lambda record, _c: record.serial >= low)
    if serial_to is not None:
        high = _parse_id(serial_to, "serialTo")
        predicates.append(lambda record, _c: record.serial <= high)
    if _flag(document, "subjectInUse"):
        exact = _flag(document, "matchExactly")
        wanted = [
            (attribute, text.lower())
            for field, attribute in SUBJECT_ATTRIBUTES
            if (text := _text(document, field)) is not None
        ]

        def subject_matches(_record: CertRecord, certificate: asn1_x509.Certificate) -> bool:
            if not wanted:
                return True
            hits = []
            for attribute, text in wanted:
                values = [value.lower() for value in _subject_values(certificate, attribute)]
                hits.append(text in values if exact else any(text in value for value in values))
            return all(hits) if exact else any(hits)

        predicates.append(subject_matches)
    status = _text(document, "status")
    if status is not None:
        now = datetime.now(UTC)
        predicates.append(lambda record, _c: _status(record, now) == status)
    if _flag(document, "revokedOnInUse"):
        predicates.append(
            _date_range(document, "revokedOnFrom", "revokedOnTo", lambda r, _c: _stamp(r.revoked_at))
        )
    if _flag(document, "revocationReasonInUse"):
        reasons = {word.strip() for word in (_text(document, "revocationReason") or "").split(",") if word}
        predicates.append(lambda record, _c: str(record.revocation_reason) in reasons)
    if _flag(document, "issuedOnInUse"):
        predicates.append(
            _date_range(
                document,
                "issuedOnFrom",
                "issuedOnTo",
                lambda _r, c: c["tbs_certificate"]["validity"]["not_before"].native,
            )
        )
    if _flag(document, "validNotBeforeInUse"):
        predicates.append(
            _date_range(
                document,
                "validNotBeforeFrom",
                "validNotBeforeTo",
                lambda _r, c: c["tbs_certificate"]["validity"]["not_before"].native,
            )
        )
    if _flag(document, "validNotAfterInUse"):
        predicates.append(
            _date_range(
                document,
                "validNotAfterFrom",
                "validNotAfterTo",
                lambda _r, c: c["tbs_certificate"]["validity"]["not_after"].native,
            )
        )
    if _flag(document, "certTypeInUse") and any(
        _text(document, name) in ("on", "off")
        for name in (
            "certTypeSSLClient",
            "certTypeSSLServer",
            "certTypeSecureEmail",
            "certTypeSubSSLCA",
            "certTypeSubEmailCA",
        )
    ):
        # Dogtag filters on the Netscape certificate type extension, which the double never issues.
        predicates.append(lambda _r, _c: False)
    return _Search(tuple(predicates))


def _search_certs(ca: CertificateAuthority, call: RestCall) -> dict[str, Any]:
    try:
        document = json.loads(call.body.decode("utf-8")) if call.body.strip() else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _Failure(
            500,
            "com.netscape.certsrv.base.PKIException",
            "The input file provided could not be parsed as JSON",
        ) from None
    search = _parse_search(document)
    start = max(0, _query_int(call, "start", 0))
    size = min(MAX_PAGE_SIZE, max(0, _query_int(call, "size", DEFAULT_PAGE_SIZE)))
    now = datetime.now(UTC)
    matches = [record for record in ca.store.list_certificates() if search.matches(record)]
    entries = []
    for record in matches[start : start + size]:
        issuer_request = ca.store.get_request(record.request_id) if record.request_id else None
        issued_by = issuer_request.authenticated_name if issuer_request is not None else None
        entries.append(_cert_data_info(record, issued_by, now))
    return {"total": len(matches), "entries": entries}


# -- profiles -------------------------------------------------------------------------------------


def _is_agent(ca: CertificateAuthority, certificate: asn1_x509.Certificate | None) -> bool:
    """A TLS client whose certificate names a registered agent in the agents' group, not revoked."""
    if certificate is None or ca.is_revoked(certificate):
        return False
    agent = registered_user(ca, certificate)
    return agent is not None and agent.in_agent_group


def _visible(profile: Profile) -> bool:
    """Dogtag's ``visible``; the CMC profiles Dogtag ships are not visible to end entities."""
    return (profile.raw.get("visible") or "false").strip().lower() == "true"


def _profile_or_404(ca: CertificateAuthority, profile_id: str) -> Profile:
    profile = ca.profiles.get(profile_id)
    if profile is None:
        raise _Failure(
            404,
            "com.netscape.certsrv.profile.ProfileNotFoundException",
            f"Profile ID {profile_id} not found",
            profileId=profile_id,
        )
    return profile


def _list_profiles(ca: CertificateAuthority, call: RestCall) -> dict[str, Any]:
    agent = _is_agent(ca, call.client_certificate)
    start = max(0, _query_int(call, "start", 0))
    size = min(MAX_PAGE_SIZE, max(0, _query_int(call, "size", DEFAULT_PAGE_SIZE)))
    infos = [
        {
            "profileURL": f"{call.base_url}/ca/rest/profiles/{profile.profile_id}",
            "profileId": profile.profile_id,
            "profileName": profile.name,
            "profileDescription": profile.description,
            "profileVisible": _visible(profile),
            "profileEnable": profile.enabled(ca.config),
            "profileEnableBy": "admin",
        }
        for profile in ca.profiles.all()
        if agent or _visible(profile)
    ]
    return {"total": len(infos), "entries": infos[start : start + size]}


def _constraint_value(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "value": value}


def _policy_sets(profile: Profile) -> dict[str, list[dict[str, Any]]]:
    """The profile's constraints in Dogtag's ``ProfilePolicy`` shape (defaults named, not detailed)."""
    policies = [
        {
            "id": "1",
            "def": {"name": "Subject Name Default", "classId": "userSubjectNameDefaultImpl"},
            "constraint": {
                "name": "Subject Name Constraint",
                "classId": "subjectNameConstraintImpl",
                "constraints": [_constraint_value("pattern", profile.subject_pattern)],
            },
        },
        {
            "id": "2",
            "def": {"name": "Validity Default", "classId": "validityDefaultImpl"},
            "constraint": {
                "name": "Validity Constraint",
                "classId": "validityConstraintImpl",
                "constraints": [_constraint_value("range", str(profile.validity_max_days))],
            },
        },
        {
            "id": "3",
            "def": {"name": "Key Default", "classId": "userKeyDefaultImpl"},
            "constraint": {
                "name": "Key Constraint",
                "classId": "keyConstraintImpl",
                "constraints": [
                    _constraint_value("keyType", profile.key_type),
                    _constraint_value("keyParameters", ",".join(profile.key_parameters)),
                ],
            },
        },
    ]
    return {f"{profile.profile_id}Set": policies}


def _profile(ca: CertificateAuthority, call: RestCall, profile_id: str) -> dict[str, Any]:
    if not _is_agent(ca, call.client_certificate):
        if call.client_certificate is None:
            raise _Failure(
                403, "com.netscape.certsrv.base.ForbiddenException", "Anonymous access not allowed."
            )
        raise _Failure(403, "com.netscape.certsrv.base.ForbiddenException", "Authorization Error")
    profile = _profile_or_404(ca, profile_id)
    return {
        "id": profile.profile_id,
        "classId": "caEnrollImpl",
        "name": profile.name,
        "description": profile.description,
        "enabled": profile.enabled(ca.config),
        "visible": _visible(profile),
        "enabledBy": "admin",
        "authenticatorId": profile.authenticator,
        "renewal": False,
        "xmloutput": False,
        "inputs": [_input(profile)],
        "outputs": [
            {"id": "o1", "classId": "certOutputImpl", "name": "Certificate Output", "attributes": []}
        ],
        "policySets": _policy_sets(profile),
    }


def _input(profile: Profile) -> dict[str, Any]:
    """Dogtag's ``ProfileInput`` JSON (its odd capitals included)."""
    return {
        "id": "i1",
        "ClassID": "cmcCertReqInputImpl" if profile.input_type == "cmc" else "certReqInputImpl",
        "Name": "Certificate Request Input",
        "Attribute": [],
        "ConfigAttribute": [],
    }


def _enrollment_template(ca: CertificateAuthority, call: RestCall, profile_id: str) -> dict[str, Any]:
    profile = ca.profiles.get(profile_id)
    if profile is None:
        raise _bad_request(f"Unable to get enrollment template for {profile_id}: Profile not found")
    return {
        "ProfileID": profile.profile_id,
        "Renewal": False,
        "RemoteHost": "",
        "RemoteAddress": "",
        "Input": [_input(profile)],
        "Output": [],
    }
