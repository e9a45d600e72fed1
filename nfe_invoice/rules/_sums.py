"""The item sums every totals rule compares against, computed in ONE pass over ``det`` per document.

Forty-odd rules (ICMSTot, ISSQNtot, IBSCBSTot, vNF, vNFTot) each compare a total with a sum over the
items. Summing once per rule would walk the items forty times; instead :func:`sums_of` walks them once
and keeps the result in a tiny identity-keyed cache (the last few documents), so every rule of every
family reads the same :class:`DocumentSums`.

The cache is keyed by ``id(document)`` and holds a weak reference to the document, checked on every
look-up and whose callback drops the entry when the document goes, so a reused id never matches. It is
not keyed by value: the model's frozen dataclasses hash by value, which would hash every item of a large
document on every look-up.

Which items count (sources: ACBr ``ACBrNFe.ValidarRegrasdeNegocio.pas``, the MOC rules W03..W22 as
quoted in ``shared/sefaz/offline-rules.md`` §D, NT 2025.002 §7 W31..W60):

* counted: items whose ``prod/indTot`` is not ``0`` (NT 2011/004: ``indTot=0`` items do not enter the
  total). ACBr sums vBC, vICMS, vBCST, vST, vFCP, vFCPST, vFCPSTRet, vICMSMonoReten, vProd and the
  PISST/COFINSST that compose vNF over these items only.
* every: all items (ACBr: vICMSDeson, vFrete, vSeg, vDesc, vOutro, vII, vIPI, vIPIDevol, vPIS,
  vCOFINS, vTotTrib).
* A *service* is an item subject to ISSQN (``imposto/ISSQN`` present) or with NCM ``00`` (ACBr's test).
  Its ``vProd`` goes to ``ISSQNtot/vServ`` instead of ``ICMSTot/vProd``, and its PIS/COFINS to
  ``ISSQNtot`` instead of ``ICMSTot`` (rules 602/603 vs 608/609).

Keys are ``"<group>.<tag>"`` strings naming the item field that was summed (``"ICMS.vBC"``,
``"prod.vProd"``, ``"goods.PIS.vPIS"``...); an absent value adds nothing.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

from ..findings import Finding
from ..model import IbsCbs, Item, NFeDocument
from .base import ZERO, RuleContext, RuleFunction, brl

# (key, attribute of Icms) summed for every item that has an ICMS group.
_ICMS_FIELDS: Final = (
    "vBC", "vICMS", "vICMSDeson", "vFCP", "vBCST", "vICMSST", "vFCPST", "vFCPSTRet",
    "qBCMono", "vICMSMono", "qBCMonoReten", "vICMSMonoReten", "qBCMonoRet", "vICMSMonoRet",
)
_ICMS_UF_DEST_FIELDS: Final = ("vFCPUFDest", "vICMSUFDest", "vICMSUFRemet")
_PROD_FIELDS: Final = ("vFrete", "vSeg", "vDesc", "vOutro")
_ISSQN_FIELDS: Final = (
    "vBC", "vISSQN", "vDeducao", "vOutro", "vDescIncond", "vDescCond", "vISSRet",
)
# (key, attribute) pairs, built once so the hot loop formats no strings.
_ICMS_KEY_OF: Final = {name: f"ICMS.{name}" for name in _ICMS_FIELDS}
_ICMS_UF_DEST_KEYS: Final = tuple((f"ICMSUFDest.{name}", name) for name in _ICMS_UF_DEST_FIELDS)
_PROD_KEYS: Final = tuple((f"prod.{name}", name) for name in _PROD_FIELDS)
_ISSQN_KEYS: Final = tuple((f"ISSQN.{name}", name) for name in _ISSQN_FIELDS)
_II_KEYS: Final = (("II.vII", "vII"),)
_IPI_KEYS: Final = (("IPI.vIPI", "vIPI"),)
_IS_KEYS: Final = (("IS.vIS", "vIS"),)
_CACHE_SIZE: Final = 8


@dataclass(slots=True)
class DocumentSums:
    """Sums of item fields over one document, plus the facts about its items the rules branch on.

    Built once by :func:`sums_of` and then only read. ``every`` holds sums over all items and
    ``excluded`` over the items with ``indTot=0`` (see the module docstring).
    """

    every: dict[str, Decimal] = field(default_factory=dict)
    #: Sums over the items with ``indTot=0`` only (usually none): counted = every − excluded.
    excluded: dict[str, Decimal] = field(default_factory=dict)
    #: Some item is a direct sale of a new vehicle (``veicProd/tpOp = 2``): vNF leaves out vST & co.
    direct_vehicle_sale: bool = False
    #: Some item has a CFOP starting with 3 (import): the MOC skips rule 610.
    has_import: bool = False
    #: Some item carries ``indDeduzDeson`` (NT 2023.004), whatever its value.
    has_deduz_deson_flag: bool = False
    #: Σ vICMSDeson of the items with ``indDeduzDeson = 1`` (the part vNF must subtract).
    deson_deducted: Decimal = ZERO
    #: How many items carry the reform groups (NT 2025.002 W31/W34), and ``vItem``.
    items_with_is: int = 0
    items_with_ibscbs: int = 0
    items_with_vitem: int = 0
    #: Codes of the totals-table rows that fail for this document, worked out once by the first row
    #: rule that runs (see :func:`.totals.check_total`); None until then.
    failing_totals: frozenset[str] | None = None

    def total(self, key: str, *, counted: bool = False) -> Decimal:
        """Σ of the item field ``key`` over all items, or only the counted ones (``indTot != 0``)."""
        value = self.every.get(key, ZERO)
        if counted and self.excluded:
            value -= self.excluded.get(key, ZERO)
        return value


def is_service(item: Item) -> bool:
    """An item subject to ISSQN: it has ``imposto/ISSQN``, or NCM ``00`` (ACBr's ``bServico``)."""
    taxes = item.imposto
    if taxes is not None and taxes.ISSQN is not None:
        return True
    return item.prod is not None and item.prod.NCM == "00"


def _add(acc: dict[str, Decimal], key: str, value: Decimal | None) -> None:
    if value is not None:
        acc[key] = acc.get(key, ZERO) + value


def _add_fields(acc: dict[str, Decimal], group: object, keys: tuple[tuple[str, str], ...]) -> None:
    """Add each ``(key, field)`` of a tax group that is present (an absent group adds nothing)."""
    if group is not None:
        for key, name in keys:
            _add(acc, key, getattr(group, name))


def _add_item(item: Item, acc: dict[str, Decimal]) -> None:
    """Add every summable value of one item into ``acc`` (absent values add nothing).

    Written as straight-line code on purpose: it runs for every item of every document validated. The
    ICMS group (64 fields, a handful present) is read through its ``__dict__``, which holds exactly the
    fields that were given (model.py): every field it lacks is None, and None adds nothing.
    """
    get = acc.get
    prod = item.prod
    taxes = item.imposto
    kind = "service." if is_service(item) else "goods."  # vProd, PIS and COFINS are also summed by kind
    value: Decimal | None
    if prod is not None:
        value = prod.vProd
        if value is not None:
            key = kind + "vProd"
            acc[key] = get(key, ZERO) + value
            acc["prod.vProd"] = get("prod.vProd", ZERO) + value
        for key, name in _PROD_KEYS:
            value = getattr(prod, name)
            if value is not None:
                acc[key] = get(key, ZERO) + value
    _add(acc, "vItem", item.vItem)
    returned = item.impostoDevol
    if returned is not None and returned.IPI is not None:
        _add(acc, "impostoDevol.vIPIDevol", returned.IPI.vIPIDevol)
    if taxes is None:
        return
    _add(acc, "imposto.vTotTrib", taxes.vTotTrib)
    icms = taxes.ICMS
    if icms is not None:
        for name, given in vars(icms).items():
            summed = _ICMS_KEY_OF.get(name)
            if summed is not None and given is not None:
                acc[summed] = get(summed, ZERO) + given
    _add_fields(acc, taxes.ICMSUFDest, _ICMS_UF_DEST_KEYS)
    _add_fields(acc, taxes.II, _II_KEYS)
    _add_fields(acc, taxes.IPI, _IPI_KEYS)
    if taxes.PIS is not None:
        _add(acc, kind + "PIS.vPIS", taxes.PIS.vPIS)
    if taxes.COFINS is not None:
        _add(acc, kind + "COFINS.vCOFINS", taxes.COFINS.vCOFINS)
    # NT 2020.005: PIS-ST / COFINS-ST enter vNF (and vItem) only when indSoma... = 1.
    if taxes.PISST is not None and taxes.PISST.indSomaPISST == "1":
        _add(acc, "PISST.vPIS", taxes.PISST.vPIS)
    if taxes.COFINSST is not None and taxes.COFINSST.indSomaCOFINSST == "1":
        _add(acc, "COFINSST.vCOFINS", taxes.COFINSST.vCOFINS)
    _add_fields(acc, taxes.ISSQN, _ISSQN_KEYS)
    _add_fields(acc, taxes.IS, _IS_KEYS)
    if taxes.IBSCBS is not None:
        for key, value in _reform_values(taxes.IBSCBS):
            _add(acc, key, value)


def _reform_values(ibscbs: IbsCbs) -> list[tuple[str, Decimal | None]]:
    """The IBS/CBS values of one item that ``IBSCBSTot`` sums (NT 2025.002 W35..W59g).

    Keys: ``gIBSUF.*`` / ``gIBSMun.*`` / ``gCBS.*`` for the rate groups and their deferral (vDif) and
    returned tax (vDevTrib); ``gMono.*`` for the single-phase values, named as in ``IBSCBSTot/gMono`` and
    summed whichever rate kind (ad rem or ad valorem) carries them; ``gEstornoCred.*`` for credit reversal.
    Optional groups are looked at only when present: most items have none of them.
    """
    pairs: list[tuple[str, Decimal | None]] = []
    values = ibscbs.gIBSCBS
    if values is not None:
        pairs += [("gIBSCBS.vBC", values.vBC), ("gIBSCBS.vIBS", values.vIBS)]
        rate = values.gIBSUF
        if rate is not None:
            pairs.append(("gIBSUF.vIBSUF", rate.vIBSUF))
            if rate.gDif is not None:
                pairs.append(("gIBSUF.vDif", rate.gDif.vDif))
            if rate.gDevTrib is not None:
                pairs.append(("gIBSUF.vDevTrib", rate.gDevTrib.vDevTrib))
        rate = values.gIBSMun
        if rate is not None:
            pairs.append(("gIBSMun.vIBSMun", rate.vIBSMun))
            if rate.gDif is not None:
                pairs.append(("gIBSMun.vDif", rate.gDif.vDif))
            if rate.gDevTrib is not None:
                pairs.append(("gIBSMun.vDevTrib", rate.gDevTrib.vDevTrib))
        rate = values.gCBS
        if rate is not None:
            pairs.append(("gCBS.vCBS", rate.vCBS))
            if rate.gDif is not None:
                pairs.append(("gCBS.vDif", rate.gDif.vDif))
            if rate.gDevTrib is not None:
                pairs.append(("gCBS.vDevTrib", rate.gDevTrib.vDevTrib))
    mono = ibscbs.gIBSCBSMono
    if mono is not None:
        pairs += [("gIBSCBSMono.vTotIBSMonoItem", mono.vTotIBSMonoItem),
                  ("gIBSCBSMono.vTotCBSMonoItem", mono.vTotCBSMonoItem)]
        for regime in (mono.gIBSMonoAdRem, mono.gIBSMonoAdValorem):
            if regime is not None:
                if regime.gMonoPadrao is not None:
                    pairs.append(("gMono.vIBSMono", regime.gMonoPadrao.vIBSMono))
                if regime.gMonoReten is not None:
                    pairs.append(("gMono.vIBSMonoReten", regime.gMonoReten.vIBSMonoReten))
                if regime.gMonoRet is not None:
                    pairs.append(("gMono.vIBSMonoRet", regime.gMonoRet.vIBSMonoRet))
        for regime in (mono.gCBSMonoAdRem, mono.gCBSMonoAdValorem):
            if regime is not None:
                if regime.gMonoPadrao is not None:
                    pairs.append(("gMono.vCBSMono", regime.gMonoPadrao.vCBSMono))
                if regime.gMonoReten is not None:
                    pairs.append(("gMono.vCBSMonoReten", regime.gMonoReten.vCBSMonoReten))
                if regime.gMonoRet is not None:
                    pairs.append(("gMono.vCBSMonoRet", regime.gMonoRet.vCBSMonoRet))
    reversal = ibscbs.gEstornoCred
    if reversal is not None:
        pairs += [("gEstornoCred.vIBSEstCred", reversal.vIBSEstCred),
                  ("gEstornoCred.vCBSEstCred", reversal.vCBSEstCred)]
    return pairs


def compute_sums(document: NFeDocument) -> DocumentSums:
    """Walk the items once and sum every field the totals rules need (no cache: see :func:`sums_of`)."""
    sums = DocumentSums()
    for item in document.items:
        prod = item.prod
        _add_item(item, sums.every)
        if prod is not None:
            if prod.indTot == "0":
                _add_item(item, sums.excluded)
            if prod.veicProd is not None and prod.veicProd.tpOp == "2":
                sums.direct_vehicle_sale = True
            if prod.CFOP is not None and prod.CFOP.startswith("3"):
                sums.has_import = True
        if item.vItem is not None:
            sums.items_with_vitem += 1
        taxes = item.imposto
        if taxes is None:
            continue
        icms = taxes.ICMS
        if icms is not None and icms.indDeduzDeson is not None:
            sums.has_deduz_deson_flag = True
            if icms.indDeduzDeson == "1" and icms.vICMSDeson is not None:
                sums.deson_deducted += icms.vICMSDeson
        if taxes.IS is not None:
            sums.items_with_is += 1
        if taxes.IBSCBS is not None:
            sums.items_with_ibscbs += 1
    return sums


_cache: dict[int, tuple[weakref.ref[NFeDocument], DocumentSums]] = {}


def _forget(key: int, reference: weakref.ref[NFeDocument]) -> None:
    """A cached document died: drop its entry (unless the key already names a newer entry)."""
    entry = _cache.get(key)
    if entry is not None and entry[0] is reference:
        del _cache[key]


def sums_of(document: NFeDocument) -> DocumentSums:
    """The :class:`DocumentSums` of ``document``, computed once and shared by every rule.

    Identity-keyed and bounded (the last :data:`_CACHE_SIZE` documents): a validation run applies all
    rules to one document before the next, so a handful of entries is plenty. The cache holds the
    documents weakly: an entry goes when its document does, so a batch of 990-item documents does not
    keep the last eight models (40 MB) alive, and the id of a dead document is never matched.
    """
    key = id(document)
    entry = _cache.get(key)
    if entry is not None and entry[0]() is document:
        return entry[1]
    sums = compute_sums(document)
    if len(_cache) >= _CACHE_SIZE:
        _cache.pop(next(iter(_cache)), None)
    _cache[key] = (weakref.ref(document, functools.partial(_forget, key)), sums)
    return sums


def guarded(check: RuleFunction) -> RuleFunction:
    """Run ``check`` to the end, yielding nothing if its arithmetic fails on an absurd value.

    The parser keeps any finite Decimal, so a hostile or broken document can hold ``9E+999999``, which
    overflows a sum or a quantize. That is a schema error (the XSD reports it), never a reason for a
    business rule to raise: the rule then simply has nothing to say.
    """

    @functools.wraps(check)
    def run(document: NFeDocument, context: RuleContext) -> Iterable[Finding]:
        try:
            found = check(document, context)
            return found if isinstance(found, list) else list(found)
        except ArithmeticError:
            return ()

    return run


def describe_terms(terms: Iterable[tuple[str, Decimal, int]]) -> str:
    """``vProd 120.00 − vDesc 20.01 + vFrete 5.00``: the non-zero ``(name, value, sign)`` terms."""
    parts: list[str] = []
    for name, value, sign in terms:
        if not value:
            continue
        if parts:
            parts.append(f"{'−' if sign < 0 else '+'} {name} {brl(value)}")
        else:
            parts.append(f"{'−' if sign < 0 else ''}{name} {brl(value)}")
    return " ".join(parts) if parts else "all terms zero"
