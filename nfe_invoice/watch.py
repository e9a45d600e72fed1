"""The watched export folder: an ERP that writes each authorised NF-e into a folder feeds the journal from it.

``FolderWatcher(folder, journal, options, ...)`` (``nfe-invoice watch DIR``) takes every ``*.xml`` that lands in
``DIR``, hands it to the journal (:mod:`.hooks`: validated and mapped in worker processes, enqueued on the event
loop's thread) and moves it to ``DIR/done/`` or ``DIR/refused/``, with a ``.json`` report beside it. A worker
inside (the pipeline's :class:`~nfe_invoice.pipeline.Runner`) delivers what was queued, unless ``worker=False``.

Why a file is safe to take, and why nothing is lost or doubled:

* **Only complete files**: a file is taken once its size, modification time and inode have not changed for
  ``settle`` seconds (an ERP still writing keeps changing them); a file renamed in arrives complete and is
  taken after the same short wait. Its bytes are checked against that signature again after reading, so a
  write that resumed meanwhile puts it back to waiting. Temporary names are never looked at: hidden files
  (``.*``), ``*~``, anything not ending in ``.xml`` (``*.tmp``, ``*.part``), and the ``done``/``refused``
  folders themselves.
* **The folder is the truth, watchfiles the doorbell**: the folder is listed at start-up (files already there
  are processed) and again whenever watchfiles reports a change, and every ``rescan`` seconds anyway, so an
  event lost by the operating system (or a network share without notifications: ``force_polling``) only
  delays a file.
* **Journal first, then move**: a file is moved only after the journal holds its record. A crash in between
  leaves the file where it was; the next run takes it again and the journal's idempotency (same key and
  payload: unchanged) makes that a no-op before the move. The report is written before the file is moved.
"""

from __future__ import annotations

import asyncio
import contextlib
import filecmp
import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from .errors import NfeInvoiceError
from .hooks import Intake, IntakeOutcome, Preparer, decide
from .journal import Journal
from .pipeline import PipelineOptions, Result, Runner
from .vtex.client import AsyncVtexClient

logger = logging.getLogger("nfe_invoice.watch")

DONE: Final = "done"
REFUSED: Final = "refused"


def is_candidate(name: str) -> bool:
    """An export the watcher takes: ``*.xml`` (any case), not hidden, not a temporary or backup name."""
    return name.lower().endswith(".xml") and not name.startswith(".") and not name.endswith("~")


@dataclass(frozen=True)
class _Seen:
    """A file's signature when last listed, and since when it has not changed."""

    size: int
    mtime_ns: int
    inode: int
    since: float


IntakeCallback = Callable[[Result], None]


