"""What became of a request whose answer was lost: ask the CA before sending anything again.

A run that dies after posting a request and before saving the answer leaves the state at
``trip{N}-sent``: the CA may have issued, refused, or never seen it. Sending it again is not harmless:
a DecryptedPOP that the CA already accepted is refused the second time (its challenge is spent), and a
first trip that the CA already certified makes a second certificate for the same key. So the rerun
first asks, with Dogtag's end-entity REST resources (:mod:`agent.rest`, no agent credentials needed):

* when the request id is known (the second trip proves the request the first trip's answer named):
  ``GET /ca/rest/certrequests/{id}`` says ``complete`` with a ``certId``, ``rejected``/``canceled``, or
  still ``pending`` (the CA is still waiting for the DecryptedPOP, so sending it is right);
* when it is not (the first trip's answer, which carries it, is what was lost): ``POST
  /ca/rest/certs/search`` for valid certificates with our subject issued since the request was sent,
  keeping only one whose public key is ours (the search cannot ask by key).

A certificate found either way is checked exactly as one from a CMC response before anything uses it
(:func:`check_found_certificate`): a path to the trust anchors given with ``--ca-cert``, our public key,
and the subject the profile gives (the requested one, or the signer's, or the directory entry of a
shared-secret identification). Whatever cannot be told (a CA without the REST API, a search that needs
rights we lack) is said, and the caller falls back to sending again as before.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from asn1crypto import keys, x509

from agent.cmc.errors import CMCError

if TYPE_CHECKING:
    from agent.rest import CertData, CertDataInfo, CertRequestInfo, CertSearch

IN_FLIGHT_GRACE = datetime.timedelta(seconds=3)
"""A request sent less than this long ago may still be in the CA's hands (the CA goes on with a request
whose sender died): "nothing issued" is asked once more when this has passed, before sending it again."""
SEARCH_CLOCK_SKEW = datetime.timedelta(hours=1)
"""How far the CA's clock may lag ours: the issue-time filter starts this much before the send."""
MAX_CANDIDATES = 200
"""Certificates fetched and compared at most (a subject shared by many certificates in the window)."""

SEARCH_FIELDS = (
    ("2.5.4.3", "commonName"),
    ("0.9.2342.19200300.100.1.1", "userID"),
    ("1.2.840.113549.1.9.1", "email"),
)
"""The subject attributes a search names, most specific first (one of them is enough to narrow it)."""


class FoundCertificateRejected(CMCError):
    """The CA says it issued a certificate for this request, but the certificate does not pass the
    checks a CMC answer must pass (path to --ca-cert, our key, the expected subject). Nothing was
    imported; the message says which check failed."""


class RestQueries(Protocol):
    """What this module asks of :class:`agent.rest.DogtagRest`."""

    def cert_request(self, request_id: int) -> CertRequestInfo: ...

    def cert(self, serial: int) -> CertData: ...

    def find_certs(self, search: CertSearch) -> Iterator[CertDataInfo]: ...


@dataclass(frozen=True)
class Issued:
    """The CA certified our key: the verified leaf and its chain (leaf first, up to a trust anchor)."""

    chain: tuple[x509.Certificate, ...]
    how: str

    @property
    def certificate(self) -> x509.Certificate:
        return self.chain[0]


@dataclass(frozen=True)
class Refused:
    """The CA refused the request: a rerun builds a new one."""

    message: str


@dataclass(frozen=True)
class Waiting:
    """The CA holds the request (for an agent, or for our DecryptedPOP)."""

    message: str


@dataclass(frozen=True)
class NotIssued:
    """Nothing was issued for our key: sending the request (again) cannot make a second certificate."""

    message: str


@dataclass(frozen=True)
class CannotTell:
    """The CA could not be asked (no REST API, no rights, unreachable); the reason, for the step line."""

    message: str


Verdict = Issued | Refused | Waiting | NotIssued | CannotTell


@dataclass(frozen=True)
class ExpectedSubject:
    """The subjects the profile may give: the requested one, or one taken from elsewhere."""

    requested: x509.Name
    signer: x509.Name | None = None
    """CMCUserSignedAuth profiles copy the signing certificate's subject."""
    identification: str | None = None
    """Shared-secret profiles take the DN of the directory entry that holds the token (``uid=ID,...``)."""

    def accepts(self, subject: x509.Name) -> bool:
        if subject == self.requested or (self.signer is not None and subject == self.signer):
            return True
        if self.identification is not None:
            return self.identification.lower() in [value.lower() for value in _values(subject, "user_id")]
        return False

    def describe(self) -> str:
        words = [repr(_text(self.requested))]
        if self.signer is not None:
            words.append(f"the signer's {_text(self.signer)!r}")
        if self.identification is not None:
            words.append(f"an entry with UID={self.identification}")
        return " or ".join(words)


