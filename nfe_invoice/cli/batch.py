"""``batch``, ``enqueue`` and ``worker``: the commands an ERP export hook (or a fleet of workers) runs.

* ``batch PATH...``: validate every document on every core, map, queue in the journal, then deliver with the
  async client and bounded concurrency (enqueue + worker in one process, on either journal backend);
* ``enqueue PATH...``: validate, map and queue only (no VTEX connection needed on that machine);
* ``worker``: claim queued records under leases and deliver them, until stopped or (``--drain``) until
  nothing is pending.

People get a progress bar on stderr and a summary table; machines get one JSON line per document
(``--format json``, the default when stdout is not a terminal). Exit status: 0 all sent (or already at
VTEX; for enqueue: all queued), 1 some refused, 3 some could not be sent, 2 usage error.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from .common import EXIT_OK, EXIT_UNREACHABLE, CommandFailed, Subcommands, UsageError
from .options import (
    add_config_option,
    add_format_option,
    add_journal_option,
    add_mapping_options,
    add_sources_options,
    add_worker_options,
    output_format,
    resolve_settings,
    source_paths,
    validation_options_of,
)

if TYPE_CHECKING:
    from ..config import Settings
    from ..journal import Journal
    from ..pipeline import PipelineOptions, Result
    from ..vtex.client import AsyncVtexClient


# ------------------------------------------------------------------------------------------- output


class Printer:
    """Writes each document's result as it becomes final: JSON lines, or text lines + a progress bar."""

    def __init__(self, fmt: str, out: TextIO, *, total: int | None = None, err: TextIO | None = None) -> None:
        self.fmt = fmt
        self.out = out
        self.counts: dict[str, int] = {}
        self._progress: Any = None
        self._task: Any = None
        err = err or sys.stderr
        if fmt == "text" and err.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[summary]}"), TimeElapsedColumn(),
                console=Console(file=err), transient=True,
            )
            self._task = self._progress.add_task("documents", total=total, summary="")
            self._progress.start()

    def emit(self, result: Result) -> None:
        from ..pipeline import dumps

        self.counts[result.state] = self.counts.get(result.state, 0) + 1
        if self.fmt == "json":
            self.out.write(dumps(result) + "\n")
            self.out.flush()
        else:
            self.out.write(result_text(result) + "\n")
        if self._progress is not None:
            summary = "  ".join(f"{state} {count}" for state, count in sorted(self.counts.items()))
            self._progress.update(self._task, advance=1, summary=summary)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        if self.fmt == "text":
            self.out.write(summary_table(self.counts))

    def set_total(self, total: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, total=total)


def result_text(result: Result, *, name: str | None = None) -> str:
    """One document's outcome for people: state, file, order and invoice, receipt, then why (reason,
    findings, the reconciliation's notes such as a partial invoice, mapping warnings), indented."""
    where = f"order {result.order_id or '?'} invoice {result.invoice_number or '?'}"
    line = f"{result.state.upper():<18} {name or result.file or result.access_key or ''}  {where}"
    if result.receipt:
        line += f"  receipt {result.receipt}"
    if result.reason and result.state != "sent":
        line += f"\n    {result.reason}"
    for finding in result.findings[:5]:
        sefaz = f"/{finding.get('sefaz')}" if finding.get("sefaz") else ""
        line += f"\n    [{finding.get('code')}{sefaz}] {finding.get('message')}"
    notes = (result.decision or {}).get("warnings", ())
    for warning in (*notes, *result.warnings):
        line += f"\n    note: {warning}"
    return line


