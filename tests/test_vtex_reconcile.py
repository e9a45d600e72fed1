"""Reconciliation: what VTEX will do with an invoice, predicted from VTEX-shaped order JSON (fixtures/orders).

The payloads are the real mapping of the 3-item sample NF-e (15857 cents, invoice 1001) through the order,
so the SKU ids are the order's own; each scenario edits one thing of the order as VTEX would show it.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

import nfe_invoice
from nfe_invoice.vtex.mapping import MappingOptions, build_invoice
from nfe_invoice.vtex.models import InvoicePayload, Order
from nfe_invoice.vtex.reconcile import Decision, reconcile

from .paths import FIXTURES, ROOT

ORDERS = FIXTURES / "orders"
SALE_3 = ROOT / "nfe_invoice" / "samples" / "35261111222333000181550010000010011314159266_nfe55_sale_3_items.xml"
KEY = "35261111222333000181550010000010011314159266"


def order_json(name: str = "order_sample_3_items_handling.json") -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ORDERS / name).read_text(encoding="utf-8"))
    return data


def as_order(data: dict[str, Any]) -> Order:
    return Order.model_validate(data)


@pytest.fixture(scope="module")
def sale() -> InvoicePayload:
    """The sample's payload mapped through the order (SKU ids 101, 102, 103)."""
    doc = nfe_invoice.parse(SALE_3)
    return build_invoice(doc, order=as_order(order_json()), options=MappingOptions(embed_invoice=False)).payload


def changed(payload: InvoicePayload, **changes: Any) -> InvoicePayload:
    return payload.model_copy(update=changes)


def package(number: str, value: int | str, key: str | None = KEY, kind: str = "Output") -> dict[str, Any]:
    """A package as GET order shows it (value sometimes a string, many fields null)."""
    return {"items": [{"itemIndex": 0, "quantity": 1, "price": 0, "description": None, "unitMultiplier": 0.0}],
            "courier": None, "invoiceNumber": number, "invoiceValue": value, "invoiceUrl": None,
            "issuanceDate": "2026-11-20T17:30:00.0000000+00:00", "trackingNumber": None, "invoiceKey": key,
            "trackingUrl": None, "embeddedInvoice": "", "type": kind, "courierStatus": None, "cfop": None,
            "restitutions": {}, "volumes": None, "EnableInferItems": None}


def check(decision: Decision, action: str, code: str) -> None:
    assert (decision.action, decision.code) == (action, code), decision.reasons
    assert decision.reasons and all(isinstance(reason, str) and reason for reason in decision.reasons)


def test_complete_invoice_moves_the_order_to_invoiced(sale: InvoicePayload) -> None:
    decision = reconcile(as_order(order_json()), sale)
    check(decision, "send", "reconcile.complete")
    assert decision.predicted_status == "invoiced" and decision.remaining_cents == 0
    assert decision.warnings == ()
    assert decision.send


def test_partial_invoice_is_sent_with_a_warning_and_the_status_unchanged(sale: InvoicePayload) -> None:
    data = order_json()
    data["value"] = 20000
    decision = reconcile(as_order(data), sale)
    check(decision, "send", "reconcile.partial")
    assert decision.predicted_status == "handling"
    assert decision.remaining_cents == 20000 - 15857
    assert decision.warnings == ("partial invoice: order 1264680564893-01 stays handling with 4143 cents still to "
                                 "invoice",)


def test_second_partial_invoice_completes_the_order(sale: InvoicePayload) -> None:
    data = order_json()
    data["value"] = 20000
    data["packageAttachment"]["packages"] = [package("1000", "4143", key="3" * 44)]
    decision = reconcile(as_order(data), sale)
    check(decision, "send", "reconcile.complete")
    assert decision.predicted_status == "invoiced"


def test_invoice_over_what_remains_is_refused(sale: InvoicePayload) -> None:
    data = order_json()
    data["value"] = 15000
    decision = reconcile(as_order(data), sale)
    check(decision, "refuse", "reconcile.over_value")
    assert decision.remaining_cents == 15000
    assert "exceeds what remains to invoice" in decision.reasons[0]
    assert not decision.send


def test_earlier_partial_invoice_counts_against_the_remaining(sale: InvoicePayload) -> None:
    data = order_json()
    data["packageAttachment"]["packages"] = [package("999", 1000, key="4" * 44)]
    decision = reconcile(as_order(data), sale)
    check(decision, "refuse", "reconcile.over_value")
    assert decision.remaining_cents == 15857 - 1000


def test_a_return_adds_back_to_the_remaining(sale: InvoicePayload) -> None:
    data = order_json()
    data["value"] = 20000
    data["packageAttachment"]["packages"] = [package("990", 20000, key="5" * 44),
                                             package("991", 15857, key="6" * 44, kind="Input")]
    check(reconcile(as_order(data), sale), "send", "reconcile.complete")


