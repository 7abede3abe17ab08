"""Writing output files so that a reader never sees half a file and secrets are never world-readable."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: str | os.PathLike[str], data: bytes | str, *, mode: int = 0o644) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same directory and ``rename``.

    ``mode`` is applied before any byte is written; use 0o600 for anything secret.
    """
    target = Path(path)
    payload = data.encode() if isinstance(data, str) else data
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return target
