"""The local VTEX OMS, spoken to with plain httpx over real loopback sockets: paths, authentication, required
fields, the state VTEX keeps (packages, invoiced, renewed receipts, returns, tracking, start-handling), the
fault spec and its faults, and the ``nfe-invoice sandbox`` command."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from nfe_invoice.errors import ConfigurationError
from nfe_invoice.vtex import sandbox as sandbox_module
from nfe_invoice.vtex.models import Order
from nfe_invoice.vtex.policy import Credentials
from nfe_invoice.vtex.sandbox import FaultSpec, Sandbox, make_order

AUTH = {"X-VTEX-API-AppKey": "key", "X-VTEX-API-AppToken": "token"}
ORDERS = "/api/oms/pvt/orders"


def _order(order_id: str = "1001-01", **changes: Any) -> dict[str, Any]:
    items = [{"id": "7", "ref_id": "CAM-P", "ean": "7891234567895", "price": 1990, "quantity": 2},
             {"id": "8", "refId": "CAM-M", "price": 2500, "selling_price": 2250, "quantity": 1}]
    return make_order(order_id, items, shipping=1000, **changes)


def _invoice(number: str = "123", value: int = 7230, kind: str = "Output", **changes: Any) -> dict[str, Any]:
    body = {"type": kind, "issuanceDate": "2026-11-20T10:00:00-03:00", "invoiceNumber": number,
            "invoiceValue": str(value), "items": [{"id": "7", "price": 1990, "quantity": 2},
                                                  {"id": "8", "price": 2250, "quantity": 1}]}
    body.update(changes)
    return body


@pytest.fixture
def vtex() -> Iterator[tuple[Sandbox, httpx.Client]]:
    with Sandbox(orders=[_order()]) as sandbox, httpx.Client(base_url=sandbox.base_url, headers=AUTH,
                                                             timeout=5) as http:
        yield sandbox, http


# ------------------------------------------------------------------------------------------ make_order


def test_make_order_is_read_by_the_order_model() -> None:
    order_json = _order()
    assert order_json["value"] == 2 * 1990 + 2250 + 1000
    assert [t["value"] for t in order_json["totals"]] == [6230, 0, 1000, 0]
    order = Order.model_validate(order_json)
    assert order.order_id == "1001-01"
    assert order.status == "ready-for-handling"
    assert order.value == 7230
    assert [(i.id, i.ref_id, i.seller_sku, i.quantity, i.price, i.selling_price) for i in order.items] == [
        ("7", "CAM-P", "7", 2, 1990, 1990), ("8", "CAM-M", "8", 1, 2500, 2250)]
    assert order.items[1].price_definition is not None
    assert order.items[1].price_definition.total == 2250
    assert order.packages == ()


def test_make_order_totals_for_goods_sold_by_weight_and_discounts() -> None:
    order = make_order("2", [{"id": "9", "price": 3990, "quantity": 3, "unitMultiplier": 0.3,
                              "measurementUnit": "kg"}], discounts=100, tax=50)
    assert order["items"][0]["priceDefinition"]["total"] == 3591  # 39.90/kg x 3 x 0.3 kg = 35.91
    assert order["value"] == 3591 - 100 + 50


def test_make_order_needs_sku_ids_and_prices() -> None:
    with pytest.raises(ValueError, match="'id' and 'price'"):
        make_order("3", [{"price": 10}])


# ----------------------------------------------------------------------------------- auth and paths


def test_every_call_needs_credentials(vtex: tuple[Sandbox, httpx.Client]) -> None:
    sandbox, _ = vtex
    with httpx.Client(base_url=sandbox.base_url) as anonymous:
        for method, path in (("GET", "/1001-01"), ("POST", "/1001-01/invoice"), ("POST", "/1001-01/start-handling")):
            response = anonymous.request(method, ORDERS + path, json={})
            assert response.status_code == 401
            assert response.json() == {"error": {"code": "1", "message": "Unauthorized access", "exception": None}}
        only_key = anonymous.get(ORDERS + "/1001-01", headers={"X-VTEX-API-AppKey": "key"})
        assert only_key.status_code == 401
        user_token = anonymous.get(ORDERS + "/1001-01", headers={"VtexIdclientAutCookie": "user-token"})
        assert user_token.status_code == 200


def test_configured_credentials_are_the_only_ones_accepted() -> None:
    sandbox = Sandbox(orders=[_order()], credentials=Credentials("right", "secret"))
    with sandbox, httpx.Client(base_url=sandbox.start().base_url) as http:
        assert http.get(ORDERS + "/1001-01", headers=AUTH).status_code == 401
        good = {"X-VTEX-API-AppKey": "right", "X-VTEX-API-AppToken": "secret"}
        assert http.get(ORDERS + "/1001-01", headers=good).status_code == 200


def test_unknown_orders_and_paths(vtex: tuple[Sandbox, httpx.Client]) -> None:
    _, http = vtex
    missing = http.get(ORDERS + "/nope-01")
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "Order nope-01 not found"
    assert http.post(ORDERS + "/nope-01/invoice", json=_invoice()).status_code == 404
    assert http.get(ORDERS + "/1001-01/whatever").status_code == 404
    assert http.delete(ORDERS + "/1001-01").status_code == 405
    assert http.get("/api/other").status_code == 404


def test_get_order_returns_the_order_and_a_request_id(vtex: tuple[Sandbox, httpx.Client]) -> None:
    _, http = vtex
    response = http.get(ORDERS + "/1001-01")
    assert response.status_code == 200
    assert response.json() == _order()
    assert response.headers["X-VTEX-Request-Id"].startswith("sandbox-")


def test_an_answer_is_written_at_once_with_the_head_http_server_would_make(
    vtex: tuple[Sandbox, httpx.Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Head and body go out in one write (a loopback send cost the sandbox as much as answering), with the
    status line and headers :class:`http.server.BaseHTTPRequestHandler` would give them, and the order as a
    snapshot taken when it was asked for."""
    writes: list[bytes] = []
    real_write = sandbox_module._Connection.write

    async def counting(connection: Any, data: bytes) -> None:
        writes.append(data)
        await real_write(connection, data)

    monkeypatch.setattr(sandbox_module._Connection, "write", counting)
    _, http = vtex
    response = http.get(ORDERS + "/1001-01")
    assert len(writes) == 1
    head, body = writes[0].split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0] == "HTTP/1.1 200 OK"
    assert lines[1].startswith("Server: nfe-invoice-sandbox Python/")
    assert lines[2].startswith("Date: ") and lines[2].endswith(" GMT")
    assert lines[3].startswith("X-VTEX-Request-Id: sandbox-")
    assert lines[4:] == ["Content-Type: application/json; charset=utf-8", f"Content-Length: {len(body)}"]
    assert json.loads(body) == _order() == response.json()
    http.post(ORDERS + "/1001-01/invoice", json=_invoice())
    assert json.loads(body) == _order()  # what was answered is not touched by the invoice that came after
    assert http.get(ORDERS + "/1001-01").json()["status"] == "invoiced"
    writes.clear()
    assert http.post(ORDERS + "/1001-01/start-handling").status_code == 409
    assert http.post(ORDERS + "/1001-01/start-handling").status_code == 409
    assert len(writes) == 2 and all(w.startswith(b"HTTP/1.1 409 Conflict\r\n") for w in writes)


