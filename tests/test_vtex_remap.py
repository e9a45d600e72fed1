"""The worker's fast path: items matched against the order from the facts read at enqueue time give exactly
what mapping the whole document against that order gives (so skipping the second parse changes nothing),
from the stored payload or, for items that wait for the order, from the template with stand-in items."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nfe_invoice.errors import MappingError
from nfe_invoice.parse import parse
from nfe_invoice.testing import ItemSpec, build_nfe, default_spec
from nfe_invoice.testing.orders import order_for_document
from nfe_invoice.vtex.mapping import build_invoice, build_template, item_facts, remap_items
from nfe_invoice.vtex.models import Order

QUANTITIES = st.sampled_from([Decimal(1), Decimal(2), Decimal(3), Decimal("0.5"), Decimal("2.5"), Decimal("1.250")])
PRICES = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999.99"), places=2)


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    count = draw(st.integers(min_value=1, max_value=6))
    items = []
    for number in range(count):
        code = f"SKU-{draw(st.integers(min_value=0, max_value=3))}" if draw(st.booleans()) else f"P{number}"
        quantity, price = draw(QUANTITIES), draw(PRICES)
        total = (quantity * price).quantize(Decimal("0.01"))
        discount = draw(st.sampled_from([Decimal(0), (total / 3).quantize(Decimal("0.01"))]))
        items.append(ItemSpec(code, f"Produto {code}", quantity, price, discount=discount))
    return build_nfe(default_spec(count).replace(items=tuple(items)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_remapping_the_stored_payload_equals_mapping_the_document_again(raw: bytes) -> None:
    document = parse(raw)
    order = Order.model_validate(order_for_document(document, "REMAP-01"))
    fractional = any(item.prod is not None and item.prod.qCom % 1 for item in document.items)
    if fractional:  # no payload is stored for these (it waits for the order): the fast path takes the template
        with pytest.raises(MappingError, match="unitMultiplier is needed"):
            build_invoice(document)
        stored = build_template(document)
        assert all((item.price, item.quantity) == (0, 1) for item in stored.items)  # stand-ins, never sent
    else:
        stored = build_invoice(document).payload  # what enqueue stores (SKU ids from cProd)
    refusal: MappingError | None = None
    try:
        full = build_invoice(document, order=order)
    except MappingError as exc:
        refusal = exc
    if refusal is not None:  # the same refusal must come from the fast path
        with pytest.raises(MappingError) as caught:
            remap_items(stored, item_facts(document), order)
        assert caught.value.code == refusal.code
        return
    fast = remap_items(stored, item_facts(document), order)
    assert fast.payload == full.payload
    assert fast.residuals == full.residuals


def test_remap_keeps_every_field_but_the_items() -> None:
    document = parse(build_nfe(default_spec(3)))
    order = Order.model_validate(order_for_document(document, "REMAP-02", first_sku=7000))
    stored = build_invoice(document).payload  # without the order: SKU ids are cProd
    fast = remap_items(stored, item_facts(document), order)
    assert [item.id for item in stored.items] == ["SKU-00001", "SKU-00002", "SKU-00003"]
    assert [item.id for item in fast.payload.items] == ["7000", "7001", "7002"]
    assert fast.payload.model_dump(exclude={"items"}) == stored.model_dump(exclude={"items"})


def test_an_item_missing_from_the_order_is_refused_on_the_fast_path_too() -> None:
    document = parse(build_nfe(default_spec(2)))
    order_json = order_for_document(document, "REMAP-03")
    order_json["items"] = order_json["items"][:1]
    with pytest.raises(MappingError) as caught:
        remap_items(build_invoice(document).payload, item_facts(document), Order.model_validate(order_json))
    assert caught.value.code == "mapping.sku_unmatched"


def test_build_invoice_is_part_of_the_package_api_without_loading_pydantic_early() -> None:
    import subprocess
    import sys

    code = ("import sys, nfe_invoice; assert 'pydantic' not in sys.modules; "
            "from nfe_invoice import build_invoice; assert build_invoice is nfe_invoice.vtex.mapping.build_invoice")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
