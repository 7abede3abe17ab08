"""Private keys on a device: generation, naming, lookup, and the operations the device performs.

A :class:`DeviceKey` satisfies ``agent.keyops.Signer``, ``ChallengeDecrypter`` and ``ArchivableKey``:
the CMC layer signs, unwraps and archives through it without knowing about PKCS#11.
Key ids follow NSS (``CKA_ID`` = SHA-1 of the RSA modulus, or of the raw EC point), so NSS tools,
Dogtag and this project name the same key the same way; labels are NSS nicknames.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from asn1crypto import core as asn1_core
from asn1crypto import keys as asn1_keys
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.padding import PKCS7
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11 import exceptions as p11x
from pkcs11.util.ec import encode_named_curve_parameters

from tokens.device import OpenToken, translate
from tokens.errors import (
    AmbiguousObject,
    InvalidUri,
    KeyNotFound,
    MechanismNotSupported,
    ObjectExists,
    OperationFailed,
)
from tokens.mechanisms import (
    ChallengeDecryptionSpec,
    SigningSpec,
    choose_challenge_decryption,
    choose_private_key_wrap,
    choose_signing,
)
from tokens.uri import Pkcs11Uri

log = logging.getLogger(__name__)

# The same literal types as agent.keyops (which tokens must not import): DeviceKey satisfies its protocols.
HashName = Literal["sha1", "sha256", "sha384", "sha512"]
KeyAlgorithm = Literal["rsa", "ec"]
KeyTransport = Literal["rsa-pkcs1v15", "rsa-oaep-sha1", "rsa-oaep-sha256"]
PrivateKeyWrapping = Literal["aes-kwp", "aes-cbc-pad"]

KEY_TYPES = ("rsa:2048", "rsa:3072", "rsa:4096", "ec:p256", "ec:p384", "ec:p521")
_CURVES = {"p256": "1.2.840.10045.3.1.7", "p384": "1.3.132.0.34", "p521": "1.3.132.0.35"}
_CURVE_NAMES = {oid: name for name, oid in _CURVES.items()}
_DIGEST_INFO_PREFIX = {
    "sha1": bytes.fromhex("3021300906052b0e03021a05000414"),
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}
DOGTAG_KEY_ID_BYTES = 20


# --- key ids -------------------------------------------------------------------------------------


def nss_key_id(public_key_info: asn1_keys.PublicKeyInfo) -> bytes:
    """NSS's CKA_ID for a key: SHA-1 of the RSA modulus (unsigned, minimal), or of the raw EC point."""
    algorithm = public_key_info.algorithm
    if algorithm == "rsa":
        modulus = public_key_info["public_key"].parsed["modulus"].native
        return hashlib.sha1(modulus.to_bytes((modulus.bit_length() + 7) // 8, "big")).digest()  # noqa: S324
    if algorithm == "ec":
        return hashlib.sha1(bytes(public_key_info["public_key"])).digest()  # noqa: S324
    raise OperationFailed(f"no NSS key id convention for {algorithm} keys")


def dogtag_key_id(key_id: bytes) -> str:
    """Dogtag's text form of a key id: Java ``BigInteger(bytes).toString(16)`` (signed, no leading zeros)."""
    value = int.from_bytes(key_id, "big", signed=True)
    return f"-{-value:x}" if value < 0 else f"{value:x}"


def parse_dogtag_key_id(text: str) -> bytes:
    """The key id from Dogtag's text form; ``0x``-prefixed text is plain hex bytes."""
    text = text.strip()
    try:
        if text.lower().startswith("0x"):
            return bytes.fromhex(text[2:])
        value = int(text, 16)
    except ValueError:
        raise InvalidUri(
            f"{text!r} is not a Dogtag key id (signed hex, or 0x followed by hex bytes)"
        ) from None
    length = max(DOGTAG_KEY_ID_BYTES, (value.bit_length() + 8) // 8)
    return value.to_bytes(length, "big", signed=True)


# --- signatures ----------------------------------------------------------------------------------


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded


def _der_unsigned_integer(value: bytes) -> bytes:
    value = value.lstrip(b"\0") or b"\0"
    if value[0] & 0x80:
        value = b"\0" + value
    return b"\x02" + _der_length(len(value)) + value


def ecdsa_signature_der(raw: bytes) -> bytes:
    """PKCS#11's ECDSA signature (r || s, each half the length) as the DER ``Ecdsa-Sig-Value`` that CMS
    and X.509 carry. Done by hand: it is on the signing path, and a generic encoder costs more than the
    device's own P-256 signature."""
    if not raw or len(raw) % 2:
        raise OperationFailed(f"the device returned a {len(raw)}-byte ECDSA signature (r || s expected)")
    half = len(raw) // 2
    body = _der_unsigned_integer(raw[:half]) + _der_unsigned_integer(raw[half:])
    return b"\x30" + _der_length(len(body)) + body


# --- public keys -----------------------------------------------------------------------------------


def _ec_point(raw: bytes) -> bytes:
    """CKA_EC_POINT is a DER OCTET STRING on most tokens, the bare point on some."""
    if raw[:1] == b"\x04":
        try:
            parsed = asn1_core.OctetString.load(raw, strict=True)
            inner = bytes(parsed)
            if inner[:1] in (b"\x04", b"\x02", b"\x03"):
                return inner
        except ValueError:
            pass
    return raw


def public_key_info_of(obj: Any, curve_params: bytes | None = None) -> asn1_keys.PublicKeyInfo:
    """The SubjectPublicKeyInfo of a public (or RSA private) key object.

    Returned parsed from its own DER, so every later ``dump()`` is free: callers compare keys by their
    encoding once per signature, and a freshly built asn1crypto value would re-encode itself each time.
    """
    return asn1_keys.PublicKeyInfo.load(_build_public_key_info(obj, curve_params).dump())


def _build_public_key_info(obj: Any, curve_params: bytes | None) -> asn1_keys.PublicKeyInfo:
    key_type = obj[Attribute.KEY_TYPE]
    if key_type == KeyType.RSA:
        modulus = int.from_bytes(obj[Attribute.MODULUS], "big")
        exponent = int.from_bytes(obj[Attribute.PUBLIC_EXPONENT], "big")
        rsa_key = asn1_keys.RSAPublicKey({"modulus": modulus, "public_exponent": exponent})
        return asn1_keys.PublicKeyInfo.wrap(rsa_key, "rsa")
    if key_type == KeyType.EC:
        params = asn1_keys.ECDomainParameters.load(curve_params or obj[Attribute.EC_PARAMS])
        point = _ec_point(obj[Attribute.EC_POINT])
        return asn1_keys.PublicKeyInfo(
            {"algorithm": {"algorithm": "ec", "parameters": params}, "public_key": point}
        )
    raise OperationFailed(f"unsupported key type {key_type!r}")


def describe_key_type(info: asn1_keys.PublicKeyInfo) -> str:
    """``rsa:2048`` or ``ec:p256``: the same spelling ``keygen --type`` takes."""
    if info.algorithm == "rsa":
        return f"rsa:{info.bit_size}"
    curve = info["algorithm"]["parameters"].chosen
    oid = curve.dotted if isinstance(curve, asn1_core.ObjectIdentifier) else ""
    return f"ec:{_CURVE_NAMES.get(oid, oid or 'explicit')}"


# --- the key ---------------------------------------------------------------------------------------


class DeviceKey:
    """A private key on a device, found by its CKA_ID. Thread-safe: each thread uses its own session."""

    def __init__(
        self, token: OpenToken, key_id: bytes, label: str | None, public_key_info: asn1_keys.PublicKeyInfo
    ):
        self.token = token
        self.key_id = key_id
        self.label = label
        self._public_key_info = public_key_info
        self._local = threading.local()
        self._always_authenticate: bool | None = None
        self._signing_specs: dict[tuple[str, bool], SigningSpec] = {}

    def __repr__(self) -> str:
        return f"DeviceKey({self.uri})"

    @property
    def uri(self) -> Pkcs11Uri:
        return self.token.uri.with_(object=self.label, id=self.key_id, type="private")

    @property
    def key_algorithm(self) -> KeyAlgorithm:
        return "rsa" if self._public_key_info.algorithm == "rsa" else "ec"

    @property
    def public_key_info(self) -> asn1_keys.PublicKeyInfo:
        return self._public_key_info

    @property
    def dogtag_key_id(self) -> str:
        return dogtag_key_id(self.key_id)

    def _private(self) -> Any:
        key = getattr(self._local, "key", None)
        if key is None:
            session = self.token.session()
            try:
                key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=self.key_id)
            except p11x.NoSuchKey:
                raise KeyNotFound(f"private key {self.uri} is no longer on the token") from None
            except p11x.PKCS11Error as exc:
                raise translate(exc, "finding the private key", self.token.label) from None
            self._local.key = key
        return key

    def _context_pin(self) -> str | None:
        """The PIN for a context-specific login, when this key demands one before each use."""
        always = self._always_authenticate
        if always is None:
            try:
                always = bool(self._private()[Attribute.ALWAYS_AUTHENTICATE])
            except p11x.PKCS11Error:
                always = False
            self._always_authenticate = always
        return self.token.context_pin() if always else None

    def signing_spec(self, hash_name: str, pss: bool) -> SigningSpec:
        spec = self._signing_specs.get((hash_name, pss))
        if spec is None:
            spec = choose_signing(
                self.key_algorithm, hash_name, pss, self.token.mechanisms(), self.token.label
            )
            self._signing_specs[(hash_name, pss)] = spec
        return spec

    def sign(self, data: bytes, hash_name: HashName = "sha256", *, pss: bool = False) -> bytes:
        spec = self.signing_spec(hash_name, pss)
        payload = data
        if spec.prehash is not None:
            payload = hashlib.new(spec.prehash, data).digest()
            if spec.digest_info:
                payload = _DIGEST_INFO_PREFIX[spec.prehash] + payload
        pin = self._context_pin()
        try:
            signature = self._private().sign(
                payload, mechanism=spec.mechanism, mechanism_param=spec.param, pin=pin
            )
        except p11x.PKCS11Error as exc:
            raise translate(exc, f"signing with {self.uri}", self.token.label) from None
        return ecdsa_signature_der(bytes(signature)) if spec.ecdsa_raw else bytes(signature)

    def decrypt_with_wrapped_key(
        self,
        encrypted_key: bytes,
        transport: KeyTransport,
        iv: bytes,
        ciphertext: bytes,
        *,
        remove_padding: bool = False,
    ) -> bytes:
        """Recover ``ciphertext`` sent under an AES session key wrapped to this key.

        On the device when it offers ``C_UnwrapKey`` and AES-CBC; otherwise ``C_Decrypt`` gives the session
        key and the AES-CBC runs here (see :func:`tokens.mechanisms.choose_challenge_decryption`).
        """
        if self.key_algorithm != "rsa":
            raise MechanismNotSupported("only RSA keys can unwrap a session key (the CA wraps it with RSA)")
        spec = choose_challenge_decryption(
            transport,
            remove_padding,
            self.token.mechanisms_with(MechanismFlag.UNWRAP),
            self.token.mechanisms_with(MechanismFlag.DECRYPT),
            self.token.label,
        )
        if spec.on_device_cbc is None:
            log.info(
                "token %r offers no C_UnwrapKey with CKM_%s and AES-CBC: the session key is decrypted on the "
                "device, the challenge with it on this host",
                self.token.label,
                spec.transport.mechanism.name,
            )
            return self._decrypt_on_host(spec, transport, encrypted_key, iv, ciphertext, remove_padding)
        # No context-specific login here: it can only follow an operation's *Init, which C_UnwrapKey
        # lacks. PIV key-management (decryption) keys do not demand one; signature keys do (see sign).
        private = self._private()
        try:
            session_key = private.unwrap_key(
                ObjectClass.SECRET_KEY,
                KeyType.AES,
                encrypted_key,
                mechanism=spec.transport.mechanism,
                mechanism_param=spec.transport.param,
                store=False,
                template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, Attribute.DECRYPT: True},
            )
        except p11x.ArgumentsBad:
            raise _transport_refused(self.token.label, transport) from None
        except p11x.PKCS11Error as exc:
            raise translate(exc, "unwrapping the session key", self.token.label) from None
        try:
            return bytes(session_key.decrypt(ciphertext, mechanism=spec.on_device_cbc, mechanism_param=iv))
        except p11x.PKCS11Error as exc:
            raise translate(exc, "decrypting under the session key", self.token.label) from None
        finally:
            try:
                session_key.destroy()
            except p11x.PKCS11Error:
                log.debug("session key already gone")

    def _decrypt_on_host(
        self,
        spec: ChallengeDecryptionSpec,
        transport: KeyTransport,
        encrypted_key: bytes,
        iv: bytes,
        ciphertext: bytes,
        remove_padding: bool,
    ) -> bytes:
        """``C_Decrypt`` the session key, AES-CBC on the host, and overwrite our copy of the key.

        The session key is a one-time value for this one challenge. What Python lets us clear is our own
        ``bytearray`` (zeroed below) and OpenSSL's cipher context (cleansed when ``cryptography`` frees it,
        which reads the key from that same bytearray). It cannot clear the immutable ``bytes`` that
        python-pkcs11 returns nor its output buffer: both are freed at once, not overwritten, and the
        memory is reused by the allocator.
        """
        try:
            decrypted = self._private().decrypt(
                encrypted_key,
                mechanism=spec.transport.mechanism,
                mechanism_param=spec.transport.param,
                pin=self._context_pin(),
            )
        except p11x.ArgumentsBad:
            raise _transport_refused(self.token.label, transport) from None
        except p11x.PKCS11Error as exc:
            raise translate(exc, "decrypting the session key", self.token.label) from None
        session_key = bytearray(decrypted)
        del decrypted
        try:
            if len(session_key) not in (16, 24, 32):
                raise OperationFailed(
                    f"the decrypted session key is {len(session_key)} bytes, not an AES key; check that this "
                    "is the request key and that OAEP is used exactly when the CA uses it"
                )
            decryptor = Cipher(algorithms.AES(session_key), modes.CBC(iv)).decryptor()
            plain = decryptor.update(ciphertext) + decryptor.finalize()
        except ValueError as exc:
            raise OperationFailed(f"AES-CBC decryption of the challenge failed: {exc}") from None
        finally:
            session_key[:] = bytes(len(session_key))
        if not remove_padding:
            return plain
        unpadder = PKCS7(algorithms.AES.block_size).unpadder()
        try:
            return unpadder.update(plain) + unpadder.finalize()
        except ValueError:
            raise OperationFailed("the decrypted challenge has bad PKCS#7 padding") from None

    def wrap_private_key(
        self, session_key: bytes, wrapping: PrivateKeyWrapping, iv: bytes | None = None
    ) -> bytes:
        mechanism = choose_private_key_wrap(wrapping, self.token.mechanisms(), self.token.label)
        if mechanism == Mechanism.AES_CBC_PAD and (iv is None or len(iv) != 16):
            raise OperationFailed("aes-cbc-pad wrapping needs a 16-byte IV")
        private = self._private()
        try:
            extractable = bool(private[Attribute.EXTRACTABLE])
        except p11x.PKCS11Error as exc:
            raise translate(exc, f"reading whether {self.uri} may be archived", self.token.label) from None
        if not extractable:
            raise OperationFailed(
                f"{self.uri} is not extractable, so it cannot be archived; generate the key with --archivable"
            )
        session = self.token.session()
        try:
            wrapping_key = session.create_object(
                {
                    Attribute.CLASS: ObjectClass.SECRET_KEY,
                    Attribute.KEY_TYPE: KeyType.AES,
                    Attribute.VALUE: session_key,
                    Attribute.TOKEN: False,
                    Attribute.WRAP: True,
                    Attribute.ENCRYPT: True,
                    Attribute.SENSITIVE: True,
                }
            )
        except p11x.PKCS11Error as exc:
            raise translate(exc, "importing the archival session key", self.token.label) from None
        try:
            param = iv if mechanism == Mechanism.AES_CBC_PAD else None
            return bytes(wrapping_key.wrap_key(private, mechanism=mechanism, mechanism_param=param))
        except p11x.PKCS11Error as exc:
            raise translate(exc, f"wrapping {self.uri} for archival", self.token.label) from None
        finally:
            try:
                wrapping_key.destroy()
            except p11x.PKCS11Error:
                log.debug("the archival session key was already gone")


def _transport_refused(token_label: str, transport: str) -> MechanismNotSupported:
    return MechanismNotSupported(
        f"token {token_label!r} refused {transport} unwrapping (SoftHSM2 2.6 supports OAEP with "
        "SHA-1 only); ask the CA to use PKCS#1 v1.5 (keyWrap.useOAEP=false) or use another token"
    )


# --- lookup ----------------------------------------------------------------------------------------


def _public_info_for(session: Any, private: Any, key_id: bytes) -> asn1_keys.PublicKeyInfo:
    if private[Attribute.KEY_TYPE] == KeyType.RSA:
        return public_key_info_of(private)
    try:
        public = session.get_key(object_class=ObjectClass.PUBLIC_KEY, id=key_id)
        return public_key_info_of(public)
    except (p11x.NoSuchKey, p11x.MultipleObjectsReturned):
        pass
    from tokens.certs import public_key_from_certificate_object

    info = public_key_from_certificate_object(session, key_id)
    if info is None:
        raise KeyNotFound(
            f"found the EC private key {key_id.hex()} but neither its public key nor its certificate"
        )
    return info


def _label(obj: Any) -> str | None:
    try:
        label = obj[Attribute.LABEL]
    except p11x.AttributeTypeInvalid:
        return None
    return label or None


def find_private_key(token: OpenToken, uri: Pkcs11Uri) -> DeviceKey:
    """The private key the URI names by ``id=`` and/or ``object=`` (a key label or a certificate nickname)."""
    if uri.type not in (None, "private"):
        raise InvalidUri(
            f"{uri.without_secrets()} names a {uri.type} object, not a private key (use type=private)"
        )
    if uri.id is None and uri.object is None:
        raise InvalidUri(f"{uri.without_secrets()} names no key: add object=LABEL or id=%..")
    session = token.session()
    template: dict[Any, Any] = {Attribute.CLASS: ObjectClass.PRIVATE_KEY}
    if uri.id is not None:
        template[Attribute.ID] = uri.id
    if uri.object is not None:
        template[Attribute.LABEL] = uri.object
    try:
        found = list(session.get_objects(template))
        if not found and uri.object is not None and uri.id is None:
            # NSS keys often have no label; the nickname belongs to the certificate with the same CKA_ID.
            certs = list(
                session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.LABEL: uri.object})
            )
            ids = {bytes(c[Attribute.ID]) for c in certs}
            found = [
                key
                for key_id in ids
                for key in session.get_objects(
                    {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.ID: key_id}
                )
            ]
    except p11x.PKCS11Error as exc:
        raise translate(exc, "searching for the private key", token.label) from None
    if not found:
        raise KeyNotFound(f"no private key matches {uri.without_secrets()} on token {token.label!r}")
    if len(found) > 1:
        raise AmbiguousObject(f"{len(found)} private keys match {uri.without_secrets()}; add id= to the URI")
    private = found[0]
    key_id = bytes(private[Attribute.ID])
    return DeviceKey(token, key_id, _label(private) or uri.object, _public_info_for(session, private, key_id))


