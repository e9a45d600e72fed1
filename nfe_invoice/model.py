"""The NF-e 4.00 as typed, immutable data.

Field names are the layout's own tag names (``vProd``, ``cEAN``, ``dhEmi``): integrators know them from
the MOC and the XML, and a one-to-one naming keeps the parser table-driven (see :mod:`nfe_invoice.parse`).
Types carry meaning and nothing else:

* money, rates and quantities are :class:`~decimal.Decimal` (never ``float``), exactly as written;
* ``dh*`` fields are timezone-aware :class:`~datetime.datetime`, ``d*`` fields :class:`~datetime.date`;
* codes stay ``str`` as written (``cNF="06277716"``, ``CST="00"``), so nothing loses a leading zero;
* repeated groups are tuples; an absent element is ``None`` (or an empty tuple).

The model holds no behaviour beyond a few read-only conveniences; validation judges it.

The classes are frozen dataclasses without ``__slots__`` on purpose: the parser fills an instance's
``__dict__`` directly (see ``parse._read``), because a frozen dataclass's ``__init__`` pays one
``object.__setattr__`` per field (64 for :class:`Icms`) and that alone tripled the parse time.

Their value semantics (``==``, ``hash``, ``repr``), their keyword/positional constructor and their
immutability come from :class:`Record`, written once, instead of being generated per class: ``@dataclass``
compiles each generated method separately (``exec``), and doing that for ~90 classes cost 80 ms, then
(``__init__``, ``__setattr__`` and ``__delattr__`` still generated) 20 ms, at every start of the command
line (an ERP hook starts it per file). :func:`record` is ``@dataclass`` without those: the classes are
still dataclasses (``fields``, ``replace``, ``asdict`` work) and type checkers see frozen dataclasses.
"""

from __future__ import annotations

import dataclasses
import inspect
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar, dataclass_transform

_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
#: Per class: the names of the fields without a default, which the constructor requires.
_REQUIRED: dict[type, frozenset[str]] = {}
_MISSING = dataclasses.MISSING


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        fields = dataclasses.fields(cls)
        names = _FIELD_NAMES[cls] = tuple(field.name for field in fields)
        _REQUIRED[cls] = frozenset(
            field.name for field in fields if field.default is _MISSING and field.default_factory is _MISSING
        )
    return names


class _ConstructorSignature:
    """``inspect.signature(ModelClass)``: the fields as a dataclass's ``__init__`` lists them, built when asked."""

    def __get__(self, instance: object, owner: type) -> inspect.Signature:
        parameters = [
            inspect.Parameter(field.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=field.type,
                              default=inspect.Parameter.empty if field.default is _MISSING else field.default)
            for field in dataclasses.fields(owner)
        ]
        return inspect.Signature(parameters, return_annotation=None)


class Record:
    """What a frozen dataclass would generate per class, written once: construction, immutability,
    value equality, hashing and ``repr`` over the class's fields."""

    __slots__ = ()
    __signature__ = _ConstructorSignature()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Fields by position or by name, as a dataclass's ``__init__`` takes them (same errors).

        A field left out is not stored: it reads its default from the class attribute ``@dataclass``
        keeps for it (``None`` or ``()``), exactly as for the objects the parser makes.
        """
        cls = type(self)
        names = _field_names(cls)
        if len(args) > len(names):
            raise TypeError(f"{cls.__qualname__}() takes {len(names)} positional arguments but {len(args)} were given")
        values = dict(zip(names, args, strict=False))
        for name, value in kwargs.items():
            if name in values:
                raise TypeError(f"{cls.__qualname__}() got multiple values for argument {name!r}")
            if name not in _FIELD_NAMES[cls]:
                raise TypeError(f"{cls.__qualname__}() got an unexpected keyword argument {name!r}")
            values[name] = value
        missing = [name for name in names if name in _REQUIRED[cls] and name not in values]
        if missing:
            raise TypeError(f"{cls.__qualname__}() missing required arguments: {', '.join(map(repr, missing))}")
        object.__setattr__(self, "__dict__", values)

    def __setattr__(self, name: str, value: object) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in _field_names(type(self)))

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        cls = type(self)
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in _field_names(cls))
        return f"{cls.__qualname__}({shown})"


_R = TypeVar("_R", bound=type[Record])


@dataclass_transform(frozen_default=True, eq_default=False)
def record(cls: _R) -> _R:
    """``@dataclass(frozen=True, repr=False, eq=False)`` for a :class:`Record`, with nothing compiled."""
    dataclasses.dataclass(init=False, repr=False, eq=False)(cls)  # decorates in place (no __slots__)
    return cls


# --------------------------------------------------------------------------------------------- ide


@record
class RefNF(Record):
    """A referenced model 1/1A (paper) NF, or producer's NF (refNFP)."""

    cUF: str | None = None
    AAMM: str | None = None
    CNPJ: str | None = None
    CPF: str | None = None
    IE: str | None = None
    mod: str | None = None
    serie: str | None = None
    nNF: str | None = None


@record
class RefECF(Record):
    mod: str | None = None
    nECF: str | None = None
    nCOO: str | None = None


