"""TLS client authentication with device keys, against a real ``openssl s_server -Verify 1``.

Keys are generated on a real SoftHSM2 token (pkcs11-tool) and in a real NSS database (certutil), client
and server certificates come from a test CA, and the server's status page says which client certificate
it received. Every scenario that loads pkcs11-provider runs in its own interpreter
(:mod:`tests.tokens.tls_scenario`): the provider serves one module per process and stays until exit.
"""

from __future__ import annotations

import json
import os
import ssl
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from asn1crypto import core

from tests.devices import ROOT, NSSDatabase, SoftHSMToken, make_nssdb, make_softhsm_token
from tests.tokens.tls_helpers import SServer, TestCA, nss_key_pair, percent_encode, softhsm_key_pair
from tokens import tls

SOFTHSM_LABEL = "tls-test"


@dataclass(frozen=True)
class DeviceKey:
    uri: str
    cert: str
    subject: str
    hex_id: str


@dataclass(frozen=True)
class SoftHSMKeys:
    token: SoftHSMToken
    rsa: DeviceKey
    ec: DeviceKey


@dataclass(frozen=True)
class NSSKeys:
    db: NSSDatabase
    rsa: DeviceKey
    ec: DeviceKey


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA.create(tmp_path_factory.mktemp("tls-ca"))


@pytest.fixture(scope="module")
def server(ca: TestCA) -> Iterator[SServer]:
    """Demands a client certificate from ``ca``; its own certificate is for 127.0.0.1 only."""
    key_file, cert_file = ca.software_pair("ec", "tls test server", server_ip="127.0.0.1")
    with SServer(cert_file, key_file, client_ca=ca.cert_file) as running:
        yield running


@pytest.fixture(scope="module")
def softhsm_keys(softhsm_dir: Path, ca: TestCA) -> SoftHSMKeys:
    token = make_softhsm_token(softhsm_dir, SOFTHSM_LABEL)
    keys = {}
    for kind, key_type, hex_id in (("rsa", "rsa:2048", "01"), ("ec", "EC:prime256v1", "02")):
        subject = f"softhsm {kind} client"
        public_key = softhsm_key_pair(token.module, token.label, token.pin, key_type, hex_id, f"tls-{kind}")
        cert = ca.write(f"softhsm-{kind}.pem", ca.issue(public_key, subject))
        uri = f"pkcs11:token={SOFTHSM_LABEL};id={percent_encode(hex_id)}"
        keys[kind] = DeviceKey(uri, str(cert), f"CN={subject}", hex_id)
    return SoftHSMKeys(token, keys["rsa"], keys["ec"])


@pytest.fixture(scope="module")
def nss_keys(tmp_path_factory: pytest.TempPathFactory, ca: TestCA) -> NSSKeys:
    db = make_nssdb(tmp_path_factory.mktemp("tls-nss") / "db")
    keys = {}
    for kind in ("rsa", "ec"):
        subject = f"nss {kind} client"
        hex_id, public_key = nss_key_pair(db.directory, db.password_file, kind, subject)
        cert = ca.write(f"nss-{kind}.pem", ca.issue(public_key, subject))
        uri = f"pkcs11:token=NSS%20Certificate%20DB;id={percent_encode(hex_id)}"
        keys[kind] = DeviceKey(uri, str(cert), f"CN={subject}", hex_id)
    return NSSKeys(db, keys["rsa"], keys["ec"])


def softhsm_params(keys: SoftHSMKeys, key: DeviceKey) -> dict[str, Any]:
    return {"module": keys.token.module, "uri": key.uri, "cert": key.cert, "pin": keys.token.pin}


def nss_params(keys: NSSKeys, key: DeviceKey) -> dict[str, Any]:
    return {
        "module": keys.db.module,
        "uri": key.uri,
        "cert": key.cert,
        "pin": keys.db.password,
        "init_args": tls.nss_init_args(str(keys.db.directory)),
    }


