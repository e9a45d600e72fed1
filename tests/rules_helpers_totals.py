"""Helpers shared by the item, totals and reform rule tests.

The tests build a valid document with :mod:`nfe_invoice.testing.builder`, change one thing in its XML
(:class:`Edit`), parse it and run the rules, then look only at the findings of the three families under
test (:data:`FAMILIES`), so another family's opinion of the same document never interferes.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from lxml import etree

from nfe_invoice import parse
from nfe_invoice.errors import InputError
from nfe_invoice.findings import Finding, Severity
from nfe_invoice.model import NFeDocument
from nfe_invoice.rules import RULES, RuleContext, run_rules
from nfe_invoice.testing.builder import build_nfe, default_spec

from .paths import FIXTURES

NS = "http://www.portalfiscal.inf.br/nfe"
FAMILIES = ("item.", "totals.", "reform.")
MODULES = ("items", "totals", "reform")
CENT = Decimal("0.01")


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def findings_of(source: bytes | NFeDocument) -> list[Finding]:
    """The findings of the item, totals and reform families for a document (bytes are parsed first)."""
    document = parse(source) if isinstance(source, bytes) else source
    return [f for f in run_rules(document, RuleContext()) if f.code.startswith(FAMILIES)]


def sefaz_of(source: bytes | NFeDocument) -> set[str]:
    """The set of SEFAZ codes our families report (every one of our findings carries one)."""
    return {str(f.sefaz) for f in findings_of(source)}


def errors_of(source: bytes | NFeDocument) -> list[Finding]:
    return [f for f in findings_of(source) if f.severity is Severity.ERROR]


def own_rules_only(document: NFeDocument) -> list[Finding]:
    """Run only the rules of our three modules (for documents other families may choke on)."""
    found: list[Finding] = []
    for entry in RULES:
        if entry.check.__module__.rsplit(".", 1)[-1] in MODULES:
            found.extend(entry.check(document, RuleContext()))
    return found


def nfe_files(paths: Iterable[Path]) -> list[Path]:
    """The files among ``paths`` that the parser reads as an NF-e 4.00 (the others are events, other layouts
    or broken on purpose, judged by the parser's own tests)."""
    readable = []
    for path in paths:
        try:
            parse(path)
        except InputError:
            continue
        readable.append(path)
    return readable


def readable_fixtures() -> list[Path]:
    """Every fixture that is an NF-e 4.00."""
    return nfe_files(sorted(FIXTURES.rglob("*.xml")))


def valid(items: int = 3, **changes: object) -> bytes:
    """A valid unsigned NFe from the builder (ICMS00 items, exact totals)."""
    return build_nfe(default_spec(items, **changes))


def _xpath(path: str) -> str:
    """``det[2]/prod/vProd`` -> ``n:det[2]/n:prod/n:vProd`` (positions stay as written)."""
    return "/".join(f"n:{step}" for step in path.split("/"))


class Edit:
    """One XML document being changed; paths are relative to ``infNFe`` (``det[1]/prod/vProd``)."""

    def __init__(self, xml: bytes) -> None:
        self.root = etree.fromstring(xml)
        inf = self.root.find(f".//{{{NS}}}infNFe")
        assert inf is not None
        self.inf = inf

    def find(self, path: str) -> etree._Element | None:
        return self.inf.find(_xpath(path), {"n": NS})

    def get(self, path: str) -> etree._Element:
        element = self.find(path)
        assert element is not None, path
        return element

    def value(self, path: str) -> Decimal:
        """The decimal in ``path`` (zero when the element is absent)."""
        element = self.find(path)
        return Decimal(element.text or "0") if element is not None else Decimal(0)

    def ensure(self, path: str) -> etree._Element:
        """The element at ``path``, creating it (and any missing parent) at the end of its parent."""
        node = self.inf
        for step in path.split("/"):
            found = node.find(f"n:{step}", {"n": NS})
            if found is None:
                assert "[" not in step, f"cannot create a positional step: {step}"
                found = etree.SubElement(node, f"{{{NS}}}{step}")
            node = found
        return node

    def set(self, path: str, value: object) -> Edit:
        text = f"{value:.2f}" if isinstance(value, Decimal) else str(value)
        self.ensure(path).text = text
        return self

    def shift(self, path: str, delta: Decimal | str) -> Edit:
        """Add ``delta`` to the money value at ``path`` (absent counts as zero), keeping two decimals."""
        return self.set(path, money(self.value(path) + Decimal(delta)))

    def remove(self, path: str) -> Edit:
        element = self.get(path)
        parent = element.getparent()
        assert parent is not None
        parent.remove(element)
        return self

    def rename(self, path: str, tag: str) -> Edit:
        self.get(path).tag = f"{{{NS}}}{tag}"
        return self

    def count(self, path: str) -> int:
        return len(self.inf.findall(_xpath(path), {"n": NS}))

    def bytes(self) -> bytes:
        return etree.tostring(self.root, xml_declaration=True, encoding="UTF-8")


def edit(xml: bytes, changes: Iterable[tuple[str, str, object]]) -> bytes:
    """Apply ``(operation, path, value)`` changes: ``set``, ``shift`` or ``remove`` (value ignored)."""
    document = Edit(xml)
    for operation, path, value in changes:
        if operation == "set":
            document.set(path, value)
        elif operation == "shift":
            document.shift(path, Decimal(str(value)))
        elif operation == "remove":
            document.remove(path)
        else:  # pragma: no cover - a typo in a test table
            raise ValueError(operation)
    return document.bytes()


# ------------------------------------------------------------------------------ derived documents


def as_service(xml: bytes, position: int = 1) -> bytes:
    """Make item ``position`` an ISSQN service, moving its values from ICMSTot to ISSQNtot consistently.

    Its ICMS group is dropped, its vProd leaves ICMSTot/vProd for ISSQNtot/vServ, its PIS/COFINS leave
    ICMSTot for ISSQNtot. vNF does not change (vProd − x + vServ x).
    """
    doc = Edit(xml)
    det = f"det[{position}]"
    vprod = doc.value(f"{det}/prod/vProd")
    icms = doc.get(f"{det}/imposto/ICMS")
    vbc = doc.value(f"{det}/imposto/ICMS/ICMS00/vBC")
    vicms = doc.value(f"{det}/imposto/ICMS/ICMS00/vICMS")
    vpis = doc.value(f"{det}/imposto/PIS/PISAliq/vPIS")
    vcofins = doc.value(f"{det}/imposto/COFINS/COFINSAliq/vCOFINS")
    imposto = icms.getparent()
    assert imposto is not None
    position_of_icms = list(imposto).index(icms)
    imposto.remove(icms)
    issqn = etree.Element(f"{{{NS}}}ISSQN")
    viss = money(vprod * Decimal("0.05"))
    for tag, text in (("vBC", f"{vprod:.2f}"), ("vAliq", "5.0000"), ("vISSQN", f"{viss:.2f}"),
                      ("cMunFG", "3550308"), ("cListServ", "14.01"), ("indISS", "1"), ("indIncentivo", "2")):
        etree.SubElement(issqn, f"{{{NS}}}{tag}").text = text
    imposto.insert(position_of_icms + 2, issqn)  # after PIS and COFINS, as the layout orders them
    doc.set(f"{det}/prod/NCM", "00")
    doc.shift("total/ICMSTot/vProd", -vprod)
    doc.shift("total/ICMSTot/vBC", -vbc)
    doc.shift("total/ICMSTot/vICMS", -vicms)
    doc.shift("total/ICMSTot/vPIS", -vpis)
    doc.shift("total/ICMSTot/vCOFINS", -vcofins)
    icms_tot = doc.get("total/ICMSTot")
    total = icms_tot.getparent()
    assert total is not None
    service_total = etree.Element(f"{{{NS}}}ISSQNtot")
    for tag, value in (("vServ", vprod), ("vBC", vprod), ("vISS", viss), ("vPIS", vpis), ("vCOFINS", vcofins)):
        if value:
            etree.SubElement(service_total, f"{{{NS}}}{tag}").text = f"{value:.2f}"
    etree.SubElement(service_total, f"{{{NS}}}dCompet").text = "2026-11-20"
    total.insert(list(total).index(icms_tot) + 1, service_total)
    return doc.bytes()


IBS_UF_RATE = Decimal("0.10")
CBS_RATE = Decimal("0.90")
IS_RATE = Decimal("2.00")


def with_reform(xml: bytes, *, with_is: bool = False) -> bytes:
    """Add IBS/CBS (and optionally IS) to every item, their totals, vItem and vNFTot, all consistent.

    vItem follows NT 2025.002 VB01-10 and its Exceção 1: vIBS, vCBS and vIS are added only when the
    document is emitted after 2026 (the builder's ``emitted_at`` decides).
    """
    doc = Edit(xml)
    emitted = doc.get("ide/dhEmi").text or ""
    adds_reform = int(emitted[:4]) > 2026
    count = doc.count("det")
    totals = dict.fromkeys(("vBC", "vIBSUF", "vIBSMun", "vIBS", "vCBS", "vIS", "vItem"), Decimal(0))
    for position in range(1, count + 1):
        det = f"det[{position}]"
        base = (doc.value(f"{det}/prod/vProd") - doc.value(f"{det}/prod/vDesc")
                + doc.value(f"{det}/prod/vFrete"))
        vibsuf = money(base * IBS_UF_RATE / 100)
        vibsmun = Decimal("0.00")
        vibs = vibsuf + vibsmun
        vcbs = money(base * CBS_RATE / 100)
        vis = money(base * IS_RATE / 100) if with_is else Decimal(0)
        imposto = doc.get(f"{det}/imposto")
        if with_is:
            selective = etree.SubElement(imposto, f"{{{NS}}}IS")
            for tag, text in (("CSTIS", "000"), ("cClassTribIS", "000001"), ("vBCIS", f"{base:.2f}"),
                              ("pIS", f"{IS_RATE:.4f}"), ("vIS", f"{vis:.2f}")):
                etree.SubElement(selective, f"{{{NS}}}{tag}").text = text
        ibscbs = etree.SubElement(imposto, f"{{{NS}}}IBSCBS")
        etree.SubElement(ibscbs, f"{{{NS}}}CST").text = "000"
        etree.SubElement(ibscbs, f"{{{NS}}}cClassTrib").text = "000001"
        group = etree.SubElement(ibscbs, f"{{{NS}}}gIBSCBS")
        etree.SubElement(group, f"{{{NS}}}vBC").text = f"{base:.2f}"
        uf = etree.SubElement(group, f"{{{NS}}}gIBSUF")
        etree.SubElement(uf, f"{{{NS}}}pIBSUF").text = f"{IBS_UF_RATE:.4f}"
        etree.SubElement(uf, f"{{{NS}}}vIBSUF").text = f"{vibsuf:.2f}"
        mun = etree.SubElement(group, f"{{{NS}}}gIBSMun")
        etree.SubElement(mun, f"{{{NS}}}pIBSMun").text = "0.0000"
        etree.SubElement(mun, f"{{{NS}}}vIBSMun").text = f"{vibsmun:.2f}"
        etree.SubElement(group, f"{{{NS}}}vIBS").text = f"{vibs:.2f}"
        cbs = etree.SubElement(group, f"{{{NS}}}gCBS")
        etree.SubElement(cbs, f"{{{NS}}}pCBS").text = f"{CBS_RATE:.4f}"
        etree.SubElement(cbs, f"{{{NS}}}vCBS").text = f"{vcbs:.2f}"
        vitem = base + (vibs + vcbs + vis if adds_reform else 0)
        doc.set(f"{det}/vItem", vitem)
        for name, value in (("vBC", base), ("vIBSUF", vibsuf), ("vIBSMun", vibsmun), ("vIBS", vibs),
                            ("vCBS", vcbs), ("vIS", vis), ("vItem", vitem)):
            totals[name] += value
    if with_is:
        doc.set("total/ISTot/vIS", totals["vIS"])
    doc.set("total/IBSCBSTot/vBCIBSCBS", totals["vBC"])
    doc.set("total/IBSCBSTot/gIBS/gIBSUF/vIBSUF", totals["vIBSUF"])
    doc.set("total/IBSCBSTot/gIBS/gIBSMun/vIBSMun", totals["vIBSMun"])
    doc.set("total/IBSCBSTot/gIBS/vIBS", totals["vIBS"])
    doc.set("total/IBSCBSTot/gCBS/vCBS", totals["vCBS"])
    doc.set("total/vNFTot", totals["vItem"])
    return doc.bytes()
