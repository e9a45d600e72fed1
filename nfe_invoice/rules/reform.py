"""Tax reform (IBS, CBS, IS): the item total vItem, vNFTot, and the ISTot/IBSCBSTot groups.

Source: NT 2025.002-RTC v1.31 §7 (rules VB01-10/20, W31, W33, W34, W35..W59g, W60), as transcribed in
``shared/sefaz/offline-rules.md`` §E and §K; codes and texts in ``shared/sefaz/rejection-codes.tsv``; group
and field names from ``schemas/nfe_v4.00/DFeTiposBasicos_v1.00.xsd`` (``TCIBS_NFe``, ``TMonofasia``,
``TEstornoCred``, ``TIBSCBSMonoTot``). The presumed-credit totals (1086/1087, W48/W56a) are not checked:
whether ``gCredPresIBSZFM`` also enters ``gIBS/vCredPres`` is not in the sources we have.

Severity follows the NT: rules it marks "Implementação futura" (VB01-10/20 = 1105, W33-10 = 1075,
W60-05 = 1004, W60-10 = 1094) are warnings, since SEFAZ does not reject on them yet; the others
("Obrig.") are errors. Totals are exact to the cent. Item sums come from :func:`._sums.sums_of`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from ..findings import Finding, Severity
from ..model import IbsCbsTotal, Item, NFeDocument, Totals
from ._sums import describe_terms, guarded, sums_of
from .base import POLICY, ZERO, RuleContext, cents, finding, rule

#: NT 2025.002 VB01-10 Exceção 1: in 2025 and 2026 vItem does not add vIBS, vCBS, vIS and the
#: single-phase IBS/CBS item totals (the test years, when those taxes are informed but not charged).
LAST_TEST_YEAR: Final = 2026


def _signed_terms(item: Item, *, with_reform: bool) -> list[tuple[str, Decimal, int]]:
    """The terms of vItem (VB01-10, or VB01-20 for tpOp=2) as ``(name, value, sign)``, vICMSDeson aside.

    ``vServ`` has no item field: a service item's value is its vProd, which is already the first term.
    """
    prod = item.prod
    taxes = item.imposto
    icms = taxes.ICMS if taxes else None
    vehicle = prod is not None and prod.veicProd is not None and prod.veicProd.tpOp == "2"
    terms: list[tuple[str, Decimal | None, int]] = []
    if prod is not None:
        terms += [("vProd", prod.vProd, 1), ("vDesc", prod.vDesc, -1)]
    if icms is not None and not vehicle:
        terms += [("vICMSST", icms.vICMSST, 1), ("vICMSMonoReten", icms.vICMSMonoReten, 1),
                  ("vFCPST", icms.vFCPST, 1)]
    if prod is not None:
        terms += [("vFrete", prod.vFrete, 1), ("vSeg", prod.vSeg, 1), ("vOutro", prod.vOutro, 1)]
    if taxes is not None:
        terms += [("vII", taxes.II.vII if taxes.II else None, 1),
                  ("vIPI", taxes.IPI.vIPI if taxes.IPI else None, 1)]
    if not vehicle and item.impostoDevol is not None and item.impostoDevol.IPI is not None:
        terms.append(("vIPIDevol", item.impostoDevol.IPI.vIPIDevol, 1))
    if taxes is not None:
        if taxes.PISST is not None and taxes.PISST.indSomaPISST == "1":
            terms.append(("vPISST", taxes.PISST.vPIS, 1))
        if taxes.COFINSST is not None and taxes.COFINSST.indSomaCOFINSST == "1":
            terms.append(("vCOFINSST", taxes.COFINSST.vCOFINS, 1))
        if with_reform:
            terms += _reform_terms(item, vehicle=vehicle)
    return [(name, value, sign) for name, value, sign in terms if value]


def _reform_terms(item: Item, *, vehicle: bool) -> list[tuple[str, Decimal | None, int]]:
    taxes = item.imposto
    if taxes is None:
        return []
    terms: list[tuple[str, Decimal | None, int]] = []
    ibscbs = taxes.IBSCBS
    values = ibscbs.gIBSCBS if ibscbs else None
    if values is not None:
        terms += [("vIBS", values.vIBS, 1), ("vCBS", values.gCBS.vCBS if values.gCBS else None, 1)]
    if taxes.IS is not None:
        terms.append(("vIS", taxes.IS.vIS, 1))
    mono = ibscbs.gIBSCBSMono if ibscbs else None
    if mono is not None and not vehicle:  # VB01-20 has no single-phase terms
        terms += [("vTotIBSMonoItem", mono.vTotIBSMonoItem, 1), ("vTotCBSMonoItem", mono.vTotCBSMonoItem, 1)]
    return terms


def _deson_choices(item: Item) -> tuple[Decimal, ...]:
    """vICMSDeson is subtracted when indDeduzDeson=1; without the marker both forms are accepted."""
    icms = item.imposto.ICMS if item.imposto else None
    if icms is None or not icms.vICMSDeson:
        return (ZERO,)
    if icms.indDeduzDeson == "1":
        return (icms.vICMSDeson,)
    if icms.indDeduzDeson is None:
        return (icms.vICMSDeson, ZERO)
    return (ZERO,)


def _reform_modes(document: NFeDocument) -> tuple[bool, ...]:
    """Whether vItem adds the reform taxes: not in 2025-2026 (Exceção 1); both forms if dhEmi is unknown."""
    emitted = document.ide.dhEmi
    if emitted is None:
        return (False, True)
    return (emitted.year > LAST_TEST_YEAR,)


@rule(
    ("reform.vitem", "1105", Severity.WARNING),
    kind=POLICY,
    description="vItem equals vProd − vDesc − vICMSDeson + vICMSST + ... (+ vIBS + vCBS + vIS from 2027) "
    "(VB01-10/20, NT 2025.002; future implementation)",
)
@guarded
def check_vitem(document: NFeDocument, context: RuleContext) -> Iterator[Finding]:
    """1105: each informed vItem equals the VB01-10 formula (VB01-20 for a direct sale of new vehicles).

    Exceção 1: in 2025 and 2026 (by the year of dhEmi) vIBS, vCBS, vIS, vTotIBSMonoItem and
    vTotCBSMonoItem are not added. vICMSDeson is subtracted only with indDeduzDeson=1.
    """
    modes = _reform_modes(document)
    for position, item in enumerate(document.items, start=1):
        if item.vItem is None:
            continue
        declared = cents(item.vItem)
        candidates: list[tuple[Decimal, list[tuple[str, Decimal, int]]]] = []
        for with_reform in modes:
            terms = _signed_terms(item, with_reform=with_reform)
            for deson in _deson_choices(item):
                shown = [*terms[:2], ("vICMSDeson", deson, -1), *terms[2:]] if deson else terms
                total = cents(sum((sign * value for _, value, sign in shown), ZERO))
                candidates.append((total, shown))
        if any(declared == total for total, _ in candidates):
            continue
        total, shown = candidates[0]
        others = ", or ".join(f"{other:.2f}" for other, _ in candidates[1:] if other != total)
        alternative = f", or {others}" if others else ""
        number = item.nItem if item.nItem is not None else position
        yield finding(
            "reform.vitem",
            "1105",
            f"Item {number}: vItem is {declared:.2f} but its values add up to {total:.2f} "
            f"({describe_terms(shown)}){alternative}.",
            context.path(f"det[{position}]/vItem"),
            Severity.WARNING,
        )


@rule(
    ("reform.vnftot", "1094", Severity.WARNING),
    kind=POLICY,
    description="vNFTot equals the sum of the items' vItem (W60-10, NT 2025.002; future implementation)",
)
@guarded
def check_vnftot(document: NFeDocument, context: RuleContext) -> Iterator[Finding]:
    """1094: when vNFTot is informed it is Σ vItem (an absent vItem counts as zero, and is named)."""
    total = document.infNFe.total
    if total is None or total.vNFTot is None:
        return
    sums = sums_of(document)
    expected = cents(sums.total("vItem"))
    declared = cents(total.vNFTot)
    if declared == expected:
        return
    missing = len(document.items) - sums.items_with_vitem
    note = f"; {missing} item(s) have no vItem" if missing else ""
    yield finding(
        "reform.vnftot",
        "1094",
        f"vNFTot is {declared:.2f} but the items' vItem add up to {expected:.2f}{note}.",
        context.path("total/vNFTot"),
        Severity.WARNING,
    )


@rule(
    ("reform.vnftot_missing", "1004", Severity.WARNING),
    kind=POLICY,
    description="IBSCBSTot present ⇒ vNFTot present (W60-05, NT 2025.002; future implementation)",
)
@guarded
def check_vnftot_present(document: NFeDocument, context: RuleContext) -> Iterator[Finding]:
    """1004: a document with IBSCBSTot also gives vNFTot."""
    total = document.infNFe.total
    if total is not None and total.IBSCBSTot is not None and total.vNFTot is None:
        yield finding(
            "reform.vnftot_missing",
            "1004",
            "total/IBSCBSTot is present but vNFTot, the document total with IBS/CBS/IS, is not.",
            context.path("total/vNFTot"),
            Severity.WARNING,
        )


def _total_presence(
    document: NFeDocument, context: RuleContext, group: str, *, count: int, what: str, codes: tuple[str, ...]
) -> Iterator[Finding]:
    """A reform total group is informed if and only if ``count`` items carry its tax (``what``).

    ``codes`` is (unexpected code, its SEFAZ code, missing code, its SEFAZ code).
    """
    total = document.infNFe.total
    present = total is not None and getattr(total, group) is not None
    unexpected, unexpected_sefaz, missing, missing_sefaz = codes
    if present and not count:
        yield finding(unexpected, unexpected_sefaz, f"total/{group} is present but no item has {what}.",
                      context.path(f"total/{group}"))
    elif count and not present and total is not None:
        yield finding(missing, missing_sefaz, f"{count} item(s) have {what} but total/{group} is absent.",
                      context.path(f"total/{group}"))


@rule(
    ("reform.istot_unexpected", "1073"),
    ("reform.istot_missing", "1117"),
    kind=POLICY,
    description="ISTot is present exactly when some item has IS (W31-10/20, NT 2025.002)",
)
@guarded
def check_istot_presence(document: NFeDocument, context: RuleContext) -> Iterator[Finding]:
    """1073 / 1117: total/ISTot is informed if and only if at least one item has imposto/IS."""
    return _total_presence(document, context, "ISTot", count=sums_of(document).items_with_is,
                           what="the selective tax (imposto/IS)",
                           codes=("reform.istot_unexpected", "1073", "reform.istot_missing", "1117"))


@rule(
    ("reform.ibscbstot_unexpected", "1118"),
    ("reform.ibscbstot_missing", "1119"),
    kind=POLICY,
    description="IBSCBSTot is present exactly when some item has IBSCBS (W34-10/20, NT 2025.002)",
)
@guarded
def check_ibscbstot_presence(document: NFeDocument, context: RuleContext) -> Iterator[Finding]:
    """1118 / 1119: total/IBSCBSTot is informed if and only if at least one item has imposto/IBSCBS."""
    return _total_presence(document, context, "IBSCBSTot", count=sums_of(document).items_with_ibscbs,
                           what="IBS/CBS (imposto/IBSCBS)",
                           codes=("reform.ibscbstot_unexpected", "1118", "reform.ibscbstot_missing", "1119"))


@rule(
    ("reform.vis", "1075", Severity.WARNING),
    kind=POLICY,
    description="ISTot/vIS equals the sum of the items' IS/vIS (W33-10, NT 2025.002; future implementation)",
)
@guarded
def check_vis(document: NFeDocument, context: RuleContext) -> Iterator[Finding]:
    """1075: the selective tax total is the sum of the items' vIS."""
    total = document.infNFe.total
    if total is None or total.ISTot is None or total.ISTot.vIS is None:
        return
    expected = cents(sums_of(document).total("IS.vIS"))
    declared = cents(total.ISTot.vIS)
    if declared != expected:
        yield finding("reform.vis", "1075",
                      f"ISTot/vIS is {declared:.2f} but the items' IS/vIS add up to {expected:.2f}.",
                      context.path("total/ISTot/vIS"), Severity.WARNING)


