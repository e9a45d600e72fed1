"""Totals: every ``ICMSTot`` and ``ISSQNtot`` field against the sum of the items, and vNF by its formula.

Sources: the MOC rules W03-10..W22 and W16-10 (code 610) as read in ACBr
(``ACBrNFe.ValidarRegrasdeNegocio.pas``) and summarised in ``shared/sefaz/offline-rules.md`` §D and §E;
NT 2011/004 (``indTot``), NT 2011/005 (vServ in vNF), NT 2013/005 (vICMSDeson may be left in vNF),
NT 2016.002 (FCP), NT 2020.005 (indSomaPISST/indSomaCOFINSST), NT 2023.001 (ICMS monofásico),
NT 2023.004 (indDeduzDeson).

Every comparison is exact to the cent: both sides rounded half-up to 0.01 with Decimal, as SEFAZ compares
2-decimal values (ACBr's ``ComparaValor(a, b, 0.001)`` is the same test). The per-field rules are one
table, :data:`TOTAL_RULES`, judged by one registered rule with one code per row. The item sums come from
:func:`._sums.sums_of`, computed once per document.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from ..findings import Finding
from ..model import IcmsTotal, IssqnTotal, NFeDocument
from ._sums import DocumentSums, describe_terms, guarded, sums_of
from .base import INVARIANT, ZERO, RuleContext, cents, finding, rule


class Scope(enum.Enum):
    """Which items a total sums (see :mod:`._sums`)."""

    COUNTED = "the items with indTot=1"
    EVERY = "all items"
    #: The sources disagree or are silent on ``indTot``: accept the sum over either set of items, so a
    #: document SEFAZ accepts is never flagged (only matters when some item has ``indTot=0``).
    EITHER = "the items with indTot=1 (or all items)"


@dataclass(frozen=True, slots=True)
class TotalRule:
    """One row of the table: ``group/tag`` must equal Σ ``source`` over the items of ``scope``."""

    code: str
    sefaz: str
    group: str  # "ICMSTot" or "ISSQNtot"
    tag: str
    source: str  # a key of DocumentSums (see _sums)
    scope: Scope
    description: str
    #: What was summed, for the message ("det/imposto/ICMS/vBC").
    summed: str
    #: An absent total means zero. True for ISSQNtot, whose fields (TDec_1302Opc) cannot even be written
    #: as 0.00. False for ICMSTot: a required field's absence is the XSD's to report, and an optional one
    #: (vTotTrib, DIFAL, monofásico) that is not informed is not judged (SEFAZ authorised the NFC-e
    #: ``spedda__nfeProc_65_nfce_cstat150`` whose items carry vTotTrib while ICMSTot has none).
    absent_is_zero: bool = False
    #: ACBr applies the rule to model 55 only (FCP-ST, FCP-ST retained, IPI returned).
    nfe_only: bool = False
    #: Source when finNFe=3 (ajuste): services then count in vProd (ACBr).
    adjustment_source: str | None = None


C, E, X = Scope.COUNTED, Scope.EVERY, Scope.EITHER

TOTAL_RULES: Final[tuple[TotalRule, ...]] = (
    # ICMSTot (group W02). indTot scopes as in ACBr: ICMS values count only items with indTot=1,
    # vICMSDeson and the prod/IPI/II/PIS/COFINS values count every item.
    TotalRule("totals.vbc", "531", "ICMSTot", "vBC", "ICMS.vBC", C,
              "ICMSTot/vBC equals the sum of the items' ICMS vBC (W03-10)", "det/imposto/ICMS/vBC"),
    TotalRule("totals.vicms", "532", "ICMSTot", "vICMS", "ICMS.vICMS", C,
              "ICMSTot/vICMS equals the sum of the items' vICMS (W04-10)", "det/imposto/ICMS/vICMS"),
    TotalRule("totals.vicmsdeson", "795", "ICMSTot", "vICMSDeson", "ICMS.vICMSDeson", E,
              "ICMSTot/vICMSDeson equals the sum of the items' vICMSDeson (W04a)",
              "det/imposto/ICMS/vICMSDeson"),
    TotalRule("totals.vfcpufdest", "798", "ICMSTot", "vFCPUFDest", "ICMSUFDest.vFCPUFDest", X,
              "ICMSTot/vFCPUFDest equals the sum of the items' ICMSUFDest/vFCPUFDest (W04c)",
              "det/imposto/ICMSUFDest/vFCPUFDest"),
    TotalRule("totals.vicmsufdest", "799", "ICMSTot", "vICMSUFDest", "ICMSUFDest.vICMSUFDest", X,
              "ICMSTot/vICMSUFDest equals the sum of the items' ICMSUFDest/vICMSUFDest (W04e)",
              "det/imposto/ICMSUFDest/vICMSUFDest"),
    TotalRule("totals.vicmsufremet", "800", "ICMSTot", "vICMSUFRemet", "ICMSUFDest.vICMSUFRemet", X,
              "ICMSTot/vICMSUFRemet equals the sum of the items' ICMSUFDest/vICMSUFRemet (W04g)",
              "det/imposto/ICMSUFDest/vICMSUFRemet"),
    TotalRule("totals.vfcp", "861", "ICMSTot", "vFCP", "ICMS.vFCP", C,
              "ICMSTot/vFCP equals the sum of the items' vFCP (NT 2016.002)", "det/imposto/ICMS/vFCP"),
    TotalRule("totals.vbcst", "533", "ICMSTot", "vBCST", "ICMS.vBCST", C,
              "ICMSTot/vBCST equals the sum of the items' vBCST (W05-10)", "det/imposto/ICMS/vBCST"),
    TotalRule("totals.vst", "534", "ICMSTot", "vST", "ICMS.vICMSST", C,
              "ICMSTot/vST equals the sum of the items' vICMSST (W06-10)", "det/imposto/ICMS/vICMSST"),
    TotalRule("totals.vfcpst", "862", "ICMSTot", "vFCPST", "ICMS.vFCPST", C,
              "ICMSTot/vFCPST equals the sum of the items' vFCPST (NF-e only, NT 2016.002)",
              "det/imposto/ICMS/vFCPST", nfe_only=True),
    TotalRule("totals.vfcpstret", "859", "ICMSTot", "vFCPSTRet", "ICMS.vFCPSTRet", C,
              "ICMSTot/vFCPSTRet equals the sum of the items' vFCPSTRet (NF-e only, NT 2016.002)",
              "det/imposto/ICMS/vFCPSTRet", nfe_only=True),
    TotalRule("totals.qbcmono", "700", "ICMSTot", "qBCMono", "ICMS.qBCMono", X,
              "ICMSTot/qBCMono equals the sum of the items' qBCMono (NT 2023.001)",
              "det/imposto/ICMS/qBCMono"),
    TotalRule("totals.vicmsmono", "967", "ICMSTot", "vICMSMono", "ICMS.vICMSMono", X,
              "ICMSTot/vICMSMono equals the sum of the items' vICMSMono (NT 2023.001)",
              "det/imposto/ICMS/vICMSMono"),
    TotalRule("totals.vicmsmonoreten", "968", "ICMSTot", "vICMSMonoReten", "ICMS.vICMSMonoReten", X,
              "ICMSTot/vICMSMonoReten equals the sum of the items' vICMSMonoReten (NT 2023.001)",
              "det/imposto/ICMS/vICMSMonoReten"),
    TotalRule("totals.qbcmonoret", "744", "ICMSTot", "qBCMonoRet", "ICMS.qBCMonoRet", X,
              "ICMSTot/qBCMonoRet equals the sum of the items' qBCMonoRet (NT 2023.001)",
              "det/imposto/ICMS/qBCMonoRet"),
    TotalRule("totals.vicmsmonoret", "969", "ICMSTot", "vICMSMonoRet", "ICMS.vICMSMonoRet", X,
              "ICMSTot/vICMSMonoRet equals the sum of the items' vICMSMonoRet (NT 2023.001)",
              "det/imposto/ICMS/vICMSMonoRet"),
    TotalRule("totals.vprod", "564", "ICMSTot", "vProd", "goods.vProd", C,
              "ICMSTot/vProd equals the sum of vProd of the items with indTot=1 that are not ISSQN "
              "services (W07-10, NT 2011/004; services count too when finNFe=3)",
              "det/prod/vProd (goods only)", adjustment_source="prod.vProd"),
    TotalRule("totals.vfrete", "535", "ICMSTot", "vFrete", "prod.vFrete", E,
              "ICMSTot/vFrete equals the sum of the items' vFrete (W08-10)", "det/prod/vFrete"),
    TotalRule("totals.vseg", "536", "ICMSTot", "vSeg", "prod.vSeg", E,
              "ICMSTot/vSeg equals the sum of the items' vSeg (W09-10)", "det/prod/vSeg"),
    TotalRule("totals.vdesc", "537", "ICMSTot", "vDesc", "prod.vDesc", E,
              "ICMSTot/vDesc equals the sum of the items' vDesc (W10-10)", "det/prod/vDesc"),
    TotalRule("totals.vii", "601", "ICMSTot", "vII", "II.vII", E,
              "ICMSTot/vII equals the sum of the items' II/vII (W11-10)", "det/imposto/II/vII"),
    TotalRule("totals.vipi", "538", "ICMSTot", "vIPI", "IPI.vIPI", E,
              "ICMSTot/vIPI equals the sum of the items' IPI/vIPI (W12-10)", "det/imposto/IPI/vIPI"),
    TotalRule("totals.vipidevol", "863", "ICMSTot", "vIPIDevol", "impostoDevol.vIPIDevol", E,
              "ICMSTot/vIPIDevol equals the sum of the items' impostoDevol/IPI/vIPIDevol (NF-e only)",
              "det/impostoDevol/IPI/vIPIDevol", nfe_only=True),
    TotalRule("totals.vpis", "602", "ICMSTot", "vPIS", "goods.PIS.vPIS", E,
              "ICMSTot/vPIS equals the sum of PIS/vPIS of the items that are not ISSQN services (W13-10)",
              "det/imposto/PIS/vPIS (goods only)"),
    TotalRule("totals.vcofins", "603", "ICMSTot", "vCOFINS", "goods.COFINS.vCOFINS", E,
              "ICMSTot/vCOFINS equals the sum of COFINS/vCOFINS of the items that are not ISSQN services "
              "(W14-10)", "det/imposto/COFINS/vCOFINS (goods only)"),
    TotalRule("totals.voutro", "604", "ICMSTot", "vOutro", "prod.vOutro", E,
              "ICMSTot/vOutro equals the sum of the items' vOutro (W15-10)", "det/prod/vOutro"),
    TotalRule("totals.vtottrib", "685", "ICMSTot", "vTotTrib", "imposto.vTotTrib", E,
              "ICMSTot/vTotTrib equals the sum of the items' vTotTrib (W16a)", "det/imposto/vTotTrib"),
    # ISSQNtot (group W17): every field optional and never 0.00, so an absent field (or group) means zero.
    TotalRule("totals.vserv", "605", "ISSQNtot", "vServ", "service.vProd", X,
              "ISSQNtot/vServ equals the sum of vProd of the items subject to ISSQN (W18)",
              "det/prod/vProd (ISSQN services only)", absent_is_zero=True),
    TotalRule("totals.issqn_vbc", "606", "ISSQNtot", "vBC", "ISSQN.vBC", E,
              "ISSQNtot/vBC equals the sum of the items' ISSQN/vBC (W19)", "det/imposto/ISSQN/vBC",
              absent_is_zero=True),
    TotalRule("totals.viss", "607", "ISSQNtot", "vISS", "ISSQN.vISSQN", E,
              "ISSQNtot/vISS equals the sum of the items' ISSQN/vISSQN (W20)", "det/imposto/ISSQN/vISSQN",
              absent_is_zero=True),
    TotalRule("totals.issqn_vpis", "608", "ISSQNtot", "vPIS", "service.PIS.vPIS", E,
              "ISSQNtot/vPIS equals the sum of PIS/vPIS of the items subject to ISSQN (W21)",
              "det/imposto/PIS/vPIS (ISSQN services only)", absent_is_zero=True),
    TotalRule("totals.issqn_vcofins", "609", "ISSQNtot", "vCOFINS", "service.COFINS.vCOFINS", E,
              "ISSQNtot/vCOFINS equals the sum of COFINS/vCOFINS of the items subject to ISSQN (W22)",
              "det/imposto/COFINS/vCOFINS (ISSQN services only)", absent_is_zero=True),
    TotalRule("totals.vdeducao", "364", "ISSQNtot", "vDeducao", "ISSQN.vDeducao", E,
              "ISSQNtot/vDeducao equals the sum of the items' ISSQN/vDeducao (W22b, NT 2013/005)",
              "det/imposto/ISSQN/vDeducao", absent_is_zero=True),
    TotalRule("totals.issqn_voutro", "365", "ISSQNtot", "vOutro", "ISSQN.vOutro", E,
              "ISSQNtot/vOutro equals the sum of the items' ISSQN/vOutro (W22c, NT 2013/005)",
              "det/imposto/ISSQN/vOutro", absent_is_zero=True),
    TotalRule("totals.vdescincond", "366", "ISSQNtot", "vDescIncond", "ISSQN.vDescIncond", E,
              "ISSQNtot/vDescIncond equals the sum of the items' ISSQN/vDescIncond (W22d, NT 2013/005)",
              "det/imposto/ISSQN/vDescIncond", absent_is_zero=True),
    TotalRule("totals.vdesccond", "367", "ISSQNtot", "vDescCond", "ISSQN.vDescCond", E,
              "ISSQNtot/vDescCond equals the sum of the items' ISSQN/vDescCond (W22e, NT 2013/005)",
              "det/imposto/ISSQN/vDescCond", absent_is_zero=True),
    TotalRule("totals.vissret", "368", "ISSQNtot", "vISSRet", "ISSQN.vISSRet", E,
              "ISSQNtot/vISSRet equals the sum of the items' ISSQN/vISSRet (W22f, NT 2013/005)",
              "det/imposto/ISSQN/vISSRet", absent_is_zero=True),
)


def _declared(spec: TotalRule, document: NFeDocument) -> tuple[bool, Decimal | None]:
    """``(applies, value)`` of the total the row judges; value None means 'absent, judged as zero'."""
    total = document.infNFe.total
    if total is None:
        return False, None
    group: IcmsTotal | IssqnTotal | None = total.ICMSTot if spec.group == "ICMSTot" else total.ISSQNtot
    if group is None:
        # ICMSTot is mandatory (the XSD reports its absence); an absent ISSQNtot means no services.
        return spec.group == "ISSQNtot", None
    value: Decimal | None = getattr(group, spec.tag)
    return (value is not None or spec.absent_is_zero), value


def _source(spec: TotalRule, document: NFeDocument) -> str:
    if spec.adjustment_source is not None and document.ide.finNFe == "3":
        return spec.adjustment_source
    return spec.source


def _expected(spec: TotalRule, source: str, sums: DocumentSums) -> tuple[Decimal, ...]:
    """The acceptable item sums for ``spec``, rounded to the cent (two when the scope is EITHER)."""
    if spec.scope is Scope.EVERY:
        return (cents(sums.total(source)),)
    counted = cents(sums.total(source, counted=True))
    if spec.scope is Scope.COUNTED:
        return (counted,)
    every = cents(sums.total(source))
    return (counted,) if every == counted else (counted, every)


def _fails(spec: TotalRule, document: NFeDocument, sums: DocumentSums) -> bool:
    """Whether the row's total differs from its item sum at the cent."""
    if spec.nfe_only and document.ide.mod == "65":
        return False
    applies, declared = _declared(spec, document)
    if not applies:
        return False
    source = _source(spec, document)
    found = declared if declared is not None else ZERO
    if found == sums.total(source, counted=spec.scope is not Scope.EVERY):
        return False  # equal before rounding, so equal after
    return cents(found) not in _expected(spec, source, sums)


