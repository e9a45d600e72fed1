"""Totals rules: ICMSTot and ISSQNtot against the items (531..609, 363..368, 685, 700..969) and vNF (610).

Every broken document is a valid builder document with one thing changed, so exactly the targeted code
fires. A total that enters the vNF formula (vProd, vFrete, vDesc...) is a term of 610 too: moving it by a
cent breaks both the sum rule and vNF, unless vNF is moved along (then only the sum rule fires).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nfe_invoice import parse
from nfe_invoice.findings import Severity
from nfe_invoice.rules import rule_codes
from nfe_invoice.rules._sums import compute_sums, sums_of
from nfe_invoice.rules.totals import TOTAL_RULES
from nfe_invoice.testing.builder import ItemSpec, NFeSpec, build_nfe, wrap_nfeproc

from .paths import REALWORLD, SEFAZ
from .rules_helpers_totals import (
    Edit,
    as_service,
    errors_of,
    findings_of,
    nfe_files,
    own_rules_only,
    sefaz_of,
    valid,
)

# ----------------------------------------------------------------------------------- valid documents


@pytest.mark.parametrize("items", [1, 10, 100])
@pytest.mark.parametrize("model", [55, 65])
def test_builder_documents_have_no_finding(items: int, model: int) -> None:
    assert findings_of(valid(items, model=model)) == []


@pytest.mark.parametrize("model", [55, 65])
def test_authorised_nfeproc_from_the_builder_has_no_finding(model: int) -> None:
    assert findings_of(wrap_nfeproc(valid(10, model=model))) == []


def test_a_service_item_moves_its_values_to_issqntot() -> None:
    assert findings_of(as_service(valid(4), 2)) == []


# ------------------------------------------------------------------------ one row per total and code


@dataclass(frozen=True)
class Row:
    """``total`` must equal Σ ``item`` (a path below det[1]); ``vnf`` is its sign in the vNF formula."""

    sefaz: str
    total: str
    item: str
    vnf: int = 0
    amount: str = "12.34"  # added to the item and the total for the "consistent" case

    @property
    def id(self) -> str:
        return f"{self.sefaz}-{self.total.rsplit('/', 1)[-1]}"


ICMS = "imposto/ICMS/ICMS00"
ICMS_ROWS = [
    # vBC, vICMS and vProd move by one cent only, so 528/629/630 (tolerance 0.01) stay quiet.
    Row("531", "ICMSTot/vBC", f"{ICMS}/vBC", amount="0.01"),
    Row("532", "ICMSTot/vICMS", f"{ICMS}/vICMS", amount="0.01"),
    # No item carries indDeduzDeson, so vNF may subtract vICMSDeson or not: not a 610 term here.
    Row("795", "ICMSTot/vICMSDeson", f"{ICMS}/vICMSDeson"),
    Row("798", "ICMSTot/vFCPUFDest", "imposto/ICMSUFDest/vFCPUFDest"),
    Row("799", "ICMSTot/vICMSUFDest", "imposto/ICMSUFDest/vICMSUFDest"),
    Row("800", "ICMSTot/vICMSUFRemet", "imposto/ICMSUFDest/vICMSUFRemet"),
    Row("861", "ICMSTot/vFCP", f"{ICMS}/vFCP"),
    Row("533", "ICMSTot/vBCST", f"{ICMS}/vBCST"),
    Row("534", "ICMSTot/vST", f"{ICMS}/vICMSST", vnf=1),
    Row("862", "ICMSTot/vFCPST", f"{ICMS}/vFCPST", vnf=1),
    Row("859", "ICMSTot/vFCPSTRet", f"{ICMS}/vFCPSTRet"),
    Row("700", "ICMSTot/qBCMono", f"{ICMS}/qBCMono"),
    Row("967", "ICMSTot/vICMSMono", f"{ICMS}/vICMSMono"),
    Row("968", "ICMSTot/vICMSMonoReten", f"{ICMS}/vICMSMonoReten", vnf=1),
    Row("744", "ICMSTot/qBCMonoRet", f"{ICMS}/qBCMonoRet"),
    Row("969", "ICMSTot/vICMSMonoRet", f"{ICMS}/vICMSMonoRet"),
    Row("564", "ICMSTot/vProd", "prod/vProd", vnf=1, amount="0.01"),
    Row("535", "ICMSTot/vFrete", "prod/vFrete", vnf=1),
    Row("536", "ICMSTot/vSeg", "prod/vSeg", vnf=1),
    Row("537", "ICMSTot/vDesc", "prod/vDesc", vnf=-1, amount="0.50"),
    Row("601", "ICMSTot/vII", "imposto/II/vII", vnf=1),
    Row("538", "ICMSTot/vIPI", "imposto/IPI/IPITrib/vIPI", vnf=1),
    Row("863", "ICMSTot/vIPIDevol", "impostoDevol/IPI/vIPIDevol", vnf=1),
    Row("602", "ICMSTot/vPIS", "imposto/PIS/PISAliq/vPIS"),
    Row("603", "ICMSTot/vCOFINS", "imposto/COFINS/COFINSAliq/vCOFINS"),
    Row("604", "ICMSTot/vOutro", "prod/vOutro", vnf=1),
    Row("685", "ICMSTot/vTotTrib", "imposto/vTotTrib"),
]
SERVICE_ROWS = [
    Row("605", "ISSQNtot/vServ", "prod/vProd", vnf=1, amount="0.01"),
    Row("606", "ISSQNtot/vBC", "imposto/ISSQN/vBC"),
    Row("607", "ISSQNtot/vISS", "imposto/ISSQN/vISSQN"),
    Row("608", "ISSQNtot/vPIS", "imposto/PIS/PISAliq/vPIS"),
    Row("609", "ISSQNtot/vCOFINS", "imposto/COFINS/COFINSAliq/vCOFINS"),
    Row("364", "ISSQNtot/vDeducao", "imposto/ISSQN/vDeducao"),
    Row("365", "ISSQNtot/vOutro", "imposto/ISSQN/vOutro"),
    Row("366", "ISSQNtot/vDescIncond", "imposto/ISSQN/vDescIncond"),
    Row("367", "ISSQNtot/vDescCond", "imposto/ISSQN/vDescCond"),
    Row("368", "ISSQNtot/vISSRet", "imposto/ISSQN/vISSRet"),
]
ALL_ROWS = ICMS_ROWS + SERVICE_ROWS


def _base(row: Row, model: int = 55) -> bytes:
    document = valid(3, model=model)
    return as_service(document) if row in SERVICE_ROWS else document


@pytest.mark.parametrize("row", ALL_ROWS, ids=lambda row: row.id)
@pytest.mark.parametrize("delta", ["0.01", "-0.01"])
def test_a_total_one_cent_off_is_reported(row: Row, delta: str) -> None:
    doc = Edit(_base(row)).shift(f"total/{row.total}", delta)
    assert sefaz_of(doc.bytes()) == {row.sefaz} | ({"610"} if row.vnf else set())


@pytest.mark.parametrize("row", [row for row in ALL_ROWS if row.vnf], ids=lambda row: row.id)
def test_a_total_off_with_vnf_following_it_is_only_the_sum_rule(row: Row) -> None:
    doc = Edit(_base(row)).shift(f"total/{row.total}", "0.01").shift("total/ICMSTot/vNF", row.vnf * Decimal("0.01"))
    assert sefaz_of(doc.bytes()) == {row.sefaz}


@pytest.mark.parametrize("row", ALL_ROWS, ids=lambda row: row.id)
def test_an_item_value_with_its_total_and_vnf_is_consistent(row: Row) -> None:
    amount = Decimal(row.amount)
    doc = Edit(_base(row)).shift(f"det[1]/{row.item}", amount).shift(f"total/{row.total}", amount)
    doc.shift("total/ICMSTot/vNF", row.vnf * amount)
    assert findings_of(doc.bytes()) == []


@pytest.mark.parametrize("row", ALL_ROWS, ids=lambda row: row.id)
def test_an_item_value_without_its_total_is_reported(row: Row) -> None:
    doc = Edit(_base(row)).shift(f"det[1]/{row.item}", Decimal(row.amount))
    doc.shift(f"total/{row.total}", "0")  # an optional ICMSTot total must be there (0.00) to be judged
    assert sefaz_of(doc.bytes()) == {row.sefaz}


@pytest.mark.parametrize("sefaz", ["862", "859", "863"])
def test_fcp_st_and_returned_ipi_totals_are_not_judged_on_nfce(sefaz: str) -> None:
    """ACBr applies 862, 859 and 863 to model 55 only."""
    row = next(row for row in ICMS_ROWS if row.sefaz == sefaz)
    doc = Edit(_base(row, model=65)).shift(f"total/{row.total}", "0.01")
    doc.shift("total/ICMSTot/vNF", row.vnf * Decimal("0.01"))
    assert sefaz_of(doc.bytes()) == set()


def test_every_row_of_the_table_is_tested() -> None:
    assert {row.sefaz for row in ALL_ROWS} == {spec.sefaz for spec in TOTAL_RULES}


# ------------------------------------------------------------------------------------ scopes (indTot)


def test_an_item_outside_the_total_leaves_vprod_and_the_icms_values() -> None:
    """indTot=0: vProd and the ICMS values (indTot=1 only) disagree; vDesc, PIS... count every item."""
    doc = Edit(valid(3)).set("det[1]/prod/indTot", "0")
    assert sefaz_of(doc.bytes()) == {"564", "531", "532"}


def test_totals_without_the_item_outside_the_total_are_consistent() -> None:
    doc = Edit(valid(3)).set("det[1]/prod/indTot", "0")
    vprod, vbc, vicms = (doc.value(f"det[1]/{path}") for path in ("prod/vProd", f"{ICMS}/vBC", f"{ICMS}/vICMS"))
    doc.shift("total/ICMSTot/vProd", -vprod).shift("total/ICMSTot/vBC", -vbc)
    doc.shift("total/ICMSTot/vICMS", -vicms).shift("total/ICMSTot/vNF", -vprod)
    assert sefaz_of(doc.bytes()) == set()


@pytest.mark.parametrize("counted", [True, False])
def test_single_phase_totals_accept_either_indtot_reading(counted: bool) -> None:
    """The sources are silent on indTot for vICMSMono: the sum with or without indTot=0 items passes."""
    doc = Edit(valid(3)).set("det[1]/prod/indTot", "0")
    vprod, vbc, vicms = (doc.value(f"det[1]/{path}") for path in ("prod/vProd", f"{ICMS}/vBC", f"{ICMS}/vICMS"))
    doc.shift("total/ICMSTot/vProd", -vprod).shift("total/ICMSTot/vBC", -vbc)
    doc.shift("total/ICMSTot/vICMS", -vicms).shift("total/ICMSTot/vNF", -vprod)
    doc.set(f"det[1]/{ICMS}/vICMSMono", Decimal("7.00")).set(f"det[2]/{ICMS}/vICMSMono", Decimal("3.00"))
    doc.set("total/ICMSTot/vICMSMono", Decimal("3.00") if counted else Decimal("10.00"))
    assert sefaz_of(doc.bytes()) == set()
    doc.set("total/ICMSTot/vICMSMono", Decimal("7.00"))
    assert sefaz_of(doc.bytes()) == {"967"}


OPTIONAL_ICMSTOT = ["vFCPUFDest", "vICMSUFDest", "vICMSUFRemet", "qBCMono", "vICMSMono", "vICMSMonoReten",
                    "qBCMonoRet", "vICMSMonoRet", "vTotTrib"]


@pytest.mark.parametrize("tag", OPTIONAL_ICMSTOT)
def test_an_optional_icmstot_total_that_is_absent_is_not_judged(tag: str) -> None:
    """SEFAZ authorised an NFC-e whose items carry vTotTrib while ICMSTot has none (see the real files)."""
    row = next(row for row in ICMS_ROWS if row.total == f"ICMSTot/{tag}")
    doc = Edit(valid(3)).shift(f"det[1]/{row.item}", Decimal(row.amount))
    if doc.find(f"total/{row.total}") is not None:
        doc.remove(f"total/{row.total}")
    assert sefaz_of(doc.bytes()) == set()  # vNF's terms are the totals: an absent one is zero there too


def test_an_absent_issqntot_means_zero_services() -> None:
    doc = Edit(as_service(valid(3))).remove("total/ISSQNtot")
    doc.shift("total/ICMSTot/vNF", -doc.value("det[1]/prod/vProd"))
    assert sefaz_of(doc.bytes()) == {"605", "606", "607", "608", "609"}


def test_adjustment_documents_count_services_in_vprod() -> None:
    """finNFe=3 (ajuste): ACBr sums the services into vProd too."""
    doc = Edit(as_service(valid(3))).set("ide/finNFe", "3")
    assert "564" in sefaz_of(doc.bytes())
    doc.shift("total/ICMSTot/vProd", doc.value("det[1]/prod/vProd"))
    doc.shift("total/ICMSTot/vNF", doc.value("det[1]/prod/vProd"))
    assert "564" not in sefaz_of(doc.bytes())


def test_the_finding_names_the_total_the_sum_and_the_xpath() -> None:
    doc = Edit(valid(3)).shift("total/ICMSTot/vFrete", "0.01").shift("total/ICMSTot/vNF", "0.01")
    (found,) = findings_of(doc.bytes())
    freight = Edit(valid(3)).value("total/ICMSTot/vFrete")
    assert found.code == "totals.vfrete"
    assert found.severity is Severity.ERROR
    assert found.xpath == "/NFe/infNFe/total/ICMSTot/vFrete"
    assert f"ICMSTot/vFrete is {freight + Decimal('0.01'):.2f} but the items add up to {freight:.2f}" in found.message


# ---------------------------------------------------------------------------------------- vNF (610)


@pytest.mark.parametrize("delta", ["0.01", "-0.01", "100.00"])
def test_vnf_off_is_610(delta: str) -> None:
    assert sefaz_of(Edit(valid(5)).shift("total/ICMSTot/vNF", delta).bytes()) == {"610"}


def test_the_610_message_shows_the_formula_terms_that_are_not_zero() -> None:
    document = Edit(valid(5))
    vnf = document.value("total/ICMSTot/vNF")
    vprod, vdesc, vfrete = (document.value(f"total/ICMSTot/{tag}") for tag in ("vProd", "vDesc", "vFrete"))
    (found,) = findings_of(document.shift("total/ICMSTot/vNF", "0.01").bytes())
    assert found.code == "totals.vnf"
    assert found.message == (
        f"vNF is {vnf + Decimal('0.01'):.2f} but the totals add up to {vnf:.2f} "
        f"(vProd {vprod:.2f} − vDesc {vdesc:.2f} + vFrete {vfrete:.2f})."
    )


def _with_deson(indicator: str | None, *, subtracted: bool) -> bytes:
    doc = Edit(valid(3)).set(f"det[1]/{ICMS}/vICMSDeson", Decimal("5.00"))
    doc.set(f"det[1]/{ICMS}/motDesICMS", "9")
    if indicator is not None:
        doc.set(f"det[1]/{ICMS}/indDeduzDeson", indicator)
    doc.set("total/ICMSTot/vICMSDeson", Decimal("5.00"))
    if subtracted:
        doc.shift("total/ICMSTot/vNF", "-5.00")
    return doc.bytes()


@pytest.mark.parametrize(
    ("indicator", "subtracted", "expected"),
    [
        (None, True, set()),  # NT 2013/005: without the marker both forms are accepted
        (None, False, set()),
        ("1", True, set()),  # NT 2023.004: indDeduzDeson=1 subtracts ...
        ("1", False, {"610"}),
        ("0", False, set()),  # ... and 0 does not
        ("0", True, {"610"}),
    ],
)
def test_vicmsdeson_in_vnf_follows_inddeduzdeson(indicator: str | None, subtracted: bool, expected: set[str]) -> None:
    assert sefaz_of(_with_deson(indicator, subtracted=subtracted)) == expected


def test_without_the_marker_a_vnf_that_is_neither_form_is_610() -> None:
    doc = Edit(_with_deson(None, subtracted=True)).shift("total/ICMSTot/vNF", "0.01")
    (found,) = findings_of(doc.bytes())
    assert found.sefaz == "610"
    assert "− vICMSDeson 5.00" in found.message
    assert "without subtracting vICMSDeson" in found.message


def _with_st(*, direct_sale: bool, in_vnf: bool) -> bytes:
    doc = Edit(valid(3))
    for tag, amount in (("vICMSST", "7.00"), ("vFCPST", "1.00"), ("vICMSMonoReten", "2.00")):
        doc.set(f"det[1]/{ICMS}/{tag}", Decimal(amount))
    doc.set("det[1]/impostoDevol/pDevol", "100.00").set("det[1]/impostoDevol/IPI/vIPIDevol", Decimal("3.00"))
    doc.set("total/ICMSTot/vST", Decimal("7.00")).set("total/ICMSTot/vFCPST", Decimal("1.00"))
    doc.set("total/ICMSTot/vICMSMonoReten", Decimal("2.00")).set("total/ICMSTot/vIPIDevol", Decimal("3.00"))
    if direct_sale:
        doc.set("det[1]/prod/veicProd/tpOp", "2")
    if in_vnf:
        doc.shift("total/ICMSTot/vNF", "13.00")
    return doc.bytes()


@pytest.mark.parametrize(
    ("direct_sale", "in_vnf", "expected"),
    [(False, True, set()), (False, False, {"610"}), (True, False, set()), (True, True, {"610"})],
)
def test_direct_sale_of_new_vehicles_leaves_st_and_returned_ipi_out_of_vnf(
    direct_sale: bool, in_vnf: bool, expected: set[str]
) -> None:
    assert sefaz_of(_with_st(direct_sale=direct_sale, in_vnf=in_vnf)) == expected


def test_the_vehicle_exception_is_named_in_the_message() -> None:
    (found,) = findings_of(_with_st(direct_sale=True, in_vnf=True))
    assert "tpOp=2" in found.message


@pytest.mark.parametrize("cfop", ["3102", "5102"])
def test_imports_are_not_checked_for_610(cfop: str) -> None:
    doc = Edit(valid(3)).set("det[2]/prod/CFOP", cfop).shift("total/ICMSTot/vNF", "50.00")
    assert sefaz_of(doc.bytes()) == (set() if cfop.startswith("3") else {"610"})


@pytest.mark.parametrize(
    ("group", "indicator_tag", "value_tag", "indicator", "in_vnf", "expected"),
    [
        ("PISST", "indSomaPISST", "vPIS", "1", True, set()),
        ("PISST", "indSomaPISST", "vPIS", "1", False, {"610"}),
        ("PISST", "indSomaPISST", "vPIS", "0", False, set()),
        ("PISST", "indSomaPISST", "vPIS", "0", True, {"610"}),
        ("COFINSST", "indSomaCOFINSST", "vCOFINS", "1", True, set()),
        ("COFINSST", "indSomaCOFINSST", "vCOFINS", "1", False, {"610"}),
        ("COFINSST", "indSomaCOFINSST", "vCOFINS", "0", False, set()),
    ],
)
def test_pis_and_cofins_st_enter_vnf_only_when_marked(
    group: str, indicator_tag: str, value_tag: str, indicator: str, in_vnf: bool, expected: set[str]
) -> None:
    """NT 2020.005: PIS-ST / COFINS-ST compose vNF only with indSomaPISST / indSomaCOFINSST = 1."""
    doc = Edit(valid(3))
    doc.set(f"det[2]/imposto/{group}/{value_tag}", Decimal("3.21"))
    doc.set(f"det[2]/imposto/{group}/{indicator_tag}", indicator)
    if in_vnf:
        doc.shift("total/ICMSTot/vNF", "3.21")
    assert sefaz_of(doc.bytes()) == expected


def test_services_enter_vnf_through_vserv() -> None:
    doc = Edit(as_service(valid(3)))
    assert sefaz_of(doc.bytes()) == set()
    doc.shift("total/ICMSTot/vNF", -doc.value("total/ISSQNtot/vServ"))
    assert sefaz_of(doc.bytes()) == {"610"}


# ------------------------------------------------------------------------------ property-based tests


@st.composite
def item_specs(draw: st.DrawFn) -> ItemSpec:
    quantity = Decimal(draw(st.integers(1, 500_000))) / 10_000  # four decimals, as qCom is written
    price = Decimal(draw(st.integers(1, 9_999_999))) / 10_000
    gross = (quantity * price).quantize(Decimal("0.01"))
    discount = Decimal(draw(st.integers(0, int(gross * 100)))) / 100 if draw(st.booleans()) else Decimal(0)
    freight = Decimal(draw(st.integers(0, 5_000))) / 100 if draw(st.booleans()) else Decimal(0)
    rate = draw(st.sampled_from(["0.00", "4.00", "7.00", "12.00", "17.50", "18.00", "25.00"]))
    return ItemSpec("SKU", "Produto de teste", quantity, price, discount=discount, freight=freight,
                    icms_rate=Decimal(rate))


documents = st.builds(
    lambda items, model: NFeSpec(items=tuple(items), model=model),
    st.lists(item_specs(), min_size=1, max_size=6),
    st.sampled_from([55, 65]),
)

# (ICMSTot tag, SEFAZ code, sign in the vNF formula)
PERTURBABLE = [
    ("vBC", "531", 0), ("vICMS", "532", 0), ("vICMSDeson", "795", 0), ("vBCST", "533", 0), ("vST", "534", 1),
    ("vProd", "564", 1), ("vFrete", "535", 1), ("vSeg", "536", 1), ("vDesc", "537", -1), ("vII", "601", 1),
    ("vIPI", "538", 1), ("vPIS", "602", 0), ("vCOFINS", "603", 0), ("vOutro", "604", 1),
    ("vTotTrib", "685", 0), ("vNF", "610", 0),
]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_consistent_documents_never_have_a_finding(spec: NFeSpec) -> None:
    assert findings_of(build_nfe(spec)) == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents, st.sampled_from(PERTURBABLE), st.sampled_from(["0.01", "-0.01"]), st.booleans())
def test_one_total_one_cent_off_gives_exactly_its_code(
    spec: NFeSpec, perturbed: tuple[str, str, int], delta: str, follow: bool
) -> None:
    tag, sefaz, sign = perturbed
    doc = Edit(build_nfe(spec)).shift(f"total/ICMSTot/{tag}", delta)
    if follow:
        doc.shift("total/ICMSTot/vNF", sign * Decimal(delta))
    expected = {sefaz} | ({"610"} if sign and not follow else set())
    assert sefaz_of(doc.bytes()) == expected


# ----------------------------------------------------------------------------------- the sums cache


def test_sums_are_computed_once_per_document_and_keyed_by_identity() -> None:
    xml = valid(5)
    first, second = parse(xml), parse(xml)
    assert sums_of(first) is sums_of(first)
    assert sums_of(first) is not sums_of(second)
    assert sums_of(first) == compute_sums(second)


def test_the_cache_is_bounded() -> None:
    from nfe_invoice.rules import _sums

    documents = [parse(valid(1, number=number)) for number in range(1, 20)]
    for document in documents:
        sums_of(document)
    assert len(_sums._cache) <= _sums._CACHE_SIZE


def test_absurd_numbers_make_the_rules_silent_not_raise() -> None:
    """9E+999999 parses as a finite Decimal but overflows any sum: the XSD reports it, rules stay quiet."""
    doc = Edit(valid(3)).set("det[1]/prod/vProd", "9E+999999").set("total/ICMSTot/vProd", "9E+999999")
    document = parse(doc.bytes())
    assert document.items[0].prod is not None and document.items[0].prod.vProd == Decimal("9E+999999")
    found = own_rules_only(document)  # does not raise
    assert {f.code for f in found} <= {"item.vprod", "item.vprod_trib"}


def test_an_absurd_value_silences_only_its_own_total() -> None:
    doc = Edit(valid(3)).set("total/ICMSTot/vSeg", "9E+999999").shift("total/ICMSTot/vFrete", "0.01")
    assert "totals.vfrete" in {f.code for f in own_rules_only(parse(doc.bytes()))}


# ----------------------------------------------------------------------------- the code table (README)

EXPECTED_CODES = {
    "totals.vbc": "531", "totals.vicms": "532", "totals.vicmsdeson": "795", "totals.vfcpufdest": "798",
    "totals.vicmsufdest": "799", "totals.vicmsufremet": "800", "totals.vfcp": "861", "totals.vbcst": "533",
    "totals.vst": "534", "totals.vfcpst": "862", "totals.vfcpstret": "859", "totals.qbcmono": "700",
    "totals.vicmsmono": "967", "totals.vicmsmonoreten": "968", "totals.qbcmonoret": "744",
    "totals.vicmsmonoret": "969", "totals.vprod": "564", "totals.vfrete": "535", "totals.vseg": "536",
    "totals.vdesc": "537", "totals.vii": "601", "totals.vipi": "538", "totals.vipidevol": "863",
    "totals.vpis": "602", "totals.vcofins": "603", "totals.voutro": "604", "totals.vtottrib": "685",
    "totals.vserv": "605", "totals.issqn_vbc": "606", "totals.viss": "607", "totals.issqn_vpis": "608",
    "totals.issqn_vcofins": "609", "totals.vdeducao": "364", "totals.issqn_voutro": "365",
    "totals.vdescincond": "366", "totals.vdesccond": "367", "totals.vissret": "368", "totals.vnf": "610",
}


def test_the_totals_codes_are_registered_with_their_sefaz_codes() -> None:
    table = {info.code: info for info in rule_codes() if info.code.startswith("totals.")}
    assert {code: info.sefaz for code, info in table.items()} == EXPECTED_CODES
    assert all(info.severity is Severity.ERROR and info.description for info in table.values())


def test_every_sefaz_code_of_our_families_is_an_official_rejection() -> None:
    official = {
        line.split("\t", 1)[0]
        for line in (SEFAZ / "rejection-codes.tsv").read_text(encoding="utf-8").splitlines()[1:]
    }
    ours = {info.sefaz for info in rule_codes() if info.code.startswith(("item.", "totals.", "reform."))}
    assert ours - official == set()


# -------------------------------------------------------------------------------- real documents

REAL = sorted((REALWORLD / "nfe").glob("*.xml")) + sorted((REALWORLD / "nfe-signed").glob("*.xml"))

# Real nfeProc documents SEFAZ authorised: our rules must not call their totals wrong.
AUTHORISED = [
    path for path in REAL
    if path.name.startswith(("nfelib__nfeProc_55_", "spedda__nfeProc_55_41items_prod_2025",
                             "fabyo__", "gabschuster__", "gapfranco__"))
]
# nfelib's RTC sample is NOT what SEFAZ authorised, although it carries a protNFe: nfelib built it for
# the tax reform by keeping the ICMSTot (vProd 158106.35) and the protocol (dhRecbto 2023-12-06) of a
# real 2023 document while cutting it down to one item (vProd 14.88), giving it dhEmi 2025-07-01 and
# pasting IBS/CBS/IS groups with placeholder values. Its totals really do not add up, so the rules must
# say so (bfr's copy of the same sample, in the older RTC layout, is the same story).
NOT_REALLY_AUTHORISED = {"nfelib__nfeProc_55_RTC_IBSCBS.xml"}


@pytest.mark.parametrize("path", nfe_files(REAL), ids=lambda path: path.name)
def test_every_real_document_runs_through_the_rules(path: Path) -> None:
    findings_of(parse(path))


@pytest.mark.parametrize(
    "path", [path for path in AUTHORISED if path.name not in NOT_REALLY_AUTHORISED], ids=lambda path: path.name
)
def test_documents_sefaz_authorised_have_no_error_from_our_rules(path: Path) -> None:
    document = parse(path)
    assert document.protocol is not None and document.protocol.authorized
    assert errors_of(document) == []


def test_the_authorised_list_holds_the_documents_named_in_the_brief() -> None:
    names = {path.name for path in AUTHORISED}
    assert len(names) >= 15
    assert {"spedda__nfeProc_55_41items_prod_2025.xml", "nfelib__nfeProc_55_single_item.xml"} <= names
    assert names >= NOT_REALLY_AUTHORISED


def test_the_rtc_sample_is_flagged_for_its_pasted_totals() -> None:
    document = parse(REALWORLD / "nfe" / "nfelib__nfeProc_55_RTC_IBSCBS.xml")
    assert document.protocol is not None and document.protocol.dhRecbto is not None
    assert document.ide.dhEmi is not None and document.protocol.dhRecbto < document.ide.dhEmi
    assert {"564", "531", "610"} <= sefaz_of(document)


def test_an_authorised_nfce_without_a_vtottrib_total_is_accepted() -> None:
    """SEFAZ authorised it (cStat 150) with vTotTrib on the items and none in ICMSTot."""
    document = parse(REALWORLD / "nfe" / "spedda__nfeProc_65_nfce_cstat150.xml")
    assert document.totals.vTotTrib is None
    assert errors_of(document) == []
