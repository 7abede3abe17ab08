"""ProfileSubmitCMCServlet: one CMC request in, one answer out, step by step as dogtag-cmc-server.md §3.

The steps, each with the failure it produces (all failures are ``createFullResponseWithFailedStatus``
unless noted):

1. (server.py) no Content-Length -> HTML error page.
2. profile lookup: missing or disabled -> internalCAError "Profile X Not Found".
3. authentication by the profile's authenticator -> badRequest with the authenticator's text.
4. authorization: CMCAuth needs a member of Certificate Manager Agents -> badRequest
   "ProfileSubmitCMCServlet authorization failure".
5. the request is recorded, then parseCMC (:mod:`localca.parsecmc`).
6. an lraPOPWitness control while ``cmc.lraPopWitness.verify.allow`` is false -> popFailed, bodyList =
   the witness's bodyIds, no text.
7. no requests: a verified DecryptedPOP continues with the proved request; otherwise the revocation /
   controls-only answer.
8. request k needs policy set k: every profile has one, so a second request -> "Policy Set Not Found".
9. populate: POP (popFailed), request data and profile defaults (badRequest / internalCAError).
10. submit: no auth token -> deferred (reported as failed!); POP challenge -> POP required (§6.4);
    otherwise constraints, then KRA archival, then issuance.
11. success (§6.2), or a Simple response for a lone GetCert or ``cmc.response.useSimpleOnSuccess``.

Every request is written to the database before its answer leaves.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from asn1crypto import csr
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509

from agent.cmc.asn1 import cmc, crmf
from agent.cmc.asn1.pkcs10 import CertificationRequest
from agent.cmc.pkiresponse import request_id_bytes
from localca.asn1util import is_absent
from localca.authn import CMC_AUTH, CMC_USER_SIGNED_AUTH, Authenticator, AuthToken
from localca.authority import CertificateAuthority
from localca.controls import CertificateNotFound, add_echo_and_control_answers, get_cert
from localca.failures import AuthenticationFailed, CMCFailure
from localca.issuer import CertificateContent
from localca.kra import KeyRecoveryAuthority, KRAError
from localca.names import dn_string
from localca.parsecmc import INVALID_REQUEST, POP_VERIFICATION_FAILED, CMCParser, ParsedMessage
from localca.policy import DefaultFailed, EnrollmentFacts, Rejected, populate, validate
from localca.pop import (
    ChallengeSetupFailed,
    PopCheckFailed,
    build_encrypted_pop,
    has_pop,
    jss_reencode,
    make_challenge,
    verify_crmf_signature_pop,
    verify_pkcs10_signature,
)
from localca.profiles import Profile
from localca.responses import (
    BAD_REQUEST,
    CONFIRM_REQUIRED,
    FAIL_POP_REQUIRED,
    FAILED,
    INTERNAL_CA_ERROR,
    POP_FAILED,
    POP_REQUIRED,
    SUCCESS,
    ResponseControls,
    ResponseSigner,
    failure_response,
    full_response,
    simple_response,
)

log = logging.getLogger(__name__)

SERVER_INTERNAL_ERROR = "Server Internal Error"
AUTHORIZATION_FAILURE = "ProfileSubmitCMCServlet authorization failure"


@dataclass(frozen=True)
class Endpoint:
    default_profile: str
    request_type: Literal["cmc", "pkcs10"]


ENDPOINTS: dict[str, Endpoint] = {
    "/ca/ee/ca/profileSubmitCMCFull": Endpoint("caFullCMCUserCert", "cmc"),
    "/ca/ee/ca/profileSubmitCMCFullCACert": Endpoint("caCMCcaCert", "cmc"),
    "/ca/ee/ca/profileSubmitCMCFullServerCert": Endpoint("caCMCserverCert", "cmc"),
    "/ca/ee/ca/profileSubmitCMCFullSubsystemCert": Endpoint("caCMCsubsystemCert", "cmc"),
    "/ca/ee/ca/profileSubmitCMCFullOCSPCert": Endpoint("caCMCocspCert", "cmc"),
    "/ca/ee/ca/profileSubmitCMCFullAuditSigningCert": Endpoint("caCMCauditSigningCert", "cmc"),
    "/ca/ee/ca/profileSubmitCMCFullKRAtransportCert": Endpoint("caCMCkraTransportCert", "cmc"),
    "/ca/ee/ca/profileSubmitCMCFullKRAstorageCert": Endpoint("caCMCkraStorageCert", "cmc"),
    "/ca/ee/ca/profileSubmitUserSignedCMCFull": Endpoint("caFullCMCUserSignedCert", "cmc"),
    "/ca/ee/ca/profileSubmitSelfSignedCMCFull": Endpoint("caFullCMCSelfSignedCert", "cmc"),
    "/ca/ee/ca/profileSubmitCMCSimple": Endpoint("caSimpleCMCUserCert", "pkcs10"),
}


@dataclass
class Answer:
    """What the servlet writes: HTTP 200 always; ``cmc_status`` feeds the EST ``pki-cmc-status`` header."""

    body: bytes
    content_type: str = "application/pkcs7-mime"
    cmc_status: int = SUCCESS


@dataclass
class Enrollment:
    """One TaggedRequest on its way through populate and submit (Dogtag's Request + extData)."""

    record_id: int
    body_part_id: int
    facts: EnrollmentFacts
    content: CertificateContent
    challenge_required: bool
    ext: dict[str, Any] = field(default_factory=dict)
    certificate: asn1_x509.Certificate | None = None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)


