"""Revocation through a CMC revokeRequest control (dogtag-cmc-server.md §7.2), Dogtag's order of checks.

Every outcome is one CMCStatusInfoV2 naming the revokeRequest control's bodyPartID. Only two failures
carry a statusString, and both start with a space, as Dogtag writes them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509

from agent.cmc.asn1 import cmc
from localca.asn1util import is_absent
from localca.authn import CMC_USER_SIGNED_AUTH, AuthToken
from localca.authority import CertificateAuthority
from localca.cms import CMSCheckFailed, find_certificate, verify_signer_info
from localca.responses import (
    BAD_CERT_ID,
    BAD_IDENTITY,
    BAD_MESSAGE_CHECK,
    BAD_REQUEST,
    FAILED,
    INTERNAL_CA_ERROR,
    SUCCESS,
)
from localca.sharedtoken import SharedTokenError, decrypt_shared_token

ISSUER_MISMATCH = " certificate issuer DN and revocation request issuer DN do not match"
PRINCIPAL_MISMATCH = " certificate principal and signer do not match"

REMOVE_FROM_CRL_REFUSED = " revocation reason removeFromCRL (8) belongs in delta CRLs only (RFC 5280 5.3.1)"

REASON_UNSPECIFIED = 0
REASON_REMOVE_FROM_CRL = 8
REASONS_MAPPED_TO_UNSPECIFIED = {9, 10}  # privilegeWithdrawn, aACompromise


@dataclass(frozen=True)
class RevocationOutcome:
    status: int
    fail_info: int | None = None
    status_string: str | None = None
    revoked_serial: int | None = None


def _failed(fail_info: int, text: str | None = None) -> RevocationOutcome:
    return RevocationOutcome(FAILED, fail_info, text)


def _legacy_signature_ok(other_message: cmc.OtherMsg) -> bool:
    """A SignedData revocation in otherMsgSequence (CMCAuth path): its signer must verify."""
    try:
        signed_data = cms.SignedData.load(other_message["other_msg_value"].dump())
        encap = signed_data["encap_content_info"]
        econtent = bytes(encap["content"]) if not is_absent(encap["content"]) else b""
        for signer_info in signed_data["signer_infos"]:
            sid = signer_info["sid"]
            if sid.name != "issuer_and_serial_number":
                return False
            certificate = find_certificate(signed_data, sid.chosen)
            if certificate is None:
                return False
            digest = hashlib.new(signer_info["digest_algorithm"]["algorithm"].native, econtent).digest()
            verify_signer_info(signer_info, digest, encap["content_type"].dotted, certificate.public_key)
        return len(signed_data["signer_infos"]) > 0
    except (CMSCheckFailed, ValueError, TypeError, KeyError):
        return False


def process_revoke_request(
    ca: CertificateAuthority,
    control: cmc.TaggedAttribute,
    token: AuthToken | None,
    other_messages: list[cmc.OtherMsg],
) -> RevocationOutcome | None:
    """processRevokeRequestControl. None when the control has no value (Dogtag then adds nothing)."""
    values = control["attr_values"]
    if len(values) == 0:
        return None
    revoke_request: cmc.RevokeRequest = values[0]
    body_part_id = control["body_part_id"].native
    authenticator = token.authenticator if token is not None else "none"
    passphrase = revoke_request["passphrase"].native
    serial = revoke_request["serial_number"].native
    if passphrase is None:
        if ca.config.get_bool("cmc.revokeCert.verify", True):
            if authenticator == CMC_USER_SIGNED_AUTH:
                if token is None or token.signer_principal is None:
                    return _failed(BAD_MESSAGE_CHECK)
            else:
                for other in other_messages:
                    if other["body_part_id"].native == body_part_id and not _legacy_signature_ok(other):
                        return _failed(BAD_MESSAGE_CHECK)
    else:
        if not ca.config.get("auths.instance.SharedToken.pluginName"):
            return _failed(INTERNAL_CA_ERROR)
        record = ca.store.get_certificate(serial)
        if record is None or not record.rev_shr_tok:
            return _failed(BAD_IDENTITY)
        try:
            secret = decrypt_shared_token(
                record.rev_shr_tok,
                ca.issuance_protection_rsa_key,
                oaep=ca.config.get_bool("keyWrap.useOAEP"),
            )
        except SharedTokenError:
            return _failed(BAD_IDENTITY)
        if secret != bytes(passphrase).decode("utf-8", errors="replace"):
            return _failed(BAD_IDENTITY)

    record = ca.store.get_certificate(serial)
    if record is None:
        return _failed(BAD_CERT_ID)
    if int(revoke_request["reason"]) == REASON_REMOVE_FROM_CRL:
        # Dogtag's other revocation paths read reason 8 as "take off hold", never as a revocation
        # reason to write into the full CRL; the double refuses it as a bad request.
        return _failed(BAD_REQUEST, REMOVE_FROM_CRL_REFUSED)
    if record.status == "REVOKED":
        return RevocationOutcome(SUCCESS)
    certificate = asn1_x509.Certificate.load(record.der)
    if passphrase is not None:
        requested_issuer = token.issuer_principal if token is not None else None
        if requested_issuer is None or requested_issuer != certificate.issuer:
            return _failed(BAD_IDENTITY, ISSUER_MISMATCH)
    if passphrase is None and authenticator == CMC_USER_SIGNED_AUTH:
        if token is None or token.signer_principal != certificate.subject:
            return _failed(BAD_IDENTITY, PRINCIPAL_MISMATCH)

    reason_code = int(revoke_request["reason"])
    if reason_code in REASONS_MAPPED_TO_UNSPECIFIED:
        reason_code = REASON_UNSPECIFIED
    invalidity = revoke_request["invalidity_date"].native
    comment = revoke_request["comment"].native
    ca.store.revoke_certificate(serial, reason=reason_code, invalidity_date=invalidity, comment=comment)
    return RevocationOutcome(SUCCESS, revoked_serial=serial)
