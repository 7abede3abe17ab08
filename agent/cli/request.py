"""``cmc-agent request``: write a CMC Full PKI Request (binary DER), signed on the device.

Four forms, chosen by the options given:

* agent- or user-signed enrollment: ``--csr FILE --signer-key URI --signer-cert FILE [--chain FILE]``;
* shared-secret enrollment, signed with the request's own key:
  ``--csr FILE --request-key URI --identification UID --secret-file F [--pop-link-witness]``;
* revocation: ``--revoke SERIAL --reason R`` and either ``--signer-key/--signer-cert`` (signed) or
  ``--issuer DN --secret-file F`` (unsigned, with the revocation passphrase, as Dogtag does);
* getCert: ``--get-cert SERIAL [--issuer DN]`` with ``--signer-key/--signer-cert``;
* the second trip of an EncryptedPOP enrollment: ``--encrypted-pop-response FILE --request-key URI``
  with ``--signer-key/--signer-cert``; the challenge is decrypted on the device.

Secrets come from files only; PINs from ``--pin-file``/``--pin-env``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from agent.cli.common import (
    add_pin_options,
    check_output_location,
    open_private_key,
    read_certificates,
    read_file,
    read_secret_file,
    write_output,
)
from agent.cli.main import UserFacingError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "request",
        help="write a CMC Full PKI Request (DER)",
        description="Build a CMC Full PKI Request for a Dogtag CA and sign it with a device key.",
        allow_abbrev=False,  # "--secret X" must not quietly become "--secret-file X"
    )
    what = parser.add_argument_group("what to request")
    what.add_argument("--csr", type=Path, metavar="FILE", help="PKCS#10 or CRMF request (PEM or DER)")
    what.add_argument(
        "--format", choices=("pkcs10", "crmf"), default="pkcs10", help="format of --csr (default pkcs10)"
    )
    what.add_argument("--revoke", metavar="SERIAL", help="revoke this serial (decimal or 0x-hex)")
    what.add_argument("--reason", default="unspecified", help="revocation reason, e.g. keyCompromise")
    what.add_argument("--comment", help="revocation comment")
    what.add_argument(
        "--get-cert", metavar="SERIAL", help="ask for an issued certificate (getCert; decimal or 0x-hex)"
    )
    what.add_argument(
        "--encrypted-pop-response",
        type=Path,
        metavar="FILE",
        help="first-trip response carrying an EncryptedPOP: build the DecryptedPOP second trip",
    )
    what.add_argument(
        "--ca-cert", type=Path, metavar="FILE", help="CA certificate(s) to verify that response"
    )
    what.add_argument(
        "--oaep", action="store_true", help="the CA wraps with RSA-OAEP (Dogtag keyWrap.useOAEP=true)"
    )

    who = parser.add_argument_group("who signs")
    who.add_argument("--signer-key", metavar="URI", help="agent or user signing key (pkcs11: URI)")
    who.add_argument("--signer-cert", type=Path, metavar="FILE", help="certificate of --signer-key")
    who.add_argument("--chain", type=Path, metavar="FILE", help="CA certificates to include (PEM bundle)")
    who.add_argument("--request-key", metavar="URI", help="the key being certified (pkcs11: URI)")
    who.add_argument("--identification", metavar="UID", help="user id the CA looks the shared secret up by")
    who.add_argument(
        "--secret-file", type=Path, metavar="FILE", help="file whose first line is the shared secret"
    )
    who.add_argument(
        "--issuer",
        metavar="DN",
        help="issuer DN of the certificate to revoke or get (default: the signer's CA)",
    )
    who.add_argument(
        "--pop-link-witness",
        action="store_true",
        help="add popLinkRandom + popLinkWitnessV2 (re-signs the CSR)",
    )
    who.add_argument("--witness-hash", default="sha256", choices=("sha256", "sha384", "sha512"))
    who.add_argument("--witness-mac", default="sha256", choices=("sha256", "sha512"))

    extra = parser.add_argument_group("controls")
    extra.add_argument("--transaction-id", type=int, metavar="N", help="add a transactionId control")
    extra.add_argument(
        "--sender-nonce",
        action="store_true",
        help="add a random senderNonce (printed; check it in the response)",
    )
    parser.add_argument("--hash", default="sha256", choices=("sha256", "sha384", "sha512"))
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="FILE", help="DER output")
    parser.add_argument("--json", action="store_true", help="print what was written as JSON")
    add_pin_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from agent.cmc.pkidata import FullPKIRequestBuilder
    from agent.keyops import random_bytes

    check_output_location(args.output)  # before any device is opened or anything is signed
    builder = FullPKIRequestBuilder()
    nonce = None
    if args.sender_nonce:
        nonce = random_bytes(16)
        builder = builder.sender_nonce(nonce)
    if args.transaction_id is not None:
        builder = builder.transaction_id(args.transaction_id)

    modes = [m for m in ("csr", "revoke", "get_cert", "encrypted_pop_response") if getattr(args, m)]
    if len(modes) != 1:
        raise UserFacingError("give exactly one of --csr, --revoke, --get-cert or --encrypted-pop-response")
    if args.revoke:
        mode, message = _revocation(args, builder)
    elif args.get_cert:
        mode, message = _get_cert(args, builder)
    elif args.encrypted_pop_response:
        mode, message = _second_trip(args, builder)
    else:
        mode, message = _enrollment(args, builder)

    der = message.dump()
    write_output(args.output, der)
    if args.json:
        print(
            json.dumps(
                {
                    "output": str(args.output),
                    "mode": mode,
                    "bytes": len(der),
                    "sender_nonce": nonce.hex() if nonce else None,
                    "transaction_id": args.transaction_id,
                }
            )
        )
    else:
        print(f"{mode} CMC request written to {args.output} ({len(der)} bytes)")
        if nonce:
            print(f"senderNonce: {nonce.hex()}")
    return 0


def _signer(args: argparse.Namespace) -> tuple[Any, Any, list[Any]]:
    if not (args.signer_key and args.signer_cert):
        raise UserFacingError("a signed request needs --signer-key and --signer-cert")
    certificate = read_certificates(args.signer_cert, "the signer certificate")[0]
    chain = read_certificates(args.chain, "the chain")
    return open_private_key(args, args.signer_key), certificate, chain


def _enrollment(args: argparse.Namespace, builder: Any) -> tuple[str, Any]:
    from agent.cmc import crmf, pkcs10

    data = read_file(args.csr, "the request")
    if args.format == "crmf":
        builder = builder.add_crmf(crmf.load_crmf(data))
    else:
        builder = builder.add_pkcs10(pkcs10.load_csr(data))

    if args.request_key:
        if args.signer_key:
            raise UserFacingError(
                "give --signer-key (agent/user-signed) or --request-key (shared secret), not both"
            )
        if not args.identification:
            raise UserFacingError("a shared-secret request needs --identification")
        secret = read_secret_file(args.secret_file)
        builder = builder.identification(args.identification).identity_proof_v2(
            secret, hash_name=args.witness_hash, mac_name=args.witness_mac
        )
        if args.pop_link_witness:
            builder = builder.pop_link_witness_v2(
                secret, hash_name=args.witness_hash, mac_name=args.witness_mac
            )
        request_key = open_private_key(args, args.request_key)
        return "shared-secret", builder.sign_with_request_key(request_key, hash_name=args.hash)

    if args.pop_link_witness or args.identification or args.secret_file:
        raise UserFacingError("--identification, --secret-file and --pop-link-witness need --request-key")
    signer, certificate, chain = _signer(args)
    return "signed", builder.sign(signer, certificate, chain=chain, hash_name=args.hash)


def _serial(text: str) -> int:
    try:
        value = int(text, 16) if text.lower().startswith("0x") else int(text, 10)
    except ValueError:
        raise UserFacingError(f"serial {text!r}: a serial is decimal or 0x-prefixed hex") from None
    if value < 0:
        raise UserFacingError("a serial number is not negative")
    return value


def _reason(text: str) -> str:
    from agent.cmc.reasons import revocation_reason

    reason = revocation_reason(text)
    if reason is None:
        raise UserFacingError(f"unknown revocation reason {text!r}; use e.g. keyCompromise or superseded")
    return reason


def _revocation(args: argparse.Namespace, builder: Any) -> tuple[str, Any]:
    serial, reason = _serial(args.revoke), _reason(args.reason)
    if args.signer_key:
        if args.secret_file:
            raise UserFacingError("a signed revocation takes no --secret-file")
        signer, certificate, chain = _signer(args)
        issuer = args.issuer or certificate.issuer
        builder = builder.revoke_request(issuer, serial, reason, comment=args.comment)
        return "signed revocation", builder.sign(signer, certificate, chain=chain, hash_name=args.hash)
    if not (args.issuer and args.secret_file):
        raise UserFacingError("revocation needs --signer-key/--signer-cert, or --issuer with --secret-file")
    secret = read_secret_file(args.secret_file)
    builder = builder.revoke_request(args.issuer, serial, reason, passphrase=secret, comment=args.comment)
    return "shared-secret revocation (unsigned)", builder.unsigned()


def _get_cert(args: argparse.Namespace, builder: Any) -> tuple[str, Any]:
    serial = _serial(args.get_cert)
    signer, certificate, chain = _signer(args)
    builder = builder.get_cert(args.issuer or certificate.issuer, serial)
    return "getCert", builder.sign(signer, certificate, chain=chain, hash_name=args.hash)


def _second_trip(args: argparse.Namespace, builder: Any) -> tuple[str, Any]:
    from agent.cmc.errors import MalformedMessage
    from agent.cmc.pkidata import second_trip_builder
    from agent.cmc.response import read_response
    from agent.keyops import KeyTransport

    if not args.request_key:
        raise UserFacingError("the DecryptedPOP trip needs --request-key to decrypt the challenge")
    if not args.ca_cert:
        raise UserFacingError("--ca-cert is needed to verify the first-trip response")
    first = read_response(
        read_file(args.encrypted_pop_response, "the response"),
        trusted=read_certificates(args.ca_cert, "the CA certificate"),
    )
    if first.encrypted_pop is None or first.request_id_bytes is None:
        raise MalformedMessage("that response carries no EncryptedPOP with a request id (responseInfo)")
    request_key = open_private_key(args, args.request_key)
    transport: KeyTransport = "rsa-oaep-sha256" if args.oaep else "rsa-pkcs1v15"
    trip = second_trip_builder(
        first.encrypted_pop, first.request_id_bytes, request_key, transport, builder=builder
    )
    signer, certificate, chain = _signer(args)
    return "DecryptedPOP", trip.sign(signer, certificate, chain=chain, hash_name=args.hash)
