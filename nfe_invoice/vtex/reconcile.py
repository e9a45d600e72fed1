"""Predict what VTEX will do with an invoice before sending it (pure: an order and a payload in, a decision out).

VTEX accepts nearly everything and then does something quiet: the same invoice number again renews the
receipt and keeps the old data; a value short of the order's total is taken as a partial invoice (the
order stays where it is); an invoice on a canceled order is lost. VTEX's ERP guide asks connectors to
read the order first. This module is that reading, as one function over the fetched order:

1. an invoice already in ``packageAttachment.packages`` with the same number: the same value, key and
   type means it is there already (``already_delivered``, nothing to send); anything else differing is a
   refusal (``reconcile.number_conflict``): VTEX would keep the old data;
2. the order's state: canceled or canceling (``reconcile.canceled``), cancellation requested
   (``reconcile.cancellation_requested``), already ``invoiced`` for an Output (``reconcile.invoiced``);
3. the value: remaining = order value − Output invoices + Input invoices. An Output equal to the
   remaining completes the order (it will reach ``invoiced``); smaller is a partial invoice (legal, a
   warning); larger is refused (``reconcile.over_value``). An Input (a return) is refused before the
   order is fully invoiced (``reconcile.input_before_invoiced``) and may not return more than was
   invoiced net of earlier returns (``reconcile.over_value``);
4. the SKUs: every payload item must be one of the order's SKUs (``reconcile.unknown_sku``): an id
   that is not VTEX's SKU id (an ERP code) would be rejected or mis-booked.

The decision is data (:class:`Decision`), printed by the CLI and stored by the journal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .models import InvoicePayload, Order, Package

Action = Literal["send", "already_delivered", "refuse"]

#: Order statuses (VTEX's ids, as GET order returns them) in which an invoice must not be sent.
CANCELED_STATUSES = frozenset({"canceled", "cancel", "canceling"})
CANCELLATION_REQUESTED_STATUSES = frozenset({"cancellation-requested", "request-cancel"})
INVOICED_STATUS = "invoiced"


@dataclass(frozen=True)
class Decision:
    """What to do with an invoice for this order, why, and what VTEX's order will look like after."""

    action: Action
    code: str
    reasons: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    predicted_status: str | None = None
    remaining_cents: int | None = None

    @property
    def send(self) -> bool:
        return self.action == "send"

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "code": self.code,
            "reasons": list(self.reasons),
            "warnings": list(self.warnings),
            "predictedStatus": self.predicted_status,
            "remainingCents": self.remaining_cents,
        }


def _invoice_type(package: Package) -> str:
    return (package.type or "Output").strip().lower()


def _sums(order: Order) -> tuple[int, int]:
    """Cents already invoiced by Output packages and returned by Input packages."""
    output = returned = 0
    for package in order.packages:
        if package.invoice_value is None:
            continue
        if _invoice_type(package) == "input":
            returned += package.invoice_value
        else:
            output += package.invoice_value
    return output, returned


def _same_number(order: Order, payload: InvoicePayload) -> Decision | None:
    for package in order.packages:
        if package.invoice_number != payload.invoice_number:
            continue
        differences = []
        if package.invoice_value != payload.invoice_value:
            differences.append(f"value {package.invoice_value} cents there, {payload.invoice_value} here")
        if (package.invoice_key or None) != (payload.invoice_key or None):
            differences.append(f"key {package.invoice_key} there, {payload.invoice_key} here")
        if _invoice_type(package) != payload.type.lower():
            differences.append(f"type {package.type} there, {payload.type} here")
        if not differences:
            return Decision(
                action="already_delivered",
                code="reconcile.already_delivered",
                reasons=(f"order {order.order_id} already holds invoice {payload.invoice_number} with this value "
                         "and key: nothing to send",),
                predicted_status=order.status,
            )
        reasons = [f"order {order.order_id} already holds invoice {payload.invoice_number} with other data "
                   f"({'; '.join(differences)}): VTEX would keep the old data and only renew the receipt"]
        if (package.invoice_key or None) != (payload.invoice_key or None):
            reasons.append("another NF-e has this invoice number: numbers repeat across series (a return is "
                           "often issued in its own series), so an invoice number format with the series, "
                           "such as {serie}-{nNF}, tells them apart")
        return Decision(action="refuse", code="reconcile.number_conflict", reasons=tuple(reasons),
                        predicted_status=order.status)
    return None


def _unknown_skus(order: Order, payload: InvoicePayload) -> list[str]:
    known = {item.id for item in order.items}
    return [item.id for item in payload.items if item.id not in known]


def reconcile(order: Order, payload: InvoicePayload) -> Decision:
    """Send, already delivered, or refuse, with the reasons and the order status VTEX will show after."""
    status = (order.status or "").strip().lower() or None
    repeated = _same_number(order, payload)
    if repeated is not None:
        return repeated

    def refuse(code: str, reason: str, remaining: int | None = None) -> Decision:
        return Decision("refuse", code, (reason,), predicted_status=order.status, remaining_cents=remaining)

    if status in CANCELED_STATUSES:
        return refuse("reconcile.canceled", f"order {order.order_id} is {order.status}: an invoice would be lost")
    if status in CANCELLATION_REQUESTED_STATUSES:
        return refuse("reconcile.cancellation_requested",
                      f"order {order.order_id} has a cancellation request ({order.status}): decide on it first")
    unknown = _unknown_skus(order, payload)
    if unknown:
        return refuse("reconcile.unknown_sku",
                      f"SKU id(s) {', '.join(unknown)} are not items of order {order.order_id} "
                      "(an ERP code instead of VTEX's SKU id?)")
    output, returned = _sums(order)
    remaining = order.value - output + returned
    value = payload.invoice_value

    if payload.type == "Input":
        invoiced_net = output - returned
        if status != INVOICED_STATUS and remaining > 0:
            return refuse("reconcile.input_before_invoiced",
                          f"a return (Input) before order {order.order_id} is fully invoiced "
                          f"(status {order.status}, {remaining} cents still to invoice)", remaining)
        if value > invoiced_net:
            return refuse("reconcile.over_value",
                          f"the return of {value} cents exceeds what order {order.order_id} has invoiced net of "
                          f"returns ({invoiced_net} cents)", remaining)
        return Decision("send", "reconcile.return",
                        (f"a return of {value} cents of the {invoiced_net} invoiced on order {order.order_id}",),
                        predicted_status=order.status, remaining_cents=remaining + value)

    if status == INVOICED_STATUS:
        return refuse("reconcile.invoiced", f"order {order.order_id} is already invoiced", remaining)
    if value > remaining:
        return refuse("reconcile.over_value",
                      f"the invoice of {value} cents exceeds what remains to invoice on order {order.order_id} "
                      f"({remaining} cents = value {order.value} - invoiced {output} + returned {returned})",
                      remaining)
    if value == remaining:
        return Decision("send", "reconcile.complete",
                        (f"the invoice completes order {order.order_id} ({value} cents)",),
                        predicted_status=INVOICED_STATUS, remaining_cents=0)
    left = remaining - value
    return Decision(
        "send",
        "reconcile.partial",
        (f"a partial invoice of {value} of the {remaining} cents remaining on order {order.order_id}",),
        warnings=(f"partial invoice: order {order.order_id} stays {order.status} with {left} cents still to "
                  "invoice",),
        predicted_status=order.status,
        remaining_cents=left,
    )
