"""Full PKI Requests (PKIData in a CMS SignedData), built with an immutable builder.

In the style of ``cryptography``'s x509 builders: every setter checks its own input and returns a new
builder; :meth:`FullPKIRequestBuilder.build` checks the combination and encodes; the ``sign*`` methods
wrap the PKIData in a SignedData (or, for Dogtag's shared-secret revocation, in an unsigned id-data).

Control order follows Dogtag's CMCRequest (``dogtag-cmc-client.md`` §1.5): getCert, dataReturn,
senderNonce, revokeRequest, decryptedPOP and regInfo, popLinkRandom, transactionId, identification,
identityProofV2. Body part IDs are **unique** (RFC 5272), unlike Dogtag's, which collide; the CA does not
care: requests are numbered first (a CRMF request is numbered by its certReqId), controls after them.

Shared-secret requests (Dogtag's "shared token" enrollment): identification + identityProofV2, optional
popLinkRandom + popLinkWitnessV2 (which re-signs the embedded CSR or CRMF POP with the request key), all
signed with the request's own key and identified by its SubjectKeyIdentifier.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

from asn1crypto import cms, core, csr, x509

from agent.cmc import algorithms, challenge, crmf, der, names, pkcs10, signeddata, witness
from agent.cmc.asn1 import cmc
from agent.cmc.asn1 import crmf as asn1_crmf
from agent.cmc.asn1.pkcs10 import CertificationRequest
from agent.cmc.errors import InvalidRequestInput, KeyMismatch, MissingSubjectKeyIdentifier
from agent.cmc.keyid import same_public_key
from agent.cmc.reasons import REASON_NUMBERS
from agent.keyops import ChallengeDecrypter, HashName, KeyTransport, Signer, random_bytes

MAX_BODY_PART_ID = 0xFFFFFFFF
POP_LINK_RANDOM_BYTES = 64
"""Dogtag's CMCRequest uses 64 random bytes."""
WITNESS_HASHES = ("sha256", "sha384", "sha512")
REVOCATION_REASONS = tuple(REASON_NUMBERS.values())

RequestBody: TypeAlias = "csr.CertificationRequest | asn1_crmf.CertReqMsg"


@dataclass(frozen=True)
class _Request:
    body: RequestBody
    body_part_id: int | None  # PKCS#10 only; CRMF uses its certReqId


@dataclass(frozen=True)
class _SecretProof:
    secret: bytes
    hash_name: str
    mac_name: str
    random: bytes | None = None


@dataclass(frozen=True)
class _Revocation:
    issuer: x509.Name
    serial: int
    reason: str
    invalidity_date: datetime.datetime | None
    passphrase: bytes | None
    comment: str | None


@dataclass(frozen=True)
class _SecondTrip:
    encrypted_pop: cmc.EncryptedPOP
    challenge: bytes
    request_id: bytes


def _copy(value: core.Asn1Value) -> core.Asn1Value:
    """An independent copy, so later changes to the caller's object cannot reach the builder."""
    return value.__class__.load(value.dump())


