"""The async client's lean path (requests encoded by the client and exchanged on its LeanAsyncTransport
directly) against httpx's client path over the same transport: the same bytes on the wire for every
operation, and what it leaves to httpx (cookies, encoded answers, odd targets, a closed client) still works."""

from __future__ import annotations

import asyncio
import gzip
import logging
from datetime import UTC, datetime

import httpx
import pytest

from nfe_invoice.errors import VtexServerError
from nfe_invoice.vtex.client import AsyncVtexClient, _Answer
from nfe_invoice.vtex.models import InvoicePayload, TrackingEvent, TrackingStatus, TrackingUpdate
from nfe_invoice.vtex.policy import Credentials, RetryPolicy
from nfe_invoice.vtex.transport import LeanAsyncTransport

from .test_vtex_transport import answer, read_request, serving

pytestmark = pytest.mark.anyio

ORDER = b'{"orderId": "1-01", "status": "invoiced", "value": 0, "items": []}'


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def _payload() -> InvoicePayload:
    return InvoicePayload.model_validate({
        "type": "Output", "issuanceDate": "2026-11-20T14:30:00-03:00", "invoiceNumber": "12",
        "invoiceValue": 1990, "invoiceKey": "k", "embeddedInvoice": "<x>ação</x>",
        "items": [{"id": "7", "price": 1990, "quantity": 1}],
    })


async def _every_operation(vtex: AsyncVtexClient, order_id: str) -> None:
    await vtex.get_order(order_id)
    await vtex.send_invoice(order_id, _payload())
    await vtex.send_invoice_body(order_id, "")
    await vtex.update_tracking(order_id, "12", TrackingUpdate(tracking_number="BR1", courier="Correios"))
    await vtex.update_tracking_status(order_id, "12", TrackingStatus(is_delivered=False, events=(
        TrackingEvent(city="Recife", state="PE", description="saiu", date=datetime(2026, 11, 21, 10, tzinfo=UTC)),)))
    await vtex.start_handling(order_id)


async def _wire(lean: bool, base_path: str, order_id: str, raw: bytes = b"") -> list[bytes]:
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head, body = await read_request(reader)
            seen.append(head + body)
            writer.write(raw or answer(ORDER))
            await writer.drain()

    async with serving(handler) as server:
        base_url = f"http://127.0.0.1:{server.port}{base_path}"
        # a transport given by the caller goes through httpx's client; the client's own takes the lean path
        transport = None if lean else LeanAsyncTransport()
        async with AsyncVtexClient(base_url=base_url, credentials=Credentials("key", "token"), rate=1000,
                                   transport=transport) as vtex:
            assert (vtex._lean is not None) is lean
            await _every_operation(vtex, order_id)
    return [wire.replace(b":%d" % server.port, b":PORT") for wire in seen]


@pytest.mark.parametrize("base_path", ["", "/vtex-proxy/v1"])
@pytest.mark.parametrize("order_id", ["1172452900788-01", "pedido/1 ç?", "...", "a.b"])  # ".." is refused
async def test_the_lean_path_writes_the_bytes_httpx_would(base_path: str, order_id: str) -> None:
    expected = await _wire(False, base_path, order_id)
    assert len(expected) == 6
    assert await _wire(True, base_path, order_id) == expected


async def test_a_cookie_set_by_an_answer_is_sent_back_as_httpx_would() -> None:
    heads: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head, _ = await read_request(reader)
            heads.append(head)
            writer.write(answer(ORDER, b"Set-Cookie: janus_sid=abc; Path=/"))
            await writer.drain()

    async with serving(handler) as server:
        url = f"http://127.0.0.1:{server.port}"
        async with AsyncVtexClient(base_url=url, credentials=Credentials("k", "t"), rate=1000) as vtex:
            await vtex.get_order("1-01")
            await vtex.get_order("1-01")
            assert dict(vtex._http.cookies) == {"janus_sid": "abc"}
    assert b"cookie:" not in heads[0].lower()
    assert b"\r\nCookie: janus_sid=abc\r\n" in heads[1]


async def test_an_encoded_answer_is_decoded_and_an_error_answer_classified() -> None:
    body = gzip.compress(ORDER)
    encoded = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    failing = b"HTTP/1.1 503 Unavailable\r\nX-VTEX-Request-Id: rid-9\r\nContent-Length: 0\r\n\r\n"
    answers = [encoded, failing]

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(answers.pop(0))
            await writer.drain()

    async with serving(handler) as server:
        url = f"http://127.0.0.1:{server.port}"
        async with AsyncVtexClient(base_url=url, credentials=Credentials("k", "t"), rate=1000,
                                   retry=RetryPolicy(max_attempts=1)) as vtex:
            assert (await vtex.get_order("1-01")).order_id == "1-01"
            with pytest.raises(VtexServerError, match="request id rid-9"):
                await vtex.get_order("1-01")


async def test_each_request_is_logged_on_httpx_logger_as_httpx_does(caplog: pytest.LogCaptureFixture) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(answer(ORDER))
            await writer.drain()

    async with serving(handler) as server:
        url = f"http://127.0.0.1:{server.port}"
        with caplog.at_level(logging.INFO, logger="httpx"):
            async with AsyncVtexClient(base_url=url, credentials=Credentials("k", "SECRET-T"), rate=1000) as vtex:
                await vtex.get_order("1-01")
    messages = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert messages == [f'HTTP Request: GET {url}/api/oms/pvt/orders/1-01 "HTTP/1.1 200 OK"']
    assert "SECRET" not in caplog.text


async def test_a_closed_client_refuses_as_httpx_does() -> None:
    vtex = AsyncVtexClient(base_url="http://127.0.0.1:9", credentials=Credentials("k", "t"), rate=1000)
    await vtex.aclose()
    with pytest.raises(RuntimeError, match="client has been closed"):
        await vtex.get_order("1-01")


def test_a_lean_answer_reads_like_an_httpx_response() -> None:
    got = _Answer(429, [(b"Retry-After", b"2"), (b"X-Vtex-Request-Id", b"r1")], b"{}")
    assert got.status_code == 429 and got.content == b"{}"
    assert got.headers["retry-after"] == "2" and isinstance(got.headers, httpx.Headers)
