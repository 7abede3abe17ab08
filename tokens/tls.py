"""TLS client authentication with a private key that never leaves its PKCS#11 device.

Python's ``ssl`` module links the system OpenSSL 3, so an OpenSSL *provider* can lend it keys: with
pkcs11-provider loaded, the "key file" handed to ``SSLContext.load_cert_chain`` is a PEM block that holds
only the key's ``pkcs11:`` URI, and every handshake signature is made on the device. This module:

* finds the token and logs in once through :mod:`tokens.device` first, because the provider hides why a
  key cannot be loaded and a retry may cost a smart card one of its PIN attempts (the login also stays
  open for the life of the process: closing it would log the provider's sessions out too);
* writes the provider's configuration (module, NSS init arguments, quirks, PIN file) into a private 0700
  directory, loads it into OpenSSL at run time (:mod:`tokens.ossl`), and deletes the PIN file as soon as
  the provider has read it (the directory itself goes at exit);
* builds a client ``SSLContext`` that trusts only the given CA file and always checks the server's name,
  and a ``requests`` session on top of it that cannot be talked out of verification.

pkcs11-provider serves one PKCS#11 module per process (a second instance for another module leaves that
module's keys unreachable), so the first device key fixes the module, its init arguments and its PIN for
the life of the process; asking again for the same is free, asking for another is
:class:`TlsProviderConflict`. Devices other than the TLS key's go through python-pkcs11, which has no
such limit.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import hmac
import os
import secrets
import shutil
import ssl
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import requests
from requests.adapters import BaseAdapter, HTTPAdapter

from tokens import ossl
from tokens.errors import (
    ModuleNotFound,
    PinIncorrect,
    PinLocked,
    PinUnavailable,
    TokenError,
    TokenNotFound,
)

if TYPE_CHECKING:
    from tokens.device import OpenToken

PROVIDER_FILE_NAME = "pkcs11.so"
PROVIDER_INSTALL_HINT = (
    "install it with `apt-get install -t bookworm-backports pkcs11-provider` (Debian 12; `make system` "
    "does this), or set OPENSSL_MODULES to the directory that holds pkcs11.so"
)
PIN_HINT = (
    "check the PIN given with --pin-file or --pin-env (a PIN file's trailing newline is not part of it)"
)
_PEM_LABEL = "PKCS#11 PROVIDER URI"
_PEM_DESCRIPTION = b"PKCS#11 Provider URI v1.0"
_QUERY_ATTRIBUTES_FOR_US = ("module-path", "module-name")
_PIN_ATTRIBUTES = ("pin-value", "pin-source")


class TlsError(TokenError):
    """TLS with a device key could not be set up; the message says what to change."""


class TlsProviderMissing(TlsError):
    """pkcs11-provider (OpenSSL's ``pkcs11.so``) is not installed or does not load.

    Install it: ``apt-get install -t bookworm-backports pkcs11-provider`` on Debian 12 (``make system``),
    or point ``OPENSSL_MODULES`` at the directory that holds ``pkcs11.so``.
    """


class TlsProviderConflict(TlsError):
    """pkcs11-provider is already serving another PKCS#11 module (or another PIN) in this process.

    One process uses one device for TLS keys. Run the second connection in its own process, or put both
    keys on the same token.
    """


class TlsModuleError(TlsError):
    """The PKCS#11 module cannot be loaded or initialised.

    Check the module path (``module-path=`` in the key URI) and, for an NSS database, that the directory
    holds ``cert9.db`` and ``key4.db``.
    """


class TlsBadKeyUri(TlsError):
    """The key URI is not a ``pkcs11:`` URI for a private key, or it carries a PIN.

    Name the key as ``pkcs11:token=LABEL;id=%01`` (or ``object=LABEL``); give the PIN separately.
    """


class TlsKeyNotFound(TlsError):
    """No token or no private key matches the key URI, or the URI matches several keys.

    List what the device holds (``pkcs11-tool --module MODULE --login --list-objects``) and name exactly
    one private key; keys made by ``certutil`` have no label, so address them by ``id=``.
    """


class TlsLoginFailed(TlsError):
    """The token refused the PIN, or needs one that was not given.

    Check the PIN given with ``--pin-file`` or ``--pin-env``; an NSS database's PIN is its password.
    """


class TlsCertificateError(TlsError):
    """The client certificate or the CA file cannot be read, or the certificate is not the key's."""


@dataclass(frozen=True)
class DeviceTlsKey:
    """A TLS client key on a PKCS#11 device, with everything needed to reach it.

    ``key_uri`` names the private key (RFC 7512) without PIN attributes; ``module-path=`` in its query is
    ignored here (``module_path`` is what counts). ``pin`` is kept out of ``repr`` and of every log line;
    on disk it only ever lives, briefly, in a 0600 file in a 0700 directory. ``module_init_args`` is passed
    to ``C_Initialize`` as ``pReserved``: NSS softokn needs it (see :func:`nss_init_args`).
    """

    module_path: str
    key_uri: str
    pin: str | None = field(default=None, repr=False)
    module_init_args: str | None = None


def nss_init_args(db_dir: str) -> str:
    """The ``C_Initialize`` string that makes NSS softokn open the database in ``db_dir`` (cert9/key4).

    Byte for byte what :mod:`tokens.nssdb` passes, so that whichever initialises softokn first in a process
    (this, the provider or python-pkcs11) opens the database the same way.
    """
    from tokens.nssdb import nss_init_string

    return nss_init_string(os.path.realpath(os.path.expanduser(db_dir)))


def default_provider_path() -> str:
    """pkcs11-provider's shared object in the directory where this OpenSSL looks for providers."""
    return os.path.join(ossl.modules_dir(), PROVIDER_FILE_NAME)


def client_ssl_context(
    key: DeviceTlsKey,
    cert_file: str,
    ca_file: str,
    *,
    minimum_version: ssl.TLSVersion | None = None,
    maximum_version: ssl.TLSVersion | None = None,
    provider_path: str | None = None,
) -> ssl.SSLContext:
    """A client context that authenticates with ``key`` on its device and verifies the server.

    The server must present a chain to a CA in ``ca_file`` (nothing else is trusted) for the host name
    that is connected to. ``cert_file`` holds the client certificate, optionally followed by its chain.
    TLS 1.2 is the floor unless ``minimum_version`` says otherwise.
    """
    provider_uri = provider_key_uri(key.key_uri)
    if key.pin is not None and ("\n" in key.pin or "\r" in key.pin):
        # the provider reads its PIN file up to the first line break
        raise TlsLoginFailed(f"the PIN contains a line break: {PIN_HINT}")
    _require_readable(cert_file, "client certificate")
    _require_readable(ca_file, "CA certificate")
    provider = provider_path or default_provider_path()
    _PROVIDER.check_compatible(key)
    if not _PROVIDER.is_loaded():
        _require_provider_file(provider)
    token = _check_token_and_pin(key, provider_uri)
    _PROVIDER.ensure(provider, key)
    _require_exactly_one_key(provider_uri, token, key.module_path)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname from the start
    context.minimum_version = minimum_version or ssl.TLSVersion.TLSv1_2
    if maximum_version is not None:
        context.maximum_version = maximum_version
    try:
        context.load_verify_locations(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise TlsCertificateError(f"cannot use {ca_file} as CA certificates: {exc}") from exc
    _load_device_key(context, cert_file, provider_uri)
    return context


class DeviceKeyAdapter(HTTPAdapter):
    """A ``requests`` transport whose TLS comes entirely from one client ``SSLContext``.

    ``verify=False`` is refused, and a CA path passed as ``verify`` (or taken from ``REQUESTS_CA_BUNDLE``)
    is ignored, as is requests' own CA bundle: trust is the CA file the context was built with, and
    nothing may widen it.
    """

    def __init__(self, context: ssl.SSLContext, **kwargs: Any) -> None:
        self._context = context
        super().__init__(**kwargs)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        pool_kwargs["ssl_context"] = self._context
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        proxy_kwargs["ssl_context"] = self._context
        return super().proxy_manager_for(proxy, **proxy_kwargs)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        """Always verify, with the context's own CA file and nothing else.

        requests' own version points the pool at its CA bundle (certifi) whenever ``verify`` is true, and
        urllib3 then loads that bundle into our context: every public CA would be trusted from then on.
        """
        conn.cert_reqs = "CERT_REQUIRED"
        conn.ca_certs = None
        conn.ca_cert_dir = None
        conn.cert_file = None
        conn.key_file = None

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str | None = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        if verify is False:
            raise TlsError("this session always verifies the server; verify=False is not allowed")
        if cert is not None:
            raise TlsError(
                "the client certificate comes from the device key's SSL context; do not pass cert="
            )
        return super().send(request, stream=stream, timeout=timeout, verify=True, cert=None, proxies=proxies)


class _CleartextRefused(BaseAdapter):
    """Mounted for ``http://`` so a typo in a URL cannot send a request without TLS."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        raise TlsError(f"refusing {request.url}: a device-key session only speaks https://")

    def close(self) -> None:
        pass


def requests_session(
    key: DeviceTlsKey,
    cert_file: str,
    ca_file: str,
    *,
    minimum_version: ssl.TLSVersion | None = None,
    maximum_version: ssl.TLSVersion | None = None,
    provider_path: str | None = None,
) -> requests.Session:
    """A ``requests`` session that authenticates with ``key`` on every https:// request it makes."""
    context = client_ssl_context(
        key,
        cert_file,
        ca_file,
        minimum_version=minimum_version,
        maximum_version=maximum_version,
        provider_path=provider_path,
    )
    return session_for_context(context)


def session_for_context(context: ssl.SSLContext) -> requests.Session:
    """A ``requests`` session whose https:// requests all use ``context``; http:// is refused."""
    session = requests.Session()
    session.mount("https://", DeviceKeyAdapter(context))
    session.mount("http://", _CleartextRefused())
    return session


# --- key URIs -------------------------------------------------------------------------------------------


def provider_key_uri(key_uri: str) -> str:
    """The URI the provider gets: the path attributes only, ``type=private`` made explicit.

    Module selection (``module-path=``, ``module-name=``) is ours, not the provider's, and PINs never
    travel in a URI here.
    """
    if not key_uri.startswith("pkcs11:"):
        raise TlsBadKeyUri(f"{key_uri!r} is not a pkcs11: URI (RFC 7512), e.g. pkcs11:token=LABEL;id=%01")
    path, _, query = key_uri[len("pkcs11:") :].partition("?")
    for item in filter(None, query.split("&")):
        name = item.partition("=")[0]
        if name in _PIN_ATTRIBUTES:
            raise TlsBadKeyUri(
                f"the key URI carries {name}=; give the PIN with --pin-file or --pin-env instead"
            )
    attributes = [item for item in path.split(";") if item]
    types = [unquote(item.partition("=")[2]) for item in attributes if item.partition("=")[0] == "type"]
    if any(value != "private" for value in types):
        raise TlsBadKeyUri(
            f"{_redacted(key_uri)} names a {types[0]} object; a TLS client key is type=private"
        )
    if not types:
        attributes.append("type=private")
    return "pkcs11:" + ";".join(attributes)


def _redacted(uri: str) -> str:
    return uri.partition("?")[0]


def uri_pem(uri: str) -> bytes:
    """The PEM "key file" pkcs11-provider decodes: SEQUENCE { VisibleString desc, UTF8String uri }."""
    body = _der(0x1A, _PEM_DESCRIPTION) + _der(0x0C, uri.encode("utf-8"))
    encoded = base64.b64encode(_der(0x30, body)).decode("ascii")
    lines = [encoded[i : i + 64] for i in range(0, len(encoded), 64)]
    return "\n".join([f"-----BEGIN {_PEM_LABEL}-----", *lines, f"-----END {_PEM_LABEL}-----", ""]).encode()


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        length = bytes([size])
    else:
        octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(octets)]) + octets
    return bytes([tag]) + length + content


