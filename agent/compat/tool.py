"""What every Dogtag-compatible command shares: its error type, where secrets come from, and ``main``.

Errors users can act on are printed as Dogtag prints its own, ``ERROR: <message>`` on stderr, with exit
status 1 (never a traceback, and never exit 0 on a failure, which several Java tools do).

Secrets: the Java tools take token passwords and shared secrets as option values (``-p``, ``-s``,
``-t``, ``pki -c``), which puts them in the process list and the shell history. Where Dogtag's own
walkthrough does that (``-p`` of PKCS10Client, CRMFPopClient and CMCSharedToken, ``-c`` of
client-cert-import) the option is accepted, with one warning line on stderr naming the alternatives;
``CMC_AGENT_STRICT_SECRETS=1`` turns that into a refusal. The other such options are refused with a
one-line error that names the alternatives (a file, an environment variable the user names, or a prompt
on the terminal). A config file's ``password=`` stays allowed: that is a file.
"""

from __future__ import annotations

import getpass
import os
import stat
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

EXIT_OK, EXIT_FAILED = 0, 1


class CompatError(Exception):
    """A failure the user can act on; the message says what happened and what to do."""

    user_facing = True


def refuse_secret_option(option: str, what: str, alternatives: str) -> NoReturn:
    """Stop at an option that would carry a secret on the command line, naming what to use instead."""
    raise CompatError(
        f"{option} would put the {what} on the command line, where other users and the shell history "
        f"can read it; use {alternatives}"
    )


STRICT_SECRETS_ENV = "CMC_AGENT_STRICT_SECRETS"
"""Set to ``1``: a secret on the command line is refused even where Dogtag's tools take one."""


def secret_on_command_line(tool: str, option: str, what: str, alternatives: str) -> None:
    """Accept ``option``'s secret from argv, as Dogtag's tool does, with one warning line on stderr;
    refuse it when :data:`STRICT_SECRETS_ENV` is ``1``."""
    if os.environ.get(STRICT_SECRETS_ENV) == "1":
        refuse_secret_option(option, what, f"{alternatives} ({STRICT_SECRETS_ENV}=1 is set)")
    print(
        f"{tool}: warning: {option} puts the {what} on the command line, where other users (ps, /proc) "
        f"and the shell history can read it; use {alternatives}",
        file=sys.stderr,
    )


def read_secret_file(path: str | os.PathLike[str], what: str, *, allow_empty: bool = False) -> str:
    """The first line of ``path`` (its line break is not part of the secret); warn if others can read it."""
    file_path = Path(path)
    try:
        mode = file_path.stat().st_mode
        with file_path.open("r", encoding="utf-8") as handle:
            line = handle.readline()
    except OSError as exc:
        raise CompatError(f"cannot read the {what} file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CompatError(f"the {what} file {path} is not UTF-8 text") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        print(f"warning: the {what} file {path} is readable by other users; chmod 600 it", file=sys.stderr)
    secret = line.rstrip("\r\n")
    if not secret and not allow_empty:
        raise CompatError(f"the {what} file {path} is empty")
    return secret


def read_secret(
    *,
    file: str | os.PathLike[str] | None,
    env: str | None,
    what: str,
    file_option: str,
    env_option: str,
    confirm: bool = False,
    allow_empty: bool = False,
) -> str:
    """A secret from a file, from an environment variable the user named, or from a terminal prompt.

    ``allow_empty``: an empty file or a set-but-empty variable is the secret (an NSS database created with
    an empty password, as Dogtag's CI has); an unset variable is still an error.
    """
    if file is not None and env is not None:
        raise CompatError(f"give either {file_option} or {env_option}, not both")
    if file is not None:
        return read_secret_file(file, what, allow_empty=allow_empty)
    if env is not None:
        value = os.environ.get(env)
        if value is None or (not value and not allow_empty):
            raise CompatError(f"environment variable {env} (named by {env_option}) is not set or empty")
        return value
    if not sys.stdin.isatty():
        raise CompatError(f"the {what} is needed: give {file_option} FILE or {env_option} NAME")
    value = getpass.getpass(f"{what[:1].upper()}{what[1:]}: ")
    if confirm and getpass.getpass(f"{what[:1].upper()}{what[1:]} again: ") != value:
        raise CompatError(f"the two {what} entries differ")
    if not value and not allow_empty:
        raise CompatError(f"the {what} is empty")
    return value


def warn(tool: str, message: str) -> None:
    print(f"{tool}: warning: {message}", file=sys.stderr)


def run_main(body: Callable[[list[str]], int], argv: Sequence[str] | None = None) -> int:
    """Run a tool's body: user-facing errors become ``ERROR: ...`` on stderr and exit status 1."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        return int(body(arguments))
    except KeyboardInterrupt:
        print("ERROR: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # stdout went away (``| head``): stop quietly, and keep Python from complaining at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED
    except Exception as exc:
        if getattr(exc, "user_facing", False):
            print(f"ERROR: {exc}", file=sys.stderr)
            return EXIT_FAILED
        raise
