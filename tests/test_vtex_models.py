"""VTEX wire models: strict when we build (what VTEX receives), tolerant when we read (what VTEX sends)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from nfe_invoice.vtex.models import (
    InvoiceItem,
    InvoicePayload,
    InvoiceReceipt,
    Order,
    TrackingEvent,
    TrackingStatus,
    TrackingUpdate,
)

from .paths import FIXTURES

BRT = timezone(timedelta(hours=-3))
ORDERS = FIXTURES / "orders"


def payload(**changes: Any) -> InvoicePayload:
    fields: dict[str, Any] = {
        "type": "Output",
        "issuance_date": datetime(2026, 11, 20, 14, 30, tzinfo=BRT),
        "invoice_number": "1001",
        "invoice_value": 15857,
        "invoice_key": "35261111222333000181550010000010011314159266",
        "items": (InvoiceItem(id="101", price=2327, quantity=2),),
    }
    fields.update(changes)
    return InvoicePayload(**fields)


def test_wire_body_is_camel_case_without_nulls_and_value_as_digits() -> None:
    body = payload(courier="Transportadora", tracking_number="").to_wire()
    assert body == {
        "type": "Output",
        "issuanceDate": "2026-11-20T14:30:00-03:00",
        "invoiceNumber": "1001",
        "invoiceValue": "15857",
        "invoiceKey": "35261111222333000181550010000010011314159266",
        "courier": "Transportadora",
        "trackingNumber": "",
        "items": [{"id": "101", "price": 2327, "quantity": 2}],
    }
    assert payload().to_wire(invoice_value_as_integer=True)["invoiceValue"] == 15857


def test_wire_body_reads_back_the_same_payload() -> None:
    original = payload(embedded_invoice="<nfeProc>ação</nfeProc>", dispatched_date=datetime(2026, 11, 21, tzinfo=UTC))
    assert InvoicePayload.from_wire(json.loads(original.to_json())) == original
    assert "ação" in original.to_json()  # non-ASCII kept as UTF-8 text, not \\u escapes


@pytest.mark.parametrize(
    "changes",
    [
        {"invoice_number": "1/2"},
        {"invoice_number": "NF 1"},
        {"invoice_number": ""},
        {"invoice_value": 0},
        {"invoice_value": "15857"},  # strict: cents are an int, never text
        {"invoice_value": 158.57},
        {"issuance_date": datetime(2026, 11, 20, 14, 30)},  # no UTC offset
        {"items": ()},
        {"type": "Sale"},
        {"unknown_field": 1},
    ],
)
def test_what_we_send_is_strict(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        payload(**changes)


@pytest.mark.parametrize("item", [{"id": "", "price": 1, "quantity": 1}, {"id": "1", "price": -1, "quantity": 1},
                                  {"id": "1", "price": 1, "quantity": 0}, {"id": "1", "price": 1.5, "quantity": 1},
                                  {"id": "1", "price": 1, "quantity": 1.5}])
def test_invoice_items_are_strict(item: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        InvoiceItem(**item)


def test_payloads_are_immutable() -> None:
    with pytest.raises(ValidationError):
        payload().invoice_value = 1  # type: ignore[misc]


def test_tracking_bodies() -> None:
    update = TrackingUpdate(tracking_number="TRK-1", courier="Correios")
    assert update.to_wire() == {"trackingNumber": "TRK-1", "trackingUrl": None, "courier": "Correios",
                                "dispatchedDate": None}
    status = TrackingStatus(
        is_delivered=True, delivered_date=datetime(2026, 11, 25, 10, tzinfo=BRT),
        events=(TrackingEvent(city="Sao Paulo", state="SP", description="Entregue",
                              date=datetime(2026, 11, 25, 10, tzinfo=BRT)),),
    )
    assert status.to_wire() == {
        "isDelivered": True, "deliveredDate": "2026-11-25T10:00:00-03:00",
        "events": [{"city": "Sao Paulo", "state": "SP", "description": "Entregue",
                    "date": "2026-11-25T10:00:00-03:00"}],
    }
    with pytest.raises(ValidationError):
        TrackingUpdate(tracking_number="")


def test_vtex_spec_example_order_is_read() -> None:
    order = Order.model_validate(json.loads((ORDERS / "vtex_spec_example.json").read_text(encoding="utf-8")))
    assert (order.order_id, order.status, order.value) == ("1172452900788-01", "handling", 1160)
    (item,) = order.items
    assert (item.id, item.ref_id, item.ean, item.seller_sku, item.quantity) == ("18", "BIGBML", "3256873", "18", 1)
    assert item.unit_multiplier == Decimal("1.0") and item.price_definition is not None
    (package,) = order.packages
    assert (package.invoice_number, package.invoice_value, package.type) == ("24382", 1015, "Input")
    assert [total.id for total in order.totals] == ["Items", "Discounts", "Shipping", "Tax"]


def test_vtex_type_defects_are_tolerated() -> None:
    order = Order.model_validate({
        "orderId": "1-01", "status": "handling", "value": "15857", "totals": None,
        "packageAttachment": {"packages": None},
        "items": [
            {"id": 18, "refId": None, "ean": 7891000315507, "quantity": "2", "unitMultiplier": 0.3,
             "priceTags": [{"name": "discount", "value": -100}], "priceDefinitions": {"total": 990}},
            {"id": "19", "unitMultiplier": None}, {"id": "20", "unitMultiplier": 0},
        ],
    })
    assert order.value == 15857 and order.totals == () and order.packages == ()
    first, second, third = order.items
    assert (first.id, first.ean, first.quantity) == ("18", "7891000315507", 2)
    assert first.unit_multiplier == Decimal("0.3")  # not 0.299999...
    assert first.price_definition is not None and first.price_definition.total == 990
    assert second.unit_multiplier == third.unit_multiplier == Decimal(1)


def test_order_fixtures_are_read() -> None:
    for path in sorted(ORDERS.glob("*.json")):
        order = Order.model_validate(json.loads(path.read_text(encoding="utf-8")))
        assert order.order_id and order.items, path.name
    weight = Order.model_validate(json.loads((ORDERS / "order_weight_unit_multiplier.json").read_text("utf-8")))
    assert weight.value == 4989 and weight.items[0].unit_multiplier == Decimal("0.25")
    assert weight.items[0].quantity == 6


def test_receipt_is_read() -> None:
    receipt = InvoiceReceipt.model_validate({"date": "2026-11-20T18:00:00Z", "orderId": "1-01", "receipt": "abc",
                                             "extra": True})
    assert (receipt.order_id, receipt.receipt) == ("1-01", "abc")
