"""``nfe-invoice status``: counts and records from the journal (every backend), JSON lines, text for pipes and
terminals, filters, and exit statuses 0 / 2 / 3."""

from __future__ import annotations

import gc
import io
import json
import os
import subprocess
import sys
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from nfe_invoice.cli import main
from nfe_invoice.cli.status import STATES
from nfe_invoice.journal import Journal, State

from . import journal_backends
from .journal_backends import JournalFactory
from .test_journal import new_entry

journal_factory = journal_backends.journal_factory  # the fixture: these tests run on every backend

RECORD_KEYS = {"account", "order_id", "invoice_number", "access_key", "state", "receipt", "attempts", "reason",
               "findings", "decision", "source", "created_at", "updated_at", "sent_at"}


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(*argv: str, out: io.StringIO | None = None) -> tuple[int, str]:
    stream = out if out is not None else io.StringIO()
    code = main(["status", *argv], out=stream)
    return code, stream.getvalue()


def populate(journal: Journal) -> None:
    """One record in each state: invoices 1..6 of orders order-1..order-6 (order-2 also holds invoice 7)."""
    for n in range(1, 7):
        journal.enqueue(new_entry(n, state=State.REFUSED if n == 5 else State.QUEUED))
    claims = {int(c.record.key.invoice_number): c for c in journal.claim("host-a:1:w", limit=5, lease_seconds=600)}
    journal.release(claims[1])
    journal.finish(claims[3], State.SENT, receipt="receipt-3", sent_payload=claims[3].record.payload)
    journal.finish(claims[4], State.DELIVERED_ALREADY)
    journal.finish(claims[6], State.FAILED, reason="VTEX unreachable after 3 retries")
    journal.enqueue(new_entry(7, order="order-2"))


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_json_is_one_record_per_line_then_the_counts(journal_factory: JournalFactory) -> None:
    journal = journal_factory()
    populate(journal)
    code, out = run("--journal", journal_factory.location(journal), "--format", "json")
    assert code == 0
    *records, final = json_lines(out)
    assert [(r["invoice_number"], r["state"]) for r in records] == [
        ("000001", "queued"), ("000002", "sending"), ("000003", "sent"), ("000004", "delivered-already"),
        ("000005", "refused"), ("000006", "failed"), ("000007", "queued")]
    for record in records:
        assert set(record) == RECORD_KEYS
    by_number = {r["invoice_number"]: r for r in records}
    assert by_number["000003"]["receipt"] == "receipt-3"
    assert by_number["000003"]["sent_at"] is not None
    assert by_number["000005"]["findings"][0]["code"] == "totals.vnf"
    assert by_number["000006"]["reason"] == "VTEX unreachable after 3 retries"
    assert by_number["000002"]["attempts"] == 1
    assert final == {
        "counts": {"queued": 2, "sending": 1, "sent": 1, "delivered-already": 1, "refused": 1, "failed": 1},
        "total": 7, "matched": 7,
    }


def test_filters_combine_and_the_counts_stay_those_of_the_whole_journal(journal_factory: JournalFactory) -> None:
    journal = journal_factory()
    populate(journal)
    location = journal_factory.location(journal)

    def numbers(*argv: str) -> list[str]:
        code, out = run("--journal", location, "--format", "json", *argv)
        assert code == 0
        *records, final = json_lines(out)
        assert final["total"] == 7
        assert final["matched"] == len(records)
        return [r["invoice_number"] for r in records]

    assert numbers("--order-id", "order-2") == ["000002", "000007"]
    assert numbers("--state", "queued") == ["000001", "000007"]
    assert numbers("--order-id", "order-2", "--state", "queued") == ["000007"]
    assert numbers("--state", "failed") == ["000006"]
    today = datetime.now(UTC).date()
    assert len(numbers("--since", today.isoformat())) == 7
    assert numbers("--since", (today + timedelta(days=2)).isoformat()) == []
    assert len(numbers("--since", (datetime.now(UTC) - timedelta(hours=1)).isoformat())) == 7
    assert numbers("--since", "2999-01-01T00:00:00-03:00") == []
    assert numbers("--limit", "2") == ["000001", "000002"]


def test_text_for_a_pipe_is_a_summary_and_plain_aligned_columns(journal_factory: JournalFactory) -> None:
    journal = journal_factory()
    populate(journal)
    code, out = run("--journal", journal_factory.location(journal))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("journal ")
    assert lines[0].endswith(": 7 records (2 queued, 1 sending, 1 sent, 1 delivered-already, 1 refused, 1 failed)")
    header, *rows = lines[2:]
    assert header.split() == ["updated", "(UTC)", "state", "order", "id", "invoice", "attempts", "detail"]
    assert len(rows) == 7
    column = header.index("state")
    assert [row[column:].split()[0] for row in rows] == [
        "queued", "sending", "sent", "delivered-already", "refused", "failed", "queued"]
    assert "receipt receipt-3" in rows[2]
    assert "held by host-a:1:w until" in rows[1]
    assert "VTEX unreachable after 3 retries" in rows[5]
    assert "\x1b[" not in out and "│" not in out