# ------------------------------------------------------------------------------ IBSCBSTot = Σ items


@dataclass(frozen=True, slots=True)
class ReformTotalRule:
    """``IBSCBSTot/<path>`` must equal Σ ``source`` over the items (exact to the cent)."""

    code: str
    sefaz: str
    path: tuple[str, ...]  # attribute path below IBSCBSTot
    source: str  # key of DocumentSums
    summed: str
    description: str


REFORM_TOTAL_RULES: Final[tuple[ReformTotalRule, ...]] = (
    ReformTotalRule("reform.vbcibscbs", "1076", ("vBCIBSCBS",), "gIBSCBS.vBC", "IBSCBS/gIBSCBS/vBC",
                    "IBSCBSTot/vBCIBSCBS equals the sum of the items' gIBSCBS/vBC (W35-10)"),
    ReformTotalRule("reform.vibsuf", "1080", ("gIBS", "gIBSUF", "vIBSUF"), "gIBSUF.vIBSUF",
                    "gIBSCBS/gIBSUF/vIBSUF",
                    "IBSCBSTot/gIBS/gIBSUF/vIBSUF equals the sum of the items' vIBSUF (W41-10)"),
    ReformTotalRule("reform.vibsmun", "1084", ("gIBS", "gIBSMun", "vIBSMun"), "gIBSMun.vIBSMun",
                    "gIBSCBS/gIBSMun/vIBSMun",
                    "IBSCBSTot/gIBS/gIBSMun/vIBSMun equals the sum of the items' vIBSMun (W46-10)"),
    ReformTotalRule("reform.vibs", "1085", ("gIBS", "vIBS"), "gIBSCBS.vIBS", "gIBSCBS/vIBS",
                    "IBSCBSTot/gIBS/vIBS equals the sum of the items' gIBSCBS/vIBS (W47-10)"),
    ReformTotalRule("reform.vcbs", "1091", ("gCBS", "vCBS"), "gCBS.vCBS", "gIBSCBS/gCBS/vCBS",
                    "IBSCBSTot/gCBS/vCBS equals the sum of the items' gCBS/vCBS (W56-10)"),
    # Deferral (gDif) and returned tax (gDevTrib) of each rate group: W38/W39, W43/W44, W53/W54.
    ReformTotalRule("reform.vdif_ibsuf", "1077", ("gIBS", "gIBSUF", "vDif"), "gIBSUF.vDif",
                    "gIBSCBS/gIBSUF/gDif/vDif",
                    "IBSCBSTot/gIBS/gIBSUF/vDif equals the sum of the items' gIBSUF/gDif/vDif (W38)"),
    ReformTotalRule("reform.vdevtrib_ibsuf", "1078", ("gIBS", "gIBSUF", "vDevTrib"), "gIBSUF.vDevTrib",
                    "gIBSCBS/gIBSUF/gDevTrib/vDevTrib",
                    "IBSCBSTot/gIBS/gIBSUF/vDevTrib equals the sum of the items' gIBSUF/gDevTrib/vDevTrib (W39)"),
    ReformTotalRule("reform.vdif_ibsmun", "1081", ("gIBS", "gIBSMun", "vDif"), "gIBSMun.vDif",
                    "gIBSCBS/gIBSMun/gDif/vDif",
                    "IBSCBSTot/gIBS/gIBSMun/vDif equals the sum of the items' gIBSMun/gDif/vDif (W43)"),
    ReformTotalRule("reform.vdevtrib_ibsmun", "1082", ("gIBS", "gIBSMun", "vDevTrib"), "gIBSMun.vDevTrib",
                    "gIBSCBS/gIBSMun/gDevTrib/vDevTrib",
                    "IBSCBSTot/gIBS/gIBSMun/vDevTrib equals the sum of the items' gIBSMun/gDevTrib/vDevTrib (W44)"),
    ReformTotalRule("reform.vdif_cbs", "1088", ("gCBS", "vDif"), "gCBS.vDif", "gIBSCBS/gCBS/gDif/vDif",
                    "IBSCBSTot/gCBS/vDif equals the sum of the items' gCBS/gDif/vDif (W53)"),
    ReformTotalRule("reform.vdevtrib_cbs", "1089", ("gCBS", "vDevTrib"), "gCBS.vDevTrib",
                    "gIBSCBS/gCBS/gDevTrib/vDevTrib",
                    "IBSCBSTot/gCBS/vDevTrib equals the sum of the items' gCBS/gDevTrib/vDevTrib (W54)"),
    # Single-phase (monofásico) fuel taxes, ad rem or ad valorem alike: W58, W59, W59a-d.
    ReformTotalRule("reform.vibsmono", "1092", ("gMono", "vIBSMono"), "gMono.vIBSMono",
                    "gIBSCBSMono/*/gMonoPadrao/vIBSMono",
                    "IBSCBSTot/gMono/vIBSMono equals the sum of the items' gMonoPadrao/vIBSMono (W58)"),
    ReformTotalRule("reform.vcbsmono", "1093", ("gMono", "vCBSMono"), "gMono.vCBSMono",
                    "gIBSCBSMono/*/gMonoPadrao/vCBSMono",
                    "IBSCBSTot/gMono/vCBSMono equals the sum of the items' gMonoPadrao/vCBSMono (W59)"),
    ReformTotalRule("reform.vibsmonoreten", "1120", ("gMono", "vIBSMonoReten"), "gMono.vIBSMonoReten",
                    "gIBSCBSMono/*/gMonoReten/vIBSMonoReten",
                    "IBSCBSTot/gMono/vIBSMonoReten equals the sum of the items' gMonoReten/vIBSMonoReten (W59a)"),
    ReformTotalRule("reform.vcbsmonoreten", "1121", ("gMono", "vCBSMonoReten"), "gMono.vCBSMonoReten",
                    "gIBSCBSMono/*/gMonoReten/vCBSMonoReten",
                    "IBSCBSTot/gMono/vCBSMonoReten equals the sum of the items' gMonoReten/vCBSMonoReten (W59b)"),
    ReformTotalRule("reform.vibsmonoret", "1122", ("gMono", "vIBSMonoRet"), "gMono.vIBSMonoRet",
                    "gIBSCBSMono/*/gMonoRet/vIBSMonoRet",
                    "IBSCBSTot/gMono/vIBSMonoRet equals the sum of the items' gMonoRet/vIBSMonoRet (W59c)"),
    ReformTotalRule("reform.vcbsmonoret", "1123", ("gMono", "vCBSMonoRet"), "gMono.vCBSMonoRet",
                    "gIBSCBSMono/*/gMonoRet/vCBSMonoRet",
                    "IBSCBSTot/gMono/vCBSMonoRet equals the sum of the items' gMonoRet/vCBSMonoRet (W59d)"),
    # Credit reversal: W59f/W59g.
    ReformTotalRule("reform.vibsestcred", "1176", ("gEstornoCred", "vIBSEstCred"), "gEstornoCred.vIBSEstCred",
                    "IBSCBS/gEstornoCred/vIBSEstCred",
                    "IBSCBSTot/gEstornoCred/vIBSEstCred equals the sum of the items' gEstornoCred/vIBSEstCred (W59f)"),
    ReformTotalRule("reform.vcbsestcred", "1177", ("gEstornoCred", "vCBSEstCred"), "gEstornoCred.vCBSEstCred",
                    "IBSCBS/gEstornoCred/vCBSEstCred",
                    "IBSCBSTot/gEstornoCred/vCBSEstCred equals the sum of the items' gEstornoCred/vCBSEstCred (W59g)"),
)