@record
class NFRef(Record):
    """One referenced document (``ide/NFref``)."""

    refNFe: str | None = None
    refNFeSig: str | None = None
    refNF: RefNF | None = None
    refNFP: RefNF | None = None
    refCTe: str | None = None
    refECF: RefECF | None = None


@record
class Ide(Record):
    """Identification of the document (``ide``)."""

    cUF: str | None = None
    cNF: str | None = None
    natOp: str | None = None
    mod: str | None = None
    serie: str | None = None
    nNF: str | None = None
    dhEmi: datetime | None = None
    dhSaiEnt: datetime | None = None
    dPrevEntrega: date | None = None
    tpNF: str | None = None
    idDest: str | None = None
    cMunFG: str | None = None
    cMunFGIBS: str | None = None
    tpImp: str | None = None
    tpEmis: str | None = None
    cDV: str | None = None
    tpAmb: str | None = None
    finNFe: str | None = None
    tpNFDebito: str | None = None
    tpNFCredito: str | None = None
    indFinal: str | None = None
    indPres: str | None = None
    indIntermed: str | None = None
    cIndOp: str | None = None
    procEmi: str | None = None
    verProc: str | None = None
    dhCont: datetime | None = None
    xJust: str | None = None
    NFref: tuple[NFRef, ...] = ()


# ------------------------------------------------------------------------------------------ parties


@record
class Address(Record):
    """``enderEmit`` / ``enderDest``."""

    xLgr: str | None = None
    nro: str | None = None
    xCpl: str | None = None
    xBairro: str | None = None
    cMun: str | None = None
    xMun: str | None = None
    UF: str | None = None
    CEP: str | None = None
    cPais: str | None = None
    xPais: str | None = None
    fone: str | None = None


@record
class Emitter(Record):
    """``emit``: who issued the NF-e (CNPJ, or CPF for rural producers)."""

    CNPJ: str | None = None
    CPF: str | None = None
    xNome: str | None = None
    xFant: str | None = None
    enderEmit: Address | None = None
    IE: str | None = None
    IEST: str | None = None
    IM: str | None = None
    CNAE: str | None = None
    CRT: str | None = None
    ISUFEmit: str | None = None

    @property
    def document(self) -> str | None:
        return self.CNPJ or self.CPF


@record
class Recipient(Record):
    """``dest``: CNPJ, CPF or idEstrangeiro (absent on an anonymous NFC-e)."""

    CNPJ: str | None = None
    CPF: str | None = None
    idEstrangeiro: str | None = None
    xNome: str | None = None
    enderDest: Address | None = None
    indIEDest: str | None = None
    IE: str | None = None
    ISUF: str | None = None
    IM: str | None = None
    email: str | None = None

    @property
    def document(self) -> str | None:
        return self.CNPJ or self.CPF or self.idEstrangeiro


@record
class Location(Record):
    """``retirada`` / ``entrega``: a pickup or delivery place different from the parties' addresses."""

    CNPJ: str | None = None
    CPF: str | None = None
    xNome: str | None = None
    xLgr: str | None = None
    nro: str | None = None
    xCpl: str | None = None
    xBairro: str | None = None
    cMun: str | None = None
    xMun: str | None = None
    UF: str | None = None
    CEP: str | None = None
    cPais: str | None = None
    xPais: str | None = None
    fone: str | None = None
    email: str | None = None
    IE: str | None = None


@record
class AuthorizedParty(Record):
    """``autXML``: someone allowed to download the XML."""

    CNPJ: str | None = None
    CPF: str | None = None


# --------------------------------------------------------------------------------------------- items


@record
class Product(Record):
    """``det/prod``."""

    cProd: str | None = None
    cEAN: str | None = None
    cBarra: str | None = None
    xProd: str | None = None
    NCM: str | None = None
    CEST: str | None = None
    indEscala: str | None = None
    CNPJFab: str | None = None
    cBenef: str | None = None
    EXTIPI: str | None = None
    CFOP: str | None = None
    uCom: str | None = None
    qCom: Decimal | None = None
    vUnCom: Decimal | None = None
    vProd: Decimal | None = None
    cEANTrib: str | None = None
    cBarraTrib: str | None = None
    uTrib: str | None = None
    qTrib: Decimal | None = None
    vUnTrib: Decimal | None = None
    vFrete: Decimal | None = None
    vSeg: Decimal | None = None
    vDesc: Decimal | None = None
    vOutro: Decimal | None = None
    indTot: str | None = None
    indBemMovelUsado: str | None = None
    DI: tuple[ImportDeclaration, ...] = ()
    detExport: tuple[ExportDetail, ...] = ()
    xPed: str | None = None
    nItemPed: str | None = None
    nFCI: str | None = None
    rastro: tuple[Batch, ...] = ()
    # The layout's specific-product choice: at most one of these five is present.
    veicProd: VehicleProduct | None = None
    med: Medicine | None = None
    arma: tuple[Weapon, ...] = ()
    comb: Fuel | None = None
    nRECOPI: str | None = None


@record
class ImportAddition(Record):
    """``DI/adi``: one addition (adição) of an import declaration."""

    nAdicao: str | None = None
    nSeqAdic: str | None = None
    cFabricante: str | None = None
    vDescDI: Decimal | None = None
    nDraw: str | None = None


