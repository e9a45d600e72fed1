"""Helpers for the tests of the optional NF-e groups (rastro, med, arma, comb, DI, retTransp, cana...).

A test builds a valid document with :mod:`nfe_invoice.testing.builder` and inserts one of the fragments
below with :func:`insert`, which puts it where the layout's sequence wants it (before the first sibling
that must follow it), so the result still passes the official XSD: :func:`schema_errors` says so.
Every fragment here was checked against ``schemas/nfe_v4.00/nfe_v4.00.xsd`` by ``tests/test_model_extra.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from lxml import etree

from .paths import ROOT

NS = "http://www.portalfiscal.inf.br/nfe"
SCHEMA = ROOT / "schemas" / "nfe_v4.00" / "nfe_v4.00.xsd"
# The builder does not sign: the only XSD complaint an unsigned, otherwise valid document may get is that
# NFe ends without its Signature ("Missing child element(s). Expected is ( ...Signature )", or "one of (
# infNFeSupl, ...Signature )" for an NF-e, where infNFeSupl is optional).
_SIGNATURE_MISSING = "{http://www.w3.org/2000/09/xmldsig#}Signature )."

# The layout's order of the children that may follow an inserted group (XSD leiauteNFe_v4.00.xsd).
AFTER_DI = ("detExport", "xPed", "nItemPed", "nFCI", "rastro", "infProdNFF", "infProdEmb", "veicProd", "med",
            "arma", "comb", "nRECOPI")
AFTER_RASTRO = ("infProdNFF", "infProdEmb", "veicProd", "med", "arma", "comb", "nRECOPI")
AFTER_RET_TRANSP = ("veicTransp", "reboque", "vagao", "balsa", "vol")
AFTER_EXPORTA = ("compra", "cana", "infRespTec", "infSolicNFF", "agropecuario", "infPAA")
AFTER_CANA = ("infRespTec", "infSolicNFF", "agropecuario", "infPAA")
AFTER_SOLIC_NFF = ("agropecuario", "infPAA")
AFTER_IBSCBSTOT = ("vNFTot",)


def _xpath(path: str) -> str:
    """``det[2]/prod`` -> ``n:det[2]/n:prod``; the empty path is infNFe itself."""
    return "/".join(f"n:{step}" for step in path.split("/")) if path else "."


def insert(xml: bytes, path: str, fragment: str, before: Iterable[str] = ()) -> bytes:
    """Insert ``fragment`` (elements in the NF-e namespace) into every element at ``path`` (relative to
    infNFe), before its first child named in ``before``, or at the end when there is none."""
    root = etree.fromstring(xml)
    inf = root.find(f".//{{{NS}}}infNFe")
    assert inf is not None
    targets = inf.xpath(_xpath(path), namespaces={"n": NS})
    assert isinstance(targets, list) and targets, f"{path} not found"
    names = {f"{{{NS}}}{name}" for name in before}
    for target in targets:
        assert isinstance(target, etree._Element)
        wrapper = etree.fromstring(f'<w xmlns="{NS}">{fragment}</w>')
        position = next((index for index, child in enumerate(target) if child.tag in names), len(target))
        for offset, child in enumerate(list(wrapper)):
            target.insert(position + offset, child)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@functools.cache
def _schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA)))


def schema_errors(xml: bytes) -> list[str]:
    """The official XSD's complaints about ``xml``, except the missing Signature of an unsigned document."""
    schema = _schema()
    if schema.validate(etree.fromstring(xml)):
        return []
    return [
        entry.message
        for entry in schema.error_log
        if not ("Missing child element(s)" in entry.message and entry.message.endswith(_SIGNATURE_MISSING))
    ]


# --------------------------------------------------------------------------------------- fragments

RASTRO = (
    "<rastro><nLote>L2026-11</nLote><qLote>12.500</qLote><dFab>2026-10-01</dFab><dVal>2027-10-01</dVal>"
    "<cAgreg>AGR-7</cAgreg></rastro>"
    "<rastro><nLote>L2026-12</nLote><qLote>1</qLote><dFab>2026-11-01</dFab><dVal>2027-11-01</dVal></rastro>"
)


def rastro(fab: str, val: str) -> str:
    """One batch made on ``fab`` and valid until ``val`` (ISO dates)."""
    return f"<rastro><nLote>L1</nLote><qLote>1.000</qLote><dFab>{fab}</dFab><dVal>{val}</dVal></rastro>"


