"""The state file of a resumable enrollment, and the lock that keeps two runs from interleaving.

An enrollment spans a key on a device, one or two trips to the CA and an import; any of these can be
interrupted. The state file records, after every step, what was asked (so a rerun with other arguments
is refused rather than mixed in), which key it is for (so no generated key is ever left without a
record), the step reached, the request id the CA gave, and the names of the files written next to it
(requests, responses, the issued chain). It is JSON, written atomically with mode 0600.

What it never holds: a PIN, a shared secret, or where either comes from (``pin-source=`` is removed
from URIs before they are recorded). A run that needs one is given it again, as any other command is.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, TypeVar

from agent.files import write_atomic

STATE_FORMAT = "cmc-agent-enroll/1"
STATE_SUFFIX = ".enroll.json"

Format = Literal["pkcs10", "crmf"]
Pop = Literal["signature", "none"]
AuthMode = Literal["agent", "signer", "shared-secret"]


class StateError(Exception):
    """The state file cannot be used: unreadable, damaged, locked by another run, or at odds with the
    command. The message names the file and what to do."""

    user_facing = True


class Step(StrEnum):
    """How far an enrollment got. Each value is recorded only once its step is complete."""

    KEY_READY = "key-ready"
    """The key is on its device and recorded; nothing was built yet."""
    TRIP1_BUILT = "trip1-built"
    TRIP1_SENT = "trip1-sent"
    """Posting began; if the run stops here, whether the CA got the request is unknown."""
    TRIP1_ANSWERED = "trip1-answered"
    """The CA's answer is saved (not yet read)."""
    POP_REQUIRED = "pop-required"
    """The CA asked for an EncryptedPOP answer; its request id is recorded."""
    TRIP2_BUILT = "trip2-built"
    TRIP2_SENT = "trip2-sent"
    TRIP2_ANSWERED = "trip2-answered"
    ISSUED = "issued"
    """A verified certificate for our key is saved; it is not on the token yet."""
    IMPORTED = "imported"
    """Done: the certificate is on the key's token."""
    FAILED = "failed"
    """The CA refused; a rerun starts a new request with the same key."""
    PENDING = "pending"
    """The CA holds the request for approval."""

    @property
    def trip(self) -> int | None:
        """1 or 2 for the steps of a trip, else None."""
        match = re.match(r"trip(\d)-", self.value)
        return int(match.group(1)) if match else None


@dataclass
class KeyRecord:
    """Which key the enrollment is for, and how it was named (to find it again on a rerun)."""

    uri: str
    key_id: str
    """CKA_ID in hex: what identifies the key whatever URI spelling names it."""
    label: str | None = None
    key_type: str | None = None
    generated: bool = False
    token: str | None = None
    """The token URI given for generation (no PIN attributes)."""
    nssdb: str | None = None


@dataclass
class AuthRecord:
    """Who vouches for the request."""

    mode: AuthMode
    key: str | None = None
    """Agent or signer key URI, as given (no PIN attributes)."""
    cert: str | None = None
    cert_sha256: str | None = None
    """Fingerprint of the agent's or signer's certificate: the identity, whatever file holds it."""
    identification: str | None = None
    pop_link_witness: bool = False


@dataclass
class RequestSpec:
    """What is asked of the CA. A rerun must ask the same (see :meth:`contradictions`)."""

    subject: str
    url: str
    ca_cert: str
    auth: AuthRecord
    san: list[str] = field(default_factory=list)
    format: Format = "pkcs10"
    pop: Pop = "signature"
    archive_to: str | None = None
    oaep: bool = False
    cert_label: str | None = None


@dataclass
class TripRecord:
    """One request sent to the CA and what came back."""

    request: str
    """File name next to the state file."""
    sender_nonce: str
    """Hex; the CA must echo it before we act on its answer."""
    response: str | None = None
    outcome: str | None = None
    sent_at: str | None = None
    """When posting began (ISO 8601, UTC): a lost answer is looked for at the CA from then on."""


@dataclass
class CertificateRecord:
    serial: int
    subject: str
    issuer: str
    chain: str
    """File name next to the state file: the issued certificate and its CA chain, PEM, leaf first."""
    label: str | None = None
    uri: str | None = None
    source: str = "cmc"
    """``cmc``: from the saved CMC answer; ``ca-rest``: asked of the CA after the answer was lost (the
    chain file is then what was checked, and is checked again before the import)."""


