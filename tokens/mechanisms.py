"""Choosing PKCS#11 mechanisms: pure functions from (what is asked, what the token offers) to a frozen spec.

Tokens differ: SoftHSM2 has no ``CKM_ECDSA_SHA256`` (hash first, then ``CKM_ECDSA``), some HSMs only
offer raw ``CKM_RSA_PKCS``. Deciding once, without I/O, keeps signing fast and makes the choice testable;
a missing mechanism becomes one clear error naming the token and the mechanism.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pkcs11 import MGF, Mechanism

from tokens.errors import MechanismNotSupported

_HASH_MECHANISM = {
    "sha1": Mechanism.SHA_1,
    "sha256": Mechanism.SHA256,
    "sha384": Mechanism.SHA384,
    "sha512": Mechanism.SHA512,
}
_MGF = {"sha1": MGF.SHA1, "sha256": MGF.SHA256, "sha384": MGF.SHA384, "sha512": MGF.SHA512}
_DIGEST_SIZE = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}
_RSA_PKCS_WITH = {
    "sha1": Mechanism.SHA1_RSA_PKCS,
    "sha256": Mechanism.SHA256_RSA_PKCS,
    "sha384": Mechanism.SHA384_RSA_PKCS,
    "sha512": Mechanism.SHA512_RSA_PKCS,
}
_RSA_PSS_WITH = {
    "sha1": Mechanism.SHA1_RSA_PKCS_PSS,
    "sha256": Mechanism.SHA256_RSA_PKCS_PSS,
    "sha384": Mechanism.SHA384_RSA_PKCS_PSS,
    "sha512": Mechanism.SHA512_RSA_PKCS_PSS,
}
_ECDSA_WITH = {
    "sha1": Mechanism.ECDSA_SHA1,
    "sha256": Mechanism.ECDSA_SHA256,
    "sha384": Mechanism.ECDSA_SHA384,
    "sha512": Mechanism.ECDSA_SHA512,
}


@dataclass(frozen=True)
class SigningSpec:
    """How to produce one kind of signature on one token.

    ``prehash``: hash the data in software first (the device signs the digest). ``digest_info``: wrap that
    digest in a PKCS#1 DigestInfo (raw ``CKM_RSA_PKCS``). ``ecdsa_raw``: the device returns r||s, which
    must be DER-encoded.
    """

    mechanism: Mechanism
    param: Any = None
    prehash: str | None = None
    digest_info: bool = False
    ecdsa_raw: bool = False


def _require(hash_name: str) -> None:
    if hash_name not in _HASH_MECHANISM:
        raise MechanismNotSupported(f"unsupported hash {hash_name!r}; use sha256, sha384 or sha512")


def _missing(token: str, what: str, options: list[Mechanism]) -> MechanismNotSupported:
    names = " or ".join(f"CKM_{m.name}" for m in options)
    return MechanismNotSupported(f"token {token!r} cannot {what}: it offers neither {names}")


def choose_signing(
    key_algorithm: str, hash_name: str, pss: bool, available: frozenset[Any], token: str
) -> SigningSpec:
    """The mechanism for ``key_algorithm`` signatures with ``hash_name`` on a token offering ``available``."""
    _require(hash_name)
    if key_algorithm == "rsa" and pss:
        pss_param = (_HASH_MECHANISM[hash_name], _MGF[hash_name], _DIGEST_SIZE[hash_name])
        if _RSA_PSS_WITH[hash_name] in available:
            return SigningSpec(_RSA_PSS_WITH[hash_name], pss_param)
        if Mechanism.RSA_PKCS_PSS in available:
            return SigningSpec(Mechanism.RSA_PKCS_PSS, pss_param, prehash=hash_name)
        raise _missing(token, f"sign RSA-PSS/{hash_name}", [_RSA_PSS_WITH[hash_name], Mechanism.RSA_PKCS_PSS])
    if key_algorithm == "rsa":
        if _RSA_PKCS_WITH[hash_name] in available:
            return SigningSpec(_RSA_PKCS_WITH[hash_name])
        if Mechanism.RSA_PKCS in available:
            return SigningSpec(Mechanism.RSA_PKCS, prehash=hash_name, digest_info=True)
        raise _missing(token, f"sign RSA/{hash_name}", [_RSA_PKCS_WITH[hash_name], Mechanism.RSA_PKCS])
    if key_algorithm == "ec":
        if pss:
            raise MechanismNotSupported("RSA-PSS needs an RSA key, not EC")
        if _ECDSA_WITH[hash_name] in available:
            return SigningSpec(_ECDSA_WITH[hash_name], ecdsa_raw=True)
        if Mechanism.ECDSA in available:
            return SigningSpec(Mechanism.ECDSA, prehash=hash_name, ecdsa_raw=True)
        raise _missing(token, f"sign ECDSA/{hash_name}", [_ECDSA_WITH[hash_name], Mechanism.ECDSA])
    raise MechanismNotSupported(f"cannot sign with a {key_algorithm} key")


@dataclass(frozen=True)
class KeyTransportSpec:
    mechanism: Mechanism
    param: Any = None


def key_transport_spec(transport: str) -> KeyTransportSpec:
    """RSA PKCS#1 v1.5 or OAEP (MGF1 with the same hash, no label), as the CA wrapped the session key."""
    if transport == "rsa-pkcs1v15":
        return KeyTransportSpec(Mechanism.RSA_PKCS)
    hash_name = {"rsa-oaep-sha1": "sha1", "rsa-oaep-sha256": "sha256"}.get(transport)
    if hash_name is None:
        raise MechanismNotSupported(
            f"unknown key transport {transport!r}; use rsa-pkcs1v15, rsa-oaep-sha1 or rsa-oaep-sha256"
        )
    return KeyTransportSpec(Mechanism.RSA_PKCS_OAEP, (_HASH_MECHANISM[hash_name], _MGF[hash_name], None))


