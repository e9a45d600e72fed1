"""NFC-e (model 65) rules: the MOC's H group, DANFE format, forbidden groups and the QR code."""

from __future__ import annotations

import pytest

from nfe_invoice.findings import Severity
from nfe_invoice.rules.nfce import qr_code_key

from .rules_helpers import (
    Case,
    add,
    case,
    covered,
    family_codes,
    family_codes_registered,
    family_findings,
    key_of,
    nfce,
    nfe,
    parse,
    remove,
    set_text,
    valid_variants,
    with_key,
)
from .rules_helpers_extra import (
    AFTER_CANA,
    AFTER_RET_TRANSP,
    ARMA,
    CANA,
    COMB,
    MED,
    RET_TRANSP,
    dfe_referenciado,
    insert,
    schema_errors,
)

C = nfce()
N = nfe()
KEY = key_of(C)
OTHER_KEY = key_of(nfce(number=2002))
CARRIER = "<transporta><CNPJ>34028316000103</CNPJ><xNome>Entregas Ltda</xNome></transporta>"
QR_URL = "https://www.homologacao.nfce.fazenda.sp.gov.br/qrcode"


def _icms(xml: bytes, group: str) -> bytes:
    return add(remove(xml, "infNFe/det/imposto/ICMS/ICMS00"), "infNFe/det/imposto/ICMS", group)


def _tax(fragment: str) -> bytes:
    return add(C, "infNFe/det/imposto", fragment)


def _emission_mode(xml: bytes, mode: str) -> bytes:
    xml = set_text(xml, "infNFe/ide/tpEmis", mode)
    key = key_of(xml)
    return with_key(xml, key[:34] + mode + key[35:43])


def _delivery(xml: bytes) -> bytes:
    """Home delivery (indPres 4), which says whether a marketplace was involved (indIntermed, 434)."""
    return add(set_text(xml, "infNFe/ide/indPres", "4"), "infNFe/ide", "<indIntermed>0</indIntermed>")


def _qr(text: str) -> bytes:
    return set_text(C, "infNFeSupl/qrCode", text)


