"""``nfe-invoice submit FILE --order-id ID``: one invoice, validated, mapped, checked against its order and
sent, through the console command against the sandbox on loopback; exit statuses 0/1/2/3, one-line reasons,
no traceback, no secret."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from nfe_invoice.journal.sqlite import migration_steps
from nfe_invoice.vtex.sandbox import Sandbox

from .e2e import Exported, export, lines, no_secret_in, packages, run_cli, seed
from .test_journal_sqlite import v1_journal


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed=5) as running:
        yield running


def submit(
    document: Exported, sandbox: Sandbox, *extra: str, order_id: str | None = None
) -> tuple[int, dict[str, object], str]:
    done = run_cli("submit", str(document.path), "--order-id", order_id or document.order_id,
                   "--base-url", sandbox.base_url, *extra)
    assert "Traceback" not in done.stderr, done.stderr
    assert no_secret_in(done.stdout, done.stderr)
    [result] = lines(done.stdout) or [{}]
    return done.returncode, result, done.stderr


def test_submit_sends_and_prints_the_receipt_then_says_already_delivered(tmp_path: Path, sandbox: Sandbox) -> None:
    document = export(tmp_path, 1)
    seed(sandbox, document)
    code, result, _ = submit(document, sandbox)
    assert code == 0
    assert result["state"] == "sent"
    assert result["receipt"] == sandbox.receipt(document.order_id, "1")
    assert sandbox.order(document.order_id)["status"] == "invoiced"
    code, again, _ = submit(document, sandbox)
    assert code == 0
    assert again["state"] == "delivered-already"  # the order already holds this very invoice: nothing sent
    assert sandbox.invoice_posts() == {(document.order_id, "1"): 1}


def test_submit_refusals_are_exit_1_with_the_reason(tmp_path: Path, sandbox: Sandbox) -> None:
    homologation = export(tmp_path, 2, environment=2)
    seed(sandbox, homologation)
    code, result, err = submit(homologation, sandbox)
    assert (code, result["code"]) == (1, "pipeline.homologation")
    assert "refused" in err and "--allow-homologation" in err
    code, result, _ = submit(homologation, sandbox, "--allow-homologation")
    assert (code, result["state"]) == (0, "sent")

    broken = export(tmp_path, 3)
    broken.path.write_bytes(broken.raw.replace(b"<vNF>", b"<vNF>9", 1))
    seed(sandbox, broken)
    code, result, _ = submit(broken, sandbox)
    assert code == 1 and result["code"] == "pipeline.validation"
    assert "signature.digest" in {f["code"] for f in result["findings"]}  # type: ignore[union-attr]

    stranger = export(tmp_path, 4)  # its order is not at VTEX
    code, result, _ = submit(stranger, sandbox)
    assert (code, result["code"]) == (1, "pipeline.order_not_found")

    other = export(tmp_path, 5)
    seed(sandbox, other, extra_items=[{"id": "77", "refId": "X", "price": 100}])
    seed(sandbox, export(tmp_path, 6, name="six.xml"))
    code, result, _ = submit(other, sandbox, order_id="E2E000006-01")  # the document names E2E000005-01
    assert (code, result["code"]) == (1, "pipeline.order_mismatch")
    assert packages(sandbox, "E2E000006-01") == []

    # no xPed: the given id is taken, but items 4 to 12 are not in that order's three lines
    unnamed = export(tmp_path, 10, names_order=False, name="unnamed.xml", items=12)
    code, result, _ = submit(unnamed, sandbox, order_id="E2E000006-01")
    assert code == 1 and str(result["code"]).startswith("mapping.sku"), result


def test_submit_without_the_order_check_uses_the_sku_map(tmp_path: Path, sandbox: Sandbox) -> None:
    document = export(tmp_path, 7, items=2)
    seed(sandbox, document)  # the order's SKU ids are 1000 and 1001
    skus = tmp_path / "skus.csv"
    skus.write_text("cProd,skuId\nSKU-00001,1000\nSKU-00002,1001\n", encoding="utf-8")
    code, result, _ = submit(document, sandbox, "--no-order-check", "--sku-map", str(skus))
    assert (code, result["state"]) == (0, "sent")
    assert [p["invoiceNumber"] for p in packages(sandbox, document.order_id)] == ["7"]


def test_vtex_unreachable_is_exit_3_and_usage_errors_are_exit_2(tmp_path: Path) -> None:
    document = export(tmp_path, 8)
    with Sandbox() as gone:
        url = gone.base_url
    done = run_cli("submit", str(document.path), "--order-id", document.order_id, "--base-url", url,
                   "--max-attempts", "2", "--retry-deadline", "2")
    assert done.returncode == 3
    assert "vtex.connection" in done.stderr and "Traceback" not in done.stderr
    done = run_cli("submit", str(document.path), env={"VTEX_ACCOUNT": "", "VTEX_BASE_URL": ""})
    assert done.returncode == 2 and "VTEX: give --account" in done.stderr
    done = run_cli("submit", str(document.path), "--base-url", url, env={"VTEX_APP_KEY": ""})
    assert done.returncode == 2 and "VTEX_APP_KEY" in done.stderr


def test_batch_runs_on_a_journal_written_by_an_older_version(tmp_path: Path, sandbox: Sandbox) -> None:
    """A journal file from schema version 1 is migrated when batch opens it; its records stay and count."""
    journal = tmp_path / "v1.db"
    v1_journal(journal)
    folder = tmp_path / "erp"
    folder.mkdir()
    document = export(folder, 9)
    seed(sandbox, document)
    done = run_cli("batch", str(folder), "--base-url", sandbox.base_url, "--journal", str(journal),
                   "--format", "json")
    assert done.returncode == 0, done.stderr
    assert [r["state"] for r in lines(done.stdout)] == ["sent"]  # the batch reports its own document
    assert sqlite3.connect(journal).execute("PRAGMA user_version").fetchone()[0] == len(migration_steps())
    status = run_cli("status", "--journal", str(journal), "--format", "json")
    summary = lines(status.stdout)[-1]
    assert summary["total"] == 6  # the five records version 1 wrote, and the new one
    assert sandbox.invoice_posts() == {(document.order_id, "9"): 1}


def test_every_pipeline_refusal_code_is_documented_in_the_readme() -> None:
    import re

    from nfe_invoice.pipeline import REFUSAL_CODES

    from .paths import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    source = "".join(path.read_text(encoding="utf-8") for path in (ROOT / "nfe_invoice").rglob("*.py"))
    used = set(re.findall(r'"(pipeline\.[a-z_]+)"', source))
    assert used == set(REFUSAL_CODES)
    assert all(f"`{code}`" in readme for code in REFUSAL_CODES)