@dataclass(frozen=True)
class ChallengeDecryptionSpec:
    """How to recover data sent under an RSA-wrapped AES session key (Dogtag's EncryptedPOP challenge).

    ``on_device_cbc`` set: ``C_UnwrapKey`` the session key into a session object and AES-CBC-decrypt on the
    device with that mechanism, so the session key never leaves the device (the first choice). ``None``:
    the device has no ``C_UnwrapKey`` with ``transport`` or no AES-CBC (tpm2-pkcs11, most smart cards), so
    ``C_Decrypt`` returns the session key and the AES-CBC decryption runs on the host.
    """

    transport: KeyTransportSpec
    on_device_cbc: Mechanism | None

    @property
    def on_device(self) -> bool:
        return self.on_device_cbc is not None


def choose_challenge_decryption(
    transport: str,
    padded: bool,
    unwrappers: frozenset[Any],
    decrypters: frozenset[Any],
    token: str,
) -> ChallengeDecryptionSpec:
    """Unwrap and decrypt on the device when it can do both, else decrypt the session key and AES on the host.

    ``unwrappers`` and ``decrypters``: the token's mechanisms whose info carries ``CKF_UNWRAP`` and
    ``CKF_DECRYPT``. A mechanism in the token's list is not usable for every function: tpm2-pkcs11 lists
    ``CKM_RSA_PKCS`` for decryption but has no ``C_UnwrapKey``.
    """
    key_transport = key_transport_spec(transport)
    cbc = Mechanism.AES_CBC_PAD if padded else Mechanism.AES_CBC
    if key_transport.mechanism in unwrappers and cbc in decrypters:
        return ChallengeDecryptionSpec(key_transport, cbc)
    if key_transport.mechanism in decrypters:
        return ChallengeDecryptionSpec(key_transport, None)
    raise MechanismNotSupported(
        f"token {token!r} cannot recover the session key ({transport}): it offers "
        f"CKM_{key_transport.mechanism.name} for neither C_UnwrapKey with AES-CBC nor C_Decrypt; ask the CA "
        "for the other key transport (Dogtag keyWrap.useOAEP) or use a key on another token"
    )


def choose_private_key_wrap(wrapping: str, available: frozenset[Any], token: str) -> Mechanism:
    """AES key wrap with padding, or AES-CBC with PKCS#7 padding, for wrapping a private key."""
    options = {
        "aes-kwp": [Mechanism.AES_KEY_WRAP_PAD, Mechanism.AES_KEY_WRAP_KWP],
        "aes-cbc-pad": [Mechanism.AES_CBC_PAD],
    }
    if wrapping not in options:
        raise MechanismNotSupported(f"unknown private-key wrapping {wrapping!r}; use aes-kwp or aes-cbc-pad")
    for mechanism in options[wrapping]:
        if mechanism in available:
            return mechanism
    raise _missing(token, f"wrap a private key ({wrapping})", options[wrapping])
