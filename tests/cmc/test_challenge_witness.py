"""EncryptedPOP challenge recovery and the witness functions, against values computed here by hand."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import pytest
from asn1crypto import core

from agent.cmc import challenge, pkcs10, pkiresponse, witness
from agent.cmc.asn1 import cmc
from agent.cmc.errors import (
    ChallengeDecryptionFailed,
    ChallengeWitnessMismatch,
    KeyMismatch,
    MalformedMessage,
)
from agent.keyops import KeyTransport, SoftwareKey

CHALLENGE = bytes(range(64))


@pytest.fixture(scope="module")
def tagged(user_rsa: SoftwareKey) -> cmc.TaggedRequest:
    return cmc.TaggedRequest(
        "tcr", {"body_part_id": 1, "certification_request": pkcs10.build_csr(user_rsa, "CN=enc")}
    )


@pytest.mark.parametrize("transport", ["rsa-pkcs1v15", "rsa-oaep-sha256", "rsa-oaep-sha1"])
def test_challenge_is_recovered(
    transport: KeyTransport, tagged: cmc.TaggedRequest, user_rsa: SoftwareKey
) -> None:
    encrypted_pop, _ = pkiresponse.encrypted_pop(
        tagged, user_rsa.public_key_info, transport=transport, challenge=CHALLENGE
    )
    # Dogtag's layout: dummy IV in the envelope, the real one in thePOPAlgID, a witness of SHA-256(challenge)
    envelope_iv = encrypted_pop["cms"]["content"]["encrypted_content_info"]["content_encryption_algorithm"][
        "parameters"
    ].native
    assert envelope_iv == b"\x01" * 16
    assert encrypted_pop["the_pop_alg_id"]["parameters"].native != envelope_iv
    assert encrypted_pop["witness"].native == hashlib.sha256(CHALLENGE).digest()
    assert challenge.recover_challenge(encrypted_pop, user_rsa, transport) == CHALLENGE


def test_wrong_transport_setting_is_explained(tagged: cmc.TaggedRequest, user_rsa: SoftwareKey) -> None:
    encrypted_pop, _ = pkiresponse.encrypted_pop(
        tagged, user_rsa.public_key_info, transport="rsa-oaep-sha256", challenge=CHALLENGE
    )
    with pytest.raises((ChallengeDecryptionFailed, ChallengeWitnessMismatch), match="OAEP"):
        challenge.recover_challenge(encrypted_pop, user_rsa, "rsa-pkcs1v15")


def test_wrong_key_is_refused(tagged: cmc.TaggedRequest, user_rsa: SoftwareKey) -> None:
    encrypted_pop, _ = pkiresponse.encrypted_pop(tagged, user_rsa.public_key_info, challenge=CHALLENGE)
    stranger = SoftwareKey.generate("rsa:2048")
    with pytest.raises(KeyMismatch, match="another key"):
        challenge.recover_challenge(encrypted_pop, stranger, "rsa-pkcs1v15")
    # a decrypter that does not tell its public key is caught by the decryption or the witness instead
    with pytest.raises((ChallengeDecryptionFailed, ChallengeWitnessMismatch)):
        challenge.recover_challenge(encrypted_pop, _KeyWithoutPublicPart(stranger), "rsa-pkcs1v15")


@dataclass(frozen=True)
class _KeyWithoutPublicPart:
    """A :class:`~agent.keyops.ChallengeDecrypter` and nothing more."""

    key: SoftwareKey

    def decrypt_with_wrapped_key(
        self,
        encrypted_key: bytes,
        transport: KeyTransport,
        iv: bytes,
        ciphertext: bytes,
        *,
        remove_padding: bool = False,
    ) -> bytes:
        return self.key.decrypt_with_wrapped_key(
            encrypted_key, transport, iv, ciphertext, remove_padding=remove_padding
        )


def test_a_challenge_for_another_keys_request_is_not_answered(user_rsa: SoftwareKey) -> None:
    """The challenge is encrypted to our key, but the request it challenges is someone else's: answering
    would prove possession of our key for their request."""
    other = cmc.TaggedRequest(
        "tcr",
        {
            "body_part_id": 1,
            "certification_request": pkcs10.build_csr(SoftwareKey.generate("rsa:2048"), "CN=x"),
        },
    )
    encrypted_pop, _ = pkiresponse.encrypted_pop(other, user_rsa.public_key_info, challenge=CHALLENGE)
    with pytest.raises(KeyMismatch):
        challenge.recover_challenge(encrypted_pop, user_rsa, "rsa-pkcs1v15")


def test_altered_witness_is_refused(tagged: cmc.TaggedRequest, user_rsa: SoftwareKey) -> None:
    encrypted_pop, _ = pkiresponse.encrypted_pop(tagged, user_rsa.public_key_info, challenge=CHALLENGE)
    encrypted_pop["witness"] = core.OctetString(b"\x00" * 32)
    with pytest.raises(ChallengeWitnessMismatch):
        challenge.recover_challenge(encrypted_pop, user_rsa, "rsa-pkcs1v15")


def test_an_ec_key_cannot_answer(
    tagged: cmc.TaggedRequest, user_rsa: SoftwareKey, user_ec: SoftwareKey
) -> None:
    encrypted_pop, _ = pkiresponse.encrypted_pop(tagged, user_rsa.public_key_info, challenge=CHALLENGE)
    with pytest.raises(ChallengeDecryptionFailed):
        challenge.recover_challenge(encrypted_pop, _KeyWithoutPublicPart(user_ec), "rsa-pkcs1v15")


def test_not_an_envelope_is_malformed(tagged: cmc.TaggedRequest, user_rsa: SoftwareKey) -> None:
    encrypted_pop, _ = pkiresponse.encrypted_pop(tagged, user_rsa.public_key_info, challenge=CHALLENGE)
    encrypted_pop["cms"] = {"content_type": "data", "content": b"x"}
    with pytest.raises(MalformedMessage):
        challenge.recover_challenge(encrypted_pop, user_rsa, "rsa-pkcs1v15")


def test_the_pop_is_hmac_sha256_over_the_tagged_request(
    tagged: cmc.TaggedRequest, user_rsa: SoftwareKey
) -> None:
    encrypted_pop, _ = pkiresponse.encrypted_pop(tagged, user_rsa.public_key_info, challenge=CHALLENGE)
    value = challenge.decrypted_pop_value(encrypted_pop, CHALLENGE, 1)
    assert value["the_pop"].native == hmac.new(CHALLENGE, tagged.dump(), "sha256").digest()
    assert tagged.dump()[0] == 0xA0  # the CHOICE tag is part of the MACed bytes
    assert value["the_pop_alg_id"].dump() == encrypted_pop["the_pop_alg_id"].dump()


@pytest.mark.parametrize(
    ("hash_name", "mac_name"), [("sha256", "sha256"), ("sha512", "sha512"), ("sha384", "sha512")]
)
def test_witness_functions_match_a_hand_computation(hash_name: str, mac_name: str) -> None:
    secret, ident, data = "pässwörd".encode(), "jdoe", b"\x30\x03\x02\x01\x01"
    key = hashlib.new(hash_name, secret + ident.encode()).digest()
    proof = witness.identity_proof_v2(secret, ident, data, hash_name, mac_name)
    assert proof["witness"].native == hmac.new(key, data, mac_name).digest()
    assert witness.verify_identity_proof_v2(proof, secret, ident, data)
    assert not witness.verify_identity_proof_v2(proof, secret + b"x", ident, data)
    assert not witness.verify_identity_proof_v2(proof, secret, ident, data + b"\x00")
    link = witness.pop_link_witness_v2(secret, ident, CHALLENGE, hash_name, mac_name)
    assert link["witness"].native == hmac.new(key, CHALLENGE, mac_name).digest()
    assert witness.verify_pop_link_witness_v2(link, secret, ident, CHALLENGE)
    assert not witness.verify_pop_link_witness_v2(link, secret, "other", CHALLENGE)
