"""RFC 4211 Certificate Request Message Format (CRMF), as asn1crypto classes.

Declared in the style of :mod:`asn1crypto.cms`: one class per ASN.1 type, field names in snake_case,
``_oid_specs`` maps that let ``.parsed``/``.native`` decode values chosen by an OBJECT IDENTIFIER.
The module is ``IMPLICIT TAGS``; CHOICE types (``Name``, ``Time``, ``POPOPrivKey``, ``EncryptedKey``)
are tagged explicitly because a CHOICE cannot be tagged implicitly.

Dogtag quirks these types accept, on purpose (``dogtag-cmc-client.md`` §10):

* ``CertRequest.controls`` arrives as an empty ``30 00`` from Dogtag's CRMFPopClient although RFC 4211
  says ``SIZE (1..MAX)``; :class:`Controls` has no size constraint.
* ``POPOSigningKey.algorithmIdentifier`` carries NULL parameters even for ECDSA;
  :class:`~asn1crypto.algos.SignedDigestAlgorithm` keeps whatever parameters it is given.
* ``EncryptedValue.symmAlg`` for the AES key-wrap OIDs carries an 8-byte OCTET STRING "IV" that Dogtag's
  KRA insists on decoding, although key wrap has no IV.
* ``CertTemplate.extensions``: Dogtag's ``CRMFPopClient -y`` writes the SubjectKeyIdentifier extension
  with the raw 20-byte key id as the extnValue contents instead of the DER ``KeyIdentifier`` (``04 14 ..``)
  (``dogtag-cmc-client.md`` §11), and Dogtag's CMCRequest and CA accept it.
  :class:`TemplateExtension` reads that one form of that one extension (see
  :class:`LenientKeyIdentifierValue`); every other extension, and every other malformed SKI, stays strict.

No I/O and no cryptography here: builders live in :mod:`agent.cmc.crmf`.
"""

from __future__ import annotations

from asn1crypto import cms, x509
from asn1crypto.algos import AnyAlgorithmIdentifier, EncryptionAlgorithm, SignedDigestAlgorithm
from asn1crypto.core import (
    Any,
    Asn1Value,
    BitString,
    Boolean,
    Choice,
    Integer,
    Null,
    ObjectIdentifier,
    OctetBitString,
    OctetString,
    ParsableOctetString,
    Sequence,
    SequenceOf,
    UTF8String,
)
from asn1crypto.keys import PublicKeyInfo

ID_PKIP = "1.3.6.1.5.5.7.5"
ID_REG_CTRL = ID_PKIP + ".1"
ID_REG_INFO = ID_PKIP + ".2"

ID_REG_CTRL_REG_TOKEN = ID_REG_CTRL + ".1"
ID_REG_CTRL_AUTHENTICATOR = ID_REG_CTRL + ".2"
ID_REG_CTRL_PKI_PUBLICATION_INFO = ID_REG_CTRL + ".3"
ID_REG_CTRL_PKI_ARCHIVE_OPTIONS = ID_REG_CTRL + ".4"
ID_REG_CTRL_OLD_CERT_ID = ID_REG_CTRL + ".5"
ID_REG_CTRL_PROTOCOL_ENCR_KEY = ID_REG_CTRL + ".6"
ID_REG_INFO_UTF8_PAIRS = ID_REG_INFO + ".1"
ID_REG_INFO_CERT_REQ = ID_REG_INFO + ".2"


class OptionalValidity(Sequence):
    _fields = [
        ("not_before", x509.Time, {"explicit": 0, "optional": True}),
        ("not_after", x509.Time, {"explicit": 1, "optional": True}),
    ]


DOGTAG_RAW_KEY_ID_LENGTH = 20
"""The length of the key id Dogtag's CRMFPopClient writes raw into the SKI extnValue (a SHA-1)."""


class KeyIdentifier(OctetString):
    """``KeyIdentifier ::= OCTET STRING``, the SKI extension's value (its own class so that only this
    extension gets the lenient reading)."""


