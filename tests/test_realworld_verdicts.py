"""Every real document in fixtures/realworld/nfe gets the verdict its MANIFEST.tsv row gives (XSD, signature)."""

from __future__ import annotations

import csv

import pytest

from nfe_invoice.validate import validate

from .paths import REALWORLD

MANIFEST = REALWORLD / "nfe" / "MANIFEST.tsv"


def _rows() -> list[dict[str, str]]:
    with MANIFEST.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


ROWS = _rows()
SIGNATURE_ERRORS = {"signature.digest", "signature.value"}


def test_manifest_lists_every_file() -> None:
    assert {row["file"] for row in ROWS} == {path.name for path in (REALWORLD / "nfe").glob("*.xml")}
    assert len(ROWS) == 49


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row["file"])
def test_verdict_matches_manifest(row: dict[str, str]) -> None:
    report = validate(REALWORLD / "nfe" / row["file"])
    codes = report.codes()
    unreadable = any(code.startswith("input.") for code in codes)
    if unreadable:
        # Not an NF-e 4.00 (old layout, event, SOAP wrapper): never schema-valid as an NF-e for us.
        assert len(report.findings) == 1 and not report.ok
        assert row["xsd_valid"] in {"no", "n/a"} or row["root_element"] not in {"NFe", "nfeProc"}
        return
    assert ("schema.invalid" not in codes) == (row["xsd_valid"] == "yes"), sorted(codes)
    signature = row["sig_valid"]
    if signature == "yes":
        assert not codes & (SIGNATURE_ERRORS | {"signature.missing"})
    elif signature == "no":
        assert "signature.digest" in codes or "signature.value" in codes
        digest = [f for f in report.findings if f.code == "signature.digest"]
        assert all("changed after signing" in f.message for f in digest)
    elif signature == "unsigned":
        # No XMLDSig signature (one file has a <Signature> in the NF-e namespace: not where one belongs).
        assert codes & {"signature.missing", "signature.location"}
    elif signature == "error":
        assert "certificate.unreadable" in codes
    assert not report.ok  # none of these re-formatted or unsigned copies may reach VTEX