@dataclass(frozen=True)
class KeyListing:
    uri: Pkcs11Uri
    label: str | None
    key_id: bytes
    key_type: str
    sensitive: bool
    extractable: bool
    has_certificate: bool

    def as_json(self) -> dict[str, object]:
        return {
            "uri": str(self.uri),
            "label": self.label,
            "id": self.key_id.hex(),
            "dogtag_key_id": dogtag_key_id(self.key_id),
            "type": self.key_type,
            "sensitive": self.sensitive,
            "extractable": self.extractable,
            "has_certificate": self.has_certificate,
        }


def list_private_keys(token: OpenToken) -> Iterator[KeyListing]:
    session = token.session()
    try:
        cert_ids = {
            bytes(c[Attribute.ID]) for c in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE})
        }
        for private in list(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})):
            key_id = bytes(private[Attribute.ID])
            label = _label(private)
            try:
                key_type = describe_key_type(_public_info_for(session, private, key_id))
            except KeyNotFound:
                key_type = "ec:?"
            yield KeyListing(
                uri=token.uri.with_(object=label, id=key_id, type="private"),
                label=label,
                key_id=key_id,
                key_type=key_type,
                sensitive=bool(private[Attribute.SENSITIVE]),
                extractable=bool(private[Attribute.EXTRACTABLE]),
                has_certificate=key_id in cert_ids,
            )
    except p11x.PKCS11Error as exc:
        raise translate(exc, "listing keys", token.label) from None


