"""Options and helpers every command that touches a device shares.

PINs come from ``--pin-file``/``--pin-env``, the URI's ``pin-source``, or a prompt; never from argv, so a
URI carrying ``pin-value`` is refused here. ``--nssdb DIR`` makes the NSS database (and the modules its
``pkcs11.txt`` registers) the place to look, as Dogtag's ``dbdir`` does.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from asn1crypto import x509

    from tokens.device import OpenToken
    from tokens.keys import DeviceKey
    from tokens.pins import PinSource
    from tokens.tls import DeviceTlsKey
    from tokens.uri import Pkcs11Uri

from agent.cli.main import UserFacingError


def add_pin_options(parser: argparse.ArgumentParser) -> None:
    """``--pin-file``, ``--pin-env`` and ``--nssdb``."""
    group = parser.add_argument_group("device login")
    group.add_argument(
        "--pin-file", type=Path, metavar="FILE", help="file whose first line is the PIN (or NSS password)"
    )
    group.add_argument("--pin-env", metavar="NAME", help="environment variable that holds the PIN")
    group.add_argument(
        "--nssdb",
        type=Path,
        metavar="DIR",
        help="NSS database directory (Dogtag's dbdir); its password is the PIN",
    )


def pin_source(args: argparse.Namespace) -> PinSource:
    from tokens.pins import PinSource

    if getattr(args, "pin_file", None) and getattr(args, "pin_env", None):
        raise UserFacingError("give either --pin-file or --pin-env, not both")
    return PinSource(file=getattr(args, "pin_file", None), env=getattr(args, "pin_env", None))


def parse_cli_uri(text: str) -> Pkcs11Uri:
    """A URI typed on the command line; ``pin-value`` would put the PIN in the process list."""
    from tokens.uri import parse_uri

    uri = parse_uri(text)
    if uri.pin_value is not None:
        raise UserFacingError(
            "pin-value= puts the PIN on the command line; use pin-source=file:PATH, --pin-file or --pin-env"
        )
    return uri


def open_token_from_args(args: argparse.Namespace, uri_text: str | None, *, login: bool = True) -> OpenToken:
    """The token named by ``uri_text`` (or the NSS database of ``--nssdb``), logged in."""
    from tokens.device import open_token

    nssdb = getattr(args, "nssdb", None)
    if uri_text is None and nssdb is None:
        raise UserFacingError("name the token with a pkcs11: URI or --nssdb DIR")
    uri = parse_cli_uri(uri_text or "pkcs11:")
    token = open_token(uri, nssdb=nssdb, pins=pin_source(args), login=login)
    if token.found_by_search:
        print(
            f"cmc-agent: using PKCS#11 module {token.info.module_path} "
            "(found by search; add ?module-path= to the URI to choose)",
            file=sys.stderr,
        )
    return token


def key_uri(text: str) -> str:
    """A ``pkcs11:`` URI as given, or one made from Dogtag's key-id text (``request.privKeyId``, the
    ``.keyId`` files of PKCS10Client/CRMFPopClient): signed hex, or ``0x`` plus hex bytes."""
    if text.lower().startswith("pkcs11:"):
        return text
    from tokens.keys import parse_dogtag_key_id
    from tokens.uri import Pkcs11Uri

    return str(Pkcs11Uri(id=parse_dogtag_key_id(text), type="private"))


def open_private_key(args: argparse.Namespace, key: str) -> DeviceKey:
    """The private key named by a ``pkcs11:`` URI (or a Dogtag key id with ``--nssdb``/a token URI).

    The key signs, unwraps and wraps on its device.
    """
    from tokens.keys import find_private_key

    uri_text = key_uri(key)
    token_uri = uri_text if key.lower().startswith("pkcs11:") else getattr(args, "token", None)
    token = open_token_from_args(args, token_uri)
    return find_private_key(token, parse_cli_uri(uri_text))


def open_tls_key(args: argparse.Namespace, key: str) -> tuple[DeviceKey, DeviceTlsKey]:
    """The key named on the command line, logged in, and the same key described for pkcs11-provider.

    The PIN is read once (a prompt is never repeated) and used for both logins: python-pkcs11's here and
    the provider's. The provider is given the token and the CKA_ID, which every key has (keys made by
    NSS tools have no label).
    """
    from tokens.device import CKF_PROTECTED_AUTHENTICATION_PATH
    from tokens.keys import find_private_key
    from tokens.nssdb import NssDatabase
    from tokens.pins import PROTECTED_AUTHENTICATION_PATH, PinSource, read_pin
    from tokens.tls import DeviceTlsKey

    uri = parse_cli_uri(key_uri(key))
    token_uri = str(uri) if key.lower().startswith("pkcs11:") else getattr(args, "token", None)
    token = open_token_from_args(args, token_uri, login=False)
    pin: str | None = None
    if token.needs_login and not token.logged_in:
        protected = bool(token.info.flags & CKF_PROTECTED_AUTHENTICATION_PATH)
        read = read_pin(pin_source(args), uri, token.label, protected)
        pin = None if read is PROTECTED_AUTHENTICATION_PATH else str(read)
    token.login(PinSource(value=pin, prompt=False), uri)
    device_key = find_private_key(token, uri)
    init_args = None
    nssdb = getattr(args, "nssdb", None)
    if nssdb is not None and "softokn" in token.info.module_path:
        init_args = NssDatabase.open(nssdb).init_string().decode()
    provider_uri = token.info.uri.with_(id=device_key.key_id, type="private")
    tls_key = DeviceTlsKey(
        module_path=token.info.module_path, key_uri=str(provider_uri), pin=pin, module_init_args=init_args
    )
    return device_key, tls_key


def read_file(path: Path, what: str) -> bytes:
    """The bytes of an input file, or one line saying which file could not be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UserFacingError(f"cannot read {what} {path}: {exc.strerror}") from None