# --------------------------------------------------------------------------------------- invoices


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"type": None}, "type is required"), ({"invoiceValue": None}, "invoiceValue is required"),
     ({"items": []}, "items must be a non-empty list"), ({"type": "Sale"}, "type must be Output or Input"),
     ({"invoiceValue": "72,30"}, "invoiceValue must be a positive amount"),
     ({"invoiceValue": 0}, "invoiceValue must be a positive amount"),
     ({"issuanceDate": "yesterday"}, "issuanceDate is not a date"),
     ({"items": [{"id": "7", "price": 19.9, "quantity": 2}]}, "items[0].price must be an integer"),
     ({"items": [{"id": "7", "price": 1990, "quantity": 0}]}, "items[0].quantity must be a positive integer"),
     ({"items": [{"id": "99", "price": 1990, "quantity": 1}]}, "items[0].id '99' is not an item of order")],
)
def test_an_invoice_missing_what_vtex_requires_is_a_400(
    vtex: tuple[Sandbox, httpx.Client], changes: dict[str, Any], message: str
) -> None:
    sandbox, http = vtex
    response = http.post(ORDERS + "/1001-01/invoice", json=_invoice(**changes))
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"code", "message", "exception"}
    assert message in error["message"]
    assert sandbox.order("1001-01")["packageAttachment"]["packages"] == []
    assert sandbox.invoice_posts() == {}


