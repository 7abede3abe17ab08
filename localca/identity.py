"""Proof of identity with a shared secret: identityProofV2 and popLinkWitnessV2 (dogtag-cmc-server.md §4.3).

The secret is looked up as Dogtag's SharedSecret plugin does: the "LDAP entry" with ``uid=<identification>``
(here a row of the shared_tokens table, matched case-insensitively as LDAP matches uid), its ``shrTok``
decrypted with the issuance protection key. Dogtag's quirks a client has to live with are kept:

* the key is ``Hash(secret || identification)`` (secret first);
* only hmacWithSHA256 and hmacWithSHA512 verify: SHA-384 hits Dogtag's misspelled "HmacSHAS384" and
  SHA-1 has no digest-name mapping, so both fail;
* the concatenation buffer is sized by the secret's *character* count, so a non-ASCII secret overflows
  it and fails;
* with no authenticator on the profile there is no auth token to record the result in, so the proof
  fails (Dogtag dereferences a null token).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from asn1crypto import core
from cryptography.hazmat.primitives.asymmetric import rsa

from agent.cmc.asn1 import cmc
from localca.config import CAConfig
from localca.sharedtoken import SharedTokenError, decrypt_shared_token
from localca.store import Store

PROOF_HASHES = {"sha1", "sha256", "sha384", "sha512"}
"""JSS DigestAlgorithm.fromOID (MD2/MD5 left out)."""
WORKING_MACS = {"sha256": "sha256", "sha512": "sha512"}
"""HMAC OIDs Dogtag can actually compute (asn1crypto names -> hashlib names)."""


class SharedSecretUnavailable(Exception):
    """No secret for this identification (no plugin, no entry, no token, or it does not decrypt)."""


@dataclass(frozen=True)
class SharedSecret:
    secret: str
    entry_dn: str


def lookup_shared_secret(
    identification: str, *, config: CAConfig, store: Store, protection_key: rsa.RSAPrivateKey
) -> SharedSecret:
    """SharedSecret.getSharedToken(identification, authToken)."""
    if not config.get("auths.instance.SharedToken.pluginName"):
        raise SharedSecretUnavailable("Failed to retrieve shared secret authentication plugin class")
    record = store.get_shared_token(identification)
    if record is None:
        raise SharedSecretUnavailable("ldap search result contains nothing")
    try:
        secret = decrypt_shared_token(record.token, protection_key, oaep=config.get_bool("keyWrap.useOAEP"))
    except SharedTokenError as exc:
        raise SharedSecretUnavailable(str(exc)) from None
    return SharedSecret(secret=secret, entry_dn=record.entry_dn)


def _mac_hash(mac_algorithm: core.Asn1Value) -> str | None:
    try:
        name = mac_algorithm["algorithm"].native
    except (ValueError, KeyError):
        return None
    if not isinstance(name, str):
        return None
    return WORKING_MACS.get(name)


def _proof_hash(hash_algorithm: core.Asn1Value) -> str | None:
    try:
        name = hash_algorithm["algorithm"].native
    except (ValueError, KeyError):
        return None
    return name if name in PROOF_HASHES else None


def _key_material(secret: str, identification: str) -> bytes | None:
    """``secret || identification`` in a buffer Dogtag sizes by the secret's character count."""
    secret_bytes = secret.encode("utf-8")
    if len(secret_bytes) != len(secret):
        return None  # Dogtag: BufferOverflowException, caught, verification fails
    return secret_bytes + identification.encode("utf-8")


def witness_matches(
    *,
    hash_algorithm: core.Asn1Value,
    mac_algorithm: core.Asn1Value,
    witness: bytes,
    key_material: bytes,
    data: bytes,
) -> bool:
    """verifyDigest: HMAC_mac(Hash(key_material), data) == witness, with Dogtag's algorithm support."""
    hash_name = _proof_hash(hash_algorithm)
    mac_hash = _mac_hash(mac_algorithm)
    if hash_name is None or mac_hash is None:
        return False
    key = hashlib.new(hash_name, key_material).digest()
    expected = hmac.new(key, data, mac_hash).digest()
    return hmac.compare_digest(expected, witness)


def verify_identity_proof_v2(
    proof: cmc.IdentityProofV2, identification: str, secret: SharedSecret, request_sequence_der: bytes
) -> bool:
    material = _key_material(secret.secret, identification)
    if material is None:
        return False
    return witness_matches(
        hash_algorithm=proof["proof_alg_id"],
        mac_algorithm=proof["mac_alg_id"],
        witness=proof["witness"].native,
        key_material=material,
        data=request_sequence_der,
    )


def verify_pop_link_witness_v2(
    witness: cmc.PopLinkWitnessV2, identification: str, secret: str, random_seed: bytes
) -> bool:
    material = _key_material(secret, identification)
    if material is None:
        return False
    return witness_matches(
        hash_algorithm=witness["key_gen_algorithm"],
        mac_algorithm=witness["mac_algorithm"],
        witness=witness["witness"].native,
        key_material=material,
        data=random_seed,
    )