MED = "<med><cProdANVISA>1234567890123</cProdANVISA><vPMC>19.90</vPMC></med>"
MED_EXEMPT = (
    "<med><cProdANVISA>ISENTO</cProdANVISA><xMotivoIsencao>RDC 238/2018</xMotivoIsencao><vPMC>5.00</vPMC></med>"
)
ARMA = (
    "<arma><tpArma>0</tpArma><nSerie>SN-001</nSerie><nCano>CN-001</nCano><descr>Pistola calibre .380</descr></arma>"
    "<arma><tpArma>1</tpArma><nSerie>SN-002</nSerie><nCano>CN-002</nCano><descr>Carabina</descr></arma>"
)
COMB = (
    "<comb><cProdANP>320102001</cProdANP><descANP>GASOLINA C COMUM</descANP><CODIF>123456</CODIF>"
    "<qTemp>1000.5000</qTemp><UFCons>SP</UFCons>"
    "<CIDE><qBCProd>100.0000</qBCProd><vAliqProd>0.1000</vAliqProd><vCIDE>10.00</vCIDE></CIDE>"
    "<encerrante><nBico>1</nBico><nBomba>2</nBomba><nTanque>3</nTanque><vEncIni>100.000</vEncIni>"
    "<vEncFin>140.000</vEncFin></encerrante>"
    "<pBio>12.0000</pBio>"
    "<origComb><indImport>0</indImport><cUFOrig>35</cUFOrig><pOrig>100.0000</pOrig></origComb></comb>"
)
COMB_GLP = (
    "<comb><cProdANP>210203001</cProdANP><descANP>GLP</descANP><pGLP>60.0000</pGLP><pGNn>30.0000</pGNn>"
    "<pGNi>10.0000</pGNi><vPart>12.50</vPart><UFCons>SP</UFCons></comb>"
)
DI = (
    "<DI><nDI>2612345678</nDI><dDI>2026-11-01</dDI><xLocDesemb>Porto de Santos</xLocDesemb>"
    "<UFDesemb>SP</UFDesemb><dDesemb>2026-11-05</dDesemb><tpViaTransp>1</tpViaTransp><vAFRMM>150.00</vAFRMM>"
    "<tpIntermedio>2</tpIntermedio><CNPJ>11444777000161</CNPJ><UFTerceiro>RJ</UFTerceiro>"
    "<cExportador>EXP-001</cExportador>"
    "<adi><nAdicao>1</nAdicao><nSeqAdic>1</nSeqAdic><cFabricante>FAB-1</cFabricante><vDescDI>2.50</vDescDI>"
    "<nDraw>20269999999</nDraw></adi>"
    "<adi><nSeqAdic>2</nSeqAdic><cFabricante>FAB-2</cFabricante></adi></DI>"
)
DET_EXPORT = (
    "<detExport><nDraw>20261234567</nDraw></detExport>"
    "<detExport><exportInd><nRE>261234567890</nRE><chNFe>{key}</chNFe><qExport>2.0000</qExport></exportInd>"
    "</detExport>"
)
VEIC_PROD = (
    "<veicProd><tpOp>1</tpOp><chassi>9BWZZZ377VT004251</chassi><cCor>1</cCor><xCor>PRATA</xCor>"
    "<pot>110</pot><cilin>1600</cilin><pesoL>1100.0000</pesoL><pesoB>1200.0000</pesoB>"
    "<nSerie>SERIE1</nSerie><tpComb>16</tpComb><nMotor>MOTOR123</nMotor><CMT>1500.0000</CMT>"
    "<dist>2500</dist><anoMod>2027</anoMod><anoFab>2026</anoFab><tpPint>M</tpPint><tpVeic>06</tpVeic>"
    "<espVeic>1</espVeic><VIN>N</VIN><condVeic>1</condVeic><cMod>123456</cMod><cCorDENATRAN>04</cCorDENATRAN>"
    "<lota>5</lota><tpRest>0</tpRest></veicProd>"
)
RET_TRANSP = (
    "<retTransp><vServ>100.00</vServ><vBCRet>100.00</vBCRet><pICMSRet>12.0000</pICMSRet>"
    "<vICMSRet>12.00</vICMSRet><CFOP>5353</CFOP><cMunFG>3550308</cMunFG></retTransp>"
)
EXPORTA = (
    "<exporta><UFSaidaPais>SP</UFSaidaPais><xLocExporta>Porto de Santos</xLocExporta>"
    "<xLocDespacho>Recinto Alfandegado</xLocDespacho></exporta>"
)
CANA = (
    "<cana><safra>2026/2027</safra><ref>11/2026</ref>"
    '<forDia dia="1"><qtde>10.0000000000</qtde></forDia>'
    "<qTotMes>10.0000000000</qTotMes><qTotAnt>20.0000000000</qTotAnt><qTotGer>30.0000000000</qTotGer>"
    "<deduc><xDed>Taxa de transporte</xDed><vDed>5.00</vDed></deduc>"
    "<vFor>100.00</vFor><vTotDed>5.00</vTotDed><vLiqFor>95.00</vLiqFor></cana>"
)
INF_SOLIC_NFF = "<infSolicNFF><xSolic>Solicitacao pelo aplicativo NFF</xSolic></infSolicNFF>"