def test_a_body_that_is_not_json_is_a_400(vtex: tuple[Sandbox, httpx.Client]) -> None:
    _, http = vtex
    response = http.post(ORDERS + "/1001-01/invoice", content=b"{not json")
    assert response.status_code == 400
    assert http.post(ORDERS + "/1001-01/invoice", json=[1, 2]).status_code == 400


def test_a_full_invoice_makes_the_order_invoiced(vtex: tuple[Sandbox, httpx.Client]) -> None:
    sandbox, http = vtex
    response = http.post(ORDERS + "/1001-01/invoice", json=_invoice(invoiceKey="3526" + "0" * 40))
    assert response.status_code == 200
    receipt = response.json()
    assert receipt["orderId"] == "1001-01"
    assert len(receipt["receipt"]) == 32
    order = sandbox.order("1001-01")
    assert order["status"] == "invoiced"
    (package,) = order["packageAttachment"]["packages"]
    assert package["invoiceNumber"] == "123"
    assert package["invoiceValue"] == 7230
    assert package["invoiceKey"] == "3526" + "0" * 40
    assert package["items"] == [{"itemIndex": 0, "quantity": 2, "price": 1990, "description": None},
                                {"itemIndex": 1, "quantity": 1, "price": 2250, "description": None}]
    assert sandbox.receipt("1001-01", "123") == receipt["receipt"]
    parsed = Order.model_validate(order)
    assert parsed.packages[0].invoice_value == 7230


def test_partial_invoices_complete_the_order_only_when_they_reach_its_value(
    vtex: tuple[Sandbox, httpx.Client],
) -> None:
    sandbox, http = vtex
    first = _invoice("A-1", 4980, items=[{"id": "7", "price": 1990, "quantity": 2}])
    assert http.post(ORDERS + "/1001-01/invoice", json=first).status_code == 200
    assert sandbox.order("1001-01")["status"] == "ready-for-handling"
    second = _invoice("A-2", 2249, items=[{"id": "8", "price": 2249, "quantity": 1}])  # one cent short
    assert http.post(ORDERS + "/1001-01/invoice", json=second).status_code == 200
    assert sandbox.order("1001-01")["status"] == "ready-for-handling"
    third = _invoice("A-3", 1, items=[{"id": "8", "price": 1, "quantity": 1}])
    http.post(ORDERS + "/1001-01/invoice", json=third)
    assert sandbox.order("1001-01")["status"] == "invoiced"
    assert [p["invoiceNumber"] for p in sandbox.order("1001-01")["packageAttachment"]["packages"]] == [
        "A-1", "A-2", "A-3"]


def test_the_same_invoice_number_again_only_renews_the_receipt(vtex: tuple[Sandbox, httpx.Client]) -> None:
    sandbox, http = vtex
    first = http.post(ORDERS + "/1001-01/invoice", json=_invoice()).json()
    before = sandbox.order("1001-01")
    changed = _invoice(invoiceKey="different", invoiceValue=9999)  # VTEX keeps the first data
    second = http.post(ORDERS + "/1001-01/invoice", json=changed).json()
    assert second["receipt"] != first["receipt"]
    assert sandbox.order("1001-01") == before
    assert sandbox.receipt("1001-01", "123") == second["receipt"]
    assert sandbox.invoice_posts() == {("1001-01", "123"): 2}