# --- generation ------------------------------------------------------------------------------------


def _label_in_use(session: Any, label: str) -> bool:
    for object_class in (ObjectClass.PRIVATE_KEY, ObjectClass.CERTIFICATE):
        if list(session.get_objects({Attribute.CLASS: object_class, Attribute.LABEL: label})):
            return True
    return False


def generate_key_pair(
    token: OpenToken, label: str | None, key_type: str, *, archivable: bool = False
) -> DeviceKey:
    """Generate a key pair on the device: sensitive, never extractable unless ``archivable``.

    An archivable key is extractable but still sensitive: it can leave the device only wrapped (for a
    KRA), never in clear. ``label=None`` leaves the key unlabelled, as NSS's own tools do: it is then
    named by its id, and takes the nickname of the certificate imported for it.

    CKA_ID is set as NSS sets it once the public key is known; if that fails the new keys are destroyed,
    so no key is left behind without a record of it.
    """
    if key_type not in KEY_TYPES:
        raise MechanismNotSupported(f"key type {key_type!r} is not one of {', '.join(KEY_TYPES)}")
    if label == "":
        raise InvalidUri("an empty label; give a name, or none at all (the key is then known by its id)")
    algorithm, _, size = key_type.partition(":")
    session = token.session()
    if label is not None and _label_in_use(session, label):
        raise ObjectExists(f"token {token.label!r} already has a key or certificate labelled {label!r}")
    provisional_id = os.urandom(20)
    private_template = {
        Attribute.TOKEN: True,
        Attribute.PRIVATE: True,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: archivable,
        Attribute.SIGN: True,
        Attribute.DECRYPT: algorithm == "rsa",
        Attribute.UNWRAP: algorithm == "rsa",
        Attribute.DERIVE: algorithm == "ec",
    }
    public_template = {
        Attribute.TOKEN: True,
        Attribute.PRIVATE: False,
        Attribute.VERIFY: True,
        Attribute.ENCRYPT: algorithm == "rsa",
        Attribute.WRAP: algorithm == "rsa",
    }
    try:
        if algorithm == "rsa":
            if Mechanism.RSA_PKCS_KEY_PAIR_GEN not in token.mechanisms():
                raise MechanismNotSupported(f"token {token.label!r} cannot generate RSA keys")
            public, private = session.generate_keypair(
                KeyType.RSA,
                int(size),
                id=provisional_id,
                label=label,
                store=True,
                public_template=public_template,
                private_template=private_template,
            )
        else:
            if Mechanism.EC_KEY_PAIR_GEN not in token.mechanisms():
                raise MechanismNotSupported(f"token {token.label!r} cannot generate EC keys")
            curve = encode_named_curve_parameters(_CURVES[size])
            params = session.create_domain_parameters(KeyType.EC, {Attribute.EC_PARAMS: curve}, local=True)
            public, private = params.generate_keypair(
                id=provisional_id,
                label=label,
                store=True,
                public_template=public_template,
                private_template=private_template,
            )
    except p11x.PKCS11Error as exc:
        raise translate(exc, f"generating a {key_type} key", token.label) from None
    try:
        info = public_key_info_of(public)
        key_id = nss_key_id(info)
        public[Attribute.ID] = key_id
        private[Attribute.ID] = key_id
    except Exception:
        for obj in (private, public):
            try:
                obj.destroy()
            except p11x.PKCS11Error:
                log.error("could not remove half-made key %s from token %s", label, token.label)
        raise
    return DeviceKey(token, key_id, label, info)