def content_to_ext(content: CertificateContent) -> dict[str, Any]:
    return {
        "certinfo_subject": _b64(content.subject.dump()),
        "certinfo_key": _b64(content.public_key_info.dump()),
        "certinfo_not_before": content.not_before.isoformat(),
        "certinfo_not_after": content.not_after.isoformat(),
        "certinfo_extensions": [_b64(extension.dump()) for extension in content.extensions],
    }


def content_from_ext(ext: dict[str, Any]) -> CertificateContent:
    return CertificateContent(
        subject=asn1_x509.Name.load(_unb64(ext["certinfo_subject"])),
        public_key_info=asn1_keys.PublicKeyInfo.load(_unb64(ext["certinfo_key"])),
        not_before=datetime.fromisoformat(ext["certinfo_not_before"]),
        not_after=datetime.fromisoformat(ext["certinfo_not_after"]),
        extensions=[asn1_x509.Extension.load(_unb64(item)) for item in ext["certinfo_extensions"]],
    )


def facts_to_ext(facts: EnrollmentFacts) -> dict[str, Any]:
    return {
        "req_subject_name": _b64(facts.requested_subject.dump())
        if facts.requested_subject is not None
        else None,
        "cmcSigningCert": facts.signing_cert_serial,
        "authenticatedName": facts.authenticated_name,
        "sharedTokenAuthenticatedCertSubject": facts.shared_token_subject,
    }


def facts_from_ext(ext: dict[str, Any], public_key_info: asn1_keys.PublicKeyInfo) -> EnrollmentFacts:
    subject = ext.get("req_subject_name")
    return EnrollmentFacts(
        requested_subject=asn1_x509.Name.load(_unb64(subject)) if subject else None,
        public_key_info=public_key_info,
        signing_cert_serial=ext.get("cmcSigningCert"),
        authenticated_name=ext.get("authenticatedName"),
        shared_token_subject=ext.get("sharedTokenAuthenticatedCertSubject"),
    )


