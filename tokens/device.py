"""Opening a token: module, slot, login once, one session per thread.

Login state belongs to the token, not to a session: a second ``C_Login`` answers "already logged in", and
closing the last session logs out. So an :class:`OpenToken` keeps one logged-in session for its lifetime
and hands every thread its own extra session, which shares that login. Tokens are cached per process
by (module, slot), so any number of keys on one token cost one login.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pkcs11
from pkcs11 import exceptions as p11x

from tokens.errors import (
    DeviceRemoved,
    OperationFailed,
    PinIncorrect,
    PinLocked,
    TokenError,
    TokenNotFound,
)
from tokens.modules import DEFAULT_SEARCH, ModuleSpec, find_module, load_module
from tokens.nssdb import INTERNAL_TOKEN_NAMES, NSS_USER_TOKEN, NssDatabase
from tokens.pins import PROTECTED_AUTHENTICATION_PATH, PinSource, read_pin
from tokens.uri import Pkcs11Uri, parse_uri

log = logging.getLogger(__name__)

CKF_PROTECTED_AUTHENTICATION_PATH = 0x100
CKF_USER_PIN_FINAL_TRY = 0x20000
CKF_USER_PIN_LOCKED = 0x40000
CKF_LOGIN_REQUIRED = 0x4
CKF_TOKEN_INITIALIZED = 0x400


def translate(exc: Exception, what: str, token_label: str = "") -> TokenError:
    """A python-pkcs11 error as one of ours, with ``what`` we were doing in the message."""
    where = f" on token {token_label!r}" if token_label else ""
    if isinstance(exc, TokenError):
        return exc
    if isinstance(exc, p11x.PinIncorrect | p11x.PinInvalid | p11x.PinLenRange):
        return PinIncorrect(f"wrong PIN{where}; check --pin-file/--pin-env (failed while {what})")
    if isinstance(exc, p11x.PinLocked):
        return PinLocked(f"the user PIN{where} is locked; the security officer must reset it")
    if isinstance(exc, p11x.PinExpired):
        return PinLocked(f"the user PIN{where} has expired; set a new one with the device's own tool")
    if isinstance(exc, p11x.DeviceRemoved | p11x.TokenNotPresent | p11x.DeviceError | p11x.SessionClosed):
        return DeviceRemoved(f"the device went away{where} while {what}: {type(exc).__name__}")
    return OperationFailed(f"{what}{where} failed: {type(exc).__name__} {exc}".rstrip())


@dataclass(frozen=True)
class TokenInfo:
    """What ``token list`` shows of one slot."""

    module_path: str
    slot_id: int
    slot_description: str
    label: str
    manufacturer: str
    model: str
    serial: str
    flags: int

    @property
    def initialized(self) -> bool:
        """False for an empty slot such as SoftHSM2's spare one: ``softhsm2-util --init-token`` it first."""
        return bool(self.flags & CKF_TOKEN_INITIALIZED)

    @property
    def uri(self) -> Pkcs11Uri:
        return Pkcs11Uri(
            token=self.label,
            manufacturer=self.manufacturer,
            serial=self.serial,
            model=self.model,
        )


def _token_info(module_path: str, slot: Any, token: Any) -> TokenInfo:
    return TokenInfo(
        module_path=module_path,
        slot_id=int(slot.slot_id),
        slot_description=str(slot.slot_description).strip(),
        label=str(token.label).strip(),
        manufacturer=str(token.manufacturer_id).strip(),
        model=str(token.model).strip(),
        serial=str(token.serial.decode() if isinstance(token.serial, bytes) else token.serial).strip(),
        flags=int(token.flags),
    )


def _matches(uri: Pkcs11Uri, lib: Any, info: TokenInfo) -> bool:
    checks = (
        (uri.token, info.label),
        (uri.manufacturer, info.manufacturer),
        (uri.serial, info.serial),
        (uri.model, info.model),
        (uri.slot_description, info.slot_description),
        (uri.library_manufacturer, str(lib.manufacturer_id).strip()),
        (uri.library_description, str(lib.library_description).strip()),
    )
    if any(wanted is not None and wanted != actual for wanted, actual in checks):
        return False
    return uri.slot_id is None or uri.slot_id == info.slot_id


def iter_slots(spec: ModuleSpec) -> Iterator[tuple[Any, Any, TokenInfo]]:
    """Every slot with a token in the module: (slot, token, info)."""
    lib = load_module(spec)
    try:
        slots = lib.get_slots(token_present=True)
    except p11x.PKCS11Error as exc:
        raise translate(exc, f"listing slots of {spec.path}") from None
    for slot in slots:
        try:
            token = slot.get_token()
        except p11x.PKCS11Error:
            continue
        yield slot, token, _token_info(spec.path, slot, token)


