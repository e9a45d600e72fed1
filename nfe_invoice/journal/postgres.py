"""The journal on PostgreSQL: the same records and state machine as SQLite, for several workers on several machines.

Why PostgreSQL: users with more than one machine already operate it, and it gives the three things several
workers need without a coordinator of our own:

* **claims** with ``SELECT ... FOR UPDATE SKIP LOCKED``: each worker takes rows nobody else has locked, so no
  two workers ever hold one record, and nobody waits behind another's claim;
* **leases with fencing**: a claim sets ``lease_expires`` from the server's clock (``now()``, so machines'
  clocks do not matter) and increments ``attempts``; renew, finish and release only write ``WHERE attempts =
  claim.attempt AND lease_owner = claim.owner``, so a worker whose lease expired cannot overwrite the outcome of
  the worker that took the record over;
* **one shared rate**: :meth:`PostgresJournal.reserve_rate` keeps a token bucket in a row, updated under its
  row lock, so N workers together hold an account's rate instead of N times it.

Connections come from a psycopg 3 pool (autocommit; operations of several statements open a transaction). A
connection cut in the middle of an operation (``pg_terminate_backend``, a server restart, a network failure)
fails that transaction, which PostgreSQL rolls back; the operation is then retried on a fresh connection for
up to ``connect_timeout`` seconds (long enough for a restart). Every operation is one transaction and is safe
to retry: enqueue is idempotent (a retry after a lost answer reports UNCHANGED for its own insert), a claim
whose answer was lost only leaves rows under a lease that expires, and finish/release recognise their own
earlier write (see :meth:`PostgresJournal.finish`).

The schema is versioned in ``nfe_invoice_schema``; :meth:`PostgresJournal.migrate` applies the missing steps in
one transaction under an advisory lock, so two processes migrating at once are safe (the second finds the work
done). Opening a journal migrates automatically when every missing step is additive (``automatic``); a step
that is not must be run with ``nfe-invoice journal migrate``.

Only this module imports psycopg (and lazily: importing :mod:`nfe_invoice.journal` never pays for it).
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote

from ..errors import JournalError
from .base import (
    DELIVERED_STATES,
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

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Migration", "PostgresJournal", "mask_password"]

T = TypeVar("T")

#: Key of the advisory lock that serialises migrations (any constant; "nfeJRNL" in ASCII).
MIGRATION_LOCK = 0x6E66654A524E4C
#: Records fetched per round trip by :meth:`PostgresJournal.records` (memory stays flat on large journals).
PAGE_SIZE = 500
#: States a finished claim may record.
FINISH_STATES = frozenset({State.SENT, State.DELIVERED_ALREADY, State.REFUSED, State.FAILED})


@dataclass(frozen=True)
class Migration:
    """One schema step. ``automatic`` steps are additive and run on open; the others wait for the command."""

    version: int
    description: str
    statements: tuple[str, ...]
    automatic: bool = True


#: Version numbers mean the same design on every backend, so ``journal migrate`` and ``status`` speak of one
#: schema: SQLite's version 1 predates leases and rate buckets; PostgreSQL starts at 2, the design with both.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        2,
        "records with leases and the payload sent, rate buckets",
        (
            """CREATE TABLE nfe_invoice_records (
                id bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
                account text NOT NULL,
                order_id text NOT NULL,
                invoice_number text NOT NULL,
                access_key text NOT NULL,
                xml_sha256 text NOT NULL,
                document bytea NOT NULL,
                payload text,
                payload_sha256 text NOT NULL,
                state text NOT NULL CHECK (state IN
                    ('queued', 'refused', 'sending', 'sent', 'delivered-already', 'failed')),
                attempts integer NOT NULL DEFAULT 0,
                created_at timestamptz NOT NULL DEFAULT now(),
                updated_at timestamptz NOT NULL DEFAULT now(),
                source text,
                receipt text,
                reason text,
                findings jsonb NOT NULL DEFAULT '[]',
                decision jsonb,
                sent_payload text,
                sent_at timestamptz,
                lease_owner text,
                lease_expires timestamptz,
                last_owner text,
                PRIMARY KEY (account, order_id, invoice_number)
            )""",
            # Claims scan only the rows that can be claimed: the few in flight, and the queue oldest first.
            "CREATE INDEX nfe_invoice_records_sending ON nfe_invoice_records (id) WHERE state = 'sending'",
            "CREATE INDEX nfe_invoice_records_queued ON nfe_invoice_records (id) WHERE state = 'queued'",
            "CREATE INDEX nfe_invoice_records_access_key ON nfe_invoice_records (access_key)",
            "CREATE INDEX nfe_invoice_records_order ON nfe_invoice_records (order_id)",
            "CREATE INDEX nfe_invoice_records_updated ON nfe_invoice_records (updated_at)",
            """CREATE TABLE nfe_invoice_rate_buckets (
                bucket text PRIMARY KEY,
                tokens double precision NOT NULL,
                stamp timestamptz NOT NULL
            )""",
        ),
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1].version

_COLUMNS = (
    "account, order_id, invoice_number, access_key, xml_sha256, payload, payload_sha256, state, attempts, "
    "created_at, updated_at, source, receipt, reason, findings, decision, sent_payload, sent_at, lease_owner, "
    "lease_expires"
)
_KEY = "account = %s AND order_id = %s AND invoice_number = %s"
_FENCE = "state = 'sending' AND attempts = %s AND lease_owner = %s"


_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&#]*")
_KEYWORD_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)")


def _split_credentials(url: str) -> tuple[str, str | None, str] | None:
    """``(before, password, after)`` of a URL's ``user:password@``, read as libpq reads it (the user info runs
    to the first ``@`` unless a ``/`` comes first), so even a URL Python cannot parse is masked."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return None
    for index, char in enumerate(rest):
        if char == "/":
            return None
        if char == "@":
            user, colon, password = rest[:index].partition(":")
            if not colon:
                return None
            return f"{scheme}://{user}:", password, rest[index:]
    return None


