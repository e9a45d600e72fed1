"""``nfe-invoice track``: send an invoice's tracking data (PATCH) and/or its delivery status and carrier events
(PUT) to VTEX, printing VTEX's receipt for each call as one JSON line.

Exit statuses: 0 sent, 2 usage error (options, dates, missing settings or credentials), 3 VTEX could not be
reached or refused after the retries (an unknown invoice number is VTEX's 404 "Invoice Not Found"). One line
of reason, never a traceback, never a credential.
"""



from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from .common import EXIT_OK, EXIT_UNREACHABLE, CommandFailed, Subcommands, UsageError, parse_moment
from .connection import add_connection_options, client_from_args
from .options import add_config_option

if TYPE_CHECKING:
    from ..vtex.models import InvoiceReceipt, TrackingEvent, TrackingStatus, TrackingUpdate


def _first_problem(exc: ValueError) -> str:
    """One line out of a pydantic ValidationError (a ValueError with ``errors()``), or of any ValueError."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        return f"{where}: {first['msg']}" if where else str(first["msg"])
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def _event(text: str) -> TrackingEvent:
    """``city,state,description,date``: the description may itself hold commas (the date is the last field)."""
    from ..vtex.models import TrackingEvent

    head, sep, date = text.rpartition(",")
    parts = head.split(",", 2) if sep else []
    if len(parts) != 3 or not all(p.strip() for p in (*parts, date)):
        raise UsageError(f"--event {text!r}: expected city,state,description,date")
    city, state, description = (p.strip() for p in parts)
    moment = parse_moment(date.strip(), "--event date")
    assert moment is not None  # the date was checked non-empty above
    try:
        return TrackingEvent(city=city, state=state, description=description, date=moment)
    except ValueError as exc:  # pydantic's ValidationError (only vtex/ may import pydantic)
        raise UsageError(f"--event {text!r}: {_first_problem(exc)}") from None


def _requests(args: argparse.Namespace) -> tuple[TrackingUpdate | None, TrackingStatus | None]:
    """The PATCH and PUT bodies the options ask for (either may be None, not both)."""
    from ..vtex.models import TrackingStatus, TrackingUpdate

    wants_status = args.delivered or args.events or args.delivered_date is not None
    if args.tracking_number is None and (args.tracking_url or args.courier or args.dispatched):
        raise UsageError("--tracking-url, --courier and --dispatched go with --tracking-number")
    if args.tracking_number is None and not wants_status:
        raise UsageError("track: give --tracking-number, or --delivered / --event for the delivery status")
    if args.delivered_date is not None and not args.delivered:
        raise UsageError("--delivered-date goes with --delivered")
    try:
        update = None
        if args.tracking_number is not None:
            update = TrackingUpdate(tracking_number=args.tracking_number, tracking_url=args.tracking_url,
                                    courier=args.courier, dispatched_date=parse_moment(args.dispatched, "--dispatched"))
        status = None
        if wants_status:
            delivered_at = parse_moment(args.delivered_date, "--delivered-date")
            if args.delivered and delivered_at is None:
                delivered_at = datetime.now(UTC).replace(microsecond=0)
            status = TrackingStatus(is_delivered=bool(args.delivered), delivered_date=delivered_at,
                                    events=tuple(_event(text) for text in args.events))
    except ValueError as exc:  # pydantic's ValidationError
        raise UsageError(f"track: {_first_problem(exc)}") from None
    return update, status


def _line(call: str, args: argparse.Namespace, receipt: InvoiceReceipt) -> dict[str, Any]:
    return {"call": call, "order_id": receipt.order_id or args.order_id, "invoice_number": args.invoice_number,
            "date": receipt.date, "receipt": receipt.receipt}


def _check_ids(args: argparse.Namespace) -> None:
    """The order id and invoice number as mapping allows them (URL path segments), before anything is sent."""
    import re

    from ..errors import MappingError
    from ..vtex.models import INVOICE_NUMBER_PATTERN
    from ..vtex.order_id import check_order_id

    try:
        check_order_id(args.order_id)
    except MappingError as exc:
        raise UsageError(exc.message) from None
    if not re.fullmatch(INVOICE_NUMBER_PATTERN, args.invoice_number):
        raise UsageError(f"invoice number {args.invoice_number!r}: expected 1 to 50 of A-Z a-z 0-9 and '-', "
                         "as VTEX holds it; it is never sent")


def cmd_track(args: argparse.Namespace, out: TextIO) -> int:
    from ..errors import VtexError

    _check_ids(args)
    update, status = _requests(args)
    client = client_from_args(args)
    lines: list[dict[str, Any]] = []
    try:
        with client:
            if update is not None:
                receipt = client.update_tracking(args.order_id, args.invoice_number, update)
                lines.append(_line("update_tracking", args, receipt))
            if status is not None:
                receipt = client.update_tracking_status(args.order_id, args.invoice_number, status)
                lines.append(_line("update_tracking_status", args, receipt))
    except VtexError as exc:
        for line in lines:  # what did go through is still reported
            out.write(json.dumps(line) + "\n")
        raise CommandFailed(f"VTEX: {exc.message}", EXIT_UNREACHABLE) from None
    except ValueError as exc:  # an empty order id or invoice number
        raise UsageError(str(exc)) from None
    for line in lines:
        out.write(json.dumps(line) + "\n")
    return EXIT_OK


def register(commands: Subcommands[argparse.ArgumentParser]) -> None:
    track = commands.add_parser(
        "track", help="send an invoice's tracking number (PATCH) and/or delivery status and events (PUT) to VTEX",
        description="Send tracking data for an invoice VTEX already holds. --tracking-number (with --tracking-url, "
        "--courier, --dispatched) updates the invoice; --delivered and --event send the delivery status. Both "
        "may be given (tracking first). Credentials come from the environment (VTEX_APP_KEY, VTEX_APP_TOKEN).")
    track.add_argument("order_id", metavar="ORDER_ID")
    track.add_argument("invoice_number", metavar="INVOICE_NUMBER")
    track.add_argument("--tracking-number", default=None, metavar="N")
    track.add_argument("--tracking-url", default=None, metavar="URL")
    track.add_argument("--courier", default=None, metavar="NAME")
    track.add_argument("--dispatched", default=None, metavar="ISO", help="dispatch date-time with a UTC offset")
    track.add_argument("--delivered", action="store_true", help="the package reached its destination")
    track.add_argument("--delivered-date", default=None, metavar="ISO",
                       help="when it was delivered (default: now), with a UTC offset")
    track.add_argument("--event", dest="events", action="append", default=[], metavar="CITY,STATE,DESCRIPTION,DATE",
                       help="a carrier event (repeatable); DATE is ISO 8601 with a UTC offset")
    add_connection_options(track)
    add_config_option(track)
    track.set_defaults(handler=cmd_track)
