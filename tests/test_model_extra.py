"""The optional NF-e groups the model reads: traceability, medicines, weapons, fuel, import/export, new
vehicles, freight ICMS withholding, export place, sugar cane, NFF, item references, and the tax-reform
groups (deferral, return, reduction, regular taxation, presumed credit, single-phase, credit reversal).

Each test inserts a group into a valid builder document, proves the official XSD still accepts the
document (so the fragment is what the layout says, names and order), then reads it and checks the values
and their types (Decimal, date, str, tuple) field by field.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from nfe_invoice import parse
from nfe_invoice.model import (
    Batch,
    Fuel,
    IbsCbs,
    IbsCbsTotal,
    ImportDeclaration,
    Item,
    NFeDocument,
    Product,
)

from .rules_helpers import key_of, nfce, nfe
from .rules_helpers_extra import (
    AFTER_CANA,
    AFTER_DI,
    AFTER_EXPORTA,
    AFTER_IBSCBSTOT,
    AFTER_RET_TRANSP,
    AFTER_SOLIC_NFF,
    ARMA,
    CANA,
    COMB,
    COMB_GLP,
    DET_EXPORT,
    DI,
    EXPORTA,
    IBSCBS_FULL,
    IBSCBS_MONO,
    IBSCBS_MONO_AD_VALOREM_IBS,
    INF_SOLIC_NFF,
    MED,
    MED_EXEMPT,
    RASTRO,
    RET_TRANSP,
    VEIC_PROD,
    dfe_referenciado,
    ibscbs_total,
    insert,
    schema_errors,
)

N = nfe(1)
KEY = key_of(N)


def _valid(xml: bytes) -> NFeDocument:
    """``xml`` must pass the XSD (but the missing signature); then it is parsed without issues."""
    assert schema_errors(xml) == []
    document = parse(xml)
    assert document.issues == ()
    return document


def _item(xml: bytes) -> Item:
    (item,) = _valid(xml).items
    return item


def _prod(xml: bytes) -> Product:
    prod = _item(xml).prod
    assert prod is not None
    return prod


def _ibscbs(xml: bytes) -> IbsCbs:
    taxes = _item(xml).imposto
    assert taxes is not None and taxes.IBSCBS is not None
    return taxes.IBSCBS


def _ibscbs_total(document: NFeDocument) -> IbsCbsTotal:
    total = document.infNFe.total
    assert total is not None and total.IBSCBSTot is not None
    return total.IBSCBSTot


# ------------------------------------------------------------------------------------- the checker


def test_the_schema_check_catches_a_misplaced_group() -> None:
    """rastro after med breaks the layout's order: the XSD must say so, or the other tests prove nothing."""
    assert schema_errors(N) == []
    assert schema_errors(insert(N, "det/prod", MED + RASTRO))
    assert schema_errors(insert(N, "det/prod", "<med><vPMC>1.00</vPMC></med>"))


def test_the_builder_documents_have_none_of_the_optional_groups() -> None:
    document = _valid(N)
    prod = document.items[0].prod
    assert prod is not None
    assert (prod.rastro, prod.arma, prod.DI, prod.detExport) == ((), (), (), ())
    assert (prod.med, prod.comb, prod.veicProd) == (None, None, None)
    assert document.items[0].DFeReferenciado is None
    inf = document.infNFe
    assert (inf.exporta, inf.cana, inf.infSolicNFF) == (None, None, None)
    assert inf.transp is not None and inf.transp.retTransp is None


# -------------------------------------------------------------------------------------------- prod


def test_rastro_is_a_tuple_of_batches_with_dates() -> None:
    prod = _prod(insert(N, "det/prod", RASTRO))
    assert prod.rastro == (
        Batch(nLote="L2026-11", qLote=Decimal("12.500"), dFab=date(2026, 10, 1), dVal=date(2027, 10, 1),
              cAgreg="AGR-7"),
        Batch(nLote="L2026-12", qLote=Decimal("1"), dFab=date(2026, 11, 1), dVal=date(2027, 11, 1)),
    )
    assert isinstance(prod.rastro[0].qLote, Decimal)
    assert isinstance(prod.rastro[0].dFab, date)


