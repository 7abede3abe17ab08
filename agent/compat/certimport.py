"""What ``pki client-cert-import`` does, for ``cmc-agent client-cert-import``.

* ``--ca-cert FILE [--trust CT,C,C]``: the CA certificate(s) into the NSS database with the trust given
  (default ``CT,C,C``), through ``certutil -A`` as Dogtag does. That trust is what HttpClient (server
  verification) and CMCResponse / CMCRequest (response verification) rely on.
* ``--cert FILE`` with a nickname: the end-entity certificate **bound to its private key**
  (same ``CKA_ID``) on the token that holds the key, the CA certificates of the chain that are not yet
  in the database added without trust, all or nothing (:func:`tokens.certs.import_certificate`). The
  file may be a PEM/DER certificate or a PKCS#7 chain such as ``CMCResponse -o`` writes (the
  walkthrough's step 9 imports exactly that); the end-entity certificate is the one that issued no
  other. A certificate whose key is not in the database (a peer's) is added as-is with ``certutil -A``.
* ``--pkcs7 FILE`` (Dogtag's deprecated spelling): as ``--cert``, and the chain's root is then trusted
  ``CT,C,C`` as Dogtag does, but only if it really is a self-signed root (Dogtag trusts whatever sorts
  first).

``--trust`` sets the end-entity certificate's flags after ``--cert``/``--pkcs7``. The database password
comes from ``-C FILE``, ``--pin-env NAME``, ``-c PASSWORD`` (as in the walkthrough, with a warning) or a
prompt; it may be empty (an NSS database made with ``certutil -N --empty-password``, as Dogtag's CI
has).
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from agent.compat.tool import CompatError, read_secret

if TYPE_CHECKING:
    from asn1crypto import x509

    from tokens.device import OpenToken

CERTUTIL_TIMEOUT = 60
DEFAULT_CA_TRUST = "CT,C,C"
LOGIN_ALTERNATIVES = "-C FILE (first line), --pin-env NAME, or run it on a terminal to be prompted"


@dataclass(frozen=True)
class ImportTarget:
    """The database, its token and where its password comes from."""

    dbdir: Path
    tokenname: str | None
    password_file: Path | None
    password_env: str | None
    password_value: str | None = field(default=None, repr=False)
    """From ``-c`` (after its warning)."""

    def password(self) -> str:
        if self.password_value is not None:
            return self.password_value
        return read_secret(
            file=self.password_file,
            env=self.password_env,
            what="NSS database password",
            file_option="-C",
            env_option="--pin-env",
            allow_empty=True,
        )


class _PasswordFile:
    """The password in a 0600 file inside a 0700 directory, for certutil's ``-f``; removed at exit."""

    def __init__(self, password: str) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="client-cert-import-"))
        atexit.register(shutil.rmtree, self.directory, ignore_errors=True)
        self.path = self.directory / "password"
        descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(password + "\n")