def failing_rows(document: NFeDocument, sums: DocumentSums) -> frozenset[str]:
    """The codes of every table row that fails, computed in one pass and kept with the sums.

    Each row is its own registered rule (one code, one description in the code table), but the work
    is done once per document: the rows then only look their code up.
    """
    if sums.failing_totals is None:
        sums.failing_totals = _failing_rows(document, sums)
    return sums.failing_totals


#: Per row: the row, whether its total is in ICMSTot (else ISSQNtot), the total's tag and its item sum.
_ROWS: Final = tuple((spec, spec.group == "ICMSTot", spec.tag, spec.source) for spec in TOTAL_RULES)


def _failing_rows(document: NFeDocument, sums: DocumentSums) -> frozenset[str]:
    """The failing rows: a row whose total equals its item sum exactly passes at once, any other row is
    judged by :func:`_fails`.

    Why: judging all 37 rows through :func:`_fails` cost ~17 us per document, mostly for rows that hold
    an exact match (the usual case). The shortcut decides only "passes", and only where :func:`_fails`
    provably says the same: the row's source is its usual one (not an adjustment, finNFe 3) and no item
    has ``indTot=0`` (so the counted sum is the sum over every item); then a declared total equal to that
    sum, or a total that :func:`_declared` says does not apply, passes in :func:`_fails` too.
    """
    total = document.infNFe.total
    if total is None:
        return frozenset()  # no row applies (see _declared)
    if sums.excluded or document.ide.finNFe == "3":
        return frozenset(spec.code for spec in TOTAL_RULES if _fails_safely(spec, document, sums))
    every = sums.every
    icms, issqn = total.ICMSTot, total.ISSQNtot
    failing: list[str] = []
    for spec, in_icms, tag, source in _ROWS:
        group = icms if in_icms else issqn
        if group is None:
            if in_icms:
                continue  # no ICMSTot: its rows do not apply (the XSD reports the absence)
            declared = ZERO  # no ISSQNtot: no services, every total zero
        else:
            declared = getattr(group, tag)
            if declared is None:
                if not spec.absent_is_zero:
                    continue  # an absent optional total is not judged
                declared = ZERO
        if declared == every.get(source, ZERO):
            continue
        if _fails_safely(spec, document, sums):
            failing.append(spec.code)
    return frozenset(failing)