@record
class ImportDeclaration(Record):
    """``prod/DI``: the import declaration (DI, DSI, DIRE, DUImp) an imported item cleared customs with."""

    nDI: str | None = None
    dDI: date | None = None
    xLocDesemb: str | None = None
    UFDesemb: str | None = None
    dDesemb: date | None = None
    tpViaTransp: str | None = None
    vAFRMM: Decimal | None = None
    tpIntermedio: str | None = None
    CNPJ: str | None = None
    CPF: str | None = None
    UFTerceiro: str | None = None
    cExportador: str | None = None
    adi: tuple[ImportAddition, ...] = ()


@record
class IndirectExport(Record):
    """``detExport/exportInd``: an export through a trading company (registro de exportação)."""

    nRE: str | None = None
    chNFe: str | None = None
    qExport: Decimal | None = None


@record
class ExportDetail(Record):
    """``prod/detExport``: the drawback act and, for an indirect export, its registration."""

    nDraw: str | None = None
    exportInd: IndirectExport | None = None


@record
class Batch(Record):
    """``prod/rastro``: traceability of a batch (medicines, beverages...): lot, quantity, dates."""

    nLote: str | None = None
    qLote: Decimal | None = None
    dFab: date | None = None
    dVal: date | None = None
    cAgreg: str | None = None


@record
class VehicleProduct(Record):
    """``prod/veicProd``: a new vehicle (tpOp=2 is a direct sale, which changes vNF and vItem).

    The layout writes every field as a string code (``pot``, ``pesoL``, ``anoMod`` too), so they stay ``str``.
    """

    tpOp: str | None = None
    chassi: str | None = None
    cCor: str | None = None
    xCor: str | None = None
    pot: str | None = None
    cilin: str | None = None
    pesoL: str | None = None
    pesoB: str | None = None
    nSerie: str | None = None
    tpComb: str | None = None
    nMotor: str | None = None
    CMT: str | None = None
    dist: str | None = None
    anoMod: str | None = None
    anoFab: str | None = None
    tpPint: str | None = None
    tpVeic: str | None = None
    espVeic: str | None = None
    VIN: str | None = None
    condVeic: str | None = None
    cMod: str | None = None
    cCorDENATRAN: str | None = None
    lota: str | None = None
    tpRest: str | None = None


@record
class Medicine(Record):
    """``prod/med``: a medicine or pharmaceutical raw material (ANVISA code, maximum consumer price)."""

    cProdANVISA: str | None = None
    xMotivoIsencao: str | None = None
    vPMC: Decimal | None = None


@record
class Weapon(Record):
    """``prod/arma``: one firearm (type, serial numbers, description)."""

    tpArma: str | None = None
    nSerie: str | None = None
    nCano: str | None = None
    descr: str | None = None


@record
class FuelCide(Record):
    """``comb/CIDE``: the CIDE-Combustíveis contribution of a fuel item."""

    qBCProd: Decimal | None = None
    vAliqProd: Decimal | None = None
    vCIDE: Decimal | None = None


@record
class FuelPump(Record):
    """``comb/encerrante``: the pump meter readings of a retail fuel sale."""

    nBico: str | None = None
    nBomba: str | None = None
    nTanque: str | None = None
    vEncIni: Decimal | None = None
    vEncFin: Decimal | None = None


@record
class FuelOrigin(Record):
    """``comb/origComb``: where a share of the fuel came from (national or imported, and the UF)."""

    indImport: str | None = None
    cUFOrig: str | None = None
    pOrig: Decimal | None = None


@record
class Fuel(Record):
    """``prod/comb``: a fuel item (ANP product code, blend percentages, UF of consumption)."""

    cProdANP: str | None = None
    descANP: str | None = None
    pGLP: Decimal | None = None
    pGNn: Decimal | None = None
    pGNi: Decimal | None = None
    vPart: Decimal | None = None
    CODIF: str | None = None
    qTemp: Decimal | None = None
    UFCons: str | None = None
    CIDE: FuelCide | None = None
    encerrante: FuelPump | None = None
    pBio: Decimal | None = None
    origComb: tuple[FuelOrigin, ...] = ()