class FolderWatcher:
    """Watch ``folder`` until :meth:`stop`; see the module doc. ``on_result`` receives one
    :class:`~nfe_invoice.pipeline.Result` per file taken (state queued, refused, conflict, or the stored
    record's state for a duplicate) and, with the worker inside, one per invoice it delivers."""

    def __init__(
        self,
        folder: str | os.PathLike[str],
        journal: Journal,
        options: PipelineOptions,
        *,
        client: AsyncVtexClient | None = None,
        worker: bool = True,
        settle: float = 1.0,
        rescan: float = 5.0,
        jobs: int | None = None,
        concurrency: int = 8,
        lease_seconds: float = 60.0,
        poll_interval: float = 0.2,
        force_polling: bool = False,
        on_result: IntakeCallback | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if worker and client is None:
            raise NfeInvoiceError("the watcher's worker needs a VTEX client (or run it with worker=False)")
        self.folder = Path(folder)
        self.done = self.folder / DONE
        self.refused = self.folder / REFUSED
        self.journal = journal
        self.options = options
        self.client = client
        self.worker = worker
        self.settle = settle
        self.rescan = rescan
        self.force_polling = force_polling
        self.on_result = on_result or (lambda _result: None)
        self.preparer = Preparer(options, jobs=jobs)
        self.parallel = max(1, self.preparer.jobs) * 2
        self.runner = Runner(journal, client, options, concurrency=concurrency, lease_seconds=lease_seconds,
                             poll_interval=poll_interval, on_result=self._delivered) if worker else None
        self.taken = 0
        self._clock = clock
        self._seen: dict[str, _Seen] = {}
        # file as taken -> its report (None while being moved), completed when its invoice is delivered
        self._reports: dict[str, Path | None] = {}
        self._early: dict[str, Result] = {}  # delivered while its file was still being moved
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()

    def stop(self) -> None:
        """Stop taking files; files being taken are finished, the worker finishes or releases what it holds."""
        self._stopping.set()
        self._wake.set()
        if self.runner is not None:
            self.runner.stop()

    # ------------------------------------------------------------------------------------ the loop

    async def run(self) -> None:
        if not self.folder.is_dir():
            raise NfeInvoiceError(f"not a folder: {self.folder}")
        self.done.mkdir(exist_ok=True)
        self.refused.mkdir(exist_ok=True)
        await asyncio.to_thread(self.preparer.start)
        tasks = [asyncio.create_task(self._doorbell(), name="watchfiles")]
        if self.runner is not None:
            tasks.append(asyncio.create_task(self.runner.keep_running(), name="worker"))
        try:
            while not self._stopping.is_set():
                ready = self._list()
                if ready:
                    await self._take_all(ready)
                    continue
                self._wake.clear()
                timeout = self.settle / 4 if self._seen else self.rescan
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
        finally:
            self._stopping.set()
            if self.runner is not None:
                self.runner.stop()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.to_thread(self.preparer.close)

    async def _doorbell(self) -> None:
        """Wake the loop when watchfiles sees a candidate change (the listing decides what to take)."""
        from watchfiles import awatch  # noqa: PLC0415 (lazy: the HTTP service and tests of others never pay for it)

        folder = self.folder.resolve()  # watchfiles reports absolute paths, whatever the folder was given as

        def wanted(_change: Any, path: str) -> bool:
            return Path(path).parent == folder and is_candidate(Path(path).name)

        try:
            async for _changes in awatch(self.folder, watch_filter=wanted, recursive=False, debounce=50, step=25,
                                         stop_event=self._stopping, force_polling=self.force_polling or None,
                                         poll_delay_ms=200, rust_timeout=1000):
                self._wake.set()
        except Exception as exc:  # the listing every `rescan` seconds carries on without it
            logger.warning("watchfiles stopped (%s: %s); listing the folder every %g s instead",
                           type(exc).__name__, exc, self.rescan)


    def _list(self) -> list[Path]:
        """List the folder: remember new or changed candidates, and return those that have settled."""
        now = self._clock()
        present: dict[str, os.stat_result] = {}
        try:
            with os.scandir(self.folder) as entries:
                for entry in entries:
                    if is_candidate(entry.name) and entry.is_file(follow_symlinks=False):
                        with contextlib.suppress(OSError):
                            present[entry.name] = entry.stat(follow_symlinks=False)
        except OSError as exc:
            logger.error("cannot list %s: %s", self.folder, exc.strerror)
            return []
        ready = []
        for name, stat in present.items():
            seen = self._seen.get(name)
            if seen is None or (seen.size, seen.mtime_ns, seen.inode) != (stat.st_size, stat.st_mtime_ns, stat.st_ino):
                self._seen[name] = _Seen(stat.st_size, stat.st_mtime_ns, stat.st_ino, now)
            elif now - seen.since >= self.settle:
                ready.append(self.folder / name)
        for name in set(self._seen) - set(present):
            del self._seen[name]
        return sorted(ready)

    async def _take_all(self, paths: list[Path]) -> None:
        limit = asyncio.Semaphore(self.parallel)

        async def one(path: Path) -> None:
            async with limit:
                await self._take(path)

        await asyncio.gather(*(one(path) for path in paths))

    # ------------------------------------------------------------------------------------ one file

    async def _take(self, path: Path) -> None:
        try:
            await self._take_one(path)
        except Exception:  # one file never stops the folder: it stays, and is taken again later
            logger.exception("%s: not taken (an unexpected error, retried later)", _shown(path.name))
            self._seen.pop(path.name, None)
            self._reports.pop(_shown(str(path)), None)

    async def _take_one(self, path: Path) -> None:
        seen = self._seen.get(path.name)
        try:
            with path.open("rb") as handle:  # never more than the cap + 1: a larger file is refused as too large
                raw = handle.read(self.options.validation.max_bytes + 1)
            stat = path.stat()
        except FileNotFoundError:
            self._seen.pop(path.name, None)
            return
        except OSError as exc:
            logger.error("cannot read %s: %s (retried later)", path, exc.strerror)
            self._seen.pop(path.name, None)
            return
        if seen is None or (seen.size, seen.mtime_ns, seen.inode) != (stat.st_size, stat.st_mtime_ns, stat.st_ino):
            self._seen.pop(path.name, None)  # written to while we read: wait for it to settle again
            return
        label = _shown(str(path))  # the name as the journal and the reports keep it (always valid UTF-8)
        prepared = await self.preparer.prepare(raw, name=label)
        try:
            intake = decide(prepared, self.journal, force=self.options.force)  # on the loop's thread
        except NfeInvoiceError as exc:  # journal unreachable: the file stays, and is taken again later
            logger.error("%s: not taken, the journal failed: %s", path.name, exc)
            self._seen.pop(path.name, None)
            return
        destination = self.done if intake.accepted else self.refused
        if intake.outcome is IntakeOutcome.QUEUED:
            self._reports[label] = None
        try:
            moved = await asyncio.to_thread(_settle_file, path, destination, intake, (stat.st_size, stat.st_mtime_ns,
                                                                                      stat.st_ino))
        except _Replaced:
            # Another file took this name while this one was validated (renamed over it, or written on): the
            # journal holds what was read; what is there now is taken again, as a new file.
            logger.info("%s changed while it was being taken; it is taken again", _shown(path.name))
            self._seen.pop(path.name, None)
            self._reports.pop(label, None)
            return
        except OSError as exc:
            logger.error("%s: journaled but not moved (%s); it will be taken again", _shown(path.name), exc.strerror)
            self._seen.pop(path.name, None)
            self._reports.pop(label, None)
            return
        self._seen.pop(path.name, None)
        self.taken += 1
        self.on_result(intake.result(_shown(str(moved))))
        if label in self._reports:
            self._reports[label] = _report_path(moved)
            early = self._early.pop(label, None)
            if early is not None:
                self._delivered(early, announce=False)

    def _delivered(self, result: Result, *, announce: bool = True) -> None:
        """The worker finished an invoice: add what VTEX answered to the report of the file it came from."""
        if result.file and result.file in self._reports:
            report = self._reports[result.file]
            if report is None:  # still being moved: completed right after the move
                self._early[result.file] = result
            else:
                del self._reports[result.file]
                try:
                    _add_delivery(report, result)
                except (OSError, ValueError) as exc:
                    logger.warning("%s: the delivery could not be added to the report (%s)", report.name, exc)
        if announce:
            self.on_result(result)


def _shown(name: str) -> str:
    """A file name as text that is always valid UTF-8 (for the journal, the reports and the logs): a name
    that is not UTF-8 (Latin-1 from a Windows share) keeps its odd bytes as ``\\xe7`` escapes."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


class _Replaced(Exception):
    """The file at a path is no longer the one that was read (see :func:`_settle_file`)."""


#: The longest file name most file systems take, in bytes.
_NAME_MAX: Final = 255


def _report_path(file: Path) -> Path:
    """The report beside ``file``: its name with ``.json``, shortened (with a hash) when that would be too long."""
    name = f"{file.stem}.json"
    if len(os.fsencode(name)) > _NAME_MAX:
        digest = hashlib.sha1(os.fsencode(file.name)).hexdigest()[:12]
        name = f"{os.fsencode(file.stem)[:200].decode('utf-8', 'ignore')}-{digest}.json"
    return file.with_name(name)


def _write_json(path: Path, body: dict[str, Any]) -> None:
    """Write ``path`` whole or not at all (a short temporary name beside it, then a rename)."""
    temporary = path.with_name(f".nfe-invoice-{os.getpid()}-{uuid.uuid4().hex[:12]}.tmp")
    temporary.write_text(json.dumps(body, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def _add_delivery(report: Path, result: Result) -> None:
    body = json.loads(report.read_text(encoding="utf-8"))
    body["delivery"] = result.to_dict()
    _write_json(report, body)


def _settle_file(path: Path, folder: Path, intake: Intake, read: tuple[int, int, int]) -> Path:
    """Write the report, then move the file beside it (a name already used by other bytes gets a number).

    ``read`` is the (size, mtime, inode) of the file as it was read: if what is at ``path`` now differs (an ERP
    renamed a new export over it, or wrote on), nothing is moved (:class:`_Replaced`), so the new file is
    never filed under the old one's report without being journaled itself.
    """
    now = path.stat()
    if (now.st_size, now.st_mtime_ns, now.st_ino) != read:
        raise _Replaced(path.name)
    target = folder / path.name
    number = 0
    while target.exists() and not filecmp.cmp(target, path, shallow=False):
        number += 1
        target = folder / f"{path.stem}.{number}{path.suffix}"
    report = {"file": _shown(path.name), "moved_to": _shown(str(target)), **intake.to_dict()}
    if intake.outcome is IntakeOutcome.DUPLICATE:
        report["reason"] = "already received: the journal's record is unchanged"
    _write_json(_report_path(target), report)
    os.replace(path, target)
    return target
