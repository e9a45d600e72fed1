"""NFC-e (model 65) rules: a consumer sale at the counter, printed as a DANFE NFC-e with a QR code.

The NFC-e is a narrow document: no exit date, no inbound or interstate operations, no freight unless it
is a home delivery, no billing, no purchase data, a short list of CFOP/CST/CSOSN, and a QR code in
infNFeSupl. Sources: MOC 7.0 rules B10-10 (705), B11 (706), B11a (707), B21 (709/710), B25 (715, 716,
717, 794), BA01 (708, with NT 2025.002 VC02-04 for the item's DFeReferenciado), C18 (718), E17/E18/E16a
(729, 730, 789), X02-X25 (753, 754, 756-759, 786), Y01 (760), ZB01 (762), I17b (774), N12-30/N12a-20
(766/383), I08-150 (725), B22 (782/783), the item groups an NFC-e cannot carry (layout groups J, K, L, LA,
LB, N12-50, O, P, R, T), ZX01/ZX02 (393, 394, 397), retTransp (755) and cana (763); ACBr
``ValidarRegrasdeNegocio``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Final

from ..findings import Finding, Severity
from ..model import Item, NFeDocument
from ._common import envelope_path
from .base import NFCE_ONLY, NFE_ONLY, POLICY, RuleContext, finding, rule

NFCE_DANFE: Final = frozenset({"4", "5"})  # tpImp: DANFE NFC-e, DANFE NFC-e em mensagem eletrônica
IN_PERSON: Final = "1"
HOME_DELIVERY: Final = "4"
NO_FREIGHT: Final = "9"
# MOC I08-150 (NT 2015.002) plus 5.949 (ACBr's list). Tables change: 725 is a warning here.
NFCE_CFOPS: Final = frozenset({"5101", "5102", "5103", "5104", "5115", "5405", "5656", "5667", "5933", "5949"})
# MOC N12-30 allows CST 00, 20, 40, 41, 60 (90 at the UF's discretion); ACBr rejects these:
NFCE_FORBIDDEN_CST: Final = frozenset({"10", "30", "50", "51", "70"})
# MOC N12a-20 allows CSOSN 102, 103, 300, 400, 500 (900 at the UF's discretion), so these are refused:
NFCE_FORBIDDEN_CSOSN: Final = frozenset({"101", "201", "202", "203"})


def _nfce(doc: NFeDocument) -> bool:
    return doc.ide.mod == "65"


@rule(
    ("nfce.dhsaient", "705"),
    ("nfce.tpnf", "706"),
    ("nfce.iddest", "707"),
    kind=POLICY,
    models=NFCE_ONLY,
    description="an NFC-e has no exit date and is an outgoing, internal operation",
)
def check_operation(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC B10-10 (705), B11-10 (706: tpNF=0) and B11a-10 (707: idDest ≠ 1)."""
    if not _nfce(doc):
        return
    ide = doc.ide
    if ide.dhSaiEnt is not None:
        yield finding(
            "nfce.dhsaient",
            "705",
            "NFC-e has an exit/entry date (dhSaiEnt), expected none",
            ctx.path("ide/dhSaiEnt"),
        )
    if ide.tpNF == "0":
        yield finding("nfce.tpnf", "706", "NFC-e has tpNF 0 (inbound), expected 1 (outgoing)", ctx.path("ide/tpNF"))
    if ide.idDest is not None and ide.idDest != "1":
        yield finding(
            "nfce.iddest",
            "707",
            f"NFC-e has idDest {ide.idDest} (interstate or abroad), expected 1 (internal)",
            ctx.path("ide/idDest"),
        )