CASES = [
    # ide
    pytest.param(
        case(add(C, "infNFe/ide", "<dhSaiEnt>2026-11-20T14:30:00-03:00</dhSaiEnt>"), "nfce.dhsaient"), id="705"
    ),
    pytest.param(case(set_text(C, "infNFe/ide/tpNF", "0"), "nfce.tpnf"), id="706"),
    pytest.param(case(set_text(C, "infNFe/ide/idDest", "2"), "nfce.iddest"), id="707"),
    pytest.param(case(set_text(C, "infNFe/ide/tpImp", "1"), "nfce.tpimp"), id="709"),
    pytest.param(case(set_text(C, "infNFe/ide/tpImp", "5")), id="709-electronic-message-ok"),
    pytest.param(case(set_text(N, "infNFe/ide/tpImp", "4"), "nfce.tpimp_on_nfe"), id="710"),
    pytest.param(case(set_text(N, "infNFe/ide/tpImp", "2")), id="710-landscape-ok"),
    pytest.param(case(set_text(C, "infNFe/ide/finNFe", "2"), "nfce.finnfe"), id="715"),
    pytest.param(case(set_text(C, "infNFe/ide/indFinal", "0"), "nfce.indfinal"), id="716"),
    pytest.param(
        case(set_text(C, "infNFe/ide/indPres", "2"), "nfce.indpres", "payment.intermediary_indicator_missing"), id="717"
    ),
    pytest.param(case(set_text(N, "infNFe/ide/indPres", "4"), "nfce.indpres_on_nfe"), id="794"),
    pytest.param(case(add(C, "infNFe/ide", f"<NFref><refNFe>{OTHER_KEY}</refNFe></NFref>"), "nfce.nfref"), id="708"),
    pytest.param(case(insert(C, "det", dfe_referenciado(OTHER_KEY)), "nfce.nfref"), id="708-item-dfereferenciado"),
    pytest.param(case(insert(N, "det", dfe_referenciado(OTHER_KEY))), id="708-nfe-item-reference-ok"),
    # parties
    pytest.param(case(add(C, "infNFe/emit", "<IEST>111222333444</IEST>"), "nfce.iest"), id="718"),
    pytest.param(case(add(C, "infNFe/dest", "<IE>111222333444</IE>"), "nfce.dest_ie"), id="729"),
    pytest.param(case(add(C, "infNFe/dest", "<ISUF>100000000</ISUF>"), "nfce.dest_isuf"), id="730"),
    pytest.param(case(set_text(C, "infNFe/dest/indIEDest", "1"), "nfce.dest_contributor"), id="789"),
    pytest.param(case(nfce(recipient_cpf=None)), id="789-anonymous-ok"),
    # transport
    pytest.param(case(set_text(C, "infNFe/transp/modFrete", "0"), "nfce.freight"), id="753"),
    pytest.param(case(add(C, "infNFe/transp", CARRIER), "nfce.carrier"), id="754"),
    pytest.param(case(_delivery(C), "nfce.delivery_carrier"), id="786"),
    pytest.param(
        case(
            add(
                set_text(_delivery(C), "infNFe/transp/modFrete", "0"),
                "infNFe/transp",
                CARRIER,
            )
        ),
        id="753-754-home-delivery-ok",
    ),
    pytest.param(
        case(add(C, "infNFe/transp", "<veicTransp><placa>ABC1D23</placa><UF>SP</UF></veicTransp>"), "nfce.vehicle"),
        id="756",
    ),
    pytest.param(
        case(add(C, "infNFe/transp", "<reboque><placa>ABC1D23</placa><UF>SP</UF></reboque>"), "nfce.trailer"), id="757"
    ),
    pytest.param(case(add(C, "infNFe/transp", "<vagao>VG-1</vagao>"), "nfce.wagon"), id="758"),
    pytest.param(case(add(C, "infNFe/transp", "<balsa>BALSA-1</balsa>"), "nfce.ferry"), id="759"),
    pytest.param(case(insert(C, "transp", RET_TRANSP, AFTER_RET_TRANSP), "nfce.ret_transp"), id="755"),
    pytest.param(case(insert(N, "transp", RET_TRANSP, AFTER_RET_TRANSP)), id="755-nfe-ok"),
    # commercial groups
    pytest.param(case(add(C, "infNFe", "<cobr><fat><nFat>1</nFat></fat></cobr>"), "nfce.billing"), id="760"),
    pytest.param(case(add(C, "infNFe", "<compra><xPed>PED-1</xPed></compra>"), "nfce.purchase"), id="762"),
    pytest.param(case(insert(C, "", CANA, AFTER_CANA), "nfce.cane"), id="763"),
    pytest.param(case(insert(N, "", CANA, AFTER_CANA)), id="763-nfe-ok"),
    # items
    pytest.param(case(set_text(C, "infNFe/det/prod/indTot", "0"), "nfce.indtot"), id="774"),
    pytest.param(case(set_text(C, "infNFe/det/imposto/ICMS/ICMS00/CST", "10"), "nfce.cst"), id="766-cst10"),
    pytest.param(case(set_text(C, "infNFe/det/imposto/ICMS/ICMS00/CST", "51"), "nfce.cst"), id="766-cst51"),
    pytest.param(case(_icms(C, "<ICMS60><orig>0</orig><CST>60</CST></ICMS60>")), id="766-cst60-ok"),
    pytest.param(
        case(
            _icms(
                C,
                "<ICMSSN101><orig>0</orig><CSOSN>101</CSOSN><pCredSN>1.00</pCredSN>"
                "<vCredICMSSN>0.10</vCredICMSSN></ICMSSN101>",
            ),
            "nfce.csosn",
        ),
        id="383",
    ),
    pytest.param(case(_icms(C, "<ICMSSN102><orig>0</orig><CSOSN>102</CSOSN></ICMSSN102>")), id="383-csosn102-ok"),
    pytest.param(case(set_text(C, "infNFe/det/prod/CFOP", "6102"), "nfce.cfop"), id="725"),
    pytest.param(case(set_text(C, "infNFe/det/prod/CFOP", "5405")), id="725-st-resale-ok"),
    pytest.param(
        case(
            add(C, "infNFe/det/prod", "<veicProd><tpOp>1</tpOp><chassi>9BWZZZ377VT004251</chassi></veicProd>"),
            "nfce.item_vehicle",
        ),
        id="736",
    ),
    pytest.param(
        case(add(C, "infNFe/det/prod", "<nRECOPI>20261120143000123456</nRECOPI>"), "nfce.item_recopi"), id="348"
    ),
    pytest.param(case(insert(C, "det/prod", MED), "nfce.item_medicine"), id="737"),
    pytest.param(case(insert(C, "det/prod", ARMA), "nfce.item_weapon"), id="738"),
    pytest.param(case(insert(C, "det/prod", COMB), "nfce.item_fuel"), id="739"),
    pytest.param(case(insert(N, "det/prod", MED)), id="737-nfe-ok"),
    pytest.param(case(insert(N, "det/prod", ARMA)), id="738-nfe-ok"),
    pytest.param(case(insert(N, "det/prod", COMB)), id="739-nfe-ok"),
    pytest.param(
        case(
            _icms(C, "<ICMSPart><orig>0</orig><CST>90</CST><pBCOp>100.00</pBCOp><UFST>RJ</UFST></ICMSPart>"),
            "nfce.item_icms_part",
        ),
        id="741",
    ),
    pytest.param(
        case(
            _tax(
                "<ICMSUFDest><vBCUFDest>1.00</vBCUFDest><pICMSUFDest>18.00</pICMSUFDest>"
                "<vICMSUFDest>0.18</vICMSUFDest></ICMSUFDest>"
            ),
            "nfce.item_icms_uf_dest",
        ),
        id="807",
    ),
    pytest.param(
        case(
            _tax(
                "<IPI><cEnq>999</cEnq><IPITrib><CST>50</CST><vBC>1.00</vBC><pIPI>1.00</pIPI>"
                "<vIPI>0.01</vIPI></IPITrib></IPI>"
            ),
            "nfce.item_ipi",
        ),
        id="742",
    ),
    pytest.param(
        case(_tax("<II><vBC>1.00</vBC><vDespAdu>0.00</vDespAdu><vII>0.00</vII><vIOF>0.00</vIOF></II>"), "nfce.item_ii"),
        id="743",
    ),
    pytest.param(
        case(_tax("<PISST><vBC>1.00</vBC><pPIS>1.00</pPIS><vPIS>0.01</vPIS></PISST>"), "nfce.item_pis_st"), id="746"
    ),
    pytest.param(
        case(
            _tax("<COFINSST><vBC>1.00</vBC><pCOFINS>1.00</pCOFINS><vCOFINS>0.01</vCOFINS></COFINSST>"),
            "nfce.item_cofins_st",
        ),
        id="749",
    ),
    pytest.param(
        case(add(N, "infNFe/det/imposto", "<IPI><cEnq>999</cEnq><IPINT><CST>53</CST></IPINT></IPI>")), id="742-nfe-ok"
    ),
    # emission mode
    pytest.param(case(_emission_mode(C, "3"), "nfce.scan"), id="782"),
    pytest.param(case(_emission_mode(C, "6"), "nfce.svc"), id="783-svc-an"),
    pytest.param(case(_emission_mode(C, "7"), "nfce.svc"), id="783-svc-rs"),
    # QR code
    pytest.param(case(remove(C, "infNFeSupl"), "nfce.qrcode"), id="394"),
    pytest.param(case(_qr(" "), "nfce.qrcode"), id="394-blank"),
    pytest.param(case(_qr(f"{QR_URL}?p={OTHER_KEY}|2|1|1|0123456789ABCDEF"), "nfce.qrcode_key"), id="397-v2"),
    pytest.param(case(_qr(f"{QR_URL}?chNFe={OTHER_KEY}&nVersao=100&tpAmb=1"), "nfce.qrcode_key"), id="397-v1"),
    pytest.param(case(_qr(f"{QR_URL}?chNFe={KEY}&nVersao=100&tpAmb=1")), id="397-v1-ok"),
    pytest.param(case(_qr(f"{QR_URL}?p={KEY.lower()}|2|1|1|0123456789ABCDEF")), id="397-case-insensitive-ok"),
    pytest.param(
        case(
            add(
                N,
                ".",
                f"<infNFeSupl><qrCode>{QR_URL}?p={key_of(N)}|2|1|1|AB</qrCode><urlChave>x</urlChave></infNFeSupl>",
            ),
            "nfce.supplement_on_nfe",
        ),
        id="393",
    ),
]