def candidate_modules(uri: Pkcs11Uri, nssdb: NssDatabase | None) -> tuple[list[ModuleSpec], bool]:
    """Modules to search for the URI's token, and whether they were found by searching (not named)."""
    if uri.module_path:
        return [ModuleSpec(uri.module_path, _nss_args_for(uri.module_path, nssdb))], False
    if uri.module_name:
        path = find_module(uri.module_name)
        if path is None:
            from tokens.errors import ModuleNotFound

            raise ModuleNotFound(
                f"no PKCS#11 module named {uri.module_name!r} is installed; use module-path="
            )
        return [ModuleSpec(path, _nss_args_for(path, nssdb))], False
    if nssdb is not None:
        specs = [nssdb.softokn_spec()]
        specs += [ModuleSpec(m.library) for m in nssdb.registered_modules()]
        return specs, False
    found = [path for name in DEFAULT_SEARCH if (path := find_module(name))]
    return [ModuleSpec(path) for path in found], True


def _nss_args_for(path: str, nssdb: NssDatabase | None) -> bytes | None:
    return nssdb.init_string() if nssdb is not None and "softokn" in Path(path).name else None


class OpenToken:
    """A token in use: its module, slot, login, and per-thread sessions."""

    def __init__(self, lib: Any, slot: Any, token: Any, info: TokenInfo, found_by_search: bool) -> None:
        self.lib = lib
        self.slot = slot
        self.token = token
        self.info = info
        self.found_by_search = found_by_search
        self._login_lock = threading.Lock()
        self._login_session: Any = None
        self._pins: PinSource | None = None
        self._login_uri: Pkcs11Uri | None = None
        self._local = threading.local()
        self._mechanisms: frozenset[Any] | None = None
        self._mechanisms_with: dict[Any, frozenset[Any]] = {}
        self._mechanism_info: dict[Any, Any] = {}

    @property
    def label(self) -> str:
        return self.info.label

    @property
    def uri(self) -> Pkcs11Uri:
        return self.info.uri.with_(module_path=self.info.module_path)

    @property
    def logged_in(self) -> bool:
        return self._login_session is not None

    @property
    def needs_login(self) -> bool:
        return bool(self.info.flags & CKF_LOGIN_REQUIRED)

    def login(self, pins: PinSource, uri: Pkcs11Uri | None = None) -> None:
        """Log in once for the whole process; later calls do nothing."""
        with self._login_lock:
            if self._login_session is not None:
                return
            self._pins, self._login_uri = pins, uri
            if self.info.flags & CKF_USER_PIN_LOCKED:
                raise PinLocked(
                    f"the user PIN of token {self.label!r} is locked; the security officer must reset it"
                )
            if not self.needs_login:
                self._login_session = self._open(None)
                return
            protected = bool(self.info.flags & CKF_PROTECTED_AUTHENTICATION_PATH)
            pin = read_pin(pins, uri, self.label, protected)
            if pin is not PROTECTED_AUTHENTICATION_PATH and self._current_flags() & CKF_USER_PIN_FINAL_TRY:
                raise PinLocked(
                    f"token {self.label!r} allows one more PIN attempt and a wrong one would lock it; check "
                    "the PIN with the device's own tool first (a correct login resets the counter)"
                )
            user_pin = pkcs11.PROTECTED_AUTH if pin is PROTECTED_AUTHENTICATION_PATH else pin
            try:
                self._login_session = self.token.open(rw=True, user_pin=user_pin)
            except p11x.UserAlreadyLoggedIn:
                # Another OpenToken in this process (or a provider) already logged this token in.
                self._login_session = self._open(None)
            except p11x.PKCS11Error as exc:
                raise translate(exc, "logging in", self.label) from None

    def context_pin(self) -> str:
        """The PIN again, for a key that wants a login before every use (``CKA_ALWAYS_AUTHENTICATE``,
        as PIV signature keys do). Read afresh from the same source each time, never kept."""
        protected = bool(self.info.flags & CKF_PROTECTED_AUTHENTICATION_PATH)
        pin = read_pin(self._pins or PinSource(), self._login_uri, self.label, protected)
        if pin is PROTECTED_AUTHENTICATION_PATH:
            from tokens.errors import MechanismNotSupported

            raise MechanismNotSupported(
                f"a key on {self.label!r} needs a login before each use, which the PIN pad path does not "
                "offer here; give the PIN with --pin-file or --pin-env"
            )
        return str(pin)

    def _current_flags(self) -> int:
        """The token's flags now (the PIN counters change after the token was first listed)."""
        try:
            return int(self.slot.get_token().flags)
        except p11x.PKCS11Error:
            return self.info.flags

    def _open(self, user_pin: Any) -> Any:
        try:
            return self.token.open(rw=True, user_pin=user_pin)
        except p11x.PKCS11Error as exc:
            raise translate(exc, "opening a session", self.label) from None

    def session(self) -> Any:
        """This thread's own session. It shares the token's login, which the login session keeps alive."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._open(None)
            self._local.session = session
        return session

    def mechanisms(self) -> frozenset[Any]:
        """The token's mechanism list (cached)."""
        if self._mechanisms is None:
            try:
                self._mechanisms = frozenset(self.slot.get_mechanisms())
            except p11x.PKCS11Error as exc:
                raise translate(exc, "reading the mechanism list", self.label) from None
        return self._mechanisms

    def mechanisms_with(self, flag: pkcs11.MechanismFlag) -> frozenset[Any]:
        """The listed mechanisms whose info carries ``flag`` (``UNWRAP``, ``DECRYPT``...), cached per flag.

        Listed is not usable for everything: tpm2-pkcs11 lists ``CKM_RSA_PKCS`` for decryption and
        signing, yet has no ``C_UnwrapKey``.
        """
        found = self._mechanisms_with.get(flag)
        if found is None:
            found = frozenset(m for m in self.mechanisms() if self._flags_of(m) & flag)
            self._mechanisms_with[flag] = found
        return found

    def _flags_of(self, mechanism: Any) -> int:
        try:
            return int(self.mechanism_info(mechanism).flags)
        except OperationFailed:
            return 0  # a vendor mechanism the module lists but will not describe: unusable here

    def mechanism_info(self, mechanism: Any) -> Any:
        """``C_GetMechanismInfo``: the mechanism's flags and key sizes (cached)."""
        info = self._mechanism_info.get(mechanism)
        if info is None:
            try:
                info = self.slot.get_mechanism_info(mechanism)
            except p11x.PKCS11Error as exc:
                raise translate(exc, f"reading what {mechanism!s} can do", self.label) from None
            self._mechanism_info[mechanism] = info
        return info


