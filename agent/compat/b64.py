"""Base-64 text exactly as the Dogtag tools lay it out.

Dogtag's ``Utils.base64encode(bytes, true)`` is Java's MIME encoder plus a final line break: lines of 76
characters separated by CRLF, and a trailing CRLF. Its PEM writers put that text between a header and a
footer that end with a bare LF. Tools and scripts that post-process Dogtag output (and diff it) rely on
this layout, so the compatible commands reproduce it byte for byte.
"""

from __future__ import annotations

import base64

MIME_LINE_LENGTH = 76


def mime_base64(data: bytes) -> str:
    """``Utils.base64encode(data, true)``: 76-character lines, each followed by CRLF (empty for no data)."""
    text = base64.b64encode(data).decode("ascii")
    lines = [text[i : i + MIME_LINE_LENGTH] for i in range(0, len(text), MIME_LINE_LENGTH)]
    return "".join(line + "\r\n" for line in lines)


def single_line_base64(data: bytes) -> str:
    """``Utils.base64encode(data, false)``: one line, no line break."""
    return base64.b64encode(data).decode("ascii")


def dogtag_pem(der: bytes, label: str) -> str:
    """``-----BEGIN label-----`` LF, the MIME base-64 (CRLF lines), ``-----END label-----`` LF.

    What PKCS10Client, CRMFPopClient and ``CMCResponse -o`` write (``PKCS10.print``,
    ``CRMFUtil.encodeCRMF``, ``PKCS7.toPEMString``).
    """
    return f"-----BEGIN {label}-----\n{mime_base64(der)}-----END {label}-----\n"