class CMCService:
    """The CA's CMC endpoints, independent of HTTP (server.py feeds it bodies)."""

    def __init__(self, ca: CertificateAuthority) -> None:
        self.ca = ca
        self.authenticator = Authenticator(ca)
        self.parser = CMCParser(ca)
        self.signing = ResponseSigner(ca.signing_key, ca.certificate, ca.chain())
        self.kra = KeyRecoveryAuthority(
            store=ca.store,
            transport_key=ca.kra_transport_rsa_key,
            transport_certificate_b64=_b64(ca.kra_transport_certificate.dump()),
            storage_key=ca.kra_storage_key,
        )

    # -- entry point -------------------------------------------------------------------------------

    def submit(
        self,
        endpoint: Endpoint,
        profile_id: str | None,
        body: bytes,
        tls_client_certificate: asn1_x509.Certificate | None,
    ) -> Answer:
        # Only an absent parameter falls back: "?profileId=" asks for the profile "" (and finds none).
        profile_id = profile_id if profile_id is not None else endpoint.default_profile
        record_id = self.ca.store.create_request(profile_id=profile_id, kind="cmc", body=body)
        try:
            answer = self._submit(endpoint, profile_id, body, tls_client_certificate, record_id)
        except CMCFailure as failure:
            self.ca.store.update_request(record_id, status="rejected", result=failure.status_string or "")
            return Answer(
                failure_response(self.signing, failure.fail_info, failure.status_string, failure.body_list),
                cmc_status=FAILED,
            )
        except Exception as exc:
            # Outside every CMC failure path: recorded here, answered by server.py with the HTML page.
            self.ca.store.update_request(record_id, status="failed", result=f"{type(exc).__name__}: {exc}")
            raise
        return answer

    def _submit(
        self,
        endpoint: Endpoint,
        profile_id: str,
        body: bytes,
        tls_cert: asn1_x509.Certificate | None,
        record_id: int,
    ) -> Answer:
        profile = self.ca.profiles.get(profile_id)
        if profile is None or not profile.enabled(self.ca.config):
            raise CMCFailure(INTERNAL_CA_ERROR, f"Profile {profile_id} Not Found")
        token: AuthToken | None = None
        if profile.authenticator:
            try:
                token = self.authenticator.authenticate(profile.authenticator, body, tls_cert)
            except AuthenticationFailed as exc:
                raise CMCFailure(BAD_REQUEST, str(exc)) from None
            if profile.authenticator == CMC_AUTH and not token.agent_in_group:
                raise CMCFailure(BAD_REQUEST, AUTHORIZATION_FAILURE)
            self.ca.store.update_request(record_id, ext_updates={"auth.userid": token.user_id})
        if endpoint.request_type == "pkcs10":
            return self._submit_pkcs10(profile, body, token, record_id)
        return self._submit_cmc(profile, body, token, record_id)

    # -- Full CMC ----------------------------------------------------------------------------------

    def _submit_cmc(self, profile: Profile, body: bytes, token: AuthToken | None, record_id: int) -> Answer:
        parsed = self.parser.parse(body, token)
        lra = parsed.kept_controls.get("lra_pop_witness")
        if lra is not None and not self.ca.config.get_bool("cmc.lraPopWitness.verify.allow"):
            body_ids = self._lra_body_ids(lra)
            raise CMCFailure(POP_FAILED, None, body_ids)
        if parsed.requests is None:
            if parsed.proved_request_id is not None:
                return self._proved_request(profile, parsed, token, record_id)
            return self._controls_only(parsed, token, record_id)
        enrollments = []
        for index, tagged in enumerate(parsed.requests):
            if index > 0:
                raise CMCFailure(INTERNAL_CA_ERROR, "Policy Set Not Found")
            enrollments.append(self._populate(profile, tagged, token, record_id, lra))
        return self._submit_enrollments(profile, parsed, token, enrollments)

    @staticmethod
    def _lra_body_ids(control: cmc.TaggedAttribute) -> list[int]:
        values = control["attr_values"]
        if len(values) == 0:
            return [0]
        try:
            witness = cmc.LraPopWitness.load(values[0].dump())
            return [int(item) for item in witness["body_ids"].native]
        except (ValueError, TypeError):
            return [0]

    def _controls_only(self, parsed: ParsedMessage, token: AuthToken | None, record_id: int) -> Answer:
        kind = "revocation" if parsed.revoke_request is not None else "controls"
        if parsed.number_of_controls == 1 and "get_cert" in parsed.kept_controls:
            try:
                found = get_cert(self.ca, parsed.kept_controls["get_cert"])
            except CertificateNotFound:
                found = None  # createSimpleResponse swallows the failure and writes nothing
            self.ca.store.update_request(
                record_id,
                status="complete",
                kind="getCert",
                result="getCert" if found else "getCert: nothing written",
            )
            if found is None:
                return Answer(b"", cmc_status=SUCCESS)
            return Answer(simple_response([found]))
        controls = ResponseControls()
        certificates: list[asn1_x509.Certificate] = []
        revoked = add_echo_and_control_answers(self.ca, parsed, token, controls, certificates)
        status = "complete"
        result = kind
        if parsed.revoke_request is not None:
            statuses = [item for item in controls.controls if item["attr_type"].native == "status_info_v2"]
            last = statuses[-1]["attr_values"][0] if statuses else None
            if last is not None and last["cmc_status"].native != "success":
                status = "rejected"
                result = f"revocation failed: {last['other_info'].native}"
            elif revoked is not None:
                result = f"revoked serial {revoked}"
        self.ca.store.update_request(record_id, status=status, result=result, kind=kind)
        return Answer(full_response(self.signing, controls, certificates))

    # -- populate (step 9) -------------------------------------------------------------------------

    def _populate(
        self,
        profile: Profile,
        tagged: cmc.TaggedRequest,
        token: AuthToken | None,
        record_id: int,
        lra: cmc.TaggedAttribute | None,
    ) -> Enrollment:
        try:
            return self._fill(profile, tagged, token, record_id, lra)
        except PopCheckFailed:
            raise CMCFailure(POP_FAILED, POP_VERIFICATION_FAILED) from None
        except DefaultFailed as exc:
            raise CMCFailure(BAD_REQUEST, str(exc)) from None
        except CMCFailure:
            raise
        except (ValueError, TypeError, KeyError) as exc:
            raise CMCFailure(INTERNAL_CA_ERROR, f"{type(exc).__name__}: {exc}") from None

    def _fill(
        self,
        profile: Profile,
        tagged: cmc.TaggedRequest,
        token: AuthToken | None,
        record_id: int,
        lra: cmc.TaggedAttribute | None,
    ) -> Enrollment:
        ext: dict[str, Any] = {"cert_request": _b64(jss_reencode(tagged)), "profileId": profile.profile_id}
        challenge_required = False
        if tagged.name == "tcr":
            body_part_id = tagged.chosen["body_part_id"].native
            request: csr.CertificationRequest = tagged.chosen["certification_request"]
            if self.ca.config.get_bool("ca.requestVerify.enabled", True):
                verify_pkcs10_signature(request)
            else:
                challenge_required = True
            info = request["certification_request_info"]
            requested_subject: asn1_x509.Name | None = info["subject"]
            public_key_info = info["subject_pk_info"]
        elif tagged.name == "crm":
            message: crmf.CertReqMsg = tagged.chosen
            certificate_request = message["cert_req"]
            body_part_id = certificate_request["cert_req_id"].native
            if has_pop(message):
                if not self._lra_vouches_for(lra, body_part_id):
                    verify_crmf_signature_pop(message)
            else:
                challenge_required = True
            template = certificate_request["cert_template"]
            if is_absent(template["public_key"]):
                raise CMCFailure(BAD_REQUEST, INVALID_REQUEST)
            public_key_info = asn1_keys.PublicKeyInfo.load(template["public_key"].untag().dump())
            subject_field = template["subject"]
            requested_subject = (
                asn1_x509.Name.load(subject_field.untag().dump()) if not is_absent(subject_field) else None
            )
            controls = certificate_request["controls"]
            for control in controls if not is_absent(controls) else []:
                if control["type"].dotted == crmf.ID_REG_CTRL_PKI_ARCHIVE_OPTIONS:
                    ext["req_archive_options"] = _b64(control["value"].dump())
                    ext["req_transport_cert"] = self.ca.config.get("ca.connector.KRA.transportCert") or ""
        else:
            raise CMCFailure(BAD_REQUEST, INVALID_REQUEST)
        authenticated_name = None
        if token is not None and token.authenticator == CMC_USER_SIGNED_AUTH:
            authenticated_name = token.authenticated_subject
        facts = EnrollmentFacts(
            requested_subject=requested_subject,
            public_key_info=public_key_info,
            signing_cert_serial=token.signing_cert_serial if token is not None else None,
            authenticated_name=authenticated_name,
            shared_token_subject=token.shared_token_subject if token is not None else None,
        )
        ext["bodyPartId"] = body_part_id
        ext["cmc_POPchallengeRequired"] = challenge_required
        content = populate(profile, facts, self.ca.issuer_facts(), self.ca.store)
        ext.update(facts_to_ext(facts))
        ext.update(content_to_ext(content))
        self.ca.store.update_request(
            record_id,
            subject=dn_string(content.subject),
            kind="enrollment",
            ext_updates=ext,
        )
        return Enrollment(
            record_id=record_id,
            body_part_id=body_part_id,
            facts=facts,
            content=content,
            challenge_required=challenge_required,
            ext=ext,
        )

    def _lra_vouches_for(self, lra: cmc.TaggedAttribute | None, body_part_id: int) -> bool:
        """With ``cmc.lraPopWitness.verify.allow=true`` an LRA may vouch for a request's POP."""
        if lra is None or not self.ca.config.get_bool("cmc.lraPopWitness.verify.allow"):
            return False
        return body_part_id in self._lra_body_ids(lra)

    # -- submit (step 10) --------------------------------------------------------------------------

    def _execute(self, profile: Profile, enrollment: Enrollment, record_id: int) -> asn1_x509.Certificate:
        """CAEnrollProfile.execute: KRA archival first if there are PKIArchiveOptions, then issuance."""
        options = enrollment.ext.get("req_archive_options")
        key_id = None
        if options:
            if not self.ca.config.get_bool("ca.connector.KRA.enable", True):
                raise _InternalError("KRA connector not configured")
            try:
                archived = self.kra.archive(
                    options_der=_unb64(options),
                    request_transport_certificate_b64=enrollment.ext.get("req_transport_cert") or "",
                    requested_public_key=enrollment.content.public_key_info,
                    owner=dn_string(enrollment.facts.requested_subject)
                    if enrollment.facts.requested_subject is not None
                    else "",
                    request_id=record_id,
                    use_oaep=self.ca.config.get_bool("keyWrap.useOAEP"),
                )
            except KRAError as exc:
                raise Rejected(str(exc)) from None
            key_id = archived.key_id
        certificate = self.ca.issue(enrollment.content, profile_id=profile.profile_id, request_id=record_id)
        if key_id is not None:
            self.ca.store.link_archived_key(key_id, certificate.serial_number)
        self.ca.store.update_request(
            record_id, status="complete", cert_serial=certificate.serial_number, result="issued"
        )
        return certificate

    def _submit_enrollments(
        self, profile: Profile, parsed: ParsedMessage, token: AuthToken | None, enrollments: list[Enrollment]
    ) -> Answer:
        pop_required: list[Enrollment] = []
        for enrollment in enrollments:
            try:
                if token is None:
                    validate(profile, enrollment.content, enrollment.facts, self.ca.store)
                    self.ca.store.update_request(enrollment.record_id, status="pending")
                    raise CMCFailure(INTERNAL_CA_ERROR, "Request Deferred - defer request")
                if enrollment.challenge_required:
                    validate(profile, enrollment.content, enrollment.facts, self.ca.store)
                    self._set_pop_challenge(enrollment)
                    pop_required.append(enrollment)
                    continue
                validate(profile, enrollment.content, enrollment.facts, self.ca.store)
                enrollment.certificate = self._execute(profile, enrollment, enrollment.record_id)
            except Rejected as exc:
                text = f"Request {exc} Rejected - {{1}}"
                self.ca.store.update_request(enrollment.record_id, status="rejected", result=text)
                raise CMCFailure(INTERNAL_CA_ERROR, text) from None
            except (_InternalError, ChallengeSetupFailed) as exc:
                log.info("request %s: %s", enrollment.record_id, exc)
                self.ca.store.update_request(enrollment.record_id, status="failed", result=str(exc))
                raise CMCFailure(INTERNAL_CA_ERROR, SERVER_INTERNAL_ERROR) from None
        if pop_required:
            return self._pop_required_response(parsed, token, pop_required)
        return self._success_response(parsed, token, enrollments)

    def _set_pop_challenge(self, enrollment: Enrollment) -> None:
        fields = make_challenge(
            requester_key=enrollment.content.public_key_info,
            protection_key=self.ca.issuance_protection_rsa_key.public_key(),
            use_oaep=self.ca.config.get_bool("keyWrap.useOAEP"),
        )
        enrollment.ext.update(fields)
        self.ca.store.update_request(
            enrollment.record_id, status="pending", result="POP required", ext_updates=fields
        )

    def _pop_required_response(
        self, parsed: ParsedMessage, token: AuthToken | None, pending: list[Enrollment]
    ) -> Answer:
        controls = ResponseControls()
        encrypted_pop = None
        failed: list[int] = []
        for enrollment in pending:
            try:
                encrypted_pop = build_encrypted_pop(enrollment.ext, _unb64(enrollment.ext["cert_request"]))
            except (ValueError, KeyError):
                failed.append(enrollment.body_part_id)
        if encrypted_pop is not None:
            controls.add("encrypted_pop", [encrypted_pop])
        controls.add_status(
            POP_REQUIRED, [item.body_part_id for item in pending], fail_info=FAIL_POP_REQUIRED
        )
        controls.add("response_info", [request_id_bytes(pending[0].record_id)])
        if failed:
            controls.add_status(FAILED, failed, fail_info=BAD_REQUEST)
        add_echo_and_control_answers(self.ca, parsed, token, controls, [])
        return Answer(full_response(self.signing, controls), cmc_status=POP_REQUIRED)

    def _success_response(
        self, parsed: ParsedMessage, token: AuthToken | None, enrollments: list[Enrollment]
    ) -> Answer:
        issued = [item.certificate for item in enrollments if item.certificate is not None]
        if parsed.number_of_controls == 1 and "get_cert" in parsed.kept_controls:
            extra = []
            try:
                found = get_cert(self.ca, parsed.kept_controls["get_cert"])
                extra = [found] if found is not None else []
            except CertificateNotFound:
                extra = []  # swallowed by Dogtag's createSimpleResponse
            return Answer(simple_response([*extra, *issued, *self.ca.chain()]))
        if self.ca.config.get_bool("cmc.response.useSimpleOnSuccess"):
            return Answer(simple_response([*issued, *self.ca.chain()]))
        controls = ResponseControls()
        confirm = self.ca.config.get_bool("cmc.cert.confirmRequired")
        controls.add_status(
            CONFIRM_REQUIRED if confirm else SUCCESS, [item.body_part_id for item in enrollments]
        )
        certificates: list[asn1_x509.Certificate] = []
        add_echo_and_control_answers(self.ca, parsed, token, controls, certificates)
        return Answer(
            full_response(self.signing, controls, [*certificates, *issued]),
            cmc_status=CONFIRM_REQUIRED if confirm else SUCCESS,
        )

    # -- DecryptedPOP, trip 2 ----------------------------------------------------------------------

    def _proved_request(
        self, profile: Profile, parsed: ParsedMessage, token: AuthToken | None, record_id: int
    ) -> Answer:
        proved_id = parsed.proved_request_id
        assert proved_id is not None
        self.ca.store.update_request(
            record_id, kind="decryptedPOP", ext_updates={"provedRequestId": proved_id}
        )
        record = self.ca.store.get_request(proved_id)
        if record is None:
            raise CMCFailure(INTERNAL_CA_ERROR, INVALID_REQUEST)
        try:
            content = content_from_ext(record.ext)
            facts = facts_from_ext(record.ext, content.public_key_info)
        except (KeyError, ValueError, TypeError):
            self.ca.store.update_request(record_id, status="failed", result=SERVER_INTERNAL_ERROR)
            raise CMCFailure(INTERNAL_CA_ERROR, SERVER_INTERNAL_ERROR) from None
        enrollment = Enrollment(
            record_id=proved_id,
            body_part_id=int(record.ext.get("bodyPartId", 0)),
            facts=facts,
            content=content,
            challenge_required=False,
            ext=record.ext,
        )
        try:
            validate(profile, content, facts, self.ca.store)
            enrollment.certificate = self._execute(profile, enrollment, proved_id)
        except Rejected as exc:
            text = f"Request {exc} Rejected - {{1}}"
            self.ca.store.update_request(proved_id, status="rejected", result=text)
            raise CMCFailure(BAD_REQUEST, text) from None
        except _InternalError as exc:
            self.ca.store.update_request(proved_id, status="failed", result=str(exc))
            raise CMCFailure(INTERNAL_CA_ERROR, SERVER_INTERNAL_ERROR) from None
        self.ca.store.update_request(proved_id, ext_updates={"cmc_POPchallengeRequired": False})
        self.ca.store.update_request(
            record_id,
            status="complete",
            result=f"proved request {proved_id}",
            cert_serial=enrollment.certificate.serial_number,
        )
        return self._success_response(parsed, token, [enrollment])

    # -- Simple (bare PKCS#10) ---------------------------------------------------------------------

    def _submit_pkcs10(
        self, profile: Profile, body: bytes, token: AuthToken | None, record_id: int
    ) -> Answer:
        try:
            request = CertificationRequest.load(body)
            info = request["certification_request_info"]
            info.native  # noqa: B018 - decode now
        except (ValueError, TypeError, KeyError):
            raise CMCFailure(INTERNAL_CA_ERROR, INVALID_REQUEST) from None
        if self.ca.config.get_bool("ca.requestVerify.enabled", True):
            try:
                verify_pkcs10_signature(request)
            except PopCheckFailed:
                raise CMCFailure(INTERNAL_CA_ERROR, INVALID_REQUEST) from None
        facts = EnrollmentFacts(requested_subject=info["subject"], public_key_info=info["subject_pk_info"])
        try:
            content = populate(profile, facts, self.ca.issuer_facts(), self.ca.store)
        except DefaultFailed as exc:
            raise CMCFailure(BAD_REQUEST, str(exc)) from None
        self.ca.store.update_request(
            record_id, subject=dn_string(content.subject), kind="pkcs10", ext_updates=content_to_ext(content)
        )
        enrollment = Enrollment(
            record_id=record_id, body_part_id=1, facts=facts, content=content, challenge_required=False
        )
        try:
            if token is None:
                validate(profile, content, facts, self.ca.store)
                self.ca.store.update_request(record_id, status="pending")
                raise CMCFailure(INTERNAL_CA_ERROR, "Request Deferred - defer request")
            validate(profile, content, facts, self.ca.store)
            certificate = self._execute(profile, enrollment, record_id)
        except Rejected as exc:
            text = f"Request {exc} Rejected - {{1}}"
            self.ca.store.update_request(record_id, status="rejected", result=text)
            raise CMCFailure(INTERNAL_CA_ERROR, text) from None
        except _InternalError as exc:
            self.ca.store.update_request(record_id, status="failed", result=str(exc))
            raise CMCFailure(INTERNAL_CA_ERROR, SERVER_INTERNAL_ERROR) from None
        return Answer(simple_response([certificate, *self.ca.chain()]))


class _InternalError(Exception):
    """Any other error in execute (Dogtag answers internalCAError "Server Internal Error")."""