def mask_password(url: str) -> str:
    """The journal location with every password replaced by ``***``: in a URL's user info, in a
    ``password=`` query parameter, or in a ``key=value`` connection string."""
    if "://" not in url:
        return _KEYWORD_PASSWORD.sub(r"\1***", url)
    split = _split_credentials(url)
    if split is not None:
        url = f"{split[0]}***{split[2]}"
    return _QUERY_PASSWORD.sub(r"\1***", url)


def _passwords_of(url: str) -> set[str]:
    """Every password the location holds, as written and percent-decoded (to scrub them from messages)."""
    found: set[str] = set()
    split = _split_credentials(url)
    if split is not None and split[1]:
        found.add(split[1])
    found.update(match.group(0).partition("=")[2] for match in _QUERY_PASSWORD.finditer(url))
    found.update(match.group(2).strip("'") for match in _KEYWORD_PASSWORD.finditer(url) if "://" not in url)
    return {form for secret in found if secret for form in (secret, unquote(secret))}


def _like_prefix(text: str) -> str:
    """``text`` as a literal LIKE prefix (its wildcards escaped)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _utc(moment: datetime | None) -> datetime | None:
    return moment.astimezone(UTC) if moment is not None else None


def _record(row: Sequence[Any]) -> Record:
    (account, order_id, invoice_number, access_key, xml_sha256, payload, payload_sha256, state, attempts,
     created_at, updated_at, source, receipt, reason, findings, decision, sent_payload, sent_at, lease_owner,
     lease_expires) = row[:20]
    created, updated = _utc(created_at), _utc(updated_at)
    assert created is not None
    assert updated is not None
    return Record(
        key=RecordKey(account, order_id, invoice_number),
        access_key=access_key,
        xml_sha256=xml_sha256,
        payload=payload,
        payload_sha256=payload_sha256,
        state=State(state),
        attempts=attempts,
        created_at=created,
        updated_at=updated,
        source=source,
        receipt=receipt,
        reason=reason,
        findings=tuple(findings or ()),
        decision=decision,
        sent_payload=sent_payload,
        sent_at=_utc(sent_at),
        lease_owner=lease_owner,
        lease_expires=_utc(lease_expires),
    )


def _key_params(key: RecordKey) -> tuple[str, str, str]:
    return (key.account, key.order_id, key.invoice_number)


class PostgresJournal:
    """The :class:`~nfe_invoice.journal.base.Journal` on a PostgreSQL database.

    ``url`` is a libpq URL (``postgresql://user:password@host:port/db``); the attribute ``url`` keeps it with
    the password masked. ``pool_size`` bounds the connections this process opens (one per concurrent
    operation); ``connect_timeout`` is how long an operation waits for the server (also across a restart)
    before raising :class:`~nfe_invoice.errors.JournalError`. ``migrate=False`` opens without touching the
    schema (``nfe-invoice journal migrate`` uses it to report what it did).
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 4,
        connect_timeout: float = 10.0,
        application_name: str = "nfe-invoice",
        migrate: bool = True,
    ) -> None:
        self.url = mask_password(url)
        self._connect_timeout = connect_timeout
        self._secrets = _passwords_of(url)
        self._host = socket.gethostname()
        try:
            import psycopg  # noqa: PLC0415  # only a PostgreSQL journal pays for it
            from psycopg_pool import ConnectionPool  # noqa: PLC0415
        except ImportError as exc:  # pragma: no cover - the extra is part of the test install
            raise JournalError(
                "the PostgreSQL journal needs psycopg: pip install 'nfe-invoice[postgresql]'"
            ) from exc
        self._psycopg = psycopg
        kwargs: dict[str, Any] = {"application_name": application_name, "autocommit": True,
                                  "connect_timeout": max(1, round(connect_timeout))}
        # A first direct connection says clearly why the journal cannot be reached (the pool would only time
        # out), and checks the schema before any worker thread starts.
        try:
            with psycopg.connect(url, **kwargs) as conn:
                version = self._schema_version(conn)
        except psycopg.Error as exc:
            raise JournalError(f"cannot open the journal at {self.url}: {self._scrub(exc)}") from None
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"the journal at {self.url} has schema version {version}, newer than this nfe-invoice knows "
                f"({SCHEMA_VERSION}): upgrade nfe-invoice"
            )
        self._pool: ConnectionPool[psycopg.Connection[tuple[Any, ...]]] = ConnectionPool(
            url,
            kwargs=kwargs,
            min_size=1,
            max_size=max(1, pool_size),
            timeout=connect_timeout,
            name="nfe-invoice-journal",
            open=False,
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout)
        except psycopg.Error as exc:
            self._pool.close()
            raise JournalError(f"cannot open the journal at {self.url}: {self._scrub(exc)}") from None
        if migrate and version < SCHEMA_VERSION:
            pending = [step for step in MIGRATIONS if step.version > version]
            if not all(step.automatic for step in pending):
                self.close()
                raise JournalError(
                    f"the journal at {self.url} needs a schema migration that is not automatic: run "
                    "`nfe-invoice journal migrate`"
                )
            try:
                self.migrate()
            except JournalError:
                self.close()
                raise

    def __repr__(self) -> str:
        return f"PostgresJournal({self.url!r})"

    # -- plumbing ---------------------------------------------------------------------------------------------
    def _scrub(self, exc: BaseException) -> str:
        """An error's text for people, on one line, never with the password (as written or decoded)."""
        text = " ".join(str(exc).split()) or type(exc).__name__
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    @staticmethod
    def _schema_version(conn: psycopg.Connection[tuple[Any, ...]]) -> int:
        row = conn.execute("SELECT to_regclass('nfe_invoice_schema') IS NOT NULL").fetchone()
        if not row or not row[0]:
            return 0
        found = conn.execute("SELECT coalesce(max(version), 0) FROM nfe_invoice_schema").fetchone()
        return int(found[0]) if found else 0

    def _run(self, operation: Callable[[psycopg.Connection[tuple[Any, ...]], bool], T], *,
             atomic: bool = False) -> T:
        """Run ``operation(conn, retried)``: one statement in autocommit, or (``atomic``) several in one
        transaction.

        If the connection fails, the operation runs again on a fresh one, until ``connect_timeout`` has passed
        since the first failure (a restart takes a moment, and connections other threads give back in the
        meantime may be dead too). Each operation is safe to repeat: a failed try was rolled back by the
        server or, when the commit itself was cut, may have landed, and ``retried`` tells the operation to
        look for its own earlier write. Connections are not checked before each use (a round trip per
        operation); a failure checks the whole pool instead, since after a restart every idle one is dead.
        """
        psycopg = self._psycopg
        retried = False
        deadline = 0.0
        pause = 0.02
        while True:
            wait = max(0.1, deadline - time.monotonic()) if retried else None
            try:
                with self._pool.connection(timeout=wait) as conn:
                    if not atomic:
                        return operation(conn, retried)
                    with conn.transaction():
                        return operation(conn, retried)
            except psycopg.OperationalError as exc:
                if not retried:
                    retried, deadline = True, time.monotonic() + self._connect_timeout
                elif time.monotonic() >= deadline:
                    raise JournalError(f"the journal at {self.url} is unreachable: {self._scrub(exc)}") from None
                with contextlib.suppress(Exception):
                    self._pool.check()
                time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
                pause = min(pause * 2, 0.5)
            except psycopg.Error as exc:
                raise JournalError(f"journal operation failed at {self.url}: {self._scrub(exc)}") from None

    # -- schema -----------------------------------------------------------------------------------------------
    def schema_version(self) -> int:
        """The schema version the database holds now (0: no schema yet)."""
        return self._run(lambda conn, _retried: self._schema_version(conn))

    def migrate(self) -> int:
        return self._run(lambda conn, _retried: self._apply(conn, MIGRATIONS), atomic=True)

    def _apply(self, conn: psycopg.Connection[tuple[Any, ...]], migrations: Sequence[Migration]) -> int:
        """Apply the missing steps of ``migrations`` in this transaction, holding the migration lock (a second
        migrator waits for it, then finds the steps done). DDL is transactional in PostgreSQL: a failed step
        leaves the schema as it was."""
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS nfe_invoice_schema (version integer PRIMARY KEY, description text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        version = self._schema_version(conn)
        latest = max((step.version for step in migrations), default=0)
        if version > latest:
            raise JournalError(
                f"the journal at {self.url} has schema version {version}, newer than this nfe-invoice knows "
                f"({latest}): upgrade nfe-invoice"
            )
        for step in migrations:
            if step.version <= version:
                continue
            for statement in step.statements:
                conn.execute(statement)  # DDL text is ours, never user input
            conn.execute("INSERT INTO nfe_invoice_schema (version, description) VALUES (%s, %s)",
                         (step.version, step.description))
            version = step.version
        return version

    # -- writing ----------------------------------------------------------------------------------------------
    def enqueue(self, entry: NewRecord, *, force: bool = False) -> EnqueueResult:
        if entry.state not in (State.QUEUED, State.REFUSED):
            raise ValueError(f"a new record is queued or refused, not {entry.state.value}")
        document = entry.compressed_document()
        findings = json.dumps([dict(f) for f in entry.findings], ensure_ascii=False)
        decision = json.dumps(dict(entry.decision), ensure_ascii=False) if entry.decision is not None else None
        values = (entry.access_key, entry.xml_sha256, document, entry.payload, entry.payload_sha256,
                  entry.state.value, entry.source, entry.reason, findings, decision)

        def insert(conn: psycopg.Connection[tuple[Any, ...]], _retried: bool) -> tuple[Any, ...] | None:
            return conn.execute(
                "INSERT INTO nfe_invoice_records (account, order_id, invoice_number, access_key, xml_sha256, "
                "document, payload, payload_sha256, state, source, reason, findings, decision) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb) "
                f"ON CONFLICT DO NOTHING RETURNING {_COLUMNS}",
                (*_key_params(entry.key), *values),
            ).fetchone()

        def replace(conn: psycopg.Connection[tuple[Any, ...]], _retried: bool) -> EnqueueResult:
            # The row exists (rows are never deleted): lock it, so a concurrent enqueue of the same invoice
            # waits here and then sees this one's result, and decide.
            row = conn.execute(f"SELECT {_COLUMNS} FROM nfe_invoice_records WHERE {_KEY} FOR UPDATE",
                               _key_params(entry.key)).fetchone()
            assert row is not None  # rows are never deleted
            existing = _record(row)
            outcome = decide_enqueue(existing, entry, force=force)
            if outcome in (EnqueueOutcome.UNCHANGED, EnqueueOutcome.CONFLICT):
                return EnqueueResult(outcome, existing)
            replaced = conn.execute(
                "UPDATE nfe_invoice_records SET access_key = %s, xml_sha256 = %s, document = %s, payload = %s, "
                "payload_sha256 = %s, state = %s, source = %s, reason = %s, findings = %s::jsonb, "
                "decision = %s::jsonb, lease_owner = NULL, lease_expires = NULL, "
                f"updated_at = now() WHERE {_KEY} RETURNING {_COLUMNS}",
                (*values, *_key_params(entry.key)),
            ).fetchone()
            assert replaced is not None
            return EnqueueResult(outcome, _record(replaced))

        # The common case (a new invoice) is one statement; only an invoice already there takes a transaction.
        # A retry after a commit that was cut finds its own insert: UNCHANGED, which is what the journal holds.
        inserted = self._run(insert)
        if inserted is not None:
            outcome = EnqueueOutcome.QUEUED if entry.state is State.QUEUED else EnqueueOutcome.REFUSED
            return EnqueueResult(outcome, _record(inserted))
        return self._run(replace, atomic=True)

    def claim(self, owner: str, *, limit: int, lease_seconds: float, account: str | None = None) -> list[Claim]:
        """Like SQLite's: first ``sending`` records whose lease expired (or whose owner died on this host), taken
        over (``recovered``), then ``queued`` ones, oldest first; rows another worker is claiming right now are
        skipped (``SKIP LOCKED``), never waited for. One transaction."""
        if limit <= 0:
            return []
        only, accounts = account_condition(account, "%s")

        def operation(conn: psycopg.Connection[tuple[Any, ...]], _retried: bool) -> list[Claim]:
            holders = conn.execute(
                "SELECT DISTINCT lease_owner FROM nfe_invoice_records WHERE state = 'sending' "
                "AND lease_expires > now() AND lease_owner LIKE %s",
                (_like_prefix(self._host) + ":%",),
            ).fetchall()
            dead = [holder for (holder,) in holders if owner_is_dead(holder, host=self._host)]
            recovered = [row[0] for row in conn.execute(
                "SELECT id FROM nfe_invoice_records WHERE state = 'sending' AND (lease_expires IS NULL "
                f"OR lease_expires <= now() OR lease_owner = ANY(%s)){only} ORDER BY id LIMIT %s "
                "FOR UPDATE SKIP LOCKED",
                (dead, *accounts, limit),
            )]
            fresh = [] if len(recovered) >= limit else [row[0] for row in conn.execute(
                f"SELECT id FROM nfe_invoice_records WHERE state = 'queued'{only} ORDER BY id LIMIT %s "
                "FOR UPDATE SKIP LOCKED",
                (*accounts, limit - len(recovered)),
            )]
            ids = recovered + fresh
            if not ids:
                return []
            rows = conn.execute(
                "UPDATE nfe_invoice_records SET state = 'sending', attempts = attempts + 1, lease_owner = %s, "
                "last_owner = %s, lease_expires = now() + make_interval(secs => %s), updated_at = now() "
                f"WHERE id = ANY(%s) RETURNING id, document, {_COLUMNS}",
                (owner, owner, float(lease_seconds), ids),
            ).fetchall()
            by_id = {row[0]: row for row in rows}
            taken_over = set(recovered)
            claims = []
            for record_id in ids:
                row = by_id[record_id]
                record = _record(row[2:])
                claims.append(Claim(record=record, stored_document=row[1], attempt=record.attempts,
                                    owner=owner, recovered=record_id in taken_over))
            return claims

        return self._run(operation, atomic=True)

    def renew(self, claim: Claim, lease_seconds: float) -> bool:
        def operation(conn: psycopg.Connection[tuple[Any, ...]], _retried: bool) -> bool:
            cursor = conn.execute(
                "UPDATE nfe_invoice_records SET lease_expires = now() + make_interval(secs => %s) "
                f"WHERE {_KEY} AND {_FENCE}",
                (float(lease_seconds), *_key_params(claim.record.key), claim.attempt, claim.owner),
            )
            return cursor.rowcount == 1

        return self._run(operation)

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
        """Fenced by attempt and owner. When the connection was cut during the commit, the retry finds the
        record already in ``state`` under this very attempt, last claimed by this owner: that write was ours
        and landed, so the answer is True (and nothing is written twice)."""
        state = State(state)
        if state not in FINISH_STATES:
            raise ValueError(f"finish records an outcome (sent, delivered-already, refused or failed), "
                             f"not {state.value}")
        decision_json = json.dumps(dict(decision), ensure_ascii=False) if decision is not None else None
        findings_json = json.dumps([dict(f) for f in findings], ensure_ascii=False) if findings else None
        key = _key_params(claim.record.key)

        def operation(conn: psycopg.Connection[tuple[Any, ...]], retried: bool) -> bool:
            cursor = conn.execute(
                "UPDATE nfe_invoice_records SET state = %s, receipt = coalesce(%s, receipt), reason = %s, "
                "decision = coalesce(%s::jsonb, decision), sent_payload = coalesce(%s, sent_payload), "
                "findings = coalesce(%s::jsonb, findings), "
                "sent_at = CASE WHEN %s THEN now() ELSE sent_at END, lease_owner = NULL, lease_expires = NULL, "
                f"updated_at = now() WHERE {_KEY} AND {_FENCE}",
                (state.value, receipt, reason, decision_json, sent_payload, findings_json,
                 state in DELIVERED_STATES, *key, claim.attempt, claim.owner),
            )
            if cursor.rowcount == 1:
                return True
            return retried and self._landed(conn, key, claim, state)

        return self._run(operation)

    def release(self, claim: Claim) -> bool:
        key = _key_params(claim.record.key)

        def operation(conn: psycopg.Connection[tuple[Any, ...]], retried: bool) -> bool:
            cursor = conn.execute(
                "UPDATE nfe_invoice_records SET state = 'queued', lease_owner = NULL, lease_expires = NULL, "
                f"updated_at = now() WHERE {_KEY} AND {_FENCE}",
                (*key, claim.attempt, claim.owner),
            )
            if cursor.rowcount == 1:
                return True
            return retried and self._landed(conn, key, claim, State.QUEUED)

        return self._run(operation)

    @staticmethod
    def _landed(conn: psycopg.Connection[tuple[Any, ...]], key: tuple[str, str, str], claim: Claim,
                state: State) -> bool:
        row = conn.execute(
            f"SELECT 1 FROM nfe_invoice_records WHERE {_KEY} AND state = %s AND attempts = %s AND last_owner = %s "
            "AND lease_owner IS NULL",
            (*key, state.value, claim.attempt, claim.owner),
        ).fetchone()
        return row is not None

    def requeue_failed(self, account: str | None = None) -> int:
        only, accounts = account_condition(account, "%s")

        def operation(conn: psycopg.Connection[tuple[Any, ...]], _retried: bool) -> int:
            cursor = conn.execute(
                f"UPDATE nfe_invoice_records SET state = 'queued', updated_at = now() WHERE state = 'failed'{only}",
                accounts,
            )
            return max(cursor.rowcount, 0)

        return self._run(operation)

    def reserve_rate(self, bucket: str, rate: float, burst: int) -> float:
        """One statement, atomic under the bucket row's lock (``ON CONFLICT DO UPDATE`` locks the row like
        ``FOR UPDATE``; concurrent callers queue on it and each sees the previous one's write). Tokens refill
        at ``rate`` per second of the server's clock up to ``burst``; a reservation without a token drives the
        count below zero, and the caller waits until its turn: ``-tokens / rate`` seconds."""
        if not rate > 0 or burst < 1:
            raise ValueError("a rate bucket needs rate > 0 and burst >= 1")

        def operation(conn: psycopg.Connection[tuple[Any, ...]], _retried: bool) -> float:
            row = conn.execute(
                "INSERT INTO nfe_invoice_rate_buckets AS b (bucket, tokens, stamp) "
                "VALUES (%(bucket)s, %(burst)s - 1, clock_timestamp()) "
                "ON CONFLICT (bucket) DO UPDATE SET "
                " tokens = least(%(burst)s::double precision, "
                "  b.tokens + greatest(0, extract(epoch FROM excluded.stamp - b.stamp)) * %(rate)s) - 1, "
                " stamp = greatest(b.stamp, excluded.stamp) "
                "RETURNING tokens",
                {"bucket": bucket, "burst": float(burst), "rate": float(rate)},
            ).fetchone()
            assert row is not None
            tokens = float(row[0])
            return 0.0 if tokens >= 0 else -tokens / rate

        return self._run(operation)

    # -- reading ----------------------------------------------------------------------------------------------
    def get(self, key: RecordKey) -> Record | None:
        def operation(conn: psycopg.Connection[tuple[Any, ...]], _retried: bool) -> Record | None:
            row = conn.execute(f"SELECT {_COLUMNS} FROM nfe_invoice_records WHERE {_KEY}",
                               _key_params(key)).fetchone()
            return _record(row) if row is not None else None

        return self._run(operation)

    def document(self, key: RecordKey) -> bytes | None:
        """The XML stored with the record, as received (None when there is no such record)."""
        row = self._run(lambda conn, _retried: conn.execute(
            f"SELECT document FROM nfe_invoice_records WHERE {_KEY}", _key_params(key)).fetchone())
        return None if row is None else decompress_document(row[0])

    def records(self, query: Query | None = None) -> Iterator[Record]:
        """Oldest first, fetched a page at a time (each page its own short transaction, keyed by row id), so a
        large journal is read in flat memory and no connection is held between pages."""
        query = query or Query()
        conditions: list[str] = []
        params: list[Any] = []
        if query.order_id is not None:
            conditions.append("order_id = %s")
            params.append(query.order_id)
        if query.state is not None:
            conditions.append("state = %s")
            params.append(query.state.value)
        if query.since is not None:
            conditions.append("updated_at >= %s")
            params.append(query.since)
        if query.access_key is not None:
            conditions.append("access_key = %s")
            params.append(query.access_key)
        where = "".join(f" AND {condition}" for condition in conditions)
        remaining = query.limit
        after = 0
        while remaining is None or remaining > 0:
            size = PAGE_SIZE if remaining is None else min(PAGE_SIZE, remaining)
            page = self._run(functools.partial(self._page, where, (after, *params, size)))
            for row in page:
                yield _record(row)
            if len(page) < size:
                return
            after = page[-1][-1]
            if remaining is not None:
                remaining -= len(page)

    @staticmethod
    def _page(where: str, params: Sequence[Any], conn: psycopg.Connection[tuple[Any, ...]],
              _retried: bool) -> list[tuple[Any, ...]]:
        return conn.execute(
            f"SELECT {_COLUMNS}, id FROM nfe_invoice_records WHERE id > %s{where} ORDER BY id LIMIT %s", params
        ).fetchall()

    def counts(self) -> Counts:
        rows = self._run(
            lambda conn, _retried: conn.execute(
                "SELECT state, count(*) FROM nfe_invoice_records GROUP BY state"
            ).fetchall()
        )
        return Counts(by_state={State(state): int(count) for state, count in rows})

    def pending(self, account: str | None = None) -> int:
        only, accounts = account_condition(account, "%s")
        row = self._run(
            lambda conn, _retried: conn.execute(
                f"SELECT count(*) FROM nfe_invoice_records WHERE state IN ('queued', 'sending'){only}", accounts
            ).fetchone()
        )
        return int(row[0]) if row else 0

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> PostgresJournal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
