"""Proof of possession (dogtag-cmc-server.md §5): signatures, and the EncryptedPOP/DecryptedPOP round trip.

Signature POP is checked over JSS's re-encoding of the request (JSS decodes and encodes again before it
verifies, which drops non-DER details such as an explicit ``critical FALSE``); :func:`jss_reencode` does
the same with asn1crypto.

EncryptedPOP (trip 1) keeps, in the request record, exactly the fields Dogtag keeps in extData: the
challenge encrypted under a fresh AES-128 key, that key wrapped for the requester and for the issuance
protection certificate, the IV, SHA-256 of the challenge and the TaggedRequest bytes. The challenge itself
is not stored. Trip 2 recovers it with the issuance protection private key and checks
``thePOP = HMAC-SHA256(challenge, TaggedRequest DER)``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from typing import Any

from asn1crypto import core, csr
from asn1crypto import keys as asn1_keys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from agent.cmc import pkiresponse
from agent.cmc.asn1 import cmc, crmf
from agent.cmc.errors import SignatureInvalid
from agent.cmc.verify import verify_signature
from agent.keyops import rsa_transport_padding
from localca.asn1util import is_absent


class PopCheckFailed(Exception):
    """A signature proof of possession does not verify (Dogtag: ECMCPopFailedException)."""


class ChallengeSetupFailed(Exception):
    """The EncryptedPOP challenge cannot be made, e.g. for an EC key (Dogtag: Server Internal Error)."""


def jss_reencode(value: core.Asn1Value) -> bytes:
    """The DER JSS writes after decoding ``value``: canonical, DEFAULT values left out."""
    copy = type(value).load(value.dump())
    return bytes(copy.dump(force=True))


def verify_pkcs10_signature(request: csr.CertificationRequest) -> None:
    info = request["certification_request_info"]
    try:
        verify_signature(
            info["subject_pk_info"],
            request["signature_algorithm"],
            request["signature"].native,
            info.dump(),
            what="PKCS #10 signature",
        )
    except (SignatureInvalid, ValueError) as exc:
        raise PopCheckFailed(str(exc)) from None


def has_pop(message: crmf.CertReqMsg) -> bool:
    return not is_absent(message["popo"])


def verify_crmf_signature_pop(message: crmf.CertReqMsg) -> None:
    """verifyPOP: the POP must be a signature and verify over the (re-encoded) CertRequest."""
    popo = message["popo"]
    if is_absent(popo) or popo.name != "signature":
        raise PopCheckFailed("the proof of possession is not a signature")
    signing_key = popo.chosen
    template = message["cert_req"]["cert_template"]
    public_key_info = template["public_key"]
    if is_absent(public_key_info):
        raise PopCheckFailed("the certificate template has no public key")
    poposk_input = signing_key["poposk_input"]
    if not is_absent(poposk_input):
        data = jss_reencode(poposk_input.untag())
    else:
        data = jss_reencode(message["cert_req"])
    try:
        verify_signature(
            public_key_info,
            signing_key["algorithm_identifier"],
            signing_key["signature"].native,
            data,
            what="CRMF POP signature",
        )
    except (SignatureInvalid, ValueError) as exc:
        raise PopCheckFailed(str(exc)) from None


# --- EncryptedPOP ----------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)


def _transport(use_oaep: bool) -> Any:
    return rsa_transport_padding("rsa-oaep-sha256" if use_oaep else "rsa-pkcs1v15")


def make_challenge(
    *,
    requester_key: asn1_keys.PublicKeyInfo,
    protection_key: rsa.RSAPublicKey,
    use_oaep: bool,
) -> dict[str, str]:
    """setPOPchallenge: the extData fields (base64) that let trip 2 recover and check the challenge."""
    try:
        public_key = serialization.load_der_public_key(requester_key.dump())
    except ValueError as exc:
        raise ChallengeSetupFailed(f"Unable to generate POP challenge: {exc}") from None
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise ChallengeSetupFailed("Unable to generate POP challenge: the request key is not RSA")
    challenge = os.urandom(pkiresponse.CHALLENGE_BYTES)
    session_key = os.urandom(16)
    iv = os.urandom(16)
    encryptor = Cipher(algorithms.AES(session_key), modes.CBC(iv)).encryptor()
    encrypted = encryptor.update(challenge) + encryptor.finalize()  # 64 bytes: no padding
    return {
        "pop_encryptedData": _b64(encrypted),
        "pop_sysPubEncryptedSession": _b64(protection_key.encrypt(session_key, _transport(use_oaep))),
        "pop_userPubEncryptedSession": _b64(public_key.encrypt(session_key, _transport(use_oaep))),
        "pop_encryptedDataIV": _b64(iv),
        "pop_witness": _b64(hashlib.sha256(challenge).digest()),
    }


def build_encrypted_pop(fields: dict[str, str], cert_request_der: bytes) -> cmc.EncryptedPOP:
    """constructEncryptedPop: the control value of §5.3, from the stored fields."""
    return pkiresponse.assemble_encrypted_pop(
        cert_request_der,
        encrypted_session_key=_unb64(fields["pop_userPubEncryptedSession"]),
        encrypted_challenge=_unb64(fields["pop_encryptedData"]),
        iv=_unb64(fields["pop_encryptedDataIV"]),
        witness_value=_unb64(fields["pop_witness"]),
    )


@dataclass(frozen=True)
class DecryptedPopCheck:
    verified: bool
    reason: str = ""


def check_decrypted_pop(
    fields: dict[str, Any], the_pop: bytes, protection_key: rsa.RSAPrivateKey, use_oaep: bool
) -> DecryptedPopCheck:
    """verifyDecryptedPOP on a loaded request record's extData.

    Raises ValueError for a cryptographic error (Dogtag: EProfileException "Invalid Request..."), returns
    not-verified for missing fields or a wrong witness (Dogtag: popFailed).
    """
    for name in ("pop_encryptedData", "pop_sysPubEncryptedSession", "cert_request"):
        if not fields.get(name):
            return DecryptedPopCheck(False, f"{name} not found in request")
    session_key = protection_key.decrypt(_unb64(fields["pop_sysPubEncryptedSession"]), _transport(use_oaep))
    if len(session_key) != 16:
        raise ValueError("the unwrapped session key is not an AES-128 key")
    decryptor = Cipher(
        algorithms.AES(session_key), modes.CBC(_unb64(fields["pop_encryptedDataIV"]))
    ).decryptor()
    challenge = decryptor.update(_unb64(fields["pop_encryptedData"])) + decryptor.finalize()
    expected = hmac.new(challenge, _unb64(fields["cert_request"]), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, the_pop):
        return DecryptedPopCheck(False, "POP challenge witness verification failure")
    return DecryptedPopCheck(True)
