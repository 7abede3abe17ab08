"""The MACs and hashes that bind CMC messages to a shared secret or a decrypted challenge.

Pure functions over bytes, so the CA side (the local CA) and the tests can recompute every value:

* identityProofV2 (RFC 5272 §6.2.2, as Dogtag computes it): ``key = Hash(secret || identification)``,
  ``witness = HMAC(key, DER(reqSequence))``.
* popLinkWitnessV2 (RFC 6402, as Dogtag computes it): ``key = Hash(secret || identification)``,
  ``witness = HMAC(key, popLinkRandom)``.
* Dogtag's EncryptedPOP: the CA's witness is ``SHA-256(challenge)``; the client answers
  ``thePOP = HMAC-SHA256(challenge, DER(TaggedRequest as it appears in the EncryptedPOP))``, always
  HMAC-SHA256 whatever thePOPAlgID says.

``secret`` is the shared passphrase as bytes (UTF-8 of the text the user was given); ``identification``
is encoded as UTF-8 and appended, as Dogtag's ``String.getBytes()`` does on a UTF-8 platform.
"""

from __future__ import annotations

import hmac as hmac_module

from agent.cmc import algorithms
from agent.cmc.asn1 import cmc


def shared_secret_key(secret: bytes, identification: str | None, hash_name: str) -> bytes:
    """``Hash(secret || identification)``, the HMAC key of both witness controls."""
    return algorithms.digest(hash_name, secret + (identification or "").encode("utf-8"))


def identity_proof_v2_witness(
    secret: bytes, identification: str | None, req_sequence_der: bytes, hash_name: str, mac_name: str
) -> bytes:
    key = shared_secret_key(secret, identification, hash_name)
    return algorithms.hmac_digest(mac_name, key, req_sequence_der)


def identity_proof_v2(
    secret: bytes,
    identification: str | None,
    req_sequence_der: bytes,
    hash_name: str = "sha256",
    mac_name: str = "sha256",
) -> cmc.IdentityProofV2:
    """The IdentityProofV2 control value; identifiers without parameters, as Dogtag writes them."""
    return cmc.IdentityProofV2(
        {
            "proof_alg_id": algorithms.bare_hash_algorithm(hash_name),
            "mac_alg_id": algorithms.bare_hmac_algorithm(mac_name),
            "witness": identity_proof_v2_witness(
                secret, identification, req_sequence_der, hash_name, mac_name
            ),
        }
    )


def verify_identity_proof_v2(
    proof: cmc.IdentityProofV2, secret: bytes, identification: str | None, req_sequence_der: bytes
) -> bool:
    """True when ``proof`` is right for this secret, identification and reqSequence (CA side)."""
    hash_name = proof["proof_alg_id"]["algorithm"].native
    mac_name = proof["mac_alg_id"]["algorithm"].native
    if hash_name not in algorithms.HASH_NAMES or mac_name not in ("sha256", "sha384", "sha512"):
        return False
    expected = identity_proof_v2_witness(secret, identification, req_sequence_der, hash_name, mac_name)
    return hmac_module.compare_digest(expected, proof["witness"].native)


def pop_link_witness_v2(
    secret: bytes,
    identification: str | None,
    pop_link_random: bytes,
    hash_name: str = "sha256",
    mac_name: str = "sha256",
) -> cmc.PopLinkWitnessV2:
    key = shared_secret_key(secret, identification, hash_name)
    return cmc.PopLinkWitnessV2(
        {
            "key_gen_algorithm": algorithms.bare_hash_algorithm(hash_name),
            "mac_algorithm": algorithms.bare_hmac_algorithm(mac_name),
            "witness": algorithms.hmac_digest(mac_name, key, pop_link_random),
        }
    )


def verify_pop_link_witness_v2(
    witness: cmc.PopLinkWitnessV2, secret: bytes, identification: str | None, pop_link_random: bytes
) -> bool:
    hash_name = witness["key_gen_algorithm"]["algorithm"].native
    mac_name = witness["mac_algorithm"]["algorithm"].native
    if hash_name not in algorithms.HASH_NAMES or mac_name not in ("sha256", "sha384", "sha512"):
        return False
    key = shared_secret_key(secret, identification, hash_name)
    expected = algorithms.hmac_digest(mac_name, key, pop_link_random)
    return hmac_module.compare_digest(expected, witness["witness"].native)


def challenge_witness(challenge: bytes, hash_name: str = "sha256") -> bytes:
    """What the CA puts in EncryptedPOP.witness: ``Hash(challenge)``."""
    return algorithms.digest(hash_name, challenge)


def the_pop(challenge: bytes, tagged_request_der: bytes) -> bytes:
    """DecryptedPOP.thePOP: HMAC-SHA256 keyed by the whole challenge over DER(TaggedRequest)."""
    return algorithms.hmac_digest("sha256", challenge, tagged_request_der)
