"""The token commands as a user runs them: a fresh process each, real devices, real errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.devices import NSSDatabase, SoftHSMToken, make_nssdb, make_softhsm_token
from tests.tokens.test_keys import fresh_label

pytestmark = pytest.mark.usefixtures("softhsm")


def cmc_agent(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli.main", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_keygen_prints_a_uri_that_keys_and_csr_accept(softhsm: SoftHSMToken, tmp_path: Path) -> None:
    label = fresh_label("cli")
    made = cmc_agent("token", "keygen", "--token", softhsm.uri, "--label", label, "--type", "ec:p256",
                     "--pin-file", str(softhsm.pin_file))  # fmt: skip
    assert made.returncode == 0, made.stderr
    uri = made.stdout.strip()
    assert uri.startswith("pkcs11:") and f"object={label}" in uri and "type=private" in uri

    listed = cmc_agent("token", "keys", "--token", softhsm.uri, "--json", "--pin-file", str(softhsm.pin_file))
    assert listed.returncode == 0, listed.stderr
    (entry,) = [k for k in json.loads(listed.stdout) if k["label"] == label]
    assert entry["type"] == "ec:p256" and entry["sensitive"] and not entry["extractable"]

    csr = tmp_path / "req.csr"
    signed = cmc_agent("csr", "--key", uri, "--subject", "CN=cli test,O=Example", "--ski", "--san",
                       "dns:host.example", "-o", str(csr), "--pin-file", str(softhsm.pin_file))  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    verify = subprocess.run(
        ["openssl", "req", "-in", str(csr), "-verify", "-noout", "-text"], capture_output=True, text=True
    )
    assert verify.returncode == 0 and "verify OK" in verify.stdout + verify.stderr, verify.stderr
    assert "CN = cli test" in verify.stdout and "DNS:host.example" in verify.stdout
    assert "X509v3 Subject Key Identifier" in verify.stdout


@pytest.mark.parametrize("key_type", ["rsa:2048", "ec:p384"])
def test_nss_database_csr_verifies_with_openssl(nssdb: NSSDatabase, tmp_path: Path, key_type: str) -> None:
    label = fresh_label("nsscli")
    made = cmc_agent("token", "keygen", "--nssdb", str(nssdb.directory), "--label", label, "--type", key_type,
                     "--pin-file", str(nssdb.password_file))  # fmt: skip
    assert made.returncode == 0, made.stderr
    csr = tmp_path / "nss.csr"
    signed = cmc_agent("csr", "--nssdb", str(nssdb.directory), "--key", f"pkcs11:object={label}",
                       "--subject", "CN=nss user", "-o", str(csr), "--pin-env", "NSS_PW",
                       env={"NSS_PW": nssdb.password})  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    verify = subprocess.run(
        ["openssl", "req", "-in", str(csr), "-verify", "-noout"], capture_output=True, text=True
    )
    assert verify.returncode == 0, verify.stderr


def test_token_list_shows_the_token_and_its_module(softhsm: SoftHSMToken) -> None:
    listed = cmc_agent("token", "list", "--module", softhsm.module, "--json")
    assert listed.returncode == 0, listed.stderr
    labels = {row["label"]: row for row in json.loads(listed.stdout)}
    assert softhsm.label in labels
    assert labels[softhsm.label]["uri"].startswith("pkcs11:")
    assert "libsofthsm2.so" in labels[softhsm.label]["module"]
    assert labels[softhsm.label]["initialized"] is True
    assert labels[""]["initialized"] is False, "SoftHSM2's spare slot is listed as not initialized"


def test_search_says_which_module_was_used(softhsm: SoftHSMToken) -> None:
    listed = cmc_agent("token", "keys", "--token", softhsm.uri, "--pin-file", str(softhsm.pin_file))
    assert listed.returncode == 0, listed.stderr
    assert "using PKCS#11 module" in listed.stderr and "libsofthsm2.so" in listed.stderr


def test_wrong_pin_is_one_clear_line(softhsm_dir: Path, tmp_path: Path) -> None:
    token = make_softhsm_token(softhsm_dir, fresh_label("pin"))
    wrong = tmp_path / "wrong.pin"
    wrong.write_text("0000\n")
    result = cmc_agent("token", "keys", "--token", token.uri, "--pin-file", str(wrong))
    assert result.returncode == 1
    expected = f"wrong PIN on token '{token.label}'; check --pin-file/--pin-env (failed while logging in)"
    assert result.stderr.strip().endswith(expected)
    assert "Traceback" not in result.stderr and "0000" not in result.stderr


def test_unknown_token_lists_the_tokens_found(softhsm: SoftHSMToken) -> None:
    result = cmc_agent(
        "token", "keys", "--token", "pkcs11:token=no-such-token", "--pin-file", str(softhsm.pin_file)
    )
    assert result.returncode == 1
    assert "no token matches pkcs11:token=no-such-token" in result.stderr
    assert f"'{softhsm.label}'" in result.stderr


def test_missing_module_is_named(softhsm: SoftHSMToken) -> None:
    result = cmc_agent("token", "keys", "--token", "pkcs11:token=x?module-path=/nonexistent/libp11.so",
                       "--pin-file", str(softhsm.pin_file))  # fmt: skip
    assert result.returncode == 1
    assert "/nonexistent/libp11.so does not exist" in result.stderr


@pytest.mark.parametrize(
    ("uri_query", "pin_bytes", "expected"),
    [
        ("?module-path=/etc/passwd", b"1234\n", "cannot load PKCS#11 module /etc/passwd"),
        ("?module-path=/lib/x86_64-linux-gnu/libz.so.1", b"1234\n", "undefined symbol: C_GetFunctionList"),
        ("", b"\xff\xfe12\n", "is not UTF-8 text"),
    ],
)
def test_a_file_that_is_not_what_it_should_be_is_one_line(
    softhsm: SoftHSMToken, tmp_path: Path, uri_query: str, pin_bytes: bytes, expected: str
) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_bytes(pin_bytes)
    pin_file.chmod(0o600)
    result = cmc_agent("token", "keys", "--token", softhsm.uri + uri_query, "--pin-file", str(pin_file))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert expected in result.stderr


def test_nss_database_in_a_directory_with_a_quote(tmp_path: Path) -> None:
    db = make_nssdb(tmp_path / "it's a \\ db")
    keygen = cmc_agent("token", "keygen", "--nssdb", str(db.directory), "--label", "quoted",
                       "--type", "ec:p256", "--pin-file", str(db.password_file))  # fmt: skip
    assert keygen.returncode == 0, keygen.stderr
    listed = subprocess.run(
        ["certutil", "-K", "-d", f"sql:{db.directory}", "-f", str(db.password_file)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "quoted" in listed.stdout, "the key is in that database, not in another directory"


def test_unknown_key_label(softhsm: SoftHSMToken, tmp_path: Path) -> None:
    result = cmc_agent("csr", "--key", f"{softhsm.uri};object=missing", "--subject", "CN=x",
                       "-o", str(tmp_path / "x.csr"), "--pin-file", str(softhsm.pin_file))  # fmt: skip
    assert result.returncode == 1
    assert "no private key matches" in result.stderr and "object=missing" in result.stderr
    assert not (tmp_path / "x.csr").exists()


@pytest.mark.parametrize("output", ["no-such-dir/x.csr", "."])
def test_an_unwritable_output_is_one_line(softhsm: SoftHSMToken, tmp_path: Path, output: str) -> None:
    result = cmc_agent("csr", "--key", f"{softhsm.uri};object=missing", "--subject", "CN=x",
                       "-o", str(tmp_path / output), "--pin-file", str(softhsm.pin_file))  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"cannot write {tmp_path / output}" in result.stderr


def test_malformed_uri_is_named() -> None:
    result = cmc_agent("token", "keys", "--token", "pkcs11:tokn=x")
    assert result.returncode == 1 and "unknown path attribute 'tokn'" in result.stderr


def test_pin_value_on_the_command_line_is_refused(softhsm: SoftHSMToken) -> None:
    result = cmc_agent("token", "keys", "--token", f"{softhsm.uri}?pin-value={softhsm.pin}")
    assert result.returncode == 1 and "puts the PIN on the command line" in result.stderr


def test_no_pin_source_without_a_terminal(softhsm: SoftHSMToken) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "agent.cli.main", "token", "keys", "--token", softhsm.uri],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1 and "needs a PIN: give --pin-file FILE, --pin-env NAME" in result.stderr


def test_import_cert_through_the_cli(softhsm: SoftHSMToken, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    from tests.tokens.test_certs import ChainCA
    from tokens.device import open_token
    from tokens.keys import find_private_key
    from tokens.pins import PinSource
    from tokens.uri import Pkcs11Uri

    label = fresh_label("imp")
    assert cmc_agent("token", "keygen", "--token", softhsm.uri, "--label", label,
                     "--pin-file", str(softhsm.pin_file)).returncode == 0  # fmt: skip
    token = open_token(softhsm.uri, pins=PinSource(file=softhsm.pin_file))
    ca = ChainCA()
    cert = ca.issue(find_private_key(token, Pkcs11Uri(object=label)), label)
    pem = tmp_path / "cert.pem"
    pem.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (cert, ca.sub, ca.root)))
    result = cmc_agent("token", "import-cert", "--token", softhsm.uri, "--label", f"{label}-cert", str(pem),
                       "--pin-file", str(softhsm.pin_file))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"Imported certificate '{label}-cert'" in result.stdout
    listed = cmc_agent("token", "certs", "--token", softhsm.uri, "--label", f"{label}-cert", "--json",
                       "--pin-file", str(softhsm.pin_file))  # fmt: skip
    (entry,) = json.loads(listed.stdout)
    assert entry["subject"] == f"CN={label}" and entry["issuer"] == "CN=Test Sub CA"


def test_certutil_made_key_is_found_by_nickname_and_by_dogtag_key_id(
    nssdb: NSSDatabase, tmp_path: Path
) -> None:
    """Keys made by NSS tools have no label; Dogtag names them by certificate nickname or key id."""
    nickname = fresh_label("certutil")
    noise = tmp_path / "noise"
    noise.write_bytes(os.urandom(64))
    subprocess.run(
        ["certutil", "-S", "-d", f"sql:{nssdb.directory}", "-f", str(nssdb.password_file), "-z", str(noise),
         "-n", nickname, "-s", f"CN={nickname}", "-x", "-t", "u,u,u", "-k", "rsa", "-g", "2048"],
        check=True, capture_output=True,
    )  # fmt: skip
    keys = subprocess.run(
        ["certutil", "-K", "-d", f"sql:{nssdb.directory}", "-f", str(nssdb.password_file)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    (line,) = [entry for entry in keys.splitlines() if nickname in entry]
    key_id_hex = line.split()[3]
    from tokens.keys import dogtag_key_id

    dogtag_id = dogtag_key_id(bytes.fromhex(key_id_hex))
    for key in (f"pkcs11:object={nickname}", dogtag_id, f"0x{key_id_hex}"):
        out = tmp_path / "by.csr"
        result = cmc_agent("csr", "--nssdb", str(nssdb.directory), f"--key={key}", "--subject", "CN=again",
                           "-o", str(out), "--pin-file", str(nssdb.password_file), "--json")  # fmt: skip
        assert result.returncode == 0, (key, result.stderr)
        info = json.loads(result.stdout)
        assert info["dogtag_key_id"] == dogtag_id
        assert f"id={''.join(f'%{b:02X}' for b in bytes.fromhex(key_id_hex))}" in info["key"]


def test_module_registered_in_the_nss_database_is_reachable_by_token_label(
    softhsm: SoftHSMToken, tmp_path: Path
) -> None:
    """Dogtag's dbdir + tokenname: a SoftHSM2 token added to the database with modutil, named by label."""
    from tests.devices import make_nssdb

    db = make_nssdb(tmp_path / "withhsm")
    subprocess.run(
        ["modutil", "-dbdir", f"sql:{db.directory}", "-add", "SoftHSM2", "-libfile", softhsm.module,
         "-force"],
        check=True, capture_output=True,
    )  # fmt: skip
    label = fresh_label("via-nss")
    made = cmc_agent("token", "keygen", "--nssdb", str(db.directory), "--token",
                     f"pkcs11:token={softhsm.label}", "--label", label,
                     "--pin-file", str(softhsm.pin_file))  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "libsofthsm2.so" in made.stdout  # the key lives on the SoftHSM2 token, not in the database
    listed = cmc_agent("token", "list", "--nssdb", str(db.directory), "--json")
    labels = {row["label"] for row in json.loads(listed.stdout)}
    assert {"NSS Certificate DB", softhsm.label} <= labels
