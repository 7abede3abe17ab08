"""EnrollProfile.parseCMC: control pre-processing, proof of identity, DecryptedPOP, POP link witness.

The order of checks and the failInfo/statusString of each failure follow dogtag-cmc-server.md §3.1.
What the rest of the pipeline needs comes back in a :class:`ParsedMessage`: the TaggedRequests (or none,
for revocation, controls-only and DecryptedPOP messages), the controls kept for echoing, and the id of
the request a DecryptedPOP proved.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from asn1crypto import cms, core

from agent.cmc.asn1 import cmc
from localca.asn1util import is_absent
from localca.authn import CMC_AUTH, AuthToken, decode_structure
from localca.authority import CertificateAuthority
from localca.failures import CMCFailure
from localca.identity import (
    SharedSecret,
    SharedSecretUnavailable,
    lookup_shared_secret,
    verify_identity_proof_v2,
    verify_pop_link_witness_v2,
    witness_matches,
)
from localca.pop import check_decrypted_pop, has_pop, jss_reencode
from localca.responses import BAD_IDENTITY, BAD_REQUEST, INTERNAL_CA_ERROR, POP_FAILED

INVALID_REQUEST = "Invalid Request"
POI_FAILED = "Proof-of-Identification Verification Failed"
POP_VERIFICATION_FAILED = "Proof-of-Possession Verification Failed"
POP_LINK_FAILED = "POP Link Witness Verification Failed"

SPECIAL_CONTROLS = {
    "revoke_request",
    "decrypted_pop",
    "reg_info",
    "identification",
    "identity_proof_v2",
    "identity_proof",
    "pop_link_random",
}
"""Controls parseCMC consumes itself; every other control is kept by type for later processing."""


@dataclass
class ParsedMessage:
    pki_data: cmc.PKIData
    requests: list[cmc.TaggedRequest] | None
    number_of_controls: int | None
    kept_controls: dict[str, cmc.TaggedAttribute] = field(default_factory=dict)
    revoke_request: cmc.TaggedAttribute | None = None
    other_messages: list[cmc.OtherMsg] = field(default_factory=list)
    proved_request_id: int | None = None
    identification: str | None = None


def decode_pki_data(body: bytes) -> cmc.PKIData:
    """getPKIDataFromCMCblob: the eContent of a SignedData, or the octets of id-data."""
    try:
        content_info = cms.ContentInfo.load(body)
        if content_info["content_type"].native == "signed_data":
            octets = bytes(content_info["content"]["encap_content_info"]["content"])
        else:
            octets = bytes(content_info["content"])
        pki_data = cmc.PKIData.load(octets)
        decode_structure(pki_data)
        return pki_data
    except (ValueError, TypeError, KeyError):
        raise CMCFailure(INTERNAL_CA_ERROR, INVALID_REQUEST) from None


def _control_type(control: cmc.TaggedAttribute) -> str:
    name = control["attr_type"].native
    return str(name)


def _first_value(control: cmc.TaggedAttribute) -> core.Asn1Value:
    values = control["attr_values"]
    if len(values) == 0:
        raise CMCFailure(INTERNAL_CA_ERROR, INVALID_REQUEST)
    return values[0]


class CMCParser:
    def __init__(self, ca: CertificateAuthority) -> None:
        self.ca = ca

    def parse(self, body: bytes, token: AuthToken | None) -> ParsedMessage:
        pki_data = decode_pki_data(body)
        controls = pki_data["control_sequence"]
        requests = pki_data["req_sequence"]
        parsed = ParsedMessage(pki_data=pki_data, requests=None, number_of_controls=None)
        done_poi = token is not None and (
            token.authenticator == CMC_AUTH or token.signing_cert_serial is not None
        )
        random_seed: bytes | None = None
        identification: str | None = None
        if len(controls) > 0:
            parsed.number_of_controls = len(controls)
            special: dict[str, cmc.TaggedAttribute] = {}
            for control in controls:
                kind = _control_type(control)
                if kind in SPECIAL_CONTROLS:
                    special[kind] = control
                else:
                    parsed.kept_controls[kind] = control
            parsed.revoke_request = special.get("revoke_request")
            if "identification" in special:
                identification = self._identification(special["identification"])
                parsed.identification = identification
            if not (done_poi or parsed.revoke_request is not None):
                self._proof_of_identity(special, identification, requests, token)
            if "decrypted_pop" in special:
                parsed.proved_request_id = self._decrypted_pop(special)
                return parsed
            if "pop_link_random" in special:
                try:
                    random_seed = bytes(_first_value(special["pop_link_random"]).native)
                except (ValueError, TypeError):
                    raise CMCFailure(INTERNAL_CA_ERROR, INVALID_REQUEST) from None
        parsed.other_messages = list(pki_data["other_msg_sequence"])
        if len(requests) == 0:
            return parsed
        if self.ca.config.get_bool("cmc.popLinkWitnessRequired") and parsed.revoke_request is None:
            for tagged in requests:
                if tagged.name == "crm" and not has_pop(tagged.chosen):
                    continue
                self._pop_link_witness(tagged, random_seed, identification, token)
        parsed.requests = list(requests)
        return parsed

    def _shared_secret(self, identification: str) -> SharedSecret:
        """SharedSecret.getSharedToken: the secret of the entry with ``uid=<identification>``."""
        return lookup_shared_secret(
            identification,
            config=self.ca.config,
            store=self.ca.store,
            protection_key=self.ca.issuance_protection_rsa_key,
        )

    # -- steps -------------------------------------------------------------------------------------

    @staticmethod
    def _identification(control: cmc.TaggedAttribute) -> str:
        """Its first value must decode as a UTF8String (else internalCAError "Invalid Request")."""
        try:
            value = _first_value(control)
            text = core.UTF8String.load(value.dump()).native
        except (ValueError, TypeError):
            raise CMCFailure(INTERNAL_CA_ERROR, INVALID_REQUEST) from None
        return str(text)

    def _proof_of_identity(
        self,
        special: dict[str, cmc.TaggedAttribute],
        identification: str | None,
        requests: cmc.TaggedRequests,
        token: AuthToken | None,
    ) -> None:
        if "identity_proof_v2" in special:
            if identification is None:
                raise CMCFailure(
                    BAD_IDENTITY, f"{INVALID_REQUEST}:id_cmc_identityProofV2 missing id_cmc_identification"
                )
            if not self._verify_identity_proof_v2(
                special["identity_proof_v2"], identification, requests, token
            ):
                raise CMCFailure(BAD_IDENTITY, f"{POI_FAILED} after verifyIdentityProofV2")
            return
        if "identity_proof" in special:
            # cmc.sharedSecret.class is unset in Dogtag's shipped CS.cfg: version 1 never verifies.
            raise CMCFailure(BAD_IDENTITY, f"{POI_FAILED} after verifyIdentityProof")
        raise CMCFailure(
            BAD_REQUEST, f"{POI_FAILED}:not pre-signed CMC request; missing Proof of Identification control"
        )

    def _verify_identity_proof_v2(
        self,
        control: cmc.TaggedAttribute,
        identification: str,
        requests: cmc.TaggedRequests,
        token: AuthToken | None,
    ) -> bool:
        if token is None:
            return False  # Dogtag records the result in the auth token; without one it throws
        try:
            secret = self._shared_secret(identification)
        except SharedSecretUnavailable:
            return False
        token.cert_subject = secret.entry_dn  # getSharedToken sets TOKEN_CERT_SUBJECT before decrypting
        try:
            proof = _first_value(control)
            verified = verify_identity_proof_v2(
                cmc.IdentityProofV2.load(proof.dump()), identification, secret, jss_reencode(requests)
            )
        except (CMCFailure, ValueError, TypeError, KeyError):
            return False
        if verified:
            token.shared_token_subject = secret.entry_dn
            token.authenticated_subject = secret.entry_dn
            token.user_id = identification
        return verified

    def _decrypted_pop(self, special: dict[str, cmc.TaggedAttribute]) -> int:
        if "reg_info" not in special:
            raise CMCFailure(
                POP_FAILED,
                f"{POP_VERIFICATION_FAILED}:id_cmc_decryptedPOP must be accompanied by id_cmc_regInfo "
                "for request id per server/client agreement",
            )
        try:
            request_id_bytes = bytes(core.OctetString.load(_first_value(special["reg_info"]).dump()).native)
            decrypted = cmc.DecryptedPOP.load(_first_value(special["decrypted_pop"]).dump())
            the_pop = bytes(decrypted["the_pop"].native)
        except (ValueError, TypeError, KeyError):
            raise CMCFailure(INTERNAL_CA_ERROR, INVALID_REQUEST) from None
        request_id = int.from_bytes(request_id_bytes, "big", signed=True) if request_id_bytes else 0
        record = self.ca.store.get_request(request_id)
        if record is None:
            raise CMCFailure(INTERNAL_CA_ERROR, INVALID_REQUEST)
        try:
            check = check_decrypted_pop(
                record.ext,
                the_pop,
                self.ca.issuance_protection_rsa_key,
                self.ca.config.get_bool("keyWrap.useOAEP"),
            )
        except ValueError as exc:
            raise CMCFailure(INTERNAL_CA_ERROR, f"{INVALID_REQUEST}{type(exc).__name__}: {exc}") from None
        if not check.verified:
            raise CMCFailure(POP_FAILED, f"{POP_VERIFICATION_FAILED}:DecryptedPOP failed to verify")
        return request_id

    def _pop_link_witness(
        self,
        tagged: cmc.TaggedRequest,
        random_seed: bytes | None,
        identification: str | None,
        token: AuthToken | None,
    ) -> None:
        if random_seed is None or identification is None:
            raise CMCFailure(
                BAD_REQUEST,
                f"{POP_LINK_FAILED}:missing needed randomSeed or identification for popLinkWitness(V2)",
            )
        outcome = self._check_pop_link_witness(tagged, random_seed, identification, token)
        if outcome is not None:
            raise CMCFailure(BAD_REQUEST, f"{POP_LINK_FAILED}:{outcome}: ident_s={identification}")

    def _check_pop_link_witness(
        self, tagged: cmc.TaggedRequest, random_seed: bytes, identification: str, token: AuthToken | None
    ) -> str | None:
        """verifyPOPLinkWitness: None when it passes, else the place Dogtag names in its message."""
        generic = " failure from verifyPOPLinkWitness"
        if token is None:
            return generic
        try:
            secret = self._shared_secret(identification).secret
        except SharedSecretUnavailable:
            return generic
        if tagged.name == "tcr":
            info = tagged.chosen["certification_request"]["certification_request_info"]
            for attribute in info["attributes"]:
                kind = attribute["type"].dotted
                values = attribute["values"]
                if kind == cmc.ID_CMC_POP_LINK_WITNESS_V2 and len(values):
                    try:
                        witness = cmc.PopLinkWitnessV2.load(values[0].dump())
                        ok = verify_pop_link_witness_v2(witness, identification, secret, random_seed)
                    except (ValueError, TypeError):
                        return generic
                    return None if ok else " in POPLinkWitnessV2"
                if kind == cmc.ID_CMC_POP_LINK_WITNESS and len(values):
                    return None if self._legacy_witness_ok(values[0], secret, random_seed) else generic
            return generic
        if tagged.name == "crm":
            controls = tagged.chosen["cert_req"]["controls"]
            for control in controls if not is_absent(controls) else []:
                kind = control["type"].dotted
                if kind == cmc.ID_CMC_POP_LINK_WITNESS_V2:
                    try:
                        witness = cmc.PopLinkWitnessV2.load(control["value"].dump())
                        ok = verify_pop_link_witness_v2(witness, identification, secret, random_seed)
                    except (ValueError, TypeError):
                        ok = False
                    if not ok:
                        return " in POPLinkWitnessV2"
                elif kind == cmc.ID_CMC_POP_LINK_WITNESS:
                    if not self._legacy_witness_ok(control["value"], secret, random_seed):
                        return " in POPLinkWitness"
            return None
        return generic

    @staticmethod
    def _legacy_witness_ok(value: core.Asn1Value, secret: str, random_seed: bytes) -> bool:
        """Version 1: key = SHA-1(secret), and the MAC Dogtag really computes is HMAC-SHA256."""
        try:
            witness = bytes(core.OctetString.load(value.dump()).native)
        except (ValueError, TypeError):
            return False
        return witness_matches(
            hash_algorithm=cmc.HashAlgorithmIdentifier({"algorithm": "sha1"}),
            mac_algorithm=cmc.HashAlgorithmIdentifier({"algorithm": "sha256"}),
            witness=witness,
            key_material=secret.encode("utf-8"),
            data=random_seed,
        )