@record
class Icms(Record):
    """The one ICMS group present in ``imposto/ICMS`` (``group`` says which: ``ICMS00``, ``ICMSSN102``...).

    Every group shares one flat set of optional fields: which ones are present depends on the group.
    """

    group: str = ""
    orig: str | None = None
    CST: str | None = None
    CSOSN: str | None = None
    modBC: str | None = None
    pRedBC: Decimal | None = None
    cBenefRBC: str | None = None
    vBC: Decimal | None = None
    pICMS: Decimal | None = None
    vICMSOp: Decimal | None = None
    pDif: Decimal | None = None
    vICMSDif: Decimal | None = None
    vICMS: Decimal | None = None
    vBCFCP: Decimal | None = None
    pFCP: Decimal | None = None
    vFCP: Decimal | None = None
    pFCPDif: Decimal | None = None
    vFCPDif: Decimal | None = None
    vFCPEfet: Decimal | None = None
    modBCST: str | None = None
    pMVAST: Decimal | None = None
    pRedBCST: Decimal | None = None
    vBCST: Decimal | None = None
    pICMSST: Decimal | None = None
    vICMSST: Decimal | None = None
    vBCFCPST: Decimal | None = None
    pFCPST: Decimal | None = None
    vFCPST: Decimal | None = None
    UFST: str | None = None
    pBCOp: Decimal | None = None
    vICMSDeson: Decimal | None = None
    motDesICMS: str | None = None
    indDeduzDeson: str | None = None
    vICMSSTDeson: Decimal | None = None
    motDesICMSST: str | None = None
    vBCSTRet: Decimal | None = None
    pST: Decimal | None = None
    vICMSSubstituto: Decimal | None = None
    vICMSSTRet: Decimal | None = None
    vBCFCPSTRet: Decimal | None = None
    pFCPSTRet: Decimal | None = None
    vFCPSTRet: Decimal | None = None
    vBCSTDest: Decimal | None = None
    vICMSSTDest: Decimal | None = None
    pRedBCEfet: Decimal | None = None
    vBCEfet: Decimal | None = None
    pICMSEfet: Decimal | None = None
    vICMSEfet: Decimal | None = None
    qBCMono: Decimal | None = None
    adRemICMS: Decimal | None = None
    vICMSMono: Decimal | None = None
    vICMSMonoOp: Decimal | None = None
    vICMSMonoDif: Decimal | None = None
    qBCMonoReten: Decimal | None = None
    adRemICMSReten: Decimal | None = None
    vICMSMonoReten: Decimal | None = None
    pRedAdRem: Decimal | None = None
    motRedAdRem: str | None = None
    qBCMonoDif: Decimal | None = None
    adRemICMSDif: Decimal | None = None
    qBCMonoRet: Decimal | None = None
    adRemICMSRet: Decimal | None = None
    vICMSMonoRet: Decimal | None = None
    pCredSN: Decimal | None = None
    vCredICMSSN: Decimal | None = None


@record
class IcmsUfDest(Record):
    """``imposto/ICMSUFDest``: interstate sale to a final consumer (DIFAL)."""

    vBCUFDest: Decimal | None = None
    vBCFCPUFDest: Decimal | None = None
    pFCPUFDest: Decimal | None = None
    pICMSUFDest: Decimal | None = None
    pICMSInter: Decimal | None = None
    pICMSInterPart: Decimal | None = None
    vFCPUFDest: Decimal | None = None
    vICMSUFDest: Decimal | None = None
    vICMSUFRemet: Decimal | None = None


@record
class Ipi(Record):
    """``imposto/IPI``; ``group`` is ``IPITrib`` or ``IPINT``."""

    CNPJProd: str | None = None
    cSelo: str | None = None
    qSelo: str | None = None
    cEnq: str | None = None
    group: str = ""
    CST: str | None = None
    vBC: Decimal | None = None
    pIPI: Decimal | None = None
    qUnid: Decimal | None = None
    vUnid: Decimal | None = None
    vIPI: Decimal | None = None


@record
class Ii(Record):
    """``imposto/II`` (import duty)."""

    vBC: Decimal | None = None
    vDespAdu: Decimal | None = None
    vII: Decimal | None = None
    vIOF: Decimal | None = None


@record
class Pis(Record):
    """``imposto/PIS`` (``group``: PISAliq, PISQtde, PISNT, PISOutr) or ``PISST`` (group ``""``)."""

    group: str = ""
    CST: str | None = None
    vBC: Decimal | None = None
    pPIS: Decimal | None = None
    qBCProd: Decimal | None = None
    vAliqProd: Decimal | None = None
    vPIS: Decimal | None = None
    indSomaPISST: str | None = None


@record
class Cofins(Record):
    """``imposto/COFINS`` (``group``: COFINSAliq, COFINSQtde, COFINSNT, COFINSOutr) or ``COFINSST``."""

    group: str = ""
    CST: str | None = None
    vBC: Decimal | None = None
    pCOFINS: Decimal | None = None
    qBCProd: Decimal | None = None
    vAliqProd: Decimal | None = None
    vCOFINS: Decimal | None = None
    indSomaCOFINSST: str | None = None


@record
class Issqn(Record):
    """``imposto/ISSQN`` (service items)."""

    vBC: Decimal | None = None
    vAliq: Decimal | None = None
    vISSQN: Decimal | None = None
    cMunFG: str | None = None
    cListServ: str | None = None
    vDeducao: Decimal | None = None
    vOutro: Decimal | None = None
    vDescIncond: Decimal | None = None
    vDescCond: Decimal | None = None
    vISSRet: Decimal | None = None
    indISS: str | None = None
    cServico: str | None = None
    cMun: str | None = None
    cPais: str | None = None
    nProcesso: str | None = None
    indIncentivo: str | None = None


@record
class SelectiveTax(Record):
    """``imposto/IS`` (Imposto Seletivo, tax reform)."""

    CSTIS: str | None = None
    cClassTribIS: str | None = None
    vBCIS: Decimal | None = None
    pIS: Decimal | None = None
    adRemIS: Decimal | None = None
    uTrib: str | None = None
    qTrib: Decimal | None = None
    vIS: Decimal | None = None


@record
class Deferral(Record):
    """``gDif`` (XSD ``TDif``): the deferred (diferido) share of IBS UF, IBS Mun or CBS on an item."""

    pDif: Decimal | None = None
    vDif: Decimal | None = None


