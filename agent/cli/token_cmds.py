"""``cmc-agent token ...``: list, keygen, keys, certs, import-cert."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from agent.cli.common import add_pin_options, open_token_from_args
from agent.cli.main import UserFacingError


def register(subparsers: Any) -> None:
    token = subparsers.add_parser("token", help="PKCS#11 devices: tokens, keys, certificates")
    commands = token.add_subparsers(dest="token_command", metavar="COMMAND")
    commands.required = True

    listing = commands.add_parser("list", help="modules, slots and tokens, with their URIs")
    listing.add_argument("--module", action="append", default=[], metavar="PATH", help="module to list")
    listing.add_argument(
        "--nssdb", type=Path, metavar="DIR", help="an NSS database and its registered modules"
    )
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=run_list)

    keygen = commands.add_parser("keygen", help="generate a key pair on the device; prints its URI")
    _add_token_option(keygen)
    keygen.add_argument("--label", required=True, help="the key's label (its NSS nickname)")
    keygen.add_argument(
        "--type",
        default="rsa:2048",
        choices=("rsa:2048", "rsa:3072", "rsa:4096", "ec:p256", "ec:p384", "ec:p521"),
        help="key type (default rsa:2048)",
    )
    keygen.add_argument(
        "--archivable", action="store_true", help="extractable, but only wrapped, for KRA key archival"
    )
    keygen.add_argument("--json", action="store_true")
    add_pin_options(keygen)
    keygen.set_defaults(handler=run_keygen)

    keys = commands.add_parser("keys", help="private keys on a token, with their URIs")
    _add_token_option(keys)
    keys.add_argument("--json", action="store_true")
    add_pin_options(keys)
    keys.set_defaults(handler=run_keys)

    certs = commands.add_parser("certs", help="certificates on a token, with their URIs")
    _add_token_option(certs)
    certs.add_argument("--label", help="only the certificate with this label (nickname)")
    certs.add_argument("--subject", help="only certificates with this subject (RFC 4514)")
    certs.add_argument("--json", action="store_true")
    add_pin_options(certs)
    certs.set_defaults(handler=run_certs)

    imp = commands.add_parser("import-cert", help="import a certificate (and chain) bound to its key")
    _add_token_option(imp)
    imp.add_argument("--label", required=True, help="the certificate's label (its NSS nickname)")
    imp.add_argument("file", type=Path, help="PEM, DER or PKCS#7 chain")
    imp.add_argument("--no-chain", action="store_true", help="import only the end-entity certificate")
    imp.add_argument("--json", action="store_true")
    add_pin_options(imp)
    imp.set_defaults(handler=run_import)


def _add_token_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--token", metavar="URI", help="the token, as a pkcs11: URI (or give --nssdb DIR)")


def _emit(args: argparse.Namespace, data: object, text_lines: list[str]) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2))
    else:
        for line in text_lines:
            print(line)


def run_list(args: argparse.Namespace) -> int:
    from tokens.device import list_tokens

    infos = list_tokens(args.nssdb, tuple(args.module))
    rows = [
        {
            "module": i.module_path,
            "slot": i.slot_id,
            "slot_description": i.slot_description,
            "label": i.label,
            "manufacturer": i.manufacturer,
            "model": i.model,
            "serial": i.serial,
            "uri": str(i.uri),
            "initialized": i.initialized,
        }
        for i in infos
    ]
    lines = [
        f"{r['uri']}\n    module {r['module']}, slot {r['slot']} ({r['slot_description']})"
        + ("" if r["initialized"] else ", not initialized")
        for r in rows
    ]
    _emit(args, rows, lines or ["no tokens found"])
    return 0


def run_keygen(args: argparse.Namespace) -> int:
    from tokens.keys import generate_key_pair

    token = open_token_from_args(args, args.token)
    key = generate_key_pair(token, args.label, args.type, archivable=args.archivable)
    info = {
        "uri": str(key.uri),
        "id": key.key_id.hex(),
        "dogtag_key_id": key.dogtag_key_id,
        "type": args.type,
    }
    _emit(args, info, [str(key.uri)])
    return 0


def run_keys(args: argparse.Namespace) -> int:
    from tokens.keys import list_private_keys

    token = open_token_from_args(args, args.token)
    keys = list(list_private_keys(token))
    lines = [
        f"{k.uri}\n    {k.key_type}, id {k.key_id.hex()}, "
        f"sensitive={k.sensitive}, extractable={k.extractable}"
        + (", has certificate" if k.has_certificate else "")
        for k in keys
    ]
    _emit(args, [k.as_json() for k in keys], lines or ["no private keys"])
    return 0


def run_certs(args: argparse.Namespace) -> int:
    from tokens.certs import list_certificates

    token = open_token_from_args(args, args.token)
    certs = list(list_certificates(token, label=args.label, subject=args.subject))
    lines = [f"{c.uri}\n    subject {c.subject}\n    issuer {c.issuer}, serial {c.serial}" for c in certs]
    _emit(args, [c.as_json() for c in certs], lines or ["no certificates"])
    return 0


def run_import(args: argparse.Namespace) -> int:
    from tokens.certs import import_certificate

    try:
        data = args.file.read_bytes()
    except OSError as exc:
        raise UserFacingError(f"cannot read {args.file}: {exc.strerror}") from None
    token = open_token_from_args(args, args.token)
    result = import_certificate(token, args.label, data, include_chain=not args.no_chain)
    info = {
        "uri": str(result.uri),
        "label": result.label,
        "id": result.key_id.hex(),
        "chain": list(result.chain_labels),
    }
    lines = [f"Imported certificate {result.label!r}: {result.uri}"]
    lines += [f"Imported CA certificate {label!r}" for label in result.chain_labels]
    _emit(args, info, lines)
    return 0
