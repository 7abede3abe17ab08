"""Loading PKCS#11 modules, initialised the way concurrent use and NSS need.

python-pkcs11 calls ``C_Initialize(NULL)``. For SoftHSM2 that means "no locking", and two threads signing
at once crash the process; NSS softokn refuses it outright because it needs its database location.
So we call ``C_Initialize`` ourselves, through ctypes on the same shared object, with
``CKF_OS_LOCKING_OK`` and (for softokn) the NSS init string in ``pReserved``, before the binding uses the
module. ``dlopen`` of the same path returns the same handle, so the binding then finds it initialised.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokens.errors import ModuleNotFound

log = logging.getLogger(__name__)

CKR_OK = 0x0
CKR_CRYPTOKI_ALREADY_INITIALIZED = 0x191
CKF_OS_LOCKING_OK = 0x2

_LIB_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib")
# Well-known modules, by the short names users give in ``module-name=``.
KNOWN_MODULES: dict[str, tuple[str, ...]] = {
    "softhsm2": ("softhsm/libsofthsm2.so", "libsofthsm2.so"),
    "opensc": ("opensc-pkcs11.so", "pkcs11/opensc-pkcs11.so"),
    "p11-kit-proxy": ("p11-kit-proxy.so", "pkcs11/p11-kit-proxy.so"),
    "softokn3": ("libsoftokn3.so", "nss/libsoftokn3.so"),
}
# Tried in this order when a URI names no module: SoftHSM2, OpenSC, then p11-kit's proxy.
DEFAULT_SEARCH = ("softhsm2", "opensc", "p11-kit-proxy")


class _InitArgs(ctypes.Structure):
    """CK_C_INITIALIZE_ARGS."""

    _fields_ = [
        ("CreateMutex", ctypes.c_void_p),
        ("DestroyMutex", ctypes.c_void_p),
        ("LockMutex", ctypes.c_void_p),
        ("UnlockMutex", ctypes.c_void_p),
        ("flags", ctypes.c_ulong),
        ("pReserved", ctypes.c_void_p),
    ]


def find_module(name: str) -> str | None:
    """The path of a well-known module (``softhsm2``, ``opensc``, ...) or of ``lib<name>.so``."""
    candidates = KNOWN_MODULES.get(name.lower(), (name, f"lib{name}.so", f"{name}.so"))
    for directory in _LIB_DIRS:
        for candidate in candidates:
            path = os.path.join(directory, candidate)
            if os.path.isfile(path):
                return path
    return None


def c_initialize(path: str, reserved: bytes | None) -> None:
    """``C_Initialize`` with OS locking (and ``pReserved``), accepting "already initialised"."""
    try:
        library = ctypes.CDLL(path)
    except OSError as exc:
        raise ModuleNotFound(f"cannot load PKCS#11 module {path}: {exc}") from None
    function_list = ctypes.c_void_p()
    rv = library.C_GetFunctionList(ctypes.byref(function_list))
    if rv != CKR_OK or not function_list.value:
        raise ModuleNotFound(f"{path} is not a PKCS#11 module (C_GetFunctionList returned {rv:#x})")
    # CK_FUNCTION_LIST starts with a 2-byte CK_VERSION padded to pointer alignment, then C_Initialize.
    initialize_ptr = ctypes.c_void_p.from_address(function_list.value + ctypes.sizeof(ctypes.c_void_p)).value
    if not initialize_ptr:
        raise ModuleNotFound(f"{path} has no C_Initialize in its function list")
    initialize = ctypes.CFUNCTYPE(ctypes.c_ulong, ctypes.c_void_p)(initialize_ptr)
    reserved_buffer = ctypes.create_string_buffer(reserved) if reserved is not None else None
    reserved_ptr = (
        ctypes.cast(reserved_buffer, ctypes.c_void_p).value if reserved_buffer is not None else None
    )
    args = _InitArgs(None, None, None, None, CKF_OS_LOCKING_OK, reserved_ptr)
    rv = initialize(ctypes.byref(args))
    if rv not in (CKR_OK, CKR_CRYPTOKI_ALREADY_INITIALIZED):
        hint = " (an NSS database needs --nssdb DIR)" if reserved is None and "softokn" in path else ""
        raise ModuleNotFound(f"C_Initialize of {path} failed with {rv:#x}{hint}")


@dataclass(frozen=True)
class ModuleSpec:
    """Which shared object to load, and the ``pReserved`` init string it needs (NSS), if any."""

    path: str
    init_reserved: bytes | None = None


_loaded: dict[str, Any] = {}
_lock = threading.Lock()


def load_module(spec: ModuleSpec) -> Any:
    """The python-pkcs11 ``lib`` for ``spec``, initialised by us first. Loaded once per process."""
    import pkcs11
    from pkcs11 import _pkcs11

    path = os.path.realpath(spec.path)
    with _lock:
        existing = _loaded.get(path)
        if existing is not None:
            if existing[0] != spec.init_reserved:
                raise ModuleNotFound(
                    f"{path} is already loaded with other init arguments; one NSS database per process"
                )
            return existing[1]
        if not Path(path).is_file():
            raise ModuleNotFound(f"PKCS#11 module {spec.path} does not exist; install it or fix module-path")

        reserved = spec.init_reserved
        # p11-kit's proxy gives every C_GetFunctionList caller its own state, so initialising through our
        # own function list would not reach the binding's; p11-kit itself initialises the modules behind
        # it with OS locking, so the binding's plain C_Initialize is right there.
        proxied = "p11-kit" in Path(path).name

        class _PreinitialisedLib(_pkcs11.lib):
            """python-pkcs11's lib, but C_Initialize goes through :func:`c_initialize`."""

            def initialize(self) -> None:
                if proxied:
                    if not self.initialized:
                        super().initialize()
                    return
                c_initialize(path, reserved)

        try:
            lib = _PreinitialisedLib(path)
        except pkcs11.exceptions.PKCS11Error as exc:  # not a shared object, or no C_GetFunctionList
            raise ModuleNotFound(f"cannot load PKCS#11 module {spec.path}: {exc}") from None
        pkcs11._loaded[path] = lib  # later pkcs11.lib(path) calls get this instance
        _loaded[path] = (reserved, lib)
        log.info("loaded PKCS#11 module %s (%s)", path, lib.library_description)
        return lib