@pytest.mark.parametrize(("fragment", "anvisa", "reason", "price"), [
    (MED, "1234567890123", None, Decimal("19.90")),
    (MED_EXEMPT, "ISENTO", "RDC 238/2018", Decimal("5.00")),
])
def test_med(fragment: str, anvisa: str, reason: str | None, price: Decimal) -> None:
    med = _prod(insert(N, "det/prod", fragment)).med
    assert med is not None
    assert (med.cProdANVISA, med.xMotivoIsencao, med.vPMC) == (anvisa, reason, price)
    assert isinstance(med.vPMC, Decimal)


def test_arma_is_a_tuple_of_weapons() -> None:
    weapons = _prod(insert(N, "det/prod", ARMA)).arma
    assert [(w.tpArma, w.nSerie, w.nCano, w.descr) for w in weapons] == [
        ("0", "SN-001", "CN-001", "Pistola calibre .380"),
        ("1", "SN-002", "CN-002", "Carabina"),
    ]


def test_comb_with_cide_pump_and_origin() -> None:
    fuel = _prod(insert(N, "det/prod", COMB)).comb
    assert fuel is not None
    assert (fuel.cProdANP, fuel.descANP, fuel.CODIF, fuel.qTemp, fuel.UFCons, fuel.pBio) == (
        "320102001", "GASOLINA C COMUM", "123456", Decimal("1000.5000"), "SP", Decimal("12.0000"),
    )
    assert fuel.CIDE is not None
    assert (fuel.CIDE.qBCProd, fuel.CIDE.vAliqProd, fuel.CIDE.vCIDE) == (
        Decimal("100.0000"), Decimal("0.1000"), Decimal("10.00"),
    )
    pump = fuel.encerrante
    assert pump is not None
    assert (pump.nBico, pump.nBomba, pump.nTanque, pump.vEncIni, pump.vEncFin) == (
        "1", "2", "3", Decimal("100.000"), Decimal("140.000"),
    )
    (origin,) = fuel.origComb
    assert (origin.indImport, origin.cUFOrig, origin.pOrig) == ("0", "35", Decimal("100.0000"))
    assert fuel.pGLP is None


def test_comb_with_gas_blend() -> None:
    fuel = _prod(insert(N, "det/prod", COMB_GLP)).comb
    assert fuel == Fuel(cProdANP="210203001", descANP="GLP", pGLP=Decimal("60.0000"), pGNn=Decimal("30.0000"),
                        pGNi=Decimal("10.0000"), vPart=Decimal("12.50"), UFCons="SP")


def test_di_with_its_additions() -> None:
    (declaration,) = _prod(insert(N, "det/prod", DI, AFTER_DI)).DI
    assert isinstance(declaration, ImportDeclaration)
    assert (declaration.nDI, declaration.dDI, declaration.xLocDesemb, declaration.UFDesemb) == (
        "2612345678", date(2026, 11, 1), "Porto de Santos", "SP",
    )
    assert (declaration.dDesemb, declaration.tpViaTransp, declaration.vAFRMM, declaration.tpIntermedio) == (
        date(2026, 11, 5), "1", Decimal("150.00"), "2",
    )
    assert (declaration.CNPJ, declaration.CPF, declaration.UFTerceiro, declaration.cExportador) == (
        "11444777000161", None, "RJ", "EXP-001",
    )
    first, second = declaration.adi
    assert (first.nAdicao, first.nSeqAdic, first.cFabricante, first.vDescDI, first.nDraw) == (
        "1", "1", "FAB-1", Decimal("2.50"), "20269999999",
    )
    assert (second.nAdicao, second.nSeqAdic, second.vDescDI) == (None, "2", None)


def test_det_export_direct_and_indirect() -> None:
    direct, indirect = _prod(insert(N, "det/prod", DET_EXPORT.format(key=KEY), AFTER_DI[1:])).detExport
    assert (direct.nDraw, direct.exportInd) == ("20261234567", None)
    assert indirect.nDraw is None and indirect.exportInd is not None
    assert (indirect.exportInd.nRE, indirect.exportInd.chNFe, indirect.exportInd.qExport) == (
        "261234567890", KEY, Decimal("2.0000"),
    )


