"""VTEX orders that match NF-e documents, for the sandbox: the demo, our tests, users' integration tests.

An ERP invoices an order VTEX already holds; to rehearse that locally, the sandbox needs the order the
document invoices. :func:`order_for_document` writes it from the document itself: one order line per NF-e
item (VTEX's SKU id made up, ``refId`` = ``cProd`` as stores usually set it, ``ean`` = a real ``cEAN``), the
item totals at the net value (vProd - vDesc), and the rest of vNF (freight, insurance, other costs, taxes
added on top) as shipping, so the order's value is exactly vNF and one Output invoice completes it. Extra
lines make an order that the document only partly invoices.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ..model import NFeDocument
from ..vtex.sandbox import make_order
from .builder import build_nfe, default_spec, wrap_nfeproc
from .signing import SigningIdentity, sign_nfe


def _cents(value: Decimal | None) -> int:
    return int(((value or Decimal(0)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def order_lines(document: NFeDocument, *, first_sku: int = 1000) -> list[dict[str, Any]]:
    """One VTEX order line per NF-e item. Goods sold by weight or volume (a fractional qCom) become one
    unit whose ``unitMultiplier`` is that amount, as a store selling by the kilo sets it up."""
    lines = []
    for number, item in enumerate(document.items):
        prod = item.prod
        if prod is None:
            continue
        amount = prod.qCom or Decimal(1)
        fractional = amount != amount.to_integral_value()
        quantity = 1 if fractional else int(amount)
        net = _cents(prod.vProd) - _cents(prod.vDesc)
        ean = prod.cEAN if prod.cEAN and prod.cEAN.isdigit() else None
        lines.append({
            "id": str(first_sku + number),
            "refId": prod.cProd,
            "ean": ean,
            "name": prod.xProd,
            "quantity": quantity,
            "price": _cents(prod.vUnCom),
            "sellingPrice": round(net / quantity) if quantity else net,
            "total": net,
            "unitMultiplier": float(amount.normalize()) if fractional else 1,
        })
    return lines


def order_for_document(
    document: NFeDocument,
    order_id: str,
    *,
    extra_items: Iterable[Mapping[str, Any]] = (),
    status: str = "ready-for-handling",
    first_sku: int = 1000,
) -> dict[str, Any]:
    """A VTEX-shaped order whose value is exactly the document's vNF (plus any ``extra_items``)."""
    lines = order_lines(document, first_sku=first_sku)
    shipping = _cents(document.totals.vNF) - sum(line["total"] for line in lines)
    return make_order(order_id, [*lines, *extra_items], status=status, shipping=max(shipping, 0),
                      discounts=max(-shipping, 0))


def authorised_sale(
    number: int,
    order_id: str | None,
    identity: SigningIdentity,
    *,
    items: int = 3,
    **changes: Any,
) -> bytes:
    """A signed, authorised ``nfeProc`` (test certificate) invoicing ``order_id``: what an ERP hook exports.
    With ``order_id=None`` the document names no order (no ``compra/xPed``).

    ``identity`` comes from :func:`~nfe_invoice.testing.make_test_certificate` (make it once: keys are slow to
    generate). ``changes`` go to :func:`~nfe_invoice.testing.default_spec` (``environment=2`` for a
    homologation document, ``model=65`` for an NFC-e, ...).
    """
    spec = default_spec(items, number=number, order_id=order_id, **changes)
    return wrap_nfeproc(sign_nfe(build_nfe(spec), identity))