def run_scenario(name: str, env: dict[str, str] | None = None, **params: Any) -> dict[str, Any]:
    """Run one scenario in a fresh interpreter; it must exit 0 (a clean exit) and print its JSON last."""
    completed = subprocess.run(
        [sys.executable, "-m", "tests.tokens.tls_scenario", json.dumps({"scenario": name, **params})],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    assert completed.returncode == 0, f"exit {completed.returncode}\n{completed.stdout}\n{completed.stderr}"
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli.main", "tls-check", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


# --- device keys against s_server -------------------------------------------------------------------------


def check_connect_result(result: dict[str, Any], keys: list[DeviceKey]) -> None:
    subjects = {key.uri: key.subject for key in keys}
    handshakes = [r for r in result["results"] if "status" in r]
    assert len(handshakes) == 2 * len(keys)
    for item in handshakes:
        assert item["status"] == 200
        assert item["protocol"] == item["version"].replace("_", ".")
        assert item["client_subject"] == subjects[item["uri"]], (
            "the server must report our client certificate"
        )
    raw = [r for r in result["results"] if "raw_handshake" in r]
    assert [r["raw_handshake"] for r in raw] == ["TLSv1.3"] * len(keys)
    assert "verify" in result["verify_false"]
    assert "https://" in result["cleartext"]
    assert result["threaded"] == {"ok": 40, "failures": []}, "four threads share one context"
    private = result["private_dir"]
    assert private["mode"] == 0o700
    assert private["files"] == [], "the PIN, key and configuration files are deleted once read"
    assert not os.path.exists(private["path"]), "the private directory is removed at exit"


def test_softhsm_rsa_and_ec_keys_over_tls12_and_tls13(
    softhsm_keys: SoftHSMKeys, server: SServer, ca: TestCA
) -> None:
    keys = [softhsm_keys.rsa, softhsm_keys.ec]
    result = run_scenario(
        "connect",
        module=softhsm_keys.token.module,
        pin=softhsm_keys.token.pin,
        keys=[{"uri": k.uri, "cert": k.cert} for k in keys],
        versions=["TLSv1_2", "TLSv1_3"],
        url=server.url(),
        ca=str(ca.cert_file),
    )
    check_connect_result(result, keys)


def test_nss_rsa_and_ec_keys_over_tls12_and_tls13(nss_keys: NSSKeys, server: SServer, ca: TestCA) -> None:
    keys = [nss_keys.rsa, nss_keys.ec]
    result = run_scenario(
        "connect",
        module=nss_keys.db.module,
        pin=nss_keys.db.password,
        init_args=tls.nss_init_args(str(nss_keys.db.directory)),
        keys=[{"uri": k.uri, "cert": k.cert} for k in keys],
        versions=["TLSv1_2", "TLSv1_3"],
        url=server.url(),
        ca=str(ca.cert_file),
    )
    check_connect_result(result, keys)


def test_one_module_per_process_same_again_is_free(
    softhsm_keys: SoftHSMKeys, nss_keys: NSSKeys, server: SServer, ca: TestCA
) -> None:
    result = run_scenario(
        "conflict",
        first=softhsm_params(softhsm_keys, softhsm_keys.rsa),
        second=nss_params(nss_keys, nss_keys.rsa),
        url=server.url(),
        ca=str(ca.cert_file),
    )
    assert result["again"] == "ok"
    assert result["other_module"]["error"] == "TlsProviderConflict"
    assert "one PKCS#11 module per process" in result["other_module"]["message"]
    assert result["other_pin"]["error"] == "TlsProviderConflict"
    assert "not-the-pin" not in result["other_pin"]["message"]
    assert result["still_works"] == 200


# --- errors a user can act on -----------------------------------------------------------------------------


def expect_error(result: dict[str, Any], name: str) -> str:
    assert result.get("error") == name, result
    assert result["user_facing"] is True
    assert "TlsError" in result["classes"]
    message: str = result["message"]
    return message


def test_wrong_pin_names_the_token_and_the_pin_options(
    softhsm_keys: SoftHSMKeys, server: SServer, ca: TestCA
) -> None:
    params = softhsm_params(softhsm_keys, softhsm_keys.rsa) | {"pin": "99999999"}
    result = run_scenario("error", **params, url=server.url(), ca=str(ca.cert_file))
    message = expect_error(result, "TlsLoginFailed")
    assert f"token '{SOFTHSM_LABEL}'" in message
    assert "--pin-file" in message and "--pin-env" in message
    assert "99999999" not in message
    assert result["private_dir"]["path"] is None, "no PIN file was written for a PIN the token refused"


def test_wrong_nss_password_is_a_login_error(nss_keys: NSSKeys, server: SServer, ca: TestCA) -> None:
    params = nss_params(nss_keys, nss_keys.ec) | {"pin": "not-the-password"}
    message = expect_error(
        run_scenario("error", **params, url=server.url(), ca=str(ca.cert_file)), "TlsLoginFailed"
    )
    assert "token 'NSS Certificate DB'" in message


def test_missing_provider_says_how_to_install_it(
    softhsm_keys: SoftHSMKeys, server: SServer, ca: TestCA
) -> None:
    params = softhsm_params(softhsm_keys, softhsm_keys.rsa) | {
        "provider_path": "/nonexistent/ossl-modules/pkcs11.so"
    }
    result = run_scenario("error", **params, url=server.url(), ca=str(ca.cert_file))
    message = expect_error(result, "TlsProviderMissing")
    assert "/nonexistent/ossl-modules/pkcs11.so" in message
    assert "apt-get install -t bookworm-backports pkcs11-provider" in message


def test_missing_key_and_missing_token_are_named(
    softhsm_keys: SoftHSMKeys, server: SServer, ca: TestCA
) -> None:
    params = softhsm_params(softhsm_keys, softhsm_keys.rsa)
    no_key = params | {"uri": f"pkcs11:token={SOFTHSM_LABEL};id=%7f"}
    message = expect_error(
        run_scenario("error", **no_key, url=server.url(), ca=str(ca.cert_file)), "TlsKeyNotFound"
    )
    assert "no private key matches" in message and "id=" in message
    no_token = params | {"uri": "pkcs11:token=no-such-token;id=%01"}
    message = expect_error(
        run_scenario("error", **no_token, url=server.url(), ca=str(ca.cert_file)), "TlsKeyNotFound"
    )
    assert f"'{SOFTHSM_LABEL}'" in message, "the error lists the tokens that are present"


def test_certificate_of_another_key_is_named(softhsm_keys: SoftHSMKeys, server: SServer, ca: TestCA) -> None:
    params = softhsm_params(softhsm_keys, softhsm_keys.rsa) | {"cert": softhsm_keys.ec.cert}
    result = run_scenario("error", **params, url=server.url(), ca=str(ca.cert_file))
    message = expect_error(result, "TlsCertificateError")
    assert "is not for the key" in message and softhsm_keys.ec.cert in message


def test_opensc_without_a_card_is_a_clear_error(
    softhsm_keys: SoftHSMKeys, server: SServer, ca: TestCA
) -> None:
    opensc = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"
    if not os.path.exists(opensc):
        pytest.skip("OpenSC is not installed")
    params = softhsm_params(softhsm_keys, softhsm_keys.rsa) | {
        "module": opensc,
        "uri": "pkcs11:token=PIV;id=%01",
    }
    message = expect_error(
        run_scenario("error", **params, url=server.url(), ca=str(ca.cert_file)), "TlsKeyNotFound"
    )
    assert "is the device connected" in message


# --- the server is always verified ------------------------------------------------------------------------


def test_server_from_an_unknown_ca_is_rejected(
    softhsm_keys: SoftHSMKeys, ca: TestCA, tmp_path_factory: pytest.TempPathFactory
) -> None:
    stranger = TestCA.create(tmp_path_factory.mktemp("stranger-ca"), "some other CA")
    key_file, cert_file = stranger.software_pair("ec", "impostor", server_ip="127.0.0.1")
    with SServer(cert_file, key_file, client_ca=ca.cert_file) as impostor:
        params = softhsm_params(softhsm_keys, softhsm_keys.ec)
        result = run_scenario("error", **params, url=impostor.url(), ca=str(ca.cert_file))
    assert result["error"] == "SSLError"
    assert "CERTIFICATE_VERIFY_FAILED" in result["message"]


def test_no_ca_bundle_widens_the_trust_of_a_session(
    ca: TestCA, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """requests' own bundle (certifi) and REQUESTS_CA_BUNDLE must not reach the context: a server whose
    certificate comes from a CA in them is still a stranger."""
    public = TestCA.create(tmp_path_factory.mktemp("public-ca"), "a CA in every bundle")
    key_file, cert_file = public.software_pair("ec", "impostor", server_ip="127.0.0.1")
    monkeypatch.setattr(requests.adapters, "DEFAULT_CA_BUNDLE_PATH", str(public.cert_file))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(public.cert_file))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=str(ca.cert_file))
    session = tls.session_for_context(context)
    with SServer(cert_file, key_file, client_ca=None) as impostor:
        for _ in range(2):  # the first request must not widen the trust of the second either
            with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
                session.get(impostor.url(), timeout=30)
    assert context.cert_store_stats()["x509_ca"] == 1


