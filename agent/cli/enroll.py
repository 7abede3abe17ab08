"""``cmc-agent enroll``: a whole CMC enrollment in one command, every key on its device, resumable.

The key (``--key URI``, or ``--label L`` on ``--token``/``--nssdb``, generated only when no key has that
label), the request (PKCS#10 or CRMF, optionally with the key wrapped for the KRA), who vouches for it
(an agent: CMCAuth; a user's signing certificate: CMCUserSignedAuth; or a shared secret), the trip to the
CA and, when the CA challenges an encryption-only key, the DecryptedPOP trip, then the import of the
certificate next to its key. The library state machine is :mod:`agent.flows.enroll`; this module turns
arguments into its pieces (device keys, the HTTPS client, the key's token) and checks that a rerun asks
for the same enrollment the state file records.

Exit status: 0 success (or already done), 1 failure (the CA's failInfo and status string are shown), 2
when the CA holds the request pending.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from agent.cli.common import (
    add_pin_options,
    check_output_location,
    key_uri,
    open_private_key,
    open_tls_key,
    open_token_from_args,
    parse_cli_uri,
    read_certificates,
    read_secret_file,
)
from agent.cli.main import UserFacingError
from agent.flows.killpoints import kill_point

if TYPE_CHECKING:
    from asn1crypto import x509

    from agent.flows.enroll import Outcome, StoredCertificate, Voucher
    from agent.flows.preflight import ProfileFacts
    from agent.flows.recovery import LostAnswers
    from agent.flows.state import AuthMode, AuthRecord, EnrollState, KeyRecord, RequestSpec, StateFile
    from agent.rest import DogtagRest
    from agent.transport import CmcClient
    from tokens.keys import DeviceKey
    from tokens.tls import DeviceTlsKey

EXIT_SUCCESS, EXIT_FAILED, EXIT_PENDING = 0, 1, 2
KEY_TYPES = ("rsa:2048", "rsa:3072", "rsa:4096", "ec:p256", "ec:p384", "ec:p521")
DEFAULT_KEY_TYPE = "rsa:2048"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "enroll",
        help="a whole enrollment in one command: key, request, submission, POP trip, import (resumable)",
        description=(
            "Enroll a key held on a PKCS#11 device with a Dogtag CA in one command: build the request, "
            "submit it, verify the answer, answer an EncryptedPOP challenge on the device, and import the "
            "certificate next to the key. Progress is recorded in a state file (default "
            "./<label or key id>.enroll.json); running the same command again, or 'enroll --resume STATE', "
            "continues from the last completed step without sending anything twice."
        ),
        allow_abbrev=False,
    )
    key = parser.add_argument_group("the key")
    key.add_argument("--key", metavar="URI", help="an existing private key (pkcs11: URI or Dogtag key id)")
    key.add_argument(
        "--label", metavar="L", help="the key labelled L on --token/--nssdb; generated there if there is none"
    )
    key.add_argument("--token", metavar="URI", help="token for --label (or for a Dogtag key id in --key)")
    key.add_argument(
        "--type", choices=KEY_TYPES, help=f"type of a generated key (default {DEFAULT_KEY_TYPE})"
    )
    key.add_argument(
        "--archivable",
        action="store_true",
        default=None,
        help="generate the key extractable, wrapped only, for KRA archival (needed for --archive-to)",
    )

    what = parser.add_argument_group("what to ask for")
    what.add_argument("--subject", metavar="DN", help='RFC 4514 subject, e.g. "CN=www.example.com,O=Example"')
    what.add_argument(
        "--san", action="append", metavar="NAME", help="dns:NAME, ip:ADDR, email:ADDR or uri:URI (repeatable)"
    )
    what.add_argument(
        "--format",
        choices=("pkcs10", "crmf"),
        help="request format (default pkcs10; crmf when --pop none or --archive-to asks for it)",
    )
    what.add_argument(
        "--pop",
        choices=("signature", "none"),
        help="signature (default) or none: an encryption-only key, answered with an EncryptedPOP second trip",
    )
    what.add_argument(
        "--archive-to", type=Path, metavar="TRANSPORT.pem", help="KRA transport certificate: archive the key"
    )
    what.add_argument(
        "--oaep",
        action="store_true",
        default=None,
        help="RSA-OAEP for the archival wrap and the EncryptedPOP unwrap (Dogtag keyWrap.useOAEP=true)",
    )

    who = parser.add_argument_group("who vouches (exactly one)")
    who.add_argument("--agent-key", metavar="URI", help="CA agent key: signs the request, authenticates TLS")
    who.add_argument("--agent-cert", type=Path, metavar="FILE", help="the agent's certificate")
    who.add_argument(
        "--signer-key", metavar="URI", help="the user's signing key (CMCUserSignedAuth); also TLS"
    )
    who.add_argument("--signer-cert", type=Path, metavar="FILE", help="the signing key's certificate")
    who.add_argument("--identification", metavar="UID", help="shared-secret enrollment: the user id")
    who.add_argument(
        "--secret-file", type=Path, metavar="F", help="file whose first line is the shared secret"
    )
    who.add_argument(
        "--pop-link-witness",
        action="store_true",
        default=None,
        help="shared secret: add popLinkRandom + popLinkWitnessV2",
    )

    ca = parser.add_argument_group("the CA")
    ca.add_argument("--url", help="https://HOST:PORT/ca/ee/ca/profileSubmit...?profileId=PROFILE")
    ca.add_argument("--ca-cert", type=Path, metavar="FILE", help="trust anchor for the server and the answer")
    ca.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS")

    result = parser.add_argument_group("results and state")
    result.add_argument(
        "--cert-label",
        metavar="NICK",
        help="label (nickname) of the imported certificate (default: CN-serial)",
    )
    result.add_argument("--chain-out", type=Path, metavar="FILE", help="also write the chain here (PEM)")
    result.add_argument(
        "--state", type=Path, metavar="FILE", help="state file (default ./<label>.enroll.json)"
    )
    result.add_argument("--resume", type=Path, metavar="STATE", help="continue the enrollment STATE records")
    result.add_argument("--json", action="store_true", help="print a JSON summary (step lines go to stderr)")
    from agent.flows.state import Step

    # test hook: behave as if interrupted right after this step was recorded
    parser.add_argument("--stop-after", choices=[step.value for step in Step], help=argparse.SUPPRESS)
    add_pin_options(parser)
    parser.set_defaults(handler=run)


# --- the command -----------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    from agent.flows.enroll import Enrollment, EnrollmentIO
    from agent.flows.state import StateFile, Step

    report = _reporter(args.json)
    if args.chain_out is not None:
        check_output_location(args.chain_out)
    with StateFile(_state_path(args)).locked() as files:
        recorded = files.load()
        if recorded is None and args.resume is not None:
            raise UserFacingError(f"there is no state file {files.path}: nothing to resume")
        spec = _spec(args, recorded, files)
        trusted = read_certificates(Path(spec.ca_cert), "the CA certificate")
        credentials = _Credentials(args, spec, trusted)
        poster = _Poster(credentials, spec, args.timeout)
        try:
            profile = _preflight(args, spec, poster, report) if recorded is None else None
            state, key = _begin(args, files, recorded, spec, report, profile)
            opened_key = _OnFirstUse(lambda: key or _request_key(args, state, spec, report)[0])
            io = EnrollmentIO(
                request_key=opened_key,
                trusted=trusted,
                voucher=credentials.voucher,
                post=poster,
                certificate_store=lambda: _TokenCertificates(opened_key()),
                archive_transport=(
                    lambda: read_certificates(Path(spec.archive_to or ""), "the transport certificate")[0]
                ),
                report=report,
                stop_after=Step(args.stop_after) if args.stop_after else None,
                lost_answers=_lost_answers(spec, trusted, poster),
            )
            outcome = Enrollment(files, state, io, chain_out=args.chain_out).run()
        finally:
            poster.close()
        return _conclude(args, files, state, outcome)


def _preflight(
    args: argparse.Namespace, spec: RequestSpec, poster: _Poster, report: Callable[[str], None]
) -> ProfileFacts:
    """Everything that can be checked before a key exists (:mod:`agent.flows.preflight`)."""
    from agent.flows.preflight import check_before_key, check_url, describe

    check_url(spec.url)
    # A connection of its own, closed before any device is opened for the request key: SoftHSM2's
    # C_Initialize leaves OpenSSL errors queued (NO_SUCH_ENGINE) that fail the next read on a TLS
    # connection opened before it; the trips open theirs afterwards.
    with poster.separate_rest() as rest:
        facts = check_before_key(
            rest, spec.url, client_certificate=poster.uses_client_key(), key_type=args.type
        )
    report(describe(facts, spec.url))
    return facts


def _lost_answers(spec: RequestSpec, trusted: list[x509.Certificate], poster: _Poster) -> LostAnswers:
    """How a rerun asks the CA about a request whose answer was lost, and what subject it expects."""
    from agent.cmc.names import parse_dn
    from agent.flows.recovery import ExpectedSubject, LostAnswers

    def expected() -> ExpectedSubject:
        auth = spec.auth
        signer = None
        if auth.mode == "signer" and auth.cert:
            signer = read_certificates(Path(auth.cert), "the signer certificate")[0].subject
        return ExpectedSubject(
            requested=parse_dn(spec.subject),
            signer=signer,
            identification=auth.identification if auth.mode == "shared-secret" else None,
        )

    return LostAnswers(rest=poster.rest, trusted=trusted, expected_subject=expected)


def _begin(
    args: argparse.Namespace,
    files: StateFile,
    recorded: EnrollState | None,
    spec: RequestSpec,
    report: Callable[[str], None],
    profile: ProfileFacts | None = None,
) -> tuple[EnrollState, DeviceKey | None]:
    """The state to run from, saved, and the request key when the steps left need it.

    A new enrollment is recorded as soon as its key exists, so that no generated key is ever without a
    record. A finished (or pending) one needs no device, so none is opened and no PIN is asked for.
    """
    from agent.flows.state import EnrollState, Step

    if recorded is None:
        key, key_record = _request_key(args, None, spec, report, profile)
        _check_key_fits(key, spec, profile)  # an unfit key was not generated here: nothing to record
        kill_point("key-opened")
        state = EnrollState(step=Step.KEY_READY, key=key_record, spec=spec)
        files.save(state)
        kill_point(Step.KEY_READY.value)
        report(f"state: {files.path}")
        return state, key
    report(f"resume: {files.path} is at step {recorded.step.value}")
    device_key: DeviceKey | None = None
    if recorded.step in (Step.IMPORTED, Step.PENDING):
        _check_names_recorded_key(args, recorded)
    else:
        device_key, recorded.key = _request_key(args, recorded, spec, report)
        if recorded.step in (Step.KEY_READY, Step.FAILED):
            _check_key_fits(device_key, spec)  # nothing was built for it yet
    recorded.spec = spec
    files.save(recorded)
    return recorded, device_key


class _OnFirstUse:
    """The request key, opened (and a PIN asked for) only when a step needs it."""

    def __init__(self, opener: Callable[[], DeviceKey]) -> None:
        self._opener = opener
        self._key: DeviceKey | None = None

    def __call__(self) -> DeviceKey:
        if self._key is None:
            self._key = self._opener()
        return self._key


def _reporter(to_stderr: bool) -> Callable[[str], None]:
    def report(line: str) -> None:
        print(line, file=sys.stderr if to_stderr else sys.stdout, flush=True)

    return report


def _conclude(args: argparse.Namespace, files: StateFile, state: EnrollState, outcome: Outcome) -> int:
    if args.json:
        print(json.dumps(_summary(files, state, outcome, args.chain_out), indent=2))
    elif outcome.status == "success" and not outcome.already_done:
        print(f"done: {outcome.message}")
    if outcome.status == "success":
        return EXIT_SUCCESS
    where = f"(state kept in {files.path}"
    if outcome.status == "pending":
        print(f"cmc-agent: pending: {outcome.message} {where})", file=sys.stderr)
        return EXIT_PENDING
    print(
        f"cmc-agent: enrollment failed: {outcome.message} {where}; rerun to try again with the same key)",
        file=sys.stderr,
    )
    return EXIT_FAILED


def _summary(
    files: StateFile, state: EnrollState, outcome: Outcome, chain_out: Path | None
) -> dict[str, Any]:
    certificate = state.certificate
    paths: dict[str, str] = {"state": str(files.path)}
    for number, trip in enumerate(state.trips, start=1):
        paths[f"trip{number}_request"] = str(files.path_of(trip.request))
        if trip.response:
            paths[f"trip{number}_response"] = str(files.path_of(trip.response))
    if certificate is not None:
        paths["chain"] = str(files.path_of(certificate.chain))
    if chain_out is not None and outcome.status == "success":
        paths["chain_out"] = str(chain_out)
    return {
        "status": outcome.status,
        "message": outcome.message,
        "already_done": outcome.already_done,
        "step": state.step.value,
        "key": state.key.uri,
        "key_generated": state.key.generated,
        "serial": certificate.serial if certificate else None,
        "subject": certificate.subject if certificate else None,
        "issuer": certificate.issuer if certificate else None,
        "certificate_label": certificate.label if certificate else None,
        "certificate_uri": certificate.uri if certificate else None,
        "request_id": state.request_id,
        "files": paths,
        "state_file": str(files.path),
    }


# --- where the state lives -------------------------------------------------------------------------


def _state_path(args: argparse.Namespace) -> Path:
    from agent.flows.state import default_state_name

    if args.key and args.label:
        raise UserFacingError("give --key URI (an existing key) or --label L (found or generated), not both")
    if args.resume is not None and args.state is not None and args.resume != args.state:
        raise UserFacingError("give --resume STATE or --state FILE, not two different files")
    if args.resume is not None or args.state is not None:
        return Path(args.resume or args.state).absolute()
    if args.label:
        return Path(default_state_name(args.label)).absolute()
    if args.key:
        uri = parse_cli_uri(key_uri(args.key))
        name = uri.object or (uri.id.hex() if uri.id else None)
        if name:
            return Path(default_state_name(name)).absolute()
    raise UserFacingError("name the key: --key URI or --label L (or continue with --resume STATE)")


# --- what is asked, and whether a rerun asks the same ----------------------------------------------


def _spec(args: argparse.Namespace, state: EnrollState | None, files: StateFile) -> RequestSpec:
    """The request spec: from the arguments for a new enrollment; from the state, checked against every
    argument given, for a rerun."""
    from agent.flows.state import RequestSpec

    given = _given(args)
    auth = _given_auth(args, state.spec.auth if state else None)
    if state is None:
        required = (("--subject DN", "subject"), ("--url URL", "url"), ("--ca-cert FILE", "ca_cert"))
        missing = [option for option, name in required if name not in given]
        if missing:
            raise UserFacingError(f"a new enrollment needs {', '.join(missing)}")
        if auth is None:
            raise UserFacingError(
                "say who vouches: --agent-key/--agent-cert, --signer-key/--signer-cert, or "
                "--identification/--secret-file"
            )
        spec = RequestSpec(
            subject=given["subject"],
            url=given["url"],
            ca_cert=given["ca_cert"],
            auth=auth,
            san=given.get("san", []),
            pop=given.get("pop", "signature"),
            archive_to=given.get("archive_to"),
            oaep=given.get("oaep", False),
            cert_label=args.cert_label,
        )
        spec.format = given.get("format", "crmf" if spec.pop == "none" or spec.archive_to else "pkcs10")
        _check_new_spec(spec)
        return spec
    recorded = state.spec
    for name, value in given.items():
        if name != "ca_cert" and getattr(recorded, name) != value:
            raise UserFacingError(_contradiction(files, name, getattr(recorded, name), value))
    return dataclasses.replace(
        recorded,
        ca_cert=given.get("ca_cert", recorded.ca_cert),
        auth=auth or recorded.auth,
        cert_label=args.cert_label or recorded.cert_label,
    )


def _given(args: argparse.Namespace) -> dict[str, Any]:
    """The spec fields this command line sets (absent options are not "default", they are unsaid)."""
    values = {
        "subject": args.subject,
        "url": args.url,
        "ca_cert": _absolute(args.ca_cert),
        "san": list(args.san) if args.san else None,
        "format": args.format,
        "pop": args.pop,
        "archive_to": _absolute(args.archive_to),
        "oaep": args.oaep,
    }
    return {name: value for name, value in values.items() if value is not None}


def _absolute(path: Path | None) -> str | None:
    return None if path is None else str(path.absolute())


def _given_auth(args: argparse.Namespace, recorded: AuthRecord | None) -> AuthRecord | None:
    """Who vouches, from the arguments, completed from and checked against ``recorded``."""
    given: dict[AuthMode, bool] = {
        "agent": bool(args.agent_key or args.agent_cert),
        "signer": bool(args.signer_key or args.signer_cert),
        "shared-secret": bool(args.identification or args.secret_file or args.pop_link_witness),
    }
    chosen = [mode for mode, present in given.items() if present]
    if len(chosen) > 1:
        raise UserFacingError(
            "give exactly one of --agent-key/--agent-cert, --signer-key/--signer-cert and "
            "--identification/--secret-file"
        )
    if not chosen:
        return None
    mode = chosen[0]
    if recorded is not None and recorded.mode != mode:
        raise UserFacingError(
            f"the state file records a {recorded.mode} enrollment, but this command is {mode}; run the same "
            "command, or remove the state file to start a new enrollment"
        )
    if mode == "shared-secret":
        return _shared_secret_auth(args, recorded)
    return _signed_auth(args, mode, recorded)


def _shared_secret_auth(args: argparse.Namespace, recorded: AuthRecord | None) -> AuthRecord:
    from agent.flows.state import AuthRecord

    if recorded is None:
        if not args.identification or args.secret_file is None:
            raise UserFacingError("a shared-secret enrollment needs --identification UID and --secret-file F")
        return AuthRecord(
            "shared-secret", identification=args.identification, pop_link_witness=bool(args.pop_link_witness)
        )
    if args.identification and args.identification != recorded.identification:
        raise UserFacingError(
            f"the state file records --identification {recorded.identification!r}, not "
            f"{args.identification!r}; remove the state file to start a new enrollment"
        )
    if args.pop_link_witness and not recorded.pop_link_witness:
        raise UserFacingError(
            "the state file records an enrollment without --pop-link-witness; remove the state file to "
            "start a new enrollment"
        )
    return recorded


def _signed_auth(args: argparse.Namespace, mode: AuthMode, recorded: AuthRecord | None) -> AuthRecord:
    """Agent or signer: the certificate (by fingerprint) is the identity; the key URI may be respelled."""
    from agent.flows.state import AuthRecord

    agent = mode == "agent"
    key_text, cert = (args.agent_key, args.agent_cert) if agent else (args.signer_key, args.signer_cert)
    key = _recordable_uri(key_text) if key_text else (recorded.key if recorded else None)
    if not key or (cert is None and recorded is None):
        if agent:
            raise UserFacingError("an agent enrollment needs --agent-key URI and --agent-cert FILE")
        raise UserFacingError("a signer enrollment needs --signer-key URI and --signer-cert FILE")
    if cert is None:
        assert recorded is not None
        return dataclasses.replace(recorded, key=key)
    fingerprint = _fingerprint(cert, f"the {mode} certificate")
    if recorded is not None and recorded.cert_sha256 != fingerprint:
        raise UserFacingError(
            f"{cert} is not the {mode} certificate the state file records ({recorded.cert}); run the same "
            "command, or remove the state file to start a new enrollment"
        )
    return AuthRecord(mode, key=key, cert=str(cert.absolute()), cert_sha256=fingerprint)


def _recordable_uri(text: str) -> str:
    """A key URI fit for the state file: no ``pin-value``/``pin-source`` (nor anything they point at)."""
    if not text.lower().startswith("pkcs11:"):
        return text  # a Dogtag key id
    return str(parse_cli_uri(text).with_(pin_source=None, pin_value=None))


def _fingerprint(path: Path, what: str) -> str:
    return hashlib.sha256(read_certificates(path, what)[0].dump()).hexdigest()


def _check_new_spec(spec: RequestSpec) -> None:
    """Combinations no CA would accept, refused before a key is generated for them."""
    if spec.format == "pkcs10" and (spec.pop == "none" or spec.archive_to):
        raise UserFacingError("--pop none and --archive-to need --format crmf")
    if spec.pop == "none" and spec.auth.mode == "shared-secret":
        raise UserFacingError(
            "--pop none makes the CA answer with an EncryptedPOP challenge, whose second trip a "
            "shared-secret request cannot sign; use --signer-key/--signer-cert (or an agent)"
        )
    if urlsplit(spec.url).scheme != "https":
        raise UserFacingError(f"{spec.url!r} is not an https:// URL")


def _contradiction(files: StateFile, name: str, recorded: Any, given: Any) -> str:
    option = "--" + name.replace("_", "-")
    if name == "url":
        old, new = _profile(recorded), _profile(given)
        if old != new and urlsplit(recorded).path == urlsplit(given).path:
            return (
                f"{files.path} records an enrollment with profile {old!r}, but this command asks for profile "
                f"{new!r}; run the same command, or remove the state file to start a new enrollment"
            )
    return (
        f"{files.path} records {option} {recorded!r}, but this command says {given!r}; run the same command "
        "(or enroll --resume STATE), or remove the state file to start a new enrollment"
    )


def _profile(url: str) -> str | None:
    values = parse_qs(urlsplit(url).query).get("profileId")
    return values[0] if values else None


# --- the key ---------------------------------------------------------------------------------------


def _request_key(
    args: argparse.Namespace,
    state: EnrollState | None,
    spec: RequestSpec,
    report: Callable[[str], None],
    profile: ProfileFacts | None = None,
) -> tuple[DeviceKey, KeyRecord]:
    """Open the key the enrollment is for (generating it when asked and there is none) and its record."""
    from agent.flows.state import KeyRecord
    from tokens.errors import KeyNotFound
    from tokens.keys import describe_key_type, find_private_key, generate_key_pair
    from tokens.uri import Pkcs11Uri

    if state is not None and args.nssdb is None and state.key.nssdb:
        args.nssdb = Path(state.key.nssdb)
    if (args.type or args.archivable) and not args.label and state is None:
        raise UserFacingError("--type and --archivable describe a key to generate: use them with --label")
    nssdb = _absolute(args.nssdb)
    generated = False
    if args.key:
        key = open_private_key(args, args.key)
        how = "existing key"
    elif args.label:
        token = open_token_from_args(args, args.token)
        try:
            key = find_private_key(token, Pkcs11Uri(object=args.label, type="private"))
            how = f"existing key {args.label!r} found on token {token.label!r}; none generated"
        except KeyNotFound:
            if state is not None:
                raise UserFacingError(
                    f"the key {state.key.uri} recorded in the state file is no longer on token "
                    f"{token.label!r}"
                ) from None
            if spec.archive_to and not args.archivable:
                raise UserFacingError(
                    "--archive-to needs a key that may leave its device wrapped for the KRA: add --archivable"
                ) from None
            key_type = args.type or DEFAULT_KEY_TYPE
            if spec.pop == "none" and not key_type.startswith("rsa"):
                raise UserFacingError(
                    "--pop none needs an RSA key: the CA wraps its challenge with RSA"
                ) from None
            refusal = profile.refusal_for(key_type) if profile is not None else None
            if refusal is not None:
                raise UserFacingError(f"{refusal}; give --type accordingly; nothing was generated") from None
            key = generate_key_pair(token, args.label, key_type, archivable=bool(args.archivable))
            generated = True
            archivable = ", archivable" if args.archivable else ""
            how = f"new {key_type}{archivable} key {args.label!r} generated on token {token.label!r}"
    elif state is not None:
        key = open_private_key(args, state.key.uri)
        how = "recorded in the state file"
    else:
        raise UserFacingError("name the key: --key URI or --label L")
    key_type = describe_key_type(key.public_key_info)
    if args.type and args.type != key_type and not generated:
        raise UserFacingError(
            f"the key {key.uri} is {key_type}, not the {args.type} asked for; give another --label, "
            "or no --type"
        )
    if state is not None:
        if state.key.key_id != key.key_id.hex():
            raise UserFacingError(
                f"the state file records the key {state.key.uri}, but this command names another key "
                f"({key.uri}); run the same command, or remove the state file to start a new enrollment"
            )
        report(f"key: {key.uri} ({how})")
        return key, state.key
    report(f"key: {key.uri} ({how})")
    token_uri = _recordable_uri(args.token) if args.token else None
    record = KeyRecord(
        uri=str(key.uri),
        key_id=key.key_id.hex(),
        label=key.label,
        key_type=key_type,
        generated=generated,
        token=token_uri,
        nssdb=nssdb,
    )
    return key, record


def _check_names_recorded_key(args: argparse.Namespace, state: EnrollState) -> None:
    """Without opening the device: does this command name the key the state records (if it names one)?"""
    recorded = state.key
    named_other = args.label is not None and args.label != recorded.label
    if args.key:
        uri = parse_cli_uri(key_uri(args.key))
        if uri.id is not None:
            named_other = uri.id.hex() != recorded.key_id
        elif uri.object is not None:
            named_other = uri.object != recorded.label
    if named_other:
        raise UserFacingError(
            f"the state file records the key {recorded.uri}, but this command names another key; run the "
            "same command, or remove the state file to start a new enrollment"
        )


def _check_key_fits(key: DeviceKey, spec: RequestSpec, profile: ProfileFacts | None = None) -> None:
    """Refuse, before anything is built, a key that cannot do what the request asks of it."""
    if profile is not None:
        from tokens.keys import describe_key_type

        refusal = profile.refusal_for(describe_key_type(key.public_key_info))
        if refusal is not None:
            raise UserFacingError(f"{refusal}; nothing was built or recorded")
    if spec.pop == "none" and key.key_algorithm != "rsa":
        raise UserFacingError(
            f"the key {key.uri} is not RSA: an EncryptedPOP challenge (--pop none) is wrapped with RSA"
        )
    if spec.archive_to:
        from tokens.keys import list_private_keys

        listing = next((k for k in list_private_keys(key.token) if k.key_id == key.key_id), None)
        if listing is not None and not listing.extractable:
            raise UserFacingError(
                f"the key {key.uri} was not generated archivable, so it cannot be wrapped for the KRA; "
                "generate one with --label NEW --archivable"
            )


# --- the pieces the flow uses ----------------------------------------------------------------------


class _Credentials:
    """Who vouches, opened on first use: a device key (which also authenticates TLS) or the secret."""

    def __init__(self, args: argparse.Namespace, spec: RequestSpec, trusted: list[x509.Certificate]) -> None:
        self._args = args
        self._spec = spec
        self._trusted = trusted
        self._voucher: Voucher | None = None
        self._tls_key: DeviceTlsKey | None = None

    def voucher(self) -> Voucher:
        if self._voucher is None:
            auth = self._spec.auth
            if auth.mode == "shared-secret":
                self._voucher = self._shared_secret(auth)
            else:
                self._voucher = self._signed_by(auth)
        return self._voucher

    def tls_key(self) -> DeviceTlsKey | None:
        if self._spec.auth.mode != "shared-secret":
            self.voucher()
        return self._tls_key

    def _shared_secret(self, auth: AuthRecord) -> Voucher:
        from agent.flows.enroll import SharedSecret

        if self._args.secret_file is None:
            raise UserFacingError(
                "this step builds the shared-secret request: give --secret-file F (a secret is never "
                "recorded in the state file)"
            )
        assert auth.identification is not None
        return SharedSecret(
            auth.identification, read_secret_file(self._args.secret_file), bool(auth.pop_link_witness)
        )

    def _signed_by(self, auth: AuthRecord) -> Voucher:
        from agent.cmc.chain import order_chain
        from agent.flows.enroll import SignedBy

        assert auth.key is not None and auth.cert is not None
        certificate = read_certificates(Path(auth.cert), f"the {auth.mode} certificate")[0]
        if hashlib.sha256(certificate.dump()).hexdigest() != auth.cert_sha256:
            raise UserFacingError(
                f"{auth.cert} no longer holds the {auth.mode} certificate the state file records"
            )
        # the URI as typed this time may carry a pin-source=, which the state file does not record
        typed = self._args.agent_key if auth.mode == "agent" else self._args.signer_key
        device_key, self._tls_key = open_tls_key(self._args, typed or auth.key)
        chain = tuple(order_chain(certificate, self._trusted)[1:])
        return SignedBy(device_key, certificate, chain, mode=auth.mode)


class _Poster:
    """One keep-alive HTTPS session to the CA for the pre-flight, both trips and any question about a
    lost answer, opened at the first use."""

    def __init__(self, credentials: _Credentials, spec: RequestSpec, timeout: float) -> None:
        self._credentials = credentials
        self._spec = spec
        self._timeout = timeout
        self._client: CmcClient | None = None

    def _open(self) -> CmcClient:
        if self._client is None:
            self._client = self._new_client()
        return self._client

    def _new_client(self) -> CmcClient:
        from agent.transport import CmcClient

        tls_key = self._credentials.tls_key()
        return CmcClient.open(
            self._spec.ca_cert,
            client_key=tls_key,
            client_cert=self._spec.auth.cert if tls_key is not None else None,
            timeout=self._timeout,
        )

    @contextlib.contextmanager
    def separate_rest(self) -> Iterator[DogtagRest]:
        """Dogtag's REST resources over a connection of their own, closed at the end of the block."""
        from agent.rest import DogtagRest

        with DogtagRest.over(self._new_client(), self._spec.url) as rest:
            yield rest

    def __call__(self, request: bytes) -> bytes:
        return self._open().post(self._spec.url, request).body

    def rest(self) -> DogtagRest:
        """Dogtag's REST resources on the same CA, over the same connection."""
        from agent.rest import DogtagRest

        return DogtagRest.over(self._open(), self._spec.url)

    def uses_client_key(self) -> bool:
        return self._spec.auth.mode != "shared-secret"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


class _TokenCertificates:
    """The key's own token, where its certificate goes."""

    def __init__(self, key: DeviceKey) -> None:
        self._key = key

    def find(self, certificate: x509.Certificate) -> StoredCertificate | None:
        from agent.flows.enroll import StoredCertificate
        from tokens.certs import list_certificates

        for listed in list_certificates(self._key.token, key_id=self._key.key_id):
            if listed.certificate.dump() == certificate.dump():
                return StoredCertificate(listed.label or "", str(listed.uri))
        return None

    def label_taken(self, label: str) -> bool:
        from tokens.certs import list_certificates
        from tokens.keys import list_private_keys

        token = self._key.token
        if any(True for _ in list_certificates(token, label=label)):
            return True
        return any(k.label == label and k.key_id != self._key.key_id for k in list_private_keys(token))

    def import_chain(self, label: str, chain_pem: bytes) -> StoredCertificate:
        from agent.flows.enroll import StoredCertificate
        from tokens.certs import import_certificate

        result = import_certificate(self._key.token, label, chain_pem)
        return StoredCertificate(result.label, str(result.uri))
