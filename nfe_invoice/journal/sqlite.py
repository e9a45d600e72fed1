"""The journal in one SQLite file: the embedded default, for every process on one machine.

Why SQLite behaves here as the interface promises (:mod:`.base`):

* **Durable and consistent**: WAL mode with ``synchronous=FULL``, so a state change that returned survives
  a crash or a power cut; every state change is one ``BEGIN IMMEDIATE`` transaction, so a process killed
  mid-way leaves the record as it was before.
* **Several processes on one file**: ``BEGIN IMMEDIATE`` takes the write lock before anything is read, so a
  claim reads and marks its records with no other writer in between (two processes never hold the same
  record); a process that finds the lock taken waits up to ``busy_timeout`` seconds instead of failing.
* **Resuming at once after kill -9**: a record in ``sending`` is claimable when its lease expired, or when
  its owner (``host:pid:nonce``, see :func:`owner_is_dead`) names a process on this host that no longer
  exists; a rerun right after a crash takes those records over at once (``Claim.recovered``).
* **Fencing**: renew, finish and release only write while the record is still ``sending`` with the claim's
  attempt number and owner; a holder whose lease was taken over writes nothing.
* **Shared rate**: :meth:`SqliteJournal.reserve_rate` is a token bucket row updated inside one write
  transaction, so every process on the file draws from the same bucket.
* **Versioned schema**: ``PRAGMA user_version`` holds the version; ``migrations/sqlite/NNNN_*.sql`` take
  it one step further each, each step one transaction, applied when the journal is opened.

Times are stored as seconds since the epoch (REAL, UTC) from an injectable clock; the XML document is
stored zlib-compressed (NF-e compress about 3 to 8 times), findings and decisions as JSON text; the document and
the payloads live in ``record_bodies`` (schema version 3), so a state change rewrites only a small row.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from ..errors import JournalError
from .base import (
    Claim,
    Counts,
    EnqueueOutcome,
    EnqueueResult,
    NewRecord,
    Query,
    Record,
    RecordKey,
    State,
    account_condition,
    decide_enqueue,
    decompress_document,
    owner_is_dead,
)

#: The schema version this code writes; a journal with a higher one is refused (written by a newer release).
SCHEMA_VERSION = 3
#: States :meth:`SqliteJournal.finish` may record.
OUTCOME_STATES = frozenset({State.SENT, State.DELIVERED_ALREADY, State.REFUSED, State.FAILED})
_PAGE = 500  # rows per read while iterating records (no read transaction held between pages)

_COLUMNS = (
    "account, order_id, invoice_number, access_key, xml_sha256, payload, payload_sha256, state, attempts,"
    " created_at, updated_at, source, receipt, reason, findings, decision,"
    " CASE WHEN sent_is_payload = 1 THEN payload ELSE sent_payload END, sent_at, lease_owner, lease_expires"
)
#: A record with its large values (schema version 3 keeps them in a table of their own, see its migration).
_RECORDS = "records JOIN record_bodies ON record_bodies.record_id = records.id"
_KEY = "account = ? AND order_id = ? AND invoice_number = ?"
_FENCE = f"{_KEY} AND state = 'sending' AND attempts = ? AND lease_owner = ?"


def migration_steps() -> list[tuple[int, str]]:
    """The SQLite migration files, as (version they lead to, SQL), in order."""
    folder = resources.files(__package__).joinpath("migrations", "sqlite")
    steps = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            steps.append((int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8")))
    steps.sort()
    if [number for number, _ in steps] != list(range(1, SCHEMA_VERSION + 1)):
        raise JournalError(f"the packaged SQLite migrations are incomplete: {[n for n, _ in steps]}")
    return steps


def statements(script: str) -> Iterator[str]:
    """Split a migration script into statements (``executescript`` would commit on its own, outside ours)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        if not buffer and (not line.strip() or line.lstrip().startswith("--")):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer.strip()
            buffer = ""
    if buffer.strip():
        raise JournalError(f"incomplete statement in a migration: {buffer.strip()[:80]}")