@record
class TaxReturn(Record):
    """``gDevTrib`` (XSD ``TDevTrib``): tax given back to the buyer (devolução de tributos, cashback)."""

    pDevTrib: Decimal | None = None
    vDevTrib: Decimal | None = None


@record
class RateReduction(Record):
    """``gRed`` (XSD ``TRed``): the reduction of the rate and the effective rate that results."""

    pRedAliq: Decimal | None = None
    pAliqEfet: Decimal | None = None


@record
class IbsCbsRate(Record):
    """``gIBSUF`` / ``gIBSMun`` / ``gCBS`` inside ``gIBSCBS``: one rate and its value.

    ``gDif``, ``gDevTrib`` and ``gRed`` sit between the rate and the value (XSD ``TCIBS_NFe``); their
    ``vDif`` / ``vDevTrib`` are summed into ``IBSCBSTot`` (rules 1077/1078, 1081/1082, 1088/1089).
    """

    pIBSUF: Decimal | None = None
    pIBSMun: Decimal | None = None
    pCBS: Decimal | None = None
    gDif: Deferral | None = None
    gDevTrib: TaxReturn | None = None
    gRed: RateReduction | None = None
    vIBSUF: Decimal | None = None
    vIBSMun: Decimal | None = None
    vCBS: Decimal | None = None


@record
class RegularTaxation(Record):
    """``gIBSCBS/gTribRegular`` (XSD ``TTribRegular``): what the regular regime would have charged."""

    CSTReg: str | None = None
    cClassTribReg: str | None = None
    pAliqEfetRegIBSUF: Decimal | None = None
    vTribRegIBSUF: Decimal | None = None
    pAliqEfetRegIBSMun: Decimal | None = None
    vTribRegIBSMun: Decimal | None = None
    pAliqEfetRegCBS: Decimal | None = None
    vTribRegCBS: Decimal | None = None


@record
class IbsCbsValues(Record):
    """``IBSCBS/gIBSCBS``: base and the IBS (state + municipal) and CBS values of the item."""

    vBC: Decimal | None = None
    gIBSUF: IbsCbsRate | None = None
    gIBSMun: IbsCbsRate | None = None
    vIBS: Decimal | None = None
    gCBS: IbsCbsRate | None = None
    gTribRegular: RegularTaxation | None = None


@record
class MonoStandard(Record):
    """``gMonoPadrao``: single-phase tax due on the operation, ad rem (quantity × rate per unit) or ad
    valorem (base × rate). One class for the IBS and CBS variants; each fills its own fields."""

    qBCMono: Decimal | None = None
    adRemIBS: Decimal | None = None
    adRemCBS: Decimal | None = None
    vBCMono: Decimal | None = None
    pAliqMonoUF: Decimal | None = None
    vIBSMonoUF: Decimal | None = None
    pAliqMonoMun: Decimal | None = None
    vIBSMonoMun: Decimal | None = None
    pAliqMonoCBS: Decimal | None = None
    vIBSMono: Decimal | None = None
    vCBSMono: Decimal | None = None


@record
class MonoWithholding(Record):
    """``gMonoReten``: single-phase tax withheld (sujeito a retenção) on this operation."""

    qBCMonoReten: Decimal | None = None
    adRemIBSReten: Decimal | None = None
    adRemCBSReten: Decimal | None = None
    vBCMonoReten: Decimal | None = None
    pAliqMonoReten: Decimal | None = None
    vIBSMonoReten: Decimal | None = None
    vCBSMonoReten: Decimal | None = None


@record
class MonoWithheldBefore(Record):
    """``gMonoRet``: single-phase tax already withheld earlier in the chain (retido anteriormente)."""

    vIBSMonoRet: Decimal | None = None
    vCBSMonoRet: Decimal | None = None


@record
class MonoBioDifference(Record):
    """``gpBioDiferenca``: the difference due on the biofuel share of a blend."""

    qBCBioComb: Decimal | None = None
    vIBSDiferenca: Decimal | None = None
    vCBSDiferenca: Decimal | None = None


@record
class MonoRegime(Record):
    """``gIBSMonoAdRem`` / ``gIBSMonoAdValorem`` / ``gCBSMonoAdRem`` / ``gCBSMonoAdValorem`` (XSD
    ``TMonofasia`` of this schema): the single-phase groups of one tax under one kind of rate."""

    gMonoPadrao: MonoStandard | None = None
    gMonoReten: MonoWithholding | None = None
    gMonoRet: MonoWithheldBefore | None = None
    gpBioDiferenca: MonoBioDifference | None = None


@record
class IbsCbsMono(Record):
    """``IBSCBS/gIBSCBSMono`` (XSD ``TMonofasia``): single-phase (monofásico) IBS/CBS of a fuel item.

    The IBS is either ad rem or ad valorem, and so is the CBS (a choice each); ``vTotIBSMonoItem`` and
    ``vTotCBSMonoItem`` are the item totals that enter vItem.
    """

    gIBSMonoAdRem: MonoRegime | None = None
    gIBSMonoAdValorem: MonoRegime | None = None
    gCBSMonoAdRem: MonoRegime | None = None
    gCBSMonoAdValorem: MonoRegime | None = None
    vTotIBSMonoItem: Decimal | None = None
    vTotCBSMonoItem: Decimal | None = None


