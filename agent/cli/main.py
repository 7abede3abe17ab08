"""The ``cmc-agent`` command: one parser, subcommands registered by small modules.

A command module exposes ``register(subparsers)``, which adds its parser(s) and sets ``handler`` to a
function ``(args) -> int``. Errors that users can act on are raised as :class:`UserFacingError` (or any
exception that declares ``user_facing = True``) and printed as one line, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

# Modules that contribute subcommands, in help order. Imported lazily so start-up stays fast.
COMMAND_MODULES = (
    "agent.cli.token_cmds",
    "agent.cli.csr",
    "agent.cli.crmf",
    "agent.cli.request",
    "agent.cli.enroll",
    "agent.cli.submit",
    "agent.cli.response",
    "agent.cli.tls_check",
    "agent.cli.client_cert_import",
    "agent.cli.ca_cert",
)


class UserFacingError(Exception):
    """An error whose message tells the user what went wrong and what to do; printed without traceback."""

    user_facing = True


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cmc-agent",
        description="CMC enrollment for Dogtag PKI with private keys on PKCS#11 devices.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (repeatable)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # a command module not written yet: leave it out
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        print("cmc-agent: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if getattr(exc, "user_facing", False):
            print(f"cmc-agent: error: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
