"""What only the SQLite backend does: its file settings, the migration of an older journal, refusing files that
are not journals, the busy timeout, and several real processes on one file (exclusive claims, takeover from a
process killed with SIGKILL, one shared rate)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest

from nfe_invoice.errors import JournalError
from nfe_invoice.journal import (
    EnqueueOutcome,
    NewRecord,
    Query,
    RecordKey,
    State,
    default_journal_location,
    masked_location,
    open_journal,
)
from nfe_invoice.journal.base import owner_is_dead
from nfe_invoice.journal.sqlite import SCHEMA_VERSION, SqliteJournal, migration_steps
from nfe_invoice.testing import build_nfe, default_spec

HOST = socket.gethostname()
SPAWN = multiprocessing.get_context("spawn")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def entry(n: int, *, document: bytes | None = None) -> NewRecord:
    payload = json.dumps({"invoiceNumber": f"{n:06d}", "invoiceValue": str(100 * n)})
    raw = document if document is not None else f"<NFe>{n}</NFe>".encode()
    return NewRecord(RecordKey("acme", f"order-{n}", f"{n:06d}"), f"{n:044d}", sha(raw), raw, payload,
                     sha(payload.encode()))


def fill(path: Path, count: int) -> None:
    with SqliteJournal(path, synchronous="NORMAL") as journal:
        for n in range(1, count + 1):
            journal.enqueue(entry(n))


# ---------------------------------------------------------------------------------------------- the file


def test_the_file_is_in_wal_mode_with_full_sync_a_busy_timeout_and_the_current_schema(tmp_path: Path) -> None:
    with SqliteJournal(tmp_path / "j.db", busy_timeout=7) as journal:
        conn = journal._conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 7000
        assert journal.schema_version() == SCHEMA_VERSION == 3
        assert journal.url == str(tmp_path / "j.db")
        assert repr(journal) == f"SqliteJournal({str(tmp_path / 'j.db')!r})"


def test_a_journal_opened_not_durable_skips_the_flush_at_each_commit(tmp_path: Path) -> None:
    for durable, level in ((True, 2), (False, 1)):  # FULL, NORMAL
        journal = open_journal(tmp_path / "j.db", durable=durable)
        assert isinstance(journal, SqliteJournal)
        assert journal._conn.execute("PRAGMA synchronous").fetchone()[0] == level
        journal.close()


def test_the_document_is_stored_compressed(tmp_path: Path) -> None:
    document = build_nfe(default_spec(10))
    path = tmp_path / "j.db"
    with SqliteJournal(path) as journal:
        journal.enqueue(entry(1, document=document))
        assert journal.document(entry(1).key) == document
        assert journal.document(entry(2).key) is None
    stored = sqlite3.connect(path).execute("SELECT document FROM record_bodies").fetchone()[0]
    assert zlib.decompress(stored) == document
    assert len(stored) < len(document) / 3


def test_a_new_record_is_answered_as_reading_it_back_gives_it(tmp_path: Path) -> None:
    """enqueue answers a new record without reading it back: the same record, to the last column."""
    findings = ({"code": "x.y", "severity": "info", "message": "ação", "xpath": None},)
    new = dataclasses.replace(entry(1), findings=findings, source="erp/1.xml", reason="why")
    refused = dataclasses.replace(entry(2), state=State.REFUSED, decision={"action": "refuse", "n": 1.5},
                                  payload=None)
    with SqliteJournal(tmp_path / "j.db", clock=lambda: 1_700_000_000.123456) as journal:
        for record in (new, refused):
            answered = journal.enqueue(record).record
            assert answered == journal.get(record.key)
            assert answered.attempts == 0 and answered.created_at == answered.updated_at


def test_finish_stores_a_sent_payload_once_and_only_when_it_is_not_the_stored_one(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with SqliteJournal(path) as journal:
        for n in (1, 2, 3):
            journal.enqueue(entry(n))
        claims = {c.record.key.order_id: c for c in journal.claim("w:1:a", limit=3, lease_seconds=60)}
        assert journal.finish(claims["order-1"], State.SENT, sent_payload=entry(1).payload)  # as stored
        assert journal.finish(claims["order-2"], State.SENT, sent_payload='{"other": 1}')  # remapped
        assert journal.finish(claims["order-3"], State.FAILED, reason="down")  # nothing sent
        assert not journal.finish(claims["order-1"], State.SENT, sent_payload="late")  # fenced out
        sent = {n: journal.get(entry(n).key) for n in (1, 2, 3)}
    assert sent[1] is not None and sent[1].sent_payload == entry(1).payload
    assert sent[2] is not None and sent[2].sent_payload == '{"other": 1}'
    assert sent[3] is not None and sent[3].sent_payload is None and sent[3].state is State.FAILED
    rows = sqlite3.connect(path).execute(
        "SELECT order_id, sent_is_payload, sent_payload FROM records JOIN record_bodies ON record_id = records.id"
        " ORDER BY order_id").fetchall()
    assert rows == [("order-1", 1, None), ("order-2", 0, '{"other": 1}'), ("order-3", 0, None)]


def test_open_journal_picks_sqlite_for_a_path_and_the_environment_names_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    journal = open_journal(tmp_path / "x.db")
    assert isinstance(journal, SqliteJournal)
    journal.close()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NFE_INVOICE_JOURNAL", raising=False)
    assert default_journal_location() == str(tmp_path / "nfe-invoice-journal.db")
    monkeypatch.setenv("NFE_INVOICE_JOURNAL", "postgresql://u@db/j")
    assert default_journal_location() == "postgresql://u@db/j"
    monkeypatch.setenv("NFE_INVOICE_JOURNAL", "")
    assert default_journal_location() == str(tmp_path / "nfe-invoice-journal.db")


def test_a_url_password_never_shows_in_messages() -> None:
    assert masked_location("postgresql://nfe:s3cr3t@db.example:5432/journal") == (
        "postgresql://nfe:***@db.example:5432/journal")
    assert masked_location("postgres://nfe@db/journal") == "postgres://nfe@db/journal"
    assert masked_location("/var/lib/nfe/journal.db") == "/var/lib/nfe/journal.db"
    assert "s3cr3t" not in masked_location("postgresql://nfe:s3cr3t@[::1/j")


@pytest.mark.parametrize(
    ("prepare", "message"),
    [
        (lambda p: p.write_bytes(b"this is not a database, just text " * 100), "not a database"),
        (lambda p: sqlite3.connect(p).execute("CREATE TABLE orders (id)").connection.commit(),
         "not an nfe-invoice journal"),
        (lambda p: sqlite3.connect(p).execute("PRAGMA user_version = 99").connection.commit(), "newer"),
        (lambda p: None, "no journal at"),  # create=False on a missing file
    ],
    ids=["text-file", "foreign-database", "newer-schema", "missing"],
)
def test_what_is_not_a_usable_journal_is_refused_with_a_clear_error(
    tmp_path: Path, prepare: Callable[[Path], object], message: str,
) -> None:
    path = tmp_path / "j.db"
    prepare(path)
    with pytest.raises(JournalError, match=message):
        SqliteJournal(path, create=False)


def test_a_journal_in_a_missing_folder_cannot_be_opened(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="cannot open the journal"):
        open_journal(tmp_path / "no" / "such" / "folder" / "j.db")


def test_a_writer_waits_for_the_lock_up_to_the_busy_timeout_then_says_so(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    SqliteJournal(path).close()
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    with SqliteJournal(path, busy_timeout=0.2) as impatient:
        started = time.monotonic()
        with pytest.raises(JournalError, match="busy"):
            impatient.enqueue(entry(1))
        assert time.monotonic() - started >= 0.15
    threading.Timer(0.3, lambda: other.execute("COMMIT")).start()
    with SqliteJournal(path, busy_timeout=10) as patient:
        assert patient.enqueue(entry(1)).outcome is EnqueueOutcome.QUEUED  # waited for the other writer
    other.close()


def test_reading_pages_through_large_journals(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    fill(path, 1203)
    with SqliteJournal(path) as journal:
        numbers = [int(r.key.invoice_number) for r in journal.records()]
        assert numbers == list(range(1, 1204))
        assert len(list(journal.records(Query(limit=700)))) == 700
        journal.claim("w", limit=1000, lease_seconds=60)
        assert len(list(journal.records(Query(state=State.QUEUED)))) == 203


def test_leases_expire_on_the_journal_clock(tmp_path: Path) -> None:
    now = [1_000_000.0]
    with SqliteJournal(tmp_path / "j.db", clock=lambda: now[0]) as journal:
        journal.enqueue(entry(1))
        journal.claim("other-host:1:a", limit=1, lease_seconds=30)
        now[0] += 29.9
        assert journal.claim("w", limit=1, lease_seconds=30) == []
        now[0] += 0.1
        [taken] = journal.claim("w", limit=1, lease_seconds=30)
        assert taken.recovered
        assert taken.record.updated_at.timestamp() == now[0]


# ---------------------------------------------------------------------------------------------- migration


def insert_old_record(conn: sqlite3.Connection, n: int, state: str, **columns: object) -> None:
    """Record ``n`` as schema versions 1 and 2 stored it (the XML and payload in its row), with ``columns``."""
    e = entry(n)
    values = {"account": e.key.account, "order_id": e.key.order_id, "invoice_number": e.key.invoice_number,
              "access_key": e.access_key, "xml_sha256": e.xml_sha256, "document": zlib.compress(e.document),
              "payload": e.payload, "payload_sha256": e.payload_sha256, "state": state, **columns}
    conn.execute(f"INSERT INTO records ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                 tuple(values.values()))


def old_journal(path: Path, version: int, rows: list[dict[str, Any]]) -> None:
    """A journal as schema ``version`` wrote it: its DDL, and ``rows`` (``n``, ``state`` and other columns)."""
    conn = sqlite3.connect(path, isolation_level=None)
    for _, script in migration_steps()[:version]:
        conn.executescript(script)
    for row in rows:
        insert_old_record(conn, **row)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.close()


def v1_journal(path: Path) -> None:
    """A journal as version 1 wrote it: rows in each state it knew."""
    rows = [
        (1, "queued", None, None), (2, "sending", None, None), (3, "sent", "receipt-3", None),
        (4, "failed", None, "VTEX 503"), (5, "refused", None, "[totals.vnf] off by one cent"),
    ]
    old_journal(path, 1, [
        {"n": n, "state": state, "attempts": 1 if state != "queued" else 0, "receipt": receipt, "reason": reason,
         "findings": '[{"code": "totals.vnf"}]' if state == "refused" else "[]",
         "created_at": 1_700_000_000.0 + n, "updated_at": 1_700_000_100.0 + n}
        for n, state, receipt, reason in rows])


def test_a_journal_from_schema_version_1_is_migrated_with_its_records_intact_and_usable(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    v1_journal(path)
    with SqliteJournal(path) as journal:
        assert journal.schema_version() == SCHEMA_VERSION
        states = {int(r.key.invoice_number): r for r in journal.records()}
        assert {n: r.state.value for n, r in states.items()} == {
            1: "queued", 2: "sending", 3: "sent", 4: "failed", 5: "refused"}
        sent = states[3]
        assert (sent.receipt, sent.sent_payload, sent.payload) == ("receipt-3", entry(3).payload, entry(3).payload)
        assert sent.sent_at is not None
        assert sent.sent_at.timestamp() == 1_700_000_103.0
        assert sent.created_at.timestamp() == 1_700_000_003.0
        assert [dict(f) for f in states[5].findings] == [{"code": "totals.vnf"}]
        assert states[4].reason == "VTEX 503"

        # what version 1 left in `sending` (it had no leases) is taken over at once; then the queued one
        claims = journal.claim(f"{HOST}:{os.getpid()}:me", limit=5, lease_seconds=60)
        assert [(c.record.key.invoice_number, c.recovered, c.attempt) for c in claims] == [
            ("000002", True, 2), ("000001", False, 1)]
        assert claims[0].document == entry(2).document
        assert journal.finish(claims[0], State.SENT, receipt="r2", sent_payload=claims[0].record.payload)
        assert journal.enqueue(entry(3)).outcome is EnqueueOutcome.UNCHANGED
        assert journal.enqueue(entry(6)).outcome is EnqueueOutcome.QUEUED
        assert journal.requeue_failed() == 1
        assert journal.reserve_rate("acme", 1.0, 1) == 0.0
        assert journal.counts().by_state == {State.QUEUED: 2, State.SENDING: 1, State.SENT: 2, State.REFUSED: 1}


def test_two_processes_opening_an_old_journal_at_once_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    v1_journal(path)
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def open_it() -> None:
        start.wait()
        try:
            SqliteJournal(path).close()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with SqliteJournal(path) as journal:
        assert journal.schema_version() == SCHEMA_VERSION
        assert journal.counts().total == 5


def v2_journal(path: Path) -> None:
    """A journal as version 2 wrote it: the large values in the records row, one sent as stored, one not."""
    old_journal(path, 2, [
        {"n": n, "state": state, "attempts": 0 if sent is None else 1,
         "receipt": None if sent is None else f"receipt-{n}", "created_at": 1_700_000_000.0,
         "updated_at": 1_700_000_100.0, "sent_payload": entry(n).payload if sent == "as-stored" else sent,
         "sent_at": None if sent is None else 1_700_000_100.0}
        for n, state, sent in ((1, "queued", None), (2, "sent", "as-stored"), (3, "sent", '{"other": true}'))])


def test_a_journal_from_schema_version_2_keeps_every_value_once_its_bodies_move_apart(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    v2_journal(path)
    with SqliteJournal(path) as journal:
        assert journal.schema_version() == SCHEMA_VERSION == 3
        records = {int(r.key.invoice_number): r for r in journal.records()}
        assert {n: (r.payload, r.sent_payload) for n, r in records.items()} == {
            1: (entry(1).payload, None),
            2: (entry(2).payload, entry(2).payload),
            3: (entry(3).payload, '{"other": true}'),
        }
        assert all(journal.document(entry(n).key) == entry(n).document for n in (1, 2, 3))
    conn = sqlite3.connect(path)
    columns = {row[1] for row in conn.execute("PRAGMA table_info(records)")}
    assert not columns & {"document", "payload", "sent_payload"}
    assert conn.execute("SELECT record_id, sent_payload FROM record_bodies ORDER BY record_id").fetchall() == [
        (1, None), (2, None), (3, '{"other": true}')]  # the one sent as stored is not stored twice


def test_a_state_change_does_not_rewrite_the_document_and_payload(tmp_path: Path) -> None:
    """The reason for schema version 3: claim and finish write a small row, whatever the payload's size."""
    path = tmp_path / "j.db"
    big = entry(1)
    big = NewRecord(**{**big.__dict__, "payload": json.dumps({"embeddedInvoice": "x" * 200_000})})
    with SqliteJournal(path) as journal:
        journal._conn.execute("PRAGMA wal_autocheckpoint = 0")  # the WAL only grows: its size is what was written
        journal.enqueue(big)
        wal = Path(f"{path}-wal")
        before = wal.stat().st_size
        [claim] = journal.claim("host:1:me", limit=1, lease_seconds=60)
        assert journal.finish(claim, State.SENT, receipt="r", sent_payload=claim.record.payload)
        written = wal.stat().st_size - before
        assert written < 40_000, written  # a few pages each; the payload alone is 200 kB
        record = journal.get(big.key)
        assert record is not None
        assert record.sent_payload == big.payload


