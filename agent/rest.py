"""A client for Dogtag's end-entity REST resources (``/ca/rest/...``), over the same verified HTTPS as
CMC submission.

What it asks, and why each matters to this project:

* ``GET /ca/rest/certrequests/{id}`` (``CertRequestInfo``): what became of a request whose answer was
  lost: ``requestStatus`` (``begin``, ``pending``, ``complete``, ``rejected``, ``canceled``...) and, once
  complete, ``certId``.
* ``GET /ca/rest/certs/{serial}`` (``CertData``): that certificate, PEM in ``Encoded``.
* ``POST /ca/rest/certs/search`` (``CertSearchRequest`` -> ``CertDataInfos``): certificates by subject
  attributes, status and issue time (never by key: the caller compares keys itself).
* ``GET /ca/rest/profiles/{id}`` (``ProfileData``, agents only), ``GET /ca/rest/profiles`` (visible
  profiles for anybody) and ``GET /ca/rest/certrequests/profiles/{id}`` (the enrollment template, anybody):
  whether a profile exists, is enabled and takes a key type.

Shapes are Dogtag's, read from ``com.netscape.certsrv`` as Jackson serialises it: identifiers are
``0x``-hex strings (decimal is accepted too), times are epoch milliseconds. Every answer is hostile input:
it is parsed into small frozen records, and anything off-shape is :class:`RestAnswerInvalid`, never a
``KeyError``. Nothing here trusts a certificate it fetched: callers check it as they check one from a CMC
response.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from agent.transport import DEFAULT_TIMEOUT, CAUnreachable, CmcClient, TransportError, reason

if TYPE_CHECKING:
    import requests

    from tokens.tls import DeviceTlsKey

JSON_TYPE = "application/json"
MAX_ANSWER_BYTES = 8 * 1024 * 1024
DEFAULT_PAGE_SIZE = 20
MAX_PAGES = 50


class RestError(TransportError):
    """A REST call to the CA did not give the answer asked for."""

    dogtag_class: str | None = None
    """``ClassName`` of Dogtag's error document (``...ProfileNotFoundException``), when the CA sent one."""


class RestNotFound(RestError):
    """The CA says the request, certificate or profile named does not exist (HTTP 404)."""


class RestForbidden(RestError):
    """The CA does not let this client read that resource (HTTP 401/403): Dogtag shows profiles to
    agents only. Nothing is wrong; the CA just cannot say."""


class RestBadRequest(RestError):
    """The CA refused the call as malformed (HTTP 400); its message says what it disliked."""


class RestUnavailable(RestError):
    """The CA answered the REST path with another status (it may not offer Dogtag's REST API)."""


class RestAnswerInvalid(RestError):
    """The CA's answer is not the JSON document Dogtag sends for that resource."""


# -- records ---------------------------------------------------------------------------------------


