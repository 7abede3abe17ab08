"""The KRA: archive a private key sent in CRMF ``PKIArchiveOptions`` and give it back on recovery.

What Dogtag's KRA does with an archival request (dogtag-cmc-server.md §9): check that the request was
made for the current transport certificate, unwrap the session key with the transport private key
(PKCS#1 v1.5, or OAEP SHA-256 when ``keyWrap.useOAEP``), unwrap the private key with the session key
according to ``symmAlg``, check it against the requested public key, and keep it under a storage key.
Errors carry the KRA's texts ("Invalid Private Key: ..."), which the CA reports as a rejection.

Storage: AES-256-GCM under ``DIR/kra-storage.key`` with the public key as associated data, so a stored
record cannot be moved to another key. Dogtag re-wraps under a storage *certificate*; the property a
test needs, that the key is kept encrypted and comes back intact, is the same.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from asn1crypto import cms, core
from asn1crypto import keys as asn1_keys
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap,
    aes_key_unwrap_with_padding,
)

from agent.cmc.asn1 import crmf
from agent.keyops import rsa_transport_padding, strip_pkcs7
from localca.store import ArchivedKeyRecord, Store

AES_KEY_WRAP_PAD = "2.16.840.1.101.3.4.1.8"
AES_128_CBC = "2.16.840.1.101.3.4.1.2"
DES_EDE3_CBC = "1.2.840.113549.3.7"
DES_CBC = "1.3.14.3.2.7"

INVALID_PRIVATE_KEY = "Invalid Private Key"
INVALID_PUBLIC_KEY = "Invalid Public Key"
INVALID_TRANSPORT_CERT = "Invalid Transport Certificate"


class KRAError(Exception):
    """The KRA refused the archival; the text is the KRA's error as the CA receives it."""


@dataclass(frozen=True)
class WrappedKey:
    """The three things any PKIArchiveOptions form yields."""

    algorithm_oid: str
    iv: bytes
    wrapped_session_key: bytes
    wrapped_private_key: bytes


def _iv_from_parameters(parameters: core.Asn1Value) -> bytes:
    """Dogtag's KRA insists that the symmetric algorithm's parameters decode as an OCTET STRING."""
    try:
        value = core.OctetString.load(parameters.dump()).native
    except (ValueError, TypeError):
        raise KRAError(f"{INVALID_PRIVATE_KEY}: symmAlg parameters are not an OCTET STRING") from None
    return bytes(value or b"")


def read_archive_options(options: crmf.PKIArchiveOptions) -> WrappedKey:
    """Take the algorithm, IV and wrapped keys out of either EncryptedKey alternative."""
    if options.name != "encrypted_priv_key":
        raise KRAError(f"{INVALID_PRIVATE_KEY}: PKIArchiveOptions carries no encrypted private key")
    encrypted_key = options.chosen
    if encrypted_key.name == "encrypted_value":
        value = encrypted_key.chosen
        symmetric = value["symm_alg"]
        session = value["enc_symm_key"]
        if isinstance(symmetric, core.Void) or isinstance(session, core.Void):
            raise KRAError(f"{INVALID_PRIVATE_KEY}: EncryptedValue lacks symmAlg or encSymmKey")
        return WrappedKey(
            algorithm_oid=symmetric["algorithm"].dotted,
            iv=_iv_from_parameters(symmetric["parameters"]),
            wrapped_session_key=bytes(session.native),
            wrapped_private_key=bytes(value["enc_value"].native),
        )
    enveloped: cms.EnvelopedData = encrypted_key.chosen
    recipients = enveloped["recipient_infos"]
    if len(recipients) == 0 or recipients[0].name != "ktri":
        raise KRAError(f"{INVALID_PRIVATE_KEY}: EnvelopedData has no key transport recipient")
    content_info = enveloped["encrypted_content_info"]
    algorithm = content_info["content_encryption_algorithm"]
    encrypted_content = content_info["encrypted_content"]
    if isinstance(encrypted_content, core.Void):
        raise KRAError(f"{INVALID_PRIVATE_KEY}: EnvelopedData has no encrypted content")
    return WrappedKey(
        algorithm_oid=algorithm["algorithm"].dotted,
        iv=_iv_from_parameters(algorithm["parameters"]),
        wrapped_session_key=recipients[0].chosen["encrypted_key"].native,
        wrapped_private_key=bytes(encrypted_content.native),
    )


