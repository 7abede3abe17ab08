"""``CRMFPopClient``: a key pair on the device and a CRMF request for it, optionally archiving the key.

Options as in Dogtag (``dogtag-cmc-client.md`` §4.1), ``-oaep``/``--oaep`` and unique prefixes included.
The request is laid out as CRMFPopClient lays it out (§4.3, §4.5), the empty ``controls`` (``30 00``)
included (Dogtag's CMCRequest adds popLinkWitnessV2 to it and crashes without it), with two deliberate
fixes inherited from :mod:`agent.cmc.crmf`: the SubjectKeyIdentifier carries no ``critical FALSE`` (not
DER, and the CA's re-encoding would break the POP signature), and its extnValue is the DER
``KeyIdentifier`` rather than Dogtag's raw key id.

Key archival (``-b``): the key is generated extractable-but-sensitive and wrapped **on its device**
under a fresh AES key, which is wrapped to the KRA transport certificate in software (RSA PKCS#1 v1.5,
or OAEP SHA-256 with ``-oaep``, which must match the KRA's ``keyWrap.useOAEP``). Unlike Dogtag, the
transport certificate is not imported into the NSS database as a side effect.

The token password comes from ``-P FILE``, ``--pin-env NAME`` or a prompt; the walkthrough's ``-p
PASSWORD`` is accepted with a warning (refused under ``CMC_AGENT_STRICT_SECRETS=1``).

Deliberately not offered: direct non-CMC submission (``-m``), ``DES3/CBC/Pad`` archival (single-DES
OID on a 3DES key) and ``AES KeyWrap/NoPadding`` (the KRA cannot unwrap it), session-only keys
(``-t true``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.compat.tool import CompatError, run_main, secret_on_command_line

if TYPE_CHECKING:
    from agent.cmc.asn1 import crmf as asn1_crmf
    from tokens.keys import DeviceKey

TOOL = "CRMFPopClient"
LOGIN_ALTERNATIVES = "-P FILE (first line), --pin-env NAME, or run it on a terminal to be prompted"
DEFAULT_KEY_WRAP = "AES KeyWrap/Padding"
KEY_WRAP_ENVIRONMENT = "KEY_ARCHIVAL_KEYWRAP_ALGORITHM"
KEY_WRAPS = {
    "aes keywrap/padding": "aes-kwp",
    "aes keywrap/wrapped": "aes-kwp",
    "aes/cbc/pkcs5padding": "aes-cbc-pad",
}
REFUSED_KEY_WRAPS = {
    "des3/cbc/pad": "DES3/CBC/Pad is labelled with the single-DES OID and is obsolete",
    "aes keywrap/nopadding": "AES KeyWrap/NoPadding cannot wrap a private key of arbitrary length",
}
POP_OPTIONS = ("POP_SUCCESS", "POP_FAIL", "POP_NONE")
POP_FAIL_INPUT = b"\x01" * 8
"""POP_FAIL signs these 8 bytes instead of the CertRequest: a deliberately wrong POP, for testing CAs."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        print(f"ERROR: {message}", file=sys.stderr)
        print(f"Try '{TOOL} --help' for more information.", file=sys.stderr)
        raise SystemExit(1)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=TOOL, add_help=False, description="Generate a key pair on the device and a CRMF request for it."
    )
    parser.add_argument("-d", default=".", metavar="DATABASE", help="NSS database (default: .)")
    parser.add_argument(
        "-p", metavar="PASSWORD", help="token password (others can read it: prefer -P FILE or --pin-env NAME)"
    )
    parser.add_argument("-P", metavar="FILE", help="file whose first line is the token password")
    parser.add_argument("--pin-env", metavar="NAME", help="environment variable holding the token password")
    parser.add_argument("-h", metavar="TOKEN", help="token name (default: internal)")
    parser.add_argument("-n", metavar="SUBJECT", help="subject DN")
    parser.add_argument("-k", metavar="true|false", help="attribute value encoding (accepted, ignored)")
    parser.add_argument("-a", default="rsa", metavar="rsa|ec", help="key algorithm (default rsa)")
    parser.add_argument("-l", metavar="BITS", help="RSA key length (default 2048)")
    parser.add_argument("-c", metavar="CURVE", help="EC curve (default nistp256)")
    parser.add_argument("-t", metavar="true|false", help="temporary key: always kept on the token here")
    parser.add_argument("-s", metavar="-1|0|1", help="EC sensitive (0 is refused)")
    parser.add_argument("-e", metavar="-1|0|1", help="EC extractable (1 is refused)")
    parser.add_argument("-x", metavar="true|false", help="EC key with ECDH usage (accepted)")
    parser.add_argument("-q", metavar="POP", help="POP_SUCCESS (default), POP_FAIL or POP_NONE")
    parser.add_argument("-b", metavar="FILE", help="PEM KRA transport certificate: archive the key")
    parser.add_argument("-w", metavar="ALGORITHM", help=f'key wrap algorithm (default "{DEFAULT_KEY_WRAP}")')
    parser.add_argument("--oaep", "-oaep", action="store_true", help="wrap the session key with RSA-OAEP")
    parser.add_argument("-y", action="store_true", help="add a SubjectKeyIdentifier (shared-secret CMC)")
    parser.add_argument("-o", metavar="FILE", help="write the PEM request here and the key id to FILE.keyId")
    for option in ("-m", "-f", "-u", "-r"):
        parser.add_argument(option, metavar="VALUE", help=argparse.SUPPRESS)
    parser.add_argument("-v", "--verbose", action="store_true", help="verbose output")
    parser.add_argument("--help", action="help", help="show this help")
    return parser