def parse_id(value: Any, what: str) -> int:
    """Dogtag's CertId / RequestId: a ``0x``-hex or decimal string (or a JSON number)."""
    if isinstance(value, bool):
        raise RestAnswerInvalid(f"{what} is not an identifier: {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = int(text[2:], 16) if text.lower().startswith("0x") else int(text, 10)
        except ValueError:
            raise RestAnswerInvalid(f"{what} is not an identifier: {value[:40]!r}") from None
    else:
        raise RestAnswerInvalid(f"{what} is not an identifier: {type(value).__name__}")
    if number < 0:
        raise RestAnswerInvalid(f"{what} is negative")
    return number


def _time(value: Any, what: str) -> datetime | None:
    """Jackson's ``java.util.Date``: epoch milliseconds."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RestAnswerInvalid(f"{what} is not a time in epoch milliseconds: {value!r:.40}")
    try:
        return datetime.fromtimestamp(value / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        raise RestAnswerInvalid(f"{what} is out of range: {value!r:.40}") from None


def _str(document: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = document.get(key)
    if value is None:
        if required:
            raise RestAnswerInvalid(f"the answer has no {key}")
        return None
    if not isinstance(value, str):
        raise RestAnswerInvalid(f"{key} is not a string")
    return value


def _bool(document: Mapping[str, Any], key: str) -> bool | None:
    value = document.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise RestAnswerInvalid(f"{key} is not true or false")
    return value


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise RestAnswerInvalid(f"{what} is not a JSON object")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise RestAnswerInvalid(f"{what} is not a JSON array")
    return value


@dataclass(frozen=True)
class CertRequestInfo:
    """``GET /ca/rest/certrequests/{id}``."""

    request_id: int
    status: str
    """Dogtag's RequestStatus word: begin, pending, approved, svc_pending, canceled, rejected, complete."""
    request_type: str | None
    cert_id: int | None
    cert_request_type: str | None
    operation_result: str | None
    error_message: str | None
    created: datetime | None
    modified: datetime | None

    @classmethod
    def from_json(cls, document: Any) -> CertRequestInfo:
        document = _object(document, "CertRequestInfo")
        cert_id = document.get("certId")
        return cls(
            request_id=parse_id(document.get("requestID"), "requestID"),
            status=_str(document, "requestStatus", required=True) or "",
            request_type=_str(document, "requestType"),
            cert_id=None if cert_id is None else parse_id(cert_id, "certId"),
            cert_request_type=_str(document, "certRequestType"),
            operation_result=_str(document, "operationResult"),
            error_message=_str(document, "errorMessage"),
            created=_time(document.get("creationTime"), "creationTime"),
            modified=_time(document.get("modificationTime"), "modificationTime"),
        )

    @property
    def complete(self) -> bool:
        return self.status == "complete"

    @property
    def refused(self) -> bool:
        """The CA will never issue for it: rejected, canceled, or complete with an error."""
        return self.status in ("rejected", "canceled") or (
            self.status == "complete" and self.operation_result == "error"
        )


@dataclass(frozen=True)
class CertData:
    """``GET /ca/rest/certs/{serial}``; ``der`` is the certificate decoded from ``Encoded``."""

    serial: int
    subject_dn: str | None
    issuer_dn: str | None
    status: str | None
    der: bytes
    pkcs7_chain: str | None
    not_before: str | None
    not_after: str | None
    revoked_on: datetime | None
    revocation_reason: int | None

    @classmethod
    def from_json(cls, document: Any) -> CertData:
        import base64
        import binascii

        document = _object(document, "CertData")
        encoded = _str(document, "Encoded", required=True) or ""
        body = "".join(
            line.strip() for line in encoded.splitlines() if line.strip() and not line.startswith("-----")
        )
        try:
            der = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise RestAnswerInvalid("Encoded is not a base-64 certificate") from None
        if not der:
            raise RestAnswerInvalid("Encoded holds no certificate")
        reason = document.get("RevocationReason")
        if reason is not None and (isinstance(reason, bool) or not isinstance(reason, int)):
            raise RestAnswerInvalid("RevocationReason is not a number")
        return cls(
            serial=parse_id(document.get("id"), "id"),
            subject_dn=_str(document, "SubjectDN"),
            issuer_dn=_str(document, "IssuerDN"),
            status=_str(document, "Status"),
            der=der,
            pkcs7_chain=_str(document, "PKCS7CertChain"),
            not_before=_str(document, "NotBefore"),
            not_after=_str(document, "NotAfter"),
            revoked_on=_time(document.get("RevokedOn"), "RevokedOn"),
            revocation_reason=reason,
        )


@dataclass(frozen=True)
class CertDataInfo:
    """One entry of ``CertDataInfos`` (a search or listing result)."""

    serial: int
    subject_dn: str | None
    issuer_dn: str | None
    status: str | None
    cert_type: str | None
    """``Type``: ``X.509``."""
    version: int | None
    """``Version`` as Dogtag's CertService sends it: JSS's 0-based X.509 version (2 for v3)."""
    key_algorithm_oid: str | None
    key_length: int | None
    not_valid_before: datetime | None
    not_valid_after: datetime | None
    issued_on: datetime | None
    issued_by: str | None
    revoked_on: datetime | None
    revoked_by: str | None

    @classmethod
    def from_json(cls, document: Any) -> CertDataInfo:
        document = _object(document, "CertDataInfo")
        length = document.get("KeyLength")
        if length is not None and (isinstance(length, bool) or not isinstance(length, int)):
            raise RestAnswerInvalid("KeyLength is not a number")
        version = document.get("Version")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
            raise RestAnswerInvalid("Version is not a number")
        return cls(
            serial=parse_id(document.get("id"), "id"),
            subject_dn=_str(document, "SubjectDN"),
            issuer_dn=_str(document, "IssuerDN"),
            status=_str(document, "Status"),
            cert_type=_str(document, "Type"),
            version=version,
            key_algorithm_oid=_str(document, "KeyAlgorithmOID"),
            key_length=length,
            not_valid_before=_time(document.get("NotValidBefore"), "NotValidBefore"),
            not_valid_after=_time(document.get("NotValidAfter"), "NotValidAfter"),
            issued_on=_time(document.get("IssuedOn"), "IssuedOn"),
            issued_by=_str(document, "IssuedBy"),
            revoked_on=_time(document.get("RevokedOn"), "RevokedOn"),
            revoked_by=_str(document, "RevokedBy"),
        )


@dataclass(frozen=True)
class CertDataInfos:
    total: int | None
    entries: tuple[CertDataInfo, ...]

    @classmethod
    def from_json(cls, document: Any) -> CertDataInfos:
        document = _object(document, "CertDataInfos")
        total = document.get("total")
        if total is not None and (isinstance(total, bool) or not isinstance(total, int)):
            raise RestAnswerInvalid("total is not a number")
        entries = tuple(CertDataInfo.from_json(item) for item in _list(document.get("entries"), "entries"))
        return cls(total, entries)


SUBJECT_FIELDS = ("email", "commonName", "userID", "orgUnit", "org", "locality", "state", "country")


@dataclass(frozen=True)
class CertSearch:
    """A ``CertSearchRequest``; only the filters set here are sent, with their ``...InUse`` flags.

    ``subject`` maps CertSearchRequest's subject fields (``commonName``, ``userID``, ``email``,
    ``orgUnit``, ``org``, ``locality``, ``state``, ``country``) to values; with ``match_exactly`` every
    one must equal an attribute of the subject, without it any one may be a substring. Times are sent
    as epoch milliseconds, as Dogtag's FilterBuilder reads them; a ``..._to`` time reaches to the end of
    that day on a Dogtag CA.
    """

    subject: Mapping[str, str] = field(default_factory=dict)
    match_exactly: bool = True
    status: str | None = None
    issuer_dn: str | None = None
    serial_from: int | None = None
    serial_to: int | None = None
    issued_on_from: datetime | None = None
    issued_on_to: datetime | None = None
    valid_not_after_from: datetime | None = None
    valid_not_after_to: datetime | None = None
    revoked_on_from: datetime | None = None
    revoked_on_to: datetime | None = None
    revocation_reasons: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        unknown = set(self.subject) - set(SUBJECT_FIELDS)
        if unknown:
            raise ValueError(f"unknown subject fields {sorted(unknown)}; use {', '.join(SUBJECT_FIELDS)}")

    def to_json(self) -> dict[str, Any]:
        def millis(moment: datetime | None) -> str | None:
            return None if moment is None else str(int(moment.timestamp() * 1000))

        document: dict[str, Any] = {}
        if self.issuer_dn is not None:
            document["issuerDN"] = self.issuer_dn
        if self.serial_from is not None or self.serial_to is not None:
            document["serialNumberRangeInUse"] = True
            if self.serial_from is not None:
                document["serialFrom"] = str(self.serial_from)
            if self.serial_to is not None:
                document["serialTo"] = str(self.serial_to)
        if self.subject:
            document["subjectInUse"] = True
            document["matchExactly"] = self.match_exactly
            document.update(self.subject)
        if self.status is not None:
            document["status"] = self.status
        for flag, low, high, start, end in (
            ("issuedOnInUse", "issuedOnFrom", "issuedOnTo", self.issued_on_from, self.issued_on_to),
            (
                "validNotAfterInUse",
                "validNotAfterFrom",
                "validNotAfterTo",
                self.valid_not_after_from,
                self.valid_not_after_to,
            ),
            ("revokedOnInUse", "revokedOnFrom", "revokedOnTo", self.revoked_on_from, self.revoked_on_to),
        ):
            if start is not None or end is not None:
                document[flag] = True
                if start is not None:
                    document[low] = millis(start)
                if end is not None:
                    document[high] = millis(end)
        if self.revocation_reasons:
            document["revocationReasonInUse"] = True
            document["revocationReason"] = ",".join(str(reason) for reason in self.revocation_reasons)
        return document


@dataclass(frozen=True)
class KeyConstraint:
    """``keyConstraintImpl``: ``key_type`` RSA, EC or ``-`` (any); ``parameters`` sizes or curve names."""

    key_type: str
    parameters: tuple[str, ...]


@dataclass(frozen=True)
class ProfileData:
    """``GET /ca/rest/profiles/{id}``, reduced to what a client checks before it makes a key."""

    profile_id: str
    name: str | None
    enabled: bool
    visible: bool | None
    authenticator_id: str | None
    key_constraints: tuple[KeyConstraint, ...]

    @classmethod
    def from_json(cls, document: Any) -> ProfileData:
        document = _object(document, "ProfileData")
        constraints = []
        for set_id, policies in _object(document.get("policySets") or {}, "policySets").items():
            for policy in _list(policies, f"policy set {set_id}"):
                constraint = _object(policy, "policy").get("constraint")
                if constraint is None:
                    continue
                constraint = _object(constraint, "constraint")
                if _str(constraint, "classId") != "keyConstraintImpl":
                    continue
                values: dict[str, str] = {}
                for item in _list(constraint.get("constraints"), "constraints"):
                    item = _object(item, "constraint value")
                    name, value = _str(item, "name"), _str(item, "value")
                    if name is not None:
                        values[name] = value or ""
                words = [word.strip() for word in values.get("keyParameters", "").split(",") if word.strip()]
                constraints.append(KeyConstraint((values.get("keyType") or "-").upper(), tuple(words)))
        enabled = _bool(document, "enabled")
        return cls(
            profile_id=_str(document, "id", required=True) or "",
            name=_str(document, "name"),
            enabled=bool(enabled),
            visible=_bool(document, "visible"),
            authenticator_id=_str(document, "authenticatorId"),
            key_constraints=tuple(constraints),
        )


@dataclass(frozen=True)
class ProfileDataInfo:
    """One entry of ``GET /ca/rest/profiles``."""

    profile_id: str
    enabled: bool | None
    visible: bool | None

    @classmethod
    def from_json(cls, document: Any) -> ProfileDataInfo:
        document = _object(document, "ProfileDataInfo")
        return cls(
            profile_id=_str(document, "profileId", required=True) or "",
            enabled=_bool(document, "profileEnable"),
            visible=_bool(document, "profileVisible"),
        )


# -- the client ------------------------------------------------------------------------------------


def rest_base(url: str) -> str:
    """``https://host:port`` of any URL on the CA (a CMC servlet URL, say)."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise TransportError(f"{url!r} is not an https:// URL; the CA must be verified")
    return f"https://{parts.netloc}"


class DogtagRest:
    """Dogtag's REST resources on one CA, over a verified HTTPS session (shared with CMC submission)."""

    def __init__(self, base_url: str, session: requests.Session, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.base_url = rest_base(base_url)
        self._session = session
        self._timeout = timeout

    @classmethod
    def over(cls, client: CmcClient, url: str) -> DogtagRest:
        """Use the connection (trust, TLS client key) of a CMC client; ``url`` is any URL on the CA."""
        return cls(url, client.session, client.timeout)

    @classmethod
    def open(
        cls,
        url: str,
        ca_file: str,
        *,
        client_key: DeviceTlsKey | None = None,
        client_cert: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> DogtagRest:
        return cls.over(
            CmcClient.open(ca_file, client_key=client_key, client_cert=client_cert, timeout=timeout), url
        )

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> DogtagRest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- resources ---------------------------------------------------------------------------------

    def cert_request(self, request_id: int) -> CertRequestInfo:
        return CertRequestInfo.from_json(self._call("GET", f"/ca/rest/certrequests/{request_id}"))

    def cert(self, serial: int) -> CertData:
        data = CertData.from_json(self._call("GET", f"/ca/rest/certs/0x{serial:x}"))
        if data.serial != serial:
            raise RestAnswerInvalid(f"asked for certificate 0x{serial:x}, the CA sent 0x{data.serial:x}")
        return data

    def search_certs(
        self, search: CertSearch, *, start: int = 0, size: int = DEFAULT_PAGE_SIZE
    ) -> CertDataInfos:
        return CertDataInfos.from_json(
            self._call("POST", f"/ca/rest/certs/search?start={start}&size={size}", search.to_json())
        )

    def find_certs(
        self, search: CertSearch, *, page_size: int = DEFAULT_PAGE_SIZE, max_pages: int = MAX_PAGES
    ) -> Iterator[CertDataInfo]:
        """Every match, page by page, up to ``max_pages`` pages."""
        start = 0
        for _ in range(max_pages):
            page = self.search_certs(search, start=start, size=page_size)
            yield from page.entries
            start += len(page.entries)
            if not page.entries or (page.total is not None and start >= page.total):
                return

    def profile(self, profile_id: str) -> ProfileData:
        return ProfileData.from_json(self._call("GET", f"/ca/rest/profiles/{quote(profile_id, safe='')}"))

    def profiles(self) -> tuple[ProfileDataInfo, ...]:
        document = _object(self._call("GET", "/ca/rest/profiles?size=1000"), "ProfileDataInfos")
        return tuple(ProfileDataInfo.from_json(item) for item in _list(document.get("entries"), "entries"))

    def enrollment_template(self, profile_id: str) -> Mapping[str, Any]:
        """``GET /ca/rest/certrequests/profiles/{id}``: anybody may ask; 400 means no such profile."""
        path = f"/ca/rest/certrequests/profiles/{quote(profile_id, safe='')}"
        return _object(self._call("GET", path), "CertEnrollmentRequest")

    # -- plumbing ----------------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        import requests

        url = self.base_url + path
        data = None if body is None else json.dumps(body).encode("utf-8")
        headers = {"Accept": JSON_TYPE}
        if data is not None:
            headers["Content-Type"] = JSON_TYPE
        try:
            response = self._session.request(
                method,
                url,
                data=data,
                headers=headers,
                timeout=self._timeout,
                stream=True,
                allow_redirects=False,
            )
        except requests.exceptions.SSLError as exc:
            raise CAUnreachable(f"TLS with {url} failed: {reason(exc)}") from None
        except requests.exceptions.RequestException as exc:
            raise CAUnreachable(f"cannot reach {url}: {reason(exc)}") from None
        with response:
            raw = _read_limited(response, url)
            status = response.status_code
            content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        document = _json(raw) if content_type == JSON_TYPE else None
        if status == 200:
            if document is None:
                raise RestAnswerInvalid(f"{url} answered {content_type or 'no content type'}, not JSON")
            return document
        message = _dogtag_message(document) or f"HTTP {status}"
        kind: type[RestError] = {
            404: RestNotFound,
            401: RestForbidden,
            403: RestForbidden,
            400: RestBadRequest,
        }.get(status, RestUnavailable)
        error = kind(f"{url} answered HTTP {status}: {message}")
        error.dogtag_class = _dogtag_class(document)
        raise error


def _read_limited(response: requests.Response, url: str) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_content(64 * 1024):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise RestAnswerInvalid(f"{url} sent more than {MAX_ANSWER_BYTES} bytes; refusing it")
        chunks.append(chunk)
    return b"".join(chunks)


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise RestAnswerInvalid("the answer is not valid JSON") from None


def _dogtag_class(document: Any) -> str | None:
    if isinstance(document, dict) and isinstance(document.get("ClassName"), str):
        return str(document["ClassName"])[:200]
    return None


def _dogtag_message(document: Any) -> str | None:
    """``Message`` of Dogtag's PKIException.Data, cut to one short line."""
    if isinstance(document, dict) and isinstance(document.get("Message"), str):
        return " ".join(document["Message"].split())[:300]
    return None
