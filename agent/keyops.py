"""What the CMC layer needs from a private key, and nothing more.

``agent`` never touches PKCS#11. It works with objects that satisfy these protocols: a device key from
:mod:`tokens` does, and so does :class:`SoftwareKey`, which tests and the local CA use. Keeping the
surface this small is what lets one builder sign with an HSM, a smart card or a key in memory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from asn1crypto import keys as asn1_keys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

HashName = Literal["sha1", "sha256", "sha384", "sha512"]
KeyAlgorithm = Literal["rsa", "ec"]
KeyTransport = Literal["rsa-pkcs1v15", "rsa-oaep-sha1", "rsa-oaep-sha256"]
"""How a symmetric key is wrapped with an RSA key. OAEP uses MGF1 with the same hash and an empty label."""
PrivateKeyWrapping = Literal["aes-kwp", "aes-cbc-pad"]
"""How an archivable private key (PKCS#8) is wrapped under a session AES key."""


@runtime_checkable
class Signer(Protocol):
    """A private key that signs where it lives."""

    @property
    def key_algorithm(self) -> KeyAlgorithm: ...

    @property
    def public_key_info(self) -> asn1_keys.PublicKeyInfo: ...

    def sign(self, data: bytes, hash_name: HashName = "sha256", *, pss: bool = False) -> bytes:
        """Hash ``data`` and sign it.

        RSA: PKCS#1 v1.5, or RSA-PSS (MGF1 with the same hash, salt length = hash length) when ``pss``.
        EC: ECDSA, returned as the DER ``Ecdsa-Sig-Value`` that CMS and X.509 carry.
        """
        ...


@runtime_checkable
class ChallengeDecrypter(Protocol):
    """An RSA private key that recovers data sent to it under a wrapped session key (EncryptedPOP)."""

    def decrypt_with_wrapped_key(
        self,
        encrypted_key: bytes,
        transport: KeyTransport,
        iv: bytes,
        ciphertext: bytes,
        *,
        remove_padding: bool = False,
    ) -> bytes:
        """Unwrap an AES key with this private key, then AES-CBC-decrypt ``ciphertext`` under it.

        On a device both steps run on the device: the session key never leaves it.
        """
        ...


@runtime_checkable
class ArchivableKey(Protocol):
    """A private key that may leave its device, but only wrapped, for archival in a KRA."""

    def wrap_private_key(
        self, session_key: bytes, wrapping: PrivateKeyWrapping, iv: bytes | None = None
    ) -> bytes:
        """Wrap this private key (its PKCS#8 ``PrivateKeyInfo``) under the AES ``session_key``.

        ``aes-kwp`` is AES key wrap with padding (RFC 5649 as the device implements it); ``aes-cbc-pad``
        is AES-CBC with PKCS#7 padding and needs ``iv``.
        """
        ...


_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def hash_algorithm(name: str) -> hashes.HashAlgorithm:
    """The ``cryptography`` hash object for one of our hash names."""
    try:
        return _HASHES[name]()
    except KeyError:
        raise ValueError(f"unsupported hash {name!r}; use one of {', '.join(_HASHES)}") from None


def rsa_transport_padding(transport: KeyTransport) -> padding.AsymmetricPadding:
    """The ``cryptography`` padding object for a key-transport choice."""
    if transport == "rsa-pkcs1v15":
        return padding.PKCS1v15()
    digest = hash_algorithm("sha1" if transport == "rsa-oaep-sha1" else "sha256")
    return padding.OAEP(mgf=padding.MGF1(digest), algorithm=digest, label=None)


@dataclass(frozen=True)
class SoftwareKey:
    """A private key held in memory by ``cryptography``: for tests, benchmarks and the local CA.

    Never used for a user's key: those are generated on a device.
    """

    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    @classmethod
    def generate(cls, spec: str = "rsa:2048") -> SoftwareKey:
        """Make a key from a spec such as ``rsa:2048`` or ``ec:p256``."""
        kind, _, size = spec.partition(":")
        if kind == "rsa":
            return cls(rsa.generate_private_key(public_exponent=65537, key_size=int(size or 2048)))
        curves: dict[str, ec.EllipticCurve] = {
            "p256": ec.SECP256R1(),
            "p384": ec.SECP384R1(),
            "p521": ec.SECP521R1(),
        }
        if kind == "ec" and size in curves:
            return cls(ec.generate_private_key(curves[size]))
        raise ValueError(f"unsupported key spec {spec!r}; use rsa:BITS or ec:p256|p384|p521")

    @classmethod
    def from_pem(cls, data: bytes, password: bytes | None = None) -> SoftwareKey:
        key = serialization.load_pem_private_key(data, password=password)
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError("only RSA and EC private keys are supported")
        return cls(key)

    @property
    def key_algorithm(self) -> KeyAlgorithm:
        return "rsa" if isinstance(self.private_key, rsa.RSAPrivateKey) else "ec"

    @property
    def public_key_info(self) -> asn1_keys.PublicKeyInfo:
        der = self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return asn1_keys.PublicKeyInfo.load(der)

    def sign(self, data: bytes, hash_name: HashName = "sha256", *, pss: bool = False) -> bytes:
        digest = hash_algorithm(hash_name)
        if isinstance(self.private_key, rsa.RSAPrivateKey):
            pad: padding.AsymmetricPadding = (
                padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
                if pss
                else padding.PKCS1v15()
            )
            return self.private_key.sign(data, pad, digest)
        if pss:
            raise ValueError("RSA-PSS needs an RSA key")
        return self.private_key.sign(data, ec.ECDSA(digest))

    def decrypt_with_wrapped_key(
        self,
        encrypted_key: bytes,
        transport: KeyTransport,
        iv: bytes,
        ciphertext: bytes,
        *,
        remove_padding: bool = False,
    ) -> bytes:
        if not isinstance(self.private_key, rsa.RSAPrivateKey):
            raise ValueError("unwrapping a session key needs an RSA key")
        session_key = self.private_key.decrypt(encrypted_key, rsa_transport_padding(transport))
        decryptor = Cipher(algorithms.AES(session_key), modes.CBC(iv)).decryptor()
        plain = decryptor.update(ciphertext) + decryptor.finalize()
        if remove_padding:
            plain = strip_pkcs7(plain)
        return plain

    def wrap_private_key(
        self, session_key: bytes, wrapping: PrivateKeyWrapping, iv: bytes | None = None
    ) -> bytes:
        pkcs8 = self.private_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        if wrapping == "aes-kwp":
            return aes_key_wrap_with_padding(session_key, pkcs8)
        if iv is None:
            raise ValueError("aes-cbc-pad wrapping needs an IV")
        pad_len = 16 - len(pkcs8) % 16
        encryptor = Cipher(algorithms.AES(session_key), modes.CBC(iv)).encryptor()
        return encryptor.update(pkcs8 + bytes([pad_len]) * pad_len) + encryptor.finalize()


def strip_pkcs7(data: bytes, block_size: int = 16) -> bytes:
    """Remove PKCS#7 padding, refusing anything malformed."""
    if not data or len(data) % block_size:
        raise ValueError("padded data is not a whole number of blocks")
    pad_len = data[-1]
    if not 1 <= pad_len <= block_size or data[-pad_len:] != bytes([pad_len]) * pad_len:
        raise ValueError("bad PKCS#7 padding")
    return data[:-pad_len]


def random_bytes(n: int) -> bytes:
    """Random bytes from the operating system (nonces, IVs, session keys made in software)."""
    return os.urandom(n)
