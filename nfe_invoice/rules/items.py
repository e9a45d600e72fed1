"""Item values: each item's own arithmetic (quantity × unit price, base × rate) and its vItem.

Sources: ``shared/sefaz/offline-rules.md`` §C, ACBr ``ACBrNFe.ValidarRegrasdeNegocio.pas`` (629, 630,
528), the MOC rule list as carried by wmixvideo/nfe (860) and NT 2025.002 v1.31 §7 VB01-05 (1137).

These are per-item calculations, for which SEFAZ admits a difference of up to R$ 0.01 either way
(NT 2013/005: "cálculo de imposto (base × alíquota)"), unlike the totals, which are exact. The calculated
value is rounded half-up to the cent first, then compared with that tolerance: this accepts both roundings
of a half cent (1.005 → 1.00 or 1.01), which the unrounded comparison might not.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Final

from ..findings import Finding, Severity
from ..model import Item, NFeDocument
from ._sums import guarded
from .base import CENT, INVARIANT, POLICY, RuleContext, cents, finding, rule

PERCENT: Final = Decimal("0.01")  # × 0.01 is exact, and cheaper than / 100
#: Half a cent beyond the tolerance: round(p) is within 0.01 of d iff d − 0.015 ≤ p < d + 0.015.
_REACH: Final = Decimal("0.015")
#: The ICMS groups whose vICMS is exactly vBC × pICMS (ACBr: CST 00, 10, 20, 70; not ICMSPart's CST 10).
PLAIN_ICMS_GROUPS: Final = frozenset({"ICMS00", "ICMS10", "ICMS20", "ICMS70"})


def within_a_cent(declared: Decimal, calculated: Decimal) -> bool:
    """``|round(declared, 2) − round(calculated, 2)| ≤ 0.01``, everything in Decimal, rounding half up.

    For a non-negative ``calculated`` this is the interval test ``d − 0.015 ≤ calculated < d + 0.015``
    (d = declared at the cent), which needs one rounding instead of two; it runs for every item.
    """
    if declared == calculated:
        return True
    if calculated < 0:
        return abs(cents(declared) - cents(calculated)) <= CENT
    at_cent = cents(declared)
    return at_cent - _REACH <= calculated < at_cent + _REACH


def _where(position: int, item: Item) -> str:
    number = item.nItem if item.nItem is not None else position
    return f"Item {number}"


def _is_normal(document: NFeDocument) -> bool:
    """finNFe=1: complementary, adjustment and return documents carry differences, not calculations."""
    return document.ide.finNFe == "1"


def _vprod_against(
    document: NFeDocument, context: RuleContext, quantity: str, price: str, code: tuple[str, str]
) -> Iterator[Finding]:
    """vProd against ``quantity × price`` (the commercial or the taxable unit) of every item, to the cent."""
    if not _is_normal(document):
        return
    for position, item in enumerate(document.items, start=1):
        prod = item.prod
        if prod is None or prod.vProd is None:
            continue
        amount, unit_price = getattr(prod, quantity), getattr(prod, price)
        if amount is None or unit_price is None:
            continue
        product = amount * unit_price
        if within_a_cent(prod.vProd, product):
            continue
        yield finding(
            *code,
            f"{_where(position, item)}: vProd is {cents(prod.vProd):.2f} but {quantity} × {price} = "
            f"{amount} × {unit_price} = {cents(product):.2f} (tolerance 0.01).",
            context.path(f"det[{position}]/prod/vProd"),
        )


@rule(
    ("item.vprod", "629"),
    kind=INVARIANT,
    description="vProd equals qCom × vUnCom rounded to the cent, within R$ 0.01 (I11-10; finNFe=1 only)",
)
@guarded
def check_vprod_commercial(document: NFeDocument, context: RuleContext) -> Iterator[Finding]:
    """629: ``|vProd − round(qCom × vUnCom, 2)| ≤ 0.01``.

    Applied to normal documents (finNFe=1) only, as ACBr's (commented-out) copy of the rule does: a
    complementary or adjustment NF-e may carry a value with no quantity behind it.
    """
    return _vprod_against(document, context, "qCom", "vUnCom", ("item.vprod", "629"))


@rule(
    ("item.vprod_trib", "630"),
    kind=INVARIANT,
    description="vProd equals qTrib × vUnTrib rounded to the cent, within R$ 0.01 (finNFe=1 only)",
)
@guarded
def check_vprod_taxable(document: NFeDocument, context: RuleContext) -> Iterator[Finding]:
    """630: ``|vProd − round(qTrib × vUnTrib, 2)| ≤ 0.01`` (same scope as 629, per ACBr)."""
    return _vprod_against(document, context, "qTrib", "vUnTrib", ("item.vprod_trib", "630"))


@rule(
    ("item.vicms", "528"),
    kind=INVARIANT,
    description="vICMS equals vBC × pICMS / 100 within R$ 0.01 (CST 00, 10, 20, 70; finNFe=1 only)",
)
@guarded
def check_vicms(document: NFeDocument, context: RuleContext) -> Iterator[Finding]:
    """528: ``|vICMS − vBC × pICMS / 100| ≤ 0.01`` for CST 00/10/20/70 on normal documents (ACBr)."""
    if not _is_normal(document):
        return
    for position, item in enumerate(document.items, start=1):
        icms = item.imposto.ICMS if item.imposto is not None else None
        if icms is None or icms.group not in PLAIN_ICMS_GROUPS:
            continue
        if icms.vICMS is None or icms.vBC is None or icms.pICMS is None:
            continue
        product = icms.vBC * icms.pICMS * PERCENT
        if within_a_cent(icms.vICMS, product):
            continue
        yield finding(
            "item.vicms",
            "528",
            f"{_where(position, item)}: vICMS is {cents(icms.vICMS):.2f} but vBC × pICMS / 100 = "
            f"{cents(icms.vBC):.2f} × {icms.pICMS} / 100 = {cents(product):.2f} (tolerance 0.01).",
            context.path(f"det[{position}]/imposto/ICMS/{icms.group}/vICMS"),
        )


@rule(
    ("item.vfcp", "860"),
    kind=INVARIANT,
    description="vFCP equals vBCFCP × pFCP / 100 within R$ 0.01 (ICMS00: base vBC; finNFe=1 only)",
)
@guarded
def check_vfcp(document: NFeDocument, context: RuleContext) -> Iterator[Finding]:
    """860: ``|vFCP − vBCFCP × pFCP / 100| ≤ 0.01`` (NT 2016.002).

    ICMS00 has no vBCFCP: its FCP base is the ICMS base, vBC. Same scope as 528 (finNFe=1), since a
    complementary document carries differences rather than a base times a rate.
    """
    if not _is_normal(document):
        return
    for position, item in enumerate(document.items, start=1):
        icms = item.imposto.ICMS if item.imposto is not None else None
        if icms is None or icms.vFCP is None or icms.pFCP is None:
            continue
        base = icms.vBCFCP if icms.vBCFCP is not None else (icms.vBC if icms.group == "ICMS00" else None)
        if base is None:
            continue
        product = base * icms.pFCP * PERCENT
        if within_a_cent(icms.vFCP, product):
            continue
        base_name = "vBCFCP" if icms.vBCFCP is not None else "vBC"
        yield finding(
            "item.vfcp",
            "860",
            f"{_where(position, item)}: vFCP is {cents(icms.vFCP):.2f} but {base_name} × pFCP / 100 = "
            f"{cents(base):.2f} × {icms.pFCP} / 100 = {cents(product):.2f} (tolerance 0.01).",
            context.path(f"det[{position}]/imposto/ICMS/{icms.group or 'ICMS'}/vFCP"),
        )


@rule(
    ("item.vitem_missing", "1137", Severity.WARNING),
    kind=POLICY,
    description="An item with IBSCBS/gIBSCBS carries vItem (VB01-05, NT 2025.002; future implementation)",
)
@guarded
def check_vitem_present(document: NFeDocument, context: RuleContext) -> Iterator[Finding]:
    """1137: gIBSCBS present ⇒ vItem present (NT 2025.002 VB01-05).

    A warning: the NT marks the rule "Implementação Futura", so SEFAZ does not reject it yet.
    """
    for position, item in enumerate(document.items, start=1):
        if item.vItem is not None:
            continue
        taxes = item.imposto
        if taxes is None or taxes.IBSCBS is None or taxes.IBSCBS.gIBSCBS is None:
            continue
        yield finding(
            "item.vitem_missing",
            "1137",
            f"{_where(position, item)} has IBS/CBS values (gIBSCBS) but no vItem, its total value.",
            context.path(f"det[{position}]/vItem"),
            Severity.WARNING,
        )
