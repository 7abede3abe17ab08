"""``cmc-agent csr``: a PKCS#10 request signed by a key on a device."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from agent.cli.common import add_pin_options, check_output_location, open_private_key, write_output


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("csr", help="write a PKCS#10 CSR signed on the device")
    parser.add_argument("--key", required=True, metavar="URI", help="the private key, as a pkcs11: URI")
    parser.add_argument(
        "--subject", required=True, metavar="DN", help='RFC 4514 subject, e.g. "CN=alice,O=Example"'
    )
    parser.add_argument(
        "--ski", action="store_true", help="request a SubjectKeyIdentifier (needed for shared-secret CMC)"
    )
    parser.add_argument(
        "--san",
        action="append",
        default=[],
        metavar="NAME",
        help="subject alternative name: dns:NAME, ip:ADDR, email:ADDR or uri:URI (repeatable)",
    )
    parser.add_argument("--hash", default="sha256", choices=("sha256", "sha384", "sha512"))
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="FILE", help="PEM output")
    parser.add_argument("--json", action="store_true", help="print what was written as JSON")
    add_pin_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from agent.cmc.pem import to_pem
    from agent.cmc.pkcs10 import build_csr

    check_output_location(args.output)
    key = open_private_key(args, args.key)
    request = build_csr(key, args.subject, ski=args.ski, san=args.san, hash_name=args.hash)
    write_output(args.output, to_pem(request.dump(), "CERTIFICATE REQUEST"))
    if args.json:
        print(json.dumps({"csr": str(args.output), "key": str(key.uri), "dogtag_key_id": key.dogtag_key_id}))
    else:
        print(f"CSR for {args.subject} written to {args.output} (key {key.uri})")
    return 0
