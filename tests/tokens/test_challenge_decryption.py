"""EncryptedPOP's session key on devices without ``C_UnwrapKey`` or without AES-CBC.

The choice is checked as a pure function; the host path runs on real SoftHSM2 with the unwrap (or the AES)
mechanism hidden where the token's mechanism list enters (:meth:`OpenToken.mechanisms_with`): the RSA
decryption is still SoftHSM2's own ``C_Decrypt``, the challenge is made by ``cryptography``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from pkcs11 import Mechanism, MechanismFlag

from agent.keyops import KeyTransport, rsa_transport_padding
from tests.tokens.test_keys import fresh_label
from tokens.device import OpenToken
from tokens.errors import MechanismNotSupported, OperationFailed
from tokens.keys import DeviceKey, generate_key_pair
from tokens.mechanisms import choose_challenge_decryption

RSA_BOTH = frozenset({Mechanism.RSA_PKCS, Mechanism.RSA_PKCS_OAEP})
AES = frozenset({Mechanism.AES_CBC, Mechanism.AES_CBC_PAD})
HOST_LOG = "the session key is decrypted on the device, the challenge with it on this host"


def test_unwrap_with_aes_on_the_device_stays_first_choice() -> None:
    spec = choose_challenge_decryption("rsa-pkcs1v15", False, RSA_BOTH, RSA_BOTH | AES, "hsm")
    assert (spec.transport.mechanism, spec.on_device_cbc) == (Mechanism.RSA_PKCS, Mechanism.AES_CBC)
    padded = choose_challenge_decryption("rsa-oaep-sha1", True, RSA_BOTH, RSA_BOTH | AES, "hsm")
    assert (padded.transport.mechanism, padded.on_device_cbc) == (
        Mechanism.RSA_PKCS_OAEP,
        Mechanism.AES_CBC_PAD,
    )


def test_no_unwrap_or_no_aes_decrypts_the_session_key_and_leaves_aes_to_the_host() -> None:
    tpm = choose_challenge_decryption("rsa-oaep-sha256", False, frozenset(), RSA_BOTH | AES, "tpm")
    assert tpm.transport.mechanism == Mechanism.RSA_PKCS_OAEP and not tpm.on_device
    assert tpm.transport.param[0] == Mechanism.SHA256
    card = choose_challenge_decryption("rsa-pkcs1v15", False, RSA_BOTH, RSA_BOTH, "card")
    assert card.transport.mechanism == Mechanism.RSA_PKCS and not card.on_device
    # AES-CBC without padding is not enough for a padded (RFC 5272) challenge on the device.
    padded = choose_challenge_decryption("rsa-pkcs1v15", True, RSA_BOTH, RSA_BOTH | {Mechanism.AES_CBC}, "x")
    assert not padded.on_device


def test_a_device_that_can_do_neither_is_one_clear_error() -> None:
    with pytest.raises(MechanismNotSupported, match=r"token 'sign-only' cannot recover the session key"):
        choose_challenge_decryption("rsa-pkcs1v15", False, frozenset(), AES, "sign-only")
    no_oaep = r"\(rsa-oaep-sha1\): it offers CKM_RSA_PKCS_OAEP for neither"
    with pytest.raises(MechanismNotSupported, match=no_oaep):
        choose_challenge_decryption("rsa-oaep-sha1", False, frozenset(), {Mechanism.RSA_PKCS}, "no-oaep")


@pytest.fixture(scope="module")
def decrypt_key(sh_token: OpenToken) -> DeviceKey:
    return generate_key_pair(sh_token, fresh_label("pop-host"), "rsa:2048")


@pytest.fixture(params=["no-unwrap", "no-aes"])
def host_only(request: pytest.FixtureRequest, sh_token: OpenToken) -> Iterator[OpenToken]:
    """SoftHSM2 seen as a device without C_UnwrapKey (a TPM), or without AES-CBC (most cards)."""
    real = sh_token.mechanisms_with

    def reduced(flag: MechanismFlag) -> frozenset[object]:
        found = real(flag)
        if request.param == "no-unwrap" and flag == MechanismFlag.UNWRAP:
            return frozenset()
        if request.param == "no-aes":
            return found - AES
        return found

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sh_token, "mechanisms_with", reduced)
        yield sh_token


def _challenge(
    key: DeviceKey, transport: KeyTransport, plain: bytes, key_size: int = 16
) -> tuple[bytes, ...]:
    public = serialization.load_der_public_key(key.public_key_info.dump())
    assert isinstance(public, rsa.RSAPublicKey)
    session_key, iv = os.urandom(key_size), os.urandom(16)
    encryptor = Cipher(algorithms.AES(session_key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(plain) + encryptor.finalize()
    return public.encrypt(session_key, rsa_transport_padding(transport)), iv, ciphertext


@pytest.mark.parametrize("transport", ["rsa-pkcs1v15", "rsa-oaep-sha1"])
def test_softhsm_without_unwrap_or_aes_recovers_the_challenge_on_the_host(
    decrypt_key: DeviceKey, host_only: OpenToken, transport: KeyTransport, caplog: pytest.LogCaptureFixture
) -> None:
    challenge = os.urandom(64)
    encrypted_key, iv, ciphertext = _challenge(decrypt_key, transport, challenge)
    with caplog.at_level(logging.INFO, logger="tokens.keys"):
        assert decrypt_key.decrypt_with_wrapped_key(encrypted_key, transport, iv, ciphertext) == challenge
    assert HOST_LOG in caplog.text


def test_host_path_removes_pkcs7_padding_and_takes_aes_256(
    decrypt_key: DeviceKey, host_only: OpenToken
) -> None:
    secret = b"an RFC 5272 challenge"
    padded = secret + bytes([11]) * 11
    encrypted_key, iv, ciphertext = _challenge(decrypt_key, "rsa-pkcs1v15", padded, key_size=32)
    plain = decrypt_key.decrypt_with_wrapped_key(
        encrypted_key, "rsa-pkcs1v15", iv, ciphertext, remove_padding=True
    )
    assert plain == secret


def test_host_path_with_another_keys_session_key_is_one_error(
    decrypt_key: DeviceKey, host_only: OpenToken, sh_token: OpenToken
) -> None:
    other = generate_key_pair(sh_token, fresh_label("pop-other"), "rsa:2048")
    encrypted_key, iv, ciphertext = _challenge(other, "rsa-oaep-sha1", os.urandom(64))
    with pytest.raises(OperationFailed, match=r"decrypting the session key on token .* failed"):
        decrypt_key.decrypt_with_wrapped_key(encrypted_key, "rsa-oaep-sha1", iv, ciphertext)


def test_softhsm_with_unwrap_and_aes_still_unwraps_on_the_device(
    decrypt_key: DeviceKey, caplog: pytest.LogCaptureFixture
) -> None:
    challenge = os.urandom(64)
    encrypted_key, iv, ciphertext = _challenge(decrypt_key, "rsa-pkcs1v15", challenge)
    with caplog.at_level(logging.INFO, logger="tokens.keys"):
        assert (
            decrypt_key.decrypt_with_wrapped_key(encrypted_key, "rsa-pkcs1v15", iv, ciphertext) == challenge
        )
    assert HOST_LOG not in caplog.text
