"""The CA's database: one SQLite file holding requests, certificates, agents, shared tokens and archived keys.

Dogtag keeps these in LDAP; the double keeps them in SQLite so that a test can read them and a restart
between the two EncryptedPOP trips loses nothing. Every write commits before the HTTP answer is sent.

Concurrency: each thread gets its own connection (SQLite connections must not be shared between
threads), the database runs in WAL mode so readers never block the writer, and every write is one short
``BEGIN IMMEDIATE`` transaction, so two requests can never be given the same request id or serial.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DATABASE_FILE_NAME = "localca.db"

AGENTS_TABLE = """
CREATE TABLE IF NOT EXISTS agents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    serial INTEGER NOT NULL,
    issuer TEXT NOT NULL DEFAULT '',
    subject TEXT NOT NULL,
    description TEXT NOT NULL,
    in_agent_group INTEGER NOT NULL DEFAULT 1,
    added TEXT NOT NULL,
    der BLOB NOT NULL UNIQUE
);
"""

SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    profile_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    authenticated_name TEXT,
    subject TEXT,
    body BLOB,
    result TEXT,
    cert_serial INTEGER,
    ext TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS certs (
    serial INTEGER PRIMARY KEY,
    subject TEXT NOT NULL,
    issuer TEXT NOT NULL,
    not_before TEXT NOT NULL,
    not_after TEXT NOT NULL,
    public_key BLOB NOT NULL,
    der BLOB NOT NULL,
    status TEXT NOT NULL DEFAULT 'VALID',
    profile_id TEXT,
    request_id INTEGER,
    revoked_at TEXT,
    revocation_reason INTEGER,
    invalidity_date TEXT,
    revocation_comment TEXT,
    rev_shr_tok TEXT
);
CREATE INDEX IF NOT EXISTS certs_by_public_key ON certs (public_key);
CREATE TABLE IF NOT EXISTS shared_tokens (
    uid TEXT PRIMARY KEY,
    entry_dn TEXT NOT NULL,
    token TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS archived_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created TEXT NOT NULL,
    request_id INTEGER,
    cert_serial INTEGER,
    owner TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    size TEXT NOT NULL,
    public_key BLOB NOT NULL,
    nonce BLOB NOT NULL,
    wrapped_key BLOB NOT NULL
);
"""
SCHEMA += AGENTS_TABLE

FIRST_SERIAL = 1


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _timestamp(moment: datetime | None = None) -> str:
    return (moment or utc_now()).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class RequestRecord:
    """One request, as Dogtag's request repository holds it; ``ext`` is Dogtag's extData."""

    request_id: int
    created: str
    updated: str
    profile_id: str
    kind: str
    status: str
    authenticated_name: str | None
    subject: str | None
    body: bytes | None
    result: str | None
    cert_serial: int | None
    ext: dict[str, Any] = field(default_factory=dict)


@dataclass
class CertRecord:
    serial: int
    subject: str
    issuer: str
    not_before: str
    not_after: str
    public_key: bytes
    der: bytes
    status: str
    profile_id: str | None
    request_id: int | None
    revoked_at: str | None
    revocation_reason: int | None
    invalidity_date: str | None
    revocation_comment: str | None
    rev_shr_tok: str | None


@dataclass
class AgentRecord:
    """A CA user identified by its certificate; ``in_agent_group`` = member of Certificate Manager Agents.

    ``der`` is the registered certificate itself: a request or TLS client certificate is this user only if
    it is these bytes (Dogtag's text match on ``version;serial;issuer;subject`` lets a forged certificate
    with the same fields in). ``issuer`` is this CA's name, or another CA's for ``agent add --cert``.
    """

    agent_id: int
    serial: int
    issuer: str
    subject: str
    description: str
    in_agent_group: bool
    added: str
    der: bytes


@dataclass
class SharedTokenRecord:
    uid: str
    entry_dn: str
    token: str
    updated: str


