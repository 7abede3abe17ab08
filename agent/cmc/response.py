"""Read CMC responses (Full and Simple PKI Responses) from hostile bytes, into a typed result.

What is checked, in order, each failure with its own :class:`~agent.cmc.errors.CMCError`:

1. The bytes are one canonical DER ContentInfo holding a SignedData (:mod:`agent.cmc.der`).
2. Full PKI Response: eContentType id-cct-PKIResponse; the single signer verifies, and its certificate
   is a CA certificate that is, or chains to, a CA certificate the caller trusts (an end entity of the
   same CA chains to it too, but does not speak for it). Simple PKI Response (certificates only, no
   signer): there is no signature to check, so the issued certificate itself must chain to a trusted CA,
   and the result says the message was unsigned.
3. The certificates travel outside the signature: each must chain to a trusted CA, or be the
   self-signed root above one; at most :data:`MAX_CERTIFICATES` of them.
4. The PKIResponse is canonical DER; every control is one this reader interprets (CMC has no ignorable
   controls); single-valued controls carry one value; integers handed out are in range.
5. When the caller gives the senderNonce / transactionId it sent, the response must echo them.

Success or failure comes from the CMCStatusInfoV2 controls, never from HTTP (Dogtag answers 200 to all).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from asn1crypto import keys, x509

from agent.cmc import chain, der, signeddata
from agent.cmc.asn1 import cmc
from agent.cmc.errors import (
    CMCError,
    IssuedCertificateMismatch,
    MalformedMessage,
    NonceMismatch,
    TransactionIdMismatch,
    UnexpectedContentType,
    UnknownControl,
    UnsignedResponse,
    UntrustedCertificate,
    UntrustedSigner,
)
from agent.cmc.keyid import same_public_key
from agent.cmc.pem import to_der, to_pem

SINGLE_VALUED = {"sender_nonce", "recipient_nonce", "transaction_id", "response_info", "data_return"}
"""Controls whose SET must hold exactly one value for the response to mean one thing."""
INTERPRETED = SINGLE_VALUED | {"status_info_v2", "status_info", "encrypted_pop"}
"""The controls this reader acts on, which are all a Dogtag CA sends (``dogtag-cmc-server.md`` §6).
Any other control, even one of RFC 5272's, would change the meaning of the response unseen."""
MAX_CERTIFICATES = 32
"""A response carries the issued certificate and the CA chain. Checking paths compares certificates
pairwise, so an unbounded set would let a hostile response cost minutes of signature checks."""
MAX_BODY_PART_ID = 0xFFFFFFFF
"""RFC 5272: ``BodyPartID ::= INTEGER (0..4294967295)``."""
MAX_INTEGER_BITS = 4096
"""transactionId and the responseInfo request id; far above any real one, and still printable (Python
refuses to turn integers of 4300 digits or more into text)."""

RFC_NAMES = {
    "no_support": "noSupport",
    "confirm_required": "confirmRequired",
    "pop_required": "popRequired",
    "bad_alg": "badAlg",
    "bad_message_check": "badMessageCheck",
    "bad_request": "badRequest",
    "bad_time": "badTime",
    "bad_cert_id": "badCertId",
    "unsupported_ext": "unsupportedExt",
    "must_archive_keys": "mustArchiveKeys",
    "bad_identity": "badIdentity",
    "pop_failed": "popFailed",
    "no_key_reuse": "noKeyReuse",
    "internal_ca_error": "internalCAError",
    "try_later": "tryLater",
    "auth_data_fail": "authDataFail",
    "no_status": "noStatus",
}
"""What users see: the CMCStatus and CMCFailInfo names of RFC 5272 (the types use asn1crypto's spelling)."""


def rfc_name(name: str | None) -> str | None:
    """``bad_request`` -> ``badRequest``; names that are already one word stay as they are."""
    return None if name is None else RFC_NAMES.get(name, name)


STATUS_TEXT = {
    "success": "success",
    "failed": "failed",
    "pending": "pending",
    "no_support": "not supported",
    "confirm_required": "confirm required",
    "pop_required": "POP required",
    "partial": "partial",
}


@dataclass(frozen=True)
class PendingInfo:
    token: bytes
    time: datetime.datetime