def _cbc_decrypt(cipher_algorithm: algorithms.AES | TripleDES, iv: bytes, data: bytes) -> bytes:
    decryptor = Cipher(cipher_algorithm, modes.CBC(iv)).decryptor()
    return strip_pkcs7(decryptor.update(data) + decryptor.finalize(), cipher_algorithm.block_size // 8)


def unwrap_private_key(wrapped: WrappedKey, session_key: bytes) -> bytes:
    """The PKCS#8 bytes, by the symmAlg OID (JSS WrappingParams)."""
    data = wrapped.wrapped_private_key
    try:
        if wrapped.algorithm_oid == AES_KEY_WRAP_PAD:
            try:
                return aes_key_unwrap_with_padding(session_key, data)
            except InvalidUnwrap:
                # NSS's CKM_NSS_AES_KEY_WRAP_PAD: PKCS#7 padding, then RFC 3394 key wrap.
                return strip_pkcs7(aes_key_unwrap(session_key, data), 8)
        if wrapped.algorithm_oid == AES_128_CBC:
            return _cbc_decrypt(algorithms.AES(session_key), wrapped.iv, data)
        if wrapped.algorithm_oid in (DES_EDE3_CBC, DES_CBC):
            key = session_key * 3 if len(session_key) == 8 else session_key
            return _cbc_decrypt(TripleDES(key), wrapped.iv, data)
    except (InvalidUnwrap, ValueError) as exc:
        raise KRAError(f"{INVALID_PRIVATE_KEY}: {exc or 'unwrapping failed'}") from None
    raise KRAError(f"{INVALID_PRIVATE_KEY}: unsupported wrapping algorithm {wrapped.algorithm_oid}")


def _first_der_element(data: bytes) -> bytes:
    """Cut a DER value out of bytes a device may have zero-padded (SoftHSM2 pads to 8 before RFC 5649)."""
    if len(data) < 2 or data[0] != 0x30:
        return data
    length = data[1]
    offset = 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[2 : 2 + count], "big")
        offset = 2 + count
    return data[: offset + length]


@dataclass(frozen=True)
class ArchivalResult:
    key_id: int
    algorithm: str
    size: str


class KeyRecoveryAuthority:
    def __init__(
        self,
        *,
        store: Store,
        transport_key: rsa.RSAPrivateKey,
        transport_certificate_b64: str,
        storage_key: bytes,
    ) -> None:
        self._store = store
        self._transport_key = transport_key
        self._transport_certificate_b64 = transport_certificate_b64
        self._storage = AESGCM(storage_key)

    def archive(
        self,
        *,
        options_der: bytes,
        request_transport_certificate_b64: str,
        requested_public_key: asn1_keys.PublicKeyInfo,
        owner: str,
        request_id: int | None,
        use_oaep: bool,
    ) -> ArchivalResult:
        if "".join(request_transport_certificate_b64.split()) != self._transport_certificate_b64:
            raise KRAError(INVALID_TRANSPORT_CERT)
        try:
            options = crmf.PKIArchiveOptions.load(options_der)
            wrapped = read_archive_options(options)
        except KRAError:
            raise
        except (ValueError, TypeError, KeyError) as exc:
            raise KRAError(f"{INVALID_PRIVATE_KEY}: {exc}") from None
        try:
            session_key = self._transport_key.decrypt(
                wrapped.wrapped_session_key,
                rsa_transport_padding("rsa-oaep-sha256" if use_oaep else "rsa-pkcs1v15"),
            )
        except ValueError:
            raise KRAError(f"{INVALID_PRIVATE_KEY}: the session key cannot be unwrapped") from None
        pkcs8 = _first_der_element(unwrap_private_key(wrapped, session_key))
        try:
            private_key = serialization.load_der_private_key(pkcs8, password=None)
        except (ValueError, TypeError) as exc:
            raise KRAError(f"{INVALID_PRIVATE_KEY}: {exc}") from None
        public_der = private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        try:
            requested_der = serialization.load_der_public_key(requested_public_key.dump()).public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        except ValueError as exc:
            raise KRAError(f"{INVALID_PUBLIC_KEY}: {exc}") from None
        if public_der != requested_der:
            raise KRAError(
                f"{INVALID_PUBLIC_KEY}: the archived private key does not match the requested public key"
            )
        if isinstance(private_key, rsa.RSAPrivateKey):
            algorithm, size = "RSA", str(private_key.key_size)
        elif isinstance(private_key, ec.EllipticCurvePrivateKey):
            algorithm, size = "EC", private_key.curve.name
        else:
            raise KRAError(f"{INVALID_PRIVATE_KEY}: unsupported key type")
        normalised = private_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        nonce = os.urandom(12)
        sealed = self._storage.encrypt(nonce, normalised, requested_public_key.dump())
        key_id = self._store.add_archived_key(
            request_id=request_id,
            owner=owner,
            algorithm=algorithm,
            size=size,
            public_key=requested_public_key.dump(),
            nonce=nonce,
            wrapped_key=sealed,
        )
        return ArchivalResult(key_id=key_id, algorithm=algorithm, size=size)

    def recover(self, record: ArchivedKeyRecord) -> bytes:
        """The archived key as PKCS#8 DER."""
        return self._storage.decrypt(record.nonce, record.wrapped_key, record.public_key)
