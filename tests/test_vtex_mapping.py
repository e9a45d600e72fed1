"""NF-e -> VTEX invoice notification: every mapping rule and refusal, to the cent, on built and real documents.

Documents come from ``nfe_invoice.testing`` (exact totals, correct keys) or from the real fixtures; orders
are VTEX-shaped JSON from ``fixtures/orders``. Golden payloads live in ``fixtures/golden`` (regenerate
with ``NFE_INVOICE_REGENERATE_GOLDEN=1 pytest tests/test_vtex_mapping.py`` and review the diff).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import nfe_invoice
from nfe_invoice.errors import ConfigurationError, MappingError, NfeInvoiceError
from nfe_invoice.model import NFeDocument
from nfe_invoice.testing import ItemSpec, NFeSpec, build_nfe, default_spec
from nfe_invoice.validate import ValidationOptions, validate_full
from nfe_invoice.vtex.mapping import (
    MappedInvoice,
    MappingOptions,
    ValidationRefusedError,
    build_invoice,
    check_invoice_number_format,
    format_invoice_number,
    load_sku_map,
    read_order,
)
from nfe_invoice.vtex.models import Order
from nfe_invoice.vtex.order_id import OrderIdRule, check_order_id, find_order_id
from nfe_invoice.vtex.reconcile import reconcile

from .paths import FIXTURES, REALWORLD, ROOT

SAMPLES = ROOT / "nfe_invoice" / "samples"
ORDERS = FIXTURES / "orders"
GOLDEN = FIXTURES / "golden"
SALE_3 = SAMPLES / "35261111222333000181550010000010011314159266_nfe55_sale_3_items.xml"
BROKEN_VNF = SAMPLES / "35261111222333000181550010000010021314159263_broken_nfe55_vnf_one_cent_off.xml"
NFCE_2 = SAMPLES / "35261111222333000181650010000020011314159263_nfce65_sale_2_items.xml"
NO_EMBED = MappingOptions(embed_invoice=False)


def document(spec: NFeSpec | None = None, *, edit: Callable[[bytes], bytes] | None = None) -> NFeDocument:
    raw = build_nfe(spec or default_spec(3))
    return nfe_invoice.parse(edit(raw) if edit else raw)


def item(code: str, quantity: str, price: str, **extra: Any) -> ItemSpec:
    return ItemSpec(code=code, description=f"Produto {code}", quantity=Decimal(quantity), unit_price=Decimal(price),
                    **extra)


def order(name: str, **changes: Any) -> Order:
    data = json.loads((ORDERS / name).read_text(encoding="utf-8"))
    data.update(changes)
    return Order.model_validate(data)


def order_of(items: list[dict[str, Any]], order_id: str = "1234567890123-01", value: int = 0) -> Order:
    return Order.model_validate({"orderId": order_id, "status": "handling", "value": value, "items": items})


def refusal(call: Callable[[], object]) -> MappingError:
    with pytest.raises(MappingError) as caught:
        call()
    return caught.value


def cents_of(value: Decimal | None) -> int:
    assert value is not None
    return int(value * 100)


# ---------------------------------------------------------------------------------------- header rules


def test_sale_maps_every_header_field_from_the_document() -> None:
    doc = nfe_invoice.parse(SALE_3)
    body = build_invoice(doc).to_wire()
    assert body["type"] == "Output"
    assert body["invoiceNumber"] == doc.ide.nNF == "1001"
    assert body["invoiceValue"] == "15857" == str(cents_of(doc.totals.vNF))
    assert body["invoiceKey"] == doc.access_key == "35261111222333000181550010000010011314159266"
    assert body["issuanceDate"] == "2026-11-20T14:30:00-03:00"  # dhEmi with its own offset
    assert body["courier"] == "Transportadora Rapida Ltda"  # transp/transporta/xNome
    assert body["trackingNumber"] == "" and body["trackingUrl"] == ""  # tracking goes later, with the PATCH
    assert "dispatchedDate" not in body and "invoiceUrl" not in body


def test_embedded_invoice_is_the_document_exactly_as_received() -> None:
    raw = SALE_3.read_bytes()
    mapped = build_invoice(nfe_invoice.parse(SALE_3))
    assert mapped.payload.embedded_invoice == raw.decode("utf-8")
    assert json.loads(mapped.payload.to_json())["embeddedInvoice"].encode("utf-8") == raw
    assert "embeddedInvoice" not in build_invoice(nfe_invoice.parse(SALE_3), options=NO_EMBED).to_wire()


def test_embedded_invoice_keeps_non_ascii_characters_as_written() -> None:
    doc = document(edit=lambda raw: raw.replace(b"Camiseta", "Produção".encode()))
    text = build_invoice(doc).payload.to_json()
    assert "Produção" in text and doc.raw.decode("utf-8") == json.loads(text)["embeddedInvoice"]


def test_invoice_value_is_a_string_of_digits_unless_configured_as_integer() -> None:
    doc = nfe_invoice.parse(SALE_3)
    assert build_invoice(doc).to_wire()["invoiceValue"] == "15857"
    mapped = build_invoice(doc, options=MappingOptions(invoice_value_as_integer=True))
    assert mapped.to_wire()["invoiceValue"] == 15857
    assert mapped.to_dict()["payload"]["invoiceValue"] == 15857


def test_return_of_a_customer_is_an_input_invoice() -> None:
    doc = document(edit=lambda raw: raw.replace(b"<tpNF>1</tpNF>", b"<tpNF>0</tpNF>")
                   .replace(b"<finNFe>1</finNFe>", b"<finNFe>4</finNFe>"))
    assert build_invoice(doc).payload.type == "Input"


@pytest.mark.parametrize(("tp_nf", "fin_nfe"), [("0", "1"), ("0", "2"), ("0", "3"), ("1", "4")])
def test_any_other_operation_is_refused_naming_tpnf_and_finnfe(tp_nf: str, fin_nfe: str) -> None:
    doc = document(edit=lambda raw: raw.replace(b"<tpNF>1</tpNF>", f"<tpNF>{tp_nf}</tpNF>".encode())
                   .replace(b"<finNFe>1</finNFe>", f"<finNFe>{fin_nfe}</finNFe>".encode()))
    error = refusal(lambda: build_invoice(doc))
    assert error.code == "mapping.type"
    assert f"tpNF={tp_nf}" in error.message and f"finNFe={fin_nfe}" in error.message


def test_an_outgoing_return_is_never_sent_as_a_sale() -> None:
    """tpNF=1 with finNFe=4: a customer's company returning goods to the store (or the store returning goods
    to its supplier). Sent as an Output it would count as invoiced sale value and could complete the order."""
    doc = document(edit=lambda raw: raw.replace(b"<finNFe>1</finNFe>", b"<finNFe>4</finNFe>"))
    assert doc.ide.tpNF == "1"
    error = refusal(lambda: build_invoice(doc))
    assert error.code == "mapping.type" and "not sent as an Output" in error.message


def _outside_the_total(number: int) -> Callable[[bytes], bytes]:
    """An edit that marks item ``number`` indTot=0: its value is not part of the NF-e's total."""
    start = f'<det nItem="{number}">'.encode()

    def edit(raw: bytes) -> bytes:
        head, found, tail = raw.partition(start)
        assert found
        return head + found + tail.replace(b"<indTot>1</indTot>", b"<indTot>0</indTot>", 1)

    return edit