@dataclass(frozen=True)
class BodyPartStatus:
    """One CMCStatusInfo(V2): the status of the body parts it lists."""

    body_parts: tuple[int | tuple[int, ...], ...]
    status: str
    """``success``, ``failed``, ``pending``, ``no_support``, ``confirm_required``, ``pop_required`` or
    ``partial``."""
    status_string: str | None = None
    fail_info: str | None = None
    """A CMCFailInfo name such as ``bad_request`` or ``pop_required`` (or ``unknown(N)``)."""
    pend_info: PendingInfo | None = None
    extended_fail_info: tuple[str, bytes] | None = None
    """(OID, DER of the value) of an ExtendedFailInfo."""

    @property
    def succeeded(self) -> bool:
        return self.status == "success"

    def describe(self) -> str:
        parts = [STATUS_TEXT.get(self.status, self.status)]
        if self.fail_info:
            parts.append(f"failInfo={rfc_name(self.fail_info)}")
        if self.status_string:
            parts.append(f"({self.status_string})")
        if self.pend_info:
            parts.append(f"pendToken={self.pend_info.token!r} at {self.pend_info.time.isoformat()}")
        if self.extended_fail_info:
            parts.append(f"extendedFailInfo={self.extended_fail_info[0]}")
        return " ".join(parts)


@dataclass(frozen=True)
class SignatureCheck:
    """What could be established about who sent the response."""

    verified: bool
    detail: str
    signer: str | None = None


@dataclass(frozen=True)
class CMCResponse:
    kind: Literal["full", "simple"]
    signature: SignatureCheck
    statuses: tuple[BodyPartStatus, ...] = ()
    controls: tuple[str, ...] = ()
    request_id: int | None = None
    """The CA's request id from responseInfo (Dogtag: BigInteger bytes); needed for a DecryptedPOP."""
    request_id_bytes: bytes | None = None
    encrypted_pop: cmc.EncryptedPOP | None = None
    sender_nonce: bytes | None = None
    recipient_nonce: bytes | None = None
    transaction_id: int | None = None
    data_return: bytes | None = None
    certificates: tuple[x509.Certificate, ...] = ()
    issued_certificate: x509.Certificate | None = None
    chain: tuple[x509.Certificate, ...] = field(default=())
    """The issued certificate and its issuers, leaf first (empty when nothing was issued)."""

    @property
    def succeeded(self) -> bool:
        """Every status is success (a Simple PKI Response is success by definition)."""
        if self.kind == "simple":
            return bool(self.certificates)
        return bool(self.statuses) and all(s.succeeded for s in self.statuses)

    @property
    def pop_required(self) -> bool:
        return any(s.status == "pop_required" for s in self.statuses)

    @property
    def overall_status(self) -> str:
        if self.succeeded:
            return "success"
        for status in self.statuses:
            if not status.succeeded:
                return status.status
        return "no_status"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "status": rfc_name(self.overall_status),
            "signature": {
                "verified": self.signature.verified,
                "signer": self.signature.signer,
                "detail": self.signature.detail,
            },
            "statuses": [
                {
                    "body_parts": [list(b) if isinstance(b, tuple) else b for b in s.body_parts],
                    "status": rfc_name(s.status),
                    "status_string": s.status_string,
                    "fail_info": rfc_name(s.fail_info),
                    "pend_info": None
                    if s.pend_info is None
                    else {"token": s.pend_info.token.decode("latin-1"), "time": s.pend_info.time.isoformat()},
                    "extended_fail_info": None if s.extended_fail_info is None else s.extended_fail_info[0],
                }
                for s in self.statuses
            ],
            "controls": list(self.controls),
            "request_id": self.request_id,
            "encrypted_pop": self.encrypted_pop is not None,
            "sender_nonce": _hex(self.sender_nonce),
            "recipient_nonce": _hex(self.recipient_nonce),
            "transaction_id": self.transaction_id,
            "certificates": [_certificate_json(c, c is self.issued_certificate) for c in self.certificates],
            "chain": [to_pem(c.dump(), "CERTIFICATE") for c in self.chain],
        }


def _hex(value: bytes | None) -> str | None:
    return None if value is None else value.hex()


def _certificate_json(certificate: x509.Certificate, issued: bool) -> dict[str, Any]:
    return {
        "subject": certificate.subject.human_friendly,
        "issuer": certificate.issuer.human_friendly,
        "serial": certificate.serial_number,
        "not_after": certificate.not_valid_after.isoformat(),
        "issued": issued,
    }


