"""Tax-reform rules (NT 2025.002): vItem (1105), vNFTot (1094, 1004), ISTot/IBSCBSTot presence
(1073, 1117, 1118, 1119) and their sums (1075, 1076, 1077, 1078, 1080, 1081, 1082, 1084, 1085, 1088, 1089,
1091, 1092, 1093, 1120-1123, 1176, 1177).

The documents are builder documents with IBS/CBS (and optionally IS) added consistently by
:func:`rules_helpers_totals.with_reform`; each test then changes one thing.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from nfe_invoice.findings import Severity
from nfe_invoice.rules import rule_codes
from nfe_invoice.rules.reform import REFORM_TOTAL_RULES
from nfe_invoice.testing.builder import BRT

from .rules_helpers_extra import (
    AFTER_IBSCBSTOT,
    IBSCBS_FULL,
    IBSCBS_MONO,
    ibscbs_total,
    insert,
    schema_errors,
)
from .rules_helpers_totals import Edit, findings_of, sefaz_of, valid, with_reform

IN_2026 = datetime(2026, 11, 20, 14, 30, tzinfo=BRT)
IN_2027 = datetime(2027, 2, 10, 9, 0, tzinfo=BRT)
ICMS = "imposto/ICMS/ICMS00"


def reform(*, year: int = 2026, with_is: bool = False, model: int = 55, items: int = 3) -> bytes:
    emitted = IN_2027 if year == 2027 else IN_2026
    return with_reform(valid(items, model=model, emitted_at=emitted), with_is=with_is)


@pytest.mark.parametrize("year", [2026, 2027])
@pytest.mark.parametrize("with_is", [False, True])
@pytest.mark.parametrize("model", [55, 65])
def test_consistent_reform_documents_have_no_finding(year: int, with_is: bool, model: int) -> None:
    assert findings_of(reform(year=year, with_is=with_is, model=model)) == []


def test_a_large_reform_document_has_no_finding() -> None:
    assert findings_of(reform(year=2027, with_is=True, items=100)) == []


# ------------------------------------------------------------------------------------ 1105: vItem


def test_vitem_one_cent_off_is_a_1105_warning() -> None:
    doc = Edit(reform()).shift("det[2]/vItem", "0.01").shift("total/vNFTot", "0.01")
    (found,) = findings_of(doc.bytes())
    assert (found.code, found.sefaz, found.severity) == ("reform.vitem", "1105", Severity.WARNING)
    assert found.xpath == "/NFe/infNFe/det[2]/vItem"
    vprod, vitem = doc.value("det[2]/prod/vProd"), doc.value("det[2]/vItem")
    assert found.message == (
        f"Item 2: vItem is {vitem:.2f} but its values add up to {vitem - Decimal('0.01'):.2f} (vProd {vprod:.2f})."
    )


@pytest.mark.parametrize(("built", "emitted", "fires"), [
    (2026, IN_2026, False),
    (2026, IN_2027, True),  # from 2027 vItem adds vIBS, vCBS, vIS
    (2027, IN_2027, False),
    (2027, IN_2026, True),  # Exceção 1: not in 2025 and 2026
])
def test_the_year_of_dhemi_decides_whether_vitem_adds_the_reform_taxes(
    built: int, emitted: datetime, fires: bool
) -> None:
    doc = Edit(reform(year=built, with_is=True)).set("ide/dhEmi", emitted.isoformat())
    found = findings_of(doc.bytes())
    assert {f.sefaz for f in found} == ({"1105"} if fires else set())
    assert len(found) == (3 if fires else 0)  # one per item


@pytest.mark.parametrize("built", [2026, 2027])
def test_without_dhemi_both_forms_of_vitem_are_accepted(built: int) -> None:
    doc = Edit(reform(year=built, with_is=True)).remove("ide/dhEmi")
    assert sefaz_of(doc.bytes()) == set()


def test_the_2027_message_lists_the_reform_terms() -> None:
    doc = Edit(reform(year=2027, with_is=True)).shift("det[1]/vItem", "1.00").shift("total/vNFTot", "1.00")
    (found,) = findings_of(doc.bytes())
    for term in ("vProd", "+ vIBS", "+ vCBS", "+ vIS"):
        assert term in found.message


def _deson(indicator: str | None, *, in_vitem: bool) -> bytes:
    doc = Edit(reform())
    doc.set(f"det[1]/{ICMS}/vICMSDeson", Decimal("5.00")).set(f"det[1]/{ICMS}/motDesICMS", "9")
    if indicator is not None:
        doc.set(f"det[1]/{ICMS}/indDeduzDeson", indicator)
    doc.set("total/ICMSTot/vICMSDeson", Decimal("5.00"))
    if indicator == "1":
        doc.shift("total/ICMSTot/vNF", "-5.00")
    if in_vitem:
        doc.shift("det[1]/vItem", "-5.00").shift("total/vNFTot", "-5.00")
    return doc.bytes()


@pytest.mark.parametrize(("indicator", "in_vitem", "expected"), [
    ("1", True, set()), ("1", False, {"1105"}),
    ("0", False, set()), ("0", True, {"1105"}),
    (None, False, set()), (None, True, set()),
])
def test_vicmsdeson_is_subtracted_from_vitem_when_inddeduzdeson_is_1(
    indicator: str | None, in_vitem: bool, expected: set[str]
) -> None:
    assert sefaz_of(_deson(indicator, in_vitem=in_vitem)) == expected


def _st(*, direct_sale: bool, in_vitem: bool) -> bytes:
    doc = Edit(reform())
    doc.set(f"det[1]/{ICMS}/vICMSST", Decimal("7.00")).set("total/ICMSTot/vST", Decimal("7.00"))
    if direct_sale:
        doc.set("det[1]/prod/veicProd/tpOp", "2")
    else:
        doc.shift("total/ICMSTot/vNF", "7.00")
    if in_vitem:
        doc.shift("det[1]/vItem", "7.00").shift("total/vNFTot", "7.00")
    return doc.bytes()


@pytest.mark.parametrize(("direct_sale", "in_vitem", "expected"), [
    (False, True, set()), (False, False, {"1105"}), (True, False, set()), (True, True, {"1105"}),
])
def test_vitem_of_a_direct_vehicle_sale_leaves_out_icms_st(
    direct_sale: bool, in_vitem: bool, expected: set[str]
) -> None:
    """VB01-20: with tpOp=2 vItem has no vICMSST, vICMSMonoReten, vFCPST or vIPIDevol."""
    assert sefaz_of(_st(direct_sale=direct_sale, in_vitem=in_vitem)) == expected


@pytest.mark.parametrize(("indicator", "fires"), [("1", True), ("0", False)])
def test_pis_st_enters_vitem_only_when_marked(indicator: str, fires: bool) -> None:
    doc = Edit(reform())
    doc.set("det[1]/imposto/PISST/vPIS", Decimal("3.21")).set("det[1]/imposto/PISST/indSomaPISST", indicator)
    if indicator == "1":
        doc.shift("total/ICMSTot/vNF", "3.21")
    assert sefaz_of(doc.bytes()) == ({"1105"} if fires else set())


# --------------------------------------------------------------------------------- 1094 / 1004: vNFTot


def test_vnftot_off_is_a_1094_warning() -> None:
    (found,) = findings_of(Edit(reform()).shift("total/vNFTot", "0.01").bytes())
    assert (found.code, found.sefaz, found.severity) == ("reform.vnftot", "1094", Severity.WARNING)
    assert found.xpath == "/NFe/infNFe/total/vNFTot"


def test_1094_names_the_items_without_vitem() -> None:
    found = findings_of(Edit(reform()).remove("det[3]/vItem").bytes())
    assert {f.sefaz for f in found} == {"1094", "1137"}
    (message,) = [f.message for f in found if f.sefaz == "1094"]
    assert message.endswith("; 1 item(s) have no vItem.")


def test_ibscbstot_without_vnftot_is_a_1004_warning() -> None:
    (found,) = findings_of(Edit(reform()).remove("total/vNFTot").bytes())
    assert (found.code, found.sefaz, found.severity) == ("reform.vnftot_missing", "1004", Severity.WARNING)


def test_vnftot_and_its_group_are_optional_without_reform() -> None:
    assert sefaz_of(valid(3)) == set()


# --------------------------------------------------------------------------- W31 / W34: presence


def test_istot_without_any_item_with_is_is_1073() -> None:
    assert sefaz_of(Edit(reform()).set("total/ISTot/vIS", "0.00").bytes()) == {"1073"}


def test_an_item_with_is_and_no_istot_is_1117() -> None:
    assert sefaz_of(Edit(reform(with_is=True)).remove("total/ISTot").bytes()) == {"1117"}


def test_ibscbstot_without_any_item_with_ibscbs_is_1118() -> None:
    doc = Edit(valid(3))
    for path in ("vBCIBSCBS", "gIBS/gIBSUF/vIBSUF", "gIBS/gIBSMun/vIBSMun", "gIBS/vIBS", "gCBS/vCBS"):
        doc.set(f"total/IBSCBSTot/{path}", "0.00")
    doc.set("total/vNFTot", "0.00")
    assert sefaz_of(doc.bytes()) == {"1118"}


def test_an_item_with_ibscbs_and_no_ibscbstot_is_1119() -> None:
    assert sefaz_of(Edit(reform()).remove("total/IBSCBSTot").bytes()) == {"1119"}


# ----------------------------------------------------------------------------- totals = Σ items


def test_istot_vis_off_is_a_1075_warning() -> None:
    (found,) = findings_of(Edit(reform(with_is=True)).shift("total/ISTot/vIS", "0.01").bytes())
    assert (found.sefaz, found.severity) == ("1075", Severity.WARNING)


ROWS = [
    ("1076", "vBCIBSCBS", "gIBSCBS/vBC"),
    ("1080", "gIBS/gIBSUF/vIBSUF", "gIBSCBS/gIBSUF/vIBSUF"),
    ("1084", "gIBS/gIBSMun/vIBSMun", "gIBSCBS/gIBSMun/vIBSMun"),
    ("1085", "gIBS/vIBS", "gIBSCBS/vIBS"),
    ("1091", "gCBS/vCBS", "gIBSCBS/gCBS/vCBS"),
    ("1077", "gIBS/gIBSUF/vDif", "gIBSCBS/gIBSUF/gDif/vDif"),
    ("1078", "gIBS/gIBSUF/vDevTrib", "gIBSCBS/gIBSUF/gDevTrib/vDevTrib"),
    ("1081", "gIBS/gIBSMun/vDif", "gIBSCBS/gIBSMun/gDif/vDif"),
    ("1082", "gIBS/gIBSMun/vDevTrib", "gIBSCBS/gIBSMun/gDevTrib/vDevTrib"),
    ("1088", "gCBS/vDif", "gIBSCBS/gCBS/gDif/vDif"),
    ("1089", "gCBS/vDevTrib", "gIBSCBS/gCBS/gDevTrib/vDevTrib"),
    # single-phase: every rate kind (ad rem, ad valorem) of both taxes counts
    ("1092", "gMono/vIBSMono", "gIBSCBSMono/gIBSMonoAdRem/gMonoPadrao/vIBSMono"),
    ("1093", "gMono/vCBSMono", "gIBSCBSMono/gCBSMonoAdValorem/gMonoPadrao/vCBSMono"),
    ("1120", "gMono/vIBSMonoReten", "gIBSCBSMono/gIBSMonoAdValorem/gMonoReten/vIBSMonoReten"),
    ("1121", "gMono/vCBSMonoReten", "gIBSCBSMono/gCBSMonoAdRem/gMonoReten/vCBSMonoReten"),
    ("1122", "gMono/vIBSMonoRet", "gIBSCBSMono/gIBSMonoAdRem/gMonoRet/vIBSMonoRet"),
    ("1123", "gMono/vCBSMonoRet", "gIBSCBSMono/gCBSMonoAdValorem/gMonoRet/vCBSMonoRet"),
    ("1176", "gEstornoCred/vIBSEstCred", "gEstornoCred/vIBSEstCred"),
    ("1177", "gEstornoCred/vCBSEstCred", "gEstornoCred/vCBSEstCred"),
]


@pytest.mark.parametrize(("sefaz", "total", "item"), ROWS)
@pytest.mark.parametrize("delta", ["0.01", "-0.01"])
def test_an_ibscbstot_value_one_cent_off_is_reported(sefaz: str, total: str, item: str, delta: str) -> None:
    doc = Edit(reform()).shift(f"total/IBSCBSTot/{total}", delta)
    (found,) = findings_of(doc.bytes())
    assert (found.sefaz, found.severity) == (sefaz, Severity.ERROR)
    assert found.xpath == f"/NFe/infNFe/total/IBSCBSTot/{total}"


@pytest.mark.parametrize(("sefaz", "total", "item"), ROWS)
def test_an_item_value_with_its_ibscbstot_total_is_consistent(sefaz: str, total: str, item: str) -> None:
    doc = Edit(reform()).shift(f"det[2]/imposto/IBSCBS/{item}", "1.23").shift(f"total/IBSCBSTot/{total}", "1.23")
    assert sefaz_of(doc.bytes()) == set()
    doc.shift(f"total/IBSCBSTot/{total}", "-1.23")
    assert sefaz_of(doc.bytes()) == {sefaz}


def test_an_absent_ibscbstot_group_is_left_to_the_schema() -> None:
    assert sefaz_of(Edit(reform()).remove("total/IBSCBSTot/gIBS").bytes()) == set()


def test_every_reform_total_row_is_tested() -> None:
    assert {row[0] for row in ROWS} == {spec.sefaz for spec in REFORM_TOTAL_RULES}


def test_the_reform_codes_are_registered_with_the_nt_severities() -> None:
    table = {info.code: (info.sefaz, info.severity) for info in rule_codes() if info.code.startswith("reform.")}
    warning, error = Severity.WARNING, Severity.ERROR
    assert table == {
        "reform.vitem": ("1105", warning),
        "reform.vnftot": ("1094", warning),
        "reform.vnftot_missing": ("1004", warning),
        "reform.istot_unexpected": ("1073", error),
        "reform.istot_missing": ("1117", error),
        "reform.ibscbstot_unexpected": ("1118", error),
        "reform.ibscbstot_missing": ("1119", error),
        "reform.vis": ("1075", warning),
        "reform.vbcibscbs": ("1076", error),
        "reform.vibsuf": ("1080", error),
        "reform.vibsmun": ("1084", error),
        "reform.vibs": ("1085", error),
        "reform.vcbs": ("1091", error),
        "reform.vdif_ibsuf": ("1077", error),
        "reform.vdevtrib_ibsuf": ("1078", error),
        "reform.vdif_ibsmun": ("1081", error),
        "reform.vdevtrib_ibsmun": ("1082", error),
        "reform.vdif_cbs": ("1088", error),
        "reform.vdevtrib_cbs": ("1089", error),
        "reform.vibsmono": ("1092", error),
        "reform.vcbsmono": ("1093", error),
        "reform.vibsmonoreten": ("1120", error),
        "reform.vcbsmonoreten": ("1121", error),
        "reform.vibsmonoret": ("1122", error),
        "reform.vcbsmonoret": ("1123", error),
        "reform.vibsestcred": ("1176", error),
        "reform.vcbsestcred": ("1177", error),
    }


# ------------------------------------------------ schema-valid documents with the optional reform groups

MONO_TOTAL = ibscbs_total(
    base="0.00", uf=("0.00", "0.00", "0.00"), ibs=("0.00", "0.00", "0.00"),
    cbs=("0.00", "0.00", "0.00", "0.00", "0.00"), mono=("50.00", "70.00", "5.00", "7.00", "3.00", "4.00"),
    estorno=None,
)


def _schema_valid_reform(item: str, total: str) -> bytes:
    """A one-item NF-e of 2026 with ``item`` as its IBSCBS group and ``total`` as IBSCBSTot, plus vItem and
    vNFTot (vItem = vProd: in 2026 the reform taxes stay out of it), in the layout's order."""
    xml = valid(1)
    vprod = Edit(xml).value("det[1]/prod/vProd")
    xml = insert(xml, "det/imposto", item)
    xml = insert(xml, "det", f"<vItem>{vprod:.2f}</vItem>", ("DFeReferenciado",))
    xml = insert(xml, "total", total, AFTER_IBSCBSTOT)
    return insert(xml, "total", f"<vNFTot>{vprod:.2f}</vNFTot>")


