"""RFC 5272 / RFC 6402 Certificate Management over CMS (CMC), as asn1crypto classes.

Declared in the style of :mod:`asn1crypto.cms`. Importing this module also registers the CMC content
types with asn1crypto, the way asn1crypto's own ``tsp`` module extends ``cms``:

* ``id-cct-PKIData`` / ``id-cct-PKIResponse`` become the ``cms.ContentType`` names ``pki_data`` /
  ``pki_response``, and ``EncapsulatedContentInfo['content'].parsed`` decodes them;
* the popLinkWitness(V2) types become known CRMF controls and PKCS#10 attributes.

The RFC module is ``IMPLICIT TAGS``. Two places cannot be decoded by tag alone and are handled here:

* ``OtherStatusInfo`` has two untagged SEQUENCE alternatives (``pendInfo``, ``extendedFailInfo``);
  :class:`OtherStatusInfo` picks one by looking at the first element of the SEQUENCE.
* Dogtag writes ``GetCert.issuerName`` (and ``CMCCertId`` issuers) as a bare ``Name`` rather than a
  ``GeneralName [4] directoryName``; :class:`IssuerNameChoice` accepts both.

Dogtag also reuses bodyPartIDs (``dogtag-cmc-client.md`` §10 item 9); nothing here checks uniqueness.
"""

from __future__ import annotations

from asn1crypto import cms, crl, csr, x509
from asn1crypto.algos import DigestAlgorithmId, EncryptionAlgorithm, HmacAlgorithm
from asn1crypto.core import (
    Any,
    Boolean,
    Choice,
    GeneralizedTime,
    Integer,
    ObjectIdentifier,
    OctetString,
    Sequence,
    SequenceOf,
    SetOf,
    UTF8String,
    ValueMap,
)

from agent.cmc.asn1 import crmf
from agent.cmc.asn1.pkcs10 import CertificationRequest

ID_PKIX = "1.3.6.1.5.5.7"
ID_CMC = ID_PKIX + ".7"
ID_CCT = ID_PKIX + ".12"

ID_CCT_PKI_DATA = ID_CCT + ".2"
ID_CCT_PKI_RESPONSE = ID_CCT + ".3"

ID_CMC_STATUS_INFO = ID_CMC + ".1"
ID_CMC_IDENTIFICATION = ID_CMC + ".2"
ID_CMC_IDENTITY_PROOF = ID_CMC + ".3"
ID_CMC_DATA_RETURN = ID_CMC + ".4"
ID_CMC_TRANSACTION_ID = ID_CMC + ".5"
ID_CMC_SENDER_NONCE = ID_CMC + ".6"
ID_CMC_RECIPIENT_NONCE = ID_CMC + ".7"
ID_CMC_ADD_EXTENSIONS = ID_CMC + ".8"
ID_CMC_ENCRYPTED_POP = ID_CMC + ".9"
ID_CMC_DECRYPTED_POP = ID_CMC + ".10"
ID_CMC_LRA_POP_WITNESS = ID_CMC + ".11"
ID_CMC_GET_CERT = ID_CMC + ".15"
ID_CMC_GET_CRL = ID_CMC + ".16"
ID_CMC_REVOKE_REQUEST = ID_CMC + ".17"
ID_CMC_REG_INFO = ID_CMC + ".18"
ID_CMC_RESPONSE_INFO = ID_CMC + ".19"
ID_CMC_QUERY_PENDING = ID_CMC + ".21"
ID_CMC_POP_LINK_RANDOM = ID_CMC + ".22"
ID_CMC_POP_LINK_WITNESS = ID_CMC + ".23"
ID_CMC_CONFIRM_CERT_ACCEPTANCE = ID_CMC + ".24"
ID_CMC_STATUS_INFO_V2 = ID_CMC + ".25"
ID_CMC_TRUSTED_ANCHORS = ID_CMC + ".26"
ID_CMC_AUTH_DATA = ID_CMC + ".27"
ID_CMC_BATCH_REQUESTS = ID_CMC + ".28"
ID_CMC_BATCH_RESPONSES = ID_CMC + ".29"
ID_CMC_PUBLISH_CERT = ID_CMC + ".30"
ID_CMC_MOD_CERT_TEMPLATE = ID_CMC + ".31"
ID_CMC_CONTROL_PROCESSED = ID_CMC + ".32"
ID_CMC_POP_LINK_WITNESS_V2 = ID_CMC + ".33"
ID_CMC_IDENTITY_PROOF_V2 = ID_CMC + ".34"
ID_CMC_RA_IDENTITY_WITNESS = ID_CMC + ".35"
ID_CMC_CHANGE_SUBJECT_NAME = ID_CMC + ".36"
ID_CMC_RESPONSE_BODY = ID_CMC + ".37"