def dfe_referenciado(key: str, item: int | None = 1) -> str:
    number = f"<nItem>{item}</nItem>" if item is not None else ""
    return f"<DFeReferenciado><chaveAcesso>{key}</chaveAcesso>{number}</DFeReferenciado>"


IBSCBS_FULL = (
    "<IBSCBS><CST>000</CST><cClassTrib>000001</cClassTrib>"
    "<gIBSCBS><vBC>100.00</vBC>"
    "<gIBSUF><pIBSUF>0.1000</pIBSUF><gDif><pDif>10.0000</pDif><vDif>0.01</vDif></gDif>"
    "<gDevTrib><pDevTrib>5.0000</pDevTrib><vDevTrib>0.02</vDevTrib></gDevTrib>"
    "<gRed><pRedAliq>60.0000</pRedAliq><pAliqEfet>0.0400</pAliqEfet></gRed><vIBSUF>0.04</vIBSUF></gIBSUF>"
    "<gIBSMun><pIBSMun>0.0000</pIBSMun><gDif><pDif>0.0000</pDif><vDif>0.00</vDif></gDif>"
    "<gDevTrib><vDevTrib>0.00</vDevTrib></gDevTrib><vIBSMun>0.00</vIBSMun></gIBSMun>"
    "<vIBS>0.04</vIBS>"
    "<gCBS><pCBS>0.9000</pCBS><gDif><pDif>10.0000</pDif><vDif>0.09</vDif></gDif>"
    "<gDevTrib><vDevTrib>0.03</vDevTrib></gDevTrib><gRed><pRedAliq>60.0000</pRedAliq>"
    "<pAliqEfet>0.3600</pAliqEfet></gRed><vCBS>0.36</vCBS></gCBS>"
    "<gTribRegular><CSTReg>000</CSTReg><cClassTribReg>000001</cClassTribReg>"
    "<pAliqEfetRegIBSUF>0.1000</pAliqEfetRegIBSUF><vTribRegIBSUF>0.10</vTribRegIBSUF>"
    "<pAliqEfetRegIBSMun>0.0000</pAliqEfetRegIBSMun><vTribRegIBSMun>0.00</vTribRegIBSMun>"
    "<pAliqEfetRegCBS>0.9000</pAliqEfetRegCBS><vTribRegCBS>0.90</vTribRegCBS></gTribRegular>"
    "</gIBSCBS>"
    "<gEstornoCred><vIBSEstCred>1.10</vIBSEstCred><vCBSEstCred>2.20</vCBSEstCred></gEstornoCred>"
    "<gCredPresOper><vBCCredPres>100.00</vBCCredPres><cCredPres>01</cCredPres>"
    "<gIBSCredPres><pCredPres>1.0000</pCredPres><vCredPres>1.00</vCredPres></gIBSCredPres>"
    "<gCBSCredPres><pCredPres>2.0000</pCredPres><vCredPresCondSus>2.00</vCredPresCondSus></gCBSCredPres>"
    "</gCredPresOper></IBSCBS>"
)
IBSCBS_MONO = (
    "<IBSCBS><CST>620</CST><cClassTrib>620001</cClassTrib><gIBSCBSMono>"
    "<gIBSMonoAdRem>"
    "<gMonoPadrao><qBCMono>100.0000</qBCMono><adRemIBS>0.5000</adRemIBS><vIBSMono>50.00</vIBSMono></gMonoPadrao>"
    "<gMonoReten><qBCMonoReten>10.0000</qBCMonoReten><adRemIBSReten>0.5000</adRemIBSReten>"
    "<vIBSMonoReten>5.00</vIBSMonoReten></gMonoReten>"
    "<gMonoRet><vIBSMonoRet>3.00</vIBSMonoRet></gMonoRet>"
    "<gpBioDiferenca><qBCBioComb>1.0000</qBCBioComb><vIBSDiferenca>0.10</vIBSDiferenca></gpBioDiferenca>"
    "</gIBSMonoAdRem>"
    "<gCBSMonoAdValorem>"
    "<gMonoPadrao><vBCMono>1000.00</vBCMono><pAliqMonoCBS>7.0000</pAliqMonoCBS><vCBSMono>70.00</vCBSMono>"
    "</gMonoPadrao>"
    "<gMonoReten><vBCMonoReten>100.00</vBCMonoReten><pAliqMonoReten>7.0000</pAliqMonoReten>"
    "<vCBSMonoReten>7.00</vCBSMonoReten></gMonoReten>"
    "<gMonoRet><vCBSMonoRet>4.00</vCBSMonoRet></gMonoRet>"
    "</gCBSMonoAdValorem>"
    "<vTotIBSMonoItem>55.00</vTotIBSMonoItem><vTotCBSMonoItem>77.00</vTotCBSMonoItem>"
    "</gIBSCBSMono></IBSCBS>"
)
IBSCBS_MONO_AD_VALOREM_IBS = (
    "<IBSCBS><CST>620</CST><cClassTrib>620001</cClassTrib><gIBSCBSMono>"
    "<gIBSMonoAdValorem><gMonoPadrao><vBCMono>1000.00</vBCMono><pAliqMonoUF>1.0000</pAliqMonoUF>"
    "<vIBSMonoUF>10.00</vIBSMonoUF><pAliqMonoMun>0.5000</pAliqMonoMun><vIBSMonoMun>5.00</vIBSMonoMun>"
    "<vIBSMono>15.00</vIBSMono></gMonoPadrao></gIBSMonoAdValorem>"
    "<gCBSMonoAdRem><gMonoPadrao><qBCMono>100.0000</qBCMono><adRemCBS>0.2000</adRemCBS>"
    "<vCBSMono>20.00</vCBSMono></gMonoPadrao></gCBSMonoAdRem>"
    "<vTotIBSMonoItem>15.00</vTotIBSMonoItem><vTotCBSMonoItem>20.00</vTotCBSMonoItem>"
    "</gIBSCBSMono></IBSCBS>"
)