def _fails_safely(spec: TotalRule, document: NFeDocument, sums: DocumentSums) -> bool:
    """:func:`_fails`, but an absurd value (``9E+999999``) silences its own row only."""
    try:
        return _fails(spec, document, sums)
    except ArithmeticError:
        return False


def _total_finding(spec: TotalRule, document: NFeDocument, sums: DocumentSums, context: RuleContext) -> Finding:
    """The finding of one failing row (see :func:`failing_rows`)."""
    _, declared = _declared(spec, document)
    found = cents(declared)
    source = _source(spec, document)
    expected = _expected(spec, source, sums)
    scope = spec.scope.value
    if source != spec.source:
        scope, summed = "the items with indTot=1, services included as finNFe=3", "det/prod/vProd"
    else:
        summed = spec.summed
    shown = " or ".join(f"{value:.2f}" for value in expected)
    absent = "" if declared is not None else " (absent)"
    return finding(
        spec.code,
        spec.sefaz,
        f"{spec.group}/{spec.tag} is {found:.2f}{absent} but the items add up to {shown} "
        f"(sum of {summed} over {scope}).",
        context.path(f"total/{spec.group}/{spec.tag}"),
    )


@rule(
    *((spec.code, spec.sefaz) for spec in TOTAL_RULES),
    kind=INVARIANT,
    description="ICMSTot and ISSQNtot fields against the sums of the items",
    code_descriptions={spec.code: spec.description for spec in TOTAL_RULES},
)
def check_total_table(document: NFeDocument, context: RuleContext) -> Iterator[Finding]:
    """Every row of :data:`TOTAL_RULES` (exact to the cent), decided in one pass over the table."""
    sums = sums_of(document)
    failing = failing_rows(document, sums)
    if failing:
        for spec in TOTAL_RULES:
            if spec.code in failing:
                yield _total_finding(spec, document, sums, context)