@dataclass
class LostAnswers:
    """What an enrollment asks when an answer was lost, bound to one CA and one expected subject.

    ``rest`` is called on first use only (it opens the connection, perhaps with a device key), and so is
    ``expected_subject``: a run that needs neither touches neither.
    """

    rest: Callable[[], RestQueries]
    trusted: Sequence[x509.Certificate]
    expected_subject: Callable[[], ExpectedSubject]
    """Called on first use only (it may read the signer's certificate file)."""
    _subject: ExpectedSubject | None = None

    @property
    def subject(self) -> ExpectedSubject:
        if self._subject is None:
            self._subject = self.expected_subject()
        return self._subject

    def ask(
        self, request_id: int | None, sent: datetime.datetime | None, public_key: keys.PublicKeyInfo
    ) -> Verdict:
        verdict = self._ask_once(request_id, sent, public_key)
        if isinstance(verdict, NotIssued) and sent is not None:
            wait = (sent + IN_FLIGHT_GRACE - datetime.datetime.now(datetime.UTC)).total_seconds()
            if wait > 0:  # a run killed right after sending: the CA may not be done with it yet
                time.sleep(min(wait, IN_FLIGHT_GRACE.total_seconds()))
                verdict = self._ask_once(request_id, sent, public_key)
        return verdict

    def _ask_once(
        self, request_id: int | None, sent: datetime.datetime | None, public_key: keys.PublicKeyInfo
    ) -> Verdict:
        return what_became_of(
            self.rest(),
            request_id=request_id,
            sent=sent,
            public_key=public_key,
            subject=self.subject,
            trusted=self.trusted,
        )

    def recheck(self, chain_pem: bytes, public_key: keys.PublicKeyInfo) -> tuple[x509.Certificate, ...]:
        """The saved chain (leaf first) checked again before its import; exactly these bytes go in."""
        from agent.cmc.pem import all_pem_blocks

        blocks = all_pem_blocks(chain_pem, "CERTIFICATE")
        if not blocks:
            raise FoundCertificateRejected("the saved chain holds no certificate")
        others = []
        for block in blocks[1:]:
            try:
                others.append(x509.Certificate.load(block))
            except ValueError:
                raise FoundCertificateRejected(
                    "the saved chain holds something that is not a certificate"
                ) from None
        return check_found_certificate(blocks[0], others, self.trusted, public_key, self.subject)


def check_found_certificate(
    leaf_der: bytes,
    others: Iterable[x509.Certificate],
    trusted: Sequence[x509.Certificate],
    public_key: keys.PublicKeyInfo,
    subject: ExpectedSubject,
) -> tuple[x509.Certificate, ...]:
    """The checks of a CMC answer, for a certificate fetched over REST: returns the chain (leaf first,
    up to a trust anchor) or raises :class:`FoundCertificateRejected`."""
    from agent.cmc.chain import path_to_trust
    from agent.cmc.der import load_der
    from agent.cmc.errors import UntrustedSigner
    from agent.cmc.keyid import same_public_key

    try:
        leaf = load_der(x509.Certificate, leaf_der, "the certificate the CA sent")
    except CMCError as exc:
        raise FoundCertificateRejected(f"the CA's certificate does not parse: {exc}") from None
    if not same_public_key(leaf.public_key, public_key):
        raise FoundCertificateRejected(
            f"certificate serial {leaf.serial_number} is not for our key; it is not imported"
        )
    try:
        path = path_to_trust(leaf, list(others), trusted)
    except UntrustedSigner as exc:
        raise FoundCertificateRejected(
            f"certificate serial {leaf.serial_number} does not chain to --ca-cert: {exc}"
        ) from None
    if not subject.accepts(leaf.subject):
        raise FoundCertificateRejected(
            f"certificate serial {leaf.serial_number} names {_text(leaf.subject)!r}, not "
            f"{subject.describe()}; it is not imported"
        )
    return tuple(path)


def searches_for(subject: ExpectedSubject, sent: datetime.datetime | None) -> list[CertSearch]:
    """CertSearchRequests that find what the profile issued for us: one per subject it may give."""
    from agent.rest import CertSearch

    since = None if sent is None else sent - SEARCH_CLOCK_SKEW
    names = [subject.requested] + ([subject.signer] if subject.signer is not None else [])
    searches: list[CertSearch] = []
    for name in names:
        fields = _search_fields(name)
        if fields:
            searches.append(CertSearch(subject=fields, status="VALID", issued_on_from=since))
    if subject.identification is not None:
        searches.append(
            CertSearch(subject={"userID": subject.identification}, status="VALID", issued_on_from=since)
        )
    return searches


def what_became_of(
    rest: RestQueries,
    *,
    request_id: int | None,
    sent: datetime.datetime | None,
    public_key: keys.PublicKeyInfo,
    subject: ExpectedSubject,
    trusted: Sequence[x509.Certificate],
) -> Verdict:
    """Ask the CA about a request whose answer was lost (see the module text)."""
    from agent.rest import RestError, RestNotFound
    from agent.transport import TransportError

    try:
        if request_id is not None:
            try:
                verdict = _by_request_id(rest, request_id, public_key, subject, trusted)
            except RestNotFound:
                verdict = None  # the CA does not know the id: see what it issued instead
            if verdict is not None:
                return verdict
        return _by_search(rest, sent, public_key, subject, trusted)
    except RestError as exc:
        return CannotTell(f"the CA could not say ({exc})")
    except TransportError as exc:
        return CannotTell(str(exc))