def test_groups_keep_their_layout_order_together() -> None:
    """DI, detExport and rastro together with a med, each in its place: all read."""
    fragment = DI + DET_EXPORT.format(key=KEY) + RASTRO + MED
    prod = _prod(insert(N, "det/prod", fragment))
    assert (len(prod.DI), len(prod.detExport), len(prod.rastro), prod.med is not None) == (1, 2, 2, True)


def test_veicprod_has_every_main_field_as_written() -> None:
    vehicle = _prod(insert(N, "det/prod", VEIC_PROD)).veicProd
    assert vehicle is not None
    expected = {
        "tpOp": "1", "chassi": "9BWZZZ377VT004251", "cCor": "1", "xCor": "PRATA", "pot": "110", "cilin": "1600",
        "pesoL": "1100.0000", "pesoB": "1200.0000", "nSerie": "SERIE1", "tpComb": "16", "nMotor": "MOTOR123",
        "CMT": "1500.0000", "dist": "2500", "anoMod": "2027", "anoFab": "2026", "tpPint": "M", "tpVeic": "06",
        "espVeic": "1", "VIN": "N", "condVeic": "1", "cMod": "123456", "cCorDENATRAN": "04", "lota": "5",
        "tpRest": "0",
    }
    assert {name: getattr(vehicle, name) for name in expected} == expected


# --------------------------------------------------------------------------- transp, infNFe groups


def test_ret_transp() -> None:
    transp = _valid(insert(N, "transp", RET_TRANSP, AFTER_RET_TRANSP)).infNFe.transp
    assert transp is not None and transp.retTransp is not None
    withheld = transp.retTransp
    assert (withheld.vServ, withheld.vBCRet, withheld.pICMSRet, withheld.vICMSRet) == (
        Decimal("100.00"), Decimal("100.00"), Decimal("12.0000"), Decimal("12.00"),
    )
    assert (withheld.CFOP, withheld.cMunFG) == ("5353", "3550308")
    assert transp.transporta is not None  # the builder's carrier is still read beside it


def test_exporta_cana_and_inf_solic_nff() -> None:
    xml = insert(N, "", EXPORTA, AFTER_EXPORTA)
    xml = insert(xml, "", CANA, AFTER_CANA)
    inf = _valid(insert(xml, "", INF_SOLIC_NFF, AFTER_SOLIC_NFF)).infNFe
    assert inf.exporta is not None
    assert (inf.exporta.UFSaidaPais, inf.exporta.xLocExporta, inf.exporta.xLocDespacho) == (
        "SP", "Porto de Santos", "Recinto Alfandegado",
    )
    cane = inf.cana
    assert cane is not None
    assert (cane.safra, cane.ref) == ("2026/2027", "11/2026")
    assert (cane.qTotMes, cane.qTotAnt, cane.qTotGer) == (
        Decimal("10.0000000000"), Decimal("20.0000000000"), Decimal("30.0000000000"),
    )
    (deduction,) = cane.deduc
    assert (deduction.xDed, deduction.vDed) == ("Taxa de transporte", Decimal("5.00"))
    assert (cane.vFor, cane.vTotDed, cane.vLiqFor) == (Decimal("100.00"), Decimal("5.00"), Decimal("95.00"))
    assert not hasattr(cane, "forDia")  # its day is an attribute: left out of the model on purpose
    assert inf.infSolicNFF is not None and inf.infSolicNFF.xSolic == "Solicitacao pelo aplicativo NFF"


@pytest.mark.parametrize(("item", "expected"), [(3, 3), (None, None)])
def test_dfe_referenciado(item: int | None, expected: int | None) -> None:
    read = _item(insert(N, "det", dfe_referenciado(KEY, item))).DFeReferenciado
    assert read is not None
    assert (read.chaveAcesso, read.nItem) == (KEY, expected)


def test_an_nfce_with_the_item_groups_still_parses() -> None:
    """The model reads the groups whatever the model of document (the NFC-e rules judge them)."""
    prod = parse(insert(nfce(1), "det/prod", RASTRO + COMB)).items[0].prod
    assert prod is not None and prod.comb is not None and len(prod.rastro) == 2


# ----------------------------------------------------------------------------------------- reform


def _reform(item: str, total: str) -> bytes:
    return insert(insert(N, "det/imposto", item), "total", total, AFTER_IBSCBSTOT)


