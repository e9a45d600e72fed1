"""fixtures/invalid/<code>/*.xml: each file must get its folder's code, and nothing unrelated.

Adding a case is adding a file (see scripts/make_invalid_fixtures.py). The folder name is a SEFAZ
rejection code or one of our finding codes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nfe_invoice.findings import Severity
from nfe_invoice.validate import validate

from .paths import FIXTURES

CASES = sorted((FIXTURES / "invalid").glob("*/*.xml"))

# Errors that follow necessarily from the targeted defect (same fact seen by a second rule).
CONSEQUENCES = {
    "207": {"617"},  # the invalid emitter CNPJ is also the CNPJ inside the access key
    "253": {"236"},  # the protocol's chNFe carries the same wrong check digit
}


def test_there_are_cases() -> None:
    assert len(CASES) >= 9


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_invalid_fixture_gets_its_code_and_nothing_unrelated(path: Path) -> None:
    expected = path.parent.name
    report = validate(path)
    errors = [finding for finding in report.findings if finding.severity is Severity.ERROR]
    assert not report.ok
    assert any(expected in (finding.code, finding.sefaz) for finding in errors), report.findings
    allowed = {expected} | CONSEQUENCES.get(expected, set())
    unrelated = [f for f in errors if f.code not in allowed and f.sefaz not in allowed]
    assert unrelated == []