class LenientKeyIdentifierValue(ParsableOctetString):
    """An extnValue that, for the SubjectKeyIdentifier only, also takes Dogtag's raw 20-byte key id.

    Parsed strictly first; only when the contents do not decode as the :class:`KeyIdentifier` OCTET
    STRING and are exactly 20 bytes are they taken as the key id itself, as Dogtag's CMCRequest and CA
    do. Such a value re-encodes as it came, so the template's bytes (and any signature over them) and a
    SignerIdentifier derived from ``.contents`` stay Dogtag's.
    """

    is_raw_key_id = False
    """True when the contents are Dogtag's raw key id rather than a DER ``KeyIdentifier``."""

    def parse(self, spec: type | None = None, spec_params: dict[str, object] | None = None) -> object:
        try:
            return super().parse(spec, spec_params)
        except ValueError:
            if spec is not KeyIdentifier or len(self.contents) != DOGTAG_RAW_KEY_ID_LENGTH:
                raise
        value = KeyIdentifier(bytes(self.contents))
        self._parsed = (value, spec, spec_params)
        self.is_raw_key_id = True
        return value

    def dump(self, force: bool = False) -> bytes:
        if self.is_raw_key_id:
            return bytes(Asn1Value.dump(self))
        return bytes(super().dump(force))

    def _copy(self, other: LenientKeyIdentifierValue, copy_func: object) -> None:
        super()._copy(other, copy_func)
        self.is_raw_key_id = other.is_raw_key_id


class TemplateExtension(x509.Extension):
    """``Extension`` as read in a CRMF CertTemplate: Dogtag's raw SKI form accepted (module docstring)."""

    _fields = [
        ("extn_id", x509.ExtensionId),
        ("critical", Boolean, {"default": False}),
        ("extn_value", LenientKeyIdentifierValue),
    ]

    _oid_specs = {**x509.Extension._oid_specs, "key_identifier": KeyIdentifier}


class TemplateExtensions(SequenceOf):
    _child_spec = TemplateExtension


class CertTemplate(Sequence):
    """The certificate the requester would like; every field optional (RFC 4211 §5)."""

    _fields = [
        ("version", x509.Version, {"implicit": 0, "optional": True}),
        ("serial_number", Integer, {"implicit": 1, "optional": True}),
        ("signing_alg", SignedDigestAlgorithm, {"implicit": 2, "optional": True}),
        ("issuer", x509.Name, {"explicit": 3, "optional": True}),
        ("validity", OptionalValidity, {"implicit": 4, "optional": True}),
        ("subject", x509.Name, {"explicit": 5, "optional": True}),
        ("public_key", PublicKeyInfo, {"implicit": 6, "optional": True}),
        ("issuer_uid", OctetBitString, {"implicit": 7, "optional": True}),
        ("subject_uid", OctetBitString, {"implicit": 8, "optional": True}),
        ("extensions", TemplateExtensions, {"implicit": 9, "optional": True}),
    ]


class RegControlType(ObjectIdentifier):
    """Types of CRMF ``controls`` and ``regInfo`` entries.

    :mod:`agent.cmc.asn1.cmc` adds the CMC popLinkWitness(V2) types, which Dogtag places in ``controls``.
    """

    _map = {
        ID_REG_CTRL_REG_TOKEN: "reg_token",
        ID_REG_CTRL_AUTHENTICATOR: "authenticator",
        ID_REG_CTRL_PKI_PUBLICATION_INFO: "pki_publication_info",
        ID_REG_CTRL_PKI_ARCHIVE_OPTIONS: "pki_archive_options",
        ID_REG_CTRL_OLD_CERT_ID: "old_cert_id",
        ID_REG_CTRL_PROTOCOL_ENCR_KEY: "protocol_encr_key",
        ID_REG_INFO_UTF8_PAIRS: "utf8_pairs",
        ID_REG_INFO_CERT_REQ: "cert_req",
    }


class AttributeTypeAndValue(Sequence):
    _fields = [
        ("type", RegControlType),
        ("value", Any),
    ]

    _oid_pair = ("type", "value")
    _oid_specs: dict[str, type] = {}


class Controls(SequenceOf):
    """``SEQUENCE SIZE (1..MAX) OF AttributeTypeAndValue``; empty (``30 00``) accepted, as Dogtag sends it."""

    _child_spec = AttributeTypeAndValue


class CertRequest(Sequence):
    _fields = [
        ("cert_req_id", Integer),
        ("cert_template", CertTemplate),
        ("controls", Controls, {"optional": True}),
    ]


class PKMACValue(Sequence):
    _fields = [
        ("alg_id", AnyAlgorithmIdentifier),
        ("value", OctetBitString),
    ]