def test_an_item_outside_the_total_is_sent_at_price_0() -> None:
    spec = default_spec(2)
    counted = build_invoice(document(spec)).payload.items
    mapped = build_invoice(document(spec, edit=_outside_the_total(2)))
    assert mapped.payload.items[0] == counted[0]
    assert mapped.payload.items[1].id == counted[1].id and mapped.payload.items[1].quantity == counted[1].quantity
    assert mapped.payload.items[1].price == 0
    assert f"SKU {counted[1].id} is invoiced at price 0" in mapped.warnings


def test_a_sku_with_a_line_outside_the_total_is_priced_by_its_counted_lines() -> None:
    spec = dataclasses.replace(default_spec(1), items=(item("KIT-1", "2", "10.00"), item("KIT-1", "1", "10.00")))
    mapped = build_invoice(document(spec, edit=_outside_the_total(2)))
    [line] = mapped.payload.items
    assert (line.id, line.quantity, line.price) == ("KIT-1", 3, 667)  # 20.00 over 3 units, half up
    [residual] = mapped.residuals
    assert (residual.net_cents, residual.residual_cents) == (2000, -1)


@pytest.mark.parametrize(
    ("tag", "value", "code"),
    [(b"vNF", b"1E+999999", "mapping.value"), (b"vNF", b"1E+13", "mapping.value"),
     (b"vProd", b"1E+999999", "mapping.item_value"), (b"qCom", b"1E+999999", "mapping.quantity"),
     (b"qCom", b"1E+99999999", "mapping.quantity"), (b"qCom", b"100000000000", "mapping.quantity")],
)
def test_a_value_no_nfe_can_hold_is_refused_when_mapping_is_forced(tag: bytes, value: bytes, code: str) -> None:
    """The XSD refuses these; mapped anyway (force), they overflowed or built a hundred-million-digit int."""
    def edit(raw: bytes) -> bytes:
        start = raw.index(b"<" + tag + b">") + len(tag) + 2
        return raw[:start] + value + raw[raw.index(b"<", start):]

    error = refusal(lambda: build_invoice(document(default_spec(1), edit=edit)))
    assert error.code == code and "can hold" in error.message


def test_vnf_with_more_than_two_decimals_is_refused_not_rounded() -> None:
    doc = document(edit=lambda raw: re.sub(rb"<vNF>([0-9.]+)</vNF>", rb"<vNF>\g<1>5</vNF>", raw))
    error = refusal(lambda: build_invoice(doc))
    assert error.code == "mapping.value" and "more than two decimals" in error.message