class CMCControlType(ObjectIdentifier):
    """The ``attrType`` of a :class:`TaggedAttribute` (a CMC control)."""

    _map = {
        ID_CMC_STATUS_INFO: "status_info",
        ID_CMC_IDENTIFICATION: "identification",
        ID_CMC_IDENTITY_PROOF: "identity_proof",
        ID_CMC_DATA_RETURN: "data_return",
        ID_CMC_TRANSACTION_ID: "transaction_id",
        ID_CMC_SENDER_NONCE: "sender_nonce",
        ID_CMC_RECIPIENT_NONCE: "recipient_nonce",
        ID_CMC_ADD_EXTENSIONS: "add_extensions",
        ID_CMC_ENCRYPTED_POP: "encrypted_pop",
        ID_CMC_DECRYPTED_POP: "decrypted_pop",
        ID_CMC_LRA_POP_WITNESS: "lra_pop_witness",
        ID_CMC_GET_CERT: "get_cert",
        ID_CMC_GET_CRL: "get_crl",
        ID_CMC_REVOKE_REQUEST: "revoke_request",
        ID_CMC_REG_INFO: "reg_info",
        ID_CMC_RESPONSE_INFO: "response_info",
        ID_CMC_QUERY_PENDING: "query_pending",
        ID_CMC_POP_LINK_RANDOM: "pop_link_random",
        ID_CMC_POP_LINK_WITNESS: "pop_link_witness",
        ID_CMC_CONFIRM_CERT_ACCEPTANCE: "confirm_cert_acceptance",
        ID_CMC_STATUS_INFO_V2: "status_info_v2",
        ID_CMC_TRUSTED_ANCHORS: "trusted_anchors",
        ID_CMC_AUTH_DATA: "auth_data",
        ID_CMC_BATCH_REQUESTS: "batch_requests",
        ID_CMC_BATCH_RESPONSES: "batch_responses",
        ID_CMC_PUBLISH_CERT: "publish_cert",
        ID_CMC_MOD_CERT_TEMPLATE: "mod_cert_template",
        ID_CMC_CONTROL_PROCESSED: "control_processed",
        ID_CMC_POP_LINK_WITNESS_V2: "pop_link_witness_v2",
        ID_CMC_IDENTITY_PROOF_V2: "identity_proof_v2",
        ID_CMC_RA_IDENTITY_WITNESS: "ra_identity_witness",
        ID_CMC_CHANGE_SUBJECT_NAME: "change_subject_name",
        ID_CMC_RESPONSE_BODY: "response_body",
    }


# --- small building blocks -------------------------------------------------------------------------


class BodyPartID(Integer):
    """``INTEGER (0..4294967295)``; 0 names the whole PKIData."""


class BodyPartPath(SequenceOf):
    _child_spec = BodyPartID


class BodyPartList(SequenceOf):
    _child_spec = BodyPartID


class BodyPartReference(Choice):
    _alternatives = [
        ("body_part_id", BodyPartID),
        ("body_part_path", BodyPartPath),
    ]


class BodyPartReferences(SequenceOf):
    _child_spec = BodyPartReference


class HashAlgorithmIdentifier(Sequence):
    """A digest AlgorithmIdentifier that keeps parameters exactly as given.

    asn1crypto's ``DigestAlgorithm`` adds NULL parameters to SHA-2 when none are set; Dogtag writes the
    hash identifiers of identityProofV2, popLinkWitnessV2 and EncryptedPOP's witnessAlgID **without**
    parameters, and those bytes are MACed or compared, so we must not add any.
    """

    _fields = [
        ("algorithm", DigestAlgorithmId),
        ("parameters", Any, {"optional": True}),
    ]