def test_a_return_invoice_only_after_the_order_is_fully_invoiced(vtex: tuple[Sandbox, httpx.Client]) -> None:
    sandbox, http = vtex
    ret = _invoice("R-1", 1990, kind="Input", items=[{"id": "7", "price": 1990, "quantity": 1}])
    early = http.post(ORDERS + "/1001-01/invoice", json=ret)
    assert early.status_code == 400
    assert "fully invoiced" in early.json()["error"]["message"]
    assert http.post(ORDERS + "/1001-01/invoice", json=_invoice()).status_code == 200
    assert http.post(ORDERS + "/1001-01/invoice", json=ret).status_code == 200
    packages = sandbox.order("1001-01")["packageAttachment"]["packages"]
    assert [(p["invoiceNumber"], p["type"]) for p in packages] == [("123", "Output"), ("R-1", "Input")]
    assert sandbox.order("1001-01")["status"] == "invoiced"


def test_a_canceled_order_takes_no_invoice() -> None:
    with Sandbox(orders=[_order(status="canceled")]) as sandbox, httpx.Client(base_url=sandbox.base_url,
                                                                              headers=AUTH) as http:
        assert http.post(ORDERS + "/1001-01/invoice", json=_invoice()).status_code == 409


def test_an_integer_invoice_value_is_accepted_too(vtex: tuple[Sandbox, httpx.Client]) -> None:
    sandbox, http = vtex
    assert http.post(ORDERS + "/1001-01/invoice", json=_invoice(invoiceValue=7230)).status_code == 200
    assert sandbox.order("1001-01")["status"] == "invoiced"


# --------------------------------------------------------------------------------------- tracking


def test_tracking_on_an_unknown_invoice_is_invoice_not_found(vtex: tuple[Sandbox, httpx.Client]) -> None:
    _, http = vtex
    patch = http.patch(ORDERS + "/1001-01/invoice/404", json={"trackingNumber": "TR1"})
    assert patch.status_code == 404
    assert patch.json()["error"]["message"] == "Invoice Not Found"
    put = http.put(ORDERS + "/1001-01/invoice/404/tracking", json={"isDelivered": True, "events": []})
    assert put.status_code == 404
    assert put.json()["error"]["message"] == "Invoice Not Found"


def test_tracking_number_then_status_and_events(vtex: tuple[Sandbox, httpx.Client]) -> None:
    sandbox, http = vtex
    http.post(ORDERS + "/1001-01/invoice", json=_invoice())
    status = {"isDelivered": False, "deliveredDate": None,
              "events": [{"city": "Rio de Janeiro", "state": "RJ", "description": "Coletado",
                          "date": "2026-11-21T10:00:00-03:00"}]}
    too_early = http.put(ORDERS + "/1001-01/invoice/123/tracking", json=status)
    assert too_early.status_code == 400  # no tracking number yet
    patch = http.patch(ORDERS + "/1001-01/invoice/123", json={
        "trackingNumber": "TR-1", "trackingUrl": "https://track/TR-1", "courier": "Correios",
        "dispatchedDate": "2026-11-21T09:00:00-03:00"})
    assert patch.status_code == 200
    assert set(patch.json()) == {"date", "orderId", "receipt"}
    assert http.put(ORDERS + "/1001-01/invoice/123/tracking", json=status).status_code == 200
    (package,) = sandbox.order("1001-01")["packageAttachment"]["packages"]
    assert (package["trackingNumber"], package["courier"]) == ("TR-1", "Correios")
    assert package["courierStatus"]["finished"] is False
    assert package["courierStatus"]["data"][0]["city"] == "Rio de Janeiro"
    assert http.put(ORDERS + "/1001-01/invoice/123/tracking",
                    json={"isDelivered": "yes", "events": []}).status_code == 400