def read_response(
    data: bytes,
    *,
    trusted: Sequence[x509.Certificate] | None,
    expected_recipient_nonce: bytes | None = None,
    expected_transaction_id: int | None = None,
    request_public_key: keys.PublicKeyInfo | None = None,
    require_signature: bool = False,
    at: datetime.datetime | None = None,
) -> CMCResponse:
    """Parse and check a CMC response; raise a :class:`CMCError` for anything wrong.

    ``trusted``: CA certificates the response (or, for a Simple response, the issued certificate) must
    chain to. ``None`` skips trust checks, and the result says the signature was not verified.
    ``require_signature`` refuses Simple (unsigned) responses. ``request_public_key`` identifies the
    issued certificate and, on success, must be certified by one of the certificates.
    """
    try:
        return _read(
            data,
            trusted,
            expected_recipient_nonce,
            expected_transaction_id,
            request_public_key,
            require_signature,
            at,
        )
    except CMCError:
        raise
    except Exception as exc:  # the last net: hostile input must never escape as a traceback
        raise MalformedMessage(f"the response cannot be interpreted: {type(exc).__name__}: {exc}") from None


def _binary(data: bytes) -> bytes:
    """DER as given; PEM or base-64 text decoded (Dogtag's ``CMCResponse -o`` writes PEM); an HTML page
    (what a CA answers when a request never reached its CMC code) named as such."""
    head = data.lstrip()[:256]
    if head[:1] == b"<":
        text = re.sub(rb"<[^>]*>", b" ", data[:4096]).decode("utf-8", "replace")
        summary = " ".join(text.split())[:200]
        raise MalformedMessage(f"the response is an HTML page, not a CMC response: {summary!r}")
    if head.startswith(b"-----BEGIN") or (head and all(32 <= c < 127 or c in b"\r\n\t" for c in head)):
        return to_der(data, "the response")
    return data


def _read(
    data: bytes,
    trusted: Sequence[x509.Certificate] | None,
    expected_recipient_nonce: bytes | None,
    expected_transaction_id: int | None,
    request_public_key: keys.PublicKeyInfo | None,
    require_signature: bool,
    at: datetime.datetime | None,
) -> CMCResponse:
    content_info = signeddata.load_content_info(_binary(data), "the response")
    signed = signeddata.signed_data_of(content_info, "the response")
    certificates = signeddata.certificates_of(signed)
    if len(certificates) > MAX_CERTIFICATES:
        raise MalformedMessage(
            f"the response carries {len(certificates)} certificates; more than {MAX_CERTIFICATES} are refused"
        )
    encap = signed["encap_content_info"]

    if len(signed["signer_infos"]) == 0:
        if encap["content_type"].native != "data" or encap["content"].native is not None:
            raise UnexpectedContentType(
                "the response has content but no signer; a CMC response must be signed"
            )
        if signed["version"].native not in ("v1", "v3"):
            raise MalformedMessage("the Simple PKI Response has an invalid SignedData version")
        if len(signed["digest_algorithms"]) != 0:
            raise MalformedMessage("the Simple PKI Response lists digest algorithms but has no signer")
        if require_signature:
            raise UnsignedResponse(
                "the CA sent an unsigned Simple PKI Response, but a signed one is required"
            )
        return _simple(certificates, trusted, request_public_key, at)

    if trusted is None:
        verified = signeddata.verify_signed_data(
            content_info, expected_content_type="pki_response", trusted_certificates=None, what="the response"
        )
        check = SignatureCheck(
            False,
            "signature intact, but not checked against a trusted CA (none given)",
            _subject(verified.signer_certificate),
        )
    else:
        verified = signeddata.verify_signed_data(
            content_info,
            expected_content_type="pki_response",
            trusted_certificates=trusted,
            at=at,
            what="the response",
        )
        _check_signer_is_a_ca(verified.signer_certificate, trusted)
        check = SignatureCheck(
            True,
            "signed by a CA certificate that chains to a trusted CA",
            _subject(verified.signer_certificate),
        )
    body = der.load_der(cmc.PKIResponse, verified.content, "the PKIResponse")
    result = _interpret(body)

    if expected_recipient_nonce is not None and result["recipient_nonce"] != expected_recipient_nonce:
        raise NonceMismatch(
            (
                "the response does not echo our senderNonce"
                if result["recipient_nonce"] is None
                else "the response's recipientNonce is not the senderNonce we sent"
            )
            + _what_it_says(result["statuses"])
        )
    if expected_transaction_id is not None and result["transaction_id"] != expected_transaction_id:
        raise TransactionIdMismatch(
            "the response's transactionId is not the one we sent" + _what_it_says(result["statuses"])
        )

    succeeded = bool(result["statuses"]) and all(s.succeeded for s in result["statuses"])
    issued = _issued_certificate(
        certificates, request_public_key, must_exist=succeeded and request_public_key is not None
    )
    if trusted is not None:
        _check_all_certificates(certificates, trusted, at)
    return CMCResponse(
        kind="full",
        signature=check,
        certificates=certificates,
        issued_certificate=issued,
        chain=tuple(chain.order_chain(issued, certificates)) if issued is not None else (),
        **result,
    )


