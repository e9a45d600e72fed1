"""Item rules: vProd = quantity × unit price (629, 630), vICMS = vBC × pICMS (528), vFCP (860), vItem (1137).

The builder's first item is 2 × 23.27 = 46.54, ICMS00 on a base of 46.54 at 18 % = 8.38 (8.3772). The
tolerance is one cent after rounding the calculation half up, so the boundaries below are exact.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nfe_invoice.findings import Severity
from nfe_invoice.rules import rule_codes
from nfe_invoice.rules.items import within_a_cent

from .rules_helpers_totals import Edit, findings_of, sefaz_of, valid, with_reform

ICMS = "det[1]/imposto/ICMS/ICMS00"


def first_item() -> Edit:
    doc = Edit(valid(3))
    assert doc.value("det[1]/prod/vProd") == Decimal("46.54")
    assert doc.value(f"{ICMS}/vICMS") == Decimal("8.38")
    return doc


def test_the_builder_documents_have_no_item_finding() -> None:
    assert findings_of(valid(100)) == []


# ------------------------------------------------------------------------------- 629 / 630: vProd


@pytest.mark.parametrize(("tag", "sefaz"), [("vUnCom", "629"), ("vUnTrib", "630")])
@pytest.mark.parametrize(
    ("unit_price", "fires"),
    [
        ("23.2700000000", False),  # 46.54 exactly
        ("23.2750000000", False),  # 46.55: one cent over, tolerated
        ("23.2650000000", False),  # 46.53: one cent under, tolerated
        ("23.2725000000", False),  # 46.545 rounds half up to 46.55: still one cent
        ("23.2800000000", True),  # 46.56: two cents
        ("23.2600000000", True),  # 46.52
        ("30.0000000000", True),
    ],
)
def test_vprod_against_quantity_times_unit_price(tag: str, sefaz: str, unit_price: str, fires: bool) -> None:
    doc = first_item().set(f"det[1]/prod/{tag}", unit_price)
    assert sefaz_of(doc.bytes()) == ({sefaz} if fires else set())


@pytest.mark.parametrize("tag", ["qCom", "qTrib"])
def test_a_wrong_quantity_is_reported_too(tag: str) -> None:
    doc = first_item().set(f"det[1]/prod/{tag}", "3.0000")
    assert sefaz_of(doc.bytes()) == {"629" if tag == "qCom" else "630"}


@pytest.mark.parametrize("purpose", ["2", "3", "4"])
def test_vprod_calculations_apply_to_normal_documents_only(purpose: str) -> None:
    """ACBr applies 629/630 (and 528) to finNFe=1 only: other purposes carry differences."""
    doc = first_item().set("ide/finNFe", purpose).set("det[1]/prod/vUnCom", "30.00").set("det[1]/prod/vUnTrib", "30")
    doc.set(f"{ICMS}/pICMS", "25.0000")
    assert sefaz_of(doc.bytes()) == set()


def test_the_629_finding_names_the_item_the_values_and_the_xpath() -> None:
    doc = first_item().set("det[1]/prod/vUnCom", "23.2800000000")
    (found,) = findings_of(doc.bytes())
    assert found.code == "item.vprod"
    assert found.severity is Severity.ERROR
    assert found.xpath == "/NFe/infNFe/det[1]/prod/vProd"
    assert found.message == (
        "Item 1: vProd is 46.54 but qCom × vUnCom = 2.0000 × 23.2800000000 = 46.56 (tolerance 0.01)."
    )


def test_the_xpath_uses_the_position_and_the_message_the_item_number() -> None:
    doc = Edit(valid(3)).set("det[2]/prod/vUnCom", "99")
    doc.get("det[2]").set("nItem", "7")
    (found,) = findings_of(doc.bytes())
    assert found.xpath == "/NFe/infNFe/det[2]/prod/vProd"
    assert found.message.startswith("Item 7: ")


# ------------------------------------------------------------------------------------ 528: vICMS


@pytest.mark.parametrize(
    ("rate", "fires"),
    [
        ("18.0000", False),  # 8.3772 -> 8.38
        ("18.0200", False),  # 8.3865 -> 8.39: one cent
        ("18.0300", False),  # 8.3912 -> 8.39
        ("18.0400", True),  # 8.3958 -> 8.40: two cents
        ("17.9600", True),  # 8.3586 -> 8.36
        ("12.0000", True),
    ],
)
def test_vicms_against_base_times_rate(rate: str, fires: bool) -> None:
    doc = first_item().set(f"{ICMS}/pICMS", rate)
    assert sefaz_of(doc.bytes()) == ({"528"} if fires else set())


@pytest.mark.parametrize(("group", "checked"), [("ICMS10", True), ("ICMS20", True), ("ICMS70", True),
                                                ("ICMS51", False), ("ICMS90", False), ("ICMSPart", False)])
def test_vicms_is_checked_for_cst_00_10_20_70_only(group: str, checked: bool) -> None:
    doc = first_item().set(f"{ICMS}/pICMS", "25.0000").rename(ICMS, group)
    assert sefaz_of(doc.bytes()) == ({"528"} if checked else set())


def test_the_528_message_shows_the_calculation() -> None:
    (found,) = findings_of(first_item().set(f"{ICMS}/pICMS", "12.0000").bytes())
    assert found.message == (
        "Item 1: vICMS is 8.38 but vBC × pICMS / 100 = 46.54 × 12.0000 / 100 = 5.58 (tolerance 0.01)."
    )
    assert found.xpath == "/NFe/infNFe/det[1]/imposto/ICMS/ICMS00/vICMS"


# -------------------------------------------------------------------------------------- 860: vFCP


def _with_fcp(value: str, *, base: str | None = None, group: str = "ICMS00") -> bytes:
    doc = first_item().set(f"{ICMS}/pFCP", "2.0000").set(f"{ICMS}/vFCP", value)
    if base is not None:
        doc.set(f"{ICMS}/vBCFCP", base)
    doc.set("total/ICMSTot/vFCP", value)
    return doc.rename(ICMS, group).bytes()


@pytest.mark.parametrize(
    ("value", "fires"),
    [("0.93", False), ("0.94", False), ("0.92", False), ("0.95", True), ("0.00", True)],  # 46.54 × 2 % = 0.9308
)
def test_vfcp_of_icms00_uses_the_icms_base(value: str, fires: bool) -> None:
    assert sefaz_of(_with_fcp(value)) == ({"860"} if fires else set())


@pytest.mark.parametrize(("value", "fires"), [("2.00", False), ("2.01", False), ("2.02", True)])
def test_vfcp_uses_vbcfcp_when_the_group_has_it(value: str, fires: bool) -> None:
    assert sefaz_of(_with_fcp(value, base="100.00", group="ICMS10")) == ({"860"} if fires else set())


def test_vfcp_without_a_rate_or_outside_normal_documents_is_not_checked() -> None:
    doc = first_item().set(f"{ICMS}/vFCP", "5.00").set("total/ICMSTot/vFCP", "5.00")
    assert sefaz_of(doc.bytes()) == set()
    abnormal = Edit(_with_fcp("5.00")).set("ide/finNFe", "2")
    assert sefaz_of(abnormal.bytes()) == set()


# ----------------------------------------------------------------------------------- 1137: vItem


def _reform_without_vitem(position: int) -> bytes:
    doc = Edit(with_reform(valid(3)))
    doc.shift("total/vNFTot", -doc.value(f"det[{position}]/vItem")).remove(f"det[{position}]/vItem")
    return doc.bytes()


def test_an_item_with_ibs_cbs_and_no_vitem_is_a_warning() -> None:
    (found,) = findings_of(_reform_without_vitem(2))
    assert (found.code, found.sefaz, found.severity) == ("item.vitem_missing", "1137", Severity.WARNING)
    assert found.xpath == "/NFe/infNFe/det[2]/vItem"


def test_items_with_vitem_or_without_gibscbs_need_nothing() -> None:
    assert findings_of(with_reform(valid(3))) == []
    doc = Edit(_reform_without_vitem(2))
    group = doc.get("det[2]/imposto/IBSCBS/gIBSCBS")
    group.getparent().remove(group)  # type: ignore[union-attr]
    doc.set("det[2]/imposto/IBSCBS/gIBSCBSMono/vTotIBSMonoItem", "0.00")
    assert "1137" not in sefaz_of(doc.bytes())


# --------------------------------------------------------------------------------- tolerance helper

cents_values = st.integers(0, 10**9).map(lambda n: Decimal(n) / 100)
calculations = st.integers(0, 10**12).map(lambda n: Decimal(n) / 10**6)


def _reference(declared: Decimal, calculated: Decimal) -> bool:
    cent = Decimal("0.01")
    rounded = calculated.quantize(cent, rounding=ROUND_HALF_UP)
    return abs(declared.quantize(cent, rounding=ROUND_HALF_UP) - rounded) <= cent


@given(cents_values, calculations)
def test_the_fast_tolerance_test_equals_the_rounded_comparison(declared: Decimal, calculated: Decimal) -> None:
    assert within_a_cent(declared, calculated) == _reference(declared, calculated)


@given(cents_values, st.sampled_from(["-0.015", "-0.0149", "-0.005", "0", "0.005", "0.0149", "0.015", "0.02"]))
def test_the_tolerance_boundaries(declared: Decimal, offset: str) -> None:
    calculated = declared + Decimal(offset)
    if calculated >= 0:
        assert within_a_cent(declared, calculated) == _reference(declared, calculated)


@pytest.mark.parametrize(
    ("declared", "calculated", "expected"),
    [("1.00", "1.005", True), ("1.02", "1.005", True), ("1.03", "1.005", False), ("0.99", "1.005", False),
     ("0.99", "1.004", True), ("0.00", "-0.004", True), ("0.01", "-0.005", False)],
)
def test_tolerance_examples(declared: str, calculated: str, expected: bool) -> None:
    assert within_a_cent(Decimal(declared), Decimal(calculated)) is expected


# ------------------------------------------------------------------------------------ code table


def test_the_item_codes_are_registered() -> None:
    table = {info.code: (info.sefaz, info.severity) for info in rule_codes() if info.code.startswith("item.")}
    assert table == {
        "item.vprod": ("629", Severity.ERROR),
        "item.vprod_trib": ("630", Severity.ERROR),
        "item.vicms": ("528", Severity.ERROR),
        "item.vfcp": ("860", Severity.ERROR),
        "item.vitem_missing": ("1137", Severity.WARNING),
    }
