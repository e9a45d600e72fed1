"""Cancellation events: a registered cancellation must keep an NF-e from passing validation."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import pytest

from nfe_invoice.cli import main
from nfe_invoice.events import NotACancellationError, read_cancellation
from nfe_invoice.testing import build_nfe, default_spec, make_test_certificate, sign_nfe, wrap_nfeproc
from nfe_invoice.testing.events import build_cancellation
from nfe_invoice.validate import validate

from .paths import REALWORLD

SPEC = default_spec(2)


@pytest.fixture(scope="module")
def identity():  # type: ignore[no-untyped-def]
    return make_test_certificate(cnpj=SPEC.emitter_cnpj)


@pytest.fixture(scope="module")
def authorised(identity) -> bytes:  # type: ignore[no-untyped-def]
    return wrap_nfeproc(sign_nfe(build_nfe(SPEC), identity))


def test_a_registered_cancellation_is_read(identity) -> None:  # type: ignore[no-untyped-def]
    event = read_cancellation(build_cancellation(SPEC.access_key, identity))
    assert event.access_key == SPEC.access_key
    assert event.event_type == "110111" and event.status == "135" and event.registered
    assert event.problems == ()  # valid against procEventoCancNFe_v1.00.xsd


def test_cancelled_document_fails_validation(identity, authorised: bytes) -> None:  # type: ignore[no-untyped-def]
    assert validate(authorised).ok
    event = read_cancellation(build_cancellation(SPEC.access_key, identity))
    report = validate(authorised, cancellations=[event])
    assert not report.ok
    [cancelled] = [f for f in report.findings if f.code == "document.cancelled"]
    assert cancelled.sefaz == "218" and "110111" in cancelled.message and "135" in cancelled.message


def test_cancellation_of_another_document_or_not_registered_changes_nothing(identity, authorised: bytes) -> None:  # type: ignore[no-untyped-def]
    other = default_spec(2, number=9999).access_key
    unrelated = read_cancellation(build_cancellation(other, identity))
    refused = read_cancellation(build_cancellation(SPEC.access_key, identity, status="573"))
    assert not refused.registered
    assert validate(authorised, cancellations=[unrelated, refused]).ok


def test_a_broken_event_still_blocks_and_says_why(identity, authorised: bytes) -> None:  # type: ignore[no-untyped-def]
    tampered = build_cancellation(SPEC.access_key, identity).replace(b"<descEvento>Cancelamento", b"<descEvento>X")
    event = read_cancellation(tampered)
    assert event.problems and event.problems[0].startswith("XSD")
    report = validate(authorised, cancellations=[event])
    assert any(f.code == "document.cancelled" and "note: XSD" in f.message for f in report.findings)


@pytest.mark.parametrize(
    ("old", "new"),
    [(f"<chNFe>{SPEC.access_key}</chNFe>", f"<chNFe>{SPEC.access_key} </chNFe>"),
     (f"<chNFe>{SPEC.access_key}</chNFe>", f"<chNFe>\n  {SPEC.access_key}\n</chNFe>"),
     ("<cStat>135</cStat>", "<cStat> 135</cStat>")],
    ids=["key-trailing-space", "key-on-its-own-line", "status-leading-space"],
)
def test_white_space_around_the_key_or_status_does_not_hide_a_cancellation(  # type: ignore[no-untyped-def]
    identity, authorised: bytes, old: str, new: str
) -> None:
    """Blocking is the safe direction: the XSD notes the spaces, and the cancellation still counts."""
    raw = build_cancellation(SPEC.access_key, identity)
    assert old.encode() in raw
    event = read_cancellation(raw.replace(old.encode(), new.encode()))
    assert event.access_key == SPEC.access_key and event.registered
    report = validate(authorised, cancellations=[event])
    assert "document.cancelled" in report.codes() and not report.authorized


def test_a_caller_made_cancellation_with_spaces_still_blocks(identity, authorised: bytes) -> None:  # type: ignore[no-untyped-def]
    event = read_cancellation(build_cancellation(SPEC.access_key, identity))
    spaced = dataclasses.replace(event, access_key=f" {SPEC.access_key}\t", status="135 ")
    report = validate(authorised, cancellations=[spaced])
    assert "document.cancelled" in report.codes() and not report.authorized


def test_nonstandard_nfeproc_with_appended_cancellation_is_cancelled() -> None:
    report = validate(REALWORLD / "nfe" / "spedda__NONSTD_nfeProc_55_with_cancel_retEvento.xml")
    [cancelled] = [f for f in report.findings if f.code == "document.cancelled"]
    assert cancelled.xpath == "/nfeProc/retEvento/infEvento"
    assert "135210128997350" in cancelled.message


@pytest.mark.parametrize(
    "path",
    [REALWORLD / "nfe" / "spedda__procEventoNFe_cce_110110_valid_sig.xml",  # a correction letter, not a cancellation
     REALWORLD / "nfe-signed" / "fabyo__nfeProc_55_SP_prod_2026_B2B_1item.xml"],
    ids=["cce_110110", "nfeproc"],
)
def test_other_documents_are_not_cancellations(path: Path) -> None:
    with pytest.raises(NotACancellationError):
        read_cancellation(path)


def test_cli_applies_events_found_in_the_same_folder(tmp_path: Path, identity, authorised: bytes) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "a_nfe.xml").write_bytes(authorised)
    (tmp_path / "b_cancel.xml").write_bytes(build_cancellation(SPEC.access_key, identity))
    out = io.StringIO()
    code = main(["validate", "--format", "json", "--jobs", "1", str(tmp_path)], out=out)
    nfe_report, event_report = (json.loads(line) for line in out.getvalue().splitlines())
    assert code == 1
    assert not nfe_report["ok"]
    assert "document.cancelled" in {f["code"] for f in nfe_report["findings"]}
    assert [f["code"] for f in event_report["findings"]] == ["input.root"]  # an event is not an NF-e