# ---------------------------------------------------------------------------------------------- owners


def test_only_a_vanished_process_on_this_host_is_a_dead_owner() -> None:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
    gone = int(finished.stdout)  # reaped by run(): that pid names no process now (barring reuse)
    assert owner_is_dead(f"{HOST}:{gone}:nonce")
    assert not owner_is_dead(f"another-host:{gone}:nonce")
    assert not owner_is_dead(f"{HOST}:{os.getpid()}:nonce")
    assert not owner_is_dead(f"{HOST}:1:nonce")  # init: alive (or not ours to signal)
    assert not owner_is_dead(f"{HOST}:not-a-pid:nonce")
    assert not owner_is_dead("worker-1")
    assert not owner_is_dead(f"{HOST}:0:nonce")


def hold_and_wait(path: str, ready: Queue[list[str]]) -> None:
    """Child: claim two records under a long lease, report them, then wait to be killed (no shared lock held:
    a process killed inside a multiprocessing primitive would leave it locked for the parent)."""
    journal = SqliteJournal(path)
    claims = journal.claim(f"{HOST}:{os.getpid()}:child", limit=2, lease_seconds=3600)
    ready.put([c.record.key.invoice_number for c in claims])
    time.sleep(60)


def test_a_rerun_right_after_kill_9_takes_over_the_dead_process_records_at_once(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    fill(path, 3)
    ready: Queue[list[str]] = SPAWN.Queue()
    child = SPAWN.Process(target=hold_and_wait, args=(str(path), ready))
    child.start()
    try:
        held = ready.get(timeout=60)
        assert held == ["000001", "000002"]
        with SqliteJournal(path) as journal:
            me = f"{HOST}:{os.getpid()}:parent"
            [other] = journal.claim(me, limit=5, lease_seconds=60)  # the child is alive: its leases hold
            assert other.record.key.invoice_number == "000003"
            assert child.pid is not None
            os.kill(child.pid, signal.SIGKILL)
            child.join(10)
            with SqliteJournal(path, recover_dead_owners=False) as cautious:  # waits for the leases to expire
                assert cautious.claim(me, limit=5, lease_seconds=60) == []
            taken = journal.claim(me, limit=5, lease_seconds=60)  # the lease has an hour to run, the owner is gone
            assert [(c.record.key.invoice_number, c.recovered, c.attempt) for c in taken] == [
                ("000001", True, 2), ("000002", True, 2)]
    finally:
        if child.is_alive():
            child.kill()
        child.join(10)


def claim_until_empty(path: str, owner: str, start: Barrier, results: Queue[list[str]]) -> None:
    """Child: claim in small random batches until nothing is left, finishing each record; report what it got."""
    import random

    journal = SqliteJournal(path, synchronous="NORMAL")
    got: list[str] = []
    start.wait(60)
    try:
        while claims := journal.claim(owner, limit=random.randint(1, 6), lease_seconds=3600):
            for claim in claims:
                got.append(claim.record.key.invoice_number)
                if not journal.finish(claim, State.SENT, receipt=f"{owner}:{claim.attempt}"):
                    got.append(f"fenced:{claim.record.key.invoice_number}")
                time.sleep(0.002)  # as sending would: no process drains the file alone, even on a busy machine
    except Exception as exc:  # reported to the parent, which fails the test with it
        got.append(f"error:{exc!r}")
    journal.close()
    results.put(got)


def test_processes_claiming_one_file_at_once_never_hold_the_same_record(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    total = 600
    fill(path, total)
    workers = 4
    start = SPAWN.Barrier(workers)
    results: Queue[list[str]] = SPAWN.Queue()
    children = [SPAWN.Process(target=claim_until_empty, args=(str(path), f"{HOST}:0:w{i}", start, results))
                for i in range(workers)]
    for child in children:
        child.start()
    try:
        got = [results.get(timeout=120) for _ in children]
    finally:
        for child in children:
            child.join(30)
    claimed = [n for batch in got for n in batch]
    assert not [n for n in claimed if n.startswith(("fenced", "error"))]
    assert len(claimed) == len(set(claimed)) == total
    assert sum(1 for batch in got if batch) >= 2  # they really did share the work
    with SqliteJournal(path) as journal:
        assert journal.counts().by_state == {State.SENT: total}
        assert {r.attempts for r in journal.records()} == {1}


def test_threads_sharing_one_journal_object_never_hold_the_same_record(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    fill(path, 200)
    got: list[str] = []
    with SqliteJournal(path) as journal:
        def work(owner: str) -> None:
            while claims := journal.claim(owner, limit=3, lease_seconds=60):
                got.extend(c.record.key.invoice_number for c in claims)

        threads = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(got) == [f"{n:06d}" for n in range(1, 201)]


def reserve_many(path: str, count: int, start: Barrier, results: Queue[list[float]]) -> None:
    """Child: reserve ``count`` requests from the shared bucket; report when each may be made."""
    journal = SqliteJournal(path, synchronous="NORMAL")
    start.wait(60)
    moments = []
    for _ in range(count):
        before = time.time()
        moments.append(before + journal.reserve_rate("acme", 20.0, 5))
    journal.close()
    results.put(moments)


def test_processes_on_one_file_share_one_rate(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    SqliteJournal(path).close()
    start = SPAWN.Barrier(3)
    results: Queue[list[float]] = SPAWN.Queue()
    children = [SPAWN.Process(target=reserve_many, args=(str(path), 15, start, results)) for _ in range(3)]
    for child in children:
        child.start()
    try:
        moments = sorted(m for _ in children for m in results.get(timeout=120))
    finally:
        for child in children:
            child.join(30)
    # 45 requests at 20/s after a burst of 5: the last may go 40 / 20 = 2 s after the first, not 0.5 s (as three
    # separate buckets would allow), and no one-second window holds more than burst + rate requests.
    span = moments[-1] - moments[0]
    assert 1.9 <= span <= 2.5
    for i, first in enumerate(moments):
        within = sum(1 for m in moments[i:] if m < first + 1.0)
        assert within <= 5 + 20 + 1


def open_fresh(path: str, start: Barrier, failures: Queue[str]) -> None:
    """Child: wait for the others, then open (create) the journal at once with them."""
    start.wait()
    try:
        SqliteJournal(path).close()
    except JournalError as exc:
        failures.put(exc.message)


def test_processes_creating_one_journal_at_the_same_moment_all_open_it(tmp_path: Path) -> None:
    """Switching a new file to WAL answers "locked" at once, without the busy timeout, to all but one of
    several processes doing it together (two batches started by one cron line did): they wait and retry."""
    context = multiprocessing.get_context("fork")
    for attempt in range(5):
        path = str(tmp_path / f"new-{attempt}.db")
        start = context.Barrier(6)
        failures: Queue[str] = context.Queue()
        children = [context.Process(target=open_fresh, args=(path, start, failures)) for _ in range(6)]
        for child in children:
            child.start()
        for child in children:
            child.join(timeout=60)
        assert [child.exitcode for child in children] == [0] * 6
        assert failures.empty()
        with SqliteJournal(path) as journal:
            assert journal.schema_version() == SCHEMA_VERSION