# ---------------------------------------------------------------------------------- start-handling


def test_start_handling_only_from_ready_for_handling(vtex: tuple[Sandbox, httpx.Client]) -> None:
    sandbox, http = vtex
    first = http.post(ORDERS + "/1001-01/start-handling")
    assert first.status_code == 204
    assert first.content == b""
    assert sandbox.order("1001-01")["status"] == "handling"
    again = http.post(ORDERS + "/1001-01/start-handling")
    assert again.status_code == 409
    assert again.json()["error"] == {"code": "OMS003", "exception": None,
                                     "message": "Order status should be ready-for-handling to perform this action"}


# ------------------------------------------------------------------------------------------- faults


def test_fault_spec_grammar() -> None:
    spec = FaultSpec.parse("429=0.05, 503=0.05,slow=0.01,drop=0.01,retry-after=1.5,slow-delay=2")
    assert dict(spec.rates) == {"429": 0.05, "503": 0.05, "slow": 0.01, "drop": 0.01}
    assert (spec.retry_after, spec.slow_delay) == (1.5, 2.0)
    assert FaultSpec.parse(spec.to_text()) == spec
    assert FaultSpec.parse("") == FaultSpec()
    assert FaultSpec.parse(None).rates == {}
    assert FaultSpec.parse("retry-after=none").retry_after is None


@pytest.mark.parametrize(
    ("text", "message"),
    [("503", "expected NAME=VALUE"), ("418=0.1", "unknown name '418'"), ("503=lots", "not a number"),
     ("503=1.5", "between 0 and 1"), ("503=0.6,429=0.6", "more than 1"), ("slow-delay=-1", "negative")],
)
def test_bad_fault_specs_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        FaultSpec.parse(text)


def _statuses(seed: int, count: int = 200) -> list[int]:
    with Sandbox(orders=[_order()], faults="429=0.1,503=0.1,500=0.05", seed=seed) as sandbox, httpx.Client(
        base_url=sandbox.base_url, headers=AUTH
    ) as http:
        return [http.get(ORDERS + "/1001-01").status_code for _ in range(count)]


def test_faults_are_drawn_from_the_seed() -> None:
    first, again, other = _statuses(1), _statuses(1), _statuses(2)
    assert first == again
    assert first != other
    counts = {status: first.count(status) for status in set(first)}
    assert set(counts) == {200, 429, 500, 503}
    assert 100 < counts[200] < 190  # about 75% get through


def test_a_429_carries_retry_after_and_is_not_applied(vtex: tuple[Sandbox, httpx.Client]) -> None:
    sandbox, http = vtex
    sandbox.set_faults("retry-after=2")
    sandbox.queue_faults("429", "503")
    throttled = http.post(ORDERS + "/1001-01/invoice", json=_invoice())
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "2"
    assert http.post(ORDERS + "/1001-01/invoice", json=_invoice()).status_code == 503
    assert sandbox.order("1001-01")["packageAttachment"]["packages"] == []
    assert http.post(ORDERS + "/1001-01/invoice", json=_invoice()).status_code == 200
    assert sandbox.stats["faults"] == {"429": 1, "503": 1}


def test_a_dropped_answer_was_applied_before_the_connection_was_cut(vtex: tuple[Sandbox, httpx.Client]) -> None:
    sandbox, http = vtex
    sandbox.queue_faults("drop")
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(ORDERS + "/1001-01/invoice", json=_invoice())
    assert sandbox.order("1001-01")["status"] == "invoiced"
    assert sandbox.invoice_posts() == {("1001-01", "123"): 1}


def test_a_slow_answer_is_applied_and_outlasts_a_short_timeout(vtex: tuple[Sandbox, httpx.Client]) -> None:
    sandbox, http = vtex
    sandbox.set_faults("slow-delay=0.5")
    sandbox.queue_faults("slow")
    with pytest.raises(httpx.ReadTimeout):
        http.post(ORDERS + "/1001-01/invoice", json=_invoice(), timeout=httpx.Timeout(5, read=0.1))
    assert sandbox.order("1001-01")["status"] == "invoiced"