# --------------------------------------------------------------------------------------------- vNF


#: One signed term of the vNF formula: ``(name, value, sign)``.
Term = tuple[str, Decimal, int]


def vnf_terms(totals: IcmsTotal, services: IssqnTotal | None, sums: DocumentSums) -> list[Term]:
    """The vNF formula of MOC rule W16-10 over the declared totals, without vICMSDeson.

    ``vProd − vDesc + vST + vFCPST + vICMSMonoReten + vFrete + vSeg + vOutro + vII + vIPI + vIPIDevol
    + vServ + vPISST + vCOFINSST``. The terms are the totals themselves (ids W07, W10... in the MOC),
    so a wrong vProd total is 564 and, unless vNF follows it, 610 too: what SEFAZ would say. PIS-ST and
    COFINS-ST have no total field: they are summed over the items with indSomaPISST/indSomaCOFINSST = 1
    (NT 2020.005). A direct sale of new vehicles (tpOp=2, Exceção 1) leaves out vST, vFCPST,
    vICMSMonoReten and vIPIDevol.
    """
    vehicles = sums.direct_vehicle_sale
    return [
        ("vProd", totals.vProd or ZERO, 1),
        ("vDesc", totals.vDesc or ZERO, -1),
        ("vST", ZERO if vehicles else totals.vST or ZERO, 1),
        ("vFCPST", ZERO if vehicles else totals.vFCPST or ZERO, 1),
        ("vICMSMonoReten", ZERO if vehicles else totals.vICMSMonoReten or ZERO, 1),
        ("vFrete", totals.vFrete or ZERO, 1),
        ("vSeg", totals.vSeg or ZERO, 1),
        ("vOutro", totals.vOutro or ZERO, 1),
        ("vII", totals.vII or ZERO, 1),
        ("vIPI", totals.vIPI or ZERO, 1),
        ("vIPIDevol", ZERO if vehicles else totals.vIPIDevol or ZERO, 1),
        ("vServ", (services.vServ if services else None) or ZERO, 1),
        ("vPISST", sums.total("PISST.vPIS", counted=True), 1),
        ("vCOFINSST", sums.total("COFINSST.vCOFINS", counted=True), 1),
    ]