def ibscbs_total(
    *,
    base: str = "100.00",
    uf: tuple[str, str, str] = ("0.01", "0.02", "0.04"),
    mun: tuple[str, str, str] = ("0.00", "0.00", "0.00"),
    ibs: tuple[str, str, str] = ("0.04", "1.00", "0.00"),
    cbs: tuple[str, str, str, str, str] = ("0.09", "0.03", "0.36", "0.00", "2.00"),
    mono: tuple[str, str, str, str, str, str] | None = None,
    estorno: tuple[str, str] | None = ("1.10", "2.20"),
) -> str:
    """A schema-complete ``IBSCBSTot`` (XSD ``TIBSCBSMonoTot``); the defaults are the sums of one item with
    :data:`IBSCBS_FULL`. ``uf``/``mun``: vDif, vDevTrib, value; ``ibs``: vIBS, vCredPres, vCredPresCondSus;
    ``cbs``: vDif, vDevTrib, vCBS, vCredPres, vCredPresCondSus; ``mono``: the six gMono values."""
    parts = [
        f"<IBSCBSTot><vBCIBSCBS>{base}</vBCIBSCBS><gIBS>",
        f"<gIBSUF><vDif>{uf[0]}</vDif><vDevTrib>{uf[1]}</vDevTrib><vIBSUF>{uf[2]}</vIBSUF></gIBSUF>",
        f"<gIBSMun><vDif>{mun[0]}</vDif><vDevTrib>{mun[1]}</vDevTrib><vIBSMun>{mun[2]}</vIBSMun></gIBSMun>",
        f"<vIBS>{ibs[0]}</vIBS><vCredPres>{ibs[1]}</vCredPres><vCredPresCondSus>{ibs[2]}</vCredPresCondSus>",
        f"</gIBS><gCBS><vDif>{cbs[0]}</vDif><vDevTrib>{cbs[1]}</vDevTrib><vCBS>{cbs[2]}</vCBS>",
        f"<vCredPres>{cbs[3]}</vCredPres><vCredPresCondSus>{cbs[4]}</vCredPresCondSus></gCBS>",
    ]
    if mono is not None:
        names = ("vIBSMono", "vCBSMono", "vIBSMonoReten", "vCBSMonoReten", "vIBSMonoRet", "vCBSMonoRet")
        parts.append("<gMono>" + "".join(f"<{n}>{v}</{n}>" for n, v in zip(names, mono, strict=True)) + "</gMono>")
    if estorno is not None:
        parts.append(f"<gEstornoCred><vIBSEstCred>{estorno[0]}</vIBSEstCred>"
                     f"<vCBSEstCred>{estorno[1]}</vCBSEstCred></gEstornoCred>")
    parts.append("</IBSCBSTot>")
    return "".join(parts)