class IssuerNameChoice(Choice):
    """A ``GeneralName``, or the bare ``Name`` (an RDNSequence, tag 0x30) that Dogtag writes instead.

    Dogtag's CMCRequest encodes ``GetCert.issuerName`` and the ``CMCCertId`` issuer as an untagged Name,
    and its CA decodes exactly that (``dogtag-cmc-client.md`` §1.6.1); RFC 5272 wants a GeneralName.
    """

    _alternatives = [("name", x509.RDNSequence), *x509.GeneralName._alternatives]

    @property
    def as_name(self) -> x509.Name | None:
        """The issuer as an ``x509.Name`` when it is a directory name in either form, else None."""
        if self.name == "name":
            return x509.Name(name="", value=self.chosen)
        if self.name == "directory_name":
            chosen: x509.Name = self.chosen
            return chosen
        return None


class IssuerNameChoices(SequenceOf):
    _child_spec = IssuerNameChoice


# --- status ----------------------------------------------------------------------------------------


class CMCStatus(Integer):
    _map = {
        0: "success",
        2: "failed",
        3: "pending",
        4: "no_support",
        5: "confirm_required",
        6: "pop_required",
        7: "partial",
    }


class CMCFailInfo(Integer):
    _map = {
        0: "bad_alg",
        1: "bad_message_check",
        2: "bad_request",
        3: "bad_time",
        4: "bad_cert_id",
        5: "unsupported_ext",
        6: "must_archive_keys",
        7: "bad_identity",
        8: "pop_required",
        9: "pop_failed",
        10: "no_key_reuse",
        11: "internal_ca_error",
        12: "try_later",
        13: "auth_data_fail",
    }


class PendInfo(Sequence):
    _fields = [
        ("pend_token", OctetString),
        ("pend_time", GeneralizedTime),
    ]


class ExtendedFailInfo(Sequence):
    _fields = [
        ("fail_info_oid", ObjectIdentifier),
        ("fail_info_value", Any),
    ]


_UNIVERSAL_SEQUENCE = (0, 16)
_TAG_OCTET_STRING = 0x04
_TAG_OID = 0x06


class OtherStatusInfo(Choice):
    """``CHOICE { failInfo CMCFailInfo, pendInfo PendInfo, extendedFailInfo ExtendedFailInfo }``.

    pendInfo and extendedFailInfo are both untagged SEQUENCEs, so the tag cannot decide (pyasn1 fails
    here). The first element can: a PendInfo starts with an OCTET STRING, an ExtendedFailInfo with an
    OBJECT IDENTIFIER.
    """

    _alternatives = [
        ("fail_info", CMCFailInfo),
        ("pend_info", PendInfo),
        ("extended_fail_info", ExtendedFailInfo),
    ]

    def validate(self, class_: int, tag: int, contents: bytes) -> None:
        if (class_, tag) != _UNIVERSAL_SEQUENCE:
            super().validate(class_, tag, contents)
            return
        first_tag = contents[0] if contents else None
        if first_tag == _TAG_OCTET_STRING:
            self._choice = self._name_map["pend_info"]
        elif first_tag == _TAG_OID:
            self._choice = self._name_map["extended_fail_info"]
        else:
            raise ValueError(
                "OtherStatusInfo SEQUENCE is neither a PendInfo (OCTET STRING first) "
                "nor an ExtendedFailInfo (OBJECT IDENTIFIER first)"
            )


class CMCStatusInfoV2(Sequence):
    _fields = [
        ("cmc_status", CMCStatus),
        ("body_list", BodyPartReferences),
        ("status_string", UTF8String, {"optional": True}),
        ("other_info", OtherStatusInfo, {"optional": True}),
    ]


class CMCStatusInfoOtherInfo(Choice):
    _alternatives = [
        ("fail_info", CMCFailInfo),
        ("pend_info", PendInfo),
    ]


class CMCStatusInfo(Sequence):
    """The RFC 5272 version-1 status; Dogtag never sends it but other CAs may."""

    _fields = [
        ("cmc_status", CMCStatus),
        ("body_list", BodyPartList),
        ("status_string", UTF8String, {"optional": True}),
        ("other_info", CMCStatusInfoOtherInfo, {"optional": True}),
    ]