def check_output_location(path: str | os.PathLike[str]) -> None:
    """Refuse an output file whose directory is missing or not writable, before any key is made or any
    request is sent: a CA's answer or a new key's id must not be lost to a typo in ``-o``."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise UserFacingError(f"cannot write {target}: it is a directory; give a file name")
    if not directory.is_dir() or not os.access(directory, os.W_OK | os.X_OK):
        raise UserFacingError(f"cannot write {target}: {directory} is not a directory this user can write")


def write_output(path: str | os.PathLike[str], data: bytes | str, *, mode: int = 0o644) -> Path:
    """:func:`agent.files.write_atomic`, with a failure as one line naming the file."""
    from agent.files import write_atomic

    try:
        return write_atomic(path, data, mode=mode)
    except OSError as exc:
        raise UserFacingError(f"cannot write {path}: {exc.strerror or exc}") from None


def read_certificates(path: Path | None, what: str) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle (or a DER certificate), each decoded fully up front; ``[]``
    for no file. A file with no valid certificate is an error that names it."""
    if path is None:
        return []
    from asn1crypto import x509 as asn1_x509

    from agent.cmc.errors import InvalidCertificate
    from agent.cmc.pem import all_pem_blocks

    certificates = []
    for block in all_pem_blocks(read_file(path, what), "CERTIFICATE"):
        try:
            certificate = asn1_x509.Certificate.load(block, strict=True)
            certificate.native  # noqa: B018 - decode it all now, not half-way through a flow
        except Exception:
            raise InvalidCertificate(f"{path} does not hold a valid X.509 certificate") from None
        certificates.append(certificate)
    if not certificates:
        raise InvalidCertificate(f"{path} holds no certificate")
    return certificates


def read_secret_file(path: Path | None) -> bytes:
    """A shared secret: the first line of a UTF-8 file (its newline is not part of it)."""
    if path is None:
        raise UserFacingError("--secret-file is required for a shared-secret request")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UserFacingError(f"cannot read the secret file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UserFacingError(f"the secret file {path} is not UTF-8 text") from None
    if not lines or not lines[0]:
        raise UserFacingError(f"the secret file {path} is empty")
    return lines[0].encode("utf-8")