@pytest.mark.parametrize("row", CASES)
def test_nfce_rules(row: Case) -> None:
    assert row.codes() == row.expected


def test_every_nfce_code_is_triggered() -> None:
    assert family_codes_registered("nfce") <= covered(CASES)


@pytest.mark.parametrize("name", sorted(valid_variants()))
def test_valid_documents_have_no_nfce_findings(name: str) -> None:
    assert not family_codes(valid_variants()[name]) & family_codes_registered("nfce")


def test_nfe_documents_are_left_alone() -> None:
    """An NF-e may carry freight, carrier, billing, purchase data, IPI and any CFOP."""
    xml = add(add(N, "infNFe", "<cobr><fat><nFat>1</nFat></fat></cobr>"), "infNFe/transp", "<vagao>VG-1</vagao>")
    xml = set_text(set_text(xml, "infNFe/det/prod/CFOP", "6102"), "infNFe/ide/idDest", "2")
    assert not family_codes(xml) & family_codes_registered("nfce")


def test_cfop_list_is_advisory() -> None:
    (found,) = [f for f in family_findings(parse(set_text(C, "infNFe/det/prod/CFOP", "6102"))) if f.code == "nfce.cfop"]
    assert found.severity is Severity.WARNING
    assert found.sefaz == "725"
    assert found.xpath == "/NFe/infNFe/det[1]/prod/CFOP"