@dataclass
class ArchivedKeyRecord:
    key_id: int
    created: str
    request_id: int | None
    cert_serial: int | None
    owner: str
    algorithm: str
    size: str
    public_key: bytes
    nonce: bytes
    wrapped_key: bytes


class Store:
    """Thread-safe access to the database file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._all_connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._connection().executescript(SCHEMA)
        self._upgrade_agents_table()

    # -- connections -------------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA busy_timeout=30000")
            self._local.connection = connection
            with self._connections_lock:
                self._all_connections.append(connection)
        return connection

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        connection = self._connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def release_thread_connection(self) -> None:
        """Close this thread's connection: a server thread calls it when its client goes away, so a
        long-running server does not keep one open file per connection it ever served."""
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            return
        self._local.connection = None
        with self._connections_lock:
            if connection in self._all_connections:
                self._all_connections.remove(connection)
        connection.close()

    def close(self) -> None:
        with self._connections_lock:
            for connection in self._all_connections:
                try:
                    connection.close()
                except sqlite3.ProgrammingError:
                    pass  # made by a thread that has ended: SQLite already refuses it
            self._all_connections.clear()
        self._local = threading.local()

    def _upgrade_agents_table(self) -> None:
        """A database made before agents were held by their certificate: keyed by serial, no ``der``.
        Its agents were all issued here, so their certificates are in ``certs`` under the same serial."""
        connection = self._connection()
        columns = {row["name"] for row in connection.execute("PRAGMA table_info(agents)")}
        if "der" in columns:
            return
        with self._write() as writer:
            writer.execute("ALTER TABLE agents RENAME TO agents_before_der")
            writer.execute(AGENTS_TABLE)
            writer.execute(
                "INSERT INTO agents (serial, issuer, subject, description, in_agent_group, added, der) "
                "SELECT old.serial, certs.issuer, old.subject, old.description, old.in_agent_group, "
                "old.added, certs.der FROM agents_before_der AS old JOIN certs ON certs.serial = old.serial"
            )
            writer.execute("DROP TABLE agents_before_der")

    # -- counters ----------------------------------------------------------------------------------

    def next_serial(self) -> int:
        """A certificate serial never handed out before (sequential, as Dogtag's default)."""
        with self._write() as connection:
            row = connection.execute("SELECT value FROM counters WHERE name = 'serial'").fetchone()
            value = FIRST_SERIAL if row is None else int(row["value"]) + 1
            connection.execute(
                "INSERT INTO counters (name, value) VALUES ('serial', ?) "
                "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (value,),
            )
            return value

    # -- requests ----------------------------------------------------------------------------------

    def create_request(
        self,
        *,
        profile_id: str,
        kind: str,
        body: bytes | None,
        authenticated_name: str | None = None,
        status: str = "begin",
        ext: Mapping[str, Any] | None = None,
    ) -> int:
        now = _timestamp()
        with self._write() as connection:
            cursor = connection.execute(
                "INSERT INTO requests (created, updated, profile_id, kind, status, authenticated_name, body, "
                "ext) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (now, now, profile_id, kind, status, authenticated_name, body, json.dumps(dict(ext or {}))),
            )
            request_id = cursor.lastrowid
        assert request_id is not None
        return request_id

    def update_request(
        self,
        request_id: int,
        *,
        status: str | None = None,
        result: str | None = None,
        subject: str | None = None,
        cert_serial: int | None = None,
        kind: str | None = None,
        ext_updates: Mapping[str, Any] | None = None,
    ) -> None:
        with self._write() as connection:
            row = connection.execute("SELECT ext FROM requests WHERE id = ?", (request_id,)).fetchone()
            if row is None:
                raise KeyError(request_id)
            ext = json.loads(row["ext"])
            ext.update(ext_updates or {})
            connection.execute(
                "UPDATE requests SET updated = ?, status = COALESCE(?, status), "
                "result = COALESCE(?, result), subject = COALESCE(?, subject), "
                "cert_serial = COALESCE(?, cert_serial), kind = COALESCE(?, kind), ext = ? WHERE id = ?",
                (_timestamp(), status, result, subject, cert_serial, kind, json.dumps(ext), request_id),
            )

    def get_request(self, request_id: int) -> RequestRecord | None:
        """The request, or None; an id that no SQLite key can hold (a client's, say) names none."""
        if not 0 < request_id < 2**63:
            return None
        row = self._connection().execute("SELECT * FROM requests WHERE id = ?", (request_id,)).fetchone()
        return None if row is None else _request_from_row(row)

    def list_requests(self) -> list[RequestRecord]:
        rows = self._connection().execute("SELECT * FROM requests ORDER BY id").fetchall()
        return [_request_from_row(row) for row in rows]

    # -- certificates ------------------------------------------------------------------------------

    def add_certificate(
        self,
        *,
        serial: int,
        subject: str,
        issuer: str,
        not_before: datetime,
        not_after: datetime,
        public_key: bytes,
        der: bytes,
        profile_id: str | None,
        request_id: int | None,
    ) -> None:
        with self._write() as connection:
            connection.execute(
                "INSERT INTO certs (serial, subject, issuer, not_before, not_after, public_key, der, "
                "profile_id, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    serial,
                    subject,
                    issuer,
                    _timestamp(not_before),
                    _timestamp(not_after),
                    public_key,
                    der,
                    profile_id,
                    request_id,
                ),
            )

    def get_certificate(self, serial: int) -> CertRecord | None:
        """The certificate record, or None; a serial that no SQLite key can hold names none."""
        if not 0 <= serial < 2**63:
            return None
        row = self._connection().execute("SELECT * FROM certs WHERE serial = ?", (serial,)).fetchone()
        return None if row is None else CertRecord(**dict(row))

    def list_certificates(self) -> list[CertRecord]:
        rows = self._connection().execute("SELECT * FROM certs ORDER BY serial").fetchall()
        return [CertRecord(**dict(row)) for row in rows]

    def certificates_with_public_key(self, public_key: bytes) -> list[CertRecord]:
        rows = (
            self._connection()
            .execute("SELECT * FROM certs WHERE public_key = ? ORDER BY serial", (public_key,))
            .fetchall()
        )
        return [CertRecord(**dict(row)) for row in rows]

    def revoke_certificate(
        self, serial: int, *, reason: int, invalidity_date: datetime | None, comment: str | None
    ) -> bool:
        """Mark a certificate revoked; False if it already was (Dogtag treats that as success)."""
        with self._write() as connection:
            cursor = connection.execute(
                "UPDATE certs SET status = 'REVOKED', revoked_at = ?, revocation_reason = ?, "
                "invalidity_date = ?, revocation_comment = ? WHERE serial = ? AND status != 'REVOKED'",
                (
                    _timestamp(),
                    reason,
                    _timestamp(invalidity_date) if invalidity_date else None,
                    comment,
                    serial,
                ),
            )
            return cursor.rowcount == 1

    def set_revocation_token(self, serial: int, token_b64: str) -> bool:
        """Store ``revShrTok`` in a certificate record (Dogtag: ``metaInfo: revShrTok:<base64>``)."""
        with self._write() as connection:
            cursor = connection.execute(
                "UPDATE certs SET rev_shr_tok = ? WHERE serial = ?", (token_b64, serial)
            )
            return cursor.rowcount == 1

    # -- agents ------------------------------------------------------------------------------------

    def add_agent(
        self,
        *,
        serial: int,
        issuer: str,
        subject: str,
        description: str,
        der: bytes,
        in_agent_group: bool = True,
    ) -> None:
        """Register a certificate as a CA user; registering the same certificate again updates it."""
        with self._write() as connection:
            connection.execute(
                "INSERT INTO agents (serial, issuer, subject, description, in_agent_group, added, der) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(der) DO UPDATE SET "
                "in_agent_group = excluded.in_agent_group",
                (serial, issuer, subject, description, int(in_agent_group), _timestamp(), der),
            )

    def find_agent_by_certificate(self, der: bytes) -> AgentRecord | None:
        """The CA user registered with exactly this certificate, or None."""
        row = self._connection().execute("SELECT * FROM agents WHERE der = ?", (der,)).fetchone()
        return None if row is None else _agent_from_row(row)

    def list_agents(self) -> list[AgentRecord]:
        rows = self._connection().execute("SELECT * FROM agents ORDER BY id").fetchall()
        return [_agent_from_row(row) for row in rows]

    # -- shared tokens -----------------------------------------------------------------------------

    def put_shared_token(self, *, uid: str, entry_dn: str, token_b64: str) -> None:
        with self._write() as connection:
            connection.execute(
                "INSERT INTO shared_tokens (uid, entry_dn, token, updated) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(uid) DO UPDATE SET entry_dn = excluded.entry_dn, token = excluded.token, "
                "updated = excluded.updated",
                (uid, entry_dn, token_b64, _timestamp()),
            )

    def get_shared_token(self, uid: str) -> SharedTokenRecord | None:
        row = (
            self._connection()
            .execute("SELECT * FROM shared_tokens WHERE uid = ? COLLATE NOCASE", (uid,))
            .fetchone()
        )
        return None if row is None else SharedTokenRecord(**dict(row))

    def list_shared_tokens(self) -> list[SharedTokenRecord]:
        rows = self._connection().execute("SELECT * FROM shared_tokens ORDER BY uid").fetchall()
        return [SharedTokenRecord(**dict(row)) for row in rows]

    # -- archived keys -----------------------------------------------------------------------------

    def add_archived_key(
        self,
        *,
        request_id: int | None,
        owner: str,
        algorithm: str,
        size: str,
        public_key: bytes,
        nonce: bytes,
        wrapped_key: bytes,
    ) -> int:
        with self._write() as connection:
            cursor = connection.execute(
                "INSERT INTO archived_keys (created, request_id, owner, algorithm, size, public_key, nonce, "
                "wrapped_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (_timestamp(), request_id, owner, algorithm, size, public_key, nonce, wrapped_key),
            )
            key_id = cursor.lastrowid
        assert key_id is not None
        return key_id

    def link_archived_key(self, key_id: int, cert_serial: int) -> None:
        with self._write() as connection:
            connection.execute("UPDATE archived_keys SET cert_serial = ? WHERE id = ?", (cert_serial, key_id))

    def archived_keys_for_certificate(self, cert_serial: int) -> list[ArchivedKeyRecord]:
        rows = (
            self._connection()
            .execute("SELECT * FROM archived_keys WHERE cert_serial = ? ORDER BY id", (cert_serial,))
            .fetchall()
        )
        return [_archived_from_row(row) for row in rows]

    def get_archived_key(self, key_id: int) -> ArchivedKeyRecord | None:
        row = self._connection().execute("SELECT * FROM archived_keys WHERE id = ?", (key_id,)).fetchone()
        return None if row is None else _archived_from_row(row)

    def list_archived_keys(self) -> list[ArchivedKeyRecord]:
        rows = self._connection().execute("SELECT * FROM archived_keys ORDER BY id").fetchall()
        return [_archived_from_row(row) for row in rows]


def _request_from_row(row: sqlite3.Row) -> RequestRecord:
    values = dict(row)
    return RequestRecord(
        request_id=values["id"],
        created=values["created"],
        updated=values["updated"],
        profile_id=values["profile_id"],
        kind=values["kind"],
        status=values["status"],
        authenticated_name=values["authenticated_name"],
        subject=values["subject"],
        body=values["body"],
        result=values["result"],
        cert_serial=values["cert_serial"],
        ext=json.loads(values["ext"]),
    )


def _agent_from_row(row: sqlite3.Row) -> AgentRecord:
    values = dict(row)
    values["agent_id"] = values.pop("id")
    values["in_agent_group"] = bool(values["in_agent_group"])
    return AgentRecord(**values)


def _archived_from_row(row: sqlite3.Row) -> ArchivedKeyRecord:
    values = dict(row)
    values["key_id"] = values.pop("id")
    return ArchivedKeyRecord(**values)
