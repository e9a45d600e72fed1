"""``nfe-invoice batch`` end to end: real subprocesses, a real sandbox on loopback, a real SQLite journal.

Nothing lost, nothing sent twice: a mixed folder, a rerun that sends nothing, a run killed with SIGKILL and
resumed, two batch processes on one journal, faults injected by the sandbox, and the exit statuses.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from nfe_invoice.vtex.sandbox import Sandbox

from .e2e import export, lines, no_secret_in, packages, run_cli, seed, start_cli


def batch(folder: Path, sandbox: Sandbox, journal: Path, *extra: str) -> tuple[int, list[dict[str, object]], str]:
    done = run_cli("batch", str(folder), "--base-url", sandbox.base_url, "--journal", str(journal),
                   "--format", "json", "--jobs", "1", *extra)
    assert "Traceback" not in done.stderr, done.stderr
    assert no_secret_in(done.stdout, done.stderr)
    return done.returncode, lines(done.stdout), done.stderr


@pytest.fixture
def sandbox() -> Sandbox:
    with Sandbox(seed=3) as running:
        yield running


def test_a_mixed_folder_sends_the_good_and_says_why_for_the_rest(tmp_path: Path, sandbox: Sandbox) -> None:
    docs = tmp_path / "erp"
    docs.mkdir()
    complete = export(docs, 1)
    partial = export(docs, 2)
    homologation = export(docs, 3, environment=2)
    export(docs, 4)  # its order is not at VTEX
    broken = export(docs, 5)
    broken.path.write_bytes(broken.raw.replace(b"<vNF>", b"<vNF>1", 1))  # edited after signing
    (docs / "nfe-000001-again.xml").write_bytes(complete.raw)  # the ERP exported it twice
    (docs / "not-an-nfe.xml").write_bytes(b"<html/>")
    for exported in (complete, homologation, broken):
        seed(sandbox, exported)
    seed(sandbox, partial, extra_items=[{"id": "9", "refId": "LATER", "price": 5000}])

    code, results, _ = batch(docs, sandbox, tmp_path / "journal.db")

    by_file = {Path(str(r["file"])).name: r for r in results}
    assert len(results) == 7, sorted(by_file)  # one line per document, the duplicate included
    assert code == 1  # some refused
    assert by_file["nfe-000001.xml"]["state"] == "sent" and by_file["nfe-000001.xml"]["receipt"]
    assert by_file["nfe-000001-again.xml"]["state"] == "sent"
    assert by_file["nfe-000002.xml"]["state"] == "sent"
    assert by_file["nfe-000003.xml"]["code"] == "pipeline.homologation"
    assert by_file["nfe-000004.xml"]["code"] == "pipeline.order_not_found"
    assert by_file["nfe-000005.xml"]["state"] == "refused"
    assert {f["code"] for f in by_file["nfe-000005.xml"]["findings"]} >= {"signature.digest"}  # type: ignore[union-attr]
    assert by_file["not-an-nfe.xml"]["state"] == "refused"
    assert sandbox.order(complete.order_id)["status"] == "invoiced"
    assert sandbox.order(partial.order_id)["status"] != "invoiced"
    assert len(packages(sandbox, partial.order_id)) == 1
    assert packages(sandbox, homologation.order_id) == [] and packages(sandbox, broken.order_id) == []
    assert sandbox.invoice_posts() == {(complete.order_id, "1"): 1, (partial.order_id, "2"): 1}

    # the same batch again sends nothing: the sent ones are reported as sent, the refused as refused
    code, again, _ = batch(docs, sandbox, tmp_path / "journal.db")
    assert code == 1
    assert sandbox.invoice_posts() == {(complete.order_id, "1"): 1, (partial.order_id, "2"): 1}
    assert Counter(r["state"] for r in again) == Counter(r["state"] for r in results)


def test_a_batch_killed_with_sigkill_resumes_and_nothing_is_lost_or_doubled(tmp_path: Path, sandbox: Sandbox) -> None:
    docs = tmp_path / "erp"
    docs.mkdir()
    exported = [export(docs, number) for number in range(1, 41)]
    for document in exported:
        seed(sandbox, document)
    journal = tmp_path / "journal.db"
    process = start_cli("batch", str(docs), "--base-url", sandbox.base_url, "--journal", str(journal),
                        "--format", "json", "--jobs", "1", "--rate", "12", "--concurrency", "4")
    deadline = time.monotonic() + 60
    while sum(sandbox.invoice_posts().values()) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    sent_before = sum(sandbox.invoice_posts().values())
    assert 5 <= sent_before < 40, "the kill must land in the middle of the run"

    code, results, _ = batch(docs, sandbox, journal, "--rate", "200")

    assert code == 0
    assert {r["state"] for r in results} <= {"sent", "delivered-already"}
    assert len(results) == 40
    for document in exported:
        assert sandbox.order(document.order_id)["status"] == "invoiced"
        assert [p["invoiceNumber"] for p in packages(sandbox, document.order_id)] == [document.invoice_number]
    # each invoice was confirmed once, or renewed once when the kill hit between VTEX's answer and the journal
    assert max(sandbox.invoice_posts().values()) <= 2
    status = run_cli("status", "--journal", str(journal), "--format", "json")
    assert status.returncode == 0, status.stderr
    *records, summary = lines(status.stdout)
    assert {r["state"] for r in records} <= {"sent", "delivered-already"} and len(records) == 40
    assert summary["counts"]["sending"] == summary["counts"]["queued"] == 0  # type: ignore[index]


def test_two_batch_processes_on_one_journal_never_send_one_invoice_twice(tmp_path: Path, sandbox: Sandbox) -> None:
    docs = tmp_path / "erp"
    docs.mkdir()
    exported = [export(docs, number) for number in range(1, 31)]
    for document in exported:
        seed(sandbox, document)
    journal = str(tmp_path / "journal.db")
    args = ("batch", str(docs), "--base-url", sandbox.base_url, "--journal", journal, "--format", "json",
            "--jobs", "1", "--rate", "100", "--concurrency", "3")
    first, second = start_cli(*args), start_cli(*args)
    outputs = [process.communicate(timeout=120) for process in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    for out, err in outputs:
        assert "Traceback" not in err
        assert len(lines(out)) == 30  # each process reports every document it was given
    assert sandbox.invoice_posts() == {(d.order_id, d.invoice_number): 1 for d in exported}


def test_faults_are_ridden_out_and_every_invoice_lands_once(tmp_path: Path, sandbox: Sandbox) -> None:
    docs = tmp_path / "erp"
    docs.mkdir()
    exported = [export(docs, number) for number in range(1, 26)]
    for document in exported:
        seed(sandbox, document)
    sandbox.set_faults("429=0.1,503=0.1,502=0.05,retry-after=0.05")  # refused at the gateway: nothing applied
    sandbox.queue_faults("none", "drop")  # and one answer lost after VTEX applied the request

    code, results, _ = batch(docs, sandbox, tmp_path / "journal.db", "--max-attempts", "8", "--rate", "200")

    assert code == 0, results
    assert sum(sandbox.stats["faults"].values()) > 0
    for document in exported:
        assert [p["invoiceNumber"] for p in packages(sandbox, document.order_id)] == [document.invoice_number]
    assert max(sandbox.invoice_posts().values()) <= 2  # the dropped answer may make one renewal, never more
    assert sum(sandbox.invoice_posts().values()) <= len(exported) + 1


def test_vtex_unreachable_is_exit_3_and_a_later_run_sends_them(tmp_path: Path) -> None:
    docs = tmp_path / "erp"
    docs.mkdir()
    document = export(docs, 1)
    journal = tmp_path / "journal.db"
    with Sandbox() as gone:
        url = gone.base_url  # a port that nothing listens on once closed
    done = run_cli("batch", str(docs), "--base-url", url, "--journal", str(journal), "--format", "json",
                   "--max-attempts", "2", "--retry-deadline", "2")
    assert done.returncode == 3, done.stderr
    [result] = lines(done.stdout)
    assert result["state"] == "failed" and "vtex.connection" in str(result["reason"])
    with Sandbox() as sandbox:
        seed(sandbox, document)
        code, results, _ = batch(docs, sandbox, journal)
        assert code == 0
        assert [r["state"] for r in results] == ["sent"]
        assert sandbox.invoice_posts() == {(document.order_id, "1"): 1}


def test_a_failed_record_is_retried_by_the_next_worker_run_without_its_file(tmp_path: Path) -> None:
    """serve and watch keep no file to enqueue again: the next run itself queues a failed record again."""
    docs = tmp_path / "erp"
    docs.mkdir()
    document = export(docs, 1)
    journal = tmp_path / "journal.db"
    assert run_cli("enqueue", str(docs), "--journal", str(journal), "--format", "json").returncode == 0
    document.path.unlink()
    with Sandbox(seed=2) as sandbox:
        seed(sandbox, document)
        sandbox.set_faults("503=1")  # VTEX refusing every request for now
        first = run_cli("worker", "--journal", str(journal), "--base-url", sandbox.base_url, "--drain",
                        "--format", "json", "--max-attempts", "1")
        assert first.returncode == 3 and [r["state"] for r in lines(first.stdout)] == ["failed"]
        sandbox.set_faults(None)
        second = run_cli("worker", "--journal", str(journal), "--base-url", sandbox.base_url, "--drain",
                         "--format", "json")
        assert second.returncode == 0, second.stderr
        assert [r["state"] for r in lines(second.stdout)] == ["sent"]
        assert sandbox.invoice_posts() == {(document.order_id, "1"): 1}


def test_what_a_batch_reports_is_what_its_journal_holds_when_records_fail_while_it_feeds(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """A record that fails in a run waits for the next run: the batch's line and the journal agree (a retry
    queued once feeding ended sent it again unreported, and the line said failed while the journal said sent)."""
    docs = tmp_path / "erp"
    docs.mkdir()
    for document in [export(docs, n) for n in range(1, 301)]:
        seed(sandbox, document)
    sandbox.queue_faults(*["503"] * 6)  # the first requests fail, while most files are still being fed
    journal = tmp_path / "journal.db"
    done = run_cli("batch", str(docs), "--base-url", sandbox.base_url, "--journal", str(journal), "--format",
                   "json", "--jobs", "1", "--max-attempts", "1", "--concurrency", "1", "--rate", "100000")
    assert done.returncode == 3, done.stderr
    reported = {(r["order_id"], r["invoice_number"]): r["state"] for r in lines(done.stdout)}
    assert len(reported) == 300 and 1 <= Counter(reported.values())["failed"] <= 6
    status = run_cli("status", "--journal", str(journal), "--format", "json")
    held = {(r["order_id"], r["invoice_number"]): r["state"] for r in lines(status.stdout)[:-1]}
    assert held == reported
    posts = sandbox.invoice_posts()
    assert all(posts.get(key, 0) == (state == "sent") for key, state in reported.items())


def test_a_worker_never_delivers_another_stores_records(tmp_path: Path) -> None:
    """One journal, two stores: a worker sends only to the store its client speaks to, and its drain does not
    wait for the other store's records."""
    docs = tmp_path / "erp"
    docs.mkdir()
    document = export(docs, 1)
    journal = tmp_path / "journal.db"
    with Sandbox() as store_a, Sandbox() as store_b:
        seed(store_a, document)
        seed(store_b, document)
        store_a.set_faults("503=1")  # store A refuses everything for now: its record stays failed
        failed = run_cli("batch", str(docs), "--journal", str(journal), "--base-url", store_a.base_url,
                         "--format", "json", "--max-attempts", "1")
        assert [r["state"] for r in lines(failed.stdout)] == ["failed"], failed.stderr
        store_a.set_faults(None)
        other = run_cli("worker", "--journal", str(journal), "--base-url", store_b.base_url, "--drain",
                        "--format", "json")
        assert other.returncode == 0 and lines(other.stdout) == [], other.stderr
        assert store_b.invoice_posts() == {}
        own = run_cli("worker", "--journal", str(journal), "--base-url", store_a.base_url, "--drain",
                      "--format", "json")
        assert [r["state"] for r in lines(own.stdout)] == ["sent"], own.stderr
        assert store_a.invoice_posts() == {(document.order_id, "1"): 1} and store_b.invoice_posts() == {}


