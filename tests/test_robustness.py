"""Junk fed to every public entry point: only the library's own exceptions may come out, or a report."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nfe_invoice import errors, parse
from nfe_invoice.events import read_cancellation
from nfe_invoice.identifiers import access_key, cnpj, cpf, gtin
from nfe_invoice.testing import build_nfe, default_spec
from nfe_invoice.validate import validate
from nfe_invoice.xml import load

VALID = build_nfe(default_spec(2))

JUNK: list[object] = [
    None, "", 0, -1, 1.5, float("nan"), True, [], {}, (), set(), object(), b"", b"\x00", b" ", bytearray(),
    "x" * 100_000, b"x" * 100_000, "\x00", "<NFe/>", b"<NFe/>", b"<a>" * 5000, b"<?xml version='1.0'?>",
    b"\xef\xbb\xbf", VALID[: len(VALID) // 3], VALID.replace(b"<", b"[", 5), VALID.decode("utf-8").encode("utf-16"),
    io.StringIO("<NFe/>"), io.BytesIO(b"<NFe/>"), os.devnull, "/", "/etc/shadow-not-there",
    b'<NFe xmlns="http://www.portalfiscal.inf.br/nfe"><infNFe versao="4.00"><det nItem="x"/></infNFe></NFe>',
    b'<nfeProc xmlns="http://www.portalfiscal.inf.br/nfe" versao="4.00"><NFe><infNFe versao="4.00"/></NFe></nfeProc>',
]

ENTRY_POINTS: dict[str, Callable[[object], object]] = {
    "load": load,
    "parse": parse,
    "read_cancellation": read_cancellation,
}


@pytest.mark.parametrize("junk", JUNK, ids=lambda value: type(value).__name__)
@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_readers_raise_only_library_errors(name: str, junk: object) -> None:
    with contextlib.suppress(errors.NfeInvoiceError):
        ENTRY_POINTS[name](junk)


@pytest.mark.parametrize("junk", JUNK, ids=lambda value: type(value).__name__)
def test_validate_always_returns_a_report(junk: object) -> None:
    report = validate(junk)
    assert report.ok is False
    assert report.findings
    assert all(finding.code and finding.message for finding in report.findings)


@pytest.mark.parametrize("junk", JUNK, ids=lambda value: type(value).__name__)
@pytest.mark.parametrize("module", [cnpj, cpf, access_key, gtin], ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_identifier_functions_raise_only_identifier_errors(module: object, junk: object) -> None:
    assert module.is_valid(junk) is False or isinstance(junk, str)  # type: ignore[attr-defined]
    with contextlib.suppress(errors.IdentifierError):
        module.validate(junk)  # type: ignore[attr-defined]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_random_bytes_never_escape_as_foreign_exceptions(data: bytes) -> None:
    with contextlib.suppress(errors.InputError):
        parse(data)
    assert validate(data).findings


@settings(max_examples=100, deadline=None)
@given(st.integers(0, len(VALID) - 1), st.sampled_from([b"<", b">", b"&", b"\x00", b"\xff", b"", b'"']))
def test_mutated_documents_give_reports(position: int, replacement: bytes) -> None:
    mutated = VALID[:position] + replacement + VALID[position + 1 :]
    report = validate(mutated)
    assert report.findings  # unsigned, so never ok
    assert report.ok is False


def test_an_internal_failure_fails_closed_and_does_not_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in one stage must neither crash a batch nor let the document through."""
    import nfe_invoice.validate as validation

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(validation, "verify_signature", broken)
    report = validate(VALID)
    assert not report.ok
    assert [finding.code for finding in report.findings] == ["internal.error"]
    assert "simulated bug" in report.findings[0].message


def test_namespace_prefixes_are_404_only_when_used() -> None:
    body = VALID.split(b"?>", 1)[1]
    declared = body.replace(b'<NFe xmlns="http://www.portalfiscal.inf.br/nfe">',
                            b'<NFe xmlns="http://www.portalfiscal.inf.br/nfe" xmlns:x="urn:unused">', 1)
    assert declared != body
    assert "document.prefix" not in validate(declared).codes()
    used = body.replace(b'<NFe xmlns="http://www.portalfiscal.inf.br/nfe">',
                        b'<NFe xmlns="http://www.portalfiscal.inf.br/nfe" xmlns:nfe="http://www.portalfiscal.inf.br/nfe">',
                        1).replace(b"<natOp>", b"<nfe:natOp>").replace(b"</natOp>", b"</nfe:natOp>")
    report = validate(used)
    [finding] = [f for f in report.findings if f.code == "document.prefix"]
    assert finding.sefaz == "404"
    assert finding.xpath == "/NFe/infNFe/ide/natOp" and "nfe:natOp" in finding.message
    text_only = body.replace(b"Documento gerado", b"xmlns:ds is only text here, documento gerado")
    assert "document.prefix" not in validate(text_only).codes()


def test_a_failing_rule_fails_closed_and_the_others_still_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """One broken rule (a bug of ours) gives rules.internal_error; an absurd value only silences its rule."""
    from nfe_invoice import rules
    from nfe_invoice.rules.base import POLICY, Rule

    def broken(document: object, context: object) -> list[object]:
        raise KeyError("simulated bug")

    def overflowing(document: object, context: object) -> list[object]:
        raise ArithmeticError("9E+999999")

    extra = (
        Rule("check_broken", "simulated", broken, (), POLICY),
        Rule("check_overflow", "simulated", overflowing, (), POLICY),
    )
    monkeypatch.setattr(rules, "RULES", rules.RULES + extra)
    added = tuple(entry.check for entry in extra)
    monkeypatch.setattr(rules, "_CHECKS", rules._CHECKS + added)
    by_model = {model: checks + added for model, checks in rules._CHECKS_BY_MODEL.items()}
    monkeypatch.setattr(rules, "_CHECKS_BY_MODEL", by_model)
    unsigned_but_sound = build_nfe(default_spec(2)).replace(b"<vNF>", b"<vNF>1")  # one real finding too
    codes = validate(unsigned_but_sound).codes()
    assert "rules.internal_error" in codes
    assert "totals.vnf" in codes  # the other rules ran


@pytest.mark.parametrize(
    ("edit", "flagged"),
    [
        (lambda raw: raw, False),
        (lambda raw: raw.replace(b"<natOp>", b"<natOp> ", 1), False),  # a space in a value, not between tags
        (lambda raw: raw.replace(b"</natOp>", b"</natOp> ", 1), True),
        (lambda raw: raw.replace(b"</natOp>", b"</natOp>\n", 1), True),
        (lambda raw: raw.replace(b"</natOp>", b"</natOp>\r\n", 1), True),
        (lambda raw: raw.replace(b"</natOp>", b"</natOp>\t", 1), True),
        (lambda raw: raw.replace(b"<ide>", b"<ide> ", 1), True),
        (lambda raw: raw[:-20] + raw[-20:].replace(b">", b"> ", 1), True),  # near the end
        (lambda raw: raw.replace(b"Venda", b"Venda\n", 1), False),  # a line break in a value is not between tags
    ],
)
def test_formatting_between_tags_is_588(edit: Callable[[bytes], bytes], flagged: bool) -> None:
    raw = edit(VALID)
    assert ("document.whitespace" in validate(raw).codes()) is flagged