def test_ibscbs_deferral_return_reduction_and_regular_taxation() -> None:
    values = _ibscbs(_reform(IBSCBS_FULL, ibscbs_total())).gIBSCBS
    assert values is not None and values.gIBSUF is not None and values.gIBSMun is not None
    uf, mun, cbs = values.gIBSUF, values.gIBSMun, values.gCBS
    assert cbs is not None
    assert uf.gDif is not None and uf.gDevTrib is not None and uf.gRed is not None
    assert (uf.pIBSUF, uf.gDif.pDif, uf.gDif.vDif, uf.vIBSUF) == (
        Decimal("0.1000"), Decimal("10.0000"), Decimal("0.01"), Decimal("0.04"),
    )
    assert (uf.gDevTrib.pDevTrib, uf.gDevTrib.vDevTrib) == (Decimal("5.0000"), Decimal("0.02"))
    assert (uf.gRed.pRedAliq, uf.gRed.pAliqEfet) == (Decimal("60.0000"), Decimal("0.0400"))
    assert mun.gDevTrib is not None and (mun.gDevTrib.pDevTrib, mun.gDevTrib.vDevTrib) == (None, Decimal("0.00"))
    assert mun.gRed is None
    assert cbs.gDif is not None and cbs.gDevTrib is not None and cbs.gRed is not None
    assert (cbs.gDif.vDif, cbs.gDevTrib.vDevTrib, cbs.gRed.pAliqEfet, cbs.vCBS) == (
        Decimal("0.09"), Decimal("0.03"), Decimal("0.3600"), Decimal("0.36"),
    )
    regular = values.gTribRegular
    assert regular is not None
    assert (regular.CSTReg, regular.cClassTribReg, regular.vTribRegIBSUF, regular.vTribRegCBS) == (
        "000", "000001", Decimal("0.10"), Decimal("0.90"),
    )


def test_ibscbs_credit_reversal_and_presumed_credit() -> None:
    ibscbs = _ibscbs(_reform(IBSCBS_FULL, ibscbs_total()))
    assert ibscbs.gEstornoCred is not None
    assert (ibscbs.gEstornoCred.vIBSEstCred, ibscbs.gEstornoCred.vCBSEstCred) == (Decimal("1.10"), Decimal("2.20"))
    credit = ibscbs.gCredPresOper
    assert credit is not None and credit.gIBSCredPres is not None and credit.gCBSCredPres is not None
    assert (credit.vBCCredPres, credit.cCredPres) == (Decimal("100.00"), "01")
    assert (credit.gIBSCredPres.pCredPres, credit.gIBSCredPres.vCredPres,
            credit.gIBSCredPres.vCredPresCondSus) == (Decimal("1.0000"), Decimal("1.00"), None)
    assert (credit.gCBSCredPres.vCredPres, credit.gCBSCredPres.vCredPresCondSus) == (None, Decimal("2.00"))
    assert ibscbs.gCredPresIBSZFM is None


def test_ibscbstot_credit_reversal_and_presumed_credit() -> None:
    total = _ibscbs_total(_valid(_reform(IBSCBS_FULL, ibscbs_total())))
    assert total.gEstornoCred is not None
    assert (total.gEstornoCred.vIBSEstCred, total.gEstornoCred.vCBSEstCred) == (Decimal("1.10"), Decimal("2.20"))
    assert total.gIBS is not None and total.gIBS.gIBSUF is not None and total.gCBS is not None
    assert (total.gIBS.gIBSUF.vDif, total.gIBS.gIBSUF.vDevTrib) == (Decimal("0.01"), Decimal("0.02"))
    assert (total.gIBS.vCredPres, total.gCBS.vCredPresCondSus) == (Decimal("1.00"), Decimal("2.00"))