# --- requests --------------------------------------------------------------------------------------


class TaggedCertificationRequest(Sequence):
    _fields = [
        ("body_part_id", BodyPartID),
        ("certification_request", CertificationRequest),
    ]


class OtherReqMsg(Sequence):
    _fields = [
        ("body_part_id", BodyPartID),
        ("request_message_type", ObjectIdentifier),
        ("request_message_value", Any),
    ]


class TaggedRequest(Choice):
    _alternatives = [
        ("tcr", TaggedCertificationRequest, {"implicit": 0}),
        ("crm", crmf.CertReqMsg, {"implicit": 1}),
        ("orm", OtherReqMsg, {"implicit": 2}),
    ]


class TaggedRequests(SequenceOf):
    _child_spec = TaggedRequest


class TaggedContentInfo(Sequence):
    _fields = [
        ("body_part_id", BodyPartID),
        ("content_info", cms.ContentInfo),
    ]


class TaggedContentInfos(SequenceOf):
    _child_spec = TaggedContentInfo


class OtherMsg(Sequence):
    _fields = [
        ("body_part_id", BodyPartID),
        ("other_msg_type", ObjectIdentifier),
        ("other_msg_value", Any),
    ]


class OtherMsgs(SequenceOf):
    _child_spec = OtherMsg


# --- control values --------------------------------------------------------------------------------


class IdentityProofV2(Sequence):
    """``IdentifyProofV2`` in RFC 5272 (sic): HMAC over DER(reqSequence) keyed by Hash(secret)."""

    _fields = [
        ("proof_alg_id", HashAlgorithmIdentifier),
        ("mac_alg_id", HmacAlgorithm),
        ("witness", OctetString),
    ]


class PopLinkWitnessV2(Sequence):
    _fields = [
        ("key_gen_algorithm", HashAlgorithmIdentifier),
        ("mac_algorithm", HmacAlgorithm),
        ("witness", OctetString),
    ]


class EncryptedPOP(Sequence):
    """The CA's challenge (trip 1). Dogtag puts the AES-CBC algorithm *and the real IV* in thePOPAlgID."""

    _fields = [
        ("request", TaggedRequest),
        ("cms", cms.ContentInfo),
        ("the_pop_alg_id", EncryptionAlgorithm),
        ("witness_alg_id", HashAlgorithmIdentifier),
        ("witness", OctetString),
    ]


class DecryptedPOP(Sequence):
    _fields = [
        ("body_part_id", BodyPartID),
        ("the_pop_alg_id", EncryptionAlgorithm),
        ("the_pop", OctetString),
    ]


class LraPopWitness(Sequence):
    _fields = [
        ("pki_data_bodyid", BodyPartID),
        ("body_ids", BodyPartList),
    ]


class GetCert(Sequence):
    """``issuerName`` is a GeneralName in RFC 5272 and a bare Name from Dogtag; both decode."""

    _fields = [
        ("issuer_name", IssuerNameChoice),
        ("serial_number", Integer),
    ]


class GetCRL(Sequence):
    _fields = [
        ("issuer_name", x509.Name),
        ("crl_name", x509.GeneralName, {"optional": True}),
        ("time", GeneralizedTime, {"optional": True}),
        ("reasons", x509.ReasonFlags, {"optional": True}),
    ]


class RevokeRequest(Sequence):
    _fields = [
        ("issuer_name", x509.Name),
        ("serial_number", Integer),
        ("reason", crl.CRLReason),
        ("invalidity_date", GeneralizedTime, {"optional": True}),
        ("passphrase", OctetString, {"optional": True}),
        ("comment", UTF8String, {"optional": True}),
    ]


class CMCCertId(Sequence):
    """``IssuerSerial`` of RFC 5755; Dogtag's issuer GeneralNames holds a bare Name."""

    _fields = [
        ("issuer", IssuerNameChoices),
        ("serial", Integer),
        ("issuer_uid", x509.OctetBitString, {"optional": True}),
    ]