def _body_part_id(value: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_BODY_PART_ID:
        raise InvalidRequestInput(f"{what} must be an integer from 1 to {MAX_BODY_PART_ID}")
    return value


def _issuer_name(issuer: x509.Name | str) -> x509.Name:
    return names.parse_dn(issuer, "utf8") if isinstance(issuer, str) else issuer


@dataclass(frozen=True)
class FullPKIRequestBuilder:
    """Accumulates the parts of one PKIData. Start empty: ``FullPKIRequestBuilder()``."""

    _requests: tuple[_Request, ...] = ()
    _transaction_id: int | None = None
    _sender_nonce: bytes | None = None
    _identification: str | None = None
    _identity_proof: _SecretProof | None = None
    _pop_link: _SecretProof | None = None
    _get_cert: tuple[x509.Name, int] | None = None
    _revocation: _Revocation | None = None
    _second_trip: _SecondTrip | None = None
    _data_return: bytes | None = None

    # --- requests ----------------------------------------------------------------------------------

    def add_pkcs10(
        self, request: csr.CertificationRequest, *, body_part_id: int | None = None
    ) -> FullPKIRequestBuilder:
        """Add a PKCS#10 request (as a TaggedCertificationRequest; its ID is assigned unless given)."""
        if not isinstance(request, csr.CertificationRequest):
            raise InvalidRequestInput("add_pkcs10 needs an asn1crypto CertificationRequest")
        if body_part_id is not None:
            _body_part_id(body_part_id, "bodyPartID")
            if body_part_id in self._explicit_ids():
                raise InvalidRequestInput(f"bodyPartID {body_part_id} is already used by another request")
        # Our class keeps attributes we do not interpret (certmonger's friendlyName) opaque; loading it
        # from the caller's bytes is also the independent copy every other input gets.
        copied = CertificationRequest.load(request.dump())
        return dataclasses.replace(self, _requests=(*self._requests, _Request(copied, body_part_id)))

    def add_crmf(self, message: asn1_crmf.CertReqMsg | asn1_crmf.CertReqMessages) -> FullPKIRequestBuilder:
        """Add CRMF request(s); each is identified by its certReqId, which must be unique."""
        messages = list(message) if isinstance(message, asn1_crmf.CertReqMessages) else [message]
        if not messages or not all(isinstance(m, asn1_crmf.CertReqMsg) for m in messages):
            raise InvalidRequestInput("add_crmf needs a CertReqMsg or a non-empty CertReqMessages")
        builder = self
        for item in messages:
            cert_req_id = _body_part_id(item["cert_req"]["cert_req_id"].native, "CRMF certReqId")
            if cert_req_id in builder._explicit_ids():
                raise InvalidRequestInput(f"certReqId {cert_req_id} is already used by another request")
            builder = dataclasses.replace(
                builder, _requests=(*builder._requests, _Request(_copy(item), None))
            )
        return builder

    # --- controls ----------------------------------------------------------------------------------

    def transaction_id(self, value: int) -> FullPKIRequestBuilder:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise InvalidRequestInput("transactionId must be a non-negative integer")
        return dataclasses.replace(self, _transaction_id=value)

    def sender_nonce(self, nonce: bytes) -> FullPKIRequestBuilder:
        if not isinstance(nonce, bytes) or not 1 <= len(nonce) <= 1024:
            raise InvalidRequestInput("senderNonce must be 1 to 1024 bytes")
        return dataclasses.replace(self, _sender_nonce=nonce)

    def identification(self, identification: str) -> FullPKIRequestBuilder:
        if not isinstance(identification, str) or not identification.strip():
            raise InvalidRequestInput("identification must be a non-empty string (the user id)")
        return dataclasses.replace(self, _identification=identification)

    def identity_proof_v2(
        self, secret: bytes, *, hash_name: str = "sha256", mac_name: str = "sha256"
    ) -> FullPKIRequestBuilder:
        """identityProofV2 with the shared secret (bytes of the passphrase the CA admin issued)."""
        return dataclasses.replace(self, _identity_proof=_secret_proof(secret, hash_name, mac_name, None))

    def pop_link_witness_v2(
        self,
        secret: bytes,
        *,
        hash_name: str = "sha256",
        mac_name: str = "sha256",
        random: bytes | None = None,
    ) -> FullPKIRequestBuilder:
        """popLinkRandom + popLinkWitnessV2; ``random`` defaults to 64 fresh bytes at build time."""
        if random is not None and (not isinstance(random, bytes) or not random):
            raise InvalidRequestInput("popLinkRandom must be non-empty bytes")
        return dataclasses.replace(self, _pop_link=_secret_proof(secret, hash_name, mac_name, random))

    def get_cert(self, issuer: x509.Name | str, serial_number: int) -> FullPKIRequestBuilder:
        """Ask for an existing certificate. The issuer is encoded as a bare Name, as Dogtag expects."""
        if not isinstance(serial_number, int) or serial_number < 0:
            raise InvalidRequestInput("the serial number must be a non-negative integer")
        return dataclasses.replace(self, _get_cert=(_issuer_name(issuer), serial_number))

    def revoke_request(
        self,
        issuer: x509.Name | str,
        serial_number: int,
        reason: str = "unspecified",
        *,
        invalidity_date: datetime.datetime | None = None,
        passphrase: bytes | None = None,
        comment: str | None = None,
    ) -> FullPKIRequestBuilder:
        """A revokeRequest control. ``passphrase`` is the revocation shared secret (then send it with
        :meth:`unsigned`, as Dogtag does); ``reason`` is a CRLReason name such as ``key_compromise``."""
        if not isinstance(serial_number, int) or serial_number < 0:
            raise InvalidRequestInput("the serial number must be a non-negative integer")
        reason = reason.replace("-", "_")
        if reason not in REVOCATION_REASONS:
            raise InvalidRequestInput(
                f"unknown revocation reason {reason!r}; use one of {', '.join(REVOCATION_REASONS)}"
            )
        if invalidity_date is not None and invalidity_date.tzinfo is None:
            raise InvalidRequestInput("the invalidity date must carry a time zone")
        if passphrase is not None and not passphrase:
            raise InvalidRequestInput("the revocation passphrase must not be empty")
        revocation = _Revocation(
            _issuer_name(issuer), serial_number, reason, invalidity_date, passphrase, comment or None
        )
        return dataclasses.replace(self, _revocation=revocation)

    def decrypted_pop(
        self, encrypted_pop: cmc.EncryptedPOP, challenge_bytes: bytes, request_id: bytes
    ) -> FullPKIRequestBuilder:
        """The second trip of an EncryptedPOP enrollment: answer the challenge (already recovered,
        see :mod:`agent.cmc.challenge`) for the request the CA returned, and name the CA's request id
        (the responseInfo bytes, sent back verbatim as regInfo)."""
        if not challenge_bytes:
            raise InvalidRequestInput("the recovered challenge is empty")
        if not request_id:
            raise InvalidRequestInput("the request id from responseInfo is empty")
        trip = _SecondTrip(_copy(encrypted_pop), challenge_bytes, request_id)
        return dataclasses.replace(self, _second_trip=trip)

    def data_return(self, data: bytes) -> FullPKIRequestBuilder:
        if not isinstance(data, bytes) or not data:
            raise InvalidRequestInput("dataReturn must be non-empty bytes")
        return dataclasses.replace(self, _data_return=data)

    # --- build and sign ----------------------------------------------------------------------------

    def build(self, *, request_key: Signer | None = None) -> cmc.PKIData:
        """Check the combination and encode the PKIData.

        ``request_key`` is needed for popLinkWitnessV2 (to re-sign the embedded requests).
        """
        self._check(request_key)
        requests = list(self._requests)
        pop_link_random = None
        if self._pop_link is not None:
            pop_link_random = self._pop_link.random or random_bytes(POP_LINK_RANDOM_BYTES)
            assert request_key is not None  # checked above
            link = witness.pop_link_witness_v2(
                self._pop_link.secret,
                self._identification,
                pop_link_random,
                self._pop_link.hash_name,
                self._pop_link.mac_name,
            )
            requests = [_with_pop_link(r, link, request_key) for r in requests]

        ids = _IdAllocator()
        second_trip_request = None
        if self._second_trip is not None:
            second_trip_request = self._second_trip.encrypted_pop["request"].dump()
            ids.reserve(_tagged_request_id(self._second_trip.encrypted_pop["request"]))
        for item in requests:
            if isinstance(item.body, asn1_crmf.CertReqMsg):
                ids.reserve(item.body["cert_req"]["cert_req_id"].native)
            elif item.body_part_id is not None:
                ids.reserve(item.body_part_id)
        # Assembled from DER pieces (see signeddata.sign_content for why); the tests decode the result
        # with asn1crypto and pyasn1-modules and compare it with the RFC structure.
        tagged: list[bytes] = [] if second_trip_request is None else [second_trip_request]
        for item in requests:
            if isinstance(item.body, asn1_crmf.CertReqMsg):
                tagged.append(b"\xa1" + item.body.dump()[1:])  # crm [1] IMPLICIT CertReqMsg
            else:
                bpid = item.body_part_id if item.body_part_id is not None else ids.take()
                tagged.append(der.encode_tlv(0xA0, core.Integer(bpid).dump() + item.body.dump()))
        req_sequence = der.encode_tlv(0x30, b"".join(tagged))

        controls: list[bytes] = []

        def control(attr_type: str, value: core.Asn1Value) -> None:
            controls.append(
                der.encode_tlv(
                    0x30,
                    core.Integer(ids.take()).dump()
                    + cmc.CMCControlType(attr_type).dump()
                    + der.encode_tlv(0x31, value.dump()),
                )
            )

        if self._get_cert is not None:
            issuer, serial = self._get_cert
            control(
                "get_cert",
                cmc.GetCert(
                    {"issuer_name": cmc.IssuerNameChoice("name", issuer.chosen), "serial_number": serial}
                ),
            )
        if self._data_return is not None:
            control("data_return", core.OctetString(self._data_return))
        if self._sender_nonce is not None:
            control("sender_nonce", core.OctetString(self._sender_nonce))
        if self._revocation is not None:
            control("revoke_request", _revoke_request(self._revocation))
        if self._second_trip is not None:
            trip = self._second_trip
            request_id = _tagged_request_id(trip.encrypted_pop["request"])
            control(
                "decrypted_pop", challenge.decrypted_pop_value(trip.encrypted_pop, trip.challenge, request_id)
            )
            control("reg_info", core.OctetString(trip.request_id))
        if pop_link_random is not None:
            control("pop_link_random", core.OctetString(pop_link_random))
        if self._transaction_id is not None:
            control("transaction_id", core.Integer(self._transaction_id))
        if self._identification is not None:
            control("identification", core.UTF8String(self._identification))
        if self._identity_proof is not None:
            proof = self._identity_proof
            control(
                "identity_proof_v2",
                witness.identity_proof_v2(
                    proof.secret, self._identification, req_sequence, proof.hash_name, proof.mac_name
                ),
            )
        empty_sequences = b"\x30\x00\x30\x00"  # cmsSequence, otherMsgSequence
        encoded = der.encode_tlv(
            0x30, der.encode_tlv(0x30, b"".join(controls)) + req_sequence + empty_sequences
        )
        return cmc.PKIData.load(encoded)

    def sign(
        self,
        signer: Signer,
        certificate: x509.Certificate,
        *,
        chain: Sequence[x509.Certificate] = (),
        hash_name: HashName = "sha256",
        pss: bool = False,
        request_key: Signer | None = None,
    ) -> cms.ContentInfo:
        """An agent- or user-signed request: SignerIdentifier issuerAndSerialNumber of ``certificate``,
        which is included together with ``chain`` (the CA certificates above it)."""
        pki_data = self.build(request_key=request_key)
        certificates: list[x509.Certificate] = []
        for item in (certificate, *chain):
            if all(item.dump() != c.dump() for c in certificates):
                certificates.append(item)
        return signeddata.sign_content(
            pki_data.dump(),
            "pki_data",
            signer,
            certificate=certificate,
            certificates=certificates,
            hash_name=hash_name,
            pss=pss,
        )

    def sign_with_request_key(
        self, request_key: Signer, *, hash_name: HashName = "sha256"
    ) -> cms.ContentInfo:
        """A shared-secret ("self-signed") request: signed with the key being certified, identified by
        the SubjectKeyIdentifier carried in the request, with an empty certificate set (``A0 00``)."""
        if not self._requests:
            raise InvalidRequestInput(
                "a request signed with the request key needs a CSR or CRMF; send a shared-secret "
                "revocation unsigned instead"
            )
        for item in self._requests:
            if not same_public_key(_public_key_of(item.body), request_key.public_key_info):
                raise KeyMismatch("the request key is not the key in the CSR/CRMF")
        identifier = _shared_secret_identifier(self._requests[0].body)
        pki_data = self.build(request_key=request_key)
        return signeddata.sign_content(
            pki_data.dump(),
            "pki_data",
            request_key,
            subject_key_identifier=identifier,
            certificates=(),
            hash_name=hash_name,
        )

    def unsigned(self) -> cms.ContentInfo:
        """``ContentInfo { id-data, PKIData }`` with no signature: Dogtag's shared-secret revocation."""
        if self._revocation is None or self._revocation.passphrase is None:
            raise InvalidRequestInput(
                "only a revocation with a passphrase may be sent unsigned; sign everything else"
            )
        return signeddata.unsigned_data(self.build().dump())

    # --- checks ------------------------------------------------------------------------------------

    def _explicit_ids(self) -> set[int]:
        ids = set()
        for item in self._requests:
            if isinstance(item.body, asn1_crmf.CertReqMsg):
                ids.add(item.body["cert_req"]["cert_req_id"].native)
            elif item.body_part_id is not None:
                ids.add(item.body_part_id)
        return ids

    def _check(self, request_key: Signer | None) -> None:
        if not (self._requests or self._revocation or self._get_cert or self._second_trip):
            raise InvalidRequestInput(
                "the request is empty: add a CSR/CRMF, a revocation, getCert or a DecryptedPOP"
            )
        if self._revocation is not None and (self._requests or self._second_trip):
            raise InvalidRequestInput("a revocation request cannot also carry certificate requests")
        if self._second_trip is not None and self._requests:
            raise InvalidRequestInput("a DecryptedPOP request carries only the request the CA returned")
        for proof, what in ((self._identity_proof, "identityProofV2"), (self._pop_link, "popLinkWitnessV2")):
            if proof is not None and self._identification is None:
                raise InvalidRequestInput(f"{what} needs identification: the CA looks the secret up by it")
        if self._identity_proof is not None and not (self._requests or self._second_trip):
            raise InvalidRequestInput("identityProofV2 covers the requests, but there are none")
        if self._pop_link is not None:
            if not self._requests:
                raise InvalidRequestInput("popLinkWitnessV2 needs a CSR or CRMF to carry the witness")
            if request_key is None:
                raise InvalidRequestInput("popLinkWitnessV2 re-signs the request: give the request key")


def _secret_proof(secret: bytes, hash_name: str, mac_name: str, random: bytes | None) -> _SecretProof:
    if not isinstance(secret, bytes) or not secret:
        raise InvalidRequestInput("the shared secret must be non-empty bytes")
    if hash_name not in WITNESS_HASHES:
        raise InvalidRequestInput(
            f"unsupported witness hash {hash_name!r}; use one of {', '.join(WITNESS_HASHES)}"
        )
    algorithms.check_mac_name(mac_name)
    return _SecretProof(secret, hash_name, mac_name, random)


class _IdAllocator:
    """Hands out body part IDs 1, 2, 3, ... skipping reserved ones."""

    def __init__(self) -> None:
        self._used: set[int] = set()
        self._next = 1

    def reserve(self, value: int) -> None:
        self._used.add(value)

    def take(self) -> int:
        while self._next in self._used:
            self._next += 1
        value = self._next
        self._used.add(value)
        return value


def _tagged_request_id(request: cmc.TaggedRequest) -> int:
    if request.name == "tcr":
        value: int = request.chosen["body_part_id"].native
    elif request.name == "crm":
        value = request.chosen["cert_req"]["cert_req_id"].native
    else:
        value = request.chosen["body_part_id"].native
    return value


def _public_key_of(body: RequestBody) -> x509.PublicKeyInfo:
    if isinstance(body, asn1_crmf.CertReqMsg):
        key: x509.PublicKeyInfo = body["cert_req"]["cert_template"]["public_key"]
        return key
    info: x509.PublicKeyInfo = body["certification_request_info"]["subject_pk_info"]
    return info


def _shared_secret_identifier(body: RequestBody) -> bytes:
    if isinstance(body, asn1_crmf.CertReqMsg):
        identifier = crmf.shared_secret_signer_identifier(body)
    else:
        identifier = pkcs10.requested_ski(body)
    if identifier is None:
        raise MissingSubjectKeyIdentifier(
            "the request has no SubjectKeyIdentifier extension, which a shared-secret request is identified "
            "by; regenerate it with --ski"
        )
    return identifier


def _with_pop_link(item: _Request, link: cmc.PopLinkWitnessV2, request_key: Signer) -> _Request:
    if isinstance(item.body, asn1_crmf.CertReqMsg):
        control = asn1_crmf.AttributeTypeAndValue({"type": "pop_link_witness_v2", "value": link})
        return _Request(crmf.add_control_and_resign(item.body, control, request_key), None)
    attribute = csr.CRIAttribute({"type": "pop_link_witness_v2", "values": cmc.SetOfPopLinkWitnessV2([link])})
    return _Request(pkcs10.add_attribute_and_resign(item.body, attribute, request_key), item.body_part_id)


def _revoke_request(revocation: _Revocation) -> cmc.RevokeRequest:
    value: dict[str, object] = {
        "issuer_name": revocation.issuer,
        "serial_number": revocation.serial,
        "reason": revocation.reason,
    }
    if revocation.invalidity_date is not None:
        value["invalidity_date"] = revocation.invalidity_date.astimezone(datetime.UTC).replace(microsecond=0)
    if revocation.passphrase is not None:
        value["passphrase"] = revocation.passphrase
    if revocation.comment is not None:
        value["comment"] = revocation.comment
    return cmc.RevokeRequest(value)


def second_trip_builder(
    encrypted_pop: cmc.EncryptedPOP,
    request_id: bytes,
    decrypter: ChallengeDecrypter,
    transport: KeyTransport = "rsa-pkcs1v15",
    *,
    builder: FullPKIRequestBuilder | None = None,
) -> FullPKIRequestBuilder:
    """Recover the challenge on the device and add the DecryptedPOP to ``builder`` (default: a new one,
    or one that already holds a nonce or transactionId); then sign it like trip 1."""
    challenge_bytes = challenge.recover_challenge(encrypted_pop, decrypter, transport)
    return (builder or FullPKIRequestBuilder()).decrypted_pop(encrypted_pop, challenge_bytes, request_id)
