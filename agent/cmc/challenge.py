"""Recover Dogtag's EncryptedPOP challenge on the device that holds the request key.

Dogtag's first-trip answer (``dogtag-cmc-server.md`` §5.3): a 64-byte challenge encrypted with
AES-128-CBC, no padding, under a session key wrapped to the request's RSA key; the EnvelopedData carries
a dummy IV, the **real IV is in thePOPAlgID**; the witness is SHA-256(challenge). The unwrap and the
decryption both run on the device (:class:`agent.keyops.ChallengeDecrypter`); only the challenge, which
is meant for us, comes back.

The challenge is answered only for a request of the key that decrypts it: a response (or a user's
mix-up of files) that challenges another key's request must not get a proof of possession made with
ours.
"""

from __future__ import annotations

import hmac

from asn1crypto import algos, cms, keys

from agent.cmc import witness
from agent.cmc.asn1 import cmc
from agent.cmc.errors import (
    ChallengeDecryptionFailed,
    ChallengeWitnessMismatch,
    CMCError,
    KeyMismatch,
    MalformedMessage,
)
from agent.cmc.keyid import same_public_key
from agent.keyops import ChallengeDecrypter, KeyTransport

_AES_CBC = {"aes128_cbc", "aes192_cbc", "aes256_cbc"}


def recover_challenge(
    encrypted_pop: cmc.EncryptedPOP, decrypter: ChallengeDecrypter, transport: KeyTransport
) -> bytes:
    """Decrypt the challenge and check it against the CA's witness; return the challenge bytes.

    When ``decrypter`` tells its public key (device and software keys do), the challenged request must
    be for that key: :class:`~agent.cmc.errors.KeyMismatch` otherwise, before anything is decrypted.
    """
    try:
        _check_request_key(encrypted_pop["request"], getattr(decrypter, "public_key_info", None))
        encrypted_key, iv, ciphertext, padded = _parts(encrypted_pop)
    except CMCError:
        raise
    except Exception as exc:
        raise MalformedMessage(f"the EncryptedPOP cannot be used: {exc}") from None
    try:
        challenge = decrypter.decrypt_with_wrapped_key(
            encrypted_key, transport, iv, ciphertext, remove_padding=padded
        )
    except CMCError:
        raise
    except Exception as exc:
        raise ChallengeDecryptionFailed(
            f"cannot decrypt the EncryptedPOP challenge ({exc}); check that this is the request key and that "
            "OAEP is used exactly when the CA uses it (Dogtag keyWrap.useOAEP)"
        ) from None
    hash_name = encrypted_pop["witness_alg_id"]["algorithm"].native
    if hash_name not in ("sha256", "sha384", "sha512"):
        raise MalformedMessage(f"unsupported EncryptedPOP witness algorithm {hash_name}")
    if not hmac.compare_digest(
        witness.challenge_witness(challenge, hash_name), encrypted_pop["witness"].native
    ):
        raise ChallengeWitnessMismatch(
            "the decrypted challenge does not match the CA's witness: the key-transport setting "
            "(OAEP or PKCS#1 v1.5) probably differs from the CA's, or this is not the request key"
        )
    return challenge


def _check_request_key(request: cmc.TaggedRequest, decrypter_key: object) -> None:
    if request.name == "tcr":
        requested = request.chosen["certification_request"]["certification_request_info"]["subject_pk_info"]
    elif request.name == "crm":
        requested = request.chosen["cert_req"]["cert_template"]["public_key"]
    else:
        raise MalformedMessage("the EncryptedPOP challenges a request that is neither a CSR nor a CRMF")
    if isinstance(decrypter_key, keys.PublicKeyInfo) and not same_public_key(requested, decrypter_key):
        raise KeyMismatch(
            "the EncryptedPOP challenges a request for another key than the one given to answer it; "
            "check the request key, and that this response answers the request made with it"
        )


def _parts(encrypted_pop: cmc.EncryptedPOP) -> tuple[bytes, bytes, bytes, bool]:
    content_info = encrypted_pop["cms"]
    if content_info["content_type"].native != "enveloped_data":
        raise MalformedMessage("the EncryptedPOP does not hold an EnvelopedData")
    enveloped: cms.EnvelopedData = content_info["content"]
    recipients = enveloped["recipient_infos"]
    if len(recipients) < 1 or recipients[0].name != "ktri":
        raise MalformedMessage("the EncryptedPOP has no key-transport recipient")
    encrypted_key: bytes = recipients[0].chosen["encrypted_key"].native
    content = enveloped["encrypted_content_info"]
    ciphertext = content["encrypted_content"].native
    if not ciphertext:
        raise MalformedMessage("the EncryptedPOP carries no encrypted challenge")
    pop_algorithm = encrypted_pop["the_pop_alg_id"]
    if pop_algorithm["algorithm"].native in _AES_CBC:
        # Dogtag: the real IV is here, and the 64-byte challenge is not padded.
        iv = pop_algorithm["parameters"].native
        padded = False
    else:
        # An RFC 5272 CA: thePOPAlgID is the MAC, the IV is the EnvelopedData's, with PKCS#7 padding.
        content_algorithm = content["content_encryption_algorithm"]
        if content_algorithm["algorithm"].native not in _AES_CBC:
            raise MalformedMessage("the EncryptedPOP challenge is not AES-CBC encrypted")
        iv = content_algorithm["parameters"].native
        padded = True
    if not isinstance(iv, bytes) or len(iv) != 16:
        raise MalformedMessage("the EncryptedPOP IV is not 16 bytes")
    return encrypted_key, iv, ciphertext, padded


def decrypted_pop_value(
    encrypted_pop: cmc.EncryptedPOP, challenge: bytes, body_part_id: int
) -> cmc.DecryptedPOP:
    """The DecryptedPOP answer: thePOP over the TaggedRequest bytes exactly as the CA returned them,
    thePOPAlgID copied (Dogtag's client copies it; its CA ignores it)."""
    request_der = encrypted_pop["request"].dump()
    return cmc.DecryptedPOP(
        {
            "body_part_id": body_part_id,
            "the_pop_alg_id": algos.EncryptionAlgorithm.load(encrypted_pop["the_pop_alg_id"].dump()),
            "the_pop": witness.the_pop(challenge, request_der),
        }
    )
