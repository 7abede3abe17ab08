"""Everything that can go wrong while building or reading CMC messages, one class per cause.

Every class derives from :class:`CMCError`, which declares ``user_facing = True``: the CLI prints the
message as one line (``cmc-agent: error: ...``) instead of a traceback. Messages say what was wrong and,
where there is one, what to do about it. The docstrings below are written for the person who sees the
error.
"""

from __future__ import annotations


class CMCError(Exception):
    """Base class of every CMC error. Catch this to handle them all."""

    user_facing = True


# --- reading hostile input -------------------------------------------------------------------------


class MalformedMessage(CMCError):
    """The bytes are not the ASN.1 structure they should be (truncated, corrupt, or another format).

    Check that the file is the binary DER response/request and not PEM, base-64 or an HTML error page.
    """


class TrailingData(MalformedMessage):
    """Bytes follow the end of the message. A response must be exactly one DER value; the file may have
    been concatenated or corrupted in transit."""


class NonCanonicalEncoding(MalformedMessage):
    """The message is valid BER but not DER (indefinite lengths, padded integers, unsorted sets, ...).

    CMC peers re-encode before they verify or MAC, so a non-DER message cannot be checked reliably;
    it is refused rather than guessed at.
    """


class UnexpectedContentType(MalformedMessage):
    """The CMS content type is not the one this message must carry (for example a request given where a
    response is expected, or a SignedData whose eContentType is not id-cct-PKIResponse)."""


class UnknownControl(MalformedMessage):
    """The response carries a CMC control this agent does not understand.

    CMC has no optional controls: each one changes the meaning of the message (RFC 5272 §6), so a
    response with a control we cannot interpret is refused instead of being half-read.
    """


# --- signatures and trust --------------------------------------------------------------------------


class SignatureInvalid(CMCError):
    """A CMS signature does not verify: the message was altered, or signed by another key than claimed."""


class SignerNotFound(CMCError):
    """The SignedData names a signer whose certificate it does not carry, so it cannot be verified.

    For a response, make sure the CA includes its signing certificate (Dogtag always does).
    """


class UntrustedSigner(CMCError):
    """The signer's certificate does not chain to any of the trusted CA certificates given.

    Pass the right CA certificate (``--ca-cert``), or check that the response really comes from your CA.
    """


class UntrustedCertificate(CMCError):
    """A certificate in the response does not chain to the trusted CA certificates, although the response
    itself may be signed: the certificates are outside the signature, so it may have been altered in
    transit. Nothing from this response should be imported."""


class UnsignedResponse(CMCError):
    """The response carries no signature to verify, and the caller asked for a verified response."""


# --- binding a response to its request -------------------------------------------------------------


class NonceMismatch(CMCError):
    """The response's recipientNonce is missing or is not the senderNonce we sent: a replayed response,
    or the answer to another request."""


class TransactionIdMismatch(CMCError):
    """The response's transactionId is missing or differs from the one in our request."""


class ChallengeWitnessMismatch(CMCError):
    """The decrypted EncryptedPOP challenge does not match the CA's witness hash.

    Usually the key-transport setting differs from the CA's (``keyWrap.useOAEP`` on Dogtag: use OAEP
    if and only if the CA does), or the wrong private key was used.
    """


class ChallengeDecryptionFailed(CMCError):
    """The EncryptedPOP challenge could not be decrypted with the request key.

    Check that the key is the one the request was made for, and that the key-transport setting (OAEP or
    PKCS#1 v1.5) matches the CA's ``keyWrap.useOAEP``.
    """


class IssuedCertificateMismatch(CMCError):
    """No certificate in the response carries the public key we asked to be certified."""


# --- building requests -----------------------------------------------------------------------------


class InvalidRequestInput(CMCError):
    """A value given to a request builder is out of range or inconsistent with the rest of the request."""


class UnsupportedAlgorithm(InvalidRequestInput):
    """The algorithm is not one this agent (or the Dogtag CA it talks to) can use.

    Dogtag cannot verify HMAC-SHA-384 (its code misspells the algorithm name), so only SHA-256 and
    SHA-512 HMACs are offered for identityProofV2 and popLinkWitnessV2.
    """


class MissingSubjectKeyIdentifier(InvalidRequestInput):
    """A shared-secret request is identified by the request key's SubjectKeyIdentifier, but the CSR or
    CRMF carries none. Regenerate it with a SubjectKeyIdentifier extension (``--ski``)."""


class KeyMismatch(InvalidRequestInput):
    """The private key given does not match the public key in the CSR, CRMF or certificate it must sign
    for. Check the key URI."""


class InvalidCertificationRequest(InvalidRequestInput):
    """The CSR or CRMF input cannot be used: it does not parse, is not DER, or its signature is bad."""


class InvalidCertificate(InvalidRequestInput):
    """A certificate file given as input does not parse as an X.509 certificate (PEM or DER)."""