def deson_choices(totals: IcmsTotal, sums: DocumentSums) -> tuple[Decimal, ...]:
    """The vICMSDeson amounts vNF may subtract.

    NT 2023.004 added ``indDeduzDeson``: subtract the desoneração of the items marked 1 (and only those).
    Without any marker, NT 2013/005 v1.22 says a vNF that did not subtract vICMSDeson must not be
    rejected, so both forms are accepted (as ACBr does).
    """
    if sums.has_deduz_deson_flag:
        return (sums.deson_deducted,)
    deson = totals.vICMSDeson or ZERO
    return (deson, ZERO) if deson else (ZERO,)


@rule(
    ("totals.vnf", "610"),
    kind=INVARIANT,
    description="ICMSTot/vNF equals vProd − vDesc − vICMSDeson + vST + vFCPST + vICMSMonoReten + vFrete + "
    "vSeg + vOutro + vII + vIPI + vIPIDevol + vServ + vPISST + vCOFINSST (W16-10; exceptions: "
    "new vehicles, imports, vICMSDeson)",
)
@guarded
def check_vnf(document: NFeDocument, context: RuleContext) -> Iterator[Finding]:
    """MOC W16-10 (610): vNF is the signed sum of the totals, exact to the cent.

    Exceptions honoured: imports (any item CFOP 3xxx) are not checked at all (MOC Exceção 2, ACBr);
    direct sales of new vehicles drop vST, vFCPST, vICMSMonoReten and vIPIDevol (Exceção 1); vICMSDeson
    per :func:`deson_choices`.
    """
    total = document.infNFe.total
    if total is None or total.ICMSTot is None or total.ICMSTot.vNF is None:
        return
    sums = sums_of(document)
    if sums.has_import:
        return
    totals = total.ICMSTot
    terms = vnf_terms(totals, total.ISSQNtot, sums)
    choices = deson_choices(totals, sums)
    declared = totals.vNF
    raw = sum((sign * value for _, value, sign in terms), ZERO)
    if any(declared == raw - deson for deson in choices):
        return  # exact before rounding; otherwise compare term by term at the cent
    base = sum((sign * cents(value) for _, value, sign in terms), ZERO)
    found = cents(declared)
    if any(found == base - cents(deson) for deson in choices):
        return
    deson = choices[0]
    shown = describe_terms([*terms[:2], ("vICMSDeson", deson, -1), *terms[2:]])
    expected = f"{base - cents(deson):.2f} ({shown})"
    if len(choices) > 1:
        expected += f", or {base:.2f} without subtracting vICMSDeson"
    note = ""
    if sums.direct_vehicle_sale:
        note = (" Direct sale of new vehicles (tpOp=2): vST, vFCPST, vICMSMonoReten and vIPIDevol"
                " are left out.")
    yield finding(
        "totals.vnf",
        "610",
        f"vNF is {found:.2f} but the totals add up to {expected}.{note}",
        context.path("total/ICMSTot/vNF"),
    )