# --- the provider -----------------------------------------------------------------------------------------


def render_provider_config(
    provider_path: str, module_path: str, init_args: str | None, pin_file: str | None
) -> str:
    """The OpenSSL configuration that loads pkcs11-provider for one module.

    ``no-deinit``: the provider must not finalise the module at exit (python-pkcs11 may still use it, and
    a crash at interpreter exit was seen without it). ``cache-keys = false``: by default the provider
    copies each key it uses into a session object, which every other user of the module in the process
    then finds as a second key with the same id (python-pkcs11's ``get_key`` fails with
    ``MultipleObjectsReturned``); handshake rates were the same without the copies. ``early``: the module
    is initialised while the configuration loads, so a broken module fails here, not in a handshake.
    """
    settings = [
        ("module", provider_path),
        ("pkcs11-module-path", module_path),
        ("pkcs11-module-init-args", init_args),
        # the provider percent-decodes this value: a literal % in the path must be encoded
        ("pkcs11-module-token-pin", f"file:{pin_file.replace('%', '%25')}" if pin_file else None),
        ("pkcs11-module-quirks", "no-deinit"),
        ("pkcs11-module-cache-keys", "false"),
        ("pkcs11-module-load-behavior", "early"),
        ("activate", "1"),
    ]
    lines = [
        "openssl_conf = openssl_init",
        "[openssl_init]",
        "providers = provider_sect",
        "[provider_sect]",
        "default = default_sect",
        "pkcs11 = pkcs11_sect",
        "[default_sect]",
        "activate = 1",
        "[pkcs11_sect]",
    ]
    lines += [f"{name} = {_config_value(value)}" for name, value in settings if value is not None]
    return "\n".join(lines) + "\n"