def test_same_invoice_already_there_is_already_delivered(sale: InvoicePayload) -> None:
    decision = reconcile(as_order(order_json("order_sample_3_items_invoiced.json")), sale)
    check(decision, "already_delivered", "reconcile.already_delivered")
    assert decision.predicted_status == "invoiced"


@pytest.mark.parametrize(
    ("value", "key", "kind", "difference"),
    [(15858, KEY, "Output", "value 15858 cents there, 15857 here"),
     (15857, "1" * 44, "Output", f"key {'1' * 44} there, {KEY} here"),
     (15857, None, "Output", f"key None there, {KEY} here"),
     (15857, KEY, "Input", "type Input there, Output here")],
)
def test_same_number_with_other_data_is_refused(
    sale: InvoicePayload, value: int, key: str | None, kind: str, difference: str
) -> None:
    data = order_json()
    data["packageAttachment"]["packages"] = [package("1001", value, key=key, kind=kind)]
    decision = reconcile(as_order(data), sale)
    check(decision, "refuse", "reconcile.number_conflict")
    assert difference in decision.reasons[0]
    assert "VTEX would keep the old data and only renew the receipt" in decision.reasons[0]
    # another document (another key) under the same number: the reason says how numbers can be told apart
    assert ("{serie}-{nNF}" in " ".join(decision.reasons)) == (key != KEY)


@pytest.mark.parametrize(("status", "code"), [
    ("canceled", "reconcile.canceled"), ("cancel", "reconcile.canceled"), ("canceling", "reconcile.canceled"),
    ("cancellation-requested", "reconcile.cancellation_requested"),
    ("request-cancel", "reconcile.cancellation_requested"),
    ("invoiced", "reconcile.invoiced"),
])
def test_orders_that_cannot_take_an_output_invoice(sale: InvoicePayload, status: str, code: str) -> None:
    data = order_json()
    data["status"] = status
    decision = reconcile(as_order(data), sale)
    check(decision, "refuse", code)
    assert decision.predicted_status == status


def test_sku_ids_not_in_the_order_are_refused(sale: InvoicePayload) -> None:
    erp_codes = changed(sale, items=tuple(item.model_copy(update={"id": f"SKU-0000{n}"})
                                          for n, item in enumerate(sale.items, start=1)))
    decision = reconcile(as_order(order_json()), erp_codes)
    check(decision, "refuse", "reconcile.unknown_sku")
    assert "SKU-00001, SKU-00002, SKU-00003" in decision.reasons[0]


# ----------------------------------------------------------------------------------------- Input (returns)


def invoiced_order(value: int = 15857) -> dict[str, Any]:
    data = order_json("order_sample_3_items_invoiced.json")
    data["packageAttachment"]["packages"][0]["invoiceValue"] = value
    return data


def a_return(sale: InvoicePayload, value: int, number: str = "2001") -> InvoicePayload:
    return changed(sale, type="Input", invoice_value=value, invoice_number=number, invoice_key="7" * 44)


def test_return_on_an_invoiced_order_is_sent(sale: InvoicePayload) -> None:
    decision = reconcile(as_order(invoiced_order()), a_return(sale, 5000))
    check(decision, "send", "reconcile.return")
    assert decision.predicted_status == "invoiced"


def test_return_before_the_order_is_fully_invoiced_is_refused(sale: InvoicePayload) -> None:
    decision = reconcile(as_order(order_json()), a_return(sale, 5000))
    check(decision, "refuse", "reconcile.input_before_invoiced")
    assert "15857 cents still to invoice" in decision.reasons[0]


def test_return_of_more_than_was_invoiced_net_is_refused(sale: InvoicePayload) -> None:
    data = invoiced_order()
    data["packageAttachment"]["packages"].append(package("2000", 10000, key="8" * 44, kind="Input"))
    decision = reconcile(as_order(data), a_return(sale, 6000))
    check(decision, "refuse", "reconcile.over_value")
    assert "(5857 cents)" in decision.reasons[0]


def test_return_on_a_canceled_order_is_refused(sale: InvoicePayload) -> None:
    data = invoiced_order()
    data["status"] = "canceled"
    check(reconcile(as_order(data), a_return(sale, 100)), "refuse", "reconcile.canceled")


def test_the_same_return_again_is_already_delivered(sale: InvoicePayload) -> None:
    data = invoiced_order()
    data["packageAttachment"]["packages"].append(package("2001", 5000, key="7" * 44, kind="Input"))
    check(reconcile(as_order(data), a_return(sale, 5000)), "already_delivered", "reconcile.already_delivered")


def test_decision_to_dict_is_the_stored_shape(sale: InvoicePayload) -> None:
    data = copy.deepcopy(order_json())
    data["value"] = 20000
    assert reconcile(as_order(data), sale).to_dict() == {
        "action": "send",
        "code": "reconcile.partial",
        "reasons": ["a partial invoice of 15857 of the 20000 cents remaining on order 1264680564893-01"],
        "warnings": ["partial invoice: order 1264680564893-01 stays handling with 4143 cents still to invoice"],
        "predictedStatus": "handling",
        "remainingCents": 4143,
    }
