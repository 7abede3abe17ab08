"""``cmc-agent crmf``: a CRMF request (RFC 4211) for a device key, optionally with key archival.

What CRMFPopClient makes, with the key on any device: a signature POP made on the device, or no POP for
an encryption-only key (the CA then answers with an EncryptedPOP challenge, ``cmc-agent request
--encrypted-pop-response``); with ``--archive-to``, the private key wrapped on its device for the KRA
transport certificate (the key must have been generated ``--archivable``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from agent.cli.common import add_pin_options, check_output_location, open_private_key, write_output
from agent.cli.main import UserFacingError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "crmf", help="write a CRMF request for a device key (POP, or none; optional key archival)"
    )
    parser.add_argument("--key", required=True, metavar="URI", help="the key to certify (pkcs11: URI)")
    parser.add_argument("--token", metavar="URI", help="token to search when --key is a Dogtag key id")
    parser.add_argument("--subject", required=True, metavar="DN", help="RFC 4514 subject")
    parser.add_argument(
        "--pop",
        default="signature",
        choices=("signature", "none"),
        help="signature: POP signed on the device (POP_SUCCESS); none: encryption-only key, the CA "
        "challenges with EncryptedPOP (POP_NONE)",
    )
    parser.add_argument("--ski", action="store_true", help="add a SubjectKeyIdentifier (shared-secret CMC)")
    parser.add_argument("--san", action="append", default=[], metavar="NAME", help="dns:, ip:, email:, uri:")
    archival = parser.add_argument_group("key archival")
    archival.add_argument("--archive-to", type=Path, metavar="CERT", help="KRA transport certificate (PEM)")
    archival.add_argument(
        "--wrap",
        default="aes-kwp",
        choices=("aes-kwp", "aes-cbc-pad"),
        help="how the device wraps the key: aes-kwp ('AES KeyWrap/Padding') or aes-cbc-pad "
        "(AES/CBC/PKCS5Padding)",
    )
    archival.add_argument(
        "--oaep",
        action="store_true",
        help="wrap the session key with RSA-OAEP (the KRA has keyWrap.useOAEP=true)",
    )
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="FILE", help="PEM output")
    parser.add_argument("--json", action="store_true")
    add_pin_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from asn1crypto import x509

    from agent.cmc.archive import build_archive_options
    from agent.cmc.crmf import build_crmf
    from agent.cmc.pem import all_pem_blocks, to_pem

    check_output_location(args.output)
    key = open_private_key(args, args.key)
    archive_options = None
    if args.archive_to is not None:
        try:
            blocks = all_pem_blocks(args.archive_to.read_bytes(), "CERTIFICATE")
            transport = x509.Certificate.load(blocks[0], strict=True)
        except (OSError, IndexError, ValueError) as exc:
            raise UserFacingError(f"cannot read the transport certificate {args.archive_to}: {exc}") from None
        archive_options = build_archive_options(
            key,
            transport,
            wrapping=args.wrap,
            transport="rsa-oaep-sha256" if args.oaep else "rsa-pkcs1v15",
        )
    request = build_crmf(
        key,
        args.subject,
        pop=args.pop,
        ski=args.ski,
        san=args.san,
        archive_options=archive_options,
        empty_controls=True,  # written as Dogtag's CRMFPopClient writes it: Dogtag's CMCRequest needs it
    )
    write_output(args.output, to_pem(request.dump(), "CERTIFICATE REQUEST"))
    info = {
        "crmf": str(args.output),
        "key": str(key.uri),
        "dogtag_key_id": key.dogtag_key_id,
        "pop": args.pop,
        "archival": args.archive_to is not None,
    }
    if args.json:
        print(json.dumps(info))
    else:
        archived = " with the key wrapped for the KRA" if args.archive_to else ""
        print(f"CRMF request for {args.subject}{archived} written to {args.output} (key {key.uri})")
    return 0
