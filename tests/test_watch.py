"""The watched export folder with real files, a real SQLite journal and the VTEX sandbox on loopback: files
present at start-up, written slowly, renamed in, duplicated, refused, journaled just before a crash, and the
``watch`` command killed with SIGKILL and restarted."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from nfe_invoice.config import Settings
from nfe_invoice.journal import Query, State, open_journal
from nfe_invoice.parse import parse
from nfe_invoice.pipeline import PipelineOptions, Result, async_client_for, prepare
from nfe_invoice.testing.orders import authorised_sale, order_for_document
from nfe_invoice.vtex.sandbox import Sandbox
from nfe_invoice.watch import FolderWatcher, is_candidate

from .e2e import CREDENTIALS, identity, run_cli

SETTLE = 0.25
BROKEN = (Path(__file__).resolve().parents[1] / "nfe_invoice" / "samples"
          / "35261111222333000181550010000010021314159263_broken_nfe55_vnf_one_cent_off.xml")
_NUMBERS = iter(range(9000, 9999))


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as vtex:
        yield vtex


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)


def make(sandbox: Sandbox) -> tuple[bytes, str, str]:
    """A signed, authorised NF-e whose order the sandbox holds: (bytes, order id, invoice number)."""
    number = next(_NUMBERS)
    order_id = f"WATCH{number:05d}-01"
    raw = authorised_sale(number, order_id, identity())
    sandbox.add_order(order_for_document(parse(raw), order_id))
    return raw, order_id, str(number)


def wait_for(condition: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def report(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.with_suffix(".json").read_text(encoding="utf-8")))


class Watching:
    """A FolderWatcher on its own event loop in a thread, as ``nfe-invoice watch`` runs it."""

    def __init__(self, folder: Path, journal_path: Path, sandbox: Sandbox, *, worker: bool = True,
                 rescan: float = 1.0) -> None:
        self.folder, self.journal_path, self.sandbox, self.worker = folder, journal_path, sandbox, worker
        self.rescan = rescan
        self.results: list[Result] = []
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self.error: BaseException | None = None

    async def _main(self) -> None:
        settings = Settings(base_url=self.sandbox.base_url, max_attempts=2, retry_deadline=5.0)
        journal = open_journal(self.journal_path)
        client = async_client_for(settings) if self.worker else None
        options = PipelineOptions.from_settings(settings)
        try:
            self.watcher = FolderWatcher(self.folder, journal, options, client=client, worker=self.worker,
                                         settle=SETTLE, rescan=self.rescan, jobs=1, lease_seconds=5.0,
                                         poll_interval=0.05,
                                         on_result=self.results.append)
            self.loop = asyncio.get_running_loop()
            self._ready.set()
            await self.watcher.run()
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            self._ready.set()
            if client is not None:
                await client.aclose()
            journal.close()

    def __enter__(self) -> Watching:
        self._thread.start()
        self._ready.wait(20)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.watcher.stop)
        self._thread.join(20)
        assert not self._thread.is_alive()
        assert self.error is None

    def states(self, name: str) -> list[str]:
        return [result.state for result in self.results if result.file and Path(result.file).name == name]


def test_candidate_names() -> None:
    assert is_candidate("nfe-1.xml") and is_candidate("NFE-1.XML")
    for name in (".nfe-1.xml", "nfe-1.xml~", "nfe-1.xml.tmp", "nfe-1.part", "done", "refused", "notes.txt"):
        assert not is_candidate(name), name


def test_files_there_at_start_up_are_taken_sent_and_moved_with_a_report(tmp_path: Path, sandbox: Sandbox) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    made = [make(sandbox) for _ in range(3)]
    for raw, _, number in made:
        (folder / f"nfe-{number}.xml").write_bytes(raw)
    with Watching(folder, tmp_path / "journal.db", sandbox):
        for raw, order_id, number in made:
            wait_for(lambda o=order_id, n=number: sandbox.receipt(o, n))
            moved = folder / "done" / f"nfe-{number}.xml"
            assert moved.read_bytes() == raw
            body = report(moved)
            assert body["outcome"] == "queued" and body["file"] == f"nfe-{number}.xml"
            assert body["record"]["order_id"] == order_id and body["record"]["invoice_number"] == number
            delivered = wait_for(lambda m=moved: report(m).get("delivery"))  # completed once VTEX answered
            assert delivered["state"] == "sent" and delivered["receipt"] == sandbox.receipt(order_id, number)
        assert sorted(p.name for p in folder.iterdir()) == ["done", "refused"]
    with open_journal(tmp_path / "journal.db") as journal:
        records = list(journal.records())
    assert len(records) == 3 and {record.state for record in records} == {State.SENT}


def test_a_file_written_slowly_is_taken_only_once_complete(tmp_path: Path, sandbox: Sandbox) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    raw, order_id, number = make(sandbox)
    with Watching(folder, tmp_path / "journal.db", sandbox) as watching:
        target = folder / "slow.xml"
        step = len(raw) // 8 + 1
        with target.open("wb") as handle:  # eight pieces, each sooner than the settle time after the last
            for start in range(0, len(raw), step):
                handle.write(raw[start : start + step])
                handle.flush()
                time.sleep(SETTLE * 0.6)
        wait_for(lambda: sandbox.receipt(order_id, number))
        wait_for((folder / "done" / "slow.xml").exists)
        assert watching.states("slow.xml")[0] == "queued"
        assert "refused" not in watching.states("slow.xml")
        assert not any((folder / "refused").iterdir())


def test_a_file_name_that_is_not_utf8_is_taken_and_the_folder_goes_on(tmp_path: Path, sandbox: Sandbox) -> None:
    """A Latin-1 name from a Windows share used to stop the watcher at every start, and the folder with it."""
    folder = tmp_path / "export"
    folder.mkdir()
    latin, order_a, number_a = make(sandbox)
    later, order_b, number_b = make(sandbox)
    odd = os.fsencode(folder) + b"/nota-fiscal-a\xe7ao.xml"
    with open(odd, "wb") as handle:
        handle.write(latin)
    with Watching(folder, tmp_path / "journal.db", sandbox):
        wait_for(lambda: sandbox.receipt(order_a, number_a))
        (folder / "later.xml").write_bytes(later)
        wait_for(lambda: sandbox.receipt(order_b, number_b))
        wait_for(lambda: os.path.exists(os.fsencode(folder) + b"/done/nota-fiscal-a\xe7ao.xml"))
    body = json.loads(Path(os.fsdecode(os.fsencode(folder) + b"/done/nota-fiscal-a\xe7ao.json")).read_text("utf-8"))
    assert body["file"] == "nota-fiscal-a\\xe7ao.xml"  # the odd byte kept visible, the report valid UTF-8
    with open_journal(tmp_path / "journal.db") as journal:
        assert {record.state for record in journal.records()} == {State.SENT}


def test_a_file_replaced_while_it_was_taken_is_left_to_be_taken_again(tmp_path: Path) -> None:
    """An ERP renamed a new export over the name while the first was validated: the new file must not be
    moved under the first one's report (it was never journaled)."""
    from nfe_invoice.watch import _Replaced, _settle_file

    path = tmp_path / "nfe.xml"
    path.write_bytes(b"<first/>")
    read = path.stat()
    newer = tmp_path / ".incoming"
    newer.write_bytes(b"<second, another document/>")
    os.replace(newer, path)
    done = tmp_path / "done"
    done.mkdir()
    with pytest.raises(_Replaced):
        _settle_file(path, done, None, (read.st_size, read.st_mtime_ns, read.st_ino))  # type: ignore[arg-type]
    assert path.read_bytes() == b"<second, another document/>" and not any(done.iterdir())


