"""``CMCRevoke``: Dogtag's legacy signed revocation request, options glued to their values.

``CMCRevoke -d<dbdir> -n<nickname> -i<issuerDN> -s<serial> -m<reason> [-h<token>] [-c<comment>]``
builds ``PKIData { senderNonce, revokeRequest }`` signed with the ``-n`` certificate's key on its device,
prints it as one base-64 line between ``CERTIFICATE REQUEST`` armour and writes the DER to
``CMCRevoke.out`` in the current directory, as the Java tool does (``dogtag-cmc-client.md`` §7.2).
Send it with HttpClient; CMCRequest's ``revRequest.*`` keys do the same with more control.

Deliberate differences: the token password and the revocation passphrase are never taken from argv
(``-p`` and ``-t`` are refused; use ``-P<file>`` or ``--pin-env=NAME`` for the password, ``-T<file>``
for the passphrase), the argument count is not fixed at 7 or 8, quoted values keep their last
characters, the senderNonce is random, ``-m`` takes a CRL reason number or name, and errors exit 1.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from agent.compat.tool import EXIT_FAILED, CompatError, refuse_secret_option, run_main

TOOL = "CMCRevoke"
OUTPUT_FILE = "CMCRevoke.out"
LOGIN_ALTERNATIVES = "-P<file> (first line), --pin-env=NAME, or run it on a terminal to be prompted"
SENDER_NONCE_BYTES = 16
USAGE = """Usage:  CMCRevoke -d<dir to cert8.db, key3.db> -n<nickname> -i<issuerName> -s<serialName> -m<reason to revoke> -h<tokenname> -c<comment>
    -P<file with the token password> or --pin-env=<variable holding it> (-p is refused)
    -T<file with the revocation shared secret> (-t is refused)
    -m: CRL reason code: 0 unspecified, 1 keyCompromise, 2 caCompromise, 3 affiliationChanged,
        4 superseded, 5 cessationOfOperation, 6 certificateHold, 8 removeFromCRL

NOTE: You can alternatively use CMCRequest instead for better usability."""  # noqa: E501 - Dogtag's usage line
GLUED_OPTIONS = ("-d", "-n", "-i", "-s", "-m", "-h", "-c", "-P", "-T")


def parse_arguments(argv: Sequence[str]) -> dict[str, str]:
    """``-xVALUE`` arguments (a separate value is accepted too) and ``--pin-env[=]NAME``."""
    options: dict[str, str] = {}
    index = 0
    while index < len(argv):
        argument = argv[index]
        index += 1
        if argument.startswith("--pin-env"):
            value = argument.partition("=")[2]
            if not value and index < len(argv):
                value, index = argv[index], index + 1
            options["--pin-env"] = value
            continue
        if argument.startswith("-p"):
            refuse_secret_option("-p", "token password", LOGIN_ALTERNATIVES)
        if argument.startswith("-t"):
            refuse_secret_option("-t", "revocation shared secret", "-T<file> (first line)")
        option = argument[:2]
        if option not in GLUED_OPTIONS:
            raise CompatError(f"unknown argument {argument!r}\n{USAGE}")
        value = argument[2:]
        if not value and option != "-h" and index < len(argv) and not argv[index].startswith("-"):
            value, index = argv[index], index + 1
        options[option] = value
    return options


def _reason(text: str) -> str:
    """CMCRevoke's ``-m`` is a CRL reason code; a reason name is accepted too."""
    from agent.cmc.reasons import revocation_reason

    reason = revocation_reason(text)
    if reason is None:
        raise CompatError(f"-m{text}: give a CRL reason code (0-6, 8-10) or name")
    return reason


def _serial(text: str) -> int:
    try:
        value = int(text, 16) if text.lower().startswith("0x") else int(text)
    except ValueError:
        raise CompatError(f"-s{text}: the serial number is decimal (or hex with 0x)") from None
    if value < 0:
        raise CompatError(f"-s{text}: a serial number is not negative")
    return value


def _body(argv: list[str]) -> int:
    from agent.cli.common import write_output
    from agent.cmc.pkidata import FullPKIRequestBuilder
    from agent.compat.b64 import single_line_base64
    from agent.compat.dogtagdb import DogtagDevices
    from agent.compat.tool import read_secret_file
    from agent.keyops import random_bytes
    from tokens.pins import PinSource

    if not argv or argv[0] in ("--help", "-help"):
        print(USAGE)
        return 0 if argv else EXIT_FAILED
    options = parse_arguments(argv)
    missing = [o for o in ("-d", "-n", "-i", "-s", "-m") if not options.get(o)]
    if missing:
        print(USAGE)
        raise CompatError(f"missing {', '.join(missing)}")
    if "-P" in options and "--pin-env" in options:
        raise CompatError("give either -P<file> or --pin-env=NAME, not both")
    passphrase = read_secret_file(options["-T"], "revocation shared secret") if options.get("-T") else None
    devices = DogtagDevices(
        dbdir=Path(options["-d"]),
        tokenname=options.get("-h") or None,
        pins=PinSource(file=Path(options["-P"]) if options.get("-P") else None, env=options.get("--pin-env")),
        login_source="-P<file>, --pin-env=NAME or the prompt",
    )
    print(f"CMCRevoke: searching for certificate nickname:{options['-n']}")
    listing = devices.certificate(options["-n"])
    signer = devices.key_of(listing)
    builder = (
        FullPKIRequestBuilder()
        .sender_nonce(random_bytes(SENDER_NONCE_BYTES))
        .revoke_request(
            options["-i"],
            _serial(options["-s"]),
            _reason(options["-m"]),
            passphrase=passphrase.encode("utf-8") if passphrase else None,
            comment=options.get("-c") or None,
        )
    )
    message = builder.sign(signer, listing.certificate, chain=devices.chain_above(listing.certificate))
    der = message.dump()
    print("-----BEGIN CERTIFICATE REQUEST-----")
    print(single_line_base64(der) + "\n-----END CERTIFICATE REQUEST-----")
    write_output(OUTPUT_FILE, der)
    print(f"\nCMC revocation binary blob written to {OUTPUT_FILE}\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(_body, argv)


if __name__ == "__main__":
    sys.exit(main())