@pytest.mark.parametrize("value", [b"0.00", b"-1.00"])
def test_vnf_not_positive_is_refused(value: bytes) -> None:
    doc = document(edit=lambda raw: re.sub(rb"<vNF>[0-9.]+</vNF>", b"<vNF>" + value + b"</vNF>", raw))
    error = refusal(lambda: build_invoice(doc))
    assert error.code == "mapping.value" and "vNF" in error.message


def test_nfce_maps_like_an_nfe_with_its_44_character_key() -> None:
    doc = nfe_invoice.parse(NFCE_2)
    body = build_invoice(doc).to_wire()
    assert body["invoiceKey"] == doc.access_key and len(body["invoiceKey"]) == 44
    assert body["invoiceValue"] == str(cents_of(doc.totals.vNF))
    assert "courier" not in body  # an NFC-e has no carrier


@pytest.mark.parametrize(
    ("edit", "code", "message"),
    [
        (lambda raw: raw.replace(b'Id="NFe', b'Id="NFe1234" x="'), "mapping.key",
         "the access key '1234' is not 44 characters (infNFe/@Id)"),
        (lambda raw: re.sub(rb"<dhEmi>[^<]*</dhEmi>", b"", raw), "mapping.issuance_date",
         "ide/dhEmi is missing: VTEX needs the issuance date"),
        (lambda raw: raw.replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"')
         .replace(b"Camiseta", "Camisa ação".encode("latin-1")), "mapping.embedded_invoice",
         "the document is not UTF-8 (byte"),
        (lambda raw: re.sub(rb"<det nItem.*</det>", b"", raw), "mapping.items", "the document has no items"),
        (lambda raw: raw.replace(b"<qCom>2.0000</qCom>", b"<qCom>0.0000</qCom>", 1), "mapping.quantity",
         "item 1 (cProd 'SKU-00001'): qCom 0.0000 is not a positive quantity"),
    ],
)
def test_documents_that_cannot_be_mapped(edit: Callable[[bytes], bytes], code: str, message: str) -> None:
    error = refusal(lambda: build_invoice(document(default_spec(2), edit=edit)))
    assert error.code == code
    assert error.message.startswith(message)


# -------------------------------------------------------------------------------------- invoice number


@pytest.mark.parametrize(
    ("template", "expected"),
    [("{nNF}", "1001"), ("{serie}-{nNF}", "7-1001"), ("{serie:03d}-{nNF:09d}", "007-000001001"),
     ("NF{mod}-{nNF}", "NF55-1001"), ("{key}", default_spec(1, series=7).access_key)],
)
def test_invoice_number_format(template: str, expected: str) -> None:
    doc = document(default_spec(1, series=7))
    assert build_invoice(doc, options=MappingOptions(invoice_number_format=template)).payload.invoice_number == expected


@pytest.mark.parametrize("template", ["{serie}/{nNF}", "NF {nNF}", "#{nNF}", "{nNF}" + "0" * 50])
def test_invoice_number_format_that_produces_unsafe_characters_is_refused(template: str) -> None:
    error = refusal(lambda: build_invoice(document(), options=MappingOptions(invoice_number_format=template)))
    assert error.code == "mapping.invoice_number"
    assert "A-Z a-z 0-9 and '-' only" in error.message


@pytest.mark.parametrize("template", ["{order}", "{0}", "{nNF", ""])
def test_unknown_placeholders_in_a_format_are_a_configuration_error(template: str) -> None:
    with pytest.raises(ConfigurationError):
        check_invoice_number_format(template)
    with pytest.raises(ConfigurationError):
        MappingOptions(invoice_number_format=template)


@pytest.mark.parametrize(
    ("option", "template"),
    [("invoice_number_format", "{key:d}"), ("invoice_number_format", "{nNF:.2s}"),
     ("invoice_url_template", "https://files.example/{key:09d}.xml"),
     ("tracking_url_template", "https://track.example/{trackingNumber:x}")],
)
def test_a_format_that_does_not_fit_its_placeholder_is_a_configuration_error(option: str, template: str) -> None:
    """Caught when the options are made, before any document (it used to raise ValueError while mapping)."""
    with pytest.raises(ConfigurationError, match="cannot be applied"):
        MappingOptions(**{option: template})


def test_format_specifications_that_fit_are_accepted() -> None:
    doc = document(default_spec(1, series=7))
    options = MappingOptions(invoice_number_format="{serie:03d}-{nNF:09d}",
                             invoice_url_template="https://files.example/{key:.6}/{invoiceNumber}.xml")
    mapped = build_invoice(doc, options=options)
    assert mapped.payload.invoice_url == f"https://files.example/{doc.access_key[:6]}/007-000001001.xml"


def test_invoice_url_template_and_its_checks() -> None:
    doc = document()
    mapped = build_invoice(doc, options=MappingOptions(invoice_url_template="https://files.example/{key}.xml"))
    assert mapped.payload.invoice_url == f"https://files.example/{doc.access_key}.xml"
    with pytest.raises(ConfigurationError):
        MappingOptions(invoice_url_template="ftp://files.example/{key}.xml")
    with pytest.raises(ConfigurationError):
        MappingOptions(invoice_url_template="https://files.example/{secret}")


