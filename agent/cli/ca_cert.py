"""``cmc-agent ca-cert-find`` and ``cmc-agent ca-cert-export``: Dogtag's ``pki ca-cert-find`` and ``pki
ca-cert-export`` over the CA's REST API (``POST /ca/rest/certs/search``, ``GET /ca/rest/certs/{id}``), with
pki's options, so the walkthrough's ``pki -p 8443 ca-cert-find --name "DRM Transport Certificate"`` and
``pki -p 8443 ca-cert-export 12345 --output kra.transport`` run as ``cmc-agent ca-cert-find -p 8443 ...``.

pki's global options are taken after the subcommand: ``-p PORT`` (8443), ``-h HOST`` (this machine's
name, as pki), ``-U URL`` instead of both, ``-P https``. The server is always verified, against
``--ca-cert FILE`` (pki asks interactively about an unknown server certificate; here that is an error).
The output is pki's (:mod:`agent.compat.pkicert`). ``ca-cert-export`` writes the certificate it received,
after checking it is one certificate with the serial number asked for.
"""

from __future__ import annotations

import argparse
import socket
from typing import Any

from agent.cli.main import UserFacingError

SUBJECT_OPTIONS = (
    ("--name", "commonName", "subject's common name"),
    ("--email", "email", "subject's email address"),
    ("--uid", "userID", "subject's userid"),
    ("--org", "org", "subject's organization"),
    ("--orgUnit", "orgUnit", "subject's organization unit"),
    ("--locality", "locality", "subject's locality"),
    ("--state", "state", "subject's state"),
    ("--country", "country", "subject's country"),
)
STATUSES = ("VALID", "INVALID", "REVOKED", "EXPIRED", "REVOKED_EXPIRED")


def _server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--help", action="help", help="show this help message")
    parser.add_argument("-U", dest="url", metavar="URL", help="the CA's URL (https://HOST:PORT)")
    parser.add_argument(
        "-h", dest="host", metavar="HOST", help="the CA's host name (default: this machine's)"
    )
    parser.add_argument("-p", dest="port", metavar="PORT", default="8443", help="the CA's port (8443)")
    parser.add_argument(
        "-P", dest="protocol", metavar="PROTOCOL", default="https", help="https (the only one)"
    )
    parser.add_argument(
        "--ca-cert", required=True, metavar="FILE", help="CA certificate(s) (PEM) the server must chain to"
    )


def register(subparsers: Any) -> None:
    find = subparsers.add_parser(
        "ca-cert-find",
        add_help=False,
        help="find certificates on the CA, as 'pki ca-cert-find' does",
        description="Search the CA's certificates (POST /ca/rest/certs/search) and list them as pki does.",
    )
    _server_options(find)
    for option, _, text in SUBJECT_OPTIONS:
        find.add_argument(option, metavar="VALUE", help=text)
    find.add_argument("--matchExactly", action="store_true", help="match the subject details exactly")
    find.add_argument("--status", choices=STATUSES, help="certificate status")
    find.add_argument("--minSerialNumber", metavar="SERIAL", help="minimum serial number")
    find.add_argument("--maxSerialNumber", metavar="SERIAL", help="maximum serial number")
    find.add_argument("--start", type=int, default=0, metavar="N", help="page start")
    find.add_argument("--size", type=int, default=20, metavar="N", help="page size (20)")
    find.set_defaults(handler=run_find)

    export = subparsers.add_parser(
        "ca-cert-export",
        add_help=False,
        help="fetch one certificate from the CA, as 'pki ca-cert-export' does",
        description="Fetch a certificate by serial number (GET /ca/rest/certs/{id}) and write it.",
    )
    _server_options(export)
    export.add_argument("serial", help="serial number (decimal, or hex with 0x)")
    export.add_argument(
        "--output", "--output-file", dest="output", metavar="FILE", help="write it here (default: stdout)"
    )
    export.add_argument("--output-format", choices=("pem", "der"), default="pem", help="pem (default) or der")
    export.set_defaults(handler=run_export)


def server_url(args: argparse.Namespace) -> str:
    """``-U``, or ``PROTOCOL://HOST:PORT`` as pki builds it."""
    if args.url:
        url: str = args.url.rstrip("/")
        if not url.lower().startswith("https://"):
            raise UserFacingError(f"-U {args.url}: only https:// is supported (the CA must be verified)")
        return url
    if args.protocol.lower() != "https":
        raise UserFacingError(f"-P {args.protocol}: only https is supported (the CA must be verified)")
    if not args.port.isdigit() or not 0 < int(args.port) < 65536:
        raise UserFacingError(f"-p {args.port}: not a port number")
    host = args.host or socket.getfqdn()
    return f"https://{host}:{int(args.port)}"


def _rest(args: argparse.Namespace) -> Any:
    from agent.rest import DogtagRest

    return DogtagRest.open(server_url(args), args.ca_cert)


def run_find(args: argparse.Namespace) -> int:
    from agent.compat.pkicert import find_lines, parse_cert_id
    from agent.rest import CertSearch

    if args.start < 0 or not 0 < args.size <= 1000:
        raise UserFacingError("--start must be 0 or more and --size 1 to 1000")
    subject = {field: getattr(args, option[2:]) for option, field, _ in SUBJECT_OPTIONS}
    try:
        search = CertSearch(
            subject={field: value for field, value in subject.items() if value is not None},
            match_exactly=args.matchExactly,
            status=args.status,
            serial_from=None if args.minSerialNumber is None else parse_cert_id(args.minSerialNumber),
            serial_to=None if args.maxSerialNumber is None else parse_cert_id(args.maxSerialNumber),
        )
    except ValueError as exc:
        raise UserFacingError(str(exc)) from None
    with _rest(args) as rest:
        page = rest.search_certs(search, start=args.start, size=args.size)
    for line in find_lines(page.total, page.entries):
        print(line)
    return 0


def run_export(args: argparse.Namespace) -> int:
    import sys

    from agent.cli.common import check_output_location, write_output
    from agent.cmc import der
    from agent.cmc.pem import to_pem
    from agent.compat.pkicert import parse_cert_id

    try:
        serial = parse_cert_id(args.serial)
    except ValueError as exc:
        raise UserFacingError(str(exc)) from None
    if args.output:
        check_output_location(args.output)
    with _rest(args) as rest:
        data = rest.cert(serial)
    from asn1crypto import x509

    certificate = der.load_der(x509.Certificate, data.der, f"certificate 0x{serial:x} from the CA")
    if certificate.serial_number != serial:
        raise UserFacingError(
            f"the CA sent certificate 0x{certificate.serial_number:x} when asked for 0x{serial:x}; "
            "nothing written"
        )
    content: str | bytes = to_pem(data.der, "CERTIFICATE") if args.output_format == "pem" else data.der
    if args.output:
        write_output(args.output, content)
    elif isinstance(content, bytes):
        sys.stdout.buffer.write(content)
    else:
        sys.stdout.write(content)
    return 0