def test_text_on_a_terminal_is_a_rich_table(journal_factory: JournalFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("COLUMNS", "160")
    monkeypatch.delenv("NO_COLOR", raising=False)
    journal = journal_factory()
    populate(journal)
    code, out = run("--journal", journal_factory.location(journal), out=Terminal())
    assert code == 0
    assert "\x1b[" in out  # styled by rich
    assert ": 7 records (" in out
    for text in ("order-1", "order-6", "delivered-already", "receipt-3", "VTEX unreachable after 3 retries"):
        assert text in out


def test_an_empty_journal_has_zero_counts(journal_factory: JournalFactory) -> None:
    journal = journal_factory()
    location = journal_factory.location(journal)
    code, out = run("--journal", location, "--format", "json")
    assert (code, json_lines(out)) == (0, [{"counts": dict.fromkeys(STATES, 0), "total": 0, "matched": 0}])
    code, out = run("--journal", location)
    assert code == 0
    assert out.splitlines() == [f"journal {journal.url}: 0 records ({', '.join(f'0 {s}' for s in STATES)})"]
    code, out = run("--journal", location, "--state", "sent")
    assert out.splitlines()[0].endswith(f"({', '.join(f'0 {s}' for s in STATES)})")


def test_no_match_says_so(tmp_path: Path) -> None:
    from nfe_invoice.journal.sqlite import SqliteJournal

    with SqliteJournal(tmp_path / "j.db") as journal:
        populate(journal)
    code, out = run("--journal", str(tmp_path / "j.db"), "--order-id", "nope")
    assert code == 0
    assert out.splitlines()[-1] == "no records match"


def test_the_environment_names_the_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nfe_invoice.journal.sqlite import SqliteJournal

    with SqliteJournal(tmp_path / "env.db") as journal:
        populate(journal)
    monkeypatch.setenv("NFE_INVOICE_JOURNAL", str(tmp_path / "env.db"))
    code, out = run("--format", "json")
    assert code == 0
    assert json_lines(out)[-1]["total"] == 7


def test_a_missing_journal_is_exit_3_and_is_not_created(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nothing-here.db"
    code, out = run("--journal", str(missing))
    assert (code, out) == (3, "")
    assert f"no journal at {missing}" in capsys.readouterr().err
    assert not missing.exists()


def test_a_file_that_is_not_a_journal_is_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.db").write_text("shopping list\n" * 200)
    code, _ = run("--journal", str(tmp_path / "notes.db"))
    assert code == 3
    err = capsys.readouterr().err
    assert err.startswith("nfe-invoice: cannot open the journal:")
    assert "Traceback" not in err


def test_a_postgresql_journal_that_cannot_be_opened_is_exit_3_without_its_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, "nfe_invoice.journal.postgres", None)  # the backend cannot be imported
    code, _ = run("--journal", "postgresql://nfe:hunter2@db.example:5432/journal")
    assert code == 3
    err = capsys.readouterr().err
    assert "postgresql://nfe:***@db.example:5432/journal" in err
    assert "hunter2" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--since", "yesterday"], "--since"),
        (["--since", "2026-12-01T10:00:00"], "UTC offset"),
        (["--limit", "0"], "--limit"),
    ],
)
def test_bad_values_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                     message: str) -> None:
    code, _ = run("--journal", str(tmp_path / "j.db"), *argv)
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "j.db").exists()


@pytest.mark.parametrize("argv", [["--state", "lost"], ["--format", "xml"], ["--limit", "many"], ["--bogus"]])
def test_bad_options_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:  # argparse exits by itself on its own usage errors
        run(*argv)
    assert exit_.value.code == 2


def test_the_states_shown_are_the_journal_states() -> None:
    assert set(STATES) == {state.value for state in State}


def test_the_command_line_does_not_load_the_journal_until_status_runs(tmp_path: Path) -> None:
    probe = ("import sys, nfe_invoice.cli; "
             "print(sorted(m for m in ('sqlite3', 'nfe_invoice.journal.sqlite', 'rich') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
    env = {**os.environ, "NFE_INVOICE_JOURNAL": str(tmp_path / "absent.db")}
    done = subprocess.run([sys.executable, "-m", "nfe_invoice.cli", "status"], capture_output=True, text=True,
                          env=env, check=False)
    assert done.returncode == 3
    assert "no journal at" in done.stderr


@pytest.mark.parametrize("command", [
    ["batch", "{folder}"],
    ["worker", "--drain"],
    ["watch", "{folder}"],
    ["serve", "--no-auth", "--port", "0"],
])
def test_a_delivering_command_without_credentials_leaves_no_journal_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    """A usage error is found before the journal is opened: a mistyped run creates no empty journal file."""
    monkeypatch.delenv("VTEX_APP_KEY", raising=False)
    monkeypatch.delenv("VTEX_APP_TOKEN", raising=False)
    monkeypatch.delenv("NFE_INVOICE_JOURNAL", raising=False)
    folder = tmp_path / "erp"
    folder.mkdir()
    journal = tmp_path / "journal.db"
    argv = [part.format(folder=folder) for part in command]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        status = main([*argv, "--journal", str(journal), "--base-url", "http://127.0.0.1:9"])
        gc.collect()
    err = capsys.readouterr().err
    assert status == 2 and "VTEX credentials" in err and "Traceback" not in err
    assert not journal.exists()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []  # serve's port