def summary_table(counts: dict[str, int]) -> str:
    """The end-of-run table for people (plain text, so it reads the same in a log file)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="summary")
    table.add_column("state")
    table.add_column("documents", justify="right")
    for state, count in sorted(counts.items()):
        table.add_row(state, str(count))
    table.add_row("total", str(sum(counts.values())), style="bold")
    with open(os.devnull, "w", encoding="utf-8") as sink:
        console = Console(width=60, no_color=True, record=True, file=sink)
        console.print(table)
    text = str(console.export_text())
    return text if text.endswith("\n") else text + "\n"


# ---------------------------------------------------------------------------------------- set-up

#: The feeder waits while more records than this are queued or being sent (bounded memory and journal).
_MAX_QUEUED = 512


def pipeline_options(settings: Settings, args: argparse.Namespace) -> PipelineOptions:
    from ..errors import ConfigurationError
    from ..pipeline import PipelineOptions

    try:
        return PipelineOptions.from_settings(
            settings, force=bool(getattr(args, "force", False)), validation=validation_options_of(settings)
        )
    except ConfigurationError as exc:
        raise UsageError(exc.message) from None


def open_journal(settings: Settings, *, durable: bool = True) -> Journal:
    """The configured journal. ``durable=False`` (batch) skips SQLite's flush at each commit: a power cut may
    forget the last outcomes, never corrupt the file, and the next run recovers them safely (the files are
    still there to enqueue again, and a record back in ``sending`` is checked against the order first)."""
    from ..errors import JournalError
    from ..journal import open_journal as open_location

    try:
        return open_location(settings.journal, durable=durable)
    except JournalError as exc:
        raise CommandFailed(f"journal: {exc.message}", EXIT_UNREACHABLE) from None


def journal_and_client(settings: Settings, *, durable: bool = True) -> tuple[Journal, AsyncVtexClient]:
    """The configured journal and the client that delivers from it, sharing the account's rate through it.
    The client's configuration is checked first, so a usage error (no credentials, say) leaves no new
    journal behind; the journal is closed if the client cannot be built."""
    from ..errors import ConfigurationError
    from ..pipeline import JournalRateLimiter, account_name, async_client_for, check_client_settings

    try:
        check_client_settings(settings)
        journal = open_journal(settings, durable=durable)
        try:
            limiter = JournalRateLimiter(journal, account_name(settings), settings.rate)
            return journal, async_client_for(settings, rate_limiter=limiter)
        except BaseException:
            journal.close()
            raise
    except ConfigurationError as exc:
        raise UsageError(exc.message) from None


def jobs_of(args: argparse.Namespace) -> int:
    return int(args.jobs) if getattr(args, "jobs", None) else (os.cpu_count() or 1)


# ------------------------------------------------------------------------------------------- batch


@dataclass
class Job:
    """One run of batch, enqueue or worker: what it reads, where it writes, whom it talks to."""

    options: PipelineOptions
    settings: Settings
    journal: Journal
    printer: Printer
    jobs: int = 1
    client: AsyncVtexClient | None = None


async def _feed_and_drain(job: Job, paths: Sequence[str], *, deliver: bool) -> None:
    import asyncio  # here, not at the top: `nfe-invoice validate` starts without it

    from ..pipeline import Runner, prepare_each, prepare_executor

    options, settings, journal, client, printer, jobs = (
        job.options, job.settings, job.journal, job.client, job.printer, job.jobs
    )
    runner = Runner(journal, client, options, concurrency=settings.concurrency, lease_seconds=settings.lease,
                    on_result=printer.emit, report_all=False)
    feeding = asyncio.Event()
    executor = prepare_executor(options, jobs if len(paths) >= 32 else 1, journal=True)

    async def feed() -> None:
        try:
            count = 0
            async for prepared in prepare_each(paths, options, executor):
                count += 1
                if deliver and count % 64 == 0:  # keep the queue short: memory stays flat, whatever the folder
                    while journal.pending(options.account) > _MAX_QUEUED and not feeding.is_set():
                        await asyncio.sleep(0.02)
                result = runner.enqueue(prepared)
                if not deliver and result.state == "queued":
                    printer.emit(result)
        finally:
            feeding.set()
            if executor is not None:
                executor.shutdown(wait=False, cancel_futures=True)

    feeder = asyncio.create_task(feed())
    try:
        if deliver:
            _install_stop(runner)
            await runner.run(drain=True, feeding=feeding)
        await feeder
        if deliver:
            for result in runner.pending_results(list(runner.unreported())):
                printer.emit(result)
    finally:
        feeder.cancel()
        with suppress(asyncio.CancelledError):
            await feeder


def _install_stop(runner: Any) -> None:
    """SIGTERM stops claiming; what is in flight finishes or is released (SIGINT does the same via asyncio)."""
    import asyncio

    loop = asyncio.get_running_loop()
    with suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGTERM, runner.stop)


def cmd_batch(args: argparse.Namespace, out: TextIO) -> int:
    import asyncio

    from ..pipeline import exit_status

    settings = resolve_settings(args).settings
    paths = source_paths(args)
    options = pipeline_options(settings, args)
    fmt = output_format(args, out)
    if args.dry_run:
        return dry_run(paths, options, settings, fmt=fmt, out=out, jobs=jobs_of(args))
    journal, client = journal_and_client(settings, durable=False)
    printer = Printer(fmt, out, total=len(paths))
    try:
        asyncio.run(_run_with_client(Job(options, settings, journal, printer, jobs_of(args), client), paths))
    finally:
        printer.close()
        journal.close()
    return exit_status(printer.counts)


async def _run_with_client(job: Job, paths: Sequence[str]) -> None:
    assert job.client is not None
    async with job.client:
        await _feed_and_drain(job, paths, deliver=True)


def dry_run(paths: Sequence[str], options: PipelineOptions, settings: Settings, *, fmt: str, out: TextIO,
            jobs: int) -> int:
    """Validate, map and (when a connection is configured) check each order; never send, never journal."""
    from ..pipeline import WOULD_SEND, Result, exit_status, plan_delivery, prepare_all, prepare_executor

    client = None
    if options.order_check and (settings.account or settings.base_url):
        from ..pipeline import client_for

        client = client_for(settings)
    printer = Printer(fmt, out, total=len(paths))
    executor = prepare_executor(options, jobs if len(paths) >= 32 else 1)
    try:
        for prepared in prepare_all(paths, options, executor):
            record = prepared.record
            if prepared.refused or record is None:
                printer.emit(prepared.refusal())
                continue
            state, reason, code, decision = WOULD_SEND, None, None, None
            if client is not None:
                from ..errors import VtexError

                try:
                    order = client.get_order(record.key.order_id)
                    plan = plan_delivery(record.key.order_id, record.document, record.payload, order, options,
                                         invoice_number=record.key.invoice_number)
                    if plan.outcome is not None:
                        state, reason, code = plan.outcome.state.value, plan.outcome.reason, plan.outcome.code
                        decision = plan.outcome.decision
                    elif plan.decision is not None:
                        code, decision = plan.decision.code, plan.decision.to_dict()
                except VtexError as exc:
                    state, reason, code = "failed", f"order: [{exc.code}] {exc.message}", exc.code
            printer.emit(Result(prepared.source, record.access_key, record.key.order_id, record.key.invoice_number,
                                state, reason=reason, code=code, decision=decision, warnings=prepared.warnings))
    finally:
        if executor is not None:
            executor.shutdown(cancel_futures=True)
        if client is not None:
            client.close()
        printer.close()
    return exit_status(printer.counts)


# ----------------------------------------------------------------------------------------- enqueue


def cmd_enqueue(args: argparse.Namespace, out: TextIO) -> int:
    import asyncio

    from ..pipeline import exit_status

    settings = resolve_settings(args).settings
    paths = source_paths(args)
    options = pipeline_options(settings, args)
    journal = open_journal(settings)
    printer = Printer(output_format(args, out), out, total=len(paths))
    try:
        asyncio.run(_feed_and_drain(Job(options, settings, journal, printer, jobs_of(args)), paths, deliver=False))
    finally:
        printer.close()
        journal.close()
    return exit_status(printer.counts)


# ------------------------------------------------------------------------------------------ worker


def cmd_worker(args: argparse.Namespace, out: TextIO) -> int:
    import asyncio

    from ..pipeline import Runner

    settings = resolve_settings(args).settings
    options = pipeline_options(settings, args)
    journal, client = journal_and_client(settings)
    printer = Printer(output_format(args, out), out)

    async def work() -> None:
        runner = Runner(journal, client, options, concurrency=settings.concurrency, lease_seconds=settings.lease,
                        on_result=printer.emit)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, runner.stop)
        async with client:
            await runner.run(drain=args.drain)

    try:
        asyncio.run(work())
    finally:
        printer.close()
        journal.close()
    failed = printer.counts.get("failed", 0)
    return EXIT_UNREACHABLE if failed else EXIT_OK


# ------------------------------------------------------------------------------------------ parser


def _common(parser: argparse.ArgumentParser, *, connection: bool) -> None:
    add_config_option(parser)
    add_journal_option(parser)
    if connection:
        from .connection import add_connection_options

        add_connection_options(parser)
    add_format_option(parser)


def register(commands: Subcommands[argparse.ArgumentParser]) -> None:
    batch = commands.add_parser("batch", help="validate, map, journal and send a folder of NF-e to VTEX")
    add_sources_options(batch)
    add_mapping_options(batch)
    add_worker_options(batch)
    _common(batch, connection=True)
    batch.add_argument("--dry-run", action="store_true",
                       help="validate, map and check orders, but send nothing and write no journal")
    batch.add_argument("--jobs", type=int, metavar="N", default=None,
                       help="processes validating documents (default: number of cores)")
    batch.set_defaults(handler=cmd_batch)

    enqueue = commands.add_parser("enqueue", help="validate, map and queue documents in the journal (no sending)")
    add_sources_options(enqueue)
    add_mapping_options(enqueue)
    _common(enqueue, connection=False)
    enqueue.add_argument("--jobs", type=int, metavar="N", default=None,
                         help="processes validating documents (default: number of cores)")
    enqueue.set_defaults(handler=cmd_enqueue)

    worker = commands.add_parser("worker", help="deliver queued invoices from the journal to VTEX")
    add_mapping_options(worker, order_id_rule=False)
    add_worker_options(worker)
    _common(worker, connection=True)
    worker.add_argument("--drain", action="store_true",
                        help="exit once nothing is queued or being sent (otherwise run until SIGTERM/SIGINT)")
    worker.set_defaults(handler=cmd_worker)
