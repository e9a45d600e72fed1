"""``nfe-invoice status``: what the journal holds, counts per state and the records, for people or machines.

Output contract (``--format json``): one JSON object per matching record per line, exactly
:meth:`Record.to_dict() <nfe_invoice.journal.base.Record.to_dict>`, oldest first; then one final line
``{"counts": {state: n, ... every state}, "total": n, "matched": n}`` with the counts of the whole journal
(``matched``: the records printed above it). A consumer tells the last line by its ``counts`` key.

Text: a summary line of the counts, then a table of the matching records (drawn with rich when stdout is a
terminal, plain aligned columns otherwise, so it pipes into grep and less).

Exit status: 0; 2 for a bad option; 3 when the journal cannot be opened or read (a SQLite file that does not
exist is not created: there is nothing to show).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, TextIO

from ..errors import JournalError
from .common import EXIT_OK, EXIT_UNREACHABLE, CommandFailed, Subcommands, UsageError, parse_moment

if TYPE_CHECKING:  # the journal is imported when the command runs, not when the CLI starts
    from ..journal import Counts, Query, Record

#: The journal's states in the order they are shown (the life of a record); kept here so ``--help`` needs no
#: import of the journal package.
STATES = ("queued", "sending", "sent", "delivered-already", "refused", "failed")
COLUMNS = ("updated (UTC)", "state", "order id", "invoice", "attempts", "detail")


def parse_since(text: str | None) -> datetime | None:
    """``--since``: a date (midnight UTC that day) or an ISO 8601 date-time with a UTC offset."""
    if text is None:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return parse_moment(text, "--since")
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def build_query(args: argparse.Namespace) -> Query:
    from ..journal import Query, State  # lazy: see the module doc

    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    return Query(
        order_id=args.order_id,
        state=State(args.state) if args.state else None,
        since=parse_since(args.since),
        limit=args.limit,
    )


def detail(record: Record) -> str:
    """The one thing people want to know about a record in its state."""
    state = record.state.value
    if state in ("sent", "delivered-already"):
        return f"receipt {record.receipt}" if record.receipt else "already at VTEX"
    if state == "sending":
        until = f" until {record.lease_expires:%H:%M:%S}" if record.lease_expires else ""
        return f"held by {record.lease_owner}{until}"
    if record.reason:
        return record.reason
    if record.findings:
        return ", ".join(str(f.get("code")) for f in record.findings)
    return record.source or ""


def row(record: Record) -> tuple[str, ...]:
    return (
        f"{record.updated_at.astimezone(UTC):%Y-%m-%d %H:%M:%S}",
        record.state.value,
        record.key.order_id,
        record.key.invoice_number,
        str(record.attempts),
        detail(record),
    )


def summary(location: str, counts: Counts) -> str:
    by_state = {state.value: n for state, n in counts.by_state.items()}
    parts = ", ".join(f"{by_state.get(state, 0)} {state}" for state in STATES)
    return f"journal {location}: {counts.total} record{'' if counts.total == 1 else 's'} ({parts})"


def write_plain(rows: Sequence[tuple[str, ...]], out: TextIO) -> None:
    widths = [max(len(cells[i]) for cells in [COLUMNS, *rows]) for i in range(len(COLUMNS) - 1)]
    for cells in [COLUMNS, *rows]:
        out.write("  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=False)))
        out.write(f"  {cells[-1]}".rstrip() + "\n")


def write_rich(rows: Sequence[tuple[str, ...]], out: TextIO) -> None:
    from rich.console import Console  # lazy: see the module doc
    from rich.table import Table

    table = Table(*COLUMNS, box=None, header_style="bold")
    colours = {"sent": "green", "delivered-already": "green", "refused": "red", "failed": "red", "sending": "yellow"}
    for cells in rows:
        style = colours.get(cells[1])
        table.add_row(*cells, style=style)
    Console(file=out).print(table)


def cmd_status(args: argparse.Namespace, out: TextIO) -> int:
    from ..journal import default_journal_location, masked_location, open_journal

    query = build_query(args)
    location = args.journal or default_journal_location()
    try:
        journal = open_journal(location, create=False)
    except JournalError as exc:
        raise CommandFailed(f"cannot open the journal: {exc}", EXIT_UNREACHABLE) from exc
    try:
        counts = journal.counts()
        if args.format == "json":
            matched = 0
            for record in journal.records(query):
                out.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
                matched += 1
            by_state = {state.value: n for state, n in counts.by_state.items()}
            final: dict[str, Any] = {"counts": {state: by_state.get(state, 0) for state in STATES},
                                     "total": counts.total, "matched": matched}
            out.write(json.dumps(final) + "\n")
            return EXIT_OK
        rows = [row(record) for record in journal.records(query)]
        out.write(summary(masked_location(journal.url), counts) + "\n")
        if not rows:
            out.write("no records match\n" if counts.total else "")
            return EXIT_OK
        out.write("\n")
        if out.isatty():
            write_rich(rows, out)
        else:
            write_plain(rows, out)
    except JournalError as exc:
        raise CommandFailed(f"cannot read the journal: {exc}", EXIT_UNREACHABLE) from exc
    finally:
        journal.close()
    return EXIT_OK


def register(commands: Subcommands[argparse.ArgumentParser]) -> None:
    status = commands.add_parser(
        "status",
        help="show what the journal holds: counts per state and the records",
        description="Counts per state and the journal's records, oldest first; filters combine.",
    )
    status.add_argument("--journal", metavar="FILE|URL",
                        help="a SQLite file or a postgresql:// URL (default: $NFE_INVOICE_JOURNAL, else "
                             "nfe-invoice-journal.db in the current folder)")
    status.add_argument("--order-id", metavar="ID", help="only this order's records")
    status.add_argument("--state", choices=STATES, help="only records in this state")
    status.add_argument("--since", metavar="DATE",
                        help="only records changed since then: a date (midnight UTC) or an ISO 8601 date-time "
                             "with offset")
    status.add_argument("--limit", type=int, metavar="N", help="at most N records")
    status.add_argument("--format", choices=("text", "json"), default="text",
                        help="text for people; json: one Record per line, then a final {\"counts\": ...} line")
    status.set_defaults(handler=cmd_status)