def _certutil(arguments: list[str], what: str) -> None:
    try:
        result = subprocess.run(
            ["certutil", *arguments],
            capture_output=True,
            text=True,
            timeout=CERTUTIL_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except FileNotFoundError:
        raise CompatError("certutil (NSS tools) is not installed; install libnss3-tools") from None
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise CompatError(f"{what} failed: {detail[-1] if detail else f'certutil exit {result.returncode}'}")


def _pem_file(certificates: list[x509.Certificate], directory: Path, name: str) -> Path:
    from agent.cmc.pem import to_pem

    path = directory / name
    path.write_text("".join(to_pem(c.dump(), "CERTIFICATE") for c in certificates))
    return path


def _default_nickname(certificate: x509.Certificate) -> str:
    """What NSS would call a CA certificate imported without a nickname: its common name, else its DN."""
    common_name = certificate.subject.native.get("common_name")
    if isinstance(common_name, list):
        common_name = common_name[-1]
    return str(common_name or certificate.subject.human_friendly)


def _token_prefix(target: ImportTarget, nickname: str) -> str:
    from agent.compat.dogtagdb import is_internal_token

    return nickname if is_internal_token(target.tokenname) else f"{target.tokenname}:{nickname}"


def import_ca_certificates(
    target: ImportTarget, path: Path, nickname: str | None, trust: str | None
) -> list[str]:
    """``--ca-cert``: every certificate in the file, trusted ``trust`` (default CT,C,C)."""
    from tokens.certs import read_certificates

    try:
        certificates = read_certificates(path.read_bytes())
    except OSError as exc:
        raise CompatError(f"cannot read {path}: {exc.strerror}") from None
    if nickname and len(certificates) > 1:
        raise CompatError(
            f"{path} holds {len(certificates)} certificates; give no nickname to import them all"
        )
    secret = _PasswordFile(target.password())
    imported = []
    for certificate in certificates:
        name = nickname or _default_nickname(certificate)
        pem = _pem_file([certificate], secret.directory, "ca.pem")
        flags = trust or DEFAULT_CA_TRUST
        _certutil(
            ["-A", "-d", f"sql:{target.dbdir}", "-n", name, "-t", flags, "-a", "-i", str(pem),
             "-f", str(secret.path)],
            f"importing CA certificate {name!r}",
        )  # fmt: skip
        imported.append(name)
    return imported


def import_user_certificate(
    target: ImportTarget, path: Path, nickname: str, trust: str | None, *, trust_root: bool
) -> str:
    """``--cert`` / ``--pkcs7``: the end-entity certificate next to its key, with the chain's CAs."""
    from tokens.certs import import_certificate, list_certificates, order_chain, read_certificates
    from tokens.keys import nss_key_id
    from tokens.pins import PinSource

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CompatError(f"cannot read {path}: {exc.strerror}") from None
    chain = order_chain(read_certificates(data))
    leaf = chain[0]
    password = target.password()
    from agent.compat.dogtagdb import DogtagDevices

    devices = DogtagDevices(
        dbdir=target.dbdir,
        tokenname=target.tokenname,
        pins=PinSource(value=password, prompt=False),
        login_source="-C FILE, --pin-env NAME or the prompt",
    )
    token = devices.token()
    secret = _PasswordFile(password)
    if _has_private_key(token, nss_key_id(leaf.public_key)):
        import_certificate(token, nickname, data, include_chain=True)
    elif trust_root:
        raise CompatError(
            f"no private key for {leaf.subject.human_friendly!r} in {target.dbdir} (token "
            f"{target.tokenname or 'internal'!r}): --pkcs7 imports your own certificate next to its key; "
            "use --cert to add someone else's"
        )
    else:
        pem = _pem_file([leaf], secret.directory, "cert.pem")
        _certutil(
            ["-A", "-d", f"sql:{target.dbdir}", "-n", _token_prefix(target, nickname), "-t", trust or "u,u,u",
             "-a", "-i", str(pem), "-f", str(secret.path)],
            f"importing certificate {nickname!r}",
        )  # fmt: skip
        return nickname
    if trust:
        _set_trust(target, _token_prefix(target, nickname), trust, secret.path)
    root = chain[-1]
    if trust_root and len(chain) > 1:
        from agent.cmc.chain import is_issued_by

        if is_issued_by(root, root):
            labels = [
                listing.label
                for listing in list_certificates(devices.internal_token())
                if listing.certificate.dump() == root.dump() and listing.label
            ]
            if labels:
                _set_trust(target, labels[0], DEFAULT_CA_TRUST, secret.path)
    return nickname


def _has_private_key(token: OpenToken, key_id: bytes) -> bool:
    from tokens.errors import KeyNotFound
    from tokens.keys import find_private_key
    from tokens.uri import Pkcs11Uri

    try:
        find_private_key(token, Pkcs11Uri(id=key_id, type="private"))
    except KeyNotFound:
        return False
    return True


def _set_trust(target: ImportTarget, nickname: str, trust: str, password_file: Path) -> None:
    _certutil(
        ["-M", "-d", f"sql:{target.dbdir}", "-n", nickname, "-t", trust, "-f", str(password_file)],
        f"setting the trust of {nickname!r}",
    )
