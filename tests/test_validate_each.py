"""validate_each: documents validated a group at a time, phase by phase, give what validate_full gives each.

The grouping exists for speed only (see its docstring), so every test compares it with one document at a
time: on every fixture (real, invalid, broken), on input that is no NF-e at all, and where a phase fails
for one document of a group. The group bounds keep memory flat.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

from nfe_invoice import schema
from nfe_invoice.testing import build_nfe, default_spec, make_test_certificate, sign_nfe, wrap_nfeproc
from nfe_invoice.validate import Validated, ValidationOptions, validate_each, validate_full

from .paths import FIXTURES

validate_module = importlib.import_module("nfe_invoice.validate")

OPTIONS = ValidationOptions()
BROKEN: list[object] = [b"", b"<a>", b"<NFe/>", b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "x">]><x>&e;</x>',
                        "/no/such/file.xml", 42]


def _as_dict(validated: Validated) -> dict[str, Any]:
    return {"report": validated.report.to_dict(), "facts": validated.report.facts, "document": validated.document}


def _signed(items: int, number: int) -> bytes:
    return wrap_nfeproc(sign_nfe(build_nfe(default_spec(items, number=number)), make_test_certificate()))


def test_every_fixture_and_broken_input_gets_what_validate_full_gives() -> None:
    sources: list[object] = [path.read_bytes() for path in sorted(FIXTURES.rglob("*.xml"))]
    sources[3:3] = BROKEN  # input errors in the middle of a group
    sources += [str(path) for path in sorted(FIXTURES.rglob("*.xml"))[:5]]  # paths too
    grouped = list(validate_each(sources, OPTIONS))
    assert len(grouped) == len(sources)
    assert [_as_dict(one) for one in grouped] == [_as_dict(validate_full(source, OPTIONS)) for source in sources]


def test_a_failure_in_one_document_spoils_only_its_own_report(monkeypatch: pytest.MonkeyPatch) -> None:
    sources = [_signed(2, number) for number in range(1, 6)]
    victim = validate_full(sources[2], OPTIONS).report.access_key
    original = validate_module.run_rules

    def failing(document: Any, context: Any) -> Any:
        if document.access_key == victim:
            raise RuntimeError("boom")
        return original(document, context)

    monkeypatch.setattr(validate_module, "run_rules", failing)
    reports = [one.report for one in validate_each(sources, OPTIONS)]
    assert [report.ok for report in reports] == [True, True, False, True, True]
    assert reports[2].codes() == {"internal.error"}
    assert "RuntimeError: boom" in reports[2].findings[0].message


def test_groups_are_bounded_in_documents_and_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[tuple[int, int]] = []
    original = validate_module._validate_group

    def recording(group: list[Any], options: ValidationOptions, events: Any) -> Any:
        sizes.append((len(group), sum(len(item.xml.raw) for item in group if hasattr(item, "xml"))))
        return original(group, options, events)

    monkeypatch.setattr(validate_module, "_validate_group", recording)
    small = _signed(1, 1)
    large = _signed(990, 2)
    assert len(large) > validate_module.GROUP_BYTES
    results = list(validate_each([small] * 40 + [large, small, large], OPTIONS))
    assert len(results) == 43
    assert all(result.report.ok for result in results)
    assert [count for count, _ in sizes] == [16, 16, 9, 2]
    assert all(size < validate_module.GROUP_BYTES + len(large) for _, size in sizes)


def test_a_schema_directory_that_cannot_be_used_is_still_raised(tmp_path: Path) -> None:
    options = ValidationOptions(schema_dir=tmp_path)
    with pytest.raises(schema.SchemaError):
        list(validate_each([_signed(1, 1)], options))


def test_results_stream_a_group_at_a_time() -> None:
    consumed: list[int] = []

    def sources() -> Any:
        for index in range(40):
            consumed.append(index)
            yield _signed(1, 1)

    stream = validate_each(sources(), OPTIONS)
    next(stream)
    assert len(consumed) == validate_module.GROUP_DOCUMENTS  # not all 40 read before the first result