class AddExtensions(Sequence):
    _fields = [
        ("pki_data_reference", BodyPartID),
        ("cert_references", BodyPartList),
        ("extensions", x509.Extensions),
    ]


class OctetStrings(SequenceOf):
    _child_spec = OctetString


class PublishTrustAnchors(Sequence):
    _fields = [
        ("seq_number", Integer),
        ("hash_algorithm", HashAlgorithmIdentifier),
        ("anchor_hashes", OctetStrings),
    ]


class CMCPublicationInfo(Sequence):
    _fields = [
        ("hash_alg", HashAlgorithmIdentifier),
        ("cert_hashes", OctetStrings),
        ("pub_info", crmf.PKIPublicationInfo),
    ]


class ModCertTemplate(Sequence):
    _fields = [
        ("pki_data_reference", BodyPartPath),
        ("cert_references", BodyPartList),
        ("replace", Boolean, {"default": True}),
        ("cert_template", crmf.CertTemplate),
    ]


class ControlsProcessed(Sequence):
    _fields = [
        ("body_list", BodyPartReferences),
    ]


class ChangeSubjectName(Sequence):
    _fields = [
        ("subject", x509.Name, {"optional": True}),
        ("subject_alt", x509.GeneralNames, {"optional": True}),
    ]


def _set_of(spec: type) -> type[SetOf]:
    """A ``SET OF spec`` class, named after its element type (for readable error messages)."""
    return type(f"SetOf{spec.__name__}", (SetOf,), {"_child_spec": spec})


SetOfCMCStatusInfo = _set_of(CMCStatusInfo)
SetOfCMCStatusInfoV2 = _set_of(CMCStatusInfoV2)
SetOfUTF8String = _set_of(UTF8String)
SetOfOctetString = _set_of(OctetString)
SetOfInteger = _set_of(Integer)
SetOfBodyPartID = _set_of(BodyPartID)
SetOfIdentityProofV2 = _set_of(IdentityProofV2)
SetOfPopLinkWitnessV2 = _set_of(PopLinkWitnessV2)
SetOfAddExtensions = _set_of(AddExtensions)
SetOfEncryptedPOP = _set_of(EncryptedPOP)
SetOfDecryptedPOP = _set_of(DecryptedPOP)
SetOfLraPopWitness = _set_of(LraPopWitness)
SetOfGetCert = _set_of(GetCert)
SetOfGetCRL = _set_of(GetCRL)
SetOfRevokeRequest = _set_of(RevokeRequest)
SetOfCMCCertId = _set_of(CMCCertId)
SetOfPublishTrustAnchors = _set_of(PublishTrustAnchors)
SetOfBodyPartList = _set_of(BodyPartList)
SetOfBodyPartPath = _set_of(BodyPartPath)
SetOfCMCPublicationInfo = _set_of(CMCPublicationInfo)
SetOfModCertTemplate = _set_of(ModCertTemplate)
SetOfControlsProcessed = _set_of(ControlsProcessed)
SetOfChangeSubjectName = _set_of(ChangeSubjectName)
SetOfAny = _set_of(Any)


class TaggedAttribute(Sequence):
    """A CMC control: ``{ bodyPartID, attrType, attrValues SET OF }``; values decoded by attrType."""

    _fields = [
        ("body_part_id", BodyPartID),
        ("attr_type", CMCControlType),
        ("attr_values", None),
    ]

    _oid_specs: dict[str, type] = {}

    def _values_spec(self) -> type:
        return self._oid_specs.get(self["attr_type"].native, SetOfAny)

    _spec_callbacks = {"attr_values": _values_spec}


