"""Shared tokens (dogtag-cmc-server.md §8.2): a passphrase encrypted to the issuance protection certificate.

``ShrTok ::= SEQUENCE { encryptedSession OCTET STRING, encryptedPrivate OCTET STRING }`` where the first
is a random AES-128 key wrapped with the issuance protection RSA key (PKCS#1 v1.5, or OAEP SHA-256 when
``keyWrap.useOAEP=true``) and the second the UTF-8 passphrase under AES-128-CBC with PKCS#7 padding and
the fixed IV of sixteen 0x01 bytes. It is stored as base64 of the DER: on the user's entry (``shrTok``,
enrollment) or in a certificate record (``revShrTok``, revocation).
"""

from __future__ import annotations

import base64
import binascii
import os

from asn1crypto import core
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from agent.keyops import rsa_transport_padding, strip_pkcs7

FIXED_IV = b"\x01" * 16


class SharedTokenError(Exception):
    """The stored token cannot be decrypted (Dogtag then answers badIdentity)."""


class ShrTok(core.Sequence):
    _fields = [
        ("encrypted_session", core.OctetString),
        ("encrypted_private", core.OctetString),
    ]


def encrypt_shared_secret(secret: str, protection_key: rsa.RSAPublicKey, *, oaep: bool) -> str:
    """What CMCSharedToken produces, as one base64 line."""
    session_key = os.urandom(16)
    wrapped = protection_key.encrypt(
        session_key, rsa_transport_padding("rsa-oaep-sha256" if oaep else "rsa-pkcs1v15")
    )
    plain = secret.encode("utf-8")
    pad = 16 - len(plain) % 16
    encryptor = Cipher(algorithms.AES(session_key), modes.CBC(FIXED_IV)).encryptor()
    ciphertext = encryptor.update(plain + bytes([pad]) * pad) + encryptor.finalize()
    token = ShrTok({"encrypted_session": wrapped, "encrypted_private": ciphertext})
    return base64.b64encode(token.dump()).decode("ascii")


def normalise_token_text(text: str) -> str:
    """Join CMCSharedToken's multi-line (CRLF) base64 into the one line the CA stores."""
    return "".join(text.split())


def decrypt_shared_token(token_b64: str, protection_key: rsa.RSAPrivateKey, *, oaep: bool) -> str:
    """``SharedSecret.decryptShrTokData``: base64 -> unwrap the AES key -> AES-CBC-PAD -> UTF-8."""
    try:
        token = ShrTok.load(base64.b64decode(normalise_token_text(token_b64), validate=True))
        wrapped = token["encrypted_session"].native
        ciphertext = token["encrypted_private"].native
        session_key = protection_key.decrypt(
            wrapped, rsa_transport_padding("rsa-oaep-sha256" if oaep else "rsa-pkcs1v15")
        )
        if len(session_key) != 16:
            raise SharedTokenError("the wrapped session key is not an AES-128 key")
        decryptor = Cipher(algorithms.AES(session_key), modes.CBC(FIXED_IV)).decryptor()
        plain = strip_pkcs7(decryptor.update(ciphertext) + decryptor.finalize())
        return plain.decode("utf-8")
    except SharedTokenError:
        raise
    except (ValueError, TypeError, binascii.Error) as exc:
        raise SharedTokenError(f"shared token cannot be decrypted: {exc}") from None