def _key_wrap(name: str | None) -> tuple[str, str]:
    chosen = name or os.environ.get(KEY_WRAP_ENVIRONMENT) or DEFAULT_KEY_WRAP
    refused = REFUSED_KEY_WRAPS.get(chosen.lower())
    if refused is not None:
        raise CompatError(f'-w "{chosen}": {refused}; use "AES KeyWrap/Padding" or "AES/CBC/PKCS5Padding"')
    wrapping = KEY_WRAPS.get(chosen.lower())
    if wrapping is None:
        raise CompatError(
            f'-w "{chosen}": use "AES KeyWrap/Padding", "AES KeyWrap/Wrapped" or "AES/CBC/PKCS5Padding"'
        )
    return chosen, wrapping


def _transport_certificate(path: str) -> Any:
    from asn1crypto import x509

    from agent.cmc.pem import to_der

    try:
        certificate = x509.Certificate.load(to_der(Path(path).read_bytes(), "the transport certificate"))
        certificate.native  # noqa: B018 - decode it all now
    except OSError as exc:
        raise CompatError(f"cannot read the transport certificate {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise CompatError(f"{path} is not a PEM certificate: {exc}") from None
    return certificate


def _pop_fail_request(
    key: DeviceKey, subject: str, ski: bool, archive_options: asn1_crmf.PKIArchiveOptions | None
) -> asn1_crmf.CertReqMessages:
    """A request whose POP signature is made over the wrong bytes (Dogtag's POP_FAIL test aid)."""
    from agent.cmc import algorithms
    from agent.cmc.asn1 import crmf as asn1_crmf
    from agent.cmc.crmf import build_cert_request

    controls = []
    if archive_options is not None:
        controls.append(
            asn1_crmf.AttributeTypeAndValue({"type": "pki_archive_options", "value": archive_options})
        )
    cert_request = build_cert_request(
        key.public_key_info, subject, ski=ski, controls=controls, empty_controls=True
    )
    popo = asn1_crmf.POPOSigningKey(
        {
            "algorithm_identifier": algorithms.signature_algorithm(
                key.key_algorithm, "sha256", ecdsa_null_params=True
            ),
            "signature": key.sign(POP_FAIL_INPUT, "sha256"),
        }
    )
    message = asn1_crmf.CertReqMsg(
        {"cert_req": cert_request, "popo": asn1_crmf.ProofOfPossession("signature", popo)}
    )
    return asn1_crmf.CertReqMessages([message])


def generate(args: argparse.Namespace) -> int:
    from agent.cli.common import check_output_location, write_output
    from agent.cmc.archive import build_archive_options
    from agent.cmc.crmf import build_crmf
    from agent.cmc.names import parse_dn
    from agent.compat.b64 import dogtag_pem
    from agent.compat.dogtagdb import DogtagDevices
    from agent.compat.keygen import KeyOptions, generate_request_key, key_spec, write_key_id
    from tokens.pins import PinSource

    verbose = args.verbose
    given = [o for o, v in (("-p", args.p), ("-P", args.P), ("--pin-env", args.pin_env)) if v]
    if len(given) > 1:
        raise CompatError(f"give only one of {', '.join(given)} for the token password")
    if args.p is not None:
        secret_on_command_line(TOOL, "-p", "token password", LOGIN_ALTERNATIVES)
    if args.m is not None:
        raise CompatError(
            "-m (direct submission to profileSubmit, without CMC) is not supported; write the request "
            "with -o and send it with CMCRequest and HttpClient"
        )
    if not args.n:
        raise CompatError("Missing subject DN")
    pop = (args.q or "POP_SUCCESS").upper()
    if pop not in POP_OPTIONS:
        raise CompatError(f"Invalid POP option: {args.q}")
    spec = key_spec(
        KeyOptions(
            algorithm=args.a,
            length=args.l,
            curve=args.c,
            temporary=args.t,
            sensitive=args.s,
            extractable=args.e,
        ),
        TOOL,
    )
    wrap_name, wrapping = _key_wrap(args.w) if args.b else ("", "")

    devices = DogtagDevices(
        dbdir=Path(args.d),
        tokenname=args.h,
        pins=PinSource(file=Path(args.P) if args.P else None, env=args.pin_env, value=args.p),
        login_source=f"{given[0] if given else '-P FILE, --pin-env NAME'} or the prompt",
    )
    if verbose:
        print(f"Initializing security database: {args.d}")
    transport = None
    if args.b:
        if verbose:
            print("archival option enabled")
            print("Loading transport certificate")
        transport = _transport_certificate(args.b)
    elif verbose:
        print("archival option not enabled")
    if verbose:
        print("Parsing subject DN")
    parse_dn(args.n)  # refused before the key is made, not after
    if args.o:
        check_output_location(args.o)
    if verbose:
        print("Generating key pair: temporary: false")
    key = generate_request_key(devices, spec, archivable=transport is not None)
    print(f"Keypair private key id: {key.dogtag_key_id}")

    archive_options = None
    if transport is not None:
        if verbose:
            print(f"Using key wrap algorithm: {wrap_name}")
        archive_options = build_archive_options(
            key,
            transport,
            wrapping=wrapping,  # type: ignore[arg-type]  # one of the KEY_WRAPS values
            transport="rsa-oaep-sha256" if args.oaep else "rsa-pkcs1v15",
        )
    if args.y:
        print("CRMFPopClient: use_shared_secret true. Generating SubjectKeyIdentifier extension.")
    if verbose:
        print("Creating CRMF request")
    if pop == "POP_FAIL":
        request = _pop_fail_request(key, args.n, args.y, archive_options)
    else:
        request = build_crmf(
            key,
            args.n,
            pop="signature" if pop == "POP_SUCCESS" else "none",
            ski=args.y,
            archive_options=archive_options,
            empty_controls=True,
        )
    text = dogtag_pem(request.dump(), "CERTIFICATE REQUEST")
    if args.o:
        print(f"Storing CRMF request into {args.o}")
        write_output(args.o, text)
        print(f"Storing CRMF request key id into {args.o}.keyId")
        write_key_id(args.o, key)
    else:
        print(text)
    return 0


def _body(argv: list[str]) -> int:
    return generate(build_parser().parse_args(argv))


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(_body, argv)


if __name__ == "__main__":
    sys.exit(main())