def test_server_name_mismatch_is_rejected(softhsm_keys: SoftHSMKeys, server: SServer, ca: TestCA) -> None:
    params = softhsm_params(softhsm_keys, softhsm_keys.ec)
    result = run_scenario("error", **params, url=server.url(host="localhost"), ca=str(ca.cert_file))
    assert result["error"] == "SSLError"
    assert "not valid for 'localhost'" in result["message"]


# --- python-pkcs11 and the provider in one process ----------------------------------------------------


def p11_params(keys: SoftHSMKeys, server: SServer, ca: TestCA) -> dict[str, Any]:
    return softhsm_params(keys, keys.rsa) | {
        "token_label": SOFTHSM_LABEL,
        "hex_id": keys.rsa.hex_id,
        "url": server.url(),
        "ca": str(ca.cert_file),
    }


def test_python_pkcs11_first_then_tls(softhsm_keys: SoftHSMKeys, server: SServer, ca: TestCA) -> None:
    result = run_scenario("p11_then_tls", **p11_params(softhsm_keys, server, ca))
    assert result["before"]["signature_bytes"] == 256
    assert result["tls"] == 200 and result["tls_again"] == 200
    assert result["after"]["signature_bytes"] == 256
    assert result["after"]["keys_with_id"] == 1, "the provider must not leave session copies of the key"