class POPOSigningKeyInputAuthInfo(Choice):
    _alternatives = [
        ("sender", x509.GeneralName, {"explicit": 0}),
        ("public_key_mac", PKMACValue),
    ]


class POPOSigningKeyInput(Sequence):
    _fields = [
        ("auth_info", POPOSigningKeyInputAuthInfo),
        ("public_key", PublicKeyInfo),
    ]


class POPOSigningKey(Sequence):
    """Signature proof of possession: a signature over DER(CertRequest) when ``poposk_input`` is absent."""

    _fields = [
        ("poposk_input", POPOSigningKeyInput, {"implicit": 0, "optional": True}),
        ("algorithm_identifier", SignedDigestAlgorithm),
        ("signature", OctetBitString),
    ]


class SubsequentMessage(Integer):
    _map = {
        0: "encr_cert",
        1: "challenge_resp",
    }


class POPOPrivKey(Choice):
    _alternatives = [
        ("this_message", BitString, {"implicit": 0}),
        ("subsequent_message", SubsequentMessage, {"implicit": 1}),
        ("dh_mac", BitString, {"implicit": 2}),
        ("agree_mac", PKMACValue, {"implicit": 3}),
        ("encrypted_key", cms.EnvelopedData, {"implicit": 4}),
    ]


class ProofOfPossession(Choice):
    _alternatives = [
        ("ra_verified", Null, {"implicit": 0}),
        ("signature", POPOSigningKey, {"implicit": 1}),
        ("key_encipherment", POPOPrivKey, {"explicit": 2}),
        ("key_agreement", POPOPrivKey, {"explicit": 3}),
    ]


class CertReqMsg(Sequence):
    _fields = [
        ("cert_req", CertRequest),
        ("popo", ProofOfPossession, {"optional": True}),
        ("reg_info", Controls, {"optional": True}),
    ]


class CertReqMessages(SequenceOf):
    _child_spec = CertReqMsg


class EncryptedValue(Sequence):
    """A value (here: a wrapped private key) encrypted under a session key that is itself wrapped.

    Deprecated by RFC 4211 in favour of EnvelopedData, but it is the form Dogtag's CRMFPopClient writes
    and its KRA reads.
    """

    _fields = [
        ("intended_alg", AnyAlgorithmIdentifier, {"implicit": 0, "optional": True}),
        ("symm_alg", EncryptionAlgorithm, {"implicit": 1, "optional": True}),
        ("enc_symm_key", OctetBitString, {"implicit": 2, "optional": True}),
        ("key_alg", AnyAlgorithmIdentifier, {"implicit": 3, "optional": True}),
        ("value_hint", OctetString, {"implicit": 4, "optional": True}),
        ("enc_value", OctetBitString),
    ]


class EncryptedKey(Choice):
    _alternatives = [
        ("encrypted_value", EncryptedValue),
        ("enveloped_data", cms.EnvelopedData, {"implicit": 0}),
    ]


class PKIArchiveOptions(Choice):
    _alternatives = [
        ("encrypted_priv_key", EncryptedKey, {"explicit": 0}),
        ("key_gen_parameters", OctetString, {"implicit": 1}),
        ("archive_rem_gen_priv_key", Boolean, {"implicit": 2}),
    ]


class PubMethod(Integer):
    _map = {0: "dont_care", 1: "x500", 2: "web", 3: "ldap"}


class SinglePubInfo(Sequence):
    _fields = [
        ("pub_method", PubMethod),
        ("pub_location", x509.GeneralName, {"optional": True}),
    ]


class SinglePubInfos(SequenceOf):
    _child_spec = SinglePubInfo


class PublicationAction(Integer):
    _map = {0: "dont_publish", 1: "please_publish"}


class PKIPublicationInfo(Sequence):
    _fields = [
        ("action", PublicationAction),
        ("pub_infos", SinglePubInfos, {"optional": True}),
    ]


class CertId(Sequence):
    _fields = [
        ("issuer", x509.GeneralName),
        ("serial_number", Integer),
    ]


AttributeTypeAndValue._oid_specs = {
    "reg_token": UTF8String,
    "authenticator": UTF8String,
    "pki_publication_info": PKIPublicationInfo,
    "pki_archive_options": PKIArchiveOptions,
    "old_cert_id": CertId,
    "protocol_encr_key": PublicKeyInfo,
    "utf8_pairs": UTF8String,
    "cert_req": CertRequest,
}
