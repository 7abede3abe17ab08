"""One whole enrollment, resumable: build -> submit -> read -> (DecryptedPOP trip) -> import.

What Dogtag users do in five to eight tool runs (PKCS10Client/CRMFPopClient, CMCRequest, HttpClient,
CMCResponse, CMCRequest again for the second trip, HttpClient, CMCResponse, client-cert-import), as one
state machine over :class:`~agent.flows.state.EnrollState`. Every step ends by saving the state, so a run
that stops anywhere is continued by the next one from the last completed step: a request already
answered is never sent again, a saved answer is read again rather than asked for again, and a verified
certificate is imported without going back to the CA. A request sent whose answer was lost is first asked
about (:mod:`agent.flows.recovery`): what the CA issued for it is taken, checked as a CMC answer would be.

The machine knows nothing of PKCS#11 or HTTPS. It is handed small pieces (:class:`EnrollmentIO`): the
request key (signs, decrypts the challenge and wraps itself for the KRA, on its device), a voucher that
signs the CMC request (:class:`SignedBy` for CMCAuth and CMCUserSignedAuth, :class:`SharedSecret` for
identityProofV2), a ``post`` callable, and a certificate store on the key's token. Pieces that need a
PIN or a connection are opened on first use only, so a run that resumes at the import asks for neither.

Responses are hostile input: each is verified against the trust anchors, must carry the senderNonce we
sent before we act on it (answer a challenge, import), and a success must carry a certificate for our key.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from asn1crypto import cms, x509

from agent.cmc.errors import CMCError, MalformedMessage, NonceMismatch
from agent.flows.killpoints import kill_point
from agent.flows.state import CertificateRecord, EnrollState, StateFile, Step, TripRecord
from agent.keyops import ArchivableKey, ChallengeDecrypter, KeyTransport, Signer, random_bytes

if TYPE_CHECKING:
    from agent.flows.recovery import LostAnswers

NONCE_BYTES = 16
MAX_LABEL_TRIES = 100

OutcomeStatus = Literal["success", "failed", "pending"]


class EnrollmentError(CMCError):
    """The enrollment cannot go on as asked; the message says why and what to change."""


class RequestKey(Signer, ChallengeDecrypter, ArchivableKey, Protocol):
    """The key being certified: it signs the CSR or POP, answers an EncryptedPOP challenge, and (when
    archivable) wraps itself for the KRA, all on its device."""


class Voucher(Protocol):
    """Who vouches for a request, and how the Full PKI Request is signed."""

    @property
    def mode(self) -> str: ...

    @property
    def description(self) -> str:
        """For the step lines: ``agent 'CN=...'``."""
        ...

    @property
    def needs_ski(self) -> bool:
        """The request must carry a SubjectKeyIdentifier (a shared-secret request is identified by it)."""
        ...

    @property
    def answers_encrypted_pop(self) -> bool:
        """This voucher can sign a DecryptedPOP second trip."""
        ...

    def sign(self, builder: Any, request_key: Signer) -> cms.ContentInfo:
        """Add what this voucher adds to ``builder`` (a FullPKIRequestBuilder) and sign it."""
        ...


@dataclass(frozen=True)
class SignedBy:
    """Agent-approved (CMCAuth) or user-signed (CMCUserSignedAuth): an existing certificate's key signs
    both trips; the same key authenticates TLS (the transport's business)."""

    signer: Signer
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()
    mode: str = "agent"

    @property
    def description(self) -> str:
        return f"{self.mode} {_rfc4514(self.certificate, 'subject')!r}"

    @property
    def needs_ski(self) -> bool:
        return False

    @property
    def answers_encrypted_pop(self) -> bool:
        return True

    def sign(self, builder: Any, request_key: Signer) -> cms.ContentInfo:
        signed: cms.ContentInfo = builder.sign(self.signer, self.certificate, chain=self.chain)
        return signed


@dataclass(frozen=True)
class SharedSecret:
    """Shared-secret enrollment: identification + identityProofV2 (and popLinkWitnessV2), signed with the
    request's own key. It cannot make a DecryptedPOP trip: a Dogtag CA would want identityProofV2 on the
    second trip too, which covers requests the second trip does not carry."""

    identification: str
    secret: bytes = field(repr=False)
    pop_link_witness: bool = False
    mode: str = "shared-secret"

    @property
    def description(self) -> str:
        return f"the request key (shared secret of {self.identification!r})"

    @property
    def needs_ski(self) -> bool:
        return True

    @property
    def answers_encrypted_pop(self) -> bool:
        return False

    def sign(self, builder: Any, request_key: Signer) -> cms.ContentInfo:
        builder = builder.identification(self.identification).identity_proof_v2(self.secret)
        if self.pop_link_witness:
            builder = builder.pop_link_witness_v2(self.secret)
        signed: cms.ContentInfo = builder.sign_with_request_key(request_key)
        return signed


@dataclass(frozen=True)
class StoredCertificate:
    label: str
    uri: str


class CertificateStore(Protocol):
    """The key's token, for the import step."""

    def find(self, certificate: x509.Certificate) -> StoredCertificate | None:
        """This very certificate, if the token holds it already (an import whose record was lost)."""
        ...

    def label_taken(self, label: str) -> bool: ...

    def import_chain(self, label: str, chain_pem: bytes) -> StoredCertificate:
        """Import the certificate and its CA chain, all or nothing."""
        ...


@dataclass
class EnrollmentIO:
    """The pieces an enrollment works with. Callables are called on first use only: a run that only has
    to say "done already" opens no device and asks for no PIN."""

    request_key: Callable[[], RequestKey]
    trusted: Sequence[x509.Certificate]
    voucher: Callable[[], Voucher]
    post: Callable[[bytes], bytes]
    certificate_store: Callable[[], CertificateStore]
    archive_transport: Callable[[], x509.Certificate] | None = None
    report: Callable[[str], None] = print
    stop_after: Step | None = None
    """Test hook: behave as if interrupted (Ctrl-C) right after this step was recorded."""
    lost_answers: LostAnswers | None = None
    """Asks the CA what became of a request whose answer was lost (None: send it again, unasked)."""


@dataclass(frozen=True)
class Outcome:
    status: OutcomeStatus
    message: str
    already_done: bool = False


class Enrollment:
    """Drives one enrollment from whatever step its state records to success, failure or pending."""

    def __init__(
        self,
        state_file: StateFile,
        state: EnrollState,
        io: EnrollmentIO,
        *,
        chain_out: Any = None,
    ) -> None:
        self.files = state_file
        self.state = state
        self.io = io
        self.chain_out = chain_out
        self._key: RequestKey | None = None
        self._voucher: Voucher | None = None
        self._store: CertificateStore | None = None

    # --- the loop ----------------------------------------------------------------------------------

    def run(self) -> Outcome:
        state = self.state
        if state.step is Step.IMPORTED:
            return self._finish(already_done=True)
        if state.step is Step.PENDING:
            return Outcome(
                "pending",
                f"the CA still holds request {state.request_id or '?'} pending ({state.message}); "
                f"nothing was sent. Once it is approved, remove {self.files.path} and enroll again",
            )
        if state.step is Step.FAILED and not self._certified_despite_refusal():
            self.io.report(
                f"retry: the CA refused the last attempt ({state.message}); "
                "building a new request for the same key"
            )
            state.trips, state.request_id, state.message = [], None, None
            state.attempts += 1
            self._record(Step.KEY_READY)
        self._check_trust_anchors()
        self._stop_if_asked()  # the caller recorded the step this run starts at
        while True:
            step = self.state.step
            if step is Step.IMPORTED:
                return self._finish()
            if step in (Step.FAILED, Step.PENDING):
                status: OutcomeStatus = "failed" if step is Step.FAILED else "pending"
                return Outcome(status, self.state.message or status)
            if step is Step.KEY_READY:
                self._build_first_trip()
            elif step is Step.POP_REQUIRED:
                self._build_second_trip()
            elif step in (Step.TRIP1_BUILT, Step.TRIP1_SENT, Step.TRIP2_BUILT, Step.TRIP2_SENT):
                self._submit(step)
            elif step in (Step.TRIP1_ANSWERED, Step.TRIP2_ANSWERED):
                self._read(step)
            elif step is Step.ISSUED:
                self._import()
            else:  # pragma: no cover - every Step is handled above
                raise EnrollmentError(f"unknown step {step}")

    def _record(self, step: Step) -> None:
        """Save the state at ``step``; the test hook interrupts here, as Ctrl-C would."""
        self.state.step = step
        self.files.save(self.state)
        kill_point(step.value)
        self._stop_if_asked()

    def _stop_if_asked(self) -> None:
        if self.io.stop_after is self.state.step:
            raise KeyboardInterrupt(f"stopped after {self.state.step.value} (test hook)")

    def _check_trust_anchors(self) -> None:
        if not self.io.trusted:
            raise EnrollmentError("no trusted CA certificate: give --ca-cert FILE")

    # --- trip 1 ------------------------------------------------------------------------------------

    def _build_first_trip(self) -> None:
        from agent.cmc.archive import build_archive_options
        from agent.cmc.crmf import build_crmf
        from agent.cmc.pkcs10 import build_csr
        from agent.cmc.pkidata import FullPKIRequestBuilder

        spec, key = self.state.spec, self.key()
        voucher = self.voucher()
        builder = FullPKIRequestBuilder()
        if spec.format == "pkcs10":
            if spec.pop != "signature" or spec.archive_to:
                raise EnrollmentError("--pop none and --archive-to need --format crmf")
            builder = builder.add_pkcs10(build_csr(key, spec.subject, ski=voucher.needs_ski, san=spec.san))
            what = "PKCS#10"
        else:
            archive_options = None
            if spec.archive_to:
                if self.io.archive_transport is None:
                    raise EnrollmentError("key archival needs the KRA transport certificate (--archive-to)")
                archive_options = build_archive_options(
                    key, self.io.archive_transport(), transport=self._transport()
                )
            crmf = build_crmf(
                key,
                spec.subject,
                pop=spec.pop,
                ski=voucher.needs_ski,
                san=spec.san,
                archive_options=archive_options,
            )
            builder = builder.add_crmf(crmf)
            notes = ["POP none"] if spec.pop == "none" else []
            notes += ["key wrapped for the KRA"] if archive_options is not None else []
            what = "CRMF" + (f" ({', '.join(notes)})" if notes else "")
        nonce = random_bytes(NONCE_BYTES)
        message = voucher.sign(builder.sender_nonce(nonce), key)
        name = self.files.write_sibling("trip1.req", message.dump())
        self.state.trips = [TripRecord(request=name, sender_nonce=nonce.hex())]
        self._record(Step.TRIP1_BUILT)
        self.io.report(f"trip 1: {what} request signed by {voucher.description}, saved as {name}")

    # --- submitting and reading (either trip) ------------------------------------------------------

    def _submit(self, step: Step) -> None:
        trip = step.trip or 1
        record = self._trip(trip)
        if step.value.endswith("-sent"):
            if self._settled_at_the_ca(trip, record):
                return
            self.io.report(
                f"trip {trip}: the last run stopped before the CA's answer was saved; sending "
                f"{record.request} again"
            )
        request = self.files.read_sibling(record.request)
        if record.sent_at is None:  # the first send: a certificate for it cannot be older than this
            record.sent_at = datetime.datetime.now(datetime.UTC).isoformat()
        self._record(Step(f"trip{trip}-sent"))
        answer = self.io.post(request)
        kill_point(f"trip{trip}-received")
        record.response = self.files.write_sibling(f"trip{trip}.resp", answer)
        kill_point(f"trip{trip}-response-saved")
        self._record(Step(f"trip{trip}-answered"))
        self.io.report(
            f"trip {trip}: submitted to {self.state.spec.url}; answer ({len(answer)} bytes) saved as "
            f"{record.response}"
        )

    def _settled_at_the_ca(self, trip: int, record: TripRecord) -> bool:
        """Before sending a request again whose answer was lost, ask the CA what became of it: True when
        that settles the step (issued, refused, or held), False when sending (again) is right."""
        from agent.flows.recovery import CannotTell, Issued, NotIssued, Refused, Waiting, parse_time

        lost = self.io.lost_answers
        if lost is None:
            return False
        request_id = self.state.request_id if trip == 2 else None
        verdict = lost.ask(request_id, parse_time(record.sent_at), self.key().public_key_info)
        if isinstance(verdict, Issued):
            self._keep_found_certificate(trip, record, verdict)
            return True
        if isinstance(verdict, Refused):
            record.outcome = "refused"
            self.state.message = verdict.message
            self._record(Step.FAILED)
            self.io.report(
                f"trip {trip}: asked the CA what became of {record.request}: refused: {verdict.message}"
            )
            return True
        if isinstance(verdict, Waiting) and trip == 1:
            self.state.message = verdict.message
            self._record(Step.PENDING)
            self.io.report(f"trip 1: asked the CA what became of {record.request}: {verdict.message}")
            return True
        assert isinstance(verdict, Waiting | NotIssued | CannotTell)
        self.io.report(f"trip {trip}: asked the CA what became of {record.request}: {verdict.message}")
        return False

    def _certified_despite_refusal(self) -> bool:
        """Before a new request after a refusal: did the CA certify this key all the same (a request it
        took, whose answer was lost, refused only when sent again)? Then that certificate is the answer,
        and no second request is built for a key the CA already certified."""
        from agent.flows.recovery import Issued, parse_time

        lost = self.io.lost_answers
        if lost is None or not self.state.trips:
            return False
        first = self.state.trips[0]
        verdict = lost.ask(None, parse_time(first.sent_at), self.key().public_key_info)
        if not isinstance(verdict, Issued):
            return False
        self._keep_found_certificate(len(self.state.trips), self.state.trips[-1], verdict)
        return True

    def _keep_found_certificate(self, trip: int, record: TripRecord, verdict: Any) -> None:
        """A certificate the CA issued for the lost request, checked as a CMC answer's would be."""
        from agent.cmc.pem import to_pem

        issued = verdict.certificate
        text = "".join(to_pem(certificate.dump(), "CERTIFICATE") for certificate in verdict.chain)
        chain_name = self.files.write_sibling("chain.pem", text, mode=0o644)
        self.state.certificate = CertificateRecord(
            serial=int(issued.serial_number),
            subject=_rfc4514(issued, "subject"),
            issuer=_rfc4514(issued, "issuer"),
            chain=chain_name,
            source="ca-rest",
        )
        record.outcome = "success (asked the CA)"
        self._record(Step.ISSUED)
        self.io.report(
            f"trip {trip}: asked the CA what became of {record.request}: {verdict.how}; checked like a CMC "
            f"answer (path to --ca-cert, our key, subject) and saved as {chain_name}; nothing sent again"
        )

    def _read(self, step: Step) -> None:
        from agent.cmc.response import chain_pem, rfc_name

        trip = step.trip or 1
        record = self._trip(trip)
        result = self._verified(record)
        if result.request_id is not None:
            self.state.request_id = result.request_id
        if result.succeeded:
            issued = result.issued_certificate
            if issued is None:  # read_response refuses a success without our key; be explicit anyway
                raise EnrollmentError("the CA reports success but sent no certificate for our key")
            chain_name = self.files.write_sibling("chain.pem", chain_pem(result), mode=0o644)
            self.state.certificate = CertificateRecord(
                serial=int(issued.serial_number),
                subject=_rfc4514(issued, "subject"),
                issuer=_rfc4514(issued, "issuer"),
                chain=chain_name,
            )
            record.outcome = "success"
            self._record(Step.ISSUED)
            self.io.report(
                f"trip {trip}: success: certificate serial {issued.serial_number} for "
                f"{self.state.certificate.subject}, chain saved as {chain_name}"
            )
            return
        if result.pop_required and result.encrypted_pop is not None and trip == 1:
            if result.request_id_bytes is None:
                raise MalformedMessage("the CA asks for an EncryptedPOP answer but gives no request id")
            record.outcome = "popRequired"
            self._record(Step.POP_REQUIRED)
            self.io.report(
                f"trip 1: the CA asks for proof of possession (EncryptedPOP challenge, request id "
                f"{result.request_id})"
            )
            return
        failures = [status for status in result.statuses if not status.succeeded]
        words = "the CA answered " + ("; ".join(status.describe() for status in failures) or "no status")
        pending = any(status.status == "pending" for status in failures)
        record.outcome = rfc_name(result.overall_status) or "failed"
        if result.pop_required and trip == 2:
            words = f"POP required again after the DecryptedPOP answer: {words}"
        self.state.message = words
        self._record(Step.PENDING if pending else Step.FAILED)
        self.io.report(f"trip {trip}: {'pending' if pending else 'refused'}: {words}")

    def _verified(self, record: TripRecord) -> Any:
        """The saved answer of a trip, verified, with our nonce checked before anything acts on it."""
        from agent.cmc.response import read_response

        if record.response is None:
            raise EnrollmentError("the state records no response for this trip; remove it to start over")
        result = read_response(
            self.files.read_sibling(record.response),
            trusted=self.io.trusted,
            request_public_key=self.key().public_key_info,
        )
        # A Dogtag failure echoes no nonce, and a failure is only reported, so the nonce binds what we act
        # on: a challenge we answer with our key, and a certificate we import.
        if (result.succeeded or result.pop_required) and result.recipient_nonce != bytes.fromhex(
            record.sender_nonce
        ):
            raise NonceMismatch(
                f"the answer saved as {record.response} does not echo the senderNonce of {record.request}: "
                "a replayed answer, or the answer to another request; it is not acted on"
            )
        return result

    # --- trip 2 ------------------------------------------------------------------------------------

    def _build_second_trip(self) -> None:
        from agent.cmc.pkidata import FullPKIRequestBuilder, second_trip_builder

        first = self._verified(self._trip(1))
        if first.encrypted_pop is None or first.request_id_bytes is None:
            raise MalformedMessage("the first answer carries no EncryptedPOP with a request id")
        voucher = self.voucher()
        if not voucher.answers_encrypted_pop:
            raise EnrollmentError(
                f"the CA asks for an EncryptedPOP second trip, which {voucher.description} cannot sign (a "
                "Dogtag CA wants identityProofV2 again); enroll this key with --signer-key/--signer-cert or "
                "--agent-key/--agent-cert"
            )
        nonce = random_bytes(NONCE_BYTES)
        builder = second_trip_builder(
            first.encrypted_pop,
            first.request_id_bytes,
            self.key(),
            self._transport(),
            builder=FullPKIRequestBuilder().sender_nonce(nonce),
        )
        message = voucher.sign(builder, self.key())
        name = self.files.write_sibling("trip2.req", message.dump())
        del self.state.trips[1:]
        self.state.trips.append(TripRecord(request=name, sender_nonce=nonce.hex()))
        self._record(Step.TRIP2_BUILT)
        self.io.report(
            f"trip 2: challenge decrypted on the device; DecryptedPOP for request {first.request_id} "
            f"signed by {voucher.description}, saved as {name}"
        )

    # --- import ------------------------------------------------------------------------------------

    def _import(self) -> None:
        """Import what the saved, signed answer says (verified again here, not a file that may have been
        edited since), all or nothing; or notice that an earlier run imported it but died before saying
        so."""
        from agent.cmc.response import chain_pem

        certificate = self.state.certificate
        if certificate is None or not self.state.trips:
            raise EnrollmentError(f"the state records no issued certificate; remove {self.files.path}")
        if certificate.source == "ca-rest":
            leaf, pem = self._rechecked_found_chain(certificate)
        else:
            result = self._verified(self.state.trips[-1])
            found = result.issued_certificate
            if not result.succeeded or found is None or found.serial_number != certificate.serial:
                raise EnrollmentError(
                    f"the saved answer does not hold certificate serial {certificate.serial}; remove "
                    f"{self.files.path} to start over"
                )
            leaf, pem = found, chain_pem(result).encode("ascii")
        store = self.store()
        stored = store.find(leaf)
        if stored is not None:
            self.io.report(f"import: the token already holds the certificate, as {stored.label!r}")
        else:
            label = self._choose_label(store, leaf)
            stored = store.import_chain(label, pem)
            self.io.report(f"import: certificate imported next to its key as {stored.label!r}: {stored.uri}")
        certificate.label, certificate.uri = stored.label, stored.uri
        self._record(Step.IMPORTED)

    def _rechecked_found_chain(self, certificate: CertificateRecord) -> tuple[x509.Certificate, bytes]:
        """The chain saved from the CA's REST answer, checked again (it is a file that may have been
        edited since): the leaf and exactly the bytes that passed."""
        lost = self.io.lost_answers
        if lost is None:
            raise EnrollmentError(
                f"the certificate in {certificate.chain} was asked of the CA; this run cannot check it again"
            )
        pem = self.files.read_sibling(certificate.chain)
        chain = lost.recheck(pem, self.key().public_key_info)
        if chain[0].serial_number != certificate.serial:
            raise EnrollmentError(
                f"{certificate.chain} does not hold certificate serial {certificate.serial}; remove "
                f"{self.files.path} to start over"
            )
        return chain[0], pem

    def _choose_label(self, store: CertificateStore, leaf: x509.Certificate) -> str:
        """The label asked for (which must be free), or one derived from the subject and serial that is."""
        wanted = self.state.spec.cert_label
        if wanted:
            if store.label_taken(wanted):
                raise EnrollmentError(
                    f"the token already has an object labelled {wanted!r}; give another --cert-label (the "
                    "certificate is saved: the next run imports it without asking the CA again)"
                )
            return wanted
        base = f"{_short_name(leaf, self.state.key.label)}-{leaf.serial_number}"
        for index in range(1, MAX_LABEL_TRIES + 1):
            label = base if index == 1 else f"{base}-{index}"
            if not store.label_taken(label):
                return label
        raise EnrollmentError(f"no free certificate label near {base!r}; give one with --cert-label")

    # --- helpers -----------------------------------------------------------------------------------

    def _finish(self, *, already_done: bool = False) -> Outcome:
        from agent.files import write_atomic

        certificate = self.state.certificate
        assert certificate is not None
        if self.chain_out is not None:
            write_atomic(self.chain_out, self.files.read_sibling(certificate.chain))
        if already_done:
            self.io.report(
                f"done already: certificate serial {certificate.serial} is on the token as "
                f"{certificate.label!r}; nothing was sent"
            )
        return Outcome(
            "success",
            f"certificate serial {certificate.serial} for {certificate.subject} is on the token as "
            f"{certificate.label!r}",
            already_done=already_done,
        )

    def _trip(self, number: int) -> TripRecord:
        if len(self.state.trips) < number:
            raise EnrollmentError(
                f"the state records no trip {number}; remove {self.files.path} to start over"
            )
        return self.state.trips[number - 1]

    def _transport(self) -> KeyTransport:
        return "rsa-oaep-sha256" if self.state.spec.oaep else "rsa-pkcs1v15"

    def key(self) -> RequestKey:
        if self._key is None:
            self._key = self.io.request_key()
        return self._key

    def voucher(self) -> Voucher:
        if self._voucher is None:
            self._voucher = self.io.voucher()
        return self._voucher

    def store(self) -> CertificateStore:
        if self._store is None:
            self._store = self.io.certificate_store()
        return self._store


def _rfc4514(certificate: x509.Certificate, which: str) -> str:
    """Subject or issuer as RFC 4514 text, the spelling users type and openssl prints."""
    from cryptography import x509 as crypto_x509

    parsed = crypto_x509.load_der_x509_certificate(certificate.dump())
    name = parsed.subject if which == "subject" else parsed.issuer
    return name.rfc4514_string()


def _short_name(certificate: x509.Certificate, key_label: str | None) -> str:
    """The certificate's CN (or UID), else the key's label: the readable part of a derived label."""
    subject = certificate.subject.native
    for attribute in ("common_name", "user_id"):
        value = subject.get(attribute)
        if isinstance(value, list):
            value = value[-1] if value else None
        if value:
            return str(value)
    return key_label or "certificate"