def _dig(group: IbsCbsTotal, path: tuple[str, ...]) -> Decimal | None:
    node: object = group
    for name in path:
        node = getattr(node, name, None)
        if node is None:
            return None
    return node if isinstance(node, Decimal) else None


def _reform_total_finding(
    spec: ReformTotalRule, total: IbsCbsTotal, document: NFeDocument, context: RuleContext
) -> Finding | None:
    """One IBSCBSTot value against its item sum; None when it matches or the total is absent."""
    declared = _dig(total, spec.path)
    if declared is None:
        return None
    expected = cents(sums_of(document).total(spec.source))
    if cents(declared) == expected:
        return None
    where = "/".join(spec.path)
    return finding(spec.code, spec.sefaz,
                   f"IBSCBSTot/{where} is {cents(declared):.2f} but the items' {spec.summed} add up to "
                   f"{expected:.2f}.",
                   context.path(f"total/IBSCBSTot/{where}"))


@rule(
    *((spec.code, spec.sefaz) for spec in REFORM_TOTAL_RULES),
    kind=POLICY,
    description="IBSCBSTot values against the sums of the items, NT 2025.002",
    code_descriptions={spec.code: f"{spec.description}, NT 2025.002" for spec in REFORM_TOTAL_RULES},
)
def check_reform_total_table(document: NFeDocument, context: RuleContext) -> Iterator[Finding]:
    """Every row of :data:`REFORM_TOTAL_RULES`; skipped when IBSCBSTot is absent."""
    total: Totals | None = document.infNFe.total
    if total is None or total.IBSCBSTot is None:
        return
    for spec in REFORM_TOTAL_RULES:
        try:
            found = _reform_total_finding(spec, total.IBSCBSTot, document, context)
        except ArithmeticError:  # an absurd value (9E+999999) silences its own row only
            continue
        if found is not None:
            yield found