@dataclass
class EnrollState:
    """Everything a rerun needs, and nothing secret."""

    step: Step
    key: KeyRecord
    spec: RequestSpec
    trips: list[TripRecord] = field(default_factory=list)
    request_id: int | None = None
    certificate: CertificateRecord | None = None
    message: str | None = None
    """The CA's words for a failure or a pending request."""
    attempts: int = 1
    updated: str = ""

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["step"] = self.step.value
        return {"format": STATE_FORMAT, **document}

    @classmethod
    def from_json(cls, document: Any, where: Path) -> EnrollState:
        """Parse a state document, naming the file and the field when it is damaged."""
        try:
            if not isinstance(document, dict) or document.get("format") != STATE_FORMAT:
                raise ValueError(f"not a {STATE_FORMAT} state file")
            spec = _record(RequestSpec, document["spec"], auth=_record(AuthRecord, document["spec"]["auth"]))
            certificate = document.get("certificate")
            return cls(
                step=Step(document["step"]),
                key=_record(KeyRecord, document["key"]),
                spec=spec,
                trips=[_record(TripRecord, trip) for trip in document.get("trips") or []],
                request_id=_optional(document.get("request_id"), int),
                certificate=None if certificate is None else _record(CertificateRecord, certificate),
                message=_optional(document.get("message"), str),
                attempts=int(document.get("attempts", 1)),
                updated=str(document.get("updated", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError(
                f"the state file {where} is damaged ({type(exc).__name__}: {exc}); remove it to start over "
                "(the key stays on its device and is found again by its label or URI)"
            ) from None


_Record = TypeVar("_Record")


def _record(kind: type[_Record], values: Any, **overrides: Any) -> _Record:
    if not isinstance(values, dict):
        raise TypeError(f"{kind.__name__} is not an object")
    return kind(**{**values, **overrides})


def _optional(value: Any, kind: type) -> Any:
    if value is not None and not isinstance(value, kind):
        raise TypeError(f"expected {kind.__name__}, found {type(value).__name__}")
    return value


def default_state_name(key_name: str) -> str:
    """``<label or key id>.enroll.json``, with characters unsafe in file names replaced."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", key_name).lstrip(".") or "key"
    return safe + STATE_SUFFIX


class StateFile:
    """A state file and the files written next to it (``<stem>.trip1.req`` and so on)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        name = path.name
        for suffix in (STATE_SUFFIX, ".json"):
            if name.endswith(suffix) and len(name) > len(suffix):
                name = name[: -len(suffix)]
                break
        self.stem = name

    @property
    def directory(self) -> Path:
        return self.path.parent

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> EnrollState | None:
        """The recorded state, or None when there is no state file yet."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise StateError(f"cannot read the state file {self.path}: {exc}") from None
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise StateError(
                f"the state file {self.path} is not JSON ({exc}); remove it to start over"
            ) from None
        return EnrollState.from_json(document, self.path)

    def save(self, state: EnrollState) -> None:
        """Record ``state`` atomically (a reader sees the old or the new state, never half), mode 0600."""
        state.updated = datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()
        text = json.dumps(state.to_json(), indent=2, sort_keys=False) + "\n"
        write_atomic(self.path, text, mode=0o600)

    def sibling(self, suffix: str) -> Path:
        return self.directory / f"{self.stem}.{suffix}"

    def write_sibling(self, suffix: str, data: bytes | str, *, mode: int = 0o600) -> str:
        """Write ``<stem>.<suffix>`` next to the state file; return the name to record."""
        path = write_atomic(self.sibling(suffix), data, mode=mode)
        return path.name

    def read_sibling(self, name: str) -> bytes:
        path = self.path_of(name)
        try:
            return path.read_bytes()
        except OSError as exc:
            raise StateError(
                f"{path}, recorded in {self.path}, cannot be read ({exc.strerror}); remove the state file "
                "to start over"
            ) from None

    def path_of(self, name: str) -> Path:
        """A file recorded in the state: a plain name in the state file's directory, nothing else (an
        edited state file must not make a run read, post or copy a file from elsewhere)."""
        if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\0" in name:
            raise StateError(
                f"{self.path} records {name!r} where the name of a file next to it belongs; remove the "
                "state file to start over"
            )
        return self.directory / name

    @contextlib.contextmanager
    def locked(self) -> Iterator[StateFile]:
        """Hold ``<state>.lock`` (``fcntl.flock``) for the whole run; refuse at once if another run has it.

        The lock is a separate file because the state file itself is replaced on every save. It is removed
        when the run ends; a run that opened it just before that checks, once it holds the lock, that the
        path still names the file it locked, and tries again otherwise.
        """
        lock_path = self.path.with_name(self.path.name + ".lock")
        for _ in range(20):
            try:
                fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                raise StateError(f"cannot create the lock file {lock_path}: {exc.strerror}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise StateError(
                        f"another cmc-agent enroll is working on {self.path} (it holds {lock_path}); "
                        "wait for it to finish"
                    ) from None
                raise StateError(f"cannot lock {lock_path}: {exc.strerror}") from None
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(lock_path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the previous holder removed it as we opened it: lock the new one
        else:
            raise StateError(f"cannot get a stable lock on {lock_path}")
        try:
            yield self
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lock_path)
            os.close(fd)
