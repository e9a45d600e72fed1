"""``nfe-invoice payload``: the JSON body on stdout, everything else on stderr, exit 0 / 1 (refused) / 2 (usage)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from nfe_invoice.cli import main
from nfe_invoice.testing import ItemSpec, NFeSpec, build_nfe

from .paths import FIXTURES, ROOT

SAMPLES = ROOT / "nfe_invoice" / "samples"
SALE_3 = SAMPLES / "35261111222333000181550010000010011314159266_nfe55_sale_3_items.xml"
BROKEN_VNF = SAMPLES / "35261111222333000181550010000010021314159263_broken_nfe55_vnf_one_cent_off.xml"
ORDERS = FIXTURES / "orders"
HANDLING = ORDERS / "order_sample_3_items_handling.json"
INVOICED = ORDERS / "order_sample_3_items_invoiced.json"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    out = io.StringIO()
    code = main(["payload", *argv], out=out)
    return code, out.getvalue(), capsys.readouterr().err


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def test_sale_prints_the_body_on_stdout_and_notes_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, str(SALE_3))
    assert code == 0
    assert out.count("\n") == 1
    body = json.loads(out)
    assert body["invoiceValue"] == "15857" and body["invoiceNumber"] == "1001"
    assert body["embeddedInvoice"].encode("utf-8") == SALE_3.read_bytes()
    assert [item["id"] for item in body["items"]] == ["SKU-00001", "SKU-00002", "SKU-00003"]
    assert "order: 1264680564893-01 (the document (xped))" in err
    assert "certificate.chain_not_checked" in err  # findings go to stderr, never into the body


def test_options_shape_the_body(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    sku_map = tmp_path / "skus.csv"
    sku_map.write_text("cProd,skuId\nSKU-00001,1\nSKU-00002,2\nSKU-00003,3\n", encoding="utf-8")
    code, out, _ = run(capsys, str(SALE_3), "--no-embed", "--integer-value", "--invoice-number-format",
                       "{serie}-{nNF}", "--invoice-url", "https://files.example/{key}.xml", "--courier", "Correios",
                       "--sku-map", str(sku_map))
    assert code == 0
    body = json.loads(out)
    assert "embeddedInvoice" not in body
    assert body["invoiceValue"] == 15857
    assert body["invoiceNumber"] == "1-1001"
    assert body["invoiceUrl"] == "https://files.example/35261111222333000181550010000010011314159266.xml"
    assert body["courier"] == "Correios"
    assert [item["id"] for item in body["items"]] == ["1", "2", "3"]


def test_validation_errors_refuse_unless_forced(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, str(BROKEN_VNF))
    assert (code, out) == (1, "")
    assert "totals.vnf" in err
    assert last_line(err).startswith("nfe-invoice: refused [mapping.validation]: the document has")
    assert last_line(err).endswith("(use --force to map it anyway)")
    code, out, err = run(capsys, str(BROKEN_VNF), "--force", "--no-embed")
    assert code == 0 and json.loads(out)["invoiceValue"] == "12647"
    assert "warning: mapped although validation found" in err


def test_fractional_quantity_without_order_is_refused_with_the_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "weight.xml"
    path.write_bytes(build_nfe(NFeSpec(items=(ItemSpec("QUEIJO-MINAS", "Queijo", Decimal("1.5"), Decimal("33.26")),),
                                       order_id="1264680564895-01")))
    code, out, err = run(capsys, str(path), "--force")  # unsigned: validation errors are forced past
    assert (code, out) == (1, "")
    assert last_line(err) == (
        "nfe-invoice: refused [mapping.needs_order]: item 1 (cProd 'QUEIJO-MINAS'): qCom 1.5000 is not a whole "
        "number and VTEX takes whole quantities only; an order with the item's unitMultiplier is needed to convert it"
    )
    code, out, err = run(capsys, str(path), "--force", "--no-embed",
                         "--order-json", str(ORDERS / "order_weight_unit_multiplier.json"))
    assert code == 0
    assert json.loads(out)["items"] == [{"id": "2001", "price": 832, "quantity": 6, "description": "Queijo"}]
    assert "residual: SKU 2001 6 x 832 cents leaves -3 cent(s) of its net 4989" in err
    assert "decision: send [reconcile.complete]" in err


def test_order_json_gives_sku_ids_and_the_decision(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, str(SALE_3), "--order-json", str(HANDLING), "--no-embed")
    assert code == 0
    assert [item["id"] for item in json.loads(out)["items"]] == ["101", "102", "103"]
    assert "decision: send [reconcile.complete] the invoice completes order 1264680564893-01 (15857 cents) -> " \
           "predicted status invoiced" in err


def test_already_delivered_is_success_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, str(SALE_3), "--order-json", str(INVOICED), "--no-embed")
    assert code == 0 and json.loads(out)["invoiceNumber"] == "1001"
    assert "decision: already_delivered [reconcile.already_delivered]" in err


def _order_file(tmp_path: Path, **changes: Any) -> str:
    data = json.loads(HANDLING.read_text(encoding="utf-8"))
    data.update(changes)
    path = tmp_path / "order.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(("changes", "code"), [
    ({"status": "canceled"}, "reconcile.canceled"),
    ({"status": "invoiced"}, "reconcile.invoiced"),
    ({"value": 15000}, "reconcile.over_value"),
])
def test_reconciliation_refusals_exit_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, changes: dict[str, Any], code: str
) -> None:
    status, out, err = run(capsys, str(SALE_3), "--order-json", _order_file(tmp_path, **changes))
    assert (status, out) == (1, "")
    assert last_line(err).startswith(f"nfe-invoice: refused [{code}]: ")


def test_partial_invoice_is_mapped_with_a_warning(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, str(SALE_3), "--order-json", _order_file(tmp_path, value=20000))
    assert code == 0 and out
    assert "warning: partial invoice: order 1264680564893-01 stays handling with 4143 cents still to invoice" in err


@pytest.mark.parametrize("order_id", ["a/b", "1 2", "../x"])
def test_unsafe_order_id_is_refused(capsys: pytest.CaptureFixture[str], order_id: str) -> None:
    code, out, err = run(capsys, str(SALE_3), "--order-id", order_id)
    assert (code, out) == (1, "")
    assert last_line(err).startswith("nfe-invoice: refused [mapping.order_id]: order id")


def test_order_id_that_is_not_the_order_jsons_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, str(SALE_3), "--order-id", "999-01", "--order-json", str(HANDLING))
    assert code == 1
    assert last_line(err) == ("nfe-invoice: refused [mapping.order_id]: the order JSON is order 1264680564893-01, "
                              "not 999-01 (--order-id)")


def test_order_id_rule_from_infcpl(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, str(SALE_3), "--no-embed", "--order-id-rule", r"infcpl:gerado (\w+)")
    assert code == 0 and "order: por (the document (infcpl:gerado (\\w+)))" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["missing.xml"], "no such file: missing.xml"),
        ([str(SALE_3), "--invoice-number-format", "{pedido}"], "unknown placeholder {pedido}"),
        ([str(SALE_3), "--invoice-url", "files/{key}"], "is not an http(s) URL"),
        ([str(SALE_3), "--order-id-rule", "compra"], "--order-id-rule"),
        ([str(SALE_3), "--sku-map", "missing.csv"], "SKU map missing.csv: cannot be read"),
        ([str(SALE_3), "--order-json", str(SALE_3)], "is not JSON"),
        ([str(SALE_3), "--order-json", str(ORDERS / ".." / "realworld" / "README.md")], "is not JSON"),
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert message in err and "Traceback" not in err


def test_order_json_that_is_not_an_order_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text('[{"orderId": "1"}]', encoding="utf-8")
    code, _, err = run(capsys, str(SALE_3), "--order-json", str(path))
    assert code == 2 and "is not a VTEX order" in err


def test_unreadable_document_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "empty.xml"
    path.write_bytes(b"")
    code, out, err = run(capsys, str(path))
    assert (code, out) == (1, "")
    assert "refused [mapping.validation]" in last_line(err) and "input.empty" in last_line(err)


def test_real_process_keeps_stdout_for_the_body_only() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "nfe_invoice.cli", "payload", str(SALE_3), "--no-embed"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["invoiceKey"] == "35261111222333000181550010000010011314159266"
    assert "order: 1264680564893-01" in result.stderr


def test_other_commands_do_not_import_the_vtex_stack() -> None:
    code = ("import sys; from nfe_invoice.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('pydantic', 'httpx', 'nfe_invoice.vtex.models') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"
