"""The authenticators a CMC profile can name (dogtag-cmc-server.md §4), with Dogtag's checks and texts.

* ``CMCAuth``: an agent-signed request. Every failure inside is reported as ``Invalid Credential.``
  (Dogtag wraps them all), including a missing or mismatched TLS client certificate.
* ``CMCUserSignedAuth``: user-signed (issuerAndSerialNumber), self-signed (subjectKeyIdentifier: the
  shared-token enrollment) or unsigned ``id-data`` (shared-secret revocation); texts per §4.2.
* ``AgentCertAuth``: the TLS client certificate of a CA user (the Simple endpoint).

The result is an :class:`AuthToken` holding the facts later steps read: the authenticated name, the
CMC signing certificate's serial, the signer and issuer principals used by revocation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from asn1crypto import cms, csr
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509

from agent.cmc.asn1 import cmc, crmf
from localca.asn1util import is_absent
from localca.authority import CertificateAuthority
from localca.cms import CMSCheckFailed, content_digest, find_certificate, verify_signer_info
from localca.failures import AuthenticationFailed
from localca.names import dn_string
from localca.pop import PopCheckFailed, jss_reencode, verify_pkcs10_signature
from localca.recognition import issued_here, recognised, registered_user

log = logging.getLogger(__name__)

INVALID_CREDENTIAL = "Invalid Credential."
NO_CLIENT_CERT = "No Client Certificate Found"
TLS_SIGNER_MISMATCH = (
    f"{INVALID_CREDENTIAL}:SSL client authentication certificate and CMC signer do not match"
)
SIGNER_NOT_ISSUED_HERE = (
    f"{INVALID_CREDENTIAL}:CMC signing cert is not the certificate this CA issued under its serial number"
)
TLS_CERT_NOT_RECOGNISED = (
    f"{INVALID_CREDENTIAL}:SSL client authentication certificate was neither issued nor registered here"
)
AUTHORIZATION_ERROR = "Authorization Error"
"""AgentCertAuth's text (CMS_AUTHORIZATION_ERROR) for a CA user outside its ``agentGroup``."""
PKI_DATA_OID = "1.3.6.1.5.5.7.12.2"

CMC_AUTH = "CMCAuth"
CMC_USER_SIGNED_AUTH = "CMCUserSignedAuth"
AGENT_CERT_AUTH = "AgentCertAuth"


@dataclass
class AuthToken:
    """Dogtag's AuthToken, reduced to the entries the CMC code paths read."""

    authenticator: str
    user_id: str | None = None
    authenticated_subject: str | None = None
    """``TOKEN_AUTHENTICATED_CERT_SUBJECT``: copied to AUTHENTICATED_NAME by CMCUserSignedAuth.populate."""
    cert_subject: str | None = None
    """``TOKEN_CERT_SUBJECT``: the requested subject; a shared-token lookup replaces it by the entry DN."""
    signing_cert_serial: int | None = None
    """``cmcSigningCert`` (CRED_CMC_SIGNING_CERT): set for a verified user-signed request."""
    self_signed: bool = False
    signer_principal: asn1_x509.Name | None = None
    """CMC_SIGNER_PRINCIPAL: the user signer's subject (CMCUserSignedAuth only)."""
    issuer_principal: asn1_x509.Name | None = None
    """CMC_ISSUER_PRINCIPAL: a revokeRequest's issuerName, normalised to the CA's name (CMCUserSignedAuth)."""
    agent_in_group: bool = False
    shared_token_subject: str | None = None
    """TOKEN_SHARED_TOKEN_AUTHENTICATED_CERT_SUBJECT: set by a verified identityProofV2."""
    extra: dict[str, object] = field(default_factory=dict)


def _octets(value: object) -> bytes:
    return bytes(value)  # type: ignore[call-overload]


def decode_structure(pki_data: cmc.PKIData) -> None:
    """Decode what JSS's PKIData template decodes: the requests fully, controls down to their type and
    the SET that holds their values.

    The values themselves stay undecoded (JSS keeps them as ANY) until a step reads them, so a bad value
    fails where Dogtag would fail, not here; a control whose values are not a SET fails here, as in JSS,
    and not after a certificate has been issued.
    """
    pki_data["req_sequence"].native  # noqa: B018
    for control in pki_data["control_sequence"]:
        control["body_part_id"].native  # noqa: B018
        control["attr_type"].native  # noqa: B018
        control["attr_values"]  # parses the SET's tag and length, not its elements
    pki_data["other_msg_sequence"].native  # noqa: B018