def test_courier_override_and_optional_tracking() -> None:
    doc = document()
    assert build_invoice(doc, options=MappingOptions(courier="Correios")).payload.courier == "Correios"
    options = MappingOptions(include_tracking=True, tracking_number="TRK-1",
                             tracking_url_template="https://track.example/{trackingNumber}?nf={nNF}")
    body = build_invoice(doc, options=options).to_wire()
    assert body["trackingNumber"] == "TRK-1"
    assert body["trackingUrl"] == "https://track.example/TRK-1?nf=1001"
    assert body["dispatchedDate"] == "2026-11-20T14:30:00-03:00"  # dhSaiEnt


# ------------------------------------------------------------------------------------------------ items


def test_unit_price_is_net_of_the_item_discount_and_freight_stays_in_the_invoice_value() -> None:
    spec = NFeSpec(items=(item("A", "3", "10.00", discount=Decimal("1.00"), freight=Decimal("5.00")),))
    mapped = build_invoice(document(spec))
    (line,) = mapped.payload.items
    assert (line.id, line.quantity, line.price) == ("A", 3, 967)  # (30.00 - 1.00) / 3 = 9.6666 -> 9.67
    (residual,) = mapped.residuals
    assert (residual.net_cents, residual.residual_cents) == (2900, -1)  # 2900 - 3 x 967
    assert mapped.payload.invoice_value == 3400  # vNF = 30.00 - 1.00 + 5.00, exactly


def test_lines_of_one_sku_are_merged_into_one_and_the_residual_is_reported() -> None:
    spec = NFeSpec(items=(item("A", "1", "10.00"), item("B", "2", "5.00"), item("A", "2", "10.01")))
    mapped = build_invoice(document(spec))
    assert [(i.id, i.quantity, i.price) for i in mapped.payload.items] == [("A", 3, 1001), ("B", 2, 500)]
    first = mapped.residuals[0]
    assert first.items == (1, 3)
    assert (first.net_cents, first.unit_price_cents, first.residual_cents) == (3002, 1001, -1)
    assert first.residual_per_unit == Decimal("-0.333333")
    assert mapped.to_dict()["residuals"][0]["residualCents"] == -1


def test_fractional_quantity_without_an_order_is_refused_with_the_advice() -> None:
    spec = NFeSpec(items=(item("A", "1", "10.00"), item("QUEIJO", "1.5", "33.26")))
    error = refusal(lambda: build_invoice(document(spec)))
    assert error.code == "mapping.needs_order"
    assert error.message == (
        "item 2 (cProd 'QUEIJO'): qCom 1.5000 is not a whole number and VTEX takes whole quantities only; "
        "an order with the item's unitMultiplier is needed to convert it"
    )


def test_fractional_quantity_is_converted_with_the_order_unit_multiplier() -> None:
    spec = NFeSpec(items=(item("QUEIJO-MINAS", "1.5", "33.26"),), order_id="1264680564895-01")
    mapped = build_invoice(document(spec), order=order("order_weight_unit_multiplier.json"), options=NO_EMBED)
    (line,) = mapped.payload.items
    assert (line.id, line.quantity, line.price) == ("2001", 6, 832)  # 1.5 kg / 0.25 kg; 49.89 / 6 = 8.315
    assert mapped.residuals[0].residual_cents == 4989 - 6 * 832
    assert mapped.payload.invoice_value == 4989


def test_quantity_that_does_not_divide_by_the_multiplier_is_refused() -> None:
    spec = NFeSpec(items=(item("QUEIJO-MINAS", "1.6", "33.26"),))
    error = refusal(lambda: build_invoice(document(spec), order=order("order_weight_unit_multiplier.json")))
    assert error.code == "mapping.quantity"
    assert "qCom 1.6000 / unitMultiplier 0.25" in error.message and "6.4 is not a whole number" in error.message


def test_fractional_quantity_with_a_unit_multiplier_of_one_is_refused() -> None:
    spec = NFeSpec(items=(item("X", "1.5", "2.00"),))
    orders = order_of([{"id": "9", "refId": "X", "unitMultiplier": 1.0}])
    assert refusal(lambda: build_invoice(document(spec), order=orders)).code == "mapping.quantity"


@pytest.mark.parametrize("multiplier", ["-0.5", "-1"])
def test_unit_multiplier_that_is_not_a_positive_number_is_refused(multiplier: str) -> None:
    spec = NFeSpec(items=(item("X", "1.5", "2.00"),))
    orders = order_of([{"id": "9", "refId": "X", "unitMultiplier": multiplier}])
    error = refusal(lambda: build_invoice(document(spec), order=orders))
    assert error.code == "mapping.quantity" and "is not a positive number" in error.message


