"""A running local CA (``cmc-localca serve`` in its own process, real TLS on 127.0.0.1), shared by the
end-to-end and the Dogtag-compatibility tests: one CA per test session, registered in tests/conftest.py."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.devices import SoftHSMToken

BIN = Path(sys.executable).parent


def run(
    *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one of our commands (``cmc-agent ...`` / ``cmc-localca ...``) as a user would."""
    program, *rest = args
    result = subprocess.run(
        [str(BIN / program), *rest],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=180,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


@dataclass(frozen=True)
class LocalCA:
    directory: Path
    port: int

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.pem"

    def url(self, servlet: str = "profileSubmitCMCFull", profile: str | None = None) -> str:
        query = f"?profileId={profile}" if profile else ""
        return f"https://127.0.0.1:{self.port}/ca/ee/ca/{servlet}{query}"


@contextmanager
def serving(directory: Path) -> Iterator[LocalCA]:
    """``cmc-localca serve DIR`` on a free port of 127.0.0.1 for the block; SIGTERM stops it."""
    process = subprocess.Popen(
        [str(BIN / "cmc-localca"), "serve", str(directory), "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"listening on https://127\.0\.0\.1:(\d+)", line)
        assert match, f"cmc-localca serve said {line!r}"
        yield LocalCA(directory, int(match.group(1)))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


@pytest.fixture(scope="session")
def local_ca(tmp_path_factory: pytest.TempPathFactory, softhsm: SoftHSMToken) -> Iterator[LocalCA]:
    """The session's CA, with Dogtag's defaults (PKCS#1 v1.5 key wrapping)."""
    directory = tmp_path_factory.mktemp("localca") / "ca"
    run("cmc-localca", "init", str(directory))
    with serving(directory) as ca:
        yield ca
