"""No key made for an enrollment that cannot be sent: ``cmc-agent enroll`` checks the URL, the CA, the TLS
trust and the profile before it generates a key, and a failed check leaves nothing behind: no key on the
token, no state file, no request at the CA, one line on stderr."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest

from tests.devices import SoftHSMToken, write_secret
from tests.e2e.conftest import BIN, DeviceAgent, LocalCA, run


def _requests_at_ca(ca: LocalCA) -> int:
    return len(json.loads(run("cmc-localca", "request", "list", str(ca.directory), "--json").stdout))


def _labels(token: SoftHSMToken) -> set[str]:
    listed = json.loads(
        run(
            "cmc-agent", "token", "keys", "--token", token.uri, "--json", "--pin-file", str(token.pin_file)
        ).stdout
    )
    return {key["label"] for key in listed}


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _refused_before_the_key(
    ca: LocalCA, token: SoftHSMToken, tmp_path: Path, label: str, args: list[str]
) -> str:
    """Run enroll for a new key ``label``; assert it failed leaving nothing; return its one line."""
    before = _requests_at_ca(ca)
    result = subprocess.run(
        [str(BIN / "cmc-agent"), "enroll", "--label", label, "--token", token.uri,
         "--pin-file", str(token.pin_file), *args],
        capture_output=True, text=True, cwd=tmp_path, timeout=180,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cmc-agent: "), result.stderr
    assert "Traceback" not in result.stderr
    assert label not in _labels(token), "no key was generated"
    assert not (tmp_path / f"{label}.enroll.json").exists(), "no state file"
    assert list(tmp_path.iterdir()) == [], "nothing written at all"
    assert _requests_at_ca(ca) == before, "nothing reached the CA"
    return lines[0]


def _agent(agent: DeviceAgent) -> list[str]:
    return ["--agent-key", agent.key_uri, "--agent-cert", str(agent.cert)]


def test_a_url_without_a_profile(
    local_ca: LocalCA, hsm_agent: DeviceAgent, softhsm: SoftHSMToken, tmp_path: Path
) -> None:
    line = _refused_before_the_key(local_ca, softhsm, tmp_path, "pre-no-profile", [
        "--subject", "CN=pre.example.com", *_agent(hsm_agent), "--url", local_ca.url(),
        "--ca-cert", str(local_ca.ca_cert)])  # fmt: skip
    assert "names no profile" in line and "?profileId=" in line


def test_a_url_that_is_no_cmc_servlet(
    local_ca: LocalCA, hsm_agent: DeviceAgent, softhsm: SoftHSMToken, tmp_path: Path
) -> None:
    url = f"https://127.0.0.1:{local_ca.port}/ca/ee/ca/profileSubmit?profileId=caCMCserverCert"
    line = _refused_before_the_key(local_ca, softhsm, tmp_path, "pre-no-servlet", [
        "--subject", "CN=pre.example.com", *_agent(hsm_agent), "--url", url,
        "--ca-cert", str(local_ca.ca_cert)])  # fmt: skip
    assert "names no CMC servlet" in line


def test_the_ca_is_down(
    local_ca: LocalCA, hsm_agent: DeviceAgent, softhsm: SoftHSMToken, tmp_path: Path
) -> None:
    url = f"https://127.0.0.1:{_closed_port()}/ca/ee/ca/profileSubmitCMCFull?profileId=caCMCserverCert"
    line = _refused_before_the_key(local_ca, softhsm, tmp_path, "pre-ca-down", [
        "--subject", "CN=pre.example.com", *_agent(hsm_agent), "--url", url,
        "--ca-cert", str(local_ca.ca_cert)])  # fmt: skip
    assert "connection refused" in line and "nothing was generated" in line


def test_ca_cert_that_does_not_match_the_server(
    local_ca: LocalCA, softhsm: SoftHSMToken, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = tmp_path_factory.mktemp("other-ca") / "ca"
    run("cmc-localca", "init", str(other))
    secret = write_secret(tmp_path_factory.mktemp("pre-secret") / "secret", "never used")
    url = local_ca.url(profile="caFullCMCSharedTokenCert")
    line = _refused_before_the_key(local_ca, softhsm, tmp_path, "pre-wrong-ca", [
        "--subject", "UID=pre-user", "--identification", "pre-user", "--secret-file", str(secret),
        "--url", url, "--ca-cert", str(other / "ca.pem")])  # fmt: skip
    assert "server certificate did not verify" in line


@pytest.mark.parametrize("type_args", [["--type", "rsa:2048"], []], ids=["asked-rsa", "default-rsa"])
def test_an_ec_only_profile_and_an_rsa_key(
    local_ca: LocalCA, hsm_agent: DeviceAgent, softhsm: SoftHSMToken, tmp_path: Path, type_args: list[str]
) -> None:
    label = f"pre-ec-only-{len(type_args)}"
    line = _refused_before_the_key(local_ca, softhsm, tmp_path, label, [
        *type_args, "--subject", "CN=pre.example.com", *_agent(hsm_agent),
        "--url", local_ca.url(profile="caCMCECserverCert"), "--ca-cert", str(local_ca.ca_cert)])  # fmt: skip
    assert "profile caCMCECserverCert takes EC keys (nistp256, nistp384, nistp521) only" in line
    assert "rsa:2048" in line


def test_a_missing_or_disabled_profile(
    local_ca: LocalCA, hsm_agent: DeviceAgent, softhsm: SoftHSMToken, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    line = _refused_before_the_key(local_ca, softhsm, tmp_path / "a", "pre-missing", [
        "--subject", "CN=pre.example.com", *_agent(hsm_agent),
        "--url", local_ca.url(profile="caNoSuchProfile"), "--ca-cert", str(local_ca.ca_cert)])  # fmt: skip
    assert "the CA has no profile 'caNoSuchProfile'" in line
    # caAdminCert is disabled (cmc-localca uses it inside `agent add`); an agent may read that.
    line = _refused_before_the_key(local_ca, softhsm, tmp_path / "b", "pre-disabled", [
        "--subject", "CN=pre.example.com", *_agent(hsm_agent),
        "--url", local_ca.url(profile="caAdminCert"), "--ca-cert", str(local_ca.ca_cert)])  # fmt: skip
    assert "is disabled at the CA" in line


def test_a_missing_profile_seen_by_an_end_entity(
    local_ca: LocalCA, softhsm: SoftHSMToken, tmp_path: Path
) -> None:
    """Without agent rights the enrollment template still says whether the profile exists."""
    secret = write_secret(tmp_path.parent / f"{tmp_path.name}-secret", "never used")
    line = _refused_before_the_key(local_ca, softhsm, tmp_path, "pre-missing-ee", [
        "--subject", "UID=pre-user", "--identification", "pre-user", "--secret-file", str(secret),
        "--url", local_ca.url(profile="caNoSuchProfile"), "--ca-cert", str(local_ca.ca_cert)])  # fmt: skip
    assert "the CA has no profile 'caNoSuchProfile'" in line


def test_a_tls_client_certificate_the_ca_does_not_accept(
    local_ca: LocalCA, softhsm: SoftHSMToken, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """An agent certificate from another CA: the server refuses it at the TLS handshake."""
    work = tmp_path_factory.mktemp("foreign-agent")
    other = work / "ca"
    run("cmc-localca", "init", str(other))
    pin = ("--pin-file", str(softhsm.pin_file))
    key = run("cmc-agent", "token", "keygen", "--token", softhsm.uri, "--label", "pre-foreign-agent",
              *pin).stdout.strip()  # fmt: skip
    run("cmc-agent", "csr", "--key", key, "--subject", "CN=Foreign Agent", "-o", str(work / "a.csr"), *pin)
    run("cmc-localca", "agent", "add", str(other), "--csr", str(work / "a.csr"), "--out", str(work / "a.pem"))
    line = _refused_before_the_key(local_ca, softhsm, tmp_path, "pre-foreign", [
        "--subject", "CN=pre.example.com", "--agent-key", key, "--agent-cert", str(work / "a.pem"),
        "--url", local_ca.url(profile="caCMCserverCert"), "--ca-cert", str(local_ca.ca_cert)])  # fmt: skip
    assert "refused our TLS client certificate" in line