def test_discount_larger_than_the_item_is_refused() -> None:
    doc = document(NFeSpec(items=(item("A", "1", "10.00", discount=Decimal("1.00")),)),
                   edit=lambda raw: raw.replace(b"<vDesc>1.00</vDesc><indTot>", b"<vDesc>11.00</vDesc><indTot>"))
    error = refusal(lambda: build_invoice(doc))
    assert error.code == "mapping.item_value" and "item 1 (cProd 'A')" in error.message


# ----------------------------------------------------------------------------------------- SKU matching


GTIN = "7891000315507"


@pytest.mark.parametrize(
    ("order_item", "how"),
    [
        ({"id": "11", "refId": "ERP-1"}, "refId"),
        ({"id": "11", "refId": "other", "ean": GTIN}, "ean"),
        ({"id": "11", "ean": "0" + GTIN}, "ean"),  # GTIN-14 of the same product
        ({"id": "11", "sellerSku": "ERP-1"}, "sellerSku"),
        ({"id": "ERP-1"}, "id"),
    ],
)
def test_order_matching_steps_give_the_orders_sku_id(order_item: dict[str, Any], how: str) -> None:
    doc = document(NFeSpec(items=(item("ERP-1", "2", "10.00", gtin=GTIN),)))
    mapped = build_invoice(doc, order=order_of([{"id": "99", "refId": "unrelated"}, order_item]))
    assert mapped.payload.items[0].id == order_item["id"]
    assert mapped.residuals[0].matched_by == how


def test_refid_wins_over_a_gtin_match_of_another_sku() -> None:
    doc = document(NFeSpec(items=(item("ERP-1", "1", "10.00", gtin=GTIN),)))
    orders = order_of([{"id": "5", "ean": GTIN}, {"id": "6", "refId": "ERP-1"}])
    assert build_invoice(doc, order=orders).payload.items[0].id == "6"


def test_sem_gtin_never_matches_an_order_item_without_ean() -> None:
    doc = document(NFeSpec(items=(item("ERP-1", "1", "10.00"),)))  # cEAN "SEM GTIN"
    error = refusal(lambda: build_invoice(doc, order=order_of([{"id": "5", "ean": "SEM GTIN"}, {"id": "6"}])))
    assert error.code == "mapping.sku_unmatched"


def test_an_item_matching_nothing_is_refused_naming_the_item() -> None:
    doc = document(NFeSpec(items=(item("A", "1", "10.00"), item("ZZZ", "1", "1.00"))))
    error = refusal(lambda: build_invoice(doc, order=order_of([{"id": "1", "refId": "A"}], "ORD-1")))
    assert error.code == "mapping.sku_unmatched"
    assert error.message.startswith("item 2 (cProd 'ZZZ'), cEAN 'SEM GTIN', matches no item of order ORD-1")


def test_an_item_matching_two_skus_at_one_step_is_ambiguous() -> None:
    doc = document(NFeSpec(items=(item("A", "1", "10.00"),)))
    error = refusal(lambda: build_invoice(doc, order=order_of([{"id": "1", "refId": "A"}, {"id": "2", "refId": "A"}])))
    assert error.code == "mapping.sku_ambiguous" and "1, 2" in error.message


def test_two_products_matching_one_sku_are_refused() -> None:
    doc = document(NFeSpec(items=(item("A", "1", "10.00", gtin=GTIN), item("B", "1", "10.00"))))
    orders = order_of([{"id": "7", "refId": "B", "ean": GTIN}])  # A by GTIN, B by refId: both SKU 7
    error = refusal(lambda: build_invoice(doc, order=orders))
    assert error.code == "mapping.sku_conflict"
    assert "items 1 (cProd 'A') and 2 (cProd 'B') both map to SKU 7" in error.message


def test_one_sku_ordered_on_two_lines_is_one_invoice_line() -> None:
    doc = document(NFeSpec(items=(item("A", "1", "10.00"), item("A", "1", "10.00"))))
    orders = order_of([{"id": "7", "refId": "A", "quantity": 1}, {"id": "7", "refId": "A", "quantity": 1}])
    assert [(i.id, i.quantity) for i in build_invoice(doc, order=orders).payload.items] == [("7", 2)]


def test_sku_map_table_callable_and_default() -> None:
    doc = document(NFeSpec(items=(item("A", "1", "10.00"), item("B", "1", "10.00"))))
    assert [i.id for i in build_invoice(doc).payload.items] == ["A", "B"]
    table = MappingOptions(sku_map={"A": "100", "B": "200"})
    assert [i.id for i in build_invoice(doc, options=table).payload.items] == ["100", "200"]
    function = MappingOptions(sku_map={"A": "1"}.get)
    error = refusal(lambda: build_invoice(doc, options=function))
    assert error.code == "mapping.sku_unmatched" and error.message == "item 2 (cProd 'B') is not in the SKU map"


def test_sku_map_is_not_used_with_an_order_and_says_so() -> None:
    doc = document(NFeSpec(items=(item("A", "1", "10.00"),)))
    mapped = build_invoice(doc, order=order_of([{"id": "5", "refId": "A"}]),
                           options=MappingOptions(sku_map={"A": "100"}))
    assert mapped.payload.items[0].id == "5"
    assert any("SKU map is not used" in warning for warning in mapped.warnings)


