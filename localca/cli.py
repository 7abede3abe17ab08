"""``cmc-localca``: make, run and look inside the local Dogtag-compatible CA.

The commands and their output lines are a contract that tests, the demo and scripts rely on:

    cmc-localca init DIR [--key-type rsa:2048|ec:p256]
    cmc-localca serve DIR [--host 127.0.0.1] [--port N] [--http-port N]   prints "listening on https://HOST:PORT"
    cmc-localca agent add DIR --csr FILE --out CERT [--no-agent-group]
    cmc-localca agent list DIR
    cmc-localca shared-token add DIR (--uid UID | --serial N) (--secret-file F | --generate | --token-file F)
    cmc-localca shared-token list DIR
    cmc-localca profile list|show DIR [ID]
    cmc-localca request list|show DIR [ID]
    cmc-localca cert list|show DIR [SERIAL]
    cmc-localca key recover DIR --serial N [--out FILE]
    cmc-localca config show|set DIR [KEY VALUE]
    cmc-localca crl DIR [--out FILE]

``list``/``show`` take ``--json``. Errors go to stderr with exit status 1; nothing prints a secret
unless asked to (``--generate`` without ``--secret-out``).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from localca.config import ConfigError


class CLIError(Exception):
    """A user error: printed without a traceback."""


def _open_ca(directory: str) -> Any:
    from localca.authority import CANotInitialised, CertificateAuthority

    try:
        return CertificateAuthority(Path(directory))
    except CANotInitialised as exc:
        raise CLIError(str(exc)) from None


def _parse_serial(text: str) -> int:
    try:
        return int(text, 16) if text.lower().startswith("0x") else int(text)
    except ValueError:
        raise CLIError(f"not a serial number: {text!r} (decimal, or hex with 0x)") from None


def _print_json(document: object) -> None:
    print(json.dumps(document, indent=2, sort_keys=True, default=str))


def _read_der_or_pem(path: str, label: str) -> bytes:
    from asn1crypto import pem

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CLIError(f"cannot read {path}: {exc.strerror}") from None
    if pem.detect(data):
        _, _, data = pem.unarmor(data)
    if not data:
        raise CLIError(f"{path} holds no {label}")
    return data


def _write_output(path: str, data: bytes, *, secret: bool = False) -> None:
    from localca.cadir import write_file_atomically, write_private_file

    target = Path(path)
    if secret:
        write_private_file(target, data)
    else:
        write_file_atomically(target, data)


# --- init / serve -----------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    from localca.bootstrap import InitError, initialise

    try:
        directory = initialise(Path(args.dir), key_type=args.key_type)
    except InitError as exc:
        raise CLIError(str(exc)) from None
    print(f"CA certificate: {directory.ca_cert}")
    print(f"KRA transport certificate: {directory.kra_transport_cert}")
    print(f"issuance protection certificate: {directory.issuance_protection_cert}")
    print(f"configuration: {directory.config}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import logging

    from localca.server import RunningServer

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr)
    ca = _open_ca(args.dir)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        server = RunningServer(
            ca, host=args.host, port=args.port, http_port=args.http_port, verbose=args.verbose
        )
    except OSError as exc:
        raise CLIError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    server.start()
    print(f"listening on {server.url}", flush=True)
    if server.http_port is not None:
        print(f"listening on http://{args.host}:{server.http_port}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        ca.close()
    print("stopped", flush=True)
    return 0


# --- agents -----------------------------------------------------------------------------------------


def cmd_agent_add(args: argparse.Namespace) -> int:
    from agent.cmc.asn1.pkcs10 import CertificationRequest
    from localca.agents import register_agent
    from localca.authority import certificate_pem
    from localca.names import dn_string
    from localca.policy import DefaultFailed, EnrollmentFacts, Rejected, populate, validate
    from localca.pop import PopCheckFailed, verify_pkcs10_signature

    ca = _open_ca(args.dir)
    try:
        request = CertificationRequest.load(_read_der_or_pem(args.csr, "certificate request"))
        info = request["certification_request_info"]
        info.native  # noqa: B018 - decode now to report a broken CSR here
    except ValueError as exc:
        raise CLIError(f"{args.csr} is not a PKCS#10 request: {exc}") from None
    try:
        verify_pkcs10_signature(request)
    except PopCheckFailed as exc:
        raise CLIError(f"{args.csr}: {exc}") from None
    profile = ca.profiles.get(args.profile)
    if profile is None:
        raise CLIError(f"no profile {args.profile}")
    facts = EnrollmentFacts(requested_subject=info["subject"], public_key_info=info["subject_pk_info"])
    try:
        content = populate(profile, facts, ca.issuer_facts(), ca.store)
        validate(profile, content, facts, ca.store)
    except (DefaultFailed, Rejected) as exc:
        raise CLIError(f"the request does not fit profile {profile.profile_id}: {exc}") from None
    request_id = ca.store.create_request(profile_id=profile.profile_id, kind="agent", body=request.dump())
    certificate = ca.issue(content, profile_id=profile.profile_id, request_id=request_id)
    register_agent(ca, certificate, in_agent_group=not args.no_agent_group)
    ca.store.update_request(
        request_id,
        status="complete",
        subject=dn_string(certificate.subject),
        cert_serial=certificate.serial_number,
        result="agent registered",
    )
    _write_output(args.out, certificate_pem(certificate))
    print(f"serial: {certificate.serial_number}")
    print(f"subject: {dn_string(certificate.subject)}")
    print(f"certificate: {args.out}")
    return 0


def cmd_agent_list(args: argparse.Namespace) -> int:
    ca = _open_ca(args.dir)
    agents = ca.store.list_agents()
    if args.json:
        _print_json([asdict(agent) for agent in agents])
        return 0
    for agent in agents:
        group = "agent" if agent.in_agent_group else "user"
        print(f"{agent.serial}\t{group}\t{agent.subject}")
    return 0


# --- shared tokens ----------------------------------------------------------------------------------


def cmd_shared_token_add(args: argparse.Namespace) -> int:
    from localca.sharedtoken import encrypt_shared_secret, normalise_token_text

    ca = _open_ca(args.dir)
    secret: str | None = None
    if args.token_file:
        try:
            token = normalise_token_text(Path(args.token_file).read_text(encoding="ascii"))
            base64.b64decode(token, validate=True)
        except (OSError, ValueError) as exc:
            raise CLIError(f"{args.token_file} is not a base64 shared token: {exc}") from None
    else:
        if args.generate:
            secret = secrets.token_urlsafe(18)
        else:
            try:
                secret = Path(args.secret_file).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise CLIError(f"cannot read {args.secret_file}: {exc.strerror}") from None
            if not secret:
                raise CLIError(f"{args.secret_file} is empty")
        token = encrypt_shared_secret(
            secret,
            ca.issuance_protection_rsa_key.public_key(),
            oaep=ca.config.get_bool("keyWrap.useOAEP"),
        )
    if args.uid is not None:
        base_dn = ca.config.get("auths.instance.SharedToken.ldap.basedn") or ""
        entry_dn = args.dn or (f"uid={args.uid},{base_dn}" if base_dn else f"uid={args.uid}")
        ca.store.put_shared_token(uid=args.uid, entry_dn=entry_dn, token_b64=token)
        print(f"shared token stored for uid={args.uid} (entry {entry_dn})")
    else:
        serial = _parse_serial(args.serial)
        if not ca.store.set_revocation_token(serial, token):
            raise CLIError(f"no certificate with serial {serial}")
        print(f"revocation shared token stored for certificate {serial}")
    if secret is not None and args.generate:
        if args.secret_out:
            _write_output(args.secret_out, (secret + "\n").encode("utf-8"), secret=True)
            print(f"secret written to {args.secret_out}")
        else:
            print(f"secret: {secret}")
    return 0


def cmd_shared_token_list(args: argparse.Namespace) -> int:
    ca = _open_ca(args.dir)
    tokens = ca.store.list_shared_tokens()
    if args.json:
        _print_json([{"uid": t.uid, "entry_dn": t.entry_dn, "updated": t.updated} for t in tokens])
        return 0
    for token in tokens:
        print(f"{token.uid}\t{token.entry_dn}")
    return 0


# --- profiles ---------------------------------------------------------------------------------------


def _profile_document(profile: Any, ca: Any) -> dict[str, Any]:
    return {
        "id": profile.profile_id,
        "name": profile.name,
        "enabled": profile.enabled(ca.config),
        "authenticator": profile.authenticator,
        "input": profile.input_type,
        "source": profile.source,
        "settings": dict(profile.raw),
    }


def cmd_profile_list(args: argparse.Namespace) -> int:
    ca = _open_ca(args.dir)
    profiles = ca.profiles.all()
    if args.json:
        _print_json([_profile_document(profile, ca) for profile in profiles])
        return 0
    for profile in profiles:
        state = "enabled" if profile.enabled(ca.config) else "disabled"
        print(f"{profile.profile_id}\t{state}\t{profile.authenticator or '-'}\t{profile.name}")
    return 0


def cmd_profile_show(args: argparse.Namespace) -> int:
    ca = _open_ca(args.dir)
    profile = ca.profiles.get(args.id)
    if profile is None:
        raise CLIError(f"no profile {args.id}")
    document = _profile_document(profile, ca)
    if args.json:
        _print_json(document)
        return 0
    print(f"id: {document['id']}")
    print(f"name: {document['name']}")
    print(f"enabled: {'true' if document['enabled'] else 'false'}")
    print(f"source: {document['source']}")
    for key, value in document["settings"].items():
        print(f"{key}={value}")
    return 0


# --- requests / certificates ------------------------------------------------------------------------


def _request_document(record: Any, with_body: bool) -> dict[str, Any]:
    document = asdict(record)
    body = document.pop("body")
    if with_body and body is not None:
        document["body_b64"] = base64.b64encode(body).decode("ascii")
    return document


def cmd_request_list(args: argparse.Namespace) -> int:
    ca = _open_ca(args.dir)
    records = ca.store.list_requests()
    if args.json:
        _print_json([_request_document(record, False) for record in records])
        return 0
    for record in records:
        serial = record.cert_serial if record.cert_serial is not None else "-"
        print(
            f"{record.request_id}\t{record.kind}\t{record.status}\t{record.profile_id}\t"
            f"serial={serial}\t{record.result or ''}"
        )
    return 0


def cmd_request_show(args: argparse.Namespace) -> int:
    ca = _open_ca(args.dir)
    record = ca.store.get_request(_parse_serial(args.id))
    if record is None:
        raise CLIError(f"no request {args.id}")
    document = _request_document(record, True)
    if args.json:
        _print_json(document)
        return 0
    for key in ("request_id", "kind", "status", "profile_id", "subject", "cert_serial", "result", "created"):
        print(f"{key}: {document[key]}")
    for key, value in sorted(document["ext"].items()):
        print(f"ext.{key}: {value}")
    return 0


def _cert_document(record: Any) -> dict[str, Any]:
    document = asdict(record)
    document.pop("der")
    document.pop("public_key")
    document["rev_shr_tok"] = bool(document.get("rev_shr_tok"))
    return document


def cmd_cert_list(args: argparse.Namespace) -> int:
    ca = _open_ca(args.dir)
    records = ca.store.list_certificates()
    if args.json:
        _print_json([_cert_document(record) for record in records])
        return 0
    for record in records:
        print(f"{record.serial}\t{record.status}\t{record.profile_id or '-'}\t{record.subject}")
    return 0


def cmd_cert_show(args: argparse.Namespace) -> int:
    from asn1crypto import pem

    ca = _open_ca(args.dir)
    record = ca.store.get_certificate(_parse_serial(args.serial))
    if record is None:
        raise CLIError(f"no certificate {args.serial}")
    if args.pem:
        sys.stdout.write(pem.armor("CERTIFICATE", record.der).decode("ascii"))
        return 0
    document = _cert_document(record)
    if args.json:
        _print_json(document)
        return 0
    for key, value in document.items():
        print(f"{key}: {value}")
    return 0


# --- keys, config, CRL ------------------------------------------------------------------------------


def cmd_key_recover(args: argparse.Namespace) -> int:
    from cryptography.hazmat.primitives import serialization

    from localca.kra import KeyRecoveryAuthority

    ca = _open_ca(args.dir)
    serial = _parse_serial(args.serial)
    records = ca.store.archived_keys_for_certificate(serial)
    if not records:
        raise CLIError(f"no archived key for certificate {serial}")
    kra = KeyRecoveryAuthority(
        store=ca.store,
        transport_key=ca.kra_transport_rsa_key,
        transport_certificate_b64="",
        storage_key=ca.kra_storage_key,
    )
    pkcs8 = kra.recover(records[-1])
    key = serialization.load_der_private_key(pkcs8, password=None)
    pem_bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    if args.out:
        _write_output(args.out, pem_bytes, secret=True)
        print(f"private key of certificate {serial} written to {args.out}")
    else:
        sys.stdout.write(pem_bytes.decode("ascii"))
    return 0


def cmd_config_show(args: argparse.Namespace) -> int:
    ca = _open_ca(args.dir)
    for key, value in ca.config.items():
        print(f"{key}={value}")
    return 0


def cmd_config_set(args: argparse.Namespace) -> int:
    ca = _open_ca(args.dir)
    ca.config.set(args.key, args.value)
    print(f"{args.key}={args.value} (restart `serve` for it to take effect)")
    return 0


def cmd_crl(args: argparse.Namespace) -> int:
    ca = _open_ca(args.dir)
    der = ca.crl().dump()
    if args.out:
        _write_output(args.out, der)
        print(f"CRL written to {args.out}")
    else:
        from asn1crypto import pem

        sys.stdout.write(pem.armor("X509 CRL", der).decode("ascii"))
    return 0


# --- parser -----------------------------------------------------------------------------------------


def _add_list_and_show(
    commands: Any,
    name: str,
    help_text: str,
    key: str,
    list_handler: Callable[[argparse.Namespace], int],
    show_handler: Callable[[argparse.Namespace], int],
) -> argparse.ArgumentParser:
    """``NAME list DIR [--json]`` and ``NAME show DIR KEY [--json]``; returns the ``show`` parser."""
    verbs = commands.add_parser(name, help=help_text).add_subparsers(dest=f"{name}_command", required=True)
    listing = verbs.add_parser("list")
    listing.add_argument("dir")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=list_handler)
    showing: argparse.ArgumentParser = verbs.add_parser("show")
    showing.add_argument("dir")
    showing.add_argument(key)
    showing.add_argument("--json", action="store_true")
    showing.set_defaults(handler=show_handler)
    return showing


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cmc-localca", description="A Dogtag-compatible CMC CA for development."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    init = commands.add_parser("init", help="create a CA directory")
    init.add_argument("dir")
    init.add_argument(
        "--key-type", default="rsa:2048", help="rsa:2048 (default), rsa:3072, rsa:4096, ec:p256, ec:p384"
    )
    init.set_defaults(handler=cmd_init)

    serve = commands.add_parser("serve", help="serve the CMC endpoints over HTTPS")
    serve.add_argument("dir")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8443, help="HTTPS port (0 picks a free one); default 8443")
    serve.add_argument("--http-port", type=int, default=None, help="also serve plain HTTP on this port")
    serve.add_argument("--verbose", action="store_true", help="log every request to stderr")
    serve.set_defaults(handler=cmd_serve)

    agent = commands.add_parser("agent", help="CA agents").add_subparsers(dest="agent_command", required=True)
    agent_add = agent.add_parser("add", help="issue a certificate for a CSR and register it as a CA agent")
    agent_add.add_argument("dir")
    agent_add.add_argument("--csr", required=True, help="PKCS#10 request, PEM or DER")
    agent_add.add_argument("--out", required=True, help="where to write the certificate (PEM)")
    agent_add.add_argument("--profile", default="caAdminCert", help=argparse.SUPPRESS)
    agent_add.add_argument(
        "--no-agent-group",
        action="store_true",
        help="register a CA user outside 'Certificate Manager Agents' (to test authorization failures)",
    )
    agent_add.set_defaults(handler=cmd_agent_add)
    agent_list = agent.add_parser("list")
    agent_list.add_argument("dir")
    agent_list.add_argument("--json", action="store_true")
    agent_list.set_defaults(handler=cmd_agent_list)

    token = commands.add_parser("shared-token", help="shared secrets (CMCSharedToken)").add_subparsers(
        dest="token_command", required=True
    )
    token_add = token.add_parser(
        "add", help="store a shared token for a user (or a certificate, for revocation)"
    )
    token_add.add_argument("dir")
    who = token_add.add_mutually_exclusive_group(required=True)
    who.add_argument("--uid", help="the user's identification (LDAP uid)")
    who.add_argument("--serial", help="a certificate serial: store it as that certificate's revShrTok")
    token_add.add_argument("--dn", help="the user's entry DN (default uid=UID,<basedn>)")
    what = token_add.add_mutually_exclusive_group(required=True)
    what.add_argument("--secret-file", help="file holding the passphrase (first line)")
    what.add_argument("--generate", action="store_true", help="generate a passphrase")
    what.add_argument("--token-file", help="a base64 token made by CMCSharedToken, stored as it is")
    token_add.add_argument("--secret-out", help="with --generate: write the passphrase here (mode 0600)")
    token_add.set_defaults(handler=cmd_shared_token_add)
    token_list = token.add_parser("list")
    token_list.add_argument("dir")
    token_list.add_argument("--json", action="store_true")
    token_list.set_defaults(handler=cmd_shared_token_list)

    _add_list_and_show(commands, "profile", "certificate profiles", "id", cmd_profile_list, cmd_profile_show)
    _add_list_and_show(commands, "request", "requests received", "id", cmd_request_list, cmd_request_show)
    cert_show = _add_list_and_show(
        commands, "cert", "certificates issued", "serial", cmd_cert_list, cmd_cert_show
    )
    cert_show.add_argument("--pem", action="store_true", help="print the certificate itself")

    key = commands.add_parser("key", help="the KRA").add_subparsers(dest="key_command", required=True)
    key_recover = key.add_parser("recover", help="the archived private key of a certificate")
    key_recover.add_argument("dir")
    key_recover.add_argument("--serial", required=True, help="certificate serial (decimal or 0x-hex)")
    key_recover.add_argument("--out", help="write the PKCS#8 PEM here (mode 0600) instead of stdout")
    key_recover.set_defaults(handler=cmd_key_recover)

    config = commands.add_parser("config", help="CS.cfg").add_subparsers(dest="config_command", required=True)
    config_show = config.add_parser("show")
    config_show.add_argument("dir")
    config_show.set_defaults(handler=cmd_config_show)
    config_set = config.add_parser("set")
    config_set.add_argument("dir")
    config_set.add_argument("key")
    config_set.add_argument("value")
    config_set.set_defaults(handler=cmd_config_set)

    crl = commands.add_parser("crl", help="a CRL of every revoked certificate")
    crl.add_argument("dir")
    crl.add_argument("--out", help="write DER here instead of PEM to stdout")
    crl.set_defaults(handler=cmd_crl)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "generate", False) is False and getattr(args, "secret_out", None):
        parser.error("--secret-out goes with --generate")
    try:
        return int(args.handler(args))
    except (CLIError, ConfigError) as exc:
        print(f"cmc-localca: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
