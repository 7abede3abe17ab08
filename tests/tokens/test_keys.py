"""Keys generated on real devices: attributes seen by tools we did not write, and every operation checked
with an independent implementation (cryptography)."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import threading
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_unwrap_with_padding

from agent.keyops import ArchivableKey, ChallengeDecrypter, Signer, rsa_transport_padding, strip_pkcs7
from tests.devices import NSSDatabase, SoftHSMToken
from tokens.device import OpenToken
from tokens.errors import KeyNotFound, MechanismNotSupported, ObjectExists, OperationFailed
from tokens.keys import DeviceKey, find_private_key, generate_key_pair, list_private_keys, nss_key_id
from tokens.uri import Pkcs11Uri

_labels = itertools.count()


def fresh_label(prefix: str) -> str:
    return f"{prefix}-{os.getpid()}-{next(_labels)}"


def public_key(key: DeviceKey) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    loaded = serialization.load_der_public_key(key.public_key_info.dump())
    assert isinstance(loaded, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
    return loaded


@pytest.fixture(scope="module")
def sh_rsa(sh_token: OpenToken) -> DeviceKey:
    return generate_key_pair(sh_token, fresh_label("rsa"), "rsa:2048")


@pytest.fixture(scope="module")
def sh_archivable(sh_token: OpenToken) -> DeviceKey:
    return generate_key_pair(sh_token, fresh_label("arch"), "rsa:2048", archivable=True)


@pytest.fixture(scope="module")
def nss_rsa(nss_token: OpenToken) -> DeviceKey:
    return generate_key_pair(nss_token, fresh_label("nss-rsa"), "rsa:2048", archivable=True)


@pytest.mark.parametrize("key_type", ["rsa:2048", "ec:p256", "ec:p384", "ec:p521"])
def test_generated_key_signs_and_verifies_independently(any_token: OpenToken, key_type: str) -> None:
    key = generate_key_pair(any_token, fresh_label(key_type.replace(":", "")), key_type)
    assert isinstance(key, Signer)
    verifier = public_key(key)
    for hash_name, hash_cls in (
        ("sha256", hashes.SHA256),
        ("sha384", hashes.SHA384),
        ("sha512", hashes.SHA512),
    ):
        signature = key.sign(b"to be signed", hash_name)
        if isinstance(verifier, rsa.RSAPublicKey):
            verifier.verify(signature, b"to be signed", padding.PKCS1v15(), hash_cls())
            pss = key.sign(b"to be signed", hash_name, pss=True)
            salt = hash_cls.digest_size
            verifier.verify(pss, b"to be signed", padding.PSS(padding.MGF1(hash_cls()), salt), hash_cls())
        else:
            verifier.verify(signature, b"to be signed", ec.ECDSA(hash_cls()))
    assert key.key_id == nss_key_id(key.public_key_info)


def test_rsa_4096_and_3072_generate(sh_token: OpenToken) -> None:
    for key_type, bits in (("rsa:3072", 3072), ("rsa:4096", 4096)):
        key = generate_key_pair(sh_token, fresh_label("big"), key_type)
        assert key.public_key_info.bit_size == bits


def _pkcs11_tool_objects(softhsm: SoftHSMToken) -> str:
    return subprocess.run(
        ["pkcs11-tool", "--module", softhsm.module, "--token-label", softhsm.label, "--login",
         "--pin", softhsm.pin, "--list-objects", "--type", "privkey"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip


def test_pkcs11_tool_sees_key_sensitive_and_never_extractable(
    sh_rsa: DeviceKey, softhsm: SoftHSMToken
) -> None:
    listing = _pkcs11_tool_objects(softhsm)
    block = listing.split(f"label:      {sh_rsa.label}")[1].split("Private Key Object")[0]
    assert "sensitive" in block and "never extractable" in block, block
    assert f"ID:         {sh_rsa.key_id.hex()}" in block


def test_archivable_key_is_extractable_but_sensitive(sh_archivable: DeviceKey, softhsm: SoftHSMToken) -> None:
    listing = _pkcs11_tool_objects(softhsm)
    block = listing.split(f"label:      {sh_archivable.label}")[1].split("Private Key Object")[0]
    assert "sensitive" in block and "extractable" in block and "never extractable" not in block, block


def test_certutil_lists_our_nss_key_under_its_nickname_and_nss_id(
    nss_rsa: DeviceKey, nssdb: NSSDatabase
) -> None:
    out = subprocess.run(
        ["certutil", "-K", "-d", f"sql:{nssdb.directory}", "-f", str(nssdb.password_file)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert re.search(rf"rsa\s+{nss_rsa.key_id.hex()}\s+{re.escape(nss_rsa.label or '')}", out), out


def _encrypted_challenge(key: DeviceKey, transport: str) -> tuple[bytes, bytes, bytes, bytes]:
    verifier = public_key(key)
    assert isinstance(verifier, rsa.RSAPublicKey)
    session_key, iv, challenge = os.urandom(16), os.urandom(16), os.urandom(64)
    encrypted_key = verifier.encrypt(session_key, rsa_transport_padding(transport))  # type: ignore[arg-type]
    encryptor = Cipher(algorithms.AES(session_key), modes.CBC(iv)).encryptor()
    return encrypted_key, iv, encryptor.update(challenge) + encryptor.finalize(), challenge


@pytest.mark.parametrize("transport", ["rsa-pkcs1v15", "rsa-oaep-sha1"])
def test_softhsm_recovers_a_challenge_on_the_device(sh_rsa: DeviceKey, transport: str) -> None:
    assert isinstance(sh_rsa, ChallengeDecrypter)
    encrypted_key, iv, ciphertext, challenge = _encrypted_challenge(sh_rsa, transport)
    assert sh_rsa.decrypt_with_wrapped_key(encrypted_key, transport, iv, ciphertext) == challenge  # type: ignore[arg-type]


@pytest.mark.parametrize("transport", ["rsa-pkcs1v15", "rsa-oaep-sha1", "rsa-oaep-sha256"])
def test_nss_recovers_a_challenge_on_the_device(nss_rsa: DeviceKey, transport: str) -> None:
    encrypted_key, iv, ciphertext, challenge = _encrypted_challenge(nss_rsa, transport)
    assert nss_rsa.decrypt_with_wrapped_key(encrypted_key, transport, iv, ciphertext) == challenge  # type: ignore[arg-type]


def test_softhsm_oaep_sha256_is_a_clear_mechanism_error(sh_rsa: DeviceKey) -> None:
    encrypted_key, iv, ciphertext, _ = _encrypted_challenge(sh_rsa, "rsa-oaep-sha256")
    with pytest.raises(MechanismNotSupported, match=r"keyWrap\.useOAEP=false"):
        sh_rsa.decrypt_with_wrapped_key(encrypted_key, "rsa-oaep-sha256", iv, ciphertext)  # type: ignore[arg-type]


def test_padded_decryption_removes_pkcs7(nss_rsa: DeviceKey) -> None:
    verifier = public_key(nss_rsa)
    assert isinstance(verifier, rsa.RSAPublicKey)
    session_key, iv = os.urandom(16), os.urandom(16)
    secret = b"a passphrase"
    enc = Cipher(algorithms.AES(session_key), modes.CBC(iv)).encryptor()
    ciphertext = enc.update(secret + b"\x04" * 4) + enc.finalize()
    wrapped = verifier.encrypt(session_key, padding.PKCS1v15())
    plain = nss_rsa.decrypt_with_wrapped_key(wrapped, "rsa-pkcs1v15", iv, ciphertext, remove_padding=True)
    assert plain == secret


def _matches_public_key(pkcs8: bytes, key: DeviceKey) -> bool:
    private = serialization.load_der_private_key(pkcs8, password=None)
    return (
        private.public_key().public_bytes(  # type: ignore[union-attr]
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        == key.public_key_info.dump()
    )


def test_softhsm_archival_wrap_is_rfc5649_of_a_zero_padded_pkcs8(sh_archivable: DeviceKey) -> None:
    assert isinstance(sh_archivable, ArchivableKey)
    session_key = os.urandom(16)
    wrapped = sh_archivable.wrap_private_key(session_key, "aes-kwp")
    pkcs8 = aes_key_unwrap_with_padding(session_key, wrapped)
    # SoftHSM2 2.6 zero-pads the key to a multiple of 8 bytes before RFC 5649 wrapping (token-notes.md).
    assert len(pkcs8) % 8 == 0
    from asn1crypto.keys import PrivateKeyInfo

    info = PrivateKeyInfo.load(pkcs8.rstrip(b"\0") if pkcs8.endswith(b"\0") else pkcs8, strict=False)
    assert _matches_public_key(info.dump(), sh_archivable)


def test_nss_archival_wrap_is_pkcs7_padded_rfc3394(nss_rsa: DeviceKey) -> None:
    session_key = os.urandom(16)
    wrapped = nss_rsa.wrap_private_key(session_key, "aes-kwp")
    pkcs8 = strip_pkcs7(aes_key_unwrap(session_key, wrapped), block_size=8)
    assert _matches_public_key(pkcs8, nss_rsa)
    iv = os.urandom(16)
    wrapped_cbc = nss_rsa.wrap_private_key(session_key, "aes-cbc-pad", iv)
    dec = Cipher(algorithms.AES(session_key), modes.CBC(iv)).decryptor()
    assert _matches_public_key(strip_pkcs7(dec.update(wrapped_cbc) + dec.finalize()), nss_rsa)


def test_non_archivable_key_refuses_to_leave_the_device(sh_rsa: DeviceKey) -> None:
    with pytest.raises(OperationFailed, match="--archivable"):
        sh_rsa.wrap_private_key(os.urandom(16), "aes-kwp")


def test_found_by_label_and_by_id(sh_token: OpenToken, sh_rsa: DeviceKey) -> None:
    by_label = find_private_key(sh_token, Pkcs11Uri(object=sh_rsa.label))
    by_id = find_private_key(sh_token, Pkcs11Uri(id=sh_rsa.key_id))
    assert by_label.key_id == by_id.key_id == sh_rsa.key_id
    assert by_label.public_key_info.dump() == sh_rsa.public_key_info.dump()


def test_listing_shows_the_key_with_its_uri(sh_token: OpenToken, sh_rsa: DeviceKey) -> None:
    listed = {k.key_id: k for k in list_private_keys(sh_token)}
    entry = listed[sh_rsa.key_id]
    assert entry.key_type == "rsa:2048" and entry.sensitive and not entry.extractable
    assert Pkcs11Uri.parse(str(entry.uri)).id == sh_rsa.key_id


def test_unknown_label_is_key_not_found(sh_token: OpenToken) -> None:
    with pytest.raises(KeyNotFound, match="no private key matches pkcs11:object=nope"):
        find_private_key(sh_token, Pkcs11Uri(object="nope"))


def test_duplicate_label_is_refused_and_nothing_is_generated(sh_token: OpenToken, sh_rsa: DeviceKey) -> None:
    before = len(list(list_private_keys(sh_token)))
    with pytest.raises(ObjectExists, match="already has a key"):
        generate_key_pair(sh_token, sh_rsa.label or "", "rsa:2048")
    assert len(list(list_private_keys(sh_token))) == before


def test_two_threads_sign_at_once_without_crash_or_serialisation(sh_rsa: DeviceKey) -> None:
    """Each thread records when its signatures were in flight; overlapping intervals prove both threads
    were inside the device at the same time (no lock of ours around the call)."""
    intervals: dict[int, list[tuple[float, float]]] = {0: [], 1: []}
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)
    verifier = public_key(sh_rsa)
    assert isinstance(verifier, rsa.RSAPublicKey)

    def work(index: int) -> None:
        try:
            barrier.wait()
            for n in range(150):
                start = time.perf_counter()
                signature = sh_rsa.sign(f"{index}-{n}".encode())
                intervals[index].append((start, time.perf_counter()))
                if n % 50 == 0:
                    verifier.verify(signature, f"{index}-{n}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    overlapping = sum(
        1
        for a_start, a_end in intervals[0]
        for b_start, b_end in intervals[1]
        if a_start < b_end and b_start < a_end
    )
    assert overlapping > 50, f"only {overlapping} overlapping signature calls: the threads were serialised"


def test_key_that_wants_a_login_before_each_use(sh_token: OpenToken) -> None:
    """PIV signature keys carry CKA_ALWAYS_AUTHENTICATE; SoftHSM2 enforces it like a card does."""
    from pkcs11 import Attribute, KeyType

    label = fresh_label("piv")
    sh_token.session().generate_keypair(
        KeyType.RSA, 2048, label=label, id=os.urandom(8), store=True,
        private_template={Attribute.ALWAYS_AUTHENTICATE: True, Attribute.SENSITIVE: True,
                          Attribute.EXTRACTABLE: False, Attribute.DECRYPT: True, Attribute.UNWRAP: True},
    )  # fmt: skip
    key = find_private_key(sh_token, Pkcs11Uri(object=label))
    verifier = public_key(key)
    assert isinstance(verifier, rsa.RSAPublicKey)
    for message in (b"first", b"second"):  # each signature gets its own context-specific login
        verifier.verify(key.sign(message), message, padding.PKCS1v15(), hashes.SHA256())
    encrypted_key, iv, ciphertext, challenge = _encrypted_challenge(key, "rsa-pkcs1v15")
    assert key.decrypt_with_wrapped_key(encrypted_key, "rsa-pkcs1v15", iv, ciphertext) == challenge


def test_ecdsa_signature_encoding_matches_an_independent_encoder() -> None:
    """Our hand-made DER for r || s against asn1crypto's, including leading zeros and high bits."""
    from asn1crypto.algos import DSASignature

    from tokens.keys import ecdsa_signature_der

    cases = [
        bytes(32) + b"\x01" * 32,
        b"\x80" * 32 + b"\x00\x7f" + b"\xff" * 30,
        os.urandom(64),
        os.urandom(132),
    ]
    for raw in cases:
        assert ecdsa_signature_der(raw) == DSASignature.from_p1363(raw).dump()
