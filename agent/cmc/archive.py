"""PKIArchiveOptions: a private key wrapped on its device for the KRA transport certificate.

The forms a Dogtag KRA accepts (``dogtag-cmc-client.md`` §4.4, ``dogtag-cmc-server.md`` §9):

* ``EncryptedValue`` (what CRMFPopClient writes): ``symmAlg`` names the payload wrapping and **must carry
  an OCTET STRING parameter** (the KRA decodes it unconditionally), ``encSymmKey`` is the AES-128 session
  key wrapped with the transport key, ``encValue`` the PKCS#8 private key wrapped with the session key.
* ``[0] EnvelopedData``: the same three things in a KeyTransRecipientInfo and an EncryptedContentInfo.

Payload wrapping, by ``symmAlg``:

* ``aes-kwp`` -> id-aes128-wrap-pad (2.16.840.1.101.3.4.1.8) with 8 random, unused parameter bytes, as
  CRMFPopClient writes; the KRA tries RFC 5649 KWP first, then NSS's padded key wrap.
* ``aes-cbc-pad`` -> aes128-CBC (2.16.840.1.101.3.4.1.2) with the 16-byte IV as parameter.

The session key is wrapped in software with the transport certificate's RSA public key: PKCS#1 v1.5, or
OAEP when the KRA has ``keyWrap.useOAEP=true`` (Dogtag's OAEP is SHA-256/MGF1-SHA-256). Nothing in the
message says which, so client and KRA must agree. The private key itself is wrapped by its device
(:meth:`agent.keyops.ArchivableKey.wrap_private_key`) and never appears in clear here.
"""

from __future__ import annotations

from typing import Literal

from asn1crypto import cms, core, x509
from cryptography import x509 as crypto_x509
from cryptography.hazmat.primitives.asymmetric import rsa

from agent.cmc.asn1 import crmf as asn1_crmf
from agent.cmc.errors import InvalidRequestInput
from agent.keyops import ArchivableKey, KeyTransport, PrivateKeyWrapping, random_bytes, rsa_transport_padding

ArchiveForm = Literal["encrypted-value", "enveloped-data"]
SESSION_KEY_BYTES = 16
"""AES-128: what the KRA assumes for both symmAlg OIDs."""


def build_archive_options(
    key: ArchivableKey,
    transport_certificate: x509.Certificate,
    *,
    wrapping: PrivateKeyWrapping = "aes-kwp",
    transport: KeyTransport = "rsa-pkcs1v15",
    form: ArchiveForm = "encrypted-value",
) -> asn1_crmf.PKIArchiveOptions:
    """Wrap ``key`` for the KRA whose transport certificate is given, in one of the accepted forms."""
    session_key = random_bytes(SESSION_KEY_BYTES)
    encrypted_session_key = wrap_session_key(session_key, transport_certificate, transport)
    if wrapping == "aes-kwp":
        wrapped_key = key.wrap_private_key(session_key, "aes-kwp")
        algorithm = {"algorithm": "aes128_wrap_pad", "parameters": core.OctetString(random_bytes(8))}
    elif wrapping == "aes-cbc-pad":
        iv = random_bytes(16)
        wrapped_key = key.wrap_private_key(session_key, "aes-cbc-pad", iv)
        algorithm = {"algorithm": "aes128_cbc", "parameters": core.OctetString(iv)}
    else:
        raise InvalidRequestInput(f"unknown private-key wrapping {wrapping!r}; use aes-kwp or aes-cbc-pad")

    if form == "encrypted-value":
        encrypted_key = asn1_crmf.EncryptedKey(
            "encrypted_value",
            {"symm_alg": algorithm, "enc_symm_key": encrypted_session_key, "enc_value": wrapped_key},
        )
    elif form == "enveloped-data":
        encrypted_key = asn1_crmf.EncryptedKey(
            "enveloped_data",
            _enveloped_data(transport_certificate, transport, encrypted_session_key, algorithm, wrapped_key),
        )
    else:
        raise InvalidRequestInput(f"unknown archive form {form!r}; use encrypted-value or enveloped-data")
    return asn1_crmf.PKIArchiveOptions("encrypted_priv_key", encrypted_key)


def wrap_session_key(
    session_key: bytes, transport_certificate: x509.Certificate, transport: KeyTransport
) -> bytes:
    """RSA-encrypt the session key to the transport certificate's public key."""
    public_key = crypto_x509.load_der_x509_certificate(transport_certificate.dump()).public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise InvalidRequestInput("the KRA transport certificate must carry an RSA key")
    return public_key.encrypt(session_key, rsa_transport_padding(transport))


def _key_encryption_algorithm(transport: KeyTransport) -> cms.KeyEncryptionAlgorithm:
    if transport == "rsa-pkcs1v15":
        return cms.KeyEncryptionAlgorithm({"algorithm": "rsaes_pkcs1v15", "parameters": core.Null()})
    hash_name = "sha1" if transport == "rsa-oaep-sha1" else "sha256"
    hash_algorithm = {"algorithm": hash_name, "parameters": core.Null()}
    return cms.KeyEncryptionAlgorithm(
        {
            "algorithm": "rsaes_oaep",
            "parameters": {
                "hash_algorithm": hash_algorithm,
                "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": hash_algorithm},
            },
        }
    )


def _enveloped_data(
    transport_certificate: x509.Certificate,
    transport: KeyTransport,
    encrypted_session_key: bytes,
    algorithm: dict[str, object],
    wrapped_key: bytes,
) -> cms.EnvelopedData:
    recipient = cms.KeyTransRecipientInfo(
        {
            "version": "v0",
            "rid": cms.RecipientIdentifier(
                "issuer_and_serial_number",
                {
                    "issuer": transport_certificate.issuer,
                    "serial_number": transport_certificate.serial_number,
                },
            ),
            "key_encryption_algorithm": _key_encryption_algorithm(transport),
            "encrypted_key": encrypted_session_key,
        }
    )
    return cms.EnvelopedData(
        {
            "version": "v0",
            "recipient_infos": [cms.RecipientInfo("ktri", recipient)],
            "encrypted_content_info": {
                "content_type": "data",
                "content_encryption_algorithm": algorithm,
                "encrypted_content": wrapped_key,
            },
        }
    )
