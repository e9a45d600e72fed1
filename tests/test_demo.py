"""The README's main job: `nfe-invoice demo` sends the samples to an in-process sandbox, offline."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from nfe_invoice.cli.demo import _as_promised
from nfe_invoice.pipeline import Result


def test_demo_command_completes_one_order_partly_invoices_one_and_refuses_one() -> None:
    command = [shutil.which("nfe-invoice") or "", "demo"] if shutil.which("nfe-invoice") else [
        sys.executable, "-m", "nfe_invoice.cli", "demo"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "Traceback" not in done.stderr
    # the complete sale reached `invoiced`, the NFC-e is a partial invoice, the broken one was never sent
    assert "1264680564893-01  invoiced" in out
    assert "(partial)" in out and "1264680564894-01  ready-for-handling" in out
    assert "1264680564895-01  ready-for-handling   R$ 0.00" in out
    assert "[totals.vnf/610]" in out
    # the faults were injected and ridden out, and the second run sent nothing
    assert "429 x1" in out and "503 x1" in out
    assert "run again on the same journal: 0 invoice(s) sent" in out
    assert "every order ended as the samples promise" in out


def _result(name: str, state: str, *, findings: tuple[dict[str, str], ...] = ()) -> Result:
    return Result(name, None, None, None, state, findings=findings)


GOOD = [
    _result("a_nfe55_sale_3_items.xml", "sent"),
    _result("b_nfce65_sale_2_items.xml", "sent"),
    _result("c_broken_nfe55.xml", "refused", findings=({"code": "totals.vnf"},)),
]
STATUSES = {
    "a_nfe55_sale_3_items.xml": ("invoiced", 100, 100),
    "b_nfce65_sale_2_items.xml": ("ready-for-handling", 50, 80),
    "c_broken_nfe55.xml": ("ready-for-handling", 0, 70),
}


def test_the_demo_verdict_holds_for_the_promised_outcome() -> None:
    assert _as_promised(STATUSES, GOOD, resent=0)


@pytest.mark.parametrize(
    ("statuses", "results", "resent"),
    [
        pytest.param(STATUSES, GOOD, 1, id="something-sent-twice"),
        pytest.param({**STATUSES, "a_nfe55_sale_3_items.xml": ("handling", 90, 100)}, GOOD, 0, id="not-invoiced"),
        pytest.param({**STATUSES, "b_nfce65_sale_2_items.xml": ("invoiced", 80, 80)}, GOOD, 0, id="not-partial"),
        pytest.param({**STATUSES, "c_broken_nfe55.xml": ("invoiced", 70, 70)}, GOOD, 0, id="broken-sent"),
        pytest.param(STATUSES, GOOD[:2], 0, id="a-result-missing"),
    ],
)
def test_the_demo_verdict_fails_when_an_order_ends_otherwise(
    statuses: dict[str, tuple[str, int, int]], results: list[Result], resent: int
) -> None:
    assert not _as_promised(statuses, results, resent)
