"""What the compatible commands refuse, and how they say it: secrets on the command line, plain HTTP,
broken inputs. Each refusal is one ``ERROR:`` line that names the way out, with exit status 1."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.compat.conftest import new_database, tool, write_config


@pytest.mark.parametrize(
    ("command", "alternatives", "strict"),
    [
        (["PKCS10Client", "-d", ".", "-p", "secret", "-n", "CN=x", "-o", "r.csr"], "-P FILE", True),
        (["CRMFPopClient", "-d", ".", "-p", "secret", "-n", "CN=x", "-o", "r.req"], "-P FILE", True),
        (["CMCSharedToken", "-p", "secret", "-b", "c.pem"], "leave -p out", True),
        (["CMCSharedToken", "-s", "passphrase", "-b", "c.pem"], "--passphrase-file FILE", False),
        (["CMCRevoke", "-d.", "-nagent", "-iCN=CA", "-s1", "-m0", "-psecret", "-h"], "-P<file>", False),
        (["CMCRevoke", "-d.", "-nagent", "-iCN=CA", "-s1", "-m0", "-tsecret", "-h"], "-T<file>", False),
        (["cmc-agent", "client-cert-import", "-c", "secret", "nick", "--cert", "c.pem"], "-C FILE", True),
    ],
)
def test_secrets_on_the_command_line_are_refused(
    command: list[str], alternatives: str, strict: bool, tmp_path: Path
) -> None:
    """Always for the options Dogtag's walkthrough never uses; under CMC_AGENT_STRICT_SECRETS=1 for the
    ones it does (without it they work with a warning: tests/compat/test_secrets_on_argv.py)."""
    result = tool(
        *command, cwd=tmp_path, check=False, env={"CMC_AGENT_STRICT_SECRETS": "1"} if strict else None
    )
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert "on the command line" in line and alternatives in line
    assert ("CMC_AGENT_STRICT_SECRETS=1" in line) == strict
    assert list(tmp_path.iterdir()) == [], "nothing was written"


def test_httpclient_refuses_plain_http(tmp_path: Path) -> None:
    request = tmp_path / "request.bin"
    request.write_bytes(b"\x30\x00")
    config = write_config(tmp_path / "submit.cfg", (
        f"host=localhost\nport=8080\nsecure=false\ninput={request}\noutput={tmp_path / 'out.bin'}\n"
        "servlet=/ca/ee/ca/profileSubmitCMCFull\n"))  # fmt: skip
    result = tool("HttpClient", str(config), check=False)
    assert result.returncode == 1 and "secure=true is required" in result.stderr


def test_httpclient_missing_keys_exit_1_with_the_usage(tmp_path: Path) -> None:
    result = tool("HttpClient", str(write_config(tmp_path / "submit.cfg", "host=localhost\n")), check=False)
    assert result.returncode == 1
    assert "Usage: HttpClient <configuration file>" in result.stdout
    assert "lacks port=, servlet=, input=, output=" in result.stderr


def test_cmcrequest_reports_a_line_without_equals(tmp_path: Path) -> None:
    result = tool(
        "CMCRequest", str(write_config(tmp_path / "r.cfg", "format=pkcs10\nnumRequests 1\n")), check=False
    )
    assert result.returncode == 1
    assert result.stderr == "ERROR: Error in configuration file: numRequests 1\n"


def test_cmcresponse_needs_an_input(tmp_path: Path) -> None:
    result = tool("CMCResponse", check=False)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "ERROR: Missing input CMC response",
        "Try 'CMCResponse --help' for more information.",
    ]


def test_cmcresponse_refuses_what_is_not_a_cmc_response(tmp_path: Path) -> None:
    garbage = tmp_path / "page.bin"
    garbage.write_bytes(b"\x30\x03\x02\x01\x05")
    result = tool("CMCResponse", "-i", str(garbage), check=False)
    assert result.returncode == 1 and result.stderr.startswith("ERROR: ")


@pytest.mark.parametrize("program", ["PKCS10Client", "CRMFPopClient"])
@pytest.mark.parametrize(
    ("subject", "output", "expected"),
    [
        ("garbage", "r.req", "missing '=' after attribute type"),
        ("CN=x", "no-such-dir/r.req", "no-such-dir is not a directory this user can write"),
    ],
)
def test_key_generators_refuse_before_making_a_key(
    program: str, subject: str, output: str, expected: str, tmp_path: Path
) -> None:
    """A key whose request or .keyId cannot be written would be an orphan nobody can name."""
    database = new_database(tmp_path / "db")
    result = tool(program, "-d", str(database.directory), "-P", str(database.password_file),
                  "-n", subject, "-o", str(tmp_path / output), check=False)  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert expected in result.stderr
    keys = subprocess.run(
        ["certutil", "-K", "-d", f"sql:{database.directory}", "-f", str(database.password_file)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert "no keys found" in keys.stdout + keys.stderr, "no key was generated"
