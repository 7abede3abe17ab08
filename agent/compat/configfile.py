"""The two config-file syntaxes of the Dogtag tools, read exactly as the Java tools read them.

* ``CMCRequest`` has its own line parser (``dogtag-cmc-client.md`` §1.1): each line is trimmed (Java
  ``String.trim``: every character up to U+0020), empty lines and ``#`` lines are skipped, a line without
  ``=`` is an error, the name is everything before the first ``=`` **not trimmed again** (so
  ``name = value`` defines the name ``"name "``, which no code reads), the value everything after it
  (``key=`` is the empty string). No escapes, no ``:`` separator, no ``!`` comments.
* ``HttpClient`` uses ``java.util.Properties.load`` (§2.1): ``=``, ``:`` or whitespace separate key and
  value, whitespace around the separator is dropped, ``#`` and ``!`` start comments, a backslash escapes
  the next character (``\\t \\n \\r \\f \\uXXXX``, anything else stands for itself), and a line ending
  in an odd number of backslashes continues on the next line (leading whitespace of the continuation
  dropped). Trailing whitespace of a value is kept.

Users keep their files unchanged, so both parsers are faithful, quirks included; what a key then *means*
is each tool's business. Files are decoded as UTF-8 (what the JVM's default charset is on a UTF-8
system), with ISO-8859-1 as the fallback for bytes that are not UTF-8.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from pathlib import Path

log = logging.getLogger(__name__)

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_PROPERTIES_WHITESPACE = " \t\f"
_PROPERTIES_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


class ConfigSyntaxError(ValueError):
    """A config file line the Java tool would also have refused; the message quotes it."""

    user_facing = True


def decode_config_bytes(data: bytes) -> str:
    """UTF-8 if the bytes are UTF-8, else ISO-8859-1 (which never fails)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("iso-8859-1")


def java_trim(text: str) -> str:
    """``String.trim()``: strip every leading and trailing character whose code is U+0020 or below."""
    start, end = 0, len(text)
    while start < end and text[start] <= " ":
        start += 1
    while end > start and text[end - 1] <= " ":
        end -= 1
    return text[start:end]


# --- CMCRequest ------------------------------------------------------------------------------------


def parse_cmcrequest_config(text: str) -> dict[str, str]:
    """CMCRequest's ``name=value`` lines; a later line for the same name wins, as in the Java loop."""
    values: dict[str, str] = {}
    for raw in _LINE_BREAK.split(text):
        line = java_trim(raw)
        if not line or line.startswith("#"):
            continue
        name, separator, value = line.partition("=")
        if not separator:
            raise ConfigSyntaxError(f"Error in configuration file: {line}")
        values[name] = value
    return values


# --- java.util.Properties --------------------------------------------------------------------------


def _logical_lines(text: str) -> list[str]:
    """Natural lines joined where a line ends in an odd number of backslashes (comments never join)."""
    logical: list[str] = []
    pending: str | None = None
    for natural in _LINE_BREAK.split(text):
        if pending is None:
            stripped = natural.lstrip(_PROPERTIES_WHITESPACE)
            if not stripped or stripped[0] in "#!":
                continue
            current = stripped
        else:
            current = pending + natural.lstrip(_PROPERTIES_WHITESPACE)
        trailing = len(current) - len(current.rstrip("\\"))
        if trailing % 2 == 1:
            pending = current[:-1]
            continue
        logical.append(current)
        pending = None
    if pending is not None:
        logical.append(pending)
    return logical


def _unescape(text: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char != "\\" or index + 1 >= len(text):
            out.append(char)
            index += 1
            continue
        escaped = text[index + 1]
        if escaped == "u":
            digits = text[index + 2 : index + 6]
            if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise ConfigSyntaxError(f"Malformed \\uxxxx encoding in {text!r}")
            out.append(chr(int(digits, 16)))
            index += 6
            continue
        out.append(_PROPERTIES_ESCAPES.get(escaped, escaped))
        index += 2
    return "".join(out)


def _split_key_value(line: str) -> tuple[str, str]:
    """Key up to the first unescaped ``=``, ``:`` or whitespace; then whitespace, one ``=``/``:``,
    whitespace; the rest is the value."""
    index = 0
    while index < len(line):
        char = line[index]
        if char == "\\":
            index += 2
            continue
        if char in "=:" or char in _PROPERTIES_WHITESPACE:
            break
        index += 1
    key, rest = line[:index], line[index:]
    rest = rest.lstrip(_PROPERTIES_WHITESPACE)
    if rest[:1] in ("=", ":"):
        rest = rest[1:].lstrip(_PROPERTIES_WHITESPACE)
    return _unescape(key), _unescape(rest)


def parse_properties(text: str) -> dict[str, str]:
    """``java.util.Properties.load``: a later definition of a key wins."""
    values: dict[str, str] = {}
    for line in _logical_lines(text):
        key, value = _split_key_value(line)
        values[key] = value
    return values


# --- files -----------------------------------------------------------------------------------------


def read_config_file(path: str | os.PathLike[str], tool: str) -> str:
    """The text of a config file, with a one-line error naming the tool when it cannot be read."""
    try:
        return decode_config_bytes(Path(path).read_bytes())
    except OSError as exc:
        raise ConfigSyntaxError(f"{tool}: can't read configuration file {path}: {exc.strerror}") from None


def warn_if_password_exposed(path: str | os.PathLike[str], values: dict[str, str], tool: str) -> bool:
    """Warn on stderr when a config file holding ``password=`` can be read by other users.

    Dogtag configs keep the token password in the file; that is allowed (it is not argv), but the file
    must then be private. Returns True when a warning was given.
    """
    if not values.get("password"):
        return False
    try:
        mode = Path(path).stat().st_mode
    except OSError:
        return False
    if mode & (stat.S_IROTH | stat.S_IWOTH):
        import sys

        print(
            f"{tool}: warning: {path} holds password= and is readable by every user; chmod 600 {path}",
            file=sys.stderr,
        )
        return True
    return False