def test_forbidden_group_paths_point_at_the_item() -> None:
    doc = parse(
        add(
            nfce(3), "infNFe/det[2]/imposto", "<II><vBC>1.00</vBC><vDespAdu>0</vDespAdu><vII>0</vII><vIOF>0</vIOF></II>"
        )
    )
    (found,) = [f for f in family_findings(doc) if f.code == "nfce.item_ii"]
    assert found.xpath == "/NFe/infNFe/det[2]/imposto/II"
    assert found.message == "NFC-e item 2 has the import duty group (II), expected none"


@pytest.mark.parametrize(
    ("url", "key"),
    [
        (f"{QR_URL}?p={KEY}|2|1|1|0123456789ABCDEF", KEY),
        (f"{QR_URL}?p={KEY}|2|1|20|10.00|ABCD|1|0123", KEY),
        (f"{QR_URL}?chNFe={KEY}&nVersao=100", KEY),
        (f"{QR_URL}?nVersao=100&chNFe={KEY}&tpAmb=1", KEY),
        (f"{QR_URL}?key={KEY}", None),
        ("", None),
    ],
)
def test_qr_code_key(url: str, key: str | None) -> None:
    assert qr_code_key(url) == key


@pytest.mark.parametrize(
    ("fragment", "code", "severity", "where"),
    [
        (MED, "nfce.item_medicine", Severity.WARNING, "prod/med"),
        (ARMA, "nfce.item_weapon", Severity.ERROR, "prod/arma"),
        (COMB, "nfce.item_fuel", Severity.WARNING, "prod/comb"),
    ],
)
def test_medicine_weapon_and_fuel_groups(fragment: str, code: str, severity: Severity, where: str) -> None:
    """738 is an error; 737 and 739 are warnings (pharmacies and filling stations sell to consumers, and
    current ACBr no longer rejects the fuel group). The documents are otherwise valid against the XSD."""
    xml = insert(nfce(3), "det[2]/prod", fragment)
    assert schema_errors(xml) == []
    (found,) = [f for f in family_findings(parse(xml)) if f.code == code]
    assert (found.severity, found.xpath) == (severity, f"/NFe/infNFe/det[2]/{where}")


def test_each_referencing_item_is_named() -> None:
    xml = insert(nfce(3), "det[3]", dfe_referenciado(OTHER_KEY, None))
    xml = add(xml, "infNFe/ide", f"<NFref><refNFe>{OTHER_KEY}</refNFe></NFref>")
    found = sorted((f.xpath, f.message) for f in family_findings(parse(xml)) if f.code == "nfce.nfref")
    assert found == [
        ("/NFe/infNFe/det[3]/DFeReferenciado",
         f"NFC-e item 3 references document {OTHER_KEY} (DFeReferenciado), expected none"),
        ("/NFe/infNFe/ide/NFref", "NFC-e references 1 document(s) (NFref), expected none"),
    ]


def test_ret_transp_and_cana_documents_are_schema_valid() -> None:
    """The 755/763 rows test a layout-valid group, not a misplaced one."""
    assert schema_errors(insert(C, "transp", RET_TRANSP, AFTER_RET_TRANSP)) == []
    assert schema_errors(insert(C, "", CANA, AFTER_CANA)) == []
