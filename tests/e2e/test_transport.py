"""cmc-agent submit's own failures: each is one line that says what to do, and no response file is left."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.e2e.conftest import LocalCA, run


@pytest.fixture
def request_file(tmp_path: Path) -> Path:
    path = tmp_path / "request.bin"
    path.write_bytes(b"\x30\x03\x02\x01\x01")
    return path


def _submit(ca: LocalCA, request: Path, url: str, out: Path) -> str:
    result = run("cmc-agent", "submit", str(request), "--url", url, "--ca-cert", str(ca.ca_cert),
                 "-o", str(out), check=False)  # fmt: skip
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr
    assert not out.exists()
    return result.stderr.strip()


def test_plain_http_is_refused(local_ca: LocalCA, request_file: Path, tmp_path: Path) -> None:
    url = local_ca.url().replace("https://", "http://")
    message = _submit(local_ca, request_file, url, tmp_path / "r.bin")
    assert "is not an https:// URL" in message


def test_a_path_that_is_not_a_cmc_servlet(local_ca: LocalCA, request_file: Path, tmp_path: Path) -> None:
    url = f"https://127.0.0.1:{local_ca.port}/ca/ee/ca/noSuchServlet"
    message = _submit(local_ca, request_file, url, tmp_path / "r.bin")
    assert message == f"cmc-agent: error: {url} answered HTTP 404 Not Found"


def test_nothing_listening(local_ca: LocalCA, request_file: Path, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"https://127.0.0.1:{port}/ca/ee/ca/profileSubmitCMCFull"
    message = _submit(local_ca, request_file, url, tmp_path / "r.bin")
    assert "connection refused (is the CA running on that port?)" in message


def test_an_unwritable_output_is_refused_before_anything_is_sent(
    local_ca: LocalCA, request_file: Path, tmp_path: Path
) -> None:
    """The CA may act on a request: its answer must have somewhere to go before the request leaves."""
    message = _submit(local_ca, request_file, local_ca.url(), tmp_path / "no-such-dir" / "r.bin")
    assert message.endswith("no-such-dir is not a directory this user can write")


def test_request_and_response_refuse_an_unwritable_output_in_one_line(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s\n")
    missing = tmp_path / "no-such-dir" / "out.bin"
    made = run("cmc-agent", "request", "--revoke", "1", "--reason", "keyCompromise", "--issuer", "CN=CA",
               "--secret-file", str(secret), "-o", str(missing), check=False)  # fmt: skip
    assert made.returncode == 1 and "Traceback" not in made.stderr
    assert f"cannot write {missing}: {missing.parent} is not a directory" in made.stderr
    response = tmp_path / "response.bin"
    response.write_bytes(b"\x30\x00")
    read = run("cmc-agent", "response", str(response), "--ca-cert", str(secret), "--chain-out", str(missing),
               check=False)  # fmt: skip
    assert read.returncode == 1 and "Traceback" not in read.stderr
    assert f"cannot write {missing}" in read.stderr
