"""``cmc-agent response``: read a CMC response, verify it, and report it.

Exit status: 0 only when every body part succeeded; 2 when the CA asks for more (POP required,
pending); 1 for a failure or any error. Unlike Dogtag's CMCResponse, the signature is always verified
against ``--ca-cert``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from agent.cli.common import check_output_location, read_certificates, read_file, write_output
from agent.cli.main import UserFacingError

EXIT_SUCCESS, EXIT_FAILED, EXIT_ACTION_NEEDED = 0, 1, 2


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "response",
        help="read and verify a CMC response",
        description="Read a CMC Full or Simple PKI Response, verify it against the CA certificate, "
        "and print the status of each body part, the request id and the certificates.",
        allow_abbrev=False,
    )
    parser.add_argument("file", type=Path, metavar="FILE", help="the response (binary DER)")
    parser.add_argument(
        "--ca-cert", required=True, type=Path, metavar="FILE", help="trusted CA certificate(s), PEM or DER"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--chain-out", type=Path, metavar="FILE", help="write the issued chain (PEM, leaf first)"
    )
    parser.add_argument(
        "--csr", type=Path, metavar="FILE", help="the request's CSR: find the issued certificate by its key"
    )
    parser.add_argument("--csr-format", choices=("pkcs10", "crmf"), default="pkcs10")
    parser.add_argument("--expect-nonce", metavar="HEX", help="the senderNonce we sent; must come back")
    parser.add_argument("--expect-transaction-id", type=int, metavar="N", help="the transactionId we sent")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from agent.cmc.response import chain_pem, read_response

    if args.chain_out:
        check_output_location(args.chain_out)
    trusted = read_certificates(args.ca_cert, "the CA certificate")

    nonce = None
    if args.expect_nonce:
        try:
            nonce = bytes.fromhex(args.expect_nonce)
        except ValueError:
            raise UserFacingError("--expect-nonce takes hex") from None
    public_key = _request_public_key(args) if args.csr else None

    result = read_response(
        read_file(args.file, "the response"),
        trusted=trusted,
        expected_recipient_nonce=nonce,
        expected_transaction_id=args.expect_transaction_id,
        request_public_key=public_key,
    )
    if args.chain_out and result.chain:
        write_output(args.chain_out, chain_pem(result))

    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        _print_text(result, args.chain_out if result.chain else None)

    if result.succeeded:
        return EXIT_SUCCESS
    if result.pop_required or any(s.status == "pending" for s in result.statuses):
        return EXIT_ACTION_NEEDED
    return EXIT_FAILED


def _request_public_key(args: argparse.Namespace) -> Any:
    from agent.cmc import crmf, pkcs10

    data = read_file(args.csr, "the CSR")
    if args.csr_format == "crmf":
        return crmf.load_crmf(data, check_signature=False)[0]["cert_req"]["cert_template"][
            "public_key"
        ].untag()
    return pkcs10.load_csr(data, check_signature=False)["certification_request_info"]["subject_pk_info"]


def _print_text(result: Any, chain_path: Path | None) -> None:
    kind = "Full" if result.kind == "full" else "Simple"
    print(f"CMC {kind} PKI Response: {result.overall_status}")
    verified = "verified" if result.signature.verified else "NOT verified"
    signer = f" by {result.signature.signer}" if result.signature.signer else ""
    print(f"signature: {verified}{signer} ({result.signature.detail})")
    for status in result.statuses:
        parts = " ".join("/".join(map(str, p)) if isinstance(p, tuple) else str(p) for p in status.body_parts)
        print(f"body part {parts}: {status.describe()}")
    if result.request_id is not None:
        print(f"request id: {result.request_id}")
    if result.encrypted_pop is not None:
        print("EncryptedPOP challenge present: answer it with `cmc-agent request --encrypted-pop-response`")
    if result.recipient_nonce is not None:
        print(f"recipientNonce: {result.recipient_nonce.hex()}")
    if result.transaction_id is not None:
        print(f"transactionId: {result.transaction_id}")
    print(f"certificates: {len(result.certificates)}")
    for certificate in result.certificates:
        mark = "  (issued)" if certificate is result.issued_certificate else ""
        print(f"  serial {certificate.serial_number}: {certificate.subject.human_friendly}{mark}")
    if chain_path is not None:
        print(f"chain ({len(result.chain)} certificates, leaf first) written to {chain_path}")
