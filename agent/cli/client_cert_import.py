"""``cmc-agent client-cert-import``: Dogtag's ``pki client-cert-import``, with the same options.

``pki -d DB -C PWFILE client-cert-import NICKNAME --cert FILE`` becomes
``cmc-agent client-cert-import -d DB -C PWFILE NICKNAME --cert FILE`` (pki's global options are accepted
after the subcommand). ``-c PASSWORD`` works as in the walkthrough, with a warning that other users can
read it (``CMC_AGENT_STRICT_SECRETS=1`` refuses it); ``-C FILE``, ``--pin-env NAME`` or a prompt keep it
off the command line. What each option does is in :mod:`agent.compat.certimport`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from agent.cli.main import UserFacingError

DEFAULT_DATABASE = "~/.dogtag/nssdb"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "client-cert-import",
        help="import a certificate into an NSS database, as 'pki client-cert-import' does",
        description=(
            "Import a CA certificate (--ca-cert, trusted CT,C,C), or your certificate next to its key "
            "(--cert: a certificate or the PKCS#7 chain CMCResponse -o writes; --pkcs7: the same, and "
            "the chain's root is trusted CT,C,C)."
        ),
    )
    parser.add_argument("nickname", nargs="?", help="the certificate's nickname")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--cert", type=Path, metavar="FILE", help="certificate or PKCS#7 chain (PEM or DER)")
    what.add_argument("--ca-cert", type=Path, metavar="FILE", help="CA certificate(s) to trust")
    what.add_argument("--pkcs7", type=Path, metavar="FILE", help="PKCS#7 chain (deprecated in pki)")
    parser.add_argument("--trust", metavar="FLAGS", help="trust flags, e.g. CT,C,C or u,u,u")
    parser.add_argument(
        "-d",
        dest="database",
        default=DEFAULT_DATABASE,
        metavar="DB",
        help=f"NSS database ({DEFAULT_DATABASE})",
    )
    parser.add_argument(
        "-C", dest="password_file", type=Path, metavar="FILE", help="NSS database password file"
    )
    parser.add_argument(
        "--pin-env", metavar="NAME", help="environment variable holding the database password"
    )
    parser.add_argument(
        "-c",
        dest="password_on_argv",
        metavar="PASSWORD",
        help="database password on the command line (others can read it: prefer -C or --pin-env)",
    )
    parser.add_argument("-n", dest="global_nickname", metavar="NICKNAME", help="nickname (pki's global -n)")
    parser.add_argument("--token", metavar="TOKEN", help="token holding the key (default: internal)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from agent.compat.certimport import (
        LOGIN_ALTERNATIVES,
        ImportTarget,
        import_ca_certificates,
        import_user_certificate,
    )
    from agent.compat.tool import secret_on_command_line

    given = [
        o
        for o, v in (("-c", args.password_on_argv), ("-C", args.password_file), ("--pin-env", args.pin_env))
        if v is not None
    ]
    if len(given) > 1:
        raise UserFacingError(f"give only one of {', '.join(given)} for the database password")
    if args.password_on_argv is not None:
        secret_on_command_line(
            "cmc-agent client-cert-import", "-c", "NSS database password", LOGIN_ALTERNATIVES
        )
    target = ImportTarget(
        dbdir=Path(args.database).expanduser(),
        tokenname=args.token,
        password_file=args.password_file,
        password_env=args.pin_env,
        password_value=args.password_on_argv,
    )
    nickname = args.nickname or args.global_nickname
    if args.ca_cert is not None:
        for name in import_ca_certificates(target, args.ca_cert, nickname, args.trust):
            print(f'Imported certificate "{name}"')
        return 0
    if not nickname:
        raise UserFacingError("give the certificate's nickname (the positional NICKNAME)")
    source = args.cert if args.cert is not None else args.pkcs7
    name = import_user_certificate(target, source, nickname, args.trust, trust_root=args.pkcs7 is not None)
    print(f'Imported certificate "{name}"')
    return 0