def test_load_sku_map(tmp_path: Path) -> None:
    with_header = tmp_path / "map.csv"
    with_header.write_text("cProd,skuId\nA, 100\n\nB,200\n", encoding="utf-8")
    assert load_sku_map(with_header) == {"A": "100", "B": "200"}
    bare = tmp_path / "bare.csv"
    bare.write_text("A,100\n", encoding="utf-8")
    assert load_sku_map(bare) == {"A": "100"}
    for name, text in [("three.csv", "A,1,2\n"), ("twice.csv", "A,1\nA,2\n"), ("empty.csv", ""),
                       ("blank.csv", "A,\n")]:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigurationError, match=name):
            load_sku_map(path)
    with pytest.raises(ConfigurationError, match="cannot be read"):
        load_sku_map(tmp_path / "missing.csv")


# -------------------------------------------------------------------------------------- validation gate


def test_a_document_with_validation_errors_is_refused_unless_forced() -> None:
    validated = validate_full(BROKEN_VNF, ValidationOptions())
    assert validated.document is not None and not validated.report.ok
    with pytest.raises(ValidationRefusedError) as caught:
        build_invoice(validated.document, report=validated.report)
    assert caught.value.code == "mapping.validation"
    assert "totals.vnf" in {finding.code for finding in caught.value.findings}
    assert "[totals.vnf]" in caught.value.message
    forced = build_invoice(validated.document, report=validated.report, force=True)
    assert forced.payload.invoice_value == 12647
    assert any("forced" in warning for warning in forced.warnings)


def test_a_valid_document_with_its_report_maps_without_warnings() -> None:
    validated = validate_full(SALE_3, ValidationOptions())
    assert validated.document is not None and validated.report.ok
    assert build_invoice(validated.document, report=validated.report).warnings == ()


# --------------------------------------------------------------------------------------------- order ids


@pytest.mark.parametrize("text", ["1172452900788-01", "v502556llux-01", "MLB-123_4.5~6"])
def test_safe_order_ids(text: str) -> None:
    assert check_order_id(text) == text


@pytest.mark.parametrize("text", ["", "a/b", "a?b", "a#b", "a b", "a\nb", "a\x00b", "..", ".", "a%2Fb", "é",
                                  "x" * 101])
def test_unsafe_order_ids_are_refused(text: str) -> None:
    error = refusal(lambda: check_order_id(text))
    assert error.code == "mapping.order_id" and "never sent" in error.message


def test_order_id_from_compra_xped_then_items_then_nfce_observation() -> None:
    rule = OrderIdRule.parse("xped")
    assert find_order_id(document(default_spec(2, order_id="111-01")), rule) == "111-01"
    no_compra = document(default_spec(2, order_id="222-01"), edit=lambda raw: re.sub(
        rb"<compra>.*</compra>", b"", raw).replace(b"<indTot>1</indTot>", b"<indTot>1</indTot><xPed>222-01</xPed>"))
    assert no_compra.infNFe.compra is None
    assert find_order_id(no_compra, rule) == "222-01"
    assert find_order_id(nfe_invoice.parse(NFCE_2), rule) == "1264680564894-01"  # obsCont "pedido"


def test_items_that_disagree_on_xped_give_no_order_id() -> None:
    count = iter(range(100))
    doc = document(default_spec(2, order_id=None), edit=lambda raw: re.sub(
        rb"<indTot>1</indTot>", lambda _: f"<indTot>1</indTot><xPed>P{next(count)}</xPed>".encode(), raw))
    error = refusal(lambda: find_order_id(doc, OrderIdRule.parse("xped")))
    assert error.code == "mapping.order_id" and "no order id found" in error.message


def test_order_id_by_regular_expression_over_infcpl() -> None:
    doc = document(edit=lambda raw: raw.replace(b"para testes.", b"para testes. Pedido VTEX: 1234-01 obrigado"))
    assert find_order_id(doc, OrderIdRule.parse(r"infcpl:Pedido VTEX: (\S+)")) == "1234-01"
    missing = OrderIdRule.parse("infcpl:Marketplace (\\d+)")
    assert refusal(lambda: find_order_id(doc, missing)).code == "mapping.order_id"
    unsafe = document(edit=lambda raw: raw.replace(b"para testes.", b"Pedido: ../admin"))
    assert refusal(lambda: find_order_id(unsafe, OrderIdRule.parse(r"infcpl:Pedido: (\S+)"))).code == "mapping.order_id"


