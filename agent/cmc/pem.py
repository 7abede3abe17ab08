"""PEM and bare base-64 input, as the Dogtag tools read and write it.

Dogtag's tools read requests by dropping every ``-----BEGIN``/``-----END`` line and base-64-decoding
the rest, so files with odd labels (``NEW CERTIFICATE REQUEST``) or no armour at all work. We accept
the same, plus raw DER.
"""

from __future__ import annotations

import base64
import binascii
import textwrap

from agent.cmc.errors import MalformedMessage


def to_der(data: bytes, what: str = "input") -> bytes:
    """Return DER from DER, PEM (any label, first block only) or bare base-64 text."""
    stripped = data.lstrip()
    if stripped[:1] == b"\x30":
        return data
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise MalformedMessage(f"{what} is neither DER nor PEM/base-64 text") from None
    lines: list[str] = []
    in_block = False
    saw_armour = False
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("-----BEGIN"):
            if saw_armour:
                break
            in_block, saw_armour = True, True
            continue
        if line.startswith("-----END"):
            if in_block:
                break
            continue
        if line and (in_block or not saw_armour) and ":" not in line:
            lines.append(line)
    try:
        der = base64.b64decode("".join(lines), validate=True)
    except (binascii.Error, ValueError):
        raise MalformedMessage(f"{what} is neither DER nor valid PEM/base-64 text") from None
    if not der:
        raise MalformedMessage(f"{what} is empty")
    return der


def to_pem(der: bytes, label: str) -> str:
    """PEM with 64-character lines and LF line ends."""
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode("ascii"), 64))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"


def all_pem_blocks(data: bytes, label: str) -> list[bytes]:
    """Every PEM block with ``label`` (for certificate bundles), or the input itself when it is DER."""
    if data.lstrip()[:1] == b"\x30":
        return [data]
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise MalformedMessage("input is neither DER nor PEM text") from None
    blocks: list[bytes] = []
    current: list[str] | None = None
    for line in text.splitlines():
        line = line.strip()
        if line == f"-----BEGIN {label}-----":
            current = []
        elif line == f"-----END {label}-----" and current is not None:
            try:
                blocks.append(base64.b64decode("".join(current), validate=True))
            except (binascii.Error, ValueError):
                raise MalformedMessage(f"a PEM {label} block is not valid base-64") from None
            current = None
        elif current is not None:
            current.append(line)
    return blocks