def test_tls_first_then_python_pkcs11(softhsm_keys: SoftHSMKeys, server: SServer, ca: TestCA) -> None:
    result = run_scenario("tls_then_p11", **p11_params(softhsm_keys, server, ca))
    assert result["tls"] == 200 and result["tls_again"] == 200
    # Stock python-pkcs11 treats CKR_CRYPTOKI_ALREADY_INITIALIZED as an error; an initialise that accepts
    # it (what tokens.modules does) is needed after TLS.
    assert "already initialized" in result["stock_lib"]
    assert result["signed"]["signature_bytes"] == 256
    assert result["signed"]["login_note"] == "UserAlreadyLoggedIn"
    assert result["signed"]["keys_with_id"] == 1


# --- cmc-agent tls-check ---------------------------------------------------------------------------------


def softhsm_key_option(keys: SoftHSMKeys, key: DeviceKey) -> str:
    return f"{key.uri}?module-path={keys.token.module}"


def test_cli_reports_protocol_cipher_server_and_status(
    softhsm_keys: SoftHSMKeys, server: SServer, ca: TestCA
) -> None:
    completed = run_cli(
        server.url(path="/ca/ee/ca/"),
        "--key", softhsm_key_option(softhsm_keys, softhsm_keys.rsa),
        "--cert", softhsm_keys.rsa.cert,
        "--ca-cert", str(ca.cert_file),
        "--pin-env", "TLS_TEST_PIN",
        env={"TLS_TEST_PIN": softhsm_keys.token.pin},
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    lines = dict(line.split(":", 1) for line in completed.stdout.splitlines())
    fields = {name: value.strip() for name, value in lines.items()}
    assert fields["protocol"] == "TLSv1.3"
    assert fields["cipher"].startswith("TLS_")
    assert fields["server subject"] == "CN=tls test server"
    assert fields["client authentication"].startswith("certificate sent")
    assert fields["HTTP status"] == "200"
    assert fields["result"] == "OK"
    assert softhsm_keys.token.pin not in completed.stdout + completed.stderr


def test_cli_nss_database_tls12_json(nss_keys: NSSKeys, server: SServer, ca: TestCA) -> None:
    completed = run_cli(
        server.url(),
        "--key", nss_keys.rsa.uri,
        "--nssdb", str(nss_keys.db.directory),
        "--cert", nss_keys.rsa.cert,
        "--ca-cert", str(ca.cert_file),
        "--pin-file", str(nss_keys.db.password_file),
        "--tls-version", "1.2",
        "--json",
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert report["protocol"] == "TLSv1.2"
    assert report["http_status"] == 200 and report["ok"] is True
    assert report["client_certificate"] == nss_keys.rsa.subject


def test_cli_wrong_pin_exits_1_with_advice(
    softhsm_keys: SoftHSMKeys, server: SServer, ca: TestCA, tmp_path: Path
) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text("87654321\n")
    pin_file.chmod(0o600)
    completed = run_cli(
        server.url(),
        "--key", softhsm_key_option(softhsm_keys, softhsm_keys.ec),
        "--cert", softhsm_keys.ec.cert,
        "--ca-cert", str(ca.cert_file),
        "--pin-file", str(pin_file),
    )  # fmt: skip
    assert completed.returncode == 1
    assert "wrong PIN" in completed.stderr and "--pin-file" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert "87654321" not in completed.stdout + completed.stderr


def test_cli_missing_provider_exits_1_with_install_hint(
    softhsm_keys: SoftHSMKeys, server: SServer, ca: TestCA
) -> None:
    completed = run_cli(
        server.url(),
        "--key", softhsm_key_option(softhsm_keys, softhsm_keys.ec),
        "--cert", softhsm_keys.ec.cert,
        "--ca-cert", str(ca.cert_file),
        "--pin-file", str(softhsm_keys.token.pin_file),
        env={"OPENSSL_MODULES": "/nonexistent"},
    )  # fmt: skip
    assert completed.returncode == 1
    assert "apt-get install -t bookworm-backports pkcs11-provider" in completed.stderr


def test_cli_fails_when_the_server_does_not_ask_for_a_certificate(
    softhsm_keys: SoftHSMKeys, ca: TestCA
) -> None:
    key_file, cert_file = ca.software_pair("ec", "no client auth server", server_ip="127.0.0.1")
    with SServer(cert_file, key_file, client_ca=None) as lax:
        completed = run_cli(
            lax.url(),
            "--key", softhsm_key_option(softhsm_keys, softhsm_keys.ec),
            "--cert", softhsm_keys.ec.cert,
            "--ca-cert", str(ca.cert_file),
            "--pin-file", str(softhsm_keys.token.pin_file),
        )  # fmt: skip
    assert completed.returncode == 1
    assert "not requested by the server" in completed.stdout


# --- pure parts, in this process (no provider loaded here) ------------------------------------------------


def test_provider_uri_keeps_path_attributes_and_makes_type_private() -> None:
    uri = "pkcs11:token=My%20Token;id=%01%02?module-path=/usr/lib/x.so"
    assert tls.provider_key_uri(uri) == "pkcs11:token=My%20Token;id=%01%02;type=private"
    assert tls.provider_key_uri("pkcs11:object=k;type=private") == "pkcs11:object=k;type=private"


@pytest.mark.parametrize(
    "uri",
    [
        "token=x;id=%01",
        "pkcs11:token=x;type=public",
        "pkcs11:token=x;id=%01?pin-value=1234",
        "pkcs11:token=x;id=%01?pin-source=file:/tmp/pin",
    ],
)
def test_bad_key_uris_are_refused(uri: str) -> None:
    with pytest.raises(tls.TlsBadKeyUri) as caught:
        tls.provider_key_uri(uri)
    assert "1234" not in str(caught.value)


def test_uri_pem_is_the_structure_the_provider_decodes() -> None:
    uri = "pkcs11:token=" + "t" * 200 + ";id=%01;type=private"  # long enough for a two-byte DER length
    pem = tls.uri_pem(uri).decode()
    lines = pem.strip().splitlines()
    assert lines[0] == "-----BEGIN PKCS#11 PROVIDER URI-----"
    assert lines[-1] == "-----END PKCS#11 PROVIDER URI-----"
    assert all(len(line) <= 64 for line in lines[1:-1])
    import base64

    parsed = core.Sequence.load(base64.b64decode("".join(lines[1:-1])))
    assert core.VisibleString.load(parsed[0].dump()).native == "PKCS#11 Provider URI v1.0"
    assert core.UTF8String.load(parsed[1].dump()).native == uri


def test_provider_config_values_survive_openssl_quoting(tmp_path: Path) -> None:
    """OpenSSL's own parser must hand the provider exactly our strings, odd characters and all."""
    odd_dir = tmp_path / "a b#c$d'e\"f%g"
    odd_dir.mkdir()
    init_args = tls.nss_init_args(str(odd_dir))
    pin_file = odd_dir / "pin"
    config = tmp_path / "openssl.cnf"
    config.write_text(
        tls.render_provider_config(
            tls.default_provider_path(), "/nonexistent/module.so", init_args, str(pin_file)
        )
    )
    debug_log = tmp_path / "provider.log"
    subprocess.run(
        ["openssl", "list", "-providers"],
        env={**os.environ, "OPENSSL_CONF": str(config), "PKCS11_PROVIDER_DEBUG": f"file:{debug_log}"},
        capture_output=True,
        check=False,
    )
    log = debug_log.read_text()
    assert f"pkcs11-module-init-args: {init_args}\n" in log
    assert "pkcs11-module-path: /nonexistent/module.so\n" in log
    assert "pkcs11-module-quirks: no-deinit\n" in log
    assert "pkcs11-module-cache-keys: false\n" in log


def test_private_files_are_owner_only_and_removed(tmp_path: Path) -> None:
    directory = tls._PrivateDirectory()
    path = directory.write(".pin", b"1234\n")
    assert stat.S_IMODE(os.stat(directory.path()).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    tls._PrivateDirectory._remove(directory.path(), os.getpid())
    assert not os.path.exists(path)


def test_read_pin_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tokens.errors import PinUnavailable
    from tokens.pins import PinSource, read_pin
    from tokens.uri import Pkcs11Uri

    pin_file = tmp_path / "pin"
    pin_file.write_bytes(b"12 34\n")
    pin_file.chmod(0o600)
    assert read_pin(PinSource(file=pin_file), None, "t", False) == "12 34", (
        "the trailing newline is not the PIN"
    )
    pin_file.write_bytes(b"1234\r\n")
    assert read_pin(PinSource(file=pin_file), None, "t", False) == "1234"
    from_uri = Pkcs11Uri.parse(f"pkcs11:token=t?pin-source=file:{pin_file}")
    assert read_pin(PinSource(prompt=False), from_uri, "t", False) == "1234"
    monkeypatch.setenv("TLS_TEST_PIN", "5678\n")
    assert read_pin(PinSource(env="TLS_TEST_PIN"), None, "t", False) == "5678\n", "a variable is taken as is"
    monkeypatch.delenv("TLS_TEST_PIN")
    with pytest.raises(PinUnavailable, match="TLS_TEST_PIN"):
        read_pin(PinSource(env="TLS_TEST_PIN"), None, "t", False)
    with pytest.raises(PinUnavailable, match="needs a PIN"):
        read_pin(PinSource(prompt=False), None, "t", False)