def test_order_id_from_a_map(tmp_path: Path) -> None:
    doc = document()
    by_key = tmp_path / "keys.csv"
    by_key.write_text(f"access_key,orderId\n{doc.access_key},ORD-9\n", encoding="utf-8")
    assert find_order_id(doc, OrderIdRule.parse(f"map:{by_key}")) == "ORD-9"
    by_number = tmp_path / "numbers.csv"
    by_number.write_text("orderId,nNF\nORD-7,1001\n", encoding="utf-8")
    assert find_order_id(doc, OrderIdRule.parse(f"map:{by_number}")) == "ORD-7"
    by_number.write_text("orderId,nNF\nORD-7,999\n", encoding="utf-8")
    assert refusal(lambda: find_order_id(doc, OrderIdRule.parse(f"map:{by_number}"))).code == "mapping.order_id"


@pytest.mark.parametrize("text", ["compra", "infcpl:", "infcpl:(", "map:/no/such/file.csv", "xped:x"])
def test_bad_order_id_rules_are_configuration_errors(text: str) -> None:
    with pytest.raises(ConfigurationError):
        OrderIdRule.parse(text)


def test_order_id_map_needs_a_header(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("1001,ORD-7\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="header"):
        OrderIdRule.parse(f"map:{path}")


# ------------------------------------------------------------------------------------------ properties


def _half_up(numerator: int, denominator: int) -> int:
    return int((Decimal(numerator) / denominator).to_integral_value(rounding=ROUND_HALF_UP))


prices = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999.99"), places=2)
items_strategy = st.lists(
    st.tuples(st.sampled_from(["A", "B", "C", "D"]), st.integers(1, 40), prices,
              st.integers(0, 100), st.integers(0, 2000)),
    min_size=1, max_size=8,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items_strategy)
def test_property_cents_exact_unit_prices_correctly_rounded_one_line_per_sku(
    rows: list[tuple[str, int, Decimal, int, int]],
) -> None:
    specs = []
    for code, quantity, price, discount_percent, freight_cents in rows:
        gross = (quantity * price).quantize(Decimal("0.01"))
        discount = (gross * discount_percent / 100).quantize(Decimal("0.01"))
        specs.append(ItemSpec(code=code, description=f"Produto {code}", quantity=Decimal(quantity),
                              unit_price=price, discount=discount, freight=Decimal(freight_cents) / 100))
    expected_total = sum(cents_of(s.total) - cents_of(s.discount) + cents_of(s.freight) for s in specs)
    assume(expected_total > 0)  # an invoice of 0 is refused (mapping.value), tested on its own
    doc = document(NFeSpec(items=tuple(specs)))
    mapped = build_invoice(doc, options=NO_EMBED)
    assert mapped.payload.invoice_value == expected_total == cents_of(doc.totals.vNF)
    codes = list(dict.fromkeys(s.code for s in specs))
    assert [line.id for line in mapped.payload.items] == codes
    for line, residual in zip(mapped.payload.items, mapped.residuals, strict=True):
        mine = [s for s in specs if s.code == line.id]
        quantity = sum(int(s.quantity) for s in mine)
        net = sum(cents_of(s.total) - cents_of(s.discount) for s in mine)
        assert line.quantity == quantity
        assert line.price == _half_up(net, quantity)
        assert residual.residual_cents == net - line.price * quantity
        assert abs(residual.residual_cents) * 2 <= quantity  # at most half a cent per unit


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["0.1", "0.25", "0.3", "0.5", "1"]), st.integers(1, 30),
                          st.decimals(min_value=Decimal("1.00"), max_value=Decimal("999.99"), places=2)),
                min_size=1, max_size=5))
def test_property_weights_convert_with_the_unit_multiplier(rows: list[tuple[str, int, Decimal]]) -> None:
    specs = tuple(ItemSpec(code=f"W{n}", description="Granel", quantity=Decimal(m) * units, unit_price=price)
                  for n, (m, units, price) in enumerate(rows))
    orders = order_of([{"id": str(100 + n), "refId": f"W{n}", "unitMultiplier": float(m), "quantity": units}
                       for n, (m, units, _) in enumerate(rows)])
    mapped = build_invoice(document(NFeSpec(items=specs)), order=orders, options=NO_EMBED)
    assert [(i.id, i.quantity) for i in mapped.payload.items] == [(str(100 + n), u) for n, (_, u, _) in enumerate(rows)]
    assert mapped.payload.invoice_value == sum(cents_of(s.total) for s in specs)


# ------------------------------------------------------------------------------------- real documents


def _nfe_400(folder: Path) -> list[Path]:
    found = []
    for path in sorted(folder.glob("*.xml")):
        try:
            nfe_invoice.parse(path)
        except NfeInvoiceError:
            continue  # events, SOAP wrappers, layout 3.10: not NF-e 4.00
        found.append(path)
    return found


REAL = _nfe_400(REALWORLD / "nfe") + _nfe_400(REALWORLD / "nfe-signed")
#: Real documents that are legitimately not invoices VTEX can take, and why.
NOT_A_SALE = {"nfelib__nfeProc_55_entrada_tpNF0_nosig.xml": "mapping.type"}  # a purchase entry (tpNF=0, finNFe=1)


