"""The few OpenSSL 3 calls that Python's ``ssl`` module does not expose, made through ctypes.

They must reach the *same* libcrypto that ``_ssl`` links (the system ``libcrypto.so.3``): a provider loaded
into any other copy of OpenSSL (``cryptography`` bundles its own) would be invisible to ``ssl``. Importing
``ssl`` first loads that library into the process; ``dlopen("libcrypto.so.3")`` then returns the same
handle, and the version check below makes a mismatch an error instead of a silent no-op.

Nothing here knows about PKCS#11: it loads a configuration file, asks whether a provider is active, drains
the error queue and counts the private keys a store URI yields.
"""

from __future__ import annotations

import ctypes
import os
import ssl
import threading
from dataclasses import dataclass
from functools import cache

_LIBCRYPTO_SONAME = "libcrypto.so.3"
_OPENSSL_INFO_MODULES_DIR = 1003  # crypto.h: where OpenSSL looks for providers by default
_OSSL_STORE_INFO_PKEY = 4  # store.h: the store item is a private key
_MAX_STORE_ITEMS = 10_000  # a bound on the load loop, in case a store never reports its end

_store_lock = threading.Lock()


class OpenSSLUnavailable(RuntimeError):
    """Python's ``ssl`` module is not linked against a loadable OpenSSL 3 ``libcrypto.so.3``.

    Run cmc-agent with a Python whose ``ssl.OPENSSL_VERSION`` reports OpenSSL 3 (the system Python or one
    built against the system OpenSSL).
    """

    user_facing = True


@dataclass(frozen=True)
class OpenSSLError:
    """One entry of OpenSSL's thread-local error queue, already turned into text."""

    library: str
    reason: str
    reason_code: int
    data: str

    def __str__(self) -> str:
        parts = [p for p in (self.library, self.reason, self.data) if p]
        return ": ".join(parts) or f"error {self.reason_code:#x}"


def _bind(lib: ctypes.CDLL, name: str, restype: object, *argtypes: object) -> None:
    function = getattr(lib, name)
    function.restype = restype
    function.argtypes = list(argtypes)


@cache
def libcrypto() -> ctypes.CDLL:
    """The libcrypto that ``_ssl`` uses, with the prototypes this module calls."""
    try:
        lib = ctypes.CDLL(_LIBCRYPTO_SONAME)
    except OSError as exc:
        raise OpenSSLUnavailable(f"cannot load {_LIBCRYPTO_SONAME}: {exc}") from exc
    vp, cp, ci, ul = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_ulong
    _bind(lib, "OpenSSL_version_num", ul)
    if lib.OpenSSL_version_num() != ssl.OPENSSL_VERSION_NUMBER:
        raise OpenSSLUnavailable(
            f"{_LIBCRYPTO_SONAME} is not the OpenSSL that Python's ssl module uses ({ssl.OPENSSL_VERSION})"
        )
    _bind(lib, "OPENSSL_info", cp, ci)
    _bind(lib, "OSSL_LIB_CTX_load_config", ci, vp, cp)
    _bind(lib, "OSSL_PROVIDER_available", ci, vp, cp)
    pcp, pci = ctypes.POINTER(cp), ctypes.POINTER(ci)
    _bind(lib, "ERR_get_error_all", ul, pcp, pci, pcp, pcp, pci)
    _bind(lib, "ERR_lib_error_string", cp, ul)
    _bind(lib, "ERR_reason_error_string", cp, ul)
    _bind(lib, "ERR_clear_error", None)
    _bind(lib, "UI_null", vp)
    _bind(lib, "OSSL_STORE_open_ex", vp, cp, vp, cp, vp, vp, vp, vp, vp)
    _bind(lib, "OSSL_STORE_expect", ci, vp, ci)
    _bind(lib, "OSSL_STORE_load", vp, vp)
    _bind(lib, "OSSL_STORE_eof", ci, vp)
    _bind(lib, "OSSL_STORE_error", ci, vp)
    _bind(lib, "OSSL_STORE_close", ci, vp)
    _bind(lib, "OSSL_STORE_INFO_get_type", ci, vp)
    _bind(lib, "OSSL_STORE_INFO_free", None, vp)
    return lib


def modules_dir() -> str:
    """Where this OpenSSL loads providers from: ``$OPENSSL_MODULES`` if set, else its built-in directory."""
    override = os.environ.get("OPENSSL_MODULES")
    if override:
        return override
    built_in = libcrypto().OPENSSL_info(_OPENSSL_INFO_MODULES_DIR)
    return os.fsdecode(built_in) if built_in else ""


def drain_errors() -> list[OpenSSLError]:
    """Take every entry off this thread's error queue (oldest first), so the next call starts clean."""
    lib = libcrypto()
    errors: list[OpenSSLError] = []
    file, func, data = ctypes.c_char_p(), ctypes.c_char_p(), ctypes.c_char_p()
    line, flags = ctypes.c_int(), ctypes.c_int()
    while True:
        code = lib.ERR_get_error_all(
            ctypes.byref(file),
            ctypes.byref(line),
            ctypes.byref(func),
            ctypes.byref(data),
            ctypes.byref(flags),
        )
        if not code:
            return errors
        errors.append(
            OpenSSLError(
                library=_text(lib.ERR_lib_error_string(code)),
                reason=_text(lib.ERR_reason_error_string(code)),
                reason_code=code & 0x7FFFFF,
                data=_text(data.value),
            )
        )


def load_config(path: str) -> None:
    """Apply an OpenSSL configuration file to the default library context (what ``ssl`` uses).

    Raises ``RuntimeError`` carrying OpenSSL's own error text when a section fails, for instance when a
    provider's shared object cannot be loaded or its init function refuses.
    """
    lib = libcrypto()
    drain_errors()
    if lib.OSSL_LIB_CTX_load_config(None, os.fsencode(path)) != 1:
        details = "; ".join(str(e) for e in drain_errors()) or "no details from OpenSSL"
        raise RuntimeError(details)


def provider_available(name: str) -> bool:
    """Whether a provider of that name is active in the default library context."""
    return bool(libcrypto().OSSL_PROVIDER_available(None, name.encode()))


def count_private_keys(uri: str) -> int:
    """How many private keys the store behind ``uri`` yields (0 when it yields none or fails to open).

    Prompts are disabled (a null UI method): a PIN must already be configured, never asked on a terminal.
    """
    lib = libcrypto()
    with _store_lock:
        drain_errors()
        store = lib.OSSL_STORE_open_ex(uri.encode(), None, None, lib.UI_null(), None, None, None, None)
        if not store:
            drain_errors()
            return 0
        found = 0
        try:
            lib.OSSL_STORE_expect(store, _OSSL_STORE_INFO_PKEY)
            for _ in range(_MAX_STORE_ITEMS):
                if lib.OSSL_STORE_eof(store):
                    break
                info = lib.OSSL_STORE_load(store)
                if not info:
                    if lib.OSSL_STORE_error(store):
                        break
                    continue
                if lib.OSSL_STORE_INFO_get_type(info) == _OSSL_STORE_INFO_PKEY:
                    found += 1
                lib.OSSL_STORE_INFO_free(info)
        finally:
            lib.OSSL_STORE_close(store)
            drain_errors()
        return found


def _text(value: bytes | None) -> str:
    return value.decode("utf-8", "replace") if value else ""
