"""``nfe-invoice watch DIR``: take every NF-e an ERP writes into an export folder (see :mod:`nfe_invoice.watch`).

Each file is taken once complete, queued in the journal and moved to ``DIR/done/`` or ``DIR/refused/`` with a
``.json`` report beside it; the worker inside delivers what was queued (``--no-worker``: only queue). One result
line per file taken and per invoice delivered (JSON lines when stdout is not a terminal). SIGTERM or Ctrl-C
stops it cleanly: files being taken are finished, invoices in flight finish or go back to the journal.
watchfiles is imported inside the handler: other commands never pay for it.
"""

from __future__ import annotations

import argparse
import signal
from contextlib import suppress
from pathlib import Path
from typing import TextIO

from .batch import Printer, journal_and_client, open_journal, pipeline_options
from .common import EXIT_OK, EXIT_UNREACHABLE, CommandFailed, Subcommands, UsageError, positive_float
from .connection import add_connection_options
from .options import (
    add_config_option,
    add_format_option,
    add_journal_option,
    add_mapping_options,
    add_worker_options,
    output_format,
    resolve_settings,
)


def _seconds(text: str) -> float:
    return positive_float(text, below=3600)


def cmd_watch(args: argparse.Namespace, out: TextIO) -> int:
    import asyncio  # at run time: the other commands start without it

    from ..errors import NfeInvoiceError
    from ..watch import FolderWatcher

    folder = Path(args.folder)
    if not folder.is_dir():
        raise UsageError(f"not a folder: {args.folder}")
    settings = resolve_settings(args).settings
    options = pipeline_options(settings, args)
    journal, client = (open_journal(settings), None) if args.no_worker else journal_and_client(settings)
    printer = Printer(output_format(args, out), out)
    try:
        async def run() -> None:
            watcher = FolderWatcher(folder, journal, options, client=client, worker=not args.no_worker,
                                    settle=args.settle, rescan=args.rescan, jobs=args.jobs,
                                    concurrency=max(1, settings.concurrency), lease_seconds=settings.lease,
                                    force_polling=args.poll, on_result=printer.emit)
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                with suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.add_signal_handler(signum, watcher.stop)
            if client is None:
                await watcher.run()
                return
            async with client:
                await watcher.run()

        try:
            asyncio.run(run())
        except NfeInvoiceError as exc:
            raise CommandFailed(f"watch: {exc}", EXIT_UNREACHABLE) from None
    finally:
        printer.close()
        journal.close()
    return EXIT_OK


def register(commands: Subcommands[argparse.ArgumentParser]) -> None:
    watch = commands.add_parser("watch", help="take the NF-e an ERP writes into a folder, queue and send them")
    watch.add_argument("folder", metavar="DIR", help="the ERP's export folder (done/ and refused/ are made in it)")
    watch.add_argument("--no-worker", action="store_true",
                       help="only queue: separate `nfe-invoice worker` processes send (a PostgreSQL journal)")
    watch.add_argument("--settle", type=_seconds, default=1.0, metavar="SECONDS",
                       help="a file is taken once unchanged for this long (default 1)")
    watch.add_argument("--rescan", type=_seconds, default=5.0, metavar="SECONDS",
                       help="list the folder at least this often, events or not (default 5)")
    watch.add_argument("--poll", action="store_true",
                       help="poll instead of file-system notifications (network shares: SMB, NFS)")
    watch.add_argument("--jobs", type=int, metavar="N", default=None,
                       help="processes validating documents (default: number of cores; 0: a thread)")
    add_mapping_options(watch)
    add_worker_options(watch)
    add_config_option(watch)
    add_journal_option(watch)
    add_connection_options(watch)
    add_format_option(watch)
    watch.set_defaults(handler=cmd_watch)