TaggedAttribute._oid_specs = {
    "status_info": SetOfCMCStatusInfo,
    "identification": SetOfUTF8String,
    "identity_proof": SetOfOctetString,
    "data_return": SetOfOctetString,
    "transaction_id": SetOfInteger,
    "sender_nonce": SetOfOctetString,
    "recipient_nonce": SetOfOctetString,
    "add_extensions": SetOfAddExtensions,
    "encrypted_pop": SetOfEncryptedPOP,
    "decrypted_pop": SetOfDecryptedPOP,
    "lra_pop_witness": SetOfLraPopWitness,
    "get_cert": SetOfGetCert,
    "get_crl": SetOfGetCRL,
    "revoke_request": SetOfRevokeRequest,
    "reg_info": SetOfOctetString,
    "response_info": SetOfOctetString,
    "query_pending": SetOfOctetString,
    "pop_link_random": SetOfOctetString,
    "pop_link_witness": SetOfOctetString,
    "confirm_cert_acceptance": SetOfCMCCertId,
    "status_info_v2": SetOfCMCStatusInfoV2,
    "trusted_anchors": SetOfPublishTrustAnchors,
    "auth_data": SetOfBodyPartID,
    "batch_requests": SetOfBodyPartList,
    "batch_responses": SetOfBodyPartList,
    "publish_cert": SetOfCMCPublicationInfo,
    "mod_cert_template": SetOfModCertTemplate,
    "control_processed": SetOfControlsProcessed,
    "pop_link_witness_v2": SetOfPopLinkWitnessV2,
    "identity_proof_v2": SetOfIdentityProofV2,
    "ra_identity_witness": SetOfBodyPartPath,
    "change_subject_name": SetOfChangeSubjectName,
}


class TaggedAttributes(SequenceOf):
    _child_spec = TaggedAttribute


# --- the two messages ------------------------------------------------------------------------------


class PKIData(Sequence):
    """A Full PKI Request: the eContent of a SignedData whose eContentType is id-cct-PKIData."""

    _fields = [
        ("control_sequence", TaggedAttributes),
        ("req_sequence", TaggedRequests),
        ("cms_sequence", TaggedContentInfos),
        ("other_msg_sequence", OtherMsgs),
    ]


class PKIResponse(Sequence):
    """A Full PKI Response: the eContent of a SignedData whose eContentType is id-cct-PKIResponse."""

    _fields = [
        ("control_sequence", TaggedAttributes),
        ("cms_sequence", TaggedContentInfos),
        ("other_msg_sequence", OtherMsgs),
    ]


SetOfPKIResponse = _set_of(PKIResponse)
TaggedAttribute._oid_specs["response_body"] = SetOfPKIResponse  # RFC 6402: ResponseBody ::= PKIResponse


# --- registration with asn1crypto ------------------------------------------------------------------


def _register_oid(oid_class: type[ValueMap], dotted: str, name: str) -> None:
    """Add ``dotted -> name`` to an asn1crypto OID map, also if its reverse map was already built."""
    oid_class._map[dotted] = name
    if oid_class._reverse_map is not None:
        oid_class._reverse_map[name] = dotted


_register_oid(cms.ContentType, ID_CCT_PKI_DATA, "pki_data")
_register_oid(cms.ContentType, ID_CCT_PKI_RESPONSE, "pki_response")
cms.EncapsulatedContentInfo._oid_specs["pki_data"] = PKIData
cms.EncapsulatedContentInfo._oid_specs["pki_response"] = PKIResponse
cms.ContentInfo._oid_specs["pki_data"] = PKIData
cms.ContentInfo._oid_specs["pki_response"] = PKIResponse

# RFC 6402 / Dogtag: the popLinkWitness(V2) of a CRMF request travels in CertRequest.controls ...
_register_oid(crmf.RegControlType, ID_CMC_POP_LINK_WITNESS_V2, "pop_link_witness_v2")
_register_oid(crmf.RegControlType, ID_CMC_POP_LINK_WITNESS, "pop_link_witness")
crmf.AttributeTypeAndValue._oid_specs["pop_link_witness_v2"] = PopLinkWitnessV2
crmf.AttributeTypeAndValue._oid_specs["pop_link_witness"] = OctetString

# ... and that of a PKCS#10 request in a CertificationRequestInfo attribute.
_register_oid(csr.CSRAttributeType, ID_CMC_POP_LINK_WITNESS_V2, "pop_link_witness_v2")
_register_oid(csr.CSRAttributeType, ID_CMC_POP_LINK_WITNESS, "pop_link_witness")
csr.CRIAttribute._oid_specs["pop_link_witness_v2"] = SetOfPopLinkWitnessV2
csr.CRIAttribute._oid_specs["pop_link_witness"] = SetOfOctetString