@record
class CreditReversal(Record):
    """``gEstornoCred`` (XSD ``TEstornoCred``): IBS/CBS credit reversed (estornado); on the item and, as the
    sum of the items, in ``IBSCBSTot`` (rules 1176/1177)."""

    vIBSEstCred: Decimal | None = None
    vCBSEstCred: Decimal | None = None


@record
class PresumedCredit(Record):
    """``gIBSCredPres`` / ``gCBSCredPres`` (XSD ``TCredPres``): the rate and value of a presumed credit,
    or the value whose use is suspended (``vCredPresCondSus``): the XSD allows one of the two."""

    pCredPres: Decimal | None = None
    vCredPres: Decimal | None = None
    vCredPresCondSus: Decimal | None = None


@record
class PresumedCreditOperation(Record):
    """``IBSCBS/gCredPresOper`` (XSD ``TCredPresOper``): presumed credit (crédito presumido) of the item."""

    vBCCredPres: Decimal | None = None
    cCredPres: str | None = None
    gIBSCredPres: PresumedCredit | None = None
    gCBSCredPres: PresumedCredit | None = None


@record
class ZfmPresumedCredit(Record):
    """``IBSCBS/gCredPresIBSZFM`` (XSD ``TCredPresIBSZFM``): presumed IBS credit of the Manaus free zone."""

    competApur: str | None = None
    tpCredPresIBSZFM: str | None = None
    vCredPresIBSZFM: Decimal | None = None


@record
class IbsCbs(Record):
    """``imposto/IBSCBS`` (tax reform, NT 2025.002; XSD ``TTribNFe``)."""

    CST: str | None = None
    cClassTrib: str | None = None
    indDoacao: str | None = None
    gIBSCBS: IbsCbsValues | None = None
    gIBSCBSMono: IbsCbsMono | None = None
    gEstornoCred: CreditReversal | None = None
    gCredPresOper: PresumedCreditOperation | None = None
    gCredPresIBSZFM: ZfmPresumedCredit | None = None


@record
class Taxes(Record):
    """``det/imposto``."""

    vTotTrib: Decimal | None = None
    ICMS: Icms | None = None
    IPI: Ipi | None = None
    II: Ii | None = None
    ISSQN: Issqn | None = None
    PIS: Pis | None = None
    PISST: Pis | None = None
    COFINS: Cofins | None = None
    COFINSST: Cofins | None = None
    ICMSUFDest: IcmsUfDest | None = None
    IS: SelectiveTax | None = None
    IBSCBS: IbsCbs | None = None


@record
class IpiDevol(Record):
    vIPIDevol: Decimal | None = None


@record
class ReturnedTaxes(Record):
    """``det/impostoDevol``: IPI returned on a devolução."""

    pDevol: Decimal | None = None
    IPI: IpiDevol | None = None


@record
class Item(Record):
    """One ``det`` item."""

    nItem: int | None = None
    prod: Product | None = None
    imposto: Taxes | None = None
    impostoDevol: ReturnedTaxes | None = None
    infAdProd: str | None = None
    vItem: Decimal | None = None
    DFeReferenciado: ReferencedItem | None = None


@record
class ReferencedItem(Record):
    """``det/DFeReferenciado`` (NT 2025.002): the document, and optionally its item, this item refers to."""

    chaveAcesso: str | None = None
    nItem: int | None = None


# -------------------------------------------------------------------------------------------- totals


@record
class IcmsTotal(Record):
    """``total/ICMSTot``."""

    vBC: Decimal | None = None
    vICMS: Decimal | None = None
    vICMSDeson: Decimal | None = None
    vFCPUFDest: Decimal | None = None
    vICMSUFDest: Decimal | None = None
    vICMSUFRemet: Decimal | None = None
    vFCP: Decimal | None = None
    vBCST: Decimal | None = None
    vST: Decimal | None = None
    vFCPST: Decimal | None = None
    vFCPSTRet: Decimal | None = None
    qBCMono: Decimal | None = None
    vICMSMono: Decimal | None = None
    qBCMonoReten: Decimal | None = None
    vICMSMonoReten: Decimal | None = None
    qBCMonoRet: Decimal | None = None
    vICMSMonoRet: Decimal | None = None
    vProd: Decimal | None = None
    vFrete: Decimal | None = None
    vSeg: Decimal | None = None
    vDesc: Decimal | None = None
    vII: Decimal | None = None
    vIPI: Decimal | None = None
    vIPIDevol: Decimal | None = None
    vPIS: Decimal | None = None
    vCOFINS: Decimal | None = None
    vOutro: Decimal | None = None
    vNF: Decimal | None = None
    vTotTrib: Decimal | None = None


@record
class IssqnTotal(Record):
    """``total/ISSQNtot``."""

    vServ: Decimal | None = None
    vBC: Decimal | None = None
    vISS: Decimal | None = None
    vPIS: Decimal | None = None
    vCOFINS: Decimal | None = None
    dCompet: date | None = None
    vDeducao: Decimal | None = None
    vOutro: Decimal | None = None
    vDescIncond: Decimal | None = None
    vDescCond: Decimal | None = None
    vISSRet: Decimal | None = None
    cRegTrib: str | None = None


