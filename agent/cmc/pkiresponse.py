"""Encoders for the CA side of CMC: PKIResponse controls, signed Full and Simple PKI Responses, and
Dogtag's EncryptedPOP challenge.

The agent never sends these; they exist so a Dogtag-compatible CA (the local CA) and the tests can
produce exactly what a Dogtag CA produces (``dogtag-cmc-server.md`` §5.3, §6), using the same ASN.1
types the reader decodes.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from asn1crypto import algos, cms, core, keys, x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from agent.cmc import algorithms as cmc_algorithms
from agent.cmc import names, signeddata, witness
from agent.cmc.asn1 import cmc
from agent.cmc.errors import InvalidRequestInput
from agent.keyops import HashName, KeyTransport, Signer, random_bytes, rsa_transport_padding

CHALLENGE_BYTES = 64
DUMMY_ENVELOPE_IV = b"\x01" * 16
"""Dogtag puts this fixed IV in the EnvelopedData; the real one travels in thePOPAlgID."""
UNUSED_ISSUER_NAME = "CN=unUsedIssuerName"
"""Dogtag's placeholder for the EncryptedPOP recipient (it names no certificate)."""


def control(body_part_id: int, attr_type: str, *values: core.Asn1Value) -> cmc.TaggedAttribute:
    return cmc.TaggedAttribute(
        {"body_part_id": body_part_id, "attr_type": attr_type, "attr_values": list(values)}
    )


def status_info_v2(
    status: str | int,
    body_list: Sequence[int | Sequence[int]],
    *,
    fail_info: str | int | None = None,
    status_string: str | None = None,
    pend_token: bytes | None = None,
    pend_time: datetime.datetime | None = None,
) -> cmc.CMCStatusInfoV2:
    """A CMCStatusInfoV2; body parts are IDs or paths (sequences of IDs). ``status`` and ``fail_info`` are
    names (``failed``, ``bad_request``) or their numbers."""
    references = [
        cmc.BodyPartReference("body_part_path", list(item))
        if isinstance(item, Sequence)
        else cmc.BodyPartReference("body_part_id", item)
        for item in body_list
    ]
    value: dict[str, object] = {"cmc_status": status, "body_list": references}
    if status_string is not None:
        value["status_string"] = status_string
    if fail_info is not None and pend_token is not None:
        raise InvalidRequestInput("a status carries failInfo or pendInfo, not both")
    if fail_info is not None:
        value["other_info"] = cmc.OtherStatusInfo("fail_info", fail_info)
    elif pend_token is not None:
        when = (pend_time or datetime.datetime.now(datetime.UTC)).replace(microsecond=0)
        value["other_info"] = cmc.OtherStatusInfo("pend_info", {"pend_token": pend_token, "pend_time": when})
    return cmc.CMCStatusInfoV2(value)


def pki_response(controls: Sequence[cmc.TaggedAttribute]) -> cmc.PKIResponse:
    return cmc.PKIResponse({"control_sequence": list(controls), "cms_sequence": [], "other_msg_sequence": []})


def sign_response(
    response: cmc.PKIResponse,
    signer: Signer,
    certificate: x509.Certificate,
    certificates: Sequence[x509.Certificate],
    *,
    hash_name: HashName = "sha256",
) -> cms.ContentInfo:
    """A Full PKI Response signed as Dogtag signs it (issuerAndSerialNumber of the CA signing cert)."""
    return signeddata.sign_content(
        response.dump(),
        "pki_response",
        signer,
        certificate=certificate,
        certificates=certificates,
        hash_name=hash_name,
    )


def simple_response(certificates: Sequence[x509.Certificate]) -> cms.ContentInfo:
    """Dogtag's Simple PKI Response: version 3, no digest algorithms, id-data without content, the
    certificates, no signers."""
    signed = cms.SignedData(
        {
            "version": "v3",
            "digest_algorithms": [],
            "encap_content_info": {"content_type": "data"},
            "certificates": [cms.CertificateChoices("certificate", c) for c in certificates],
            "signer_infos": [],
        }
    )
    return cms.ContentInfo({"content_type": "signed_data", "content": signed})


