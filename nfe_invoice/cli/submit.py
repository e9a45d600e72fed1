"""``nfe-invoice submit FILE --order-id ID``: validate, map, check the order and send one invoice.

Prints one JSON object (the same shape as a ``batch --format json`` line): the receipt when sent, or the
decision when nothing needed sending or VTEX would refuse it. No journal: for a folder, or anything an ERP
runs every day, use ``batch`` (it remembers what was sent). Exit status: 0 sent or already at VTEX,
1 refused before sending, 2 usage error, 3 VTEX unreachable or refusing after the retries.
"""

from __future__ import annotations

import argparse
import os
from typing import TextIO

from .common import EXIT_NOT_OK, EXIT_OK, EXIT_UNREACHABLE, CommandFailed, Subcommands, UsageError
from .options import add_config_option, add_mapping_options, resolve_settings, validation_options_of


def cmd_submit(args: argparse.Namespace, out: TextIO) -> int:
    from ..errors import ConfigurationError
    from ..journal import State
    from ..pipeline import PipelineOptions, Result, client_for, deliver_sync, dumps, prepare

    if not os.path.isfile(args.file):
        raise UsageError(f"no such file: {args.file}")
    settings = resolve_settings(args).settings
    try:
        options = PipelineOptions.from_settings(
            settings, order_id=args.order_id, force=args.force, validation=validation_options_of(settings)
        )
        client = client_for(settings)
    except ConfigurationError as exc:
        raise UsageError(exc.message) from None
    prepared = prepare(args.file, options)
    record = prepared.record
    if prepared.refused or record is None:
        out.write(dumps(prepared.refusal()) + "\n")
        raise CommandFailed(f"refused: [{prepared.code}] {prepared.reason}", EXIT_NOT_OK)
    with client:
        outcome = deliver_sync(record.key.order_id, record.document, record.payload, client, options,
                               invoice_number=record.key.invoice_number)
    result = Result(args.file, record.access_key, record.key.order_id, record.key.invoice_number, outcome.state.value,
                    receipt=outcome.receipt, reason=outcome.reason, code=outcome.code, decision=outcome.decision,
                    warnings=prepared.warnings)
    out.write(dumps(result) + "\n")
    if outcome.state in (State.SENT, State.DELIVERED_ALREADY):
        return EXIT_OK
    if outcome.state is State.REFUSED:
        raise CommandFailed(f"refused: {outcome.reason}", EXIT_NOT_OK)
    raise CommandFailed(f"not sent: {outcome.reason}", EXIT_UNREACHABLE)


def register(commands: Subcommands[argparse.ArgumentParser]) -> None:
    from .connection import add_connection_options

    submit = commands.add_parser("submit", help="validate, map, check the order and send one invoice to VTEX")
    submit.add_argument("file", metavar="FILE", help="the authorised NF-e (nfeProc) to send")
    submit.add_argument("--order-id", metavar="ID", default=None,
                        help="the VTEX order id (default: found by --order-id-from, compra/xPed)")
    add_mapping_options(submit)
    add_config_option(submit)
    add_connection_options(submit)
    submit.set_defaults(handler=cmd_submit)