def _config_value(value: str) -> str:
    """Quote a value for OpenSSL's config parser: inside double quotes only \\ and " are special."""
    if any(ord(ch) < 0x20 for ch in value):
        raise TlsError("a path or init argument for the PKCS#11 module contains a control character")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _PrivateDirectory:
    """A 0700 temporary directory for this process's provider files, removed at exit."""

    def __init__(self) -> None:
        self._path: str | None = None
        self._owner_pid = 0
        self._lock = threading.Lock()

    def path(self) -> str:
        with self._lock:
            if self._path is None or self._owner_pid != os.getpid():
                self._path = tempfile.mkdtemp(prefix="cmc-agent-tls-")  # mkdtemp makes it 0700
                self._owner_pid = os.getpid()
                atexit.register(self._remove, self._path, self._owner_pid)
            return self._path

    def write(self, suffix: str, data: bytes) -> str:
        """A new file readable by this user only; created exclusively, never through a symlink."""
        path = os.path.join(self.path(), secrets.token_hex(8) + suffix)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        descriptor = os.open(path, flags, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        return path

    @staticmethod
    def _remove(path: str, owner_pid: int) -> None:
        if os.getpid() == owner_pid:  # a forked child must not delete its parent's directory
            shutil.rmtree(path, ignore_errors=True)


_PRIVATE = _PrivateDirectory()


def _remove_quietly(path: str | None) -> None:
    if path:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


@dataclass(frozen=True)
class _LoadedModule:
    module_path: str
    init_args: str | None
    pin_digest: bytes | None


class _ProviderState:
    """Which module pkcs11-provider serves in this process, once loaded."""

    def __init__(self) -> None:
        self._loaded: _LoadedModule | None = None
        self._lock = threading.Lock()
        self._salt = secrets.token_bytes(16)

    def is_loaded(self) -> bool:
        return self._loaded is not None

    def _describe(self, key: DeviceTlsKey) -> _LoadedModule:
        digest = None if key.pin is None else hmac.new(self._salt, key.pin.encode(), hashlib.sha256).digest()
        return _LoadedModule(os.path.realpath(key.module_path), key.module_init_args, digest)

    def check_compatible(self, key: DeviceTlsKey) -> None:
        """Refuse early, before touching the token, a key the loaded provider cannot serve."""
        with self._lock:
            if self._loaded is not None:
                self._check_same(self._describe(key))

    def ensure(self, provider_path: str, key: DeviceTlsKey) -> None:
        """Load the provider for ``key``'s module unless it already serves exactly that module and PIN."""
        wanted = self._describe(key)
        with self._lock:
            if self._loaded is not None:
                self._check_same(wanted)
                return
            if ossl.provider_available("pkcs11"):
                raise TlsProviderConflict(
                    "pkcs11-provider was already loaded by the OpenSSL configuration (OPENSSL_CONF?): "
                    "cmc-agent configures it itself; remove the pkcs11 provider section from that file"
                )
            self._load(provider_path, key)
            self._loaded = wanted

    def _check_same(self, wanted: _LoadedModule) -> None:
        loaded = self._loaded
        assert loaded is not None
        if (loaded.module_path, loaded.init_args) != (wanted.module_path, wanted.init_args):
            raise TlsProviderConflict(
                f"this process already uses {loaded.module_path} for TLS keys; pkcs11-provider serves one "
                f"PKCS#11 module per process, so {wanted.module_path} needs a process of its own"
            )
        same_pin = (loaded.pin_digest is None and wanted.pin_digest is None) or (
            loaded.pin_digest is not None
            and wanted.pin_digest is not None
            and hmac.compare_digest(loaded.pin_digest, wanted.pin_digest)
        )
        if not same_pin:
            raise TlsProviderConflict(
                f"this process already logged in to {loaded.module_path} for TLS with another PIN; "
                "pkcs11-provider holds one PIN per process: use a process of its own for this key"
            )

    @staticmethod
    def _load(provider_path: str, key: DeviceTlsKey) -> None:
        pin_file = config_file = None
        try:
            if key.pin is not None:
                pin_file = _PRIVATE.write(".pin", key.pin.encode("utf-8") + b"\n")
            config = render_provider_config(provider_path, key.module_path, key.module_init_args, pin_file)
            config_file = _PRIVATE.write(".cnf", config.encode("utf-8"))
            ossl.load_config(config_file)
        except RuntimeError as exc:
            raise TlsProviderMissing(
                f"pkcs11-provider ({provider_path}) did not load for {key.module_path}: {exc}; "
                f"if the provider is missing or broken, {PROVIDER_INSTALL_HINT}"
            ) from exc
        finally:  # the provider has read the PIN during load_config; it must not stay on disk
            _remove_quietly(pin_file)
            _remove_quietly(config_file)
        if not ossl.provider_available("pkcs11"):
            raise TlsProviderMissing(
                f"pkcs11-provider ({provider_path}) is not active after loading; {PROVIDER_INSTALL_HINT}"
            )


_PROVIDER = _ProviderState()


# --- checks with messages a user can act on -----------------------------------------------------------------


def _require_readable(path: str, what: str) -> None:
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise TlsCertificateError(f"cannot read the {what} file {path}")


def _require_provider_file(provider_path: str) -> None:
    if not os.path.isfile(provider_path):
        raise TlsProviderMissing(
            f"pkcs11-provider is not installed: {provider_path} does not exist; {PROVIDER_INSTALL_HINT}"
        )


def _check_token_and_pin(key: DeviceTlsKey, provider_uri: str) -> OpenToken:
    """Find the token the URI names and log in to it once, through :mod:`tokens.device`."""
    from tokens.device import open_token
    from tokens.modules import ModuleSpec
    from tokens.pins import PinSource
    from tokens.uri import Pkcs11Uri

    init = key.module_init_args.encode() if key.module_init_args is not None else None
    try:
        return open_token(
            Pkcs11Uri.parse(provider_uri).token_part,
            module=ModuleSpec(key.module_path, init),
            pins=PinSource(value=key.pin, prompt=False),
        )
    except (PinIncorrect, PinLocked, PinUnavailable) as exc:
        raise TlsLoginFailed(f"{exc} (in {key.module_path})") from exc
    except TokenNotFound as exc:
        raise TlsKeyNotFound(str(exc)) from exc
    except ModuleNotFound as exc:
        raise TlsModuleError(str(exc)) from exc


def _require_exactly_one_key(provider_uri: str, token: OpenToken, module_path: str) -> None:
    count = ossl.count_private_keys(provider_uri)
    where = f"token {token.label!r} ({module_path})"
    if count == 0:
        raise TlsKeyNotFound(
            f"no private key matches {provider_uri} on {where}; list the keys with `pkcs11-tool --module "
            f"{module_path} --login --list-objects --type privkey` (keys made by certutil have no label: "
            "use id=)"
        )
    if count > 1:
        raise TlsKeyNotFound(
            f"{provider_uri} matches {count} private keys on {where}; add id= or object= to name one"
        )


def _load_device_key(context: ssl.SSLContext, cert_file: str, provider_uri: str) -> None:
    key_file = _PRIVATE.write(".key.pem", uri_pem(provider_uri))
    try:
        context.load_cert_chain(cert_file, key_file)
    except ssl.SSLError as exc:
        # OpenSSL drops a certificate that does not match the key, then reports "no certificate assigned"
        if exc.reason in ("KEY_VALUES_MISMATCH", "NO_CERTIFICATE_ASSIGNED"):
            raise TlsCertificateError(
                f"the certificate in {cert_file} is not for the key {provider_uri}"
            ) from exc
        raise TlsCertificateError(
            f"OpenSSL cannot use {cert_file} with the key {provider_uri}: {exc}"
        ) from exc
    except OSError as exc:
        raise TlsKeyNotFound(
            f"OpenSSL cannot load the key {provider_uri} through pkcs11-provider: {exc}"
        ) from exc
    finally:
        _remove_quietly(key_file)