@rule(
    ("nfce.tpimp", "709"),
    ("nfce.tpimp_on_nfe", "710"),
    kind=POLICY,
    description="tpImp is 4 or 5 (DANFE NFC-e) exactly on the NFC-e",
)
def check_danfe_format(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC B21-10 (709: an NFC-e prints a DANFE NFC-e) and B21-20 (710: an NF-e must not)."""
    ide = doc.ide
    if ide.tpImp is None:
        return
    if ide.mod == "65" and ide.tpImp not in NFCE_DANFE:
        yield finding(
            "nfce.tpimp",
            "709",
            f"NFC-e has tpImp {ide.tpImp}, expected 4 or 5 (DANFE NFC-e)",
            ctx.path("ide/tpImp"),
        )
    elif ide.mod == "55" and ide.tpImp in NFCE_DANFE:
        yield finding(
            "nfce.tpimp_on_nfe",
            "710",
            f"NF-e has tpImp {ide.tpImp}, which is an NFC-e DANFE format",
            ctx.path("ide/tpImp"),
        )


@rule(
    ("nfce.finnfe", "715"),
    ("nfce.indfinal", "716"),
    ("nfce.indpres", "717"),
    kind=POLICY,
    models=NFCE_ONLY,
    description="an NFC-e is a normal sale (finNFe 1) to a final consumer, in person or delivered home",
)
def check_consumer_sale(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC B25-20 (715), B25a-10 (716) and B25b-20 (717: indPres other than 1 or 4)."""
    if not _nfce(doc):
        return
    ide = doc.ide
    if ide.finNFe is not None and ide.finNFe != "1":
        yield finding(
            "nfce.finnfe",
            "715",
            f"NFC-e has finNFe {ide.finNFe}, expected 1 (normal)",
            ctx.path("ide/finNFe"),
        )
    if ide.indFinal == "0":
        yield finding(
            "nfce.indfinal",
            "716",
            "NFC-e has indFinal 0, expected 1 (final consumer)",
            ctx.path("ide/indFinal"),
        )
    if ide.indPres is not None and ide.indPres not in {IN_PERSON, HOME_DELIVERY}:
        yield finding(
            "nfce.indpres",
            "717",
            f"NFC-e has indPres {ide.indPres}, expected 1 (in person) or 4 (home delivery)",
            ctx.path("ide/indPres"),
        )


@rule(
    ("nfce.indpres_on_nfe", "794"),
    kind=POLICY,
    models=NFE_ONLY,
    description="indPres 4 (NFC-e home delivery) is not used on an NF-e",
)
def check_home_delivery_on_nfe(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC B25b-10 (794)."""
    if doc.ide.mod == "55" and doc.ide.indPres == HOME_DELIVERY:
        yield finding(
            "nfce.indpres_on_nfe",
            "794",
            "NF-e has indPres 4, which means an NFC-e home delivery",
            ctx.path("ide/indPres"),
        )


@rule(
    ("nfce.nfref", "708"),
    kind=POLICY,
    models=NFCE_ONLY,
    description="an NFC-e references no other fiscal document (NFref, DFeReferenciado)",
)
def check_references(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC BA01-10 (708) for ``ide/NFref``, and NT 2025.002 VC02-04 (same code) for an item's
    ``det/DFeReferenciado`` (offline-rules §H): one finding for NFref, one per referencing item."""
    if not _nfce(doc):
        return
    if doc.ide.NFref:
        yield finding(
            "nfce.nfref",
            "708",
            f"NFC-e references {len(doc.ide.NFref)} document(s) (NFref), expected none",
            ctx.path("ide/NFref"),
        )
    for index, item in enumerate(doc.items, start=1):
        if item.DFeReferenciado is not None:
            yield finding(
                "nfce.nfref",
                "708",
                f"NFC-e item {index} references document {item.DFeReferenciado.chaveAcesso} (DFeReferenciado), "
                "expected none",
                ctx.path(f"det[{index}]/DFeReferenciado"),
            )


@rule(
    ("nfce.iest", "718"),
    ("nfce.dest_ie", "729"),
    ("nfce.dest_isuf", "730"),
    ("nfce.dest_contributor", "789"),
    kind=POLICY,
    models=NFCE_ONLY,
    description="an NFC-e has no substitute IE, and its recipient is a non-contributor without IE or SUFRAMA",
)
def check_parties(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC C18-10 (718), E17-10 (729), E18-10 (730) and E16a-10 (789: indIEDest ≠ 9)."""
    if not _nfce(doc):
        return
    if doc.emit.IEST is not None:
        yield finding(
            "nfce.iest",
            "718",
            "NFC-e informs the emitter's IE as tax substitute (IEST), expected none",
            ctx.path("emit/IEST"),
        )
    dest = doc.dest
    if dest is None:
        return
    if dest.IE is not None:
        yield finding("nfce.dest_ie", "729", "NFC-e informs the recipient's IE, expected none", ctx.path("dest/IE"))
    if dest.ISUF is not None:
        yield finding(
            "nfce.dest_isuf",
            "730",
            "NFC-e informs the recipient's SUFRAMA registration, expected none",
            ctx.path("dest/ISUF"),
        )
    if dest.indIEDest is not None and dest.indIEDest != "9":
        yield finding(
            "nfce.dest_contributor",
            "789",
            f"NFC-e recipient has indIEDest {dest.indIEDest} (ICMS contributor), expected 9 (non-contributor)",
            ctx.path("dest/indIEDest"),
        )


@rule(
    ("nfce.freight", "753"),
    ("nfce.carrier", "754"),
    ("nfce.delivery_carrier", "786"),
    kind=POLICY,
    models=NFCE_ONLY,
    description="an NFC-e has freight and a carrier only on home delivery (indPres 4), and then a carrier",
)
def check_freight(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC X02-10 (753: modFrete ≠ 9 without home delivery), X03-10 (754) and X03-20 (786)."""
    transp = doc.infNFe.transp
    if not _nfce(doc) or transp is None:
        return
    delivery = doc.ide.indPres == HOME_DELIVERY
    if delivery:
        if transp.transporta is None:
            yield finding(
                "nfce.delivery_carrier",
                "786",
                "NFC-e home delivery (indPres 4) has no carrier (transp/transporta)",
                ctx.path("transp"),
            )
        return
    if transp.modFrete is not None and transp.modFrete != NO_FREIGHT:
        yield finding(
            "nfce.freight",
            "753",
            f"NFC-e has modFrete {transp.modFrete} but is not a home delivery, expected 9",
            ctx.path("transp/modFrete"),
        )
    if transp.transporta is not None:
        yield finding(
            "nfce.carrier",
            "754",
            "NFC-e has a carrier (transp/transporta) but is not a home delivery",
            ctx.path("transp/transporta"),
        )


@rule(
    ("nfce.vehicle", "756"),
    ("nfce.trailer", "757"),
    ("nfce.wagon", "758"),
    ("nfce.ferry", "759"),
    ("nfce.ret_transp", "755"),
    kind=POLICY,
    models=NFCE_ONLY,
    description="an NFC-e has no vehicle, trailer, wagon, ferry or freight ICMS withholding in transp",
)
def check_transport_means(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC X18-10 (756), X22-10 (757), X25a-10 (758), X25b-10 (759) and 755 (ACBr: ``retTransp``, layout
    group X11, the ICMS withheld on the freight, which a counter sale never has)."""
    transp = doc.infNFe.transp
    if not _nfce(doc) or transp is None:
        return
    for code, sefaz, present, tag in (
        ("nfce.ret_transp", "755", transp.retTransp is not None, "retTransp"),
        ("nfce.vehicle", "756", transp.veicTransp is not None, "veicTransp"),
        ("nfce.trailer", "757", bool(transp.reboque), "reboque"),
        ("nfce.wagon", "758", transp.vagao is not None, "vagao"),
        ("nfce.ferry", "759", transp.balsa is not None, "balsa"),
    ):
        if present:
            yield finding(
                code,
                sefaz,
                f"NFC-e has transport data transp/{tag}, expected none",
                ctx.path(f"transp/{tag}"),
            )


# (infNFe group, code, SEFAZ code, what it is): groups that belong to sales between businesses.
_COMMERCIAL_GROUPS: Final = (
    ("cobr", "nfce.billing", "760", "billing data (cobr: fatura, duplicatas)"),
    ("compra", "nfce.purchase", "762", "purchase data (compra: empenho, pedido, contrato)"),
    ("cana", "nfce.cane", "763", "sugar cane acquisition data (cana)"),
)


@rule(
    ("nfce.billing", "760"),
    ("nfce.purchase", "762"),
    ("nfce.cane", "763"),
    kind=POLICY,
    models=NFCE_ONLY,
    description="an NFC-e has no billing (cobr), no purchase data (compra) and no sugar cane acquisition (cana)",
)
def check_commercial_groups(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC Y01-10 (760), ZB01-10 (762) and 763 (ACBr: ``cana``, layout group ZC01, the monthly supply of
    sugar cane to a mill, a sale between businesses)."""
    if not _nfce(doc):
        return
    for group, code, sefaz, what in _COMMERCIAL_GROUPS:
        if getattr(doc.infNFe, group) is not None:
            yield finding(code, sefaz, f"NFC-e has {what}, expected none", ctx.path(group))


@rule(
    ("nfce.indtot", "774"),
    ("nfce.cst", "766"),
    ("nfce.csosn", "383"),
    kind=POLICY,
    models=NFCE_ONLY,
    description="NFC-e items all count in the total and use the ICMS CST/CSOSN allowed at the counter",
)
def check_item_taxation(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC I17b-10 (774: indTot=0), N12-30 (766: CST 10, 30, 50, 51, 70) and N12a-20 (383: CSOSN 101,
    201, 202, 203)."""
    if not _nfce(doc):
        return
    for index, item in enumerate(doc.items, start=1):
        prod, taxes = item.prod, item.imposto
        if prod is not None and prod.indTot == "0":
            yield finding(
                "nfce.indtot",
                "774",
                f"NFC-e item {index} has indTot 0 (not in the total), expected 1",
                ctx.path(f"det[{index}]/prod/indTot"),
            )
        icms = taxes.ICMS if taxes is not None else None
        if icms is None:
            continue
        if icms.CST in NFCE_FORBIDDEN_CST:
            yield finding(
                "nfce.cst",
                "766",
                f"NFC-e item {index} has ICMS CST {icms.CST}, which an NFC-e cannot use",
                ctx.path(f"det[{index}]/imposto/ICMS/{icms.group}/CST"),
            )
        if icms.CSOSN in NFCE_FORBIDDEN_CSOSN:
            yield finding(
                "nfce.csosn",
                "383",
                f"NFC-e item {index} has CSOSN {icms.CSOSN}, which an NFC-e cannot use",
                ctx.path(f"det[{index}]/imposto/ICMS/{icms.group}/CSOSN"),
            )


@rule(
    ("nfce.cfop", "725", Severity.WARNING),
    kind=POLICY,
    models=NFCE_ONLY,
    description="NFC-e items use a CFOP from the NFC-e list",
)
def check_item_cfop(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC I08-150 (725). The accepted list is a table the MOC revises, so this is a warning."""
    if not _nfce(doc):
        return
    for index, item in enumerate(doc.items, start=1):
        cfop = item.prod.CFOP if item.prod is not None else None
        if cfop is not None and cfop not in NFCE_CFOPS:
            yield finding(
                "nfce.cfop",
                "725",
                f"NFC-e item {index} has CFOP {cfop}, expected one of {', '.join(sorted(NFCE_CFOPS))}",
                ctx.path(f"det[{index}]/prod/CFOP"),
                Severity.WARNING,
            )


_ERROR, _WARNING = Severity.ERROR, Severity.WARNING
# (code, sefaz, severity, group shown in messages, path below det[i], predicate on the item).
# 737 (med) and 739 (comb) are warnings: offline-rules §H lists neither, and while ACBr's older rule set
# rejected both, its current one keeps 737 but dropped 739. Pharmacies and filling stations sell to
# consumers, and the fuel group's pump readings (encerrante) exist precisely for the retail sale at the
# pump, so SEFAZ may well accept them: we point them out without failing the document.
_FORBIDDEN_ITEM_GROUPS: Final[tuple[tuple[str, str, Severity, str, str, Callable[[Item], bool]], ...]] = (
    ("nfce.item_vehicle", "736", _ERROR, "new-vehicle group (veicProd)", "prod/veicProd",
     lambda item: item.prod is not None and item.prod.veicProd is not None),
    ("nfce.item_medicine", "737", _WARNING, "medicine group (med)", "prod/med",
     lambda item: item.prod is not None and item.prod.med is not None),
    ("nfce.item_weapon", "738", _ERROR, "weapon group (arma)", "prod/arma",
     lambda item: item.prod is not None and bool(item.prod.arma)),
    ("nfce.item_fuel", "739", _WARNING, "fuel group (comb)", "prod/comb",
     lambda item: item.prod is not None and item.prod.comb is not None),
    ("nfce.item_recopi", "348", _ERROR, "RECOPI immune-paper number (nRECOPI)", "prod/nRECOPI",
     lambda item: item.prod is not None and item.prod.nRECOPI is not None),
    ("nfce.item_icms_part", "741", _ERROR, "ICMS sharing between states (ICMSPart)", "imposto/ICMS/ICMSPart",
     lambda item: item.imposto is not None and item.imposto.ICMS is not None
     and item.imposto.ICMS.group == "ICMSPart"),
    ("nfce.item_icms_uf_dest", "807", _ERROR, "ICMS for the destination state (ICMSUFDest)", "imposto/ICMSUFDest",
     lambda item: item.imposto is not None and item.imposto.ICMSUFDest is not None),
    ("nfce.item_ipi", "742", _ERROR, "IPI group", "imposto/IPI",
     lambda item: item.imposto is not None and item.imposto.IPI is not None),
    ("nfce.item_ii", "743", _ERROR, "import duty group (II)", "imposto/II",
     lambda item: item.imposto is not None and item.imposto.II is not None),
    ("nfce.item_pis_st", "746", _ERROR, "PIS-ST group", "imposto/PISST",
     lambda item: item.imposto is not None and item.imposto.PISST is not None),
    ("nfce.item_cofins_st", "749", _ERROR, "COFINS-ST group", "imposto/COFINSST",
     lambda item: item.imposto is not None and item.imposto.COFINSST is not None),
)  # fmt: skip


@rule(
    *((code, sefaz, severity) for code, sefaz, severity, _, _, _ in _FORBIDDEN_ITEM_GROUPS),
    kind=POLICY,
    models=NFCE_ONLY,
    description="NFC-e items carry no veicProd, arma, nRECOPI, ICMSPart, ICMSUFDest, IPI, II, PISST or COFINSST "
    "(med and comb: warnings)",
)
def check_item_groups(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC J01-10 (736), 737 (med, warning), 738 (arma), 739 (comb, warning), LB01-10 (348), N12-50 (741),
    807, O01 (742), P01 (743), R01 (746), T01 (749). See :data:`_FORBIDDEN_ITEM_GROUPS` for the warnings."""
    if not _nfce(doc):
        return
    for index, item in enumerate(doc.items, start=1):
        for code, sefaz, severity, label, where, present in _FORBIDDEN_ITEM_GROUPS:
            if present(item):
                yield finding(
                    code,
                    sefaz,
                    f"NFC-e item {index} has the {label}, expected none",
                    ctx.path(f"det[{index}]/{where}"),
                    severity,
                )


@rule(
    ("nfce.scan", "782"),
    ("nfce.svc", "783"),
    kind=POLICY,
    models=NFCE_ONLY,
    description="an NFC-e is not issued in SCAN (tpEmis 3) or SVC (tpEmis 6/7) contingency",
)
def check_contingency_mode(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC 782 and B22-70 (783): the SCAN and SVC authorisers do not take NFC-e (its contingency is 9)."""
    if not _nfce(doc):
        return
    mode = doc.ide.tpEmis
    if mode == "3":
        yield finding(
            "nfce.scan",
            "782",
            "NFC-e has tpEmis 3 (SCAN), which does not authorise NFC-e; expected 1 or 9",
            ctx.path("ide/tpEmis"),
        )
    elif mode in {"6", "7"}:
        yield finding(
            "nfce.svc",
            "783",
            f"NFC-e has tpEmis {mode} (SVC), which does not authorise NFC-e; expected 1 or 9",
            ctx.path("ide/tpEmis"),
        )


_QR_V2_PARAMETERS: Final = re.compile(r"[?&]p=([^&|]*)\|")  # version 2: ?p=chave|2|tpAmb|...
_QR_V1_KEY: Final = re.compile(r"[?&]chNFe=([^&]*)")  # version 100: ?chNFe=...&nVersao=100&...


def qr_code_key(qr_code: str) -> str | None:
    """The access key a QR code URL names (the first parameter of version 2, chNFe in version 100)."""
    match = _QR_V2_PARAMETERS.search(qr_code) or _QR_V1_KEY.search(qr_code)
    return match.group(1).strip().upper() if match else None


@rule(
    ("nfce.qrcode", "394"),
    ("nfce.qrcode_key", "397"),
    ("nfce.supplement_on_nfe", "393"),
    kind=POLICY,
    description="an NFC-e carries infNFeSupl/qrCode naming its own access key; an NF-e has no infNFeSupl",
)
def check_qr_code(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC ZX02-10 (394: no QR code), ZX02-228 (397: the key parameter, first in version 2, differs from
    the access key) and ZX01-10 (393: infNFeSupl on model 55). The hash (464) needs the CSC: not offline."""
    supplement = doc.infNFeSupl
    if doc.ide.mod == "55":
        if supplement is not None:
            yield finding(
                "nfce.supplement_on_nfe",
                "393",
                "NF-e carries infNFeSupl (QR code), which belongs to the NFC-e",
                envelope_path(ctx, "infNFeSupl"),
            )
        return
    if not _nfce(doc):
        return
    qr_code = supplement.qrCode.strip() if supplement is not None and supplement.qrCode else ""
    if not qr_code:
        yield finding(
            "nfce.qrcode",
            "394",
            "NFC-e has no QR code (infNFeSupl/qrCode)",
            envelope_path(ctx, "infNFeSupl/qrCode"),
        )
        return
    named, key = qr_code_key(qr_code), doc.access_key
    if named is not None and key is not None and named != key:
        yield finding(
            "nfce.qrcode_key",
            "397",
            f"QR code names access key {named!r}, expected {key}",
            envelope_path(ctx, "infNFeSupl/qrCode"),
        )
