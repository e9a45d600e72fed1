"""Identity rules: CNPJ/CPF of every party, IBGE municipality codes, GTIN, NCM and item numbering."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nfe_invoice.findings import Severity
from nfe_invoice.rules._common import MUNICIPALITY_DV_EXCEPTIONS, is_valid_municipality, municipality_check_digit
from nfe_invoice.rules.identities import gtin_prefix
from nfe_invoice.testing.builder import BRT, TEST_EMITTER_CNPJ

from .rules_helpers import (
    Case,
    add,
    case,
    covered,
    family_codes,
    family_codes_registered,
    family_findings,
    nfce,
    nfe,
    parse,
    remove,
    set_attr,
    set_text,
    valid_variants,
    with_key,
)

N = nfe()  # dest CPF 11144477735, carrier CNPJ, card payment
NC = nfe(recipient_cpf=None, recipient_cnpj="11444777000161")
BAD_CNPJ, BAD_CPF = "11444777000162", "11144477736"
GOOD_CNPJ, GOOD_CPF = "11444777000161", "11144477735"
BAD_GTIN, GOOD_GTIN = "7891000315508", "7891000315507"
UNASSIGNED_PREFIX_GTIN = "1500000000011"  # valid check digit, GS1 prefix 150 is not assigned
RIO = "3304557"  # a valid IBGE code outside SP


def _place(tag: str, document: str = f"<CNPJ>{GOOD_CNPJ}</CNPJ>", city: str = "3550308", state: str = "SP") -> bytes:
    return add(
        N,
        "infNFe",
        f"<{tag}>{document}<xLgr>Rua A</xLgr><nro>1</nro><xBairro>Centro</xBairro><cMun>{city}</cMun>"
        f"<xMun>Cidade</xMun><UF>{state}</UF></{tag}>",
    )


def _cpf_emitter(cpf: str) -> bytes:
    xml = add(remove(N, "infNFe/emit/CNPJ"), "infNFe/emit", f"<CPF>{cpf}</CPF>")
    key = parse(N).access_key
    assert key is not None
    return with_key(xml, key[:6] + cpf.zfill(14) + key[20:43])


def _carrier(document: str) -> bytes:
    return add(remove(N, "infNFe/transp/transporta/CNPJ"), "infNFe/transp/transporta", document)


def _gtins(ean: str, ean_trib: str, xml: bytes = N) -> bytes:
    return set_text(set_text(xml, "infNFe/det/prod/cEAN", ean), "infNFe/det/prod/cEANTrib", ean_trib)


def _intermediary(cnpj: str) -> bytes:
    xml = set_text(N, "infNFe/ide/indIntermed", "1")
    return add(xml, "infNFe", f"<infIntermed><CNPJ>{cnpj}</CNPJ><idCadIntTran>loja-1</idCadIntTran></infIntermed>")


def _no_payment(xml: bytes) -> bytes:
    return set_text(set_text(xml, "infNFe/pag/detPag/tPag", "90"), "infNFe/pag/detPag/vPag", "0.00")


ISSQN = (
    "<ISSQN><vBC>10.00</vBC><vAliq>2.0000</vAliq><vISSQN>0.20</vISSQN><cMunFG>3550308</cMunFG>"
    "<cListServ>01.01</cListServ><indISS>1</indISS><indIncentivo>2</indIncentivo></ISSQN>"
)
OLD = datetime(2022, 1, 10, 10, 0, tzinfo=BRT)  # before the GTIN rules came into force

CASES = [
    # emitter, recipient, carrier
    pytest.param(case(nfe(emitter_cnpj="11222333000182"), "identity.emitter_cnpj", "key.emitter"), id="207"),
    pytest.param(case(nfe(emitter_cnpj="12ABC34501DE36"), "identity.emitter_cnpj", "key.emitter"), id="207-alnum"),
    pytest.param(case(nfe(emitter_cnpj="12ABC34501DE35")), id="207-alnum-ok"),
    pytest.param(case(_cpf_emitter(BAD_CPF), "identity.emitter_cpf", "key.emitter"), id="401"),
    pytest.param(case(_cpf_emitter(GOOD_CPF)), id="401-ok"),
    pytest.param(case(set_text(NC, "infNFe/dest/CNPJ", BAD_CNPJ), "identity.recipient_cnpj"), id="208"),
    pytest.param(case(set_text(N, "infNFe/dest/CPF", BAD_CPF), "identity.recipient_cpf"), id="237"),
    pytest.param(case(set_text(N, "infNFe/dest/CPF", "11111111111"), "identity.recipient_cpf"), id="237-repeated"),
    pytest.param(case(set_text(N, "infNFe/transp/transporta/CNPJ", BAD_CNPJ), "identity.carrier_cnpj"), id="542"),
    pytest.param(case(_carrier(f"<CPF>{BAD_CPF}</CPF>"), "identity.carrier_cpf"), id="543"),
    pytest.param(case(_carrier(f"<CPF>{GOOD_CPF}</CPF>")), id="543-ok"),
    # retirada / entrega
    pytest.param(case(_place("retirada", f"<CNPJ>{BAD_CNPJ}</CNPJ>"), "identity.pickup_cnpj"), id="512"),
    pytest.param(case(_place("retirada", f"<CPF>{BAD_CPF}</CPF>"), "identity.pickup_cpf"), id="540"),
    pytest.param(case(_place("entrega", f"<CNPJ>{BAD_CNPJ}</CNPJ>"), "identity.delivery_cnpj"), id="514"),
    pytest.param(case(_place("entrega", f"<CPF>{BAD_CPF}</CPF>"), "identity.delivery_cpf"), id="541"),
    pytest.param(case(_place("entrega", f"<CPF>{GOOD_CPF}</CPF>")), id="541-ok"),
    pytest.param(case(_place("entrega", "<CNPJ></CNPJ>")), id="514-empty-cnpj-ok"),
    # autXML
    pytest.param(
        case(add(N, "infNFe", f"<autXML><CNPJ>{BAD_CNPJ}</CNPJ></autXML>"), "identity.download_cnpj"), id="323"
    ),
    pytest.param(case(add(N, "infNFe", f"<autXML><CPF>{BAD_CPF}</CPF></autXML>"), "identity.download_cpf"), id="325"),
    pytest.param(
        case(add(NC, "infNFe", f"<autXML><CNPJ>{GOOD_CNPJ}</CNPJ></autXML>"), "identity.download_cnpj_is_recipient"),
        id="324",
    ),
    pytest.param(
        case(add(N, "infNFe", f"<autXML><CPF>{GOOD_CPF}</CPF></autXML>"), "identity.download_cpf_is_recipient"),
        id="326",
    ),
    pytest.param(
        case(add(N, "infNFe", f"<autXML><CNPJ>{GOOD_CNPJ}</CNPJ></autXML><autXML><CPF>52998224725</CPF></autXML>")),
        id="323-325-ok",
    ),
    # card acquirer, marketplace, software house
    pytest.param(
        case(add(N, "infNFe/pag/detPag/card", f"<CNPJ>{BAD_CNPJ}</CNPJ>"), "identity.payment_institution_cnpj"),
        id="437",
    ),
    pytest.param(case(add(N, "infNFe/pag/detPag/card", f"<CNPJ>{GOOD_CNPJ}</CNPJ>")), id="437-ok"),
    pytest.param(case(_intermediary(BAD_CNPJ), "identity.intermediary_cnpj"), id="440"),
    pytest.param(case(_intermediary(GOOD_CNPJ)), id="440-ok"),
    pytest.param(
        case(
            add(
                N,
                "infNFe",
                "<infRespTec><CNPJ>00000000000000</CNPJ><xContato>Ana</xContato>"
                "<email>a@b.com</email><fone>1130001000</fone></infRespTec>",
            ),
            "identity.technical_responsible_cnpj",
        ),
        id="973",
    ),
    # recipient = emitter
    pytest.param(
        case(nfe(recipient_cpf=None, recipient_cnpj=TEST_EMITTER_CNPJ), "identity.recipient_is_emitter_nfe"),
        id="220-nfe-warning",
    ),
    pytest.param(
        case(nfce(recipient_cpf=None, recipient_cnpj=TEST_EMITTER_CNPJ), "identity.recipient_is_emitter"), id="220-nfce"
    ),
    # states and municipalities
    pytest.param(
        case(set_text(N, "infNFe/emit/enderEmit/UF", "RJ"), "identity.uf", "identity.emitter_cmun_uf"), id="226-uf"
    ),
    pytest.param(
        case(set_text(remove(N, "infNFe/emit/enderEmit/UF"), "infNFe/emit/enderEmit/cMun", RIO), "identity.uf"),
        id="226-from-cmun",
    ),
    pytest.param(case(set_text(N, "infNFe/ide/cMunFG", "3550309"), "identity.cmunfg_digit"), id="270"),
    pytest.param(case(set_text(N, "infNFe/ide/cMunFG", RIO), "identity.cmunfg_uf"), id="271"),
    pytest.param(case(set_text(N, "infNFe/emit/enderEmit/cMun", "3550309"), "identity.emitter_cmun_digit"), id="272"),
    pytest.param(case(set_text(N, "infNFe/emit/enderEmit/cMun", RIO), "identity.emitter_cmun_uf"), id="273"),
    pytest.param(case(set_text(N, "infNFe/dest/enderDest/cMun", "3550309"), "identity.recipient_cmun_digit"), id="274"),
    pytest.param(case(set_text(N, "infNFe/dest/enderDest/cMun", RIO), "identity.recipient_cmun_uf"), id="275"),
    pytest.param(
        case(set_text(set_text(N, "infNFe/dest/enderDest/cMun", "9999999"), "infNFe/dest/enderDest/UF", "EX")),
        id="274-abroad-ok",
    ),
    pytest.param(case(_place("retirada", city="3550309"), "identity.pickup_cmun_digit"), id="276"),
    pytest.param(case(_place("retirada", city=RIO), "identity.pickup_cmun_uf"), id="277"),
    pytest.param(case(_place("retirada", city="2201919", state="PI")), id="276-ibge-exception-ok"),
    pytest.param(
        case(_place("entrega", city="4305872", state="RS"), "identity.delivery_cmun_digit"), id="278-near-exception"
    ),
    pytest.param(case(_place("entrega", city="9999999", state="SP"), "identity.delivery_cmun_uf"), id="279"),
    pytest.param(case(_place("entrega", city="4322707", state="RS")), id="278-279-ok"),
    # items
    pytest.param(
        case(add(N, "infNFe/det/prod", f"<CNPJFab>{BAD_CNPJ}</CNPJFab>"), "identity.manufacturer_cnpj"), id="489"
    ),
    pytest.param(case(_gtins(BAD_GTIN, BAD_GTIN), "identity.gtin", "identity.gtin_trib"), id="611-612"),
    pytest.param(case(_gtins(BAD_GTIN, GOOD_GTIN), "identity.gtin"), id="611"),
    pytest.param(case(_gtins(GOOD_GTIN, "12345678901"), "identity.gtin_trib"), id="612-length"),
    pytest.param(case(_gtins(UNASSIGNED_PREFIX_GTIN, GOOD_GTIN), "identity.gtin_prefix"), id="882"),
    pytest.param(case(_gtins(GOOD_GTIN, UNASSIGNED_PREFIX_GTIN), "identity.gtin_trib_prefix"), id="884"),
    pytest.param(case(_gtins("96385074", "96385074")), id="gtin8-ok"),
    pytest.param(case(_gtins("036000291452", "036000291452")), id="gtin12-ok"),
    pytest.param(case(_gtins("17891000315504", GOOD_GTIN)), id="gtin14-ok"),
    pytest.param(case(_gtins("", "SEM GTIN"), "identity.gtin_empty"), id="883"),
    pytest.param(case(_gtins("SEM GTIN", ""), "identity.gtin_trib_empty"), id="888"),
    pytest.param(case(_gtins(GOOD_GTIN, "SEM GTIN"), "identity.gtin_trib_missing"), id="885"),
    pytest.param(case(_gtins("SEM GTIN", GOOD_GTIN), "identity.gtin_missing"), id="886"),
    pytest.param(
        case(_gtins(BAD_GTIN, ""), now=None, xml=None)
        if False
        else case(_gtins(BAD_GTIN, "", nfe(emitted_at=OLD)), now=None),
        id="gtin-rules-not-yet-in-force",
    ),
    pytest.param(case(set_text(N, "infNFe/det/prod/NCM", "61"), "identity.ncm"), id="777"),
    pytest.param(case(set_text(N, "infNFe/det/prod/NCM", "00"), "identity.ncm_services_only"), id="471"),
    pytest.param(case(add(set_text(N, "infNFe/det/prod/NCM", "00"), "infNFe/det/imposto", ISSQN)), id="471-service-ok"),
    pytest.param(
        case(_no_payment(set_text(set_text(N, "infNFe/det/prod/NCM", "00"), "infNFe/ide/finNFe", "3"))),
        id="471-adjustment-ok",
    ),
    pytest.param(case(set_attr(nfe(3), "infNFe/det[2]", "nItem", "5"), "identity.item_order"), id="927"),
    pytest.param(case(set_attr(nfe(3), "infNFe/det[1]", "nItem", "0"), "identity.item_order"), id="927-from-1"),
]


@pytest.mark.parametrize("row", CASES)
def test_identity_rules(row: Case) -> None:
    assert row.codes() == row.expected


def test_every_identity_code_is_triggered() -> None:
    assert family_codes_registered("identities") <= covered(CASES)


@pytest.mark.parametrize("name", sorted(valid_variants()))
def test_valid_documents_have_no_identity_findings(name: str) -> None:
    assert not family_codes(valid_variants()[name]) & family_codes_registered("identities")


def test_advisory_codes_are_warnings() -> None:
    doc = parse(_gtins(UNASSIGNED_PREFIX_GTIN, GOOD_GTIN))
    (prefix,) = [found for found in family_findings(doc) if found.code == "identity.gtin_prefix"]
    assert prefix.severity is Severity.WARNING
    assert prefix.xpath == "/NFe/infNFe/det[1]/prod/cEAN"
    assert "prefix 150" in prefix.message
    doc = parse(nfe(recipient_cpf=None, recipient_cnpj=TEST_EMITTER_CNPJ))
    (same,) = [found for found in family_findings(doc) if found.code.startswith("identity.recipient_is")]
    assert same.severity is Severity.WARNING and same.sefaz is None


def test_item_order_reports_the_first_break_only() -> None:
    doc = parse(set_attr(set_attr(nfe(4), "infNFe/det[2]", "nItem", "9"), "infNFe/det[3]", "nItem", "8"))
    found = [f for f in family_findings(doc) if f.code == "identity.item_order"]
    assert [f.xpath for f in found] == ["/NFe/infNFe/det[2]/@nItem"]
    assert found[0].message == "item 2 has nItem 9, expected 2"


# Real IBGE codes (the emitters and recipients of ../shared/realworld) and their check digits.
REAL_MUNICIPALITIES = ["3550308", "3304557", "5300108", "4106902", "1100015", "4322707", "3547809", "2111300"]


@pytest.mark.parametrize("code", REAL_MUNICIPALITIES)
def test_real_municipality_codes_are_valid(code: str) -> None:
    assert municipality_check_digit(code[:6]) == code[6]
    assert is_valid_municipality(code)


@pytest.mark.parametrize("code", sorted(MUNICIPALITY_DV_EXCEPTIONS))
def test_known_exceptions_really_break_the_rule(code: str) -> None:
    assert municipality_check_digit(code[:6]) != code[6]
    assert is_valid_municipality(code)


@given(st.from_regex(r"[1-5][0-9]{5}", fullmatch=True), st.integers(min_value=1, max_value=9))
def test_municipality_check_digit_catches_every_single_digit_change(base: str, shift: int) -> None:
    good = base + municipality_check_digit(base)
    bad = base + str((int(good[6]) + shift) % 10)
    assert is_valid_municipality(good)
    assert not is_valid_municipality(bad) or bad in MUNICIPALITY_DV_EXCEPTIONS


@pytest.mark.parametrize(
    ("code", "prefix"),
    [("7891000315507", 789), ("17891000315504", 789), ("96385074", 963), ("036000291452", 3), ("1500000000011", 150)],
)
def test_gtin_prefix(code: str, prefix: int) -> None:
    assert gtin_prefix(code) == prefix