def encrypted_pop(
    tagged_request: cmc.TaggedRequest,
    request_public_key: keys.PublicKeyInfo,
    *,
    transport: KeyTransport = "rsa-pkcs1v15",
    challenge: bytes | None = None,
) -> tuple[cmc.EncryptedPOP, bytes]:
    """Dogtag's EncryptedPOP for a request whose key is RSA; returns it with the challenge."""
    public_key = serialization.load_der_public_key(request_public_key.untag().dump())
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise InvalidRequestInput("an EncryptedPOP needs an RSA request key")
    challenge = challenge if challenge is not None else random_bytes(CHALLENGE_BYTES)
    if len(challenge) % 16:
        raise InvalidRequestInput("the challenge must be a whole number of AES blocks (no padding is used)")
    session_key = random_bytes(16)
    iv = random_bytes(16)
    encryptor = Cipher(algorithms.AES(session_key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(challenge) + encryptor.finalize()
    value = assemble_encrypted_pop(
        tagged_request.dump(),
        encrypted_session_key=public_key.encrypt(session_key, rsa_transport_padding(transport)),
        encrypted_challenge=ciphertext,
        iv=iv,
        witness_value=witness.challenge_witness(challenge),
    )
    return value, challenge


def assemble_encrypted_pop(
    tagged_request_der: bytes,
    *,
    encrypted_session_key: bytes,
    encrypted_challenge: bytes,
    iv: bytes,
    witness_value: bytes,
) -> cmc.EncryptedPOP:
    """The EncryptedPOP control value from its encrypted parts, laid out as Dogtag's
    ``constructEncryptedPop`` writes it: a placeholder recipient (``CN=unUsedIssuerName``, serial 0) named
    ``rsaEncryption`` whatever the padding, the dummy IV in the EnvelopedData, the real ``iv`` in
    thePOPAlgID, witnessAlgID SHA-256 without parameters.

    Separate from :func:`encrypted_pop` because a CA that keeps only the encrypted parts between the two
    trips (as Dogtag and the local CA do) rebuilds the value from them.
    """
    recipient = cms.KeyTransRecipientInfo(
        {
            "version": "v0",
            "rid": cms.RecipientIdentifier(
                "issuer_and_serial_number",
                {"issuer": names.parse_dn(UNUSED_ISSUER_NAME), "serial_number": 0},
            ),
            "key_encryption_algorithm": {"algorithm": "rsaes_pkcs1v15", "parameters": core.Null()},
            "encrypted_key": encrypted_session_key,
        }
    )
    enveloped = cms.EnvelopedData(
        {
            "version": "v0",
            "recipient_infos": [cms.RecipientInfo("ktri", recipient)],
            "encrypted_content_info": {
                "content_type": "data",
                "content_encryption_algorithm": {
                    "algorithm": "aes128_cbc",
                    "parameters": core.OctetString(DUMMY_ENVELOPE_IV),
                },
                "encrypted_content": encrypted_challenge,
            },
        }
    )
    return cmc.EncryptedPOP(
        {
            "request": cmc.TaggedRequest.load(tagged_request_der),
            "cms": {"content_type": "enveloped_data", "content": enveloped},
            "the_pop_alg_id": algos.EncryptionAlgorithm(
                {"algorithm": "aes128_cbc", "parameters": core.OctetString(iv)}
            ),
            "witness_alg_id": cmc_algorithms.bare_hash_algorithm("sha256"),
            "witness": witness_value,
        }
    )


def request_id_bytes(request_id: int) -> bytes:
    """A request id as Java's ``BigInteger.toByteArray()``: minimal two's complement, big-endian."""
    return request_id.to_bytes((request_id.bit_length() + 8) // 8, "big", signed=True)