@record
class WithheldTaxes(Record):
    """``total/retTrib``."""

    vRetPIS: Decimal | None = None
    vRetCOFINS: Decimal | None = None
    vRetCSLL: Decimal | None = None
    vBCIRRF: Decimal | None = None
    vIRRF: Decimal | None = None
    vBCRetPrev: Decimal | None = None
    vRetPrev: Decimal | None = None


@record
class SelectiveTaxTotal(Record):
    """``total/ISTot``."""

    vIS: Decimal | None = None


@record
class IbsCbsGroupTotal(Record):
    """``gIBSUF``, ``gIBSMun``, ``gIBS`` and ``gCBS`` inside ``IBSCBSTot`` share these fields."""

    vDif: Decimal | None = None
    vDevTrib: Decimal | None = None
    vIBSUF: Decimal | None = None
    vIBSMun: Decimal | None = None
    vIBS: Decimal | None = None
    vCBS: Decimal | None = None
    vCredPres: Decimal | None = None
    vCredPresCondSus: Decimal | None = None
    gIBSUF: IbsCbsGroupTotal | None = None
    gIBSMun: IbsCbsGroupTotal | None = None


@record
class IbsCbsMonoTotal(Record):
    """``IBSCBSTot/gMono``."""

    vIBSMono: Decimal | None = None
    vCBSMono: Decimal | None = None
    vIBSMonoReten: Decimal | None = None
    vCBSMonoReten: Decimal | None = None
    vIBSMonoRet: Decimal | None = None
    vCBSMonoRet: Decimal | None = None


@record
class IbsCbsTotal(Record):
    """``total/IBSCBSTot`` (tax reform)."""

    vBCIBSCBS: Decimal | None = None
    gIBS: IbsCbsGroupTotal | None = None
    gCBS: IbsCbsGroupTotal | None = None
    gMono: IbsCbsMonoTotal | None = None
    gEstornoCred: CreditReversal | None = None


@record
class Totals(Record):
    """``total``."""

    ICMSTot: IcmsTotal | None = None
    ISSQNtot: IssqnTotal | None = None
    retTrib: WithheldTaxes | None = None
    ISTot: SelectiveTaxTotal | None = None
    IBSCBSTot: IbsCbsTotal | None = None
    vNFTot: Decimal | None = None


# ----------------------------------------------------------------------------------------- transport


@record
class Carrier(Record):
    """``transp/transporta``."""

    CNPJ: str | None = None
    CPF: str | None = None
    xNome: str | None = None
    IE: str | None = None
    xEnder: str | None = None
    xMun: str | None = None
    UF: str | None = None


@record
class Vehicle(Record):
    """``veicTransp`` / ``reboque``."""

    placa: str | None = None
    UF: str | None = None
    RNTC: str | None = None


@record
class Seal(Record):
    nLacre: str | None = None


@record
class Volume(Record):
    """``transp/vol``."""

    qVol: str | None = None
    esp: str | None = None
    marca: str | None = None
    nVol: str | None = None
    pesoL: Decimal | None = None
    pesoB: Decimal | None = None
    lacres: tuple[Seal, ...] = ()


@record
class TransportWithholding(Record):
    """``transp/retTransp``: ICMS withheld on the freight service (retenção do ICMS do transporte)."""

    vServ: Decimal | None = None
    vBCRet: Decimal | None = None
    pICMSRet: Decimal | None = None
    vICMSRet: Decimal | None = None
    CFOP: str | None = None
    cMunFG: str | None = None


@record
class Transport(Record):
    """``transp``."""

    modFrete: str | None = None
    transporta: Carrier | None = None
    retTransp: TransportWithholding | None = None
    veicTransp: Vehicle | None = None
    reboque: tuple[Vehicle, ...] = ()
    vagao: str | None = None
    balsa: str | None = None
    vol: tuple[Volume, ...] = ()


# ------------------------------------------------------------------------------------------ payment


@record
class Invoice(Record):
    """``cobr/fat``."""

    nFat: str | None = None
    vOrig: Decimal | None = None
    vDesc: Decimal | None = None
    vLiq: Decimal | None = None


@record
class Installment(Record):
    """``cobr/dup``."""

    nDup: str | None = None
    dVenc: date | None = None
    vDup: Decimal | None = None


@record
class Billing(Record):
    """``cobr``."""

    fat: Invoice | None = None
    dup: tuple[Installment, ...] = ()


@record
class Card(Record):
    """``detPag/card``."""

    tpIntegra: str | None = None
    CNPJ: str | None = None
    tBand: str | None = None
    cAut: str | None = None
    CNPJReceb: str | None = None
    idTermPag: str | None = None


@record
class PaymentDetail(Record):
    """``pag/detPag``."""

    indPag: str | None = None
    tPag: str | None = None
    xPag: str | None = None
    vPag: Decimal | None = None
    dPag: date | None = None
    CNPJPag: str | None = None
    UFPag: str | None = None
    card: Card | None = None


@record
class Payment(Record):
    """``pag``."""

    detPag: tuple[PaymentDetail, ...] = ()
    vTroco: Decimal | None = None


# -------------------------------------------------------------------------------------------- other