def test_queue_faults_refuses_unknown_kinds(vtex: tuple[Sandbox, httpx.Client]) -> None:
    sandbox, _ = vtex
    with pytest.raises(ValueError, match="unknown fault"):
        sandbox.queue_faults("teapot")


def test_admin_paths_add_orders_and_set_faults(vtex: tuple[Sandbox, httpx.Client]) -> None:
    sandbox, http = vtex
    with httpx.Client(base_url=sandbox.base_url) as anonymous:
        added = anonymous.post("/_sandbox/orders", json=[_order("2002-01"), _order("2003-01")])
        assert added.json() == {"added": 2}
        assert anonymous.put("/_sandbox/faults", content=b"503=1").status_code == 200
        assert anonymous.put("/_sandbox/faults", content=b"503=2").status_code == 400
        assert anonymous.get("/_sandbox/stats").json()["requests_total"] == 0
    assert http.get(ORDERS + "/2002-01").status_code == 503
    sandbox.set_faults(None)
    assert http.get(ORDERS + "/2003-01").status_code == 200
    assert sorted(sandbox.order_ids()) == ["1001-01", "2002-01", "2003-01"]


def test_an_order_the_sandbox_cannot_read_is_a_500_not_a_dropped_connection(
    vtex: tuple[Sandbox, httpx.Client],
) -> None:
    sandbox, http = vtex
    sandbox.add_order({"orderId": "odd-01", "value": "lots", "items": [{"id": "7"}]})
    response = http.post(ORDERS + "/odd-01/invoice", json=_invoice(items=[{"id": "7", "price": 1, "quantity": 1}]))
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "SANDBOX.internal"
    assert http.get(ORDERS + "/odd-01").status_code == 200


def test_the_port_is_known_only_while_running() -> None:
    sandbox = Sandbox()
    with pytest.raises(RuntimeError, match="not running"):
        _ = sandbox.base_url
    with sandbox:
        assert sandbox.base_url.startswith("http://127.0.0.1:")
    assert "stopped" in repr(sandbox)


def test_a_busy_port_is_a_configuration_error() -> None:
    with Sandbox() as first, pytest.raises(ConfigurationError, match="cannot listen"):
        Sandbox(port=first.port).start()


# ----------------------------------------------------------------------------------------- command


