"""The controls a response echoes or answers, in createFullResponse's order (dogtag-cmc-server.md §6.2-§6.8).

After the request statuses come: a GetCert failure status, dataReturn (first value), transactionId (the
whole value set), recipientNonce (the request's senderNonce set) and the CA's own senderNonce,
queryPending statuses, the confirmCertAcceptance status (always failed: Dogtag never sets the flag),
then the revokeRequest status.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime

from asn1crypto import core
from asn1crypto import x509 as asn1_x509

from agent.cmc.asn1 import cmc
from localca.authn import AuthToken
from localca.authority import CertificateAuthority
from localca.names import dn_string
from localca.parsecmc import ParsedMessage
from localca.responses import BAD_CERT_ID, FAILED, PENDING, SUCCESS, ResponseControls
from localca.revocation import process_revoke_request


class CertificateNotFound(Exception):
    """GetCert names a certificate this CA does not have."""


def _mime_base64(data: bytes) -> bytes:
    """Java's MIME base64: 76-character lines, each ended by CRLF."""
    text = base64.b64encode(data)
    lines = [text[i : i + 76] for i in range(0, len(text), 76)]
    return b"".join(line + b"\r\n" for line in lines)


def ca_sender_nonce() -> bytes:
    """The CA's senderNonce: base64 (with CRLF) of SHA-256 of "lala123" + the date, as ASCII bytes."""
    salt = "lala123" + datetime.now().strftime("%a %b %d %H:%M:%S %Z %Y")
    return _mime_base64(hashlib.sha256(salt.encode("utf-8")).digest())


def get_cert(ca: CertificateAuthority, control: cmc.TaggedAttribute) -> asn1_x509.Certificate | None:
    """processGetCertControl. None when the control has not exactly one value (Dogtag then does nothing).

    The issuer must be a bare Name (as Dogtag's client writes it) whose string form equals the CA's,
    ignoring case; the serial must be one this CA issued.
    """
    values = control["attr_values"]
    if len(values) != 1:
        return None
    try:
        value = cmc.GetCert.load(values[0].dump())
        issuer_choice = value["issuer_name"]
        if issuer_choice.name != "name":
            raise CertificateNotFound("issuer is not a bare Name")
        issuer = asn1_x509.Name(name="", value=issuer_choice.chosen)
        serial = value["serial_number"].native
    except (ValueError, TypeError, KeyError):
        raise CertificateNotFound("GetCert cannot be decoded") from None
    if dn_string(issuer).lower() != ca.name_string.lower():
        raise CertificateNotFound("Certificate is not found")
    certificate = ca.certificate_record_certificate(serial)
    if certificate is None:
        raise CertificateNotFound("Certificate is not found")
    return certificate


def _query_pending(
    ca: CertificateAuthority, control: cmc.TaggedAttribute, controls: ResponseControls
) -> None:
    """Each value read as an INTEGER whose bytes are an ASCII decimal request id (Dogtag's bug kept).

    RFC 5272 types the values as OCTET STRINGs, and so does the control's ASN.1 type; Dogtag decodes
    INTEGERs, so the values are taken from the SET undecoded.
    """
    pending: list[int] = []
    approved: list[int] = []
    rejected: list[int] = []
    for value in cmc.SetOfAny.load(control["attr_values"].dump()):
        try:
            integer = core.Integer.load(value.dump())
            raw = integer.contents
            record = ca.store.get_request(int(raw.decode("ascii")))
        except (ValueError, TypeError, UnicodeDecodeError):
            continue
        if record is None:
            continue
        if record.status == "pending":
            pending.append(integer.native)
        elif record.status == "approved":
            approved.append(integer.native)
        elif record.status == "rejected":
            rejected.append(integer.native)
    if pending:
        controls.add_status(PENDING, pending)
    # Dogtag's success and failure entries reuse the pending body list.
    if approved:
        controls.add_status(SUCCESS, pending)
    if rejected:
        controls.add_status(FAILED, pending)


def _confirm_cert_acceptance(control: cmc.TaggedAttribute, controls: ResponseControls) -> None:
    values = control["attr_values"]
    if len(values) == 0:
        return
    try:
        cmc.CMCCertId.load(values[0].dump()).native  # noqa: B018 - Dogtag decodes it, then ignores it
    except (ValueError, TypeError):
        return
    controls.add_status(FAILED, [control["body_part_id"].native], fail_info=BAD_CERT_ID)


def add_echo_and_control_answers(
    ca: CertificateAuthority,
    parsed: ParsedMessage | None,
    token: AuthToken | None,
    controls: ResponseControls,
    certificates: list[asn1_x509.Certificate],
) -> int | None:
    """The tail of createFullResponse. Returns the serial a revokeRequest revoked, if any."""
    if parsed is None or not parsed.number_of_controls:
        return None
    kept = parsed.kept_controls
    if "get_cert" in kept:
        try:
            found = get_cert(ca, kept["get_cert"])
            if found is not None:
                certificates.insert(0, found)
        except CertificateNotFound:
            controls.add_status(FAILED, [kept["get_cert"]["body_part_id"].native], fail_info=BAD_CERT_ID)
    if "data_return" in kept and len(kept["data_return"]["attr_values"]):
        value = core.OctetString.load(kept["data_return"]["attr_values"][0].dump())
        controls.add("data_return", [value])
    if "transaction_id" in kept:
        controls.add("transaction_id", kept["transaction_id"]["attr_values"].copy())
    if "sender_nonce" in kept:
        controls.add("recipient_nonce", kept["sender_nonce"]["attr_values"].copy())
        controls.add("sender_nonce", [ca_sender_nonce()])
    if "query_pending" in kept:
        _query_pending(ca, kept["query_pending"], controls)
    if "confirm_cert_acceptance" in kept:
        _confirm_cert_acceptance(kept["confirm_cert_acceptance"], controls)
    revoked = None
    if parsed.revoke_request is not None:
        outcome = process_revoke_request(ca, parsed.revoke_request, token, parsed.other_messages)
        if outcome is not None:
            controls.add_status(
                outcome.status,
                [parsed.revoke_request["body_part_id"].native],
                status_string=outcome.status_string,
                fail_info=outcome.fail_info,
            )
            revoked = outcome.revoked_serial
    return revoked
