"""Algorithm identifiers exactly as Dogtag writes and expects them, and software hash/HMAC helpers.

Where the parameters of an AlgorithmIdentifier are NULL or absent changes the bytes, and some of those
bytes are signed, MACed or compared by the CA (``dogtag-cmc-client.md`` §10):

==========================================  =============  ==================
where                                       RSA            ECDSA
==========================================  =============  ==================
CMS digestAlgorithm (SignedData/SignerInfo)  SHA-x + NULL   SHA-x + NULL
CMS SignerInfo.signatureAlgorithm           NULL           NULL (Dogtag quirk)
CRMF POPOSigningKey.algorithmIdentifier     NULL           NULL (Dogtag quirk)
PKCS#10 signatureAlgorithm                  NULL           absent (RFC 5758)
identityProofV2 / popLinkWitnessV2 / witness hash and HMAC identifiers: parameters absent
==========================================  =============  ==================
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache
from typing import Literal

from asn1crypto import algos, core

from agent.cmc.asn1 import cmc
from agent.cmc.errors import UnsupportedAlgorithm
from agent.keyops import HashName, KeyAlgorithm

MacName = Literal["sha256", "sha384", "sha512"]
"""HMAC-SHA-x, named by its hash."""

HASH_NAMES: tuple[HashName, ...] = ("sha1", "sha256", "sha384", "sha512")
DOGTAG_MAC_NAMES: tuple[MacName, ...] = ("sha256", "sha512")
"""HMACs a Dogtag CA can verify; its HMAC-SHA-384 lookup is broken (``HmacSHAS384``)."""

_SIGNATURE_ALGORITHMS: dict[tuple[KeyAlgorithm, str], str] = {
    ("rsa", "sha1"): "sha1_rsa",
    ("rsa", "sha256"): "sha256_rsa",
    ("rsa", "sha384"): "sha384_rsa",
    ("rsa", "sha512"): "sha512_rsa",
    ("ec", "sha1"): "sha1_ecdsa",
    ("ec", "sha256"): "sha256_ecdsa",
    ("ec", "sha384"): "sha384_ecdsa",
    ("ec", "sha512"): "sha512_ecdsa",
}


def check_hash_name(name: str) -> HashName:
    if name not in HASH_NAMES:
        raise UnsupportedAlgorithm(f"unsupported hash {name!r}; use one of {', '.join(HASH_NAMES)}")
    return name


def check_mac_name(name: str) -> MacName:
    """Accept only HMACs the Dogtag CA can verify, and say why otherwise."""
    if name == "sha384":
        raise UnsupportedAlgorithm(
            "HMAC-SHA-384 cannot be verified by a Dogtag CA (it misspells the algorithm name); "
            "use sha256 or sha512"
        )
    if name not in DOGTAG_MAC_NAMES:
        raise UnsupportedAlgorithm(f"unsupported HMAC {name!r}; use sha256 or sha512")
    return name


def digest(hash_name: str, data: bytes) -> bytes:
    return hashlib.new(hash_name, data).digest()


def hmac_digest(mac_name: str, key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, mac_name).digest()


def cms_digest_algorithm(hash_name: str) -> algos.DigestAlgorithm:
    """The digest identifier of a SignedData/SignerInfo: explicit NULL parameters, as JSS writes and
    Dogtag's RSA verification requires (it rebuilds DigestInfo from these bytes)."""
    return algos.DigestAlgorithm({"algorithm": check_hash_name(hash_name), "parameters": core.Null()})


@lru_cache(maxsize=32)
def cms_digest_algorithm_der(hash_name: str) -> bytes:
    """:func:`cms_digest_algorithm`, encoded (cached: it is on every signing path)."""
    return bytes(cms_digest_algorithm(hash_name).dump())


@lru_cache(maxsize=32)
def signature_algorithm_der(key_algorithm: KeyAlgorithm, hash_name: str, *, ecdsa_null_params: bool) -> bytes:
    """:func:`signature_algorithm`, encoded (cached)."""
    return bytes(signature_algorithm(key_algorithm, hash_name, ecdsa_null_params=ecdsa_null_params).dump())


def bare_hash_algorithm(hash_name: str) -> cmc.HashAlgorithmIdentifier:
    """A hash identifier with absent parameters (identityProofV2, popLinkWitnessV2, witnessAlgID)."""
    return cmc.HashAlgorithmIdentifier({"algorithm": check_hash_name(hash_name)})


def bare_hmac_algorithm(mac_name: str) -> algos.HmacAlgorithm:
    return algos.HmacAlgorithm({"algorithm": mac_name})


def signature_algorithm(
    key_algorithm: KeyAlgorithm, hash_name: str, *, ecdsa_null_params: bool
) -> algos.SignedDigestAlgorithm:
    """The signature AlgorithmIdentifier for a key type and hash.

    RSA always carries NULL parameters. ECDSA carries NULL where Dogtag puts it (CMS SignerInfo, CRMF
    POP: ``ecdsa_null_params=True``) and none in PKCS#10 (``False``), as RFC 5758 wants.
    """
    name = _SIGNATURE_ALGORITHMS.get((key_algorithm, check_hash_name(hash_name)))
    if name is None:
        raise UnsupportedAlgorithm(f"no signature algorithm for {key_algorithm} with {hash_name}")
    if key_algorithm == "rsa" or ecdsa_null_params:
        return algos.SignedDigestAlgorithm({"algorithm": name, "parameters": core.Null()})
    return algos.SignedDigestAlgorithm({"algorithm": name})


def rsassa_pss_algorithm(hash_name: str) -> algos.SignedDigestAlgorithm:
    """RSASSA-PSS with MGF1 of the same hash and salt length = hash length (what keyops signs)."""
    name = check_hash_name(hash_name)
    return algos.SignedDigestAlgorithm(
        {
            "algorithm": "rsassa_pss",
            "parameters": algos.RSASSAPSSParams(
                {
                    "hash_algorithm": {"algorithm": name, "parameters": core.Null()},
                    "mask_gen_algorithm": {
                        "algorithm": "mgf1",
                        "parameters": {"algorithm": name, "parameters": core.Null()},
                    },
                    "salt_length": hashlib.new(name).digest_size,
                }
            ),
        }
    )