def test_a_long_file_name_is_moved_with_a_shortened_report(tmp_path: Path, sandbox: Sandbox) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    raw, order_id, number = make(sandbox)
    name = "n" * 251 + ".xml"  # 255 bytes: legal, but name.json is not, nor was the temporary report name
    (folder / name).write_bytes(raw)
    with Watching(folder, tmp_path / "journal.db", sandbox):
        wait_for(lambda: sandbox.receipt(order_id, number))
        wait_for((folder / "done" / name).exists)
    [report_file] = [p for p in (folder / "done").iterdir() if p.suffix == ".json"]
    assert len(report_file.name) <= 255 and json.loads(report_file.read_text("utf-8"))["file"] == name
    assert sorted(p.name for p in folder.iterdir()) == ["done", "refused"]


def test_a_folder_given_as_a_relative_path_is_woken_at_once(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """watchfiles reports absolute paths: they must match a folder given relatively (no 30 s listing wait)."""
    (tmp_path / "export").mkdir()
    monkeypatch.chdir(tmp_path)
    with Watching(Path("export"), tmp_path / "journal.db", sandbox, rescan=30.0):
        time.sleep(1.0)  # the start-up listing is done: only watchfiles can wake the watcher now
        raw, order_id, number = make(sandbox)
        (tmp_path / "export" / "nfe.xml").write_bytes(raw)
        wait_for(lambda: sandbox.receipt(order_id, number), timeout=10.0)


def test_a_file_renamed_in_is_taken_and_temporary_names_are_left_alone(tmp_path: Path, sandbox: Sandbox) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    raw, order_id, number = make(sandbox)
    ignored = [".hidden.xml", "backup.xml~", "partial.xml.tmp", "upload.part"]
    with Watching(folder, tmp_path / "journal.db", sandbox):
        for name in ignored:
            (folder / name).write_bytes(raw)
        staging = folder / "renamed.xml.tmp"
        staging.write_bytes(raw)
        os.rename(staging, folder / "renamed.xml")
        wait_for((folder / "done" / "renamed.xml").exists)
        wait_for(lambda: sandbox.receipt(order_id, number))
        time.sleep(SETTLE * 4)
        for name in ignored:
            assert (folder / name).read_bytes() == raw, name
    assert sandbox.invoice_posts()[(order_id, number)] == 1


def test_a_duplicate_is_queued_once_and_both_files_are_done(tmp_path: Path, sandbox: Sandbox) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    raw, order_id, number = make(sandbox)
    (folder / "first.xml").write_bytes(raw)
    (folder / "second.xml").write_bytes(raw)
    with Watching(folder, tmp_path / "journal.db", sandbox):
        wait_for(lambda: (folder / "done" / "first.xml").exists() and (folder / "done" / "second.xml").exists())
        outcomes = sorted(report(folder / "done" / name)["outcome"] for name in ("first.xml", "second.xml"))
        assert outcomes == ["duplicate", "queued"]
        wait_for(lambda: sandbox.receipt(order_id, number))
        (folder / "first.xml").write_bytes(raw)  # the ERP exports it once more, under the same name
        wait_for(lambda: not (folder / "first.xml").exists())
        assert report(folder / "done" / "first.xml")["outcome"] == "duplicate"
        assert sorted(p.name for p in (folder / "done").iterdir()) == [
            "first.json", "first.xml", "second.json", "second.xml"]
    with open_journal(tmp_path / "journal.db") as journal:
        assert len(list(journal.records())) == 1
    assert sandbox.invoice_posts()[(order_id, number)] == 1


def test_refused_documents_go_to_refused_with_their_findings(tmp_path: Path, sandbox: Sandbox) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "broken.xml").write_bytes(BROKEN.read_bytes())
    (folder / "garbage.xml").write_bytes(b"this is not XML")
    homologation = authorised_sale(next(_NUMBERS), "WATCH-HOM-1", identity(), environment=2)
    (folder / "homologation.xml").write_bytes(homologation)
    (folder / "big.xml").write_bytes(b"<a>" + b"x" * (6 * 1024 * 1024) + b"</a>")
    with Watching(folder, tmp_path / "journal.db", sandbox, worker=False):
        wait_for(lambda: len(list((folder / "refused").glob("*.xml"))) == 4)
    assert report(folder / "refused" / "big.xml")["findings"][0]["code"] == "input.too_large"
    broken = report(folder / "refused" / "broken.xml")
    assert broken["outcome"] == "refused" and broken["code"] == "pipeline.validation"
    assert "totals.vnf" in {finding["code"] for finding in broken["findings"]}
    garbage = report(folder / "refused" / "garbage.xml")
    assert garbage["record"] is None and garbage["findings"][0]["code"] == "input.malformed"
    assert report(folder / "refused" / "homologation.xml")["code"] == "pipeline.homologation"
    assert not list((folder / "done").iterdir())


