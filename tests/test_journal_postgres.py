"""The PostgreSQL journal against a real server (tests/pg_server.py): what only PostgreSQL adds to the shared
contract (tests/test_journal.py runs that on both backends): claims from several real processes, fencing
after a lease expires, one rate shared by several processes, migrations under concurrency, surviving a
dropped connection and a server restart, and the password never shown.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import multiprocessing
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from nfe_invoice.errors import JournalError
from nfe_invoice.journal import NewRecord, Query, RecordKey, State
from nfe_invoice.journal.base import EnqueueOutcome
from nfe_invoice.journal.postgres import MIGRATIONS, SCHEMA_VERSION, Migration, PostgresJournal, mask_password
from tests.pg_server import PASSWORD, PostgresServer, postgres_database, postgres_server

__all__ = ["postgres_database", "postgres_server"]  # fixtures used by the tests below

SPAWN = multiprocessing.get_context("spawn")


def entry(number: int, payload: str = "payload", account: str = "acct") -> NewRecord:
    return NewRecord(
        key=RecordKey(account, f"order-{number}", str(number)),
        access_key=f"{number:044d}",
        xml_sha256=hashlib.sha256(f"xml {number}".encode()).hexdigest(),
        document=f"<NFe n='{number}'/>".encode() * 20,
        payload=payload,
        payload_sha256=hashlib.sha256(payload.encode()).hexdigest(),
    )


@pytest.fixture
def journal(postgres_database: str) -> Iterator[PostgresJournal]:
    with PostgresJournal(postgres_database, connect_timeout=5) as opened:
        yield opened


# -- secrets -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://u:pw@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgresql://u:p%40w@h/db?sslmode=require", "postgresql://u:***@h/db?sslmode=require"),
        ("postgres://u@h/db?password=pw&sslmode=require", "postgres://u@h/db?password=***&sslmode=require"),
        ("postgresql://h/db", "postgresql://h/db"),
        ("postgresql://u:pw@h1:1,h2:2/db", "postgresql://u:***@h1:1,h2:2/db"),
        ("postgresql://u:pa?ss@h/db", "postgresql://u:***@h/db"),  # libpq reads user info up to the @
        ("postgresql://u:pw@[::1/db", "postgresql://u:***@[::1/db"),  # a URL Python cannot parse
        ("host=h password='se cret' dbname=x", "host=h password=*** dbname=x"),
    ],
)
def test_mask_password(url: str, masked: str) -> None:
    assert mask_password(url) == masked


def test_url_and_repr_never_show_the_password(journal: PostgresJournal, postgres_database: str) -> None:
    assert PASSWORD in postgres_database
    assert PASSWORD not in journal.url
    assert PASSWORD not in repr(journal)
    assert "***" in journal.url


def test_wrong_password_is_a_journal_error_without_the_password(postgres_database: str) -> None:
    wrong = postgres_database.replace(PASSWORD, "Wrong-pw-987")
    with pytest.raises(JournalError) as caught:
        PostgresJournal(wrong, connect_timeout=3)
    assert "Wrong-pw-987" not in str(caught.value)
    assert "password authentication failed" in str(caught.value)


def test_a_malformed_url_is_a_journal_error_without_the_password() -> None:
    # libpq quotes the whole URL in this message: the password is scrubbed from it, encoded or not.
    with pytest.raises(JournalError, match="IPv6") as caught:
        PostgresJournal("postgresql://u:Sekr%40t@[::1/db")
    assert "Sekr" not in str(caught.value)


def test_unreachable_server_is_a_journal_error_without_the_password() -> None:
    from tests.pg_server import free_port

    started = time.monotonic()
    with pytest.raises(JournalError, match="cannot open the journal") as caught:
        PostgresJournal(f"postgresql://u:{PASSWORD}@127.0.0.1:{free_port()}/db", connect_timeout=2)
    assert PASSWORD not in str(caught.value)
    assert time.monotonic() - started < 5


# -- schema ------------------------------------------------------------------------------------------------------
def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()").fetchall()
    return {name for (name,) in rows}


def test_opening_creates_the_schema_and_migrate_is_idempotent(postgres_database: str) -> None:
    assert _tables(postgres_database) == set()
    with PostgresJournal(postgres_database) as journal:
        assert _tables(postgres_database) == {"nfe_invoice_schema", "nfe_invoice_records", "nfe_invoice_rate_buckets"}
        assert journal.schema_version() == SCHEMA_VERSION
        assert journal.migrate() == SCHEMA_VERSION
    with psycopg.connect(postgres_database) as conn:
        versions = conn.execute("SELECT version FROM nfe_invoice_schema ORDER BY version").fetchall()
    assert [v for (v,) in versions] == [step.version for step in MIGRATIONS]


def test_migrate_false_leaves_the_database_alone(postgres_database: str) -> None:
    with PostgresJournal(postgres_database, migrate=False) as journal:
        assert journal.schema_version() == 0
        assert _tables(postgres_database) == set()


def _migrate_in_process(url: str) -> int:
    with PostgresJournal(url, migrate=False) as journal:
        return journal.migrate()


def test_processes_migrating_at_once_apply_each_step_once(postgres_database: str) -> None:
    with SPAWN.Pool(3) as pool:
        versions = pool.map(_migrate_in_process, [postgres_database] * 3)
    assert versions == [SCHEMA_VERSION] * 3
    with psycopg.connect(postgres_database) as conn:
        rows = conn.execute("SELECT version, count(*) FROM nfe_invoice_schema GROUP BY version").fetchall()
    assert dict(rows) == {step.version: 1 for step in MIGRATIONS}


def test_a_later_step_runs_once_under_the_lock_even_when_threads_race(journal: PostgresJournal,
                                                                        postgres_database: str) -> None:
    # A step that would fail if run twice (CREATE TABLE without IF NOT EXISTS), applied by 4 threads at once.
    later = (*MIGRATIONS, Migration(SCHEMA_VERSION + 1, "test step", ("CREATE TABLE nfe_invoice_extra (x int)",)))
    results: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def run() -> None:
        try:
            with PostgresJournal(postgres_database) as own:
                barrier.wait()
                results.append(own._run(lambda conn, _r: own._apply(conn, later), atomic=True))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == [SCHEMA_VERSION + 1] * 4
    assert "nfe_invoice_extra" in _tables(postgres_database)


def test_a_step_that_is_not_additive_waits_for_the_migrate_command(postgres_database: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from nfe_invoice.journal import postgres

    with PostgresJournal(postgres_database):
        pass
    manual = Migration(SCHEMA_VERSION + 1, "rewrite", ("ALTER TABLE nfe_invoice_records DROP COLUMN source",),
                       automatic=False)
    monkeypatch.setattr(postgres, "MIGRATIONS", (*MIGRATIONS, manual))
    monkeypatch.setattr(postgres, "SCHEMA_VERSION", manual.version)
    with pytest.raises(JournalError, match="nfe-invoice journal migrate"):
        PostgresJournal(postgres_database)
    with PostgresJournal(postgres_database, migrate=False) as journal:  # what the command does
        assert journal.schema_version() == SCHEMA_VERSION
        assert journal.migrate() == manual.version
    with PostgresJournal(postgres_database) as journal:
        assert journal.schema_version() == manual.version


def test_a_journal_from_a_newer_version_is_refused(postgres_database: str) -> None:
    with PostgresJournal(postgres_database):
        pass
    with psycopg.connect(postgres_database) as conn:
        conn.execute("INSERT INTO nfe_invoice_schema (version, description) VALUES (%s, 'future')",
                     (SCHEMA_VERSION + 5,))
    with pytest.raises(JournalError, match="newer than this nfe-invoice"):
        PostgresJournal(postgres_database)


# -- enqueue under concurrency -----------------------------------------------------------------------------------
def test_concurrent_enqueues_of_one_invoice_store_it_once(postgres_database: str) -> None:
    journals = [PostgresJournal(postgres_database, pool_size=1) for _ in range(6)]
    barrier = threading.Barrier(len(journals))
    outcomes: list[EnqueueOutcome] = []

    def run(journal: PostgresJournal) -> None:
        barrier.wait()
        outcomes.append(journal.enqueue(entry(7)).outcome)

    threads = [threading.Thread(target=run, args=(j,)) for j in journals]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert sorted(outcomes) == sorted([EnqueueOutcome.QUEUED] + [EnqueueOutcome.UNCHANGED] * 5)
        assert journals[0].counts().by_state == {State.QUEUED: 1}
    finally:
        for journal in journals:
            journal.close()


# -- claims from several processes -------------------------------------------------------------------------------
def _together(target: Any, arguments: list[tuple[Any, ...]]) -> list[Any]:
    """Run ``target(*args)`` in one spawned process per argument tuple, all starting their work at the same
    moment (a barrier after each has opened its journal, so slow interpreter start-ups do not stagger them);
    returns their results in order."""
    barrier = SPAWN.Barrier(len(arguments))
    results = SPAWN.Queue()
    processes = [SPAWN.Process(target=_report, args=(index, barrier, results, target, args))
                 for index, args in enumerate(arguments)]
    for process in processes:
        process.start()
    collected = dict(results.get(timeout=60) for _ in processes)
    for process in processes:
        process.join(10)
    failures = [value for value in collected.values() if isinstance(value, str) and value.startswith("FAILED")]
    assert failures == []
    return [collected[index] for index in range(len(arguments))]


def _report(index: int, barrier: Any, results: Any, target: Any, args: tuple[Any, ...]) -> None:
    try:
        results.put((index, target(barrier, *args)))
    except BaseException as exc:  # reported to the test, which fails with it
        results.put((index, f"FAILED {type(exc).__name__}: {exc}"))


def _claim_until_empty(barrier: Any, url: str, owner: str) -> list[tuple[str, int]]:
    """A worker process: claim small batches until nothing is left, finish each as sent."""
    taken: list[tuple[str, int]] = []
    with PostgresJournal(url, pool_size=1) as journal:
        barrier.wait(60)
        while True:
            claims = journal.claim(owner, limit=3, lease_seconds=60)
            if not claims:
                return taken
            for claim in claims:
                taken.append((claim.record.key.invoice_number, claim.attempt))
                time.sleep(0.002)  # "sending": long enough that the processes overlap
                assert journal.finish(claim, State.SENT, receipt=f"receipt by {owner}")


def test_processes_claiming_at_once_never_hold_one_record_twice(journal: PostgresJournal,
                                                                 postgres_database: str) -> None:
    for number in range(240):
        journal.enqueue(entry(number))
    results = _together(_claim_until_empty, [(postgres_database, f"elsewhere:{i}:w") for i in range(4)])
    taken = Counter(number for result in results for number, _ in result)
    assert len(taken) == 240
    assert set(taken.values()) == {1}  # every record claimed exactly once
    assert {attempt for result in results for _, attempt in result} == {1}
    assert sum(1 for result in results if result) >= 2, [len(r) for r in results]  # the work was shared
    assert journal.counts().by_state == {State.SENT: 240}
    assert journal.pending() == 0
    for record in journal.records():
        assert record.receipt is not None
        assert record.lease_owner is None


def test_claimed_document_and_record_come_back(journal: PostgresJournal) -> None:
    journal.enqueue(entry(1))
    (claim,) = journal.claim("elsewhere:1:a", limit=5, lease_seconds=30)
    assert claim.document == entry(1).document
    assert claim.attempt == 1
    assert claim.recovered is False
    assert claim.record.state is State.SENDING
    assert claim.record.lease_owner == "elsewhere:1:a"
    assert claim.record.lease_expires is not None
    assert journal.claim("elsewhere:2:b", limit=5, lease_seconds=30) == []


# -- leases and fencing ------------------------------------------------------------------------------------------
def test_an_expired_lease_is_taken_over_and_its_old_holder_is_fenced_out(journal: PostgresJournal) -> None:
    journal.enqueue(entry(1))
    (first,) = journal.claim("elsewhere:1:a", limit=1, lease_seconds=0.3)
    assert journal.claim("elsewhere:2:b", limit=1, lease_seconds=30) == []  # still held
    time.sleep(0.4)
    (second,) = journal.claim("elsewhere:2:b", limit=1, lease_seconds=30)
    assert second.recovered is True
    assert second.attempt == first.attempt + 1
    # The first holder wakes up: nothing it does lands.
    assert journal.renew(first, 30) is False
    assert journal.finish(first, State.SENT, receipt="stale") is False
    assert journal.release(first) is False
    assert journal.finish(second, State.SENT, receipt="fresh") is True
    record = journal.get(entry(1).key)
    assert record is not None
    assert (record.state, record.receipt, record.attempts) == (State.SENT, "fresh", 2)


def test_renewing_keeps_the_lease(journal: PostgresJournal) -> None:
    journal.enqueue(entry(1))
    (claim,) = journal.claim("elsewhere:1:a", limit=1, lease_seconds=0.3)
    for _ in range(3):
        time.sleep(0.15)
        assert journal.renew(claim, 0.3) is True
    assert journal.claim("elsewhere:2:b", limit=1, lease_seconds=30) == []
    assert journal.release(claim) is True
    (again,) = journal.claim("elsewhere:2:b", limit=1, lease_seconds=30)
    assert again.recovered is False  # released, not taken over
    assert again.attempt == 2


def test_a_dead_local_owner_is_taken_over_at_once(journal: PostgresJournal) -> None:
    import socket

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead_owner = f"{socket.gethostname()}:{gone.stdout.strip()}:x"
    live_owner = f"{socket.gethostname()}:{os.getpid()}:y"
    journal.enqueue(entry(1))
    journal.enqueue(entry(2))
    alive = journal.claim(live_owner, limit=1, lease_seconds=600)
    held = journal.claim(dead_owner, limit=1, lease_seconds=600)
    assert len(held) == len(alive) == 1
    (taken,) = journal.claim("elsewhere:3:z", limit=5, lease_seconds=30)
    assert taken.record.key == held[0].record.key  # the live owner's record stays where it is
    assert taken.recovered is True


# -- the shared rate ---------------------------------------------------------------------------------------------
def _spend_rate(barrier: Any, url: str, rate: float, burst: int, window: float) -> list[float]:
    """A worker process: for ``window`` seconds, make 'requests' as fast as the shared bucket allows."""
    sent: list[float] = []
    with PostgresJournal(url, pool_size=1) as journal:
        barrier.wait(60)
        stop = time.time() + window
        while True:
            wait = journal.reserve_rate("acct", rate, burst)
            if wait:
                time.sleep(wait)
            now = time.time()
            if now >= stop:
                return sent
            sent.append(now)


def test_three_processes_together_hold_one_rate(postgres_database: str) -> None:
    rate, burst, window = 40.0, 4, 2.0
    with PostgresJournal(postgres_database):
        pass  # schema in place before the workers start
    results = _together(_spend_rate, [(postgres_database, rate, burst, window)] * 3)
    total = sum(len(sent) for sent in results)
    # Held together: at most the burst plus rate x window (+2 for the edges and the processes' start within a
    # few ms of each other); unshared, three processes would make about three times that.
    assert total <= burst + rate * window + 2
    # Every process had its share beyond the burst. (How close the total comes to the rate depends on the
    # machine's load; the waits themselves are checked exactly in the next test.)
    assert all(len(sent) >= 2 for sent in results)
    assert total > burst


def test_reserve_rate_answers_the_wait_for_each_request(journal: PostgresJournal) -> None:
    waits = [journal.reserve_rate("b", 10.0, 2) for _ in range(5)]
    assert waits[:2] == [0.0, 0.0]  # the burst
    assert waits[2] == pytest.approx(0.1, abs=0.03)
    assert waits[3] == pytest.approx(0.2, abs=0.03)
    assert waits[4] == pytest.approx(0.3, abs=0.03)
    assert journal.reserve_rate("other", 10.0, 1) == 0.0  # buckets are independent
    with pytest.raises(ValueError, match="rate"):
        journal.reserve_rate("b", 0, 1)


# -- dropped connections and restarts ----------------------------------------------------------------------------
def test_a_terminated_idle_connection_is_replaced(postgres_server: PostgresServer, postgres_database: str) -> None:
    with PostgresJournal(postgres_database, application_name="nfe-victim-idle") as journal:
        journal.enqueue(entry(1))
        assert postgres_server.terminate_backends(application_name="nfe-victim-idle") >= 1
        assert journal.enqueue(entry(2)).outcome is EnqueueOutcome.QUEUED
        assert journal.counts().total == 2


def test_a_connection_cut_mid_operation_is_retried(postgres_server: PostgresServer, postgres_database: str) -> None:
    """The journal's enqueue waits on a row lock another session holds; its connection is cut while it waits
    (the transaction is rolled back by the server); the retry on a new connection completes it."""
    with PostgresJournal(postgres_database, application_name="nfe-victim-busy") as journal:
        journal.enqueue(entry(1))
        result: list[Any] = []
        with psycopg.connect(postgres_database) as blocker:
            blocker.execute("SELECT 1 FROM nfe_invoice_records FOR UPDATE")
            worker = threading.Thread(target=lambda: result.append(journal.enqueue(entry(1, "new payload"))))
            worker.start()
            deadline = time.monotonic() + 5
            with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
                while time.monotonic() < deadline:
                    waiting = admin.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'nfe-victim-busy' "
                        "AND wait_event_type = 'Lock'").fetchone()
                    if waiting and waiting[0]:
                        break
                    time.sleep(0.02)
                else:
                    pytest.fail("the enqueue never waited on the lock")
            assert postgres_server.terminate_backends(application_name="nfe-victim-busy") >= 1
            time.sleep(0.2)
            blocker.rollback()
        worker.join(10)
        assert len(result) == 1
        assert result[0].outcome is EnqueueOutcome.QUEUED
        assert result[0].record.payload == "new payload"


def _lose_the_next_answer(journal: PostgresJournal, monkeypatch: pytest.MonkeyPatch) -> None:
    """The next operation's statement runs and commits, then its connection 'drops' before the answer
    arrives: the one failure no real server can be made to produce on cue (it needs the cut between the
    commit and its acknowledgement), so it is injected here."""
    real = journal._pool.connection
    state = {"armed": True}

    @contextlib.contextmanager
    def connection(timeout: float | None = None) -> Iterator[Any]:
        with real(timeout=timeout) as conn:
            yield conn
        if state["armed"]:
            state["armed"] = False
            raise psycopg.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(journal._pool, "connection", connection)


def test_an_outcome_whose_answer_was_lost_is_recognised_on_retry(journal: PostgresJournal,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    journal.enqueue(entry(1))
    (claim,) = journal.claim("elsewhere:1:a", limit=1, lease_seconds=30)
    _lose_the_next_answer(journal, monkeypatch)
    assert journal.finish(claim, State.SENT, receipt="r-1") is True  # written by the first try, found by the retry
    record = journal.get(entry(1).key)
    assert record is not None
    assert (record.state, record.receipt, record.attempts) == (State.SENT, "r-1", 1)
    # A later holder's outcome is still not mistaken for ours.
    journal.enqueue(entry(2))
    (old,) = journal.claim("elsewhere:1:a", limit=1, lease_seconds=0)
    (new,) = journal.claim("elsewhere:2:b", limit=1, lease_seconds=30)
    assert journal.finish(new, State.SENT, receipt="r-new")
    _lose_the_next_answer(journal, monkeypatch)
    assert journal.finish(old, State.SENT, receipt="r-old") is False


def test_a_release_whose_answer_was_lost_is_recognised_on_retry(journal: PostgresJournal,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    journal.enqueue(entry(1))
    (claim,) = journal.claim("elsewhere:1:a", limit=1, lease_seconds=30)
    _lose_the_next_answer(journal, monkeypatch)
    assert journal.release(claim) is True
    assert journal.pending() == 1
    (again,) = journal.claim("elsewhere:2:b", limit=1, lease_seconds=30)
    assert again.attempt == 2


def _claim_loop(journal: PostgresJournal, owner: str, done: list[str], errors: list[BaseException]) -> None:
    try:
        while True:
            claims = journal.claim(owner, limit=2, lease_seconds=3)
            if not claims:
                if journal.pending() == 0:
                    return
                continue
            for claim in claims:
                time.sleep(0.005)  # "sending"
                if journal.finish(claim, State.SENT, receipt=owner):
                    done.append(claim.record.key.invoice_number)
    except BaseException as exc:  # surfaced by the test
        errors.append(exc)


def test_workers_ride_out_a_server_restart(postgres_server: PostgresServer, postgres_database: str) -> None:
    with PostgresJournal(postgres_database, connect_timeout=15) as journal:
        for number in range(300):
            journal.enqueue(entry(number))
        done: list[str] = []
        errors: list[BaseException] = []
        workers = [threading.Thread(target=_claim_loop, args=(journal, f"elsewhere:{i}:r", done, errors))
                   for i in range(2)]
        for worker in workers:
            worker.start()
        time.sleep(0.3)
        assert 0 < len(done) < 300  # the restart happens mid-run
        postgres_server.restart()
        for worker in workers:
            worker.join(60)
        assert errors == []
        assert journal.counts().by_state == {State.SENT: 300}
        assert len(done) == len(set(done)) == 300
        # A claim whose commit was cut may be claimed once more after its lease: never more than that.
        assert all(record.attempts <= 2 for record in journal.records(Query(state=State.SENT)))


def test_an_operation_while_the_server_is_down_fails_cleanly(postgres_server: PostgresServer,
                                                             postgres_database: str) -> None:
    with PostgresJournal(postgres_database, connect_timeout=1) as journal:
        postgres_server.halt()
        try:
            started = time.monotonic()
            with pytest.raises(JournalError, match="unreachable") as caught:
                journal.counts()
            assert PASSWORD not in str(caught.value)
            assert time.monotonic() - started < 5  # bounded by connect_timeout, not hanging
        finally:
            postgres_server.resume()
        assert journal.counts().total == 0  # and it comes back on its own


# -- nfe-invoice journal migrate ---------------------------------------------------------------------------------
def _cli(*argv: str) -> tuple[int, str, str]:
    result = subprocess.run([sys.executable, "-m", "nfe_invoice.cli", *argv], capture_output=True, text=True,
                            timeout=60, check=False, env={**os.environ, "NFE_INVOICE_JOURNAL": ""})
    return result.returncode, result.stdout, result.stderr


def test_journal_migrate_creates_then_reports_the_schema(postgres_database: str) -> None:
    status, out, err = _cli("journal", "migrate", "--journal", postgres_database)
    assert (status, err) == (0, "")
    assert out == f"journal {mask_password(postgres_database)}: migrated from schema version 0 to {SCHEMA_VERSION}\n"
    assert PASSWORD not in out
    assert _tables(postgres_database) >= {"nfe_invoice_schema", "nfe_invoice_records", "nfe_invoice_rate_buckets"}
    status, out, _ = _cli("journal", "migrate", "--journal", postgres_database, "--format", "json")
    assert status == 0
    assert json.loads(out) == {"journal": mask_password(postgres_database), "previous_version": SCHEMA_VERSION,
                               "schema_version": SCHEMA_VERSION}


def test_journal_migrate_reads_the_journal_from_the_environment(postgres_database: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from nfe_invoice.cli import main

    monkeypatch.setenv("NFE_INVOICE_JOURNAL", postgres_database)
    monkeypatch.delenv("NFE_INVOICE_CONFIG", raising=False)
    out = io.StringIO()
    assert main(["journal", "migrate"], out=out) == 0
    assert out.getvalue().endswith(f"to {SCHEMA_VERSION}\n")


def test_journal_migrate_on_an_unreachable_journal_exits_3_without_the_password(postgres_database: str) -> None:
    status, out, err = _cli("journal", "migrate", "--journal", postgres_database.replace(PASSWORD, "Not-it-123"))
    assert (status, out) == (3, "")
    assert "password authentication failed" in err
    assert "Not-it-123" not in err
    assert "Traceback" not in err


def test_journal_migrate_works_on_a_sqlite_journal_too(tmp_path: Path) -> None:
    status, out, _ = _cli("journal", "migrate", "--journal", str(tmp_path / "j.db"))
    assert status == 0
    assert re.fullmatch(rf"journal {re.escape(str(tmp_path / 'j.db'))}: schema version \d+, up to date\n", out)


def test_journal_needs_a_verb() -> None:
    status, _, err = _cli("journal")
    assert status == 2
    assert "migrate" in err
