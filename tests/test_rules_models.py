"""Rules that apply to one document model only (``Rule.models``): run_rules skips them on the other model.

Skipping must never change a report, so these tests compare ``run_rules`` with every registered check run
one after another, on documents made to trigger each rule (the family tables, with the model as written
and with ide/mod switched to the other one), on the valid builder documents and on the real ones.
"""

from __future__ import annotations

import itertools

import pytest

from nfe_invoice.errors import InputError
from nfe_invoice.findings import Finding
from nfe_invoice.model import NFeDocument
from nfe_invoice.rules import RULES, RuleContext, run_rules
from nfe_invoice.rules.base import NFCE_ONLY, NFE_ONLY

from . import test_rules_dates, test_rules_nfce, test_rules_payments
from .rules_helpers import REALWORLD_FILES, Case, context, parse, set_text, valid_variants

TABLE_ROWS: tuple[Case, ...] = tuple(
    value
    for row in itertools.chain(test_rules_nfce.CASES, test_rules_dates.CASES, test_rules_payments.CASES)
    for value in getattr(row, "values", (row,))
    if isinstance(value, Case)
)
GATED = tuple(entry for entry in RULES if entry.models is not None)


def _every_check(doc: NFeDocument, ctx: RuleContext) -> list[Finding]:
    """Every registered rule, in order, with no skipping: what run_rules must equal."""
    return [found for entry in RULES for found in entry.check(doc, ctx)]


def _other_model(xml: bytes) -> bytes:
    model = parse(xml).ide.mod
    return set_text(xml, "infNFe/ide/mod", "55" if model == "65" else "65")


def test_the_gated_rules_are_the_nfce_and_nfe_ones() -> None:
    assert {entry.models for entry in GATED} == {NFCE_ONLY, NFE_ONLY}
    assert sum(entry.models == NFCE_ONLY for entry in GATED) == 13
    assert sum(entry.models == NFE_ONLY for entry in GATED) == 4


@pytest.mark.parametrize("switch", [False, True], ids=["as-written", "model-switched"])
def test_run_rules_equals_every_check_on_the_family_tables(switch: bool) -> None:
    compared = 0
    for row in TABLE_ROWS:
        doc = parse(_other_model(row.xml) if switch else row.xml)
        ctx = context(doc, row.now, row.digest_value)
        assert run_rules(doc, ctx) == _every_check(doc, ctx)
        compared += 1
    assert compared > 100


def test_each_gated_rule_fires_on_its_model_and_is_silent_on_the_other() -> None:
    """Each gated rule is triggered by some table row, and the same row with the other model says nothing."""
    for entry in GATED:
        fired = [row for row in TABLE_ROWS if any(code in row.expected for code, _, _ in entry.codes)]
        assert fired, f"no table row triggers {entry.name}"
        for row in fired:
            doc = parse(row.xml)
            assert doc.ide.mod in entry.models  # type: ignore[operator]
            switched = parse(_other_model(row.xml))
            assert list(entry.check(switched, context(switched, row.now, row.digest_value))) == []


@pytest.mark.parametrize("name", sorted(valid_variants()))
def test_run_rules_equals_every_check_on_valid_documents(name: str) -> None:
    doc = parse(valid_variants()[name])
    ctx = context(doc)
    assert run_rules(doc, ctx) == _every_check(doc, ctx)


def _real_documents() -> dict[str, NFeDocument]:
    """The real files that are NF-e/NFC-e 4.00 (the folder also holds events and older layouts)."""
    documents = {}
    for path in REALWORLD_FILES:
        try:
            documents[path.name] = parse(path.read_bytes())
        except InputError:
            continue
    return documents


REAL_DOCUMENTS = _real_documents()


def test_the_real_documents_hold_both_models() -> None:
    assert {doc.ide.mod for doc in REAL_DOCUMENTS.values()} >= {"55", "65"}


@pytest.mark.parametrize("name", sorted(REAL_DOCUMENTS))
def test_run_rules_equals_every_check_on_real_documents(name: str) -> None:
    doc = REAL_DOCUMENTS[name]
    ctx = context(doc)
    assert run_rules(doc, ctx) == _every_check(doc, ctx)


def test_a_document_without_a_known_model_gets_every_rule() -> None:
    xml = set_text(test_rules_nfce.N, "infNFe/ide/mod", "99")
    doc = parse(xml)
    ctx = context(doc)
    assert run_rules(doc, ctx) == _every_check(doc, ctx)
