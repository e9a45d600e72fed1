"""Date rules: 703, 228, 704, 504/505, 506, 556/557, 558/569, the installment due dates (900/850) and the
traceability batch dates (877/870)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from .rules_helpers import (
    EMITTED_AT,
    RECEIVED_AT,
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
    nfeproc,
    parse,
    remove,
    set_text,
    valid_variants,
    with_key,
)
from .rules_helpers_extra import rastro

N = nfe()
C = nfce()
MINUTE, DAY = timedelta(minutes=1), timedelta(days=1)


def _at(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _exit(xml: bytes, moment: datetime) -> bytes:
    return set_text(xml, "infNFe/ide/dhSaiEnt", _at(moment))


def _contingency(xml: bytes, mode: str, *, started: datetime | None = None, reason: bool = True) -> bytes:
    """tpEmis ``mode`` (key rebuilt to match), with dhCont/xJust when given."""
    xml = set_text(xml, "infNFe/ide/tpEmis", mode)
    key = key_of(xml)
    xml = with_key(xml, key[:34] + mode + key[35:43])
    fields = (f"<dhCont>{_at(started)}</dhCont>" if started else "") + (
        "<xJust>Sem comunicacao com a SEFAZ autorizadora</xJust>" if reason else ""
    )
    return add(xml, "infNFe/ide", fields) if fields else xml


def _billing(xml: bytes, *dues: str | None) -> bytes:
    """A cobr group with one installment of 10.00 per due date (None: dVenc left out)."""
    total = Decimal("10.00") * len(dues)
    installments = "".join(
        f"<dup><nDup>{index:03d}</nDup>{f'<dVenc>{due}</dVenc>' if due else ''}<vDup>10.00</vDup></dup>"
        for index, due in enumerate(dues, start=1)
    )
    return add(
        xml,
        "infNFe",
        f"<cobr><fat><nFat>1</nFat><vOrig>{total}</vOrig><vDesc>0.00</vDesc><vLiq>{total}</vLiq></fat>"
        f"{installments}</cobr>",
    )


def _batches(xml: bytes, *dates: tuple[str, str]) -> bytes:
    """prod/rastro batches (dFab, dVal) in the first item, where the layout puts them (after indTot)."""
    return add(xml, "infNFe/det[1]/prod", "".join(rastro(made, expires) for made, expires in dates))


CASES = [
    # 703: emitted after the reception (5 minutes of tolerance)
    pytest.param(case(N, "date.emission_after_receipt", now=EMITTED_AT - 6 * MINUTE), id="703"),
    pytest.param(case(N, now=EMITTED_AT - 5 * MINUTE), id="703-tolerance-ok"),
    pytest.param(
        case(N, "date.emission_after_receipt", now=(EMITTED_AT - 10 * MINUTE).astimezone(UTC).replace(tzinfo=None)),
        id="703-naive-clock-is-utc",
    ),
    # 228: an NF-e received more than 30 days late
    pytest.param(case(remove(N, "infNFe/ide/dhSaiEnt"), "date.emission_too_old", now=EMITTED_AT + 31 * DAY), id="228"),
    pytest.param(case(remove(N, "infNFe/ide/dhSaiEnt"), now=EMITTED_AT + 30 * DAY), id="228-30-days-ok"),
    pytest.param(
        case(
            nfeproc(remove(N, "infNFe/ide/dhSaiEnt"), status="150", received_at=EMITTED_AT + 40 * DAY),
            now=EMITTED_AT + 40 * DAY,
        ),
        id="228-authorised-late-ok",
    ),
    pytest.param(case(C, "date.nfce_late", now=EMITTED_AT + 31 * DAY), id="228-not-for-nfce"),
    # 704: an on-line NFC-e received more than 5 minutes late
    pytest.param(case(C, "date.nfce_late", now=EMITTED_AT + 6 * MINUTE), id="704"),
    pytest.param(case(C, now=EMITTED_AT + 5 * MINUTE), id="704-tolerance-ok"),
    pytest.param(
        case(_contingency(C, "9", started=EMITTED_AT - MINUTE), now=EMITTED_AT + 2 * DAY),
        id="704-offline-contingency-ok",
    ),
    pytest.param(
        case(nfeproc(C, status="150", received_at=EMITTED_AT + DAY), now=EMITTED_AT + DAY), id="704-authorised-late-ok"
    ),
    # 504/505: dhSaiEnt within 30 days of the reception
    pytest.param(case(_exit(N, RECEIVED_AT + 31 * DAY), "date.exit_too_late"), id="504"),
    pytest.param(case(_exit(N, RECEIVED_AT + 30 * DAY)), id="504-30-days-ok"),
    pytest.param(
        case(_exit(set_text(N, "infNFe/ide/tpNF", "0"), RECEIVED_AT - 31 * DAY), "date.exit_too_early"), id="505"
    ),
    pytest.param(
        case(_exit(N, RECEIVED_AT - 31 * DAY), "date.exit_too_early", "date.exit_before_emission"), id="505-and-506"
    ),
    # 506: leaving before the emission
    pytest.param(case(_exit(N, EMITTED_AT - MINUTE), "date.exit_before_emission", now=None), id="506"),
    pytest.param(case(_exit(set_text(N, "infNFe/ide/tpNF", "0"), EMITTED_AT - MINUTE), now=None), id="506-inbound-ok"),
    pytest.param(case(_exit(N, EMITTED_AT), now=None), id="506-same-moment-ok"),
    # 556/557: contingency justification
    pytest.param(
        case(add(N, "infNFe/ide", "<xJust>Sem comunicacao com a SEFAZ</xJust>"), "date.contingency_unexpected"),
        id="556-xjust",
    ),
    pytest.param(
        case(add(N, "infNFe/ide", f"<dhCont>{_at(EMITTED_AT)}</dhCont>"), "date.contingency_unexpected"),
        id="556-dhcont",
    ),
    pytest.param(case(_contingency(N, "2"), "date.contingency_missing"), id="557-no-dhcont"),
    pytest.param(
        case(_contingency(N, "5", started=EMITTED_AT, reason=False), "date.contingency_missing"), id="557-no-xjust"
    ),
    pytest.param(case(_contingency(N, "4", started=EMITTED_AT - MINUTE)), id="557-complete-ok"),
    # 558/569: when contingency began
    pytest.param(
        case(_contingency(N, "2", started=RECEIVED_AT + 6 * MINUTE), "date.contingency_after_receipt"), id="558"
    ),
    pytest.param(case(_contingency(N, "2", started=RECEIVED_AT - 31 * DAY), "date.contingency_too_old"), id="569"),
    pytest.param(case(_contingency(N, "2", started=RECEIVED_AT - 31 * DAY), now=None), id="569-without-clock-ok"),
    # 900/850: installment due dates
    pytest.param(case(_billing(N, "2026-11-19"), "date.due_before_emission"), id="900-before"),
    pytest.param(case(_billing(N, "2026-12-20", None), "date.due_before_emission"), id="900-missing"),
    pytest.param(case(_billing(N, "2026-11-20", "2026-12-20")), id="900-same-day-ok"),
    pytest.param(case(_billing(N, "2026-12-20", "2026-12-10"), "date.due_out_of_order"), id="850"),
    pytest.param(case(_billing(N, "2026-12-20", "2026-12-20", "2027-01-20")), id="850-equal-ok"),
    # 877/870: traceability batches (dhEmi is 2026-11-20)
    pytest.param(case(_batches(N, ("2026-11-21", "2027-11-21")), "date.batch_made_after_emission"), id="877"),
    pytest.param(case(_batches(N, ("2026-11-20", "2027-11-20"))), id="877-same-day-ok"),
    pytest.param(
        case(_batches(N, ("2026-11-21", "2027-11-21")), "date.batch_made_after_emission", now=None),
        id="877-without-clock",
    ),
    pytest.param(case(_batches(N, ("2026-10-01", "2026-09-30")), "date.batch_expires_before_made"), id="870"),
    pytest.param(case(_batches(N, ("2026-10-01", "2026-10-01"))), id="870-same-day-ok"),
    pytest.param(
        case(
            _batches(C, ("2026-10-01", "2027-10-01"), ("2026-12-01", "2026-11-01")),
            "date.batch_made_after_emission",
            "date.batch_expires_before_made",
        ),
        id="877-870-second-batch-nfce",
    ),
]


@pytest.mark.parametrize("row", CASES)
def test_date_rules(row: Case) -> None:
    assert row.codes() == row.expected


def test_every_date_code_is_triggered() -> None:
    assert family_codes_registered("dates") <= covered(CASES)


@pytest.mark.parametrize("name", sorted(valid_variants()))
def test_valid_documents_have_no_date_findings(name: str) -> None:
    assert not family_codes(valid_variants()[name]) & family_codes_registered("dates")


def test_time_rules_are_skipped_without_a_clock() -> None:
    xml = _exit(_contingency(N, "2", started=EMITTED_AT - 400 * DAY), EMITTED_AT + 400 * DAY)
    assert not family_codes(xml, now=None) & family_codes_registered("dates")


def test_emission_message_names_both_moments() -> None:
    doc = parse(N)
    (found,) = family_findings(doc, now=EMITTED_AT - 2 * DAY)[:1]
    assert found.code == "date.emission_after_receipt"
    assert found.sefaz == "703"
    assert found.xpath == "/NFe/infNFe/ide/dhEmi"
    assert "2026-11-20T14:30:00-03:00" in found.message and "2 days, 0:00:00 after" in found.message


def test_due_dates_use_the_emission_calendar_date() -> None:
    """dhEmi late in the evening in -03:00 is already the next day in UTC: the local date counts."""
    late = datetime.fromisoformat("2026-11-20T23:30:00-03:00")
    xml = _billing(nfe(emitted_at=late), "2026-11-20")
    assert "date.due_before_emission" not in family_codes(xml, now=late + MINUTE)


def test_batch_findings_point_at_the_batch_and_name_the_item() -> None:
    xml = _batches(nfe(3), ("2026-10-01", "2027-10-01"), ("2026-11-25", "2026-11-24"))
    xml = add(xml, "infNFe/det[2]/prod", rastro("2026-12-01", "2027-12-01"))
    found = sorted(
        (f.sefaz, f.xpath, f.message) for f in family_findings(parse(xml)) if f.code.startswith("date.batch")
    )
    assert found == [
        ("870", "/NFe/infNFe/det[1]/prod/rastro[2]/dVal",
         "item 1 batch L1 expires on 2026-11-24, before it was made (2026-11-25), expected dVal on or after dFab"),
        ("877", "/NFe/infNFe/det[1]/prod/rastro[2]/dFab",
         "item 1 batch L1 was made on 2026-11-25, after the emission date 2026-11-20, expected that date or earlier"),
        ("877", "/NFe/infNFe/det[2]/prod/rastro[1]/dFab",
         "item 2 batch L1 was made on 2026-12-01, after the emission date 2026-11-20, expected that date or earlier"),
    ]


def test_batch_made_on_the_local_emission_day_is_accepted() -> None:
    """dhEmi at 23:30 -03:00 is the next day in UTC; a batch made that (local) next day is still too late."""
    late = datetime.fromisoformat("2026-11-20T23:30:00-03:00")
    codes = family_codes(_batches(nfe(emitted_at=late), ("2026-11-20", "2027-11-20")), now=late + MINUTE)
    assert "date.batch_made_after_emission" not in codes
    codes = family_codes(_batches(nfe(emitted_at=late), ("2026-11-21", "2027-11-21")), now=late + MINUTE)
    assert "date.batch_made_after_emission" in codes
