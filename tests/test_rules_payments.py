"""Payment, change, billing and intermediary rules (769, 865, 866/869, 871/899/904, 441/436/857,
901/902, 851, 434/435, 438/439)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nfe_invoice.findings import Severity
from nfe_invoice.model import NFeDocument, Payment, PaymentDetail
from nfe_invoice.testing.builder import BRT

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
    set_text,
    valid_variants,
)

N = nfe()
C = nfce()


def _total(xml: bytes) -> Decimal:
    total = parse(xml).totals.vNF
    assert total is not None
    return total


TOTAL, NFCE_TOTAL = _total(N), _total(C)
PAYMENT_CODES = family_codes_registered("payments")


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _paid(xml: bytes, amount: Decimal, *, change: Decimal | None = None, means: str | None = None) -> bytes:
    xml = set_text(xml, "infNFe/pag/detPag/vPag", _money(amount))
    if means is not None:
        xml = set_text(xml, "infNFe/pag/detPag/tPag", means)
    return add(xml, "infNFe/pag", f"<vTroco>{_money(change)}</vTroco>") if change is not None else xml


def _no_payment(xml: bytes) -> bytes:
    return _paid(xml, Decimal(0), means="90")


def _other(xml: bytes, description: str | None) -> bytes:
    xml = set_text(xml, "infNFe/pag/detPag/tPag", "99")
    return add(xml, "infNFe/pag/detPag", f"<xPag>{description}</xPag>") if description else xml


def _invoice(xml: bytes, original: str, discount: str | None, net: str | None, *installments: str) -> bytes:
    fat = (
        f"<fat><nFat>1</nFat><vOrig>{original}</vOrig>"
        + (f"<vDesc>{discount}</vDesc>" if discount is not None else "")
        + (f"<vLiq>{net}</vLiq>" if net is not None else "")
        + "</fat>"
    )
    dups = "".join(
        f"<dup><nDup>{index:03d}</nDup><dVenc>2026-12-{10 + index}</dVenc><vDup>{value}</vDup></dup>"
        for index, value in enumerate(installments, start=1)
    )
    return add(xml, "infNFe", f"<cobr>{fat}{dups}</cobr>")


def _presence(xml: bytes, presence: str, intermediary: str | None) -> bytes:
    xml = set_text(xml, "infNFe/ide/indPres", presence)
    if intermediary is None:
        return remove(xml, "infNFe/ide/indIntermed")
    return set_text(xml, "infNFe/ide/indIntermed", intermediary)


MARKETPLACE = "<infIntermed><CNPJ>11444777000161</CNPJ><idCadIntTran>loja-1</idCadIntTran></infIntermed>"
BEFORE_NT_2020_006 = datetime(2021, 1, 10, 10, 0, tzinfo=BRT)
BEFORE_434_PRODUCTION = datetime(2021, 10, 5, 10, 0, tzinfo=BRT)  # 434 in homologation, not yet in production
CENT = Decimal("0.01")

CASES = [
    pytest.param(case(remove(N, "infNFe/pag"), "payment.missing"), id="769"),
    # 865: an NFC-e paid in full
    pytest.param(case(_paid(C, NFCE_TOTAL - CENT), "payment.insufficient"), id="865"),
    pytest.param(case(_paid(N, TOTAL - CENT)), id="865-not-for-nfe"),
    # 866/869: change
    pytest.param(case(_paid(N, TOTAL + 10), "payment.change_missing"), id="866"),
    pytest.param(case(_paid(C, NFCE_TOTAL + 10), "payment.change_missing"), id="866-nfce"),
    pytest.param(case(_paid(N, TOTAL + 10, change=Decimal(10))), id="866-with-change-ok"),
    pytest.param(case(_paid(N, TOTAL + 10, change=Decimal(5)), "payment.change_incorrect"), id="869"),
    pytest.param(case(_paid(N, TOTAL + 10, change=Decimal("10.01")), "payment.change_incorrect"), id="869-a-cent"),
    pytest.param(case(_paid(N, TOTAL, change=Decimal(0))), id="869-zero-change-ok"),
    # 871/899/904: tPag 90, "sem pagamento"
    pytest.param(case(set_text(N, "infNFe/ide/finNFe", "4"), "payment.no_payment_required"), id="871"),
    pytest.param(case(_no_payment(set_text(N, "infNFe/ide/finNFe", "4"))), id="871-return-without-payment-ok"),
    pytest.param(case(_no_payment(C), "payment.nfce_no_payment"), id="899"),
    pytest.param(case(_paid(N, TOTAL, means="90"), "payment.no_payment_value"), id="904"),
    # 441/436/857: means of payment
    pytest.param(case(_other(N, None), "payment.other_description"), id="441"),
    pytest.param(case(_other(N, "Vale-presente da loja")), id="441-described-ok"),
    pytest.param(case(_other(nfe(emitted_at=BEFORE_NT_2020_006), None), now=None), id="441-before-nt-ok"),
    pytest.param(case(_other(C, "Vale-presente da loja"), "payment.nfce_other"), id="436"),
    pytest.param(case(_other(C, None), "payment.nfce_other", "payment.other_description"), id="436-441"),
    pytest.param(case(set_text(C, "infNFe/pag/detPag/tPag", "14"), "payment.nfce_trade_bill"), id="857"),
    pytest.param(case(set_text(N, "infNFe/pag/detPag/tPag", "14")), id="857-nfe-ok"),
    # 901/902/851: invoice and installments
    pytest.param(case(_invoice(N, "10.00", "12.00", None), "payment.invoice_discount"), id="901"),
    pytest.param(case(_invoice(N, "100.00", "10.00", "95.00"), "payment.invoice_net"), id="902"),
    pytest.param(case(_invoice(N, "100.00", None, "100.00")), id="902-no-discount-ok"),
    pytest.param(
        case(_invoice(N, "100.00", "10.00", "90.00", "50.00", "39.99"), "payment.installments_short"), id="851"
    ),
    pytest.param(
        case(_invoice(N, "100.00", "0.00", "100.00", "50.00", "60.00"), "payment.installments_excess"),
        id="851-excess-warning",
    ),
    pytest.param(case(_invoice(N, "100.00", "0.00", "100.00", "33.33", "33.33", "33.34")), id="851-exact-ok"),
    # 434/435/438/439: intermediary (NT 2020.006; 434 and 435 as v1.30 left them)
    pytest.param(case(_presence(N, "2", None), "payment.intermediary_indicator_missing"), id="434"),
    pytest.param(case(_presence(N, "9", None), "payment.intermediary_indicator_missing"), id="434-other"),
    pytest.param(case(_presence(nfe(emitted_at=BEFORE_NT_2020_006), "2", None), now=None), id="434-before-nt-ok"),
    pytest.param(
        case(_presence(nfe(emitted_at=BEFORE_434_PRODUCTION), "2", None), now=None), id="434-before-2022-04-04-ok"
    ),
    pytest.param(
        case(
            _presence(nfe(emitted_at=BEFORE_434_PRODUCTION, environment=2), "2", None),
            "payment.intermediary_indicator_missing",
            "environment.homologation",
            now=None,
        ),
        id="434-homologation-started-earlier",
    ),
    pytest.param(case(_presence(set_text(N, "infNFe/ide/tpNF", "0"), "2", None)), id="434-incoming-ok"),
    pytest.param(
        case(_presence(set_text(N, "infNFe/ide/finNFe", "2"), "2", None)), id="434-complementary-ok"
    ),
    pytest.param(case(_presence(set_text(N, "infNFe/det/prod/CFOP", "5252"), "2", None)), id="434-exempt-cfop-ok"),
    pytest.param(case(_presence(N, "1", None)), id="434-in-person-ok"),
    pytest.param(case(add(_presence(N, "0", "1"), "infNFe", MARKETPLACE), "payment.intermediary_indicator_unexpected"),
                 id="435"),
    pytest.param(case(add(_presence(N, "5", "1"), "infNFe", MARKETPLACE), "payment.intermediary_indicator_unexpected"),
                 id="435-outside-establishment"),
    pytest.param(case(_presence(N, "0", "0")), id="435-no-marketplace-declared-ok"),
    pytest.param(case(_presence(N, "1", "0")), id="435-in-person-own-site-ok"),
    pytest.param(case(add(_presence(N, "1", "1"), "infNFe", MARKETPLACE)), id="435-in-person-marketplace-ok"),
    pytest.param(case(_presence(N, "2", "1"), "payment.intermediary_missing"), id="438"),
    pytest.param(case(add(_presence(N, "2", "1"), "infNFe", MARKETPLACE)), id="438-ok"),
    pytest.param(case(add(N, "infNFe", MARKETPLACE), "payment.intermediary_unexpected"), id="439"),
]


@pytest.mark.parametrize("row", CASES)
def test_payment_rules(row: Case) -> None:
    assert row.codes() == row.expected


def test_every_payment_code_is_triggered() -> None:
    assert covered(CASES) >= PAYMENT_CODES


@pytest.mark.parametrize("name", sorted(valid_variants()))
def test_valid_documents_have_no_payment_findings(name: str) -> None:
    assert not family_codes(valid_variants()[name]) & PAYMENT_CODES


def test_advisory_codes_are_warnings() -> None:
    severities = {
        found.code: found.severity
        for xml in (_other(C, "Vale"), _invoice(N, "100.00", "0.00", "100.00", "50.00", "60.00"))
        for found in family_findings(parse(xml))
    }
    assert severities["payment.nfce_other"] is Severity.WARNING
    assert severities["payment.installments_excess"] is Severity.WARNING


def test_change_message_shows_the_arithmetic() -> None:
    (found,) = [f for f in family_findings(parse(_paid(N, TOTAL + 10, change=Decimal(5)))) if f.code.startswith("pay")]
    assert found.message == f"vTroco is 5.00, expected 10.00 (payments {TOTAL + 10:.2f} − vNF {TOTAL:.2f})"
    assert found.xpath == "/NFe/infNFe/pag/vTroco"


# ------------------------------------------------------------------------- properties (model level)

BASE_NFCE = parse(C)
cents = st.integers(min_value=1, max_value=10_000_000).map(lambda n: Decimal(n) / 100)


def _with_payments(doc: NFeDocument, total: Decimal, payments: list[Decimal], change: Decimal | None) -> NFeDocument:
    inf = doc.infNFe
    assert inf.total is not None and inf.total.ICMSTot is not None
    totals = dataclasses.replace(inf.total, ICMSTot=dataclasses.replace(inf.total.ICMSTot, vNF=total))
    pag = Payment(detPag=tuple(PaymentDetail(tPag="01", vPag=value) for value in payments), vTroco=change)
    return dataclasses.replace(doc, infNFe=dataclasses.replace(inf, total=totals, pag=pag))


def _split(total: Decimal, weights: list[int]) -> list[Decimal]:
    """``total`` split into len(weights) non-negative parts to the cent, adding up exactly."""
    whole = int(total * 100)
    parts = [whole * weight // sum(weights) for weight in weights]
    parts[-1] += whole - sum(parts)
    return [Decimal(part) / 100 for part in parts]


@settings(max_examples=60, deadline=None)
@given(total=cents, weights=st.lists(st.integers(1, 9), min_size=1, max_size=4), over=st.integers(0, 50_000))
def test_exact_payments_with_correct_change_pass(total: Decimal, weights: list[int], over: int) -> None:
    change = Decimal(over) / 100
    payments = _split(total + change, weights)
    doc = _with_payments(BASE_NFCE, total, payments, change if over else None)
    assert not family_codes(doc) & PAYMENT_CODES


@settings(max_examples=60, deadline=None)
@given(total=cents, weights=st.lists(st.integers(1, 9), min_size=1, max_size=4), over=st.integers(1, 50_000))
def test_change_off_by_a_cent_is_caught(total: Decimal, weights: list[int], over: int) -> None:
    change = Decimal(over) / 100
    payments = _split(total + change, weights)
    doc = _with_payments(BASE_NFCE, total, payments, change + CENT)
    assert family_codes(doc) & PAYMENT_CODES == {"payment.change_incorrect"}


@settings(max_examples=60, deadline=None)
@given(total=cents, weights=st.lists(st.integers(1, 9), min_size=1, max_size=4), short=st.integers(1, 10_000))
def test_nfce_short_payment_is_caught(total: Decimal, weights: list[int], short: int) -> None:
    missing = min(Decimal(short) / 100, total)
    doc = _with_payments(BASE_NFCE, total, _split(total - missing, weights), None)
    assert family_codes(doc) & PAYMENT_CODES == {"payment.insufficient"}
