"""``cmc-agent submit``: post a CMC request to the CA and save the response (Dogtag's ``HttpClient``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from agent.cli.common import add_pin_options, check_output_location, open_tls_key, write_output
from agent.cli.main import UserFacingError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "submit",
        help="post a CMC request to the CA over HTTPS and save the response",
        description=(
            "POST the binary CMC request to URL (e.g. https://ca.example.com:8443/ca/ee/ca/"
            "profileSubmitCMCFull?profileId=caCMCserverCert), verifying the server against --ca-cert. With "
            "--key and --cert, the device key authenticates the TLS connection (CMCAuth requires the same "
            "certificate that signed the request). Read the saved response with 'cmc-agent response'."
        ),
    )
    parser.add_argument("request", type=Path, metavar="REQUEST", help="binary DER CMC request")
    parser.add_argument("--url", required=True, help="https:// URL of the CMC servlet, with ?profileId=")
    parser.add_argument(
        "--ca-cert", required=True, metavar="FILE", help="CA certificate the server chains to"
    )
    parser.add_argument("--key", metavar="URI", help="TLS client key on a device (pkcs11: URI)")
    parser.add_argument("--cert", metavar="FILE", help="the TLS client key's certificate (PEM)")
    parser.add_argument("--token", metavar="URI", help="token to search when --key is a Dogtag key id")
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="FILE", help="response (DER)")
    parser.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS")
    parser.add_argument("--json", action="store_true")
    add_pin_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from agent.transport import CmcClient

    try:
        request = args.request.read_bytes()
    except OSError as exc:
        raise UserFacingError(f"cannot read {args.request}: {exc.strerror}") from None
    check_output_location(args.output)  # the CA may act on the request: its answer must not be lost
    tls_key = None
    if args.key:
        if not args.cert:
            raise UserFacingError("--key needs --cert, the certificate of the TLS client key")
        tls_key = open_tls_key(args, args.key)[1]
    with CmcClient.open(
        args.ca_cert, client_key=tls_key, client_cert=args.cert, timeout=args.timeout
    ) as client:
        answer = client.post(args.url, request)
    write_output(args.output, answer.body)
    if args.json:
        print(json.dumps({"response": str(args.output), "bytes": len(answer.body), "url": answer.url}))
    else:
        print(f"CMC response ({len(answer.body)} bytes) from {answer.url} written to {args.output}")
    return 0