@pytest.mark.parametrize(("item", "total"), [(IBSCBS_FULL, ibscbs_total()), (IBSCBS_MONO, MONO_TOTAL)],
                         ids=["deferral-return-reversal", "single-phase"])
def test_schema_valid_documents_with_the_optional_groups_have_no_finding(item: str, total: str) -> None:
    xml = _schema_valid_reform(item, total)
    assert schema_errors(xml) == []
    assert findings_of(xml) == []


@pytest.mark.parametrize(("item", "total", "path", "sefaz"), [
    (IBSCBS_FULL, ibscbs_total(), "gIBS/gIBSUF/vDif", "1077"),
    (IBSCBS_FULL, ibscbs_total(), "gIBS/gIBSUF/vDevTrib", "1078"),
    (IBSCBS_FULL, ibscbs_total(), "gIBS/gIBSMun/vDif", "1081"),
    (IBSCBS_FULL, ibscbs_total(), "gIBS/gIBSMun/vDevTrib", "1082"),
    (IBSCBS_FULL, ibscbs_total(), "gCBS/vDif", "1088"),
    (IBSCBS_FULL, ibscbs_total(), "gCBS/vDevTrib", "1089"),
    (IBSCBS_FULL, ibscbs_total(), "gEstornoCred/vIBSEstCred", "1176"),
    (IBSCBS_FULL, ibscbs_total(), "gEstornoCred/vCBSEstCred", "1177"),
    (IBSCBS_MONO, MONO_TOTAL, "gMono/vIBSMono", "1092"),
    (IBSCBS_MONO, MONO_TOTAL, "gMono/vCBSMono", "1093"),
    (IBSCBS_MONO, MONO_TOTAL, "gMono/vIBSMonoReten", "1120"),
    (IBSCBS_MONO, MONO_TOTAL, "gMono/vCBSMonoReten", "1121"),
    (IBSCBS_MONO, MONO_TOTAL, "gMono/vIBSMonoRet", "1122"),
    (IBSCBS_MONO, MONO_TOTAL, "gMono/vCBSMonoRet", "1123"),
])
def test_a_schema_valid_total_one_cent_off_is_reported(item: str, total: str, path: str, sefaz: str) -> None:
    doc = Edit(_schema_valid_reform(item, total)).shift(f"total/IBSCBSTot/{path}", "0.01")
    assert schema_errors(doc.bytes()) == []
    (found,) = findings_of(doc.bytes())
    assert (found.sefaz, found.severity, found.xpath) == (sefaz, Severity.ERROR, f"/NFe/infNFe/total/IBSCBSTot/{path}")


def test_single_phase_values_of_several_items_add_up() -> None:
    """Two items, one ad rem and one ad valorem IBS: gMono/vIBSMono is the sum of both."""
    doc = Edit(reform(items=2))
    doc.set("det[1]/imposto/IBSCBS/gIBSCBSMono/gIBSMonoAdRem/gMonoPadrao/vIBSMono", Decimal("1.50"))
    doc.set("det[2]/imposto/IBSCBS/gIBSCBSMono/gIBSMonoAdValorem/gMonoPadrao/vIBSMono", Decimal("2.25"))
    doc.set("total/IBSCBSTot/gMono/vIBSMono", Decimal("3.75"))
    assert sefaz_of(doc.bytes()) == set()
    (found,) = findings_of(doc.shift("total/IBSCBSTot/gMono/vIBSMono", "-2.25").bytes())
    assert found.message == (
        "IBSCBSTot/gMono/vIBSMono is 1.50 but the items' gIBSCBSMono/*/gMonoPadrao/vIBSMono add up to 3.75."
    )