@record
class Intermediary(Record):
    """``infIntermed``: the marketplace or platform the sale went through."""

    CNPJ: str | None = None
    idCadIntTran: str | None = None


@record
class Observation(Record):
    xCampo: str | None = None
    xTexto: str | None = None


@record
class AdditionalInfo(Record):
    """``infAdic``."""

    infAdFisco: str | None = None
    infCpl: str | None = None
    obsCont: tuple[Observation, ...] = ()
    obsFisco: tuple[Observation, ...] = ()


@record
class Purchase(Record):
    """``compra``: the buyer's purchase order references."""

    xNEmp: str | None = None
    xPed: str | None = None
    xCont: str | None = None


@record
class Export(Record):
    """``exporta``: where the exported goods leave the country and are cleared."""

    UFSaidaPais: str | None = None
    xLocExporta: str | None = None
    xLocDespacho: str | None = None


@record
class CaneDeduction(Record):
    """``cana/deduc``: one deduction from the value of the sugar cane supplied."""

    xDed: str | None = None
    vDed: Decimal | None = None


@record
class SugarCane(Record):
    """``cana``: acquisition of sugar cane (month's supply and deductions).

    The daily supply ``forDia`` is left out: its day is an attribute (``@dia``), which the parser reads only
    for the classes listed in ``parse._ATTRIBUTES``.
    """

    safra: str | None = None
    ref: str | None = None
    qTotMes: Decimal | None = None
    qTotAnt: Decimal | None = None
    qTotGer: Decimal | None = None
    deduc: tuple[CaneDeduction, ...] = ()
    vFor: Decimal | None = None
    vTotDed: Decimal | None = None
    vLiqFor: Decimal | None = None


@record
class NffRequest(Record):
    """``infSolicNFF``: the request of an NF-e issued through the Nota Fiscal Fácil (NFF) app."""

    xSolic: str | None = None


@record
class TechnicalResponsible(Record):
    """``infRespTec``."""

    CNPJ: str | None = None
    xContato: str | None = None
    email: str | None = None
    fone: str | None = None
    idCSRT: str | None = None
    hashCSRT: str | None = None


@record
class Supplement(Record):
    """``infNFeSupl`` (NFC-e QR code)."""

    qrCode: str | None = None
    urlChave: str | None = None


@record
class InfNFe(Record):
    """``infNFe``: the signed content of the NF-e."""

    Id: str | None = None
    versao: str | None = None
    ide: Ide | None = None
    emit: Emitter | None = None
    dest: Recipient | None = None
    retirada: Location | None = None
    entrega: Location | None = None
    autXML: tuple[AuthorizedParty, ...] = ()
    det: tuple[Item, ...] = ()
    total: Totals | None = None
    transp: Transport | None = None
    cobr: Billing | None = None
    pag: Payment | None = None
    infIntermed: Intermediary | None = None
    infAdic: AdditionalInfo | None = None
    exporta: Export | None = None
    compra: Purchase | None = None
    cana: SugarCane | None = None
    infRespTec: TechnicalResponsible | None = None
    infSolicNFF: NffRequest | None = None


@record
class Protocol(Record):
    """``protNFe/infProt``: SEFAZ's answer that authorised (or denied) the NF-e."""

    Id: str | None = None
    tpAmb: str | None = None
    verAplic: str | None = None
    chNFe: str | None = None
    dhRecbto: datetime | None = None
    nProt: str | None = None
    digVal: str | None = None
    cStat: str | None = None
    xMotivo: str | None = None
    cMsg: str | None = None
    xMsg: str | None = None

    @property
    def authorized(self) -> bool:
        """cStat 100 (authorised) or 150 (authorised late)."""
        return self.cStat in {"100", "150"}


@record
class ParseIssue(Record):
    """A value the parser could not convert to its type (kept as None in the model)."""

    xpath: str
    value: str
    expected: str


@record
class NFeDocument(Record):
    """An NF-e or NFC-e as read from an ``NFe`` or ``nfeProc`` document.

    ``raw`` is the exact input; ``root_tag`` says which envelope it came in. ``issues`` lists values
    the parser could not convert (validation reports them).
    """

    raw: bytes
    root_tag: str
    infNFe: InfNFe
    infNFeSupl: Supplement | None = None
    protocol: Protocol | None = None
    issues: tuple[ParseIssue, ...] = ()
    source: str | None = None

    @property
    def access_key(self) -> str | None:
        """The 44 characters of ``infNFe/@Id`` after ``NFe`` (not judged here)."""
        identifier = self.infNFe.Id
        if identifier and identifier.startswith("NFe"):
            return identifier[3:]
        return identifier

    @property
    def ide(self) -> Ide:
        return self.infNFe.ide or Ide()

    @property
    def emit(self) -> Emitter:
        return self.infNFe.emit or Emitter()

    @property
    def dest(self) -> Recipient | None:
        return self.infNFe.dest

    @property
    def items(self) -> tuple[Item, ...]:
        return self.infNFe.det

    @property
    def totals(self) -> IcmsTotal:
        total = self.infNFe.total
        return (total.ICMSTot if total else None) or IcmsTotal()

    @property
    def model(self) -> str | None:
        return self.ide.mod

    @property
    def is_nfce(self) -> bool:
        return self.ide.mod == "65"