def test_the_real_corpus_is_all_there() -> None:
    assert len(REAL) >= 40


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_every_real_nfe_maps_to_its_vnf_and_key_or_is_refused_for_a_fractional_quantity(path: Path) -> None:
    validated = validate_full(path, ValidationOptions())
    assert validated.document is not None
    doc = validated.document
    def run() -> MappedInvoice:
        return build_invoice(doc, report=validated.report, force=not validated.report.ok, options=NO_EMBED)

    if path.name in NOT_A_SALE:
        with pytest.raises(MappingError) as caught:
            run()
        assert caught.value.code == NOT_A_SALE[path.name]
        return
    fractional = [i for i in doc.items if i.prod and i.prod.qCom is not None and i.prod.qCom != int(i.prod.qCom)]
    if fractional:
        with pytest.raises(MappingError) as caught:
            run()
        assert caught.value.code == "mapping.needs_order"
        assert f"qCom {fractional[0].prod.qCom}" in caught.value.message  # type: ignore[union-attr]
        assert "unitMultiplier is needed" in caught.value.message
        return
    mapped = run()
    assert mapped.payload.invoice_value == cents_of(doc.totals.vNF)
    assert mapped.payload.invoice_key == doc.access_key
    assert sum(line.quantity for line in mapped.payload.items) == sum(int(i.prod.qCom) for i in doc.items if i.prod)


# -------------------------------------------------------------------------------------------- goldens


def _mapped_or_refused(call: Callable[[], MappedInvoice]) -> dict[str, Any]:
    try:
        return call().to_dict()
    except MappingError as error:
        return {"refused": {"code": error.code, "message": error.message}}


def _golden_cases() -> list[tuple[str, Callable[[], dict[str, Any]]]]:
    cases: list[tuple[str, Callable[[], dict[str, Any]]]] = []
    for folder, paths in (("samples", sorted(SAMPLES.glob("*.xml"))), ("realworld", REAL)):
        for path in paths:
            cases.append((f"{folder}/{path.stem}.json",
                          lambda p=path: _mapped_or_refused(lambda: build_invoice(nfe_invoice.parse(p),
                                                                                  options=NO_EMBED))))

    def with_order(xml: Path | bytes, order_file: str) -> dict[str, Any]:
        doc = nfe_invoice.parse(xml)
        the_order = order(order_file)
        result = _mapped_or_refused(lambda: build_invoice(doc, order=the_order, options=NO_EMBED))
        if "payload" in result:
            payload = build_invoice(doc, order=the_order, options=NO_EMBED).payload
            result["decision"] = reconcile(the_order, payload).to_dict()
        return result

    weight = build_nfe(NFeSpec(items=(item("QUEIJO-MINAS", "1.5", "33.26"),), order_id="1264680564895-01"))
    cases += [
        ("orders/sale_3_items__handling.json", lambda: with_order(SALE_3, "order_sample_3_items_handling.json")),
        ("orders/sale_3_items__invoiced.json", lambda: with_order(SALE_3, "order_sample_3_items_invoiced.json")),
        ("orders/weight__unit_multiplier.json", lambda: with_order(weight, "order_weight_unit_multiplier.json")),
    ]
    return cases


GOLDEN_CASES = _golden_cases()


@pytest.mark.parametrize(("name", "make"), GOLDEN_CASES, ids=[name for name, _ in GOLDEN_CASES])
def test_golden_payloads(name: str, make: Callable[[], dict[str, Any]]) -> None:
    actual = make()
    path = GOLDEN / name
    if os.environ.get("NFE_INVOICE_REGENERATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert path.exists(), f"no golden file {path}: regenerate with NFE_INVOICE_REGENERATE_GOLDEN=1 and review it"
    assert actual == json.loads(path.read_text(encoding="utf-8"))


def test_every_refusal_code_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Mapping to VTEX"):]
    sources = "".join((ROOT / "nfe_invoice" / "vtex" / name).read_text(encoding="utf-8")
                      for name in ("mapping.py", "order_id.py", "reconcile.py"))
    codes = set(re.findall(r'"((?:mapping|reconcile)\.[a-z_]+)"', sources))
    assert len(codes) > 25
    assert sorted(code for code in codes if f"`{code}`" not in section) == []


def test_read_order_refuses_what_is_not_an_order_on_one_line() -> None:
    assert read_order({"orderId": "1-01", "items": None}).order_id == "1-01"
    for data in ([{"orderId": "1"}], {"status": "handling"}, {"orderId": "1", "items": [{"name": "no id"}]}):
        error = refusal(lambda data=data: read_order(data))  # type: ignore[misc]
        assert error.code == "mapping.order" and error.message.startswith("not a VTEX order (")
        assert "\n" not in error.message


def test_format_invoice_number_is_what_build_invoice_sends() -> None:
    doc = document(default_spec(1, series=7))
    for template in ("{nNF}", "{serie:03d}-{nNF}", "{key}"):
        sent = build_invoice(doc, options=MappingOptions(invoice_number_format=template)).payload.invoice_number
        assert format_invoice_number(doc, template) == sent
    assert refusal(lambda: format_invoice_number(doc, "{serie}/{nNF}")).code == "mapping.invoice_number"