def test_a_file_journaled_just_before_a_crash_is_moved_once_not_doubled(tmp_path: Path, sandbox: Sandbox) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    raw, order_id, number = make(sandbox)
    (folder / "crash.xml").write_bytes(raw)
    settings = Settings(base_url=sandbox.base_url)
    prepared = prepare(folder / "crash.xml", PipelineOptions.from_settings(settings))
    assert prepared.record is not None
    with open_journal(tmp_path / "journal.db") as journal:  # the previous run's write; it died before moving
        journal.enqueue(prepared.record)
    with Watching(folder, tmp_path / "journal.db", sandbox):
        wait_for((folder / "done" / "crash.xml").exists)
        assert report(folder / "done" / "crash.xml")["outcome"] == "duplicate"
        wait_for(lambda: sandbox.receipt(order_id, number))
    with open_journal(tmp_path / "journal.db") as journal:
        records = list(journal.records(Query(order_id=order_id)))
    assert len(records) == 1 and records[0].state is State.SENT
    assert sandbox.invoice_posts()[(order_id, number)] == 1


# --------------------------------------------------------------------------------- the command line


def _start_watch(folder: Path, journal: Path, sandbox: Sandbox) -> subprocess.Popen[str]:
    environment = {**os.environ, **CREDENTIALS}
    environment.pop("NFE_INVOICE_JOURNAL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "nfe_invoice.cli", "watch", str(folder), "--journal", str(journal), "--base-url",
         sandbox.base_url, "--settle", str(SETTLE), "--rescan", "1", "--jobs", "1", "--lease", "2",
         "--format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)


def _drop(folder: Path, raw: bytes, name: str) -> None:
    """As a careful ERP does: write under a temporary name, then rename in."""
    staging = folder / f"{name}.tmp"
    staging.write_bytes(raw)
    os.rename(staging, folder / name)


def test_the_watch_command_killed_and_restarted_loses_and_doubles_nothing(tmp_path: Path, sandbox: Sandbox) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    journal = tmp_path / "journal.db"
    made = [make(sandbox) for _ in range(24)]
    first = _start_watch(folder, journal, sandbox)
    try:
        for raw, _, number in made[:16]:
            _drop(folder, raw, f"nfe-{number}.xml")
            time.sleep(0.02)
        wait_for(lambda: len(list((folder / "done").glob("*.xml"))) >= 4 if (folder / "done").exists() else False)
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=10)
    for raw, _, number in made[16:]:
        _drop(folder, raw, f"nfe-{number}.xml")
    second = _start_watch(folder, journal, sandbox)
    try:
        wait_for(lambda: len(list((folder / "done").glob("*.xml"))) == len(made), timeout=60)
        for _, order_id, number in made:
            wait_for(lambda o=order_id, n=number: sandbox.receipt(o, n), timeout=30)
    finally:
        second.send_signal(signal.SIGTERM)
        out, err = second.communicate(timeout=20)
    assert second.returncode == 0, err
    assert not list(folder.glob("*.xml")) and not list((folder / "refused").iterdir())
    posts = sandbox.invoice_posts()
    assert all(posts[(order_id, number)] == 1 for _, order_id, number in made), posts
    with open_journal(journal) as opened:
        records = list(opened.records())
    assert len(records) == len(made) and {record.state for record in records} == {State.SENT}
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert {line["state"] for line in lines} <= {"queued", "sent", "sending", "delivered-already"}
    assert all(secret not in out + err for secret in CREDENTIALS.values())


def test_watch_usage_errors(tmp_path: Path) -> None:
    missing = run_cli("watch", str(tmp_path / "nowhere"), "--no-worker", "--journal", str(tmp_path / "j.db"))
    assert missing.returncode == 2 and "not a folder" in missing.stderr
    no_vtex = run_cli("watch", str(tmp_path), "--journal", str(tmp_path / "j.db"),
                      env={"VTEX_ACCOUNT": "", "VTEX_BASE_URL": ""})
    assert no_vtex.returncode == 2 and "--base-url" in no_vtex.stderr
