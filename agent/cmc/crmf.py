"""CRMF (RFC 4211) certificate requests, built the way Dogtag's CRMFPopClient builds them.

Layout (``dogtag-cmc-client.md`` §4.3): one CertReqMsg, certReqId 1, a template with version v3,
subject (PrintableString first), public key and optional extensions; a signature POP over
DER(CertRequest) whose AlgorithmIdentifier carries NULL parameters even for ECDSA (a Dogtag quirk the
CA expects), or no POP at all, which makes a Dogtag CA answer with an EncryptedPOP challenge.

Differences from CRMFPopClient, deliberate: ``controls`` is omitted when empty (RFC 4211 wants at least
one element; the Dogtag CA decodes it as optional and re-encodes it the same way), and the
SubjectKeyIdentifier extension never carries ``critical FALSE`` (that is not DER and breaks the POP
signature once the CA re-encodes the request).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from asn1crypto import core, keys, x509

from agent.cmc import algorithms, der, names
from agent.cmc.asn1 import crmf as asn1_crmf
from agent.cmc.errors import CMCError, InvalidCertificationRequest, InvalidRequestInput, KeyMismatch
from agent.cmc.keyid import same_public_key
from agent.cmc.pem import to_der
from agent.cmc.pkcs10 import parse_general_names, subject_key_identifier_extension
from agent.cmc.verify import verify_signature
from agent.keyops import HashName, Signer

PopKind = Literal["signature", "none", "encr-cert", "ra-verified"]
"""``signature``: POPOSigningKey. ``none``: no POP (Dogtag then sends an EncryptedPOP challenge).
``encr-cert``: keyEncipherment subsequentMessage encrCert (RFC 4211 for encryption keys; a Dogtag CA
refuses it with popFailed). ``ra-verified``: raVerified (for RAs; Dogtag refuses it too)."""


def build_cert_request(
    public_key_info: keys.PublicKeyInfo,
    subject: str | x509.Name,
    *,
    cert_req_id: int = 1,
    ski: bool = False,
    san: Sequence[str] = (),
    controls: Sequence[asn1_crmf.AttributeTypeAndValue] = (),
    string_policy: names.StringPolicy = "printable",
    empty_controls: bool = False,
) -> asn1_crmf.CertRequest:
    """The CertRequest (template and controls) for a key, before any POP.

    ``empty_controls``: without controls, write an empty ``controls`` (``30 00``) as Dogtag's
    CRMFPopClient always does, for files meant for Dogtag's tools: its CMCRequest adds popLinkWitnessV2
    to that SEQUENCE and crashes when it is absent. RFC 4211 wants at least one element, so requests we
    send ourselves leave it out.
    """
    if cert_req_id < 0:
        raise InvalidRequestInput("certReqId must not be negative")
    name = subject if isinstance(subject, x509.Name) else names.parse_dn(subject, string_policy)
    template: dict[str, object] = {"version": "v3", "subject": name, "public_key": public_key_info}
    extensions: list[x509.Extension] = []
    if ski:
        extensions.append(subject_key_identifier_extension(public_key_info))
    if san:
        extensions.append(
            x509.Extension({"extn_id": "subject_alt_name", "extn_value": parse_general_names(san)})
        )
    if extensions:
        template["extensions"] = [asn1_crmf.TemplateExtension.load(e.dump()) for e in extensions]
    request: dict[str, object] = {
        "cert_req_id": cert_req_id,
        "cert_template": asn1_crmf.CertTemplate(template),
    }
    if controls or empty_controls:
        request["controls"] = list(controls)
    return asn1_crmf.CertRequest(request)


def build_crmf(
    key: Signer | keys.PublicKeyInfo,
    subject: str | x509.Name,
    *,
    pop: PopKind = "signature",
    ski: bool = False,
    san: Sequence[str] = (),
    archive_options: asn1_crmf.PKIArchiveOptions | None = None,
    cert_req_id: int = 1,
    hash_name: HashName = "sha256",
    string_policy: names.StringPolicy = "printable",
    empty_controls: bool = False,
) -> asn1_crmf.CertReqMessages:
    """A one-message CertReqMessages for ``key`` (``empty_controls``: see :func:`build_cert_request`).

    ``key`` must be a :class:`Signer` for a signature POP; for the other POP kinds its public key is
    enough. ``archive_options`` (see :mod:`agent.cmc.archive`) adds the pkiArchiveOptions control for
    key archival in a KRA.
    """
    public_key_info = key if isinstance(key, keys.PublicKeyInfo) else key.public_key_info
    controls = []
    if archive_options is not None:
        controls.append(
            asn1_crmf.AttributeTypeAndValue({"type": "pki_archive_options", "value": archive_options})
        )
    cert_request = build_cert_request(
        public_key_info,
        subject,
        cert_req_id=cert_req_id,
        ski=ski,
        san=san,
        controls=controls,
        string_policy=string_policy,
        empty_controls=empty_controls,
    )
    if pop == "signature":
        if isinstance(key, keys.PublicKeyInfo):
            raise InvalidRequestInput("a signature POP needs the private key, not only the public key")
        message = sign_cert_request(cert_request, key, hash_name)
    else:
        message = asn1_crmf.CertReqMsg({"cert_req": cert_request})
        if pop == "encr-cert":
            message["popo"] = asn1_crmf.ProofOfPossession(
                "key_encipherment", asn1_crmf.POPOPrivKey("subsequent_message", "encr_cert")
            )
        elif pop == "ra-verified":
            message["popo"] = asn1_crmf.ProofOfPossession("ra_verified", core.Null())
        elif pop != "none":
            raise InvalidRequestInput(f"unknown POP kind {pop!r}")
    # a decoded copy encodes from its bytes; a built asn1crypto tree is re-walked on every encoding
    return asn1_crmf.CertReqMessages.load(asn1_crmf.CertReqMessages([message]).dump())


def sign_cert_request(
    cert_request: asn1_crmf.CertRequest, signer: Signer, hash_name: HashName = "sha256"
) -> asn1_crmf.CertReqMsg:
    """A CertReqMsg whose POPOSigningKey signs DER(cert_request) with ``signer``."""
    template_key = cert_request["cert_template"]["public_key"]
    if template_key.native is None or not same_public_key(template_key, signer.public_key_info):
        raise KeyMismatch("the POP signing key is not the key in the CRMF certificate template")
    signature = signer.sign(cert_request.dump(), hash_name)
    popo = asn1_crmf.POPOSigningKey(
        {
            "algorithm_identifier": algorithms.signature_algorithm(
                signer.key_algorithm, hash_name, ecdsa_null_params=True
            ),
            "signature": signature,
        }
    )
    message = asn1_crmf.CertReqMsg(
        {"cert_req": cert_request, "popo": asn1_crmf.ProofOfPossession("signature", popo)}
    )
    return asn1_crmf.CertReqMsg.load(message.dump())


def add_control_and_resign(
    message: asn1_crmf.CertReqMsg,
    control: asn1_crmf.AttributeTypeAndValue,
    signer: Signer,
    hash_name: HashName = "sha256",
) -> asn1_crmf.CertReqMsg:
    """Append ``control`` to the request's controls and renew a signature POP over the new CertRequest.

    This is how popLinkWitnessV2 enters a CRMF request (``dogtag-cmc-client.md`` §1.6.4); regInfo is
    dropped as Dogtag drops it. A message without a signature POP keeps its POP as it was.
    """
    old = message["cert_req"]
    present = old["controls"] if not isinstance(old["controls"], core.Void) else []
    controls = [asn1_crmf.AttributeTypeAndValue.load(c.dump()) for c in present]
    controls.append(control)
    cert_request = asn1_crmf.CertRequest(
        {
            "cert_req_id": old["cert_req_id"].native,
            "cert_template": asn1_crmf.CertTemplate.load(old["cert_template"].dump()),
            "controls": controls,
        }
    )
    popo = message["popo"]
    has_popo = not isinstance(popo, core.Void)
    if has_popo and popo.name == "signature":
        return sign_cert_request(cert_request, signer, hash_name)
    rebuilt = asn1_crmf.CertReqMsg({"cert_req": cert_request})
    if has_popo:
        rebuilt["popo"] = asn1_crmf.ProofOfPossession.load(popo.dump())
    return asn1_crmf.CertReqMsg.load(rebuilt.dump())


def load_crmf(data: bytes, *, check_signature: bool = True) -> asn1_crmf.CertReqMessages:
    """Read CertReqMessages from DER or PEM; refuse non-DER and (by default) a bad signature POP."""
    try:
        messages = der.load_der(asn1_crmf.CertReqMessages, to_der(data, "CRMF request"), "CRMF request")
    except CMCError as exc:
        raise InvalidCertificationRequest(f"cannot use the CRMF request: {exc}") from None
    if len(messages) == 0:
        raise InvalidCertificationRequest("the CRMF request holds no CertReqMsg")
    if check_signature:
        for message in messages:
            verify_pop(message)
    return messages


def verify_pop(message: asn1_crmf.CertReqMsg) -> None:
    """Check a signature POP (no-op for messages without one)."""
    popo = message["popo"]
    if isinstance(popo, core.Void) or popo.name != "signature":
        return
    signing_key = popo.chosen
    if signing_key["poposk_input"].native is not None:
        raise InvalidCertificationRequest("POPOSigningKeyInput is not supported (the key is in the template)")
    public_key = message["cert_req"]["cert_template"]["public_key"]
    if public_key.native is None:
        raise InvalidCertificationRequest("the CRMF template has no public key")
    try:
        verify_signature(
            public_key,
            signing_key["algorithm_identifier"],
            signing_key["signature"].native,
            message["cert_req"].dump(),
            what="CRMF POP signature",
        )
    except CMCError as exc:
        raise InvalidCertificationRequest(str(exc)) from None


def template_extension(message: asn1_crmf.CertReqMsg, extn_id: str) -> x509.Extension | None:
    extensions = message["cert_req"]["cert_template"]["extensions"]
    if extensions.native is None:
        return None
    for extension in extensions:
        if extension["extn_id"].native == extn_id:
            return extension
    return None


def shared_secret_signer_identifier(message: asn1_crmf.CertReqMsg) -> bytes | None:
    """The SignerIdentifier Dogtag derives for a CRMF shared-secret request: the *whole* extnValue
    contents of the SKI extension (``04 14 || keyid``, 22 bytes, for a correctly encoded extension).

    Dogtag's client and CA both treat the raw extnValue as the identifier (``dogtag-cmc-client.md``
    §1.4, §11), so this is what its CA compares the SignerIdentifier with.
    """
    extension = template_extension(message, "key_identifier")
    if extension is None:
        return None
    contents: bytes = extension["extn_value"].contents
    return contents
