"""Software signature verification of public-key signatures found in messages.

Verification needs no private key, so it runs in ``cryptography`` (never on a device): CSR signatures,
CRMF POP signatures, CMS SignerInfos and certificate signatures all come through here.
"""

from __future__ import annotations

from asn1crypto import algos, keys
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from agent.cmc.errors import SignatureInvalid
from agent.keyops import hash_algorithm

_RSA_SIGNATURE_NAMES = {"rsassa_pkcs1v15", "rsassa_pss"}


def verify_signature(
    public_key_info: keys.PublicKeyInfo,
    signature_algorithm: algos.SignedDigestAlgorithm,
    signature: bytes,
    data: bytes,
    *,
    default_hash: str | None = None,
    what: str = "signature",
) -> None:
    """Raise :class:`SignatureInvalid` unless ``signature`` over ``data`` verifies with the key.

    ``default_hash`` names the hash when the algorithm identifier does not (CMS allows a bare
    ``rsaEncryption`` signatureAlgorithm whose hash is the SignerInfo's digestAlgorithm).
    """
    try:
        public_key = serialization.load_der_public_key(public_key_info.untag().dump())
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise SignatureInvalid(f"{what}: the signer's public key cannot be used: {exc}") from None
    try:
        signature_name = signature_algorithm.signature_algo
    except ValueError:
        raise SignatureInvalid(
            f"{what}: unsupported signature algorithm {signature_algorithm['algorithm'].dotted}"
        ) from None
    try:
        if signature_name == "rsassa_pss":
            params = signature_algorithm["parameters"]
            hash_name = params["hash_algorithm"]["algorithm"].native
            mgf_hash = params["mask_gen_algorithm"]["parameters"]["algorithm"].native
            digest = hash_algorithm(hash_name)
            pss = padding.PSS(
                mgf=padding.MGF1(hash_algorithm(mgf_hash)), salt_length=params["salt_length"].native
            )
            if not isinstance(public_key, rsa.RSAPublicKey):
                raise SignatureInvalid(f"{what}: RSA-PSS signature but the key is not RSA")
            public_key.verify(signature, data, pss, digest)
            return
        hash_name = _hash_of(signature_algorithm, default_hash)
        digest = hash_algorithm(hash_name)
        if signature_name in _RSA_SIGNATURE_NAMES:
            if not isinstance(public_key, rsa.RSAPublicKey):
                raise SignatureInvalid(f"{what}: RSA signature but the key is not RSA")
            public_key.verify(signature, data, padding.PKCS1v15(), digest)
        elif signature_name == "ecdsa":
            if not isinstance(public_key, ec.EllipticCurvePublicKey):
                raise SignatureInvalid(f"{what}: ECDSA signature but the key is not EC")
            public_key.verify(signature, data, ec.ECDSA(digest))
        else:
            raise SignatureInvalid(f"{what}: unsupported signature algorithm {signature_name}")
    except InvalidSignature:
        raise SignatureInvalid(f"{what} does not verify") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise SignatureInvalid(f"{what} cannot be checked: {exc}") from None


def _hash_of(signature_algorithm: algos.SignedDigestAlgorithm, default_hash: str | None) -> str:
    try:
        name: str = signature_algorithm.hash_algo
        return name
    except ValueError:
        if default_hash is None:
            raise SignatureInvalid(
                f"signature algorithm {signature_algorithm['algorithm'].native} does not name a hash"
            ) from None
        return default_hash
