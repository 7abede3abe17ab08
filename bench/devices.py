"""A throwaway SoftHSM2 token for benchmarks, made with the project's own setup script."""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class BenchToken:
    directory: Path
    label: str
    pin: str
    pin_file: Path


def make_bench_token(label: str = "bench") -> BenchToken:
    """Create a SoftHSM2 token and point this process (and its children) at it. Call before loading."""
    directory = Path(tempfile.mkdtemp(prefix="cmc-bench-"))
    pin = "1234"
    pin_file = directory / "pin"
    pin_file.write_text(pin + "\n")
    pin_file.chmod(0o600)
    so_pin_file = directory / "so-pin"
    so_pin_file.write_text("5678\n")
    subprocess.run(
        [
            "bash",
            str(ROOT / "softhsm-setup/make-softhsm-token.sh"),
            str(directory),
            label,
            str(pin_file),
            str(so_pin_file),
        ],
        check=True,
        capture_output=True,
    )
    os.environ["SOFTHSM2_CONF"] = str(directory / "softhsm2.conf")
    return BenchToken(directory, label, pin, pin_file)
