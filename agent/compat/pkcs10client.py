"""``PKCS10Client``: a key pair on the device and a PKCS#10 request for it, as Dogtag's tool makes them.

Same options and argument walk as the Java tool (``dogtag-cmc-client.md`` §5.1): options come in pairs,
``-w`` and ``-v`` stand alone, fewer than four arguments or an unknown option print the usage. The
request is written as Dogtag writes it (PEM with CRLF base-64 lines) and the key id goes to
``<output>.keyId`` without a line break, ready for CMCRequest's ``request.privKeyId``.

The token password comes from ``-P FILE`` (as in Dogtag), ``--pin-env NAME``, or a prompt; Dogtag's
``-p PASSWORD`` is accepted with a warning that other users can read it (refused under
``CMC_AGENT_STRICT_SECRETS=1``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from agent.compat.tool import EXIT_FAILED, CompatError, run_main, secret_on_command_line

TOOL = "PKCS10Client"
LOGIN_ALTERNATIVES = "-P FILE (first line), --pin-env NAME, or run it on a terminal to be prompted"
FLAGS = frozenset({"-w", "-v"})
OPTIONS_WITH_VALUE = frozenset(
    {"-p", "-P", "--pin-env", "-d", "-a", "-x", "-t", "-k", "-s", "-e", "-c", "-l", "-o", "-n", "-h", "-y"}
)
USAGE = """
Usage: PKCS10Client -d <location of certdb> -h <token name> -P <token password file>
                    -a <algorithm: 'rsa' or 'ec'> -l <key strength> -c <ec curve name>
                    -o <output file which saves the base64 PKCS10> -n <subjectDN>

    -k <true: PrintableString-first attribute encoding (as CRMFPopClient); default false: UTF8String>
    -t <true|false> temporary key: ignored, the key is always kept on the token
    -s <-1|1> sensitive (0 is refused)     -e <-1|0> extractable (1 is refused)
    -x <true|false> EC key for ECDH        -w RSA key with wrap/unwrap usages
    -y <true|false> add a SubjectKeyIdentifier extension (for request.useSharedSecret=true)
    --pin-env <name of the environment variable holding the token password>
    -v verbose

    -p <token password> works, with a warning: other users can read the command line (prefer -P or
    --pin-env; CMC_AGENT_STRICT_SECRETS=1 refuses -p).
    EC curves: nistp256 (secp256r1), nistp384 (secp384r1), nistp521 (secp521r1)
"""


def _usage(message: str | None = None) -> int:
    if message:
        print(message)
    print(USAGE)
    return EXIT_FAILED


def parse_arguments(argv: Sequence[str]) -> dict[str, str]:
    """Walk the arguments in pairs, as the Java tool does; flags map to ``"true"``."""
    options: dict[str, str] = {}
    index = 0
    while index < len(argv):
        name = argv[index]
        if name in FLAGS:
            options[name] = "true"
            index += 1
            continue
        if name not in OPTIONS_WITH_VALUE:
            raise _UsageError(f"Unrecognized argument({index}): {name}")
        if index + 1 >= len(argv):
            raise _UsageError(f"PKCS10Client: {name} needs a value.")
        options[name] = argv[index + 1]
        index += 2
    return options


class _UsageError(Exception):
    """An argument error: the Java tool prints the message, then the usage, and exits 1."""


def generate(options: dict[str, str]) -> int:
    from agent.cli.common import check_output_location, write_output
    from agent.cmc.names import StringPolicy, parse_dn
    from agent.cmc.pkcs10 import build_csr
    from agent.compat.b64 import dogtag_pem
    from agent.compat.dogtagdb import DogtagDevices
    from agent.compat.keygen import KeyOptions, generate_request_key, key_spec, write_key_id
    from tokens.pins import PinSource

    verbose = "-v" in options
    spec = key_spec(
        KeyOptions(
            algorithm=options.get("-a", "rsa"),
            length=options.get("-l"),
            curve=options.get("-c"),
            temporary=options.get("-t"),
            sensitive=options.get("-s"),
            extractable=options.get("-e"),
        ),
        TOOL,
    )
    given = [option for option in ("-p", "-P", "--pin-env") if option in options]
    if len(given) > 1:
        raise CompatError(f"give only one of {', '.join(given)} for the token password")
    if "-p" in options:
        secret_on_command_line(TOOL, "-p", "token password", LOGIN_ALTERNATIVES)
    devices = DogtagDevices(
        dbdir=Path(options.get("-d", ".")),
        tokenname=options.get("-h"),
        pins=PinSource(
            file=Path(options["-P"]) if "-P" in options else None,
            env=options.get("--pin-env"),
            value=options.get("-p"),
        ),
        login_source=f"{given[0] if given else '-P FILE, --pin-env NAME'} or the prompt",
    )
    subject = options["-n"]
    encode_as_printable = options.get("-k") == "true"
    string_policy: StringPolicy = "printable" if encode_as_printable else "utf8"
    # what can be refused is refused before the key is made: a key without its .keyId is lost
    parse_dn(subject, string_policy)
    output = options["-o"]
    check_output_location(output)
    key = generate_request_key(devices, spec)
    if verbose:
        print(f"PKCS10Client: token {devices.tokenname or 'internal'} logged in...")
        print("PKCS10Client: key pair generated.")
    ski = options.get("-y") == "true"
    if ski and verbose:
        print("PKCS10Client: use_shared_secret true. Generating SubjectKeyIdentifier extension.")
    request = build_csr(key, subject, ski=ski, string_policy=string_policy)
    if verbose:
        print("PKCS10Client: Certificate request created")
        print(f"Keypair private key id: {key.dogtag_key_id}")
        print("")
    write_output(output, dogtag_pem(request.dump(), "CERTIFICATE REQUEST"))
    print(f"PKCS10Client: Certificate request written into {output}")
    key_id_file = write_key_id(output, key)
    print(f"PKCS10Client: PKCS#10 request key id written into {key_id_file}")
    return 0


def _body(argv: list[str]) -> int:
    if any(a in ("--help", "-help") for a in argv):
        print(USAGE)
        return 0
    if len(argv) < 4:
        return _usage()
    try:
        options = parse_arguments(argv)
    except _UsageError as exc:
        return _usage(str(exc))
    if "-o" not in options or "-n" not in options:
        return _usage("PKCS10Client: Illegal input parameters.")
    return generate(options)


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(_body, argv)


if __name__ == "__main__":
    sys.exit(main())
