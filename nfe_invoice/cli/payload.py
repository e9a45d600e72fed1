"""``nfe-invoice payload``: the VTEX invoice body for one NF-e on stdout, everything said about it on stderr.

stdout carries only the JSON body (so it can be piped to a file or to curl); findings, warnings, rounding
residuals, the order id and, with ``--order-json``, the reconciliation decision go to stderr. Exit status
0 mapped (sendable, or already delivered), 1 refused (validation errors without ``--force``, a mapping or
a reconciliation refusal: one line with the reason and its code), 2 usage error.

The VTEX modules (pydantic) are imported inside the handler: ``nfe-invoice validate`` must not pay for them.
"""


from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ..errors import ConfigurationError, MappingError
from ..validate import validate_full
from .common import EXIT_NOT_OK, EXIT_OK, CommandFailed, Subcommands, UsageError, finding_line
from .validate import add_validation_options, validation_options

if TYPE_CHECKING:
    from ..vtex.mapping import MappingOptions
    from ..vtex.models import Order


def _refused(code: str, message: str) -> CommandFailed:
    return CommandFailed(f"refused [{code}]: {message}", EXIT_NOT_OK)


def _read_order(path: str) -> Order:
    from ..vtex.mapping import read_order

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise UsageError(f"--order-json: cannot read {path} ({exc.strerror or exc})") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"--order-json: {path} is not JSON ({exc})") from exc
    try:
        return read_order(data)
    except MappingError as exc:
        raise UsageError(f"--order-json: {path} is {exc.message}") from exc


def _options(args: argparse.Namespace) -> MappingOptions:
    from ..vtex.mapping import MappingOptions, load_sku_map

    try:
        return MappingOptions(
            invoice_number_format=args.invoice_number_format,
            embed_invoice=not args.no_embed,
            invoice_url_template=args.invoice_url,
            courier=args.courier,
            sku_map=load_sku_map(args.sku_map) if args.sku_map else None,
            invoice_value_as_integer=args.integer_value,
        )
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from exc


def _say(lines: list[str]) -> None:
    for line in lines:
        sys.stderr.write(line + "\n")


def cmd_payload(args: argparse.Namespace, out: TextIO) -> int:
    from ..vtex.mapping import ValidationRefusedError, build_invoice
    from ..vtex.order_id import OrderIdRule, check_order_id, find_order_id
    from ..vtex.reconcile import reconcile

    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"no such file: {args.file}")
    options = _options(args)
    try:
        rule = OrderIdRule.parse(args.order_id_rule)
    except ConfigurationError as exc:
        raise UsageError(f"--order-id-rule: {exc}") from exc
    order = _read_order(args.order_json) if args.order_json else None

    validated = validate_full(path, validation_options(args))
    report, document = validated.report, validated.document
    notes = [finding_line(finding.to_dict()) for finding in report.findings]
    _say(notes)
    if document is None:
        first = report.errors[0]
        raise _refused("mapping.validation", f"{path} cannot be read as an NF-e: [{first.code}] {first.message}")

    try:
        if args.order_id is not None:
            order_id = check_order_id(args.order_id)
            source = "--order-id"
        else:
            order_id, source = find_order_id(document, rule), f"the document ({rule.text})"
    except MappingError as exc:
        if args.order_id is not None or order is not None:
            raise _refused(exc.code, exc.message) from exc
        order_id, source = None, f"not found ({exc.message})"
    if order is not None and order_id is not None and order.order_id != order_id:
        raise _refused("mapping.order_id", f"the order JSON is order {order.order_id}, not {order_id} ({source})")

    try:
        mapped = build_invoice(document, report=report, order=order, options=options, force=args.force)
    except ValidationRefusedError as exc:
        raise _refused(exc.code, exc.message + " (use --force to map it anyway)") from exc
    except MappingError as exc:
        raise _refused(exc.code, exc.message) from exc

    summary: list[str] = [f"order: {order_id or (order.order_id if order else '-')} ({source})"]
    summary += [f"warning: {warning}" for warning in mapped.warnings]
    for residual in mapped.residuals:
        if residual.residual_cents:
            summary.append(
                f"residual: SKU {residual.sku_id} {residual.quantity} x {residual.unit_price_cents} cents leaves "
                f"{residual.residual_cents:+d} cent(s) of its net {residual.net_cents} "
                f"({residual.residual_per_unit} per unit; invoiceValue stays vNF)"
            )
    decision_data: dict[str, Any] | None = None
    if order is not None:
        decision = reconcile(order, mapped.payload)
        decision_data = decision.to_dict()
        summary.append(f"decision: {decision.action} [{decision.code}] {'; '.join(decision.reasons)}"
                       + (f" -> predicted status {decision.predicted_status}" if decision.predicted_status else ""))
        summary += [f"warning: {warning}" for warning in decision.warnings]
    _say(summary)
    if decision_data is not None and decision_data["action"] == "refuse":
        raise _refused(decision_data["code"], "; ".join(decision_data["reasons"]))
    out.write(mapped.payload.to_json(invoice_value_as_integer=options.invoice_value_as_integer) + "\n")
    return EXIT_OK


def register(commands: Subcommands[argparse.ArgumentParser]) -> None:
    payload = commands.add_parser(
        "payload", help="print the VTEX invoice body for one NF-e (stdout), with findings and decisions (stderr)"
    )
    payload.add_argument("file", metavar="FILE", help="the NF-e (nfeProc or NFe) XML file")
    payload.add_argument("--order-id", metavar="ID", help="the VTEX order id (default: found in the document)")
    payload.add_argument("--order-id-rule", metavar="RULE", default="xped",
                         help="where to find the order id: xped (default), infcpl:REGEX or map:CSV")
    payload.add_argument("--order-json", metavar="FILE",
                         help="the order as GET /api/oms/pvt/orders/{orderId} returns it: SKU ids, unitMultiplier "
                         "and the reconciliation decision come from it")
    payload.add_argument("--sku-map", metavar="CSV", help="cProd,skuId table used when no order is given")
    payload.add_argument("--force", action="store_true", help="map even when validation found errors")
    payload.add_argument("--invoice-number-format", metavar="FMT", default="{nNF}",
                         help="the invoiceNumber, from {nNF} {serie} {mod} {key} {cNF} (default {nNF}); "
                         "e.g. {serie}-{nNF}")
    payload.add_argument("--invoice-url", metavar="TEMPLATE",
                         help="invoiceUrl template, e.g. https://files.example/{key}.xml")
    payload.add_argument("--courier", metavar="NAME", help="courier (default: transp/transporta/xNome)")
    payload.add_argument("--no-embed", action="store_true", help="leave embeddedInvoice out")
    payload.add_argument("--integer-value", action="store_true",
                         help="send invoiceValue as an integer instead of the spec's string of digits")
    add_validation_options(payload)
    payload.set_defaults(handler=cmd_payload)