def _by_request_id(
    rest: RestQueries,
    request_id: int,
    public_key: keys.PublicKeyInfo,
    subject: ExpectedSubject,
    trusted: Sequence[x509.Certificate],
) -> Verdict:
    info = rest.cert_request(request_id)
    if info.refused:
        words = info.error_message or info.status
        return Refused(f"the CA's request {request_id} is {info.status}: {words}")
    if info.complete and info.cert_id is not None:
        chain = _fetch_checked(rest, info.cert_id, public_key, subject, trusted)
        return Issued(chain, f"request {request_id} is complete: certificate serial {info.cert_id}")
    if info.complete:
        return Refused(f"the CA's request {request_id} is complete but names no certificate")
    return Waiting(f"the CA's request {request_id} is {info.status}")


def _by_search(
    rest: RestQueries,
    sent: datetime.datetime | None,
    public_key: keys.PublicKeyInfo,
    subject: ExpectedSubject,
    trusted: Sequence[x509.Certificate],
) -> Verdict:
    algorithm = public_key["algorithm"]["algorithm"].dotted
    seen: set[int] = set()
    for search in searches_for(subject, sent):
        for entry in rest.find_certs(search):
            if entry.serial in seen or (entry.key_algorithm_oid not in (None, algorithm)):
                continue
            seen.add(entry.serial)
            if len(seen) > MAX_CANDIDATES:
                return CannotTell(f"more than {MAX_CANDIDATES} certificates match our subject; not searched")
            chain = _fetch_if_ours(rest, entry.serial, public_key, subject, trusted)
            if chain is not None:
                return Issued(chain, f"found certificate serial {entry.serial} for our key at the CA")
    window = "" if sent is None else f" since {sent:%Y-%m-%d %H:%M:%S}Z"
    return NotIssued(f"the CA issued no certificate for our key{window}")


def _fetch_checked(
    rest: RestQueries,
    serial: int,
    public_key: keys.PublicKeyInfo,
    subject: ExpectedSubject,
    trusted: Sequence[x509.Certificate],
) -> tuple[x509.Certificate, ...]:
    data = rest.cert(serial)
    return check_found_certificate(
        data.der, _pkcs7_certificates(data.pkcs7_chain), trusted, public_key, subject
    )


def _fetch_if_ours(
    rest: RestQueries,
    serial: int,
    public_key: keys.PublicKeyInfo,
    subject: ExpectedSubject,
    trusted: Sequence[x509.Certificate],
) -> tuple[x509.Certificate, ...] | None:
    """The checked chain when certificate ``serial`` carries our key; None when it is someone else's."""
    from agent.cmc.keyid import same_public_key

    data = rest.cert(serial)
    try:
        candidate = x509.Certificate.load(data.der)
        ours = same_public_key(candidate.public_key, public_key)
    except ValueError:
        return None
    if not ours:
        return None
    return check_found_certificate(
        data.der, _pkcs7_certificates(data.pkcs7_chain), trusted, public_key, subject
    )


def _pkcs7_certificates(text: str | None) -> list[x509.Certificate]:
    """The certificates of ``PKCS7CertChain`` (base 64 of a certs-only SignedData); none if unreadable.

    They only help find a path: nothing in them is trusted, and a path must still end at --ca-cert.
    """
    import base64
    import binascii

    from asn1crypto import cms

    if not text:
        return []
    try:
        info = cms.ContentInfo.load(base64.b64decode("".join(text.split()), validate=True))
        if info["content_type"].native != "signed_data":
            return []
        return [choice.chosen for choice in info["content"]["certificates"] if choice.name == "certificate"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        return []


def _text(name: x509.Name) -> str:
    """RFC 4514 text (``CN=a,O=b``), as users type subjects and ``openssl`` prints them."""
    from cryptography import x509 as crypto_x509

    try:
        rdns = [
            crypto_x509.RelativeDistinguishedName(
                [
                    crypto_x509.NameAttribute(
                        crypto_x509.ObjectIdentifier(item["type"].dotted), str(item["value"].native)
                    )
                    for item in rdn
                ]
            )
            for rdn in name.chosen
        ]
        return crypto_x509.Name(rdns).rfc4514_string()
    except (ValueError, TypeError):
        return str(name.human_friendly)


def _values(name: x509.Name, attribute: str) -> list[str]:
    value = name.native.get(attribute)
    if value is None:
        return []
    return [str(item) for item in value] if isinstance(value, list) else [str(value)]


def _search_fields(name: x509.Name) -> dict[str, str]:
    """The one most specific attribute of ``name`` that CertSearchRequest can name."""
    for row in reversed(list(name.chosen)):
        for type_and_value in row:
            oid = type_and_value["type"].dotted
            for wanted, field in SEARCH_FIELDS:
                if oid == wanted:
                    return {field: str(type_and_value["value"].native)}
    return {}


def parse_time(text: str | None) -> datetime.datetime | None:
    """An ISO time from the state file (``sent_at``), or None."""
    if not text:
        return None
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=datetime.UTC)