_open_tokens: dict[tuple[str, int], OpenToken] = {}
_open_lock = threading.Lock()


def open_token(
    uri: str | Pkcs11Uri,
    *,
    nssdb: str | Path | NssDatabase | None = None,
    pins: PinSource | None = None,
    login: bool = True,
    module: ModuleSpec | None = None,
) -> OpenToken:
    """Find the token the URI names (searching the usual modules when it names none) and log in.

    ``module`` overrides where to look: one module with its init arguments (what a TLS key names).
    """
    parsed = parse_uri(uri)
    database = NssDatabase.open(nssdb) if nssdb is not None and not isinstance(nssdb, NssDatabase) else nssdb
    assert database is None or isinstance(database, NssDatabase)
    if database is not None and (parsed.token is None or parsed.token.lower() in INTERNAL_TOKEN_NAMES):
        parsed = parsed.with_(token=NSS_USER_TOKEN)
    specs, searched = ([module], False) if module is not None else candidate_modules(parsed, database)
    seen: list[str] = []
    match: tuple[ModuleSpec, Any, Any, TokenInfo] | None = None
    for spec in specs:
        for slot, token, info in iter_slots(spec):
            seen.append(f"{info.label!r} ({Path(spec.path).name})")
            if _matches(parsed, load_module(spec), info):
                if match is not None:
                    from tokens.errors import AmbiguousObject

                    raise AmbiguousObject(
                        f"more than one token matches {parsed.without_secrets()}: "
                        f"{match[3].label!r} and {info.label!r}; add serial= to the URI"
                    )
                match = (spec, slot, token, info)
        if match is not None:
            break
    if match is None:
        found = ", ".join(seen) if seen else "none (is the device connected?)"
        raise TokenNotFound(f"no token matches {parsed.token_part.without_secrets()}; tokens found: {found}")
    spec, slot, token, info = match
    key = (spec.path, info.slot_id)
    with _open_lock:
        opened = _open_tokens.get(key)
        if opened is None:
            opened = OpenToken(load_module(spec), slot, token, info, searched)
            _open_tokens[key] = opened
    if searched:
        log.info("using PKCS#11 module %s (found by search)", spec.path)
    if login:
        opened.login(pins or PinSource(), parsed)
    return opened


def list_tokens(nssdb: str | Path | None = None, module_paths: tuple[str, ...] = ()) -> list[TokenInfo]:
    """Every token in the usual modules (or the given ones, or an NSS database's)."""
    database = NssDatabase.open(nssdb) if nssdb is not None else None
    if module_paths:
        specs = [ModuleSpec(p, _nss_args_for(p, database)) for p in module_paths]
    else:
        specs, _ = candidate_modules(Pkcs11Uri(), database)
    infos: list[TokenInfo] = []
    for spec in specs:
        infos.extend(info for _, _, info in iter_slots(spec))
    return infos