def _check_signer_is_a_ca(signer: x509.Certificate | None, trusted: Sequence[x509.Certificate]) -> None:
    """Every certificate the CA issued chains to it, end entities included; a response is the CA's word
    only when signed by the CA: a trusted certificate itself, or a CA certificate below one."""
    if signer is None or any(signer.dump() == anchor.dump() for anchor in trusted):
        return
    if not chain.is_ca_certificate(signer):
        raise UntrustedSigner(
            f"the response is signed by {signer.subject.human_friendly!r}, which is not a CA certificate; "
            "only the CA may sign its responses"
        )


def _what_it_says(statuses: Sequence[BodyPartStatus]) -> str:
    """The CA's verdict, for an error that refuses the response (a Dogtag failure echoes no nonce)."""
    failures = [status.describe() for status in statuses if not status.succeeded]
    return f"; it reports: {'; '.join(failures)}" if failures else ""


def _simple(
    certificates: tuple[x509.Certificate, ...],
    trusted: Sequence[x509.Certificate] | None,
    request_public_key: keys.PublicKeyInfo | None,
    at: datetime.datetime | None,
) -> CMCResponse:
    if not certificates:
        raise MalformedMessage("the Simple PKI Response carries no certificate")
    issued = _issued_certificate(certificates, request_public_key, must_exist=request_public_key is not None)
    if trusted is None:
        check = SignatureCheck(False, "Simple PKI Response: unsigned, and no trusted CA given to check it")
    elif issued is not None:
        _check_all_certificates(certificates, trusted, at)
        check = SignatureCheck(
            False, "Simple PKI Response: unsigned; the issued certificate chains to a trusted CA"
        )
    else:
        _check_all_certificates(certificates, trusted, at)
        check = SignatureCheck(False, "Simple PKI Response: unsigned; its certificates chain to a trusted CA")
    return CMCResponse(
        kind="simple",
        signature=check,
        certificates=certificates,
        issued_certificate=issued,
        chain=tuple(chain.order_chain(issued, certificates)) if issued is not None else (),
    )


def _check_all_certificates(
    certificates: Sequence[x509.Certificate],
    trusted: Sequence[x509.Certificate],
    at: datetime.datetime | None,
) -> None:
    """Every certificate must chain to a trusted CA, or be the root above a trusted CA (sent along with
    the intermediate the caller trusts). Anything else was not sent by our CA, or was altered."""
    roots = _roots_above(trusted, certificates)
    for certificate in certificates:
        if certificate.dump() not in roots:
            _check_issued(certificate, certificates, trusted, at)


def _roots_above(trusted: Sequence[x509.Certificate], certificates: Sequence[x509.Certificate]) -> set[bytes]:
    """Encodings of the self-signed certificates that issued a trusted certificate.

    Only a self-signed certificate can be believed above the trust anchors: its own key, the one that
    signed the anchor, signed its contents. Any other certificate above them could be an attacker's, made
    around a copy of that key, and handing it out in a chain to import would trust whoever signed it.
    """
    roots: set[bytes] = set()
    for candidate in certificates:
        encoding = candidate.dump()
        if not (chain.is_self_issued(candidate) and chain.is_issued_by(candidate, candidate)):
            continue
        if any(anchor.dump() != encoding and chain.is_issued_by(anchor, candidate) for anchor in trusted):
            roots.add(encoding)
    return roots


def _check_issued(
    certificate: x509.Certificate,
    certificates: Sequence[x509.Certificate],
    trusted: Sequence[x509.Certificate],
    at: datetime.datetime | None,
) -> None:
    """Certificates travel outside the signature: each one we hand out must chain to a trusted CA."""
    try:
        chain.path_to_trust(certificate, certificates, trusted, at=at)
    except UntrustedSigner as exc:
        raise UntrustedCertificate(
            f"certificate serial {certificate.serial_number} in the response does not chain to a trusted "
            f"CA: {exc}"
        ) from None


def _subject(certificate: x509.Certificate | None) -> str | None:
    return None if certificate is None else certificate.subject.human_friendly