def _moment(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _record(row: Sequence[Any]) -> Record:
    """A row selected with :data:`_COLUMNS` (in that order) as a :class:`Record`."""
    (account, order_id, invoice_number, access_key, xml_sha256, payload, payload_sha256, state, attempts,
     created_at, updated_at, source, receipt, reason, findings, decision, sent_payload, sent_at,
     lease_owner, lease_expires) = row
    return Record(
        key=RecordKey(account, order_id, invoice_number),
        access_key=access_key,
        xml_sha256=xml_sha256,
        payload=payload,
        payload_sha256=payload_sha256,
        state=State(state),
        attempts=attempts,
        created_at=datetime.fromtimestamp(created_at, UTC),
        updated_at=datetime.fromtimestamp(updated_at, UTC),
        source=source,
        receipt=receipt,
        reason=reason,
        findings=tuple(json.loads(findings)),
        decision=json.loads(decision) if decision is not None else None,
        sent_payload=sent_payload,
        sent_at=_moment(sent_at),
        lease_owner=lease_owner,
        lease_expires=_moment(lease_expires),
    )


def _key(key: RecordKey) -> tuple[str, str, str]:
    return (key.account, key.order_id, key.invoice_number)


class SqliteJournal:
    """The journal in the SQLite file at ``path`` (created, and its schema migrated, when opened).

    One connection per instance, guarded by a lock, so threads of one process may share an instance; each
    process opens its own (never share one across ``fork``). ``create=False`` refuses a missing file
    instead of creating it (``status`` reads, it does not make journals). ``synchronous`` may be lowered to
    ``"NORMAL"`` where losing the last transactions on a power cut is acceptable (a crash of the process
    still loses nothing); ``recover_dead_owners=False`` waits for leases to expire even when their process is
    gone (see :func:`owner_is_dead`); ``clock`` (seconds since the epoch) is for tests.
    """

    url: str

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        create: bool = True,
        busy_timeout: float = 30.0,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        clock: Callable[[], float] = time.time,
        recover_dead_owners: bool = True,
    ) -> None:
        self.path = Path(path).absolute()
        self._recover_dead_owners = recover_dead_owners
        self.url = str(self.path)
        self._busy_timeout = busy_timeout
        self._clock = clock
        self._lock = threading.Lock()
        if not create and not self.path.is_file():
            raise JournalError(f"no journal at {self.url}")
        try:
            self._conn = sqlite3.connect(
                self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open the journal {self.url}: {exc}") from exc
        try:
            with self._errors("opened"):
                self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
                mode = self._wal_mode()
                if mode.lower() != "wal":
                    raise JournalError(f"the journal {self.url} cannot use WAL mode here (got {mode!r})")
                self._conn.execute(f"PRAGMA synchronous = {'FULL' if synchronous == 'FULL' else 'NORMAL'}")
            self.migrate()
        except BaseException:
            self._conn.close()
            raise

    def _wal_mode(self) -> str:
        """Switch to WAL mode (a no-op once the file is in it). On a file another process is creating at the same
        moment, SQLite answers "locked" at once instead of calling the busy handler, so this waits and tries
        again, up to ``busy_timeout`` like any other statement (two batches started together hit this)."""
        deadline = time.monotonic() + self._busy_timeout
        while True:
            try:
                return str(self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(0.01)

    def __repr__(self) -> str:
        return f"SqliteJournal({self.url!r})"

    def __enter__(self) -> SqliteJournal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Translate sqlite3's errors into JournalError at this one boundary."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise JournalError(
                    f"the journal {self.url} is busy: another process held it longer than "
                    f"{self._busy_timeout:g} s"
                ) from exc
            raise JournalError(f"the journal {self.url} cannot be {doing}: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            raise JournalError(f"{self.url} cannot be {doing} as an nfe-invoice journal: {exc}") from exc
        except sqlite3.Error as exc:
            raise JournalError(f"the journal {self.url} cannot be {doing}: {exc}") from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, holding the file's write lock from its first statement."""
        with self._lock, self._errors("written"):
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._errors("read"):
            yield self._conn

    def _select(self, conn: sqlite3.Connection, key: RecordKey) -> Record | None:
        row = conn.execute(f"SELECT {_COLUMNS} FROM {_RECORDS} WHERE {_KEY}", _key(key)).fetchone()
        return _record(row) if row is not None else None

    # ------------------------------------------------------------------ schema

    def migrate(self) -> int:
        """Bring the schema to :data:`SCHEMA_VERSION`, one transaction per step; safe from several processes.

        Each step re-reads the version under the write lock, so two processes opening an old journal at once
        apply every step exactly once.
        """
        with self._lock, self._errors("migrated"):
            conn = self._conn
            version = self._version(conn)
            if version == SCHEMA_VERSION:
                return version
            for number, script in migration_steps():
                conn.execute("BEGIN IMMEDIATE")
                try:
                    current = self._version(conn)
                    if current < number:
                        if current == 0 and conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                            raise JournalError(f"{self.url} is a SQLite database, but not an nfe-invoice journal")
                        for statement in statements(script):
                            conn.execute(statement)
                        conn.execute(f"PRAGMA user_version = {number}")
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            return self._version(conn)

    def _version(self, conn: sqlite3.Connection) -> int:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"the journal {self.url} has schema version {version}, newer than this nfe-invoice knows "
                f"({SCHEMA_VERSION}): upgrade nfe-invoice"
            )
        return version

    def schema_version(self) -> int:
        with self._read() as conn:
            return self._version(conn)

    # ------------------------------------------------------------------ state changes

    def enqueue(self, entry: NewRecord, *, force: bool = False) -> EnqueueResult:
        """Store ``entry`` as :func:`.base.decide_enqueue` says, in one transaction."""
        now = self._clock()
        with self._write() as conn:
            existing = self._select(conn, entry.key)
            outcome = decide_enqueue(existing, entry, force=force)
            if existing is not None and outcome in (EnqueueOutcome.UNCHANGED, EnqueueOutcome.CONFLICT):
                return EnqueueResult(outcome, existing)
            findings = _json([dict(f) for f in entry.findings])
            decision = None if entry.decision is None else _json(dict(entry.decision))
            content = (
                entry.access_key, entry.xml_sha256, entry.payload_sha256, entry.state.value, entry.source,
                entry.reason, findings, decision,
            )
            bodies = (entry.compressed_document(), entry.payload)
            if existing is None:
                record_id = conn.execute(
                    "INSERT INTO records (account, order_id, invoice_number, access_key, xml_sha256,"
                    " payload_sha256, state, source, reason, findings, decision, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*_key(entry.key), *content, now, now),
                ).lastrowid
                conn.execute("INSERT INTO record_bodies (record_id, document, payload) VALUES (?, ?, ?)",
                             (record_id, *bodies))
                # the new row as reading it back would give it (every other column is its default), without
                # reading it back: the batch enqueues every document on its busiest process
                created = datetime.fromtimestamp(now, UTC)
                return EnqueueResult(outcome, Record(
                    key=entry.key, access_key=entry.access_key, xml_sha256=entry.xml_sha256, payload=entry.payload,
                    payload_sha256=entry.payload_sha256, state=entry.state, attempts=0, created_at=created,
                    updated_at=created, source=entry.source, reason=entry.reason,
                    findings=tuple(json.loads(findings)), decision=None if decision is None else json.loads(decision),
                ))
            else:  # replaced: attempts (the fencing token) and the last confirmed delivery are kept
                record_id = conn.execute(
                    "UPDATE records SET access_key = ?, xml_sha256 = ?, payload_sha256 = ?, state = ?, source = ?,"
                    " reason = ?, findings = ?, decision = ?, lease_owner = NULL, lease_expires = NULL,"
                    f" updated_at = ?, sent_is_payload = 0 WHERE {_KEY} RETURNING id",
                    (*content, now, *_key(entry.key)),
                ).fetchone()[0]
                # a sent payload that was the stored one is kept as it was sent, before the payload changes
                conn.execute(
                    "UPDATE record_bodies SET sent_payload = CASE WHEN ? THEN payload ELSE sent_payload END,"
                    " document = ?, payload = ? WHERE record_id = ?",
                    (existing.sent_payload is not None and existing.sent_payload == existing.payload, *bodies,
                     record_id),
                )
            stored = self._select(conn, entry.key)
        assert stored is not None
        return EnqueueResult(outcome, stored)

    def claim(self, owner: str, *, limit: int, lease_seconds: float, account: str | None = None) -> list[Claim]:
        """Take up to ``limit`` records: first ``sending`` ones whose lease expired (longest expired first) or
        whose owner died on this host (``recovered``), then ``queued`` ones, oldest first; all in one write
        transaction."""
        if limit <= 0:
            return []
        now = self._clock()
        only, accounts = account_condition(account, "?")
        with self._write() as conn:
            recovered = [row[0] for row in conn.execute(  # the longest expired first
                f"SELECT id FROM records WHERE state = 'sending' AND lease_expires <= ?{only}"
                " ORDER BY lease_expires, id LIMIT ?", (now, *accounts, limit))]
            if len(recovered) < limit and self._recover_dead_owners:
                holders = [row[0] for row in conn.execute(
                    "SELECT DISTINCT lease_owner FROM records WHERE state = 'sending' AND lease_expires > ?"
                    " AND lease_owner IS NOT NULL", (now,))]
                dead = [holder for holder in holders if owner_is_dead(holder)]
                if dead:
                    recovered += [row[0] for row in conn.execute(
                        f"SELECT id FROM records WHERE state = 'sending' AND lease_expires > ?{only}"
                        f" AND lease_owner IN ({', '.join('?' * len(dead))}) ORDER BY id LIMIT ?",
                        (now, *accounts, *dead, limit - len(recovered)))]
            fresh = [row[0] for row in conn.execute(
                f"SELECT id FROM records WHERE state = 'queued'{only} ORDER BY id LIMIT ?",
                (*accounts, limit - len(recovered)))]
            ids = recovered + fresh
            if not ids:
                return []
            marks = ", ".join("?" * len(ids))
            conn.execute(
                "UPDATE records SET state = 'sending', attempts = attempts + 1, lease_owner = ?,"
                f" lease_expires = ?, updated_at = ? WHERE id IN ({marks})",
                (owner, now + lease_seconds, now, *ids),
            )
            rows = conn.execute(
                f"SELECT id, document, {_COLUMNS} FROM {_RECORDS} WHERE id IN ({marks})", ids
            ).fetchall()
        taken_over = set(recovered)
        by_id = {row[0]: row for row in rows}
        claims = []
        for record_id in ids:
            row = by_id[record_id]
            record = _record(row[2:])
            claims.append(Claim(
                record=record, stored_document=row[1], attempt=record.attempts, owner=owner,
                recovered=record_id in taken_over,
            ))
        return claims

    def renew(self, claim: Claim, lease_seconds: float) -> bool:
        with self._write() as conn:
            cursor = conn.execute(
                f"UPDATE records SET lease_expires = ? WHERE {_FENCE}",
                (self._clock() + lease_seconds, *_key(claim.record.key), claim.attempt, claim.owner),
            )
            return cursor.rowcount == 1

    def finish(
        self,
        claim: Claim,
        state: State,
        *,
        receipt: str | None = None,
        reason: str | None = None,
        decision: Mapping[str, Any] | None = None,
        sent_payload: str | None = None,
        findings: tuple[Mapping[str, Any], ...] = (),
    ) -> bool:
        """Write the outcome while the claim still holds the record; ``receipt``, ``sent_payload``,
        ``decision`` and ``findings`` are kept as they were when not given, ``reason`` is replaced."""
        state = State(state)
        if state not in OUTCOME_STATES:
            raise ValueError(f"finish records an outcome ({', '.join(sorted(OUTCOME_STATES))}), not {state.value}")
        now = self._clock()
        delivered_at = now if state in (State.SENT, State.DELIVERED_ALREADY) else None
        with self._write() as conn:
            # the usual case, the stored payload sent as it is, only sets a flag on the small row: whether it is
            # the stored one is decided in the same statement (one statement fewer than a SELECT and an UPDATE)
            row = conn.execute(
                "UPDATE records SET state = ?, receipt = coalesce(?, receipt), reason = ?,"
                " decision = coalesce(?, decision), sent_at = coalesce(?, sent_at), findings = coalesce(?, findings),"
                " lease_owner = NULL, lease_expires = NULL, updated_at = ?,"
                " sent_is_payload = CASE WHEN ? IS NULL THEN sent_is_payload"
                " ELSE (SELECT payload IS ? FROM record_bodies WHERE record_id = records.id) END"
                f" WHERE {_FENCE} RETURNING id, sent_is_payload",
                (
                    state.value, receipt, reason, None if decision is None else _json(dict(decision)),
                    delivered_at, _json([dict(f) for f in findings]) if findings else None, now,
                    sent_payload, sent_payload, *_key(claim.record.key), claim.attempt, claim.owner,
                ),
            ).fetchone()
            if row is None:
                return False
            if sent_payload is not None and not row[1]:
                conn.execute("UPDATE record_bodies SET sent_payload = ? WHERE record_id = ?", (sent_payload, row[0]))
            return True

    def release(self, claim: Claim) -> bool:
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE records SET state = 'queued', lease_owner = NULL, lease_expires = NULL, updated_at = ?"
                f" WHERE {_FENCE}",
                (self._clock(), *_key(claim.record.key), claim.attempt, claim.owner),
            )
            return cursor.rowcount == 1

    def requeue_failed(self, account: str | None = None) -> int:
        only, accounts = account_condition(account, "?")
        with self._write() as conn:
            cursor = conn.execute(
                f"UPDATE records SET state = 'queued', updated_at = ? WHERE state = 'failed'{only}",
                (self._clock(), *accounts),
            )
            return cursor.rowcount

    def reserve_rate(self, bucket: str, rate: float, burst: int) -> float:
        """A token bucket that may go into debt: each call takes one token now and is told how long to wait
        until that token exists, so callers queue up in order at ``rate`` per second after ``burst``."""
        if rate <= 0 or burst < 1:
            raise ValueError(f"a rate bucket needs rate > 0 and burst >= 1 (got {rate}, {burst})")
        now = self._clock()
        with self._write() as conn:
            row = conn.execute("SELECT tokens, updated_at FROM rate_buckets WHERE bucket = ?", (bucket,)).fetchone()
            tokens = float(burst) if row is None else min(float(burst), row[0] + max(0.0, now - row[1]) * rate)
            tokens -= 1.0
            conn.execute(
                "INSERT INTO rate_buckets (bucket, tokens, updated_at) VALUES (?, ?, ?) ON CONFLICT (bucket)"
                " DO UPDATE SET tokens = excluded.tokens, updated_at = excluded.updated_at",
                (bucket, tokens, now),
            )
        return 0.0 if tokens >= 0 else -tokens / rate

    # ------------------------------------------------------------------ reading

    def get(self, key: RecordKey) -> Record | None:
        with self._read() as conn:
            return self._select(conn, key)

    def document(self, key: RecordKey) -> bytes | None:
        """The XML stored with the record, as received (None when there is no such record)."""
        with self._read() as conn:
            row = conn.execute(f"SELECT document FROM {_RECORDS} WHERE {_KEY}", _key(key)).fetchone()
        return None if row is None else decompress_document(row[0])

    def records(self, query: Query | None = None) -> Iterator[Record]:
        """Matching records, oldest first, read a page at a time (no lock or read transaction held between
        pages, so a long listing never blocks writers or checkpoints)."""
        query = query or Query()
        where: list[str] = ["id > ?"]
        params: list[Any] = []
        for column, value in (("order_id", query.order_id), ("access_key", query.access_key)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if query.state is not None:
            where.append("state = ?")
            params.append(State(query.state).value)
        if query.since is not None:
            where.append("updated_at >= ?")
            params.append(query.since.timestamp())
        sql = f"SELECT id, {_COLUMNS} FROM {_RECORDS} WHERE {' AND '.join(where)} ORDER BY id LIMIT ?"
        remaining = query.limit if query.limit is not None else -1
        last = 0
        while remaining != 0:
            page = _PAGE if remaining < 0 else min(_PAGE, remaining)
            with self._read() as conn:
                rows = conn.execute(sql, (last, *params, page)).fetchall()
            for row in rows:
                yield _record(row[1:])
            if remaining > 0:
                remaining -= len(rows)
            if len(rows) < page:
                return
            last = rows[-1][0]

    def counts(self) -> Counts:
        with self._read() as conn:
            rows = conn.execute("SELECT state, count(*) FROM records GROUP BY state").fetchall()
        return Counts({State(state): count for state, count in rows})

    def pending(self, account: str | None = None) -> int:
        only, accounts = account_condition(account, "?")
        with self._read() as conn:
            row = conn.execute(
                f"SELECT count(*) FROM records WHERE state IN ('queued', 'sending'){only}", accounts
            ).fetchone()
        return int(row[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