def test_dry_run_sends_nothing_and_writes_no_journal(tmp_path: Path, sandbox: Sandbox) -> None:
    docs = tmp_path / "erp"
    docs.mkdir()
    document = export(docs, 1)
    seed(sandbox, document)
    journal = tmp_path / "journal.db"
    code, results, _ = batch(docs, sandbox, journal, "--dry-run")
    assert code == 0
    assert [r["state"] for r in results] == ["would-send"]
    assert results[0]["decision"]["code"] == "reconcile.complete"  # type: ignore[index]
    assert sandbox.invoice_posts() == {}
    assert not journal.exists()


def test_paths_from_a_list_on_stdin(tmp_path: Path, sandbox: Sandbox) -> None:
    docs = tmp_path / "erp"
    docs.mkdir()
    first, second = export(docs, 1), export(docs, 2)
    for document in (first, second):
        seed(sandbox, document)
    done = run_cli("batch", "--from-list", "-", "--base-url", sandbox.base_url, "--journal",
                   str(tmp_path / "j.db"), "--format", "json", stdin=f"{first.path}\n# a comment\n{second.path}\n")
    assert done.returncode == 0, done.stderr
    assert sorted(Path(str(r["file"])).name for r in lines(done.stdout)) == ["nfe-000001.xml", "nfe-000002.xml"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("batch", "missing-folder", "--base-url", "http://127.0.0.1:9"), "no such file or folder"),
        (("batch", "."), "VTEX: give --account"),
        (("batch", ".", "--base-url", "http://127.0.0.1:9", "--order-id-from", "bogus"), "order id rule"),
    ],
)
def test_usage_errors_are_exit_2_with_one_line(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    done = run_cli(*args, "--journal", str(tmp_path / "j.db"), env={"VTEX_ACCOUNT": "", "VTEX_BASE_URL": ""})
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