def _issued_certificate(
    certificates: Sequence[x509.Certificate],
    request_public_key: keys.PublicKeyInfo | None,
    *,
    must_exist: bool,
) -> x509.Certificate | None:
    if request_public_key is not None:
        for certificate in certificates:
            if same_public_key(certificate.public_key, request_public_key):
                return certificate
        if must_exist:
            raise IssuedCertificateMismatch(
                "the response reports success but carries no certificate for the requested public key"
            )
        return None
    end_entities = [c for c in chain.leaves(certificates) if not chain.is_ca_certificate(c)]
    return end_entities[0] if len(end_entities) == 1 else None


def _interpret(body: cmc.PKIResponse) -> dict[str, Any]:
    statuses: list[BodyPartStatus] = []
    names: list[str] = []
    found: dict[str, Any] = {
        "request_id": None,
        "request_id_bytes": None,
        "encrypted_pop": None,
        "sender_nonce": None,
        "recipient_nonce": None,
        "transaction_id": None,
        "data_return": None,
    }
    for control in body["control_sequence"]:
        attr_type = control["attr_type"]
        name = attr_type.native
        if name not in INTERPRETED:
            raise UnknownControl(
                f"the response carries a control this agent does not interpret ({name}, "
                f"{attr_type.dotted}); refusing to half-read it"
            )
        names.append(name)
        values = list(control["attr_values"])
        if not values:
            raise MalformedMessage(f"the {name} control carries no value")
        if name in SINGLE_VALUED:
            if len(values) != 1:
                raise MalformedMessage(f"the {name} control carries {len(values)} values, expected one")
            if found.get(name if name != "response_info" else "request_id") is not None:
                raise MalformedMessage(f"the response carries the {name} control twice")
        if name in ("status_info_v2", "status_info"):
            statuses.extend(_status(value) for value in values)
        elif name == "response_info":
            raw: bytes = values[0].native
            if len(raw) * 8 > MAX_INTEGER_BITS:
                raise MalformedMessage(f"the responseInfo request id is {len(raw)} bytes long")
            found["request_id_bytes"] = raw
            found["request_id"] = int.from_bytes(raw, "big", signed=True) if raw else None
        elif name == "encrypted_pop":
            if len(values) != 1 or found["encrypted_pop"] is not None:
                raise MalformedMessage("the response carries more than one EncryptedPOP")
            found["encrypted_pop"] = values[0]
        elif name == "transaction_id":
            if values[0].native.bit_length() > MAX_INTEGER_BITS:
                raise MalformedMessage(f"the transactionId has more than {MAX_INTEGER_BITS} bits")
            found[name] = values[0].native
        else:
            found[name] = values[0].native
    return {"statuses": tuple(statuses), "controls": tuple(names), **found}


def _status(value: cmc.CMCStatusInfoV2 | cmc.CMCStatusInfo) -> BodyPartStatus:
    body_parts: list[int | tuple[int, ...]] = []
    for reference in value["body_list"]:
        if isinstance(reference, cmc.BodyPartReference) and reference.name == "body_part_path":
            body_parts.append(tuple(_body_part_id(item) for item in reference.chosen.native))
        else:
            body_parts.append(_body_part_id(reference.native))
    status = value["cmc_status"].native
    if isinstance(status, int):
        status = f"unknown({status})"
    other = value["other_info"]
    fail_info = pend = extended = None
    if other.native is not None:
        if other.name == "fail_info":
            fail_info = other.native if isinstance(other.native, str) else f"unknown({other.native})"
        elif other.name == "pend_info":
            pend = PendingInfo(other.chosen["pend_token"].native, other.chosen["pend_time"].native)
        else:
            extended = (other.chosen["fail_info_oid"].dotted, other.chosen["fail_info_value"].dump())
    return BodyPartStatus(
        body_parts=tuple(body_parts),
        status=status,
        status_string=value["status_string"].native,
        fail_info=fail_info,
        pend_info=pend,
        extended_fail_info=extended,
    )


def _body_part_id(value: int) -> int:
    if not 0 <= value <= MAX_BODY_PART_ID:
        raise MalformedMessage(f"a status names bodyPartID {value:#x}, outside 0..{MAX_BODY_PART_ID}")
    return value


def chain_pem(response: CMCResponse) -> str:
    """The issued certificate's chain as concatenated PEM, leaf first (for ``--chain-out``)."""
    return "".join(to_pem(c.dump(), "CERTIFICATE") for c in response.chain)