def _load_content_info(body: bytes) -> cms.ContentInfo:
    content_info = cms.ContentInfo.load(body)
    content_info["content_type"].native  # noqa: B018 - forces the parse; asn1crypto is lazy
    return content_info


def _digests_for_signer(
    signed_data: cms.SignedData, signer_info: cms.SignerInfo, econtent: bytes, pki_data: cmc.PKIData
) -> bytes:
    return content_digest(signed_data, signer_info, econtent, lambda: jss_reencode(pki_data))


class Authenticator:
    """Runs the named authenticator against a request body and the TLS client certificate."""

    def __init__(self, ca: CertificateAuthority) -> None:
        self.ca = ca

    def authenticate(
        self, name: str, body: bytes, tls_client_certificate: asn1_x509.Certificate | None
    ) -> AuthToken:
        if name == CMC_AUTH:
            return self._cmc_auth(body, tls_client_certificate)
        if name == CMC_USER_SIGNED_AUTH:
            return self._cmc_user_signed_auth(body, tls_client_certificate)
        if name == AGENT_CERT_AUTH:
            return self._agent_cert_auth(tls_client_certificate)
        raise AuthenticationFailed(f"Authentication Manager {name} Not Found")

    # -- CMCAuth -----------------------------------------------------------------------------------

    def _cmc_auth(self, body: bytes, tls_cert: asn1_x509.Certificate | None) -> AuthToken:
        if not body:
            raise AuthenticationFailed("attempted login with empty CMC")
        token = AuthToken(authenticator=CMC_AUTH)
        try:
            content_info = _load_content_info(body)
            if content_info["content_type"].native != "signed_data":
                raise AuthenticationFailed("NO_CMC_CONTENT")
            signed_data: cms.SignedData = content_info["content"]
            user_id = "defUser"
            if self.ca.config.get_bool("cmc.signerInfo.verify", True):
                agent = self._verify_agent_signer(signed_data, tls_cert, token)
                if agent is None:
                    raise AuthenticationFailed("CMCAuth: agent verifySignerInfo failure")
                user_id = agent
            token.user_id = user_id
            encap = signed_data["encap_content_info"]
            if encap["content_type"].dotted != PKI_DATA_OID or is_absent(encap["content"]):
                raise AuthenticationFailed("NO_PKIDATA")
            pki_data = cmc.PKIData.load(_octets(encap["content"]))
            self._note_requests(pki_data, token, verify_csr=True, self_signed_signer=None)
        except Exception as exc:  # CMCAuth turns every failure into "Invalid Credential."
            log.debug("CMCAuth: %s", exc, exc_info=True)
            raise AuthenticationFailed(INVALID_CREDENTIAL) from exc
        return token

    def _verify_agent_signer(
        self, signed_data: cms.SignedData, tls_cert: asn1_x509.Certificate | None, token: AuthToken
    ) -> str | None:
        """CMCAuth.verifySignerInfo + authenticateCAUser; None means "no agent" (any failure raises)."""
        encap = signed_data["encap_content_info"]
        econtent = _octets(encap["content"])
        pki_data = cmc.PKIData.load(econtent)
        content_type = encap["content_type"].dotted
        for signer_info in signed_data["signer_infos"]:
            digest = _digests_for_signer(signed_data, signer_info, econtent, pki_data)
            sid = signer_info["sid"]
            if sid.name != "issuer_and_serial_number":
                continue
            if not isinstance(signed_data["certificates"], cms.CertificateSet):
                raise CMSCheckFailed("no certificates: the signer cannot be found")
            certificate = find_certificate(signed_data, sid.chosen)
            if certificate is None:
                raise CMSCheckFailed("signer certificate not in SignedData.certificates")
            if tls_cert is None:
                if not self.ca.config.get_bool("cmc.bypassClientAuth"):
                    raise AuthenticationFailed("missing SSL client authentication certificate;")
            elif tls_cert.subject != certificate.subject:
                raise AuthenticationFailed(TLS_SIGNER_MISMATCH)
            elif not recognised(self.ca, tls_cert):
                raise AuthenticationFailed(TLS_CERT_NOT_RECOGNISED)
            verify_signer_info(signer_info, digest, content_type, certificate.public_key)
            return self._authenticate_ca_user(certificate, token)
        return None

    def _authenticate_ca_user(self, certificate: asn1_x509.Certificate, token: AuthToken) -> str:
        """CertUserDBAuthentication: not revoked, and a user registered with exactly this certificate
        (Dogtag matches the user's description text only; see :mod:`localca.recognition`)."""
        if self.ca.config.get_bool("auths.revocationChecking.enabled", True) and self.ca.is_revoked(
            certificate
        ):
            raise AuthenticationFailed(INVALID_CREDENTIAL)
        agent = registered_user(self.ca, certificate)
        if agent is None:
            raise AuthenticationFailed(INVALID_CREDENTIAL)
        token.agent_in_group = agent.in_agent_group
        token.authenticated_subject = dn_string(certificate.subject)
        return agent.subject

    # -- CMCUserSignedAuth -------------------------------------------------------------------------

    def _cmc_user_signed_auth(self, body: bytes, tls_cert: asn1_x509.Certificate | None) -> AuthToken:
        if not body:
            raise AuthenticationFailed("attempted login with empty cert_request in authCred.")
        token = AuthToken(authenticator=CMC_USER_SIGNED_AUTH)
        try:
            content_info = _load_content_info(body)
        except ValueError as exc:
            raise AuthenticationFailed(f"InvalidBERException: {exc}") from None
        content_type = content_info["content_type"].native
        self_signed_signer: tuple[cms.SignerInfo, bytes] | None = None
        try:
            if content_type == "signed_data":
                signed_data: cms.SignedData = content_info["content"]
                if self.ca.config.get_bool("cmc.signerInfo.verify", True):
                    verified = self._verify_user_signer(signed_data, tls_cert, token)
                    if verified is None:
                        raise AuthenticationFailed("userToken null; verifySignerInfo failure")
                    if token.self_signed:
                        self_signed_signer = verified
                encap = signed_data["encap_content_info"]
                if encap["content_type"].dotted != PKI_DATA_OID or is_absent(encap["content"]):
                    raise AuthenticationFailed(
                        "request EncapsulatedContentInfo content type not OBJECT_IDENTIFIER.id_cct_PKIData"
                    )
                content = _octets(encap["content"])
            elif content_type == "data":
                content = _octets(content_info["content"])
            else:
                raise AuthenticationFailed(
                    "unsupported cmc rquest content type; "
                    "must be either ContentInfo.SIGNED_DATA or ContentInfo.DATA;"
                )
            pki_data = cmc.PKIData.load(content)
            decode_structure(pki_data)
            self._note_requests(pki_data, token, verify_csr=True, self_signed_signer=self_signed_signer)
        except AuthenticationFailed:
            raise
        except (ValueError, TypeError, KeyError) as exc:
            raise AuthenticationFailed(f"InvalidBERException: {exc}") from None
        return token

    def _verify_user_signer(
        self, signed_data: cms.SignedData, tls_cert: asn1_x509.Certificate | None, token: AuthToken
    ) -> tuple[cms.SignerInfo, bytes] | None:
        """CMCUserSignedAuth.verifySignerInfo. Returns (signer info, digest), or None on a bad signature."""
        encap = signed_data["encap_content_info"]
        try:
            econtent = _octets(encap["content"])
            pki_data = cmc.PKIData.load(econtent)
            content_type = encap["content_type"].dotted
            for signer_info in signed_data["signer_infos"]:
                digest = _digests_for_signer(signed_data, signer_info, econtent, pki_data)
                sid = signer_info["sid"]
                if sid.name == "issuer_and_serial_number":
                    token.self_signed = False
                    if not isinstance(signed_data["certificates"], cms.CertificateSet):
                        raise AuthenticationFailed("no certificate found in cmcFullReq")
                    certificate = find_certificate(signed_data, sid.chosen)
                    if certificate is None:
                        return None  # JSS looks the signer up in its own database and fails
                    if tls_cert is None:
                        raise AuthenticationFailed(NO_CLIENT_CERT)
                    if not issued_here(self.ca, certificate):
                        raise AuthenticationFailed(SIGNER_NOT_ISSUED_HERE)
                    token.signer_principal = certificate.subject
                    if tls_cert.subject != certificate.subject:
                        raise AuthenticationFailed(TLS_SIGNER_MISMATCH)
                    if not recognised(self.ca, tls_cert):
                        raise AuthenticationFailed(TLS_CERT_NOT_RECOGNISED)
                    algorithm = certificate.public_key.algorithm
                    if algorithm not in ("rsa", "ec"):
                        raise AuthenticationFailed(
                            f"{INVALID_CREDENTIAL}:unsupported signature algorithm: {algorithm.upper()}"
                        )
                    try:
                        verify_signer_info(signer_info, digest, content_type, certificate.public_key)
                    except CMSCheckFailed:
                        return None
                    self._check_signer_status(certificate)
                    token.authenticated_subject = dn_string(certificate.subject)
                    token.signing_cert_serial = certificate.serial_number
                    token.user_id = dn_string(certificate.subject)
                    return signer_info, digest
                if sid.name == "subject_key_identifier":
                    token.self_signed = True
                    return signer_info, digest
                raise AuthenticationFailed(f"{INVALID_CREDENTIAL}:unsupported SignerIdentifier type")
        except AuthenticationFailed:
            raise
        except (CMSCheckFailed, ValueError, TypeError, KeyError):
            return None
        return None

    def _check_signer_status(self, certificate: asn1_x509.Certificate) -> None:
        if self.ca.is_revoked(certificate):
            raise AuthenticationFailed(f"{INVALID_CREDENTIAL}:CMC signing cert is a revoked certificate")
        validity = certificate["tbs_certificate"]["validity"]
        now = datetime.now(UTC)
        if now > validity["not_after"].native:
            raise AuthenticationFailed(f"{INVALID_CREDENTIAL}:CMC signing cert is an expired certificate")
        if now < validity["not_before"].native:
            raise AuthenticationFailed(
                f"{INVALID_CREDENTIAL}:java.security.cert.CertificateNotYetValidException: "
                f"NotBefore: {validity['not_before'].native}"
            )

    # -- shared by both CMC authenticators ---------------------------------------------------------

    def _note_requests(
        self,
        pki_data: cmc.PKIData,
        token: AuthToken,
        *,
        verify_csr: bool,
        self_signed_signer: tuple[cms.SignerInfo, bytes] | None,
    ) -> None:
        """The per-request part of both authenticators: subjects, CSR signatures, self-signed proof."""
        requests = pki_data["req_sequence"]
        if len(requests) == 0:
            for control in pki_data["control_sequence"]:
                if control["attr_type"].native == "revoke_request":
                    control["attr_values"].native  # noqa: B018 - both authenticators decode RevokeRequests
            if token.authenticator == CMC_USER_SIGNED_AUTH:
                self._note_revocation_issuer(pki_data, token)
            return
        for tagged in requests:
            if tagged.name == "tcr":
                self._note_pkcs10(
                    tagged.chosen["certification_request"], token, verify_csr, self_signed_signer
                )
            elif tagged.name == "crm":
                self._note_crmf(tagged.chosen, token, self_signed_signer)

    def _note_pkcs10(
        self,
        request: csr.CertificationRequest,
        token: AuthToken,
        verify_csr: bool,
        self_signed_signer: tuple[cms.SignerInfo, bytes] | None,
    ) -> None:
        user_signed = token.authenticator == CMC_USER_SIGNED_AUTH
        if verify_csr and self.ca.config.get_bool("ca.requestVerify.enabled", True):
            try:
                verify_pkcs10_signature(request)
            except PopCheckFailed:
                if user_signed:
                    raise AuthenticationFailed(
                        "java.security.SignatureException: Invalid PKCS #10 signature"
                    ) from None
                raise
        info = request["certification_request_info"]
        token.cert_subject = dn_string(info["subject"])
        if user_signed and token.self_signed and self_signed_signer is not None:
            identifier = _pkcs10_subject_key_identifier(request)
            if identifier is None:
                raise AuthenticationFailed(
                    "CMCUserSignedAuth: authenticate: SubjectKeyIdentifierExtension not found: "
                    "missing SubjectKeyIdentifierExtension in request"
                )
            self._verify_self_signed(self_signed_signer, identifier, info["subject_pk_info"])

    def _note_crmf(
        self,
        message: crmf.CertReqMsg,
        token: AuthToken,
        self_signed_signer: tuple[cms.SignerInfo, bytes] | None,
    ) -> None:
        template = message["cert_req"]["cert_template"]
        if not is_absent(template["subject"]):
            token.cert_subject = dn_string(template["subject"])
        if (
            token.authenticator == CMC_USER_SIGNED_AUTH
            and token.self_signed
            and self_signed_signer is not None
        ):
            identifier = _crmf_subject_key_identifier(template)
            key_field = template["public_key"]
            public_key_info = (
                asn1_keys.PublicKeyInfo.load(key_field.untag().dump())
                if not is_absent(key_field)
                else key_field
            )
            self._verify_self_signed(self_signed_signer, identifier, public_key_info)

    def _verify_self_signed(
        self,
        signer: tuple[cms.SignerInfo, bytes],
        identifier: bytes | None,
        public_key_info: asn1_keys.PublicKeyInfo,
    ) -> None:
        """verifySelfSignedCMC: the SignerIdentifier must be the request's SKI; verify with its key."""
        method = "CMCUserSignedAuth: verifySelfSignedCMC: "
        if is_absent(public_key_info) or public_key_info.algorithm not in ("rsa", "ec"):
            algorithm = public_key_info.algorithm.upper() if not is_absent(public_key_info) else "null"
            raise AuthenticationFailed(f"unsupported signature algorithm: {algorithm}")
        signer_info, digest = signer
        if identifier is None:
            raise AuthenticationFailed(f"{method}java.lang.NullPointerException")
        if signer_info["sid"].chosen.native != identifier:
            raise AuthenticationFailed(f"{method}{INVALID_CREDENTIAL}")
        try:
            verify_signer_info(signer_info, digest, PKI_DATA_OID, public_key_info)
        except CMSCheckFailed as exc:
            raise AuthenticationFailed(f"{method}java.security.SignatureException: {exc}") from None

    def _note_revocation_issuer(self, pki_data: cmc.PKIData, token: AuthToken) -> None:
        """CMCUserSignedAuth keeps a revokeRequest's issuer, normalised to the CA name if it matches."""
        for control in pki_data["control_sequence"]:
            if control["attr_type"].native != "revoke_request":
                continue
            for revoke_request in control["attr_values"]:
                issuer = revoke_request["issuer_name"]
                try:
                    if dn_string(issuer).lower() == self.ca.name_string.lower():
                        token.issuer_principal = self.ca.name
                    else:
                        token.issuer_principal = issuer
                except ValueError:
                    token.issuer_principal = None

    # -- AgentCertAuth -----------------------------------------------------------------------------

    def _agent_cert_auth(self, tls_cert: asn1_x509.Certificate | None) -> AuthToken:
        """AgentCertAuthentication: a registered CA user, and a member of ``agentGroup`` when one is set
        (CS.cfg ``auths.instance.AgentCertAuth.agentGroup=Certificate Manager Agents``)."""
        if tls_cert is None or self.ca.is_revoked(tls_cert):
            raise AuthenticationFailed(INVALID_CREDENTIAL)
        agent = registered_user(self.ca, tls_cert)
        if agent is None:
            raise AuthenticationFailed(INVALID_CREDENTIAL)
        if self.ca.config.get("auths.instance.AgentCertAuth.agentGroup") and not agent.in_agent_group:
            raise AuthenticationFailed(AUTHORIZATION_ERROR)
        return AuthToken(
            authenticator=AGENT_CERT_AUTH,
            user_id=agent.subject,
            authenticated_subject=dn_string(tls_cert.subject),
            agent_in_group=agent.in_agent_group,
        )


def _pkcs10_subject_key_identifier(request: csr.CertificationRequest) -> bytes | None:
    for attribute in request["certification_request_info"]["attributes"]:
        if attribute["type"].native != "extension_request":
            continue
        for extensions in attribute["values"]:
            for extension in extensions:
                if extension["extn_id"].native == "key_identifier":
                    return bytes(extension["extn_value"].parsed.native)
    return None


def _crmf_subject_key_identifier(template: crmf.CertTemplate) -> bytes | None:
    """Dogtag takes the whole extnValue contents as the key id (22 bytes ``04 14 ..`` when DER-correct)."""
    extensions = template["extensions"]
    if is_absent(extensions):
        return None
    for extension in extensions:
        if extension["extn_id"].native == "key_identifier":
            return bytes(extension["extn_value"].contents)
    return None