def test_single_phase_ad_rem_ibs_and_ad_valorem_cbs() -> None:
    mono_total = ("50.00", "70.00", "5.00", "7.00", "3.00", "4.00")
    document = _valid(_reform(IBSCBS_MONO, ibscbs_total(mono=mono_total, estorno=None)))
    taxes = document.items[0].imposto
    assert taxes is not None and taxes.IBSCBS is not None
    mono = taxes.IBSCBS.gIBSCBSMono
    assert mono is not None and mono.gIBSMonoAdRem is not None and mono.gCBSMonoAdValorem is not None
    assert (mono.gIBSMonoAdValorem, mono.gCBSMonoAdRem) == (None, None)
    ibs, cbs = mono.gIBSMonoAdRem, mono.gCBSMonoAdValorem
    assert ibs.gMonoPadrao is not None and ibs.gMonoReten is not None and ibs.gMonoRet is not None
    assert (ibs.gMonoPadrao.qBCMono, ibs.gMonoPadrao.adRemIBS, ibs.gMonoPadrao.vIBSMono) == (
        Decimal("100.0000"), Decimal("0.5000"), Decimal("50.00"),
    )
    assert (ibs.gMonoReten.qBCMonoReten, ibs.gMonoReten.adRemIBSReten, ibs.gMonoReten.vIBSMonoReten) == (
        Decimal("10.0000"), Decimal("0.5000"), Decimal("5.00"),
    )
    assert ibs.gMonoRet.vIBSMonoRet == Decimal("3.00")
    assert ibs.gpBioDiferenca is not None
    assert (ibs.gpBioDiferenca.qBCBioComb, ibs.gpBioDiferenca.vIBSDiferenca) == (Decimal("1.0000"), Decimal("0.10"))
    assert cbs.gMonoPadrao is not None and cbs.gMonoReten is not None and cbs.gMonoRet is not None
    assert (cbs.gMonoPadrao.vBCMono, cbs.gMonoPadrao.pAliqMonoCBS, cbs.gMonoPadrao.vCBSMono) == (
        Decimal("1000.00"), Decimal("7.0000"), Decimal("70.00"),
    )
    assert (cbs.gMonoReten.vBCMonoReten, cbs.gMonoReten.pAliqMonoReten, cbs.gMonoReten.vCBSMonoReten) == (
        Decimal("100.00"), Decimal("7.0000"), Decimal("7.00"),
    )
    assert cbs.gMonoRet.vCBSMonoRet == Decimal("4.00")
    assert (mono.vTotIBSMonoItem, mono.vTotCBSMonoItem) == (Decimal("55.00"), Decimal("77.00"))
    gmono = _ibscbs_total(document).gMono
    assert gmono is not None
    assert (gmono.vIBSMono, gmono.vCBSMono, gmono.vIBSMonoReten, gmono.vCBSMonoReten, gmono.vIBSMonoRet,
            gmono.vCBSMonoRet) == tuple(Decimal(value) for value in mono_total)


def test_single_phase_ad_valorem_ibs_and_ad_rem_cbs() -> None:
    mono = _ibscbs(insert(N, "det/imposto", IBSCBS_MONO_AD_VALOREM_IBS)).gIBSCBSMono
    assert mono is not None and mono.gIBSMonoAdValorem is not None and mono.gCBSMonoAdRem is not None
    standard = mono.gIBSMonoAdValorem.gMonoPadrao
    assert standard is not None
    assert (standard.vBCMono, standard.pAliqMonoUF, standard.vIBSMonoUF, standard.pAliqMonoMun,
            standard.vIBSMonoMun, standard.vIBSMono) == (
        Decimal("1000.00"), Decimal("1.0000"), Decimal("10.00"), Decimal("0.5000"), Decimal("5.00"),
        Decimal("15.00"),
    )
    cbs = mono.gCBSMonoAdRem.gMonoPadrao
    assert cbs is not None and (cbs.qBCMono, cbs.adRemCBS, cbs.vCBSMono) == (
        Decimal("100.0000"), Decimal("0.2000"), Decimal("20.00"),
    )
    assert mono.gIBSMonoAdValorem.gMonoReten is None


def test_a_wrong_value_in_a_new_group_is_a_parse_issue() -> None:
    """The new fields are typed: a non-date dFab is kept as None and listed, not raised."""
    document = parse(insert(N, "det/prod", RASTRO.replace("2026-10-01", "01/10/2026")))
    assert [issue.expected for issue in document.issues] == ["a date (YYYY-MM-DD)"]
    prod = document.items[0].prod
    assert prod is not None and prod.rastro[0].dFab is None