def test_sandbox_command_serves_orders_from_a_file_until_interrupted(tmp_path: Path) -> None:
    orders = tmp_path / "orders.json"
    orders.write_text(json.dumps([_order()]), encoding="utf-8")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "nfe_invoice.cli", "sandbox", "--orders", str(orders), "--faults", "503=0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "VTEX sandbox listening on http://127.0.0.1:" in line
        base_url = line.split(" on ", 1)[1].split(" ", 1)[0]
        with httpx.Client(base_url=base_url, headers=AUTH, timeout=5) as http:
            assert http.get(ORDERS + "/1001-01").json()["value"] == 7230
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert "stopped after 1 requests" in out
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--faults", "503=7"], "between 0 and 1"), (["--orders", "/nonexistent/orders.json"], "cannot read")],
)
def test_sandbox_command_usage_errors(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    from nfe_invoice.cli import main

    assert main(["sandbox", *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_sandbox_command_refuses_an_orders_file_without_orders(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from nfe_invoice.cli import main

    path = tmp_path / "orders.json"
    path.write_text('{"orders": [{"status": "handling"}]}', encoding="utf-8")
    assert main(["sandbox", "--orders", str(path)]) == 2
    assert "each with an orderId" in capsys.readouterr().err


def _raw_exchange(sandbox: Sandbox, data: bytes) -> bytes:
    """Bytes in, everything the sandbox answers until it closes the connection."""
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=5) as connection:
        connection.sendall(data)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


def test_what_is_not_http_is_answered_400_and_the_connection_closed() -> None:
    with Sandbox() as sandbox:
        answer = _raw_exchange(sandbox, b"HELLO THERE\r\n\r\n")  # no version: answered the HTTP/0.9 way
        assert b"400 - Bad request syntax" in answer
        bad_length = _raw_exchange(sandbox, b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: -3\r\n\r\n")
        assert bad_length.startswith(b"HTTP/1.1 400 ")


def test_a_body_over_the_limit_is_a_413(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox_module, "MAX_BODY", 1000)
    with Sandbox() as sandbox:
        body = b"x" * 5000
        answer = _raw_exchange(
            sandbox, b"POST /api/oms/pvt/orders/1/invoice HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
            % (len(body), body))
        assert answer.startswith(b"HTTP/1.1 413 ")


def test_keep_alive_serves_many_requests_on_one_connection() -> None:
    with Sandbox(orders=[_order()]) as sandbox:
        request = (b"GET /api/oms/pvt/orders/1001-01 HTTP/1.1\r\nHost: x\r\nX-VTEX-API-AppKey: k\r\n"
                   b"X-VTEX-API-AppToken: t\r\n\r\n")
        answer = _raw_exchange(sandbox, request * 3 + request.replace(b"Host: x", b"Host: x\r\nConnection: close"))
        assert answer.count(b"HTTP/1.1 200 ") == 4


_GET = b"GET /api/oms/pvt/orders/1001-01 HTTP/1.1\r\nHost: x\r\nX-VTEX-API-AppKey: k\r\nX-VTEX-API-AppToken: t\r\n"


@pytest.mark.parametrize(
    ("request_bytes", "expected_starts"),
    [
        (_GET.replace(b"HTTP/1.1", b"HTTP/1.0") + b"\r\n", [b"HTTP/1.1 200 OK\r\n"]),  # answered, then closed
        (_GET.replace(b"\r\n", b"\n") + b"Connection: close\n\n", [b"HTTP/1.1 200 OK\r\n"]),  # bare line feeds
        (_GET.replace(b"Host: x", b"Host: x\r\n folded") + b"Connection: close\r\n\r\n", [b"HTTP/1.1 200 OK\r\n"]),
        (_GET.replace(b"GET", b"HEAD") + b"\r\n", [b"HTTP/1.1 501 Unsupported method ('HEAD')\r\n"]),
        (_GET.replace(b"HTTP/1.1", b"HTTP/2.0") + b"\r\n", [b"<!DOCTYPE HTML>"]),  # the HTTP/0.9 way: no head
        (_GET.replace(b"GET ", b"GET  ") + b"Connection: close\r\n\r\n", [b"HTTP/1.1 200 OK\r\n"]),
        (_GET.replace(b"/api", b"//api") + b"Connection: close\r\n\r\n", [b"HTTP/1.1 200 OK\r\n"]),
        (b"POST /api/oms/pvt/orders/1001-01/start-handling HTTP/1.1\r\nX-VTEX-API-AppKey: k\r\nX-VTEX-API-AppToken: t"
         b"\r\nExpect: 100-continue\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
         [b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 204 No Content\r\n"]),
    ],
    ids=["http-1.0", "bare-lf", "folded-header", "unsupported-method", "http-2", "two-spaces", "double-slash",
         "expect-100"],
)
def test_requests_off_the_common_path_are_answered_as_http_server_answers_them(
    request_bytes: bytes, expected_starts: list[bytes]
) -> None:
    """The sandbox reads plain HTTP/1.1 requests itself and hands anything else to http.server's handler: each
    of these is answered, and the connection closed, as http.server always did."""
    with Sandbox(orders=[_order()]) as sandbox:
        answer = _raw_exchange(sandbox, request_bytes)
    for start in expected_starts:
        assert answer.startswith(start), answer[:200]
        answer = answer[len(start):] if start.endswith(b"\r\n\r\n") else answer
    assert answer.count(b"HTTP/1.1 ") <= 1  # one answer, then the connection was closed
