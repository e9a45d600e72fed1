"""The totals table's shortcut (a row whose total equals its item sum passes at once) against the slow way.

``totals._failing_rows`` decides "passes" for exact matches without going through ``totals._fails``; every
other row still goes through it. These tests judge each document both ways, row by row, on real documents
and on builder documents with totals moved, absent, zero or in ISSQNtot, items with ``indTot=0``,
``finNFe=3`` and NFC-e, so the shortcut can never say something the row itself would not.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nfe_invoice import parse
from nfe_invoice.model import NFeDocument
from nfe_invoice.rules._sums import compute_sums
from nfe_invoice.rules.totals import TOTAL_RULES, _failing_rows, _fails_safely

from .paths import FIXTURES
from .rules_helpers_totals import Edit, as_service, readable_fixtures, valid


def _slow(document: NFeDocument) -> frozenset[str]:
    sums = compute_sums(document)
    return frozenset(spec.code for spec in TOTAL_RULES if _fails_safely(spec, document, sums))


def _assert_same(document: NFeDocument) -> frozenset[str]:
    fast = _failing_rows(document, compute_sums(document))
    assert fast == _slow(document)
    return fast


@pytest.mark.parametrize("path", readable_fixtures(), ids=lambda path: str(path.relative_to(FIXTURES)))
def test_every_fixture_is_judged_the_same_both_ways(path: Path) -> None:
    document = parse(path)
    _assert_same(document)


TOTAL_PATHS = [f"total/{spec.group}/{spec.tag}" for spec in TOTAL_RULES]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    moves=st.lists(
        st.tuples(st.sampled_from(TOTAL_PATHS), st.sampled_from(["shift", "remove", "zero"]),
                  st.sampled_from(["0.01", "-0.01", "0.004", "0.005", "12.34", "-1000"])),
        max_size=4,
    ),
    service=st.booleans(),
    excluded=st.booleans(),
    adjustment=st.booleans(),
    model=st.sampled_from([55, 65]),
)
def test_edited_builder_documents_are_judged_the_same_both_ways(
    moves: list[tuple[str, str, str]], service: bool, excluded: bool, adjustment: bool, model: int
) -> None:
    xml = valid(3, model=model)
    if service:
        xml = as_service(xml, 2)
    edit = Edit(xml)
    if excluded:
        edit.set("det[1]/prod/indTot", "0")
    if adjustment:
        edit.set("ide/finNFe", "3")
    for path, operation, amount in moves:
        if operation == "remove":
            if edit.find(path) is not None:
                edit.remove(path)
        elif operation == "zero":
            edit.set(path, Decimal("0.00"))
        else:
            edit.shift(path, amount)
    _assert_same(parse(edit.bytes()))


def test_a_moved_total_is_found_by_the_shortcut_too() -> None:
    edit = Edit(valid(3))
    edit.shift("total/ICMSTot/vBC", "0.01")
    assert _assert_same(parse(edit.bytes())) == {"totals.vbc"}


def test_no_total_group_fails_no_row() -> None:
    edit = Edit(valid(2))
    edit.remove("total")
    assert _assert_same(parse(edit.bytes())) == frozenset()
