"""VtexClient and AsyncVtexClient against the sandbox over real loopback sockets: every call, a retry for each
fault kind, Retry-After honoured, no retry on 400/401/404, attempts and deadline bounded, timeouts, the rate
limiter, bounded concurrency, sync/async parity, and secrets absent from every output."""

from __future__ import annotations

import inspect
import logging
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import anyio
import httpx
import pytest

from nfe_invoice.errors import (
    ConfigurationError,
    VtexAuthError,
    VtexConnectionError,
    VtexError,
    VtexNotFoundError,
    VtexRateLimitedError,
    VtexRequestError,
    VtexServerError,
    VtexTimeoutError,
)
from nfe_invoice.vtex.client import AsyncVtexClient, VtexClient
from nfe_invoice.vtex.models import InvoiceItem, InvoicePayload, TrackingEvent, TrackingStatus, TrackingUpdate
from nfe_invoice.vtex.policy import Credentials, RetryPolicy, Timeouts, TokenBucket
from nfe_invoice.vtex.sandbox import Sandbox, make_order

KEY, TOKEN = "vtexappkey-teststore-QWERTY", "TOKEN-very-secret-987654321"
CREDENTIALS = Credentials(KEY, TOKEN)
ORDER_ID = "1001-01"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _order(order_id: str = ORDER_ID) -> dict[str, Any]:
    return make_order(order_id, [{"id": "7", "price": 1990, "quantity": 2}], shipping=500)


def _payload(number: str = "123", value: int = 4480) -> InvoicePayload:
    return InvoicePayload(type="Output", issuance_date=datetime(2026, 11, 20, 10, tzinfo=UTC),
                          invoice_number=number, invoice_value=value, embedded_invoice="<xNome>Ação Ltda</xNome>",
                          items=(InvoiceItem(id="7", price=1990, quantity=2),))


class FakeTime:
    """A clock that only moves when slept on: retries are instant and their waits exact."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)


class RecordingLimiter:
    def __init__(self, wait: float) -> None:
        self.wait = wait
        self.calls = 0

    def reserve(self) -> float:
        self.calls += 1
        return self.wait


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(orders=[_order()]) as running:
        yield running


def _client(sandbox: Sandbox, fake: FakeTime | None = None, **options: Any) -> VtexClient:
    fake = fake or FakeTime()
    options.setdefault("rate", 1000)
    return VtexClient(base_url=sandbox.base_url, credentials=CREDENTIALS, sleep=fake.sleep, clock=fake.clock,
                      **options)


def _async_client(sandbox: Sandbox, fake: FakeTime | None = None, **options: Any) -> AsyncVtexClient:
    fake = fake or FakeTime()
    options.setdefault("rate", 1000)
    return AsyncVtexClient(base_url=sandbox.base_url, credentials=CREDENTIALS, sleep=fake.asleep,
                           clock=fake.clock, **options)


def _packages(sandbox: Sandbox, order_id: str = ORDER_ID) -> list[str]:
    return [p["invoiceNumber"] for p in sandbox.order(order_id)["packageAttachment"]["packages"]]


# ------------------------------------------------------------------------------------------- the calls


def test_every_call_against_the_sandbox(sandbox: Sandbox) -> None:
    with _client(sandbox) as client:
        order = client.get_order(ORDER_ID)
        assert (order.order_id, order.status, order.value) == (ORDER_ID, "ready-for-handling", 4480)
        client.start_handling(ORDER_ID)
        assert client.get_order(ORDER_ID).status == "handling"
        receipt = client.send_invoice(ORDER_ID, _payload())
        assert receipt.order_id == ORDER_ID
        assert receipt.receipt == sandbox.receipt(ORDER_ID, "123")
        tracked = client.update_tracking(ORDER_ID, "123", TrackingUpdate(tracking_number="TR-1", courier="Correios"))
        assert tracked.receipt
        delivered = datetime(2026, 11, 22, tzinfo=UTC)
        status = TrackingStatus(is_delivered=True, delivered_date=delivered, events=(
            TrackingEvent(city="São Paulo", state="SP", description="Entregue", date=delivered),))
        assert client.update_tracking_status(ORDER_ID, "123", status).receipt
        order = client.get_order(ORDER_ID)
    assert order.status == "invoiced"
    (package,) = order.packages
    assert (package.invoice_number, package.invoice_value, package.tracking_number) == ("123", 4480, "TR-1")
    stored = sandbox.order(ORDER_ID)["packageAttachment"]["packages"][0]
    assert stored["embeddedInvoice"] == "<xNome>Ação Ltda</xNome>"
    assert stored["courierStatus"]["data"][0]["city"] == "São Paulo"


def test_send_invoice_body_sends_the_text_as_given(sandbox: Sandbox) -> None:
    body = _payload("777").to_json(invoice_value_as_integer=True)
    with _client(sandbox) as client:
        client.send_invoice_body(ORDER_ID, body)
    assert _packages(sandbox) == ["777"]
    assert sandbox.order(ORDER_ID)["status"] == "invoiced"


def test_sending_the_same_invoice_twice_renews_the_receipt_only(sandbox: Sandbox) -> None:
    with _client(sandbox) as client:
        first = client.send_invoice(ORDER_ID, _payload())
        second = client.send_invoice(ORDER_ID, _payload())
    assert first.receipt != second.receipt
    assert _packages(sandbox) == ["123"]


# ------------------------------------------------------------------------------------------- retries


@pytest.mark.parametrize(("fault", "reason"), [("429", "429"), ("502", "502"), ("503", "503"), ("504", "504"),
                                               ("slow", "timeout"), ("drop", "connection")])
def test_each_fault_kind_is_retried_and_the_invoice_lands_once(sandbox: Sandbox, fault: str, reason: str) -> None:
    sandbox.set_faults("retry-after=0,slow-delay=0.5")
    sandbox.queue_faults(fault)
    with _client(sandbox, timeouts=Timeouts(connect=1, read=0.15)) as client:
        receipt = client.send_invoice(ORDER_ID, _payload())
        assert client.stats["retries"] == {reason: 1}
        assert client.stats["requests_total"] == 2
    assert receipt.receipt == sandbox.receipt(ORDER_ID, "123")
    assert _packages(sandbox) == ["123"]
    applied_twice = fault in ("slow", "drop")  # the first one was applied, its answer lost
    assert sandbox.invoice_posts() == {(ORDER_ID, "123"): 2 if applied_twice else 1}


def test_retry_after_is_honoured(sandbox: Sandbox) -> None:
    sandbox.set_faults("retry-after=7")
    sandbox.queue_faults("429", "429")
    fake = FakeTime()
    with _client(sandbox, fake) as client:
        client.get_order(ORDER_ID)
    assert fake.sleeps == [7.0, 7.0]
    assert sandbox.stats["requests_total"] == 3


def test_a_429_without_retry_after_waits_a_minute(sandbox: Sandbox) -> None:
    sandbox.set_faults("retry-after=none")
    sandbox.queue_faults("429")
    fake = FakeTime()
    with _client(sandbox, fake) as client:
        client.get_order(ORDER_ID)
    assert fake.sleeps == [60.0]


def test_a_retry_after_beyond_the_limit_gives_up_at_once(sandbox: Sandbox) -> None:
    sandbox.set_faults("retry-after=600")
    sandbox.queue_faults("429")
    with _client(sandbox) as client, pytest.raises(VtexRateLimitedError) as caught:
        client.get_order(ORDER_ID)
    assert caught.value.retry_after == 600
    assert sandbox.stats["requests_total"] == 1


def test_backoff_between_server_errors_grows(sandbox: Sandbox) -> None:
    sandbox.queue_faults("503", "503", "503")
    fake = FakeTime()
    policy = RetryPolicy(backoff_base=0.5, jitter=False)
    with _client(sandbox, fake, retry=policy) as client:
        client.get_order(ORDER_ID)
    assert fake.sleeps == [0.5, 1.0, 2.0]


def test_attempts_are_bounded(sandbox: Sandbox) -> None:
    sandbox.set_faults("503=1")
    with _client(sandbox, retry=RetryPolicy(max_attempts=3)) as client, pytest.raises(VtexServerError) as caught:
        client.send_invoice(ORDER_ID, _payload())
    assert caught.value.status == 503
    assert caught.value.request_id is not None
    assert sandbox.stats["requests_total"] == 3
    assert _packages(sandbox) == []


def test_the_deadline_bounds_the_whole_call(sandbox: Sandbox) -> None:
    sandbox.set_faults("503=1")
    fake = FakeTime()
    policy = RetryPolicy(max_attempts=10, backoff_base=1.0, jitter=False, deadline=3.0)
    with _client(sandbox, fake, retry=policy) as client, pytest.raises(VtexServerError):
        client.get_order(ORDER_ID)
    assert fake.sleeps == [1.0, 2.0]  # then 4 more would pass the 3 s deadline
    assert sandbox.stats["requests_total"] == 3


@pytest.mark.parametrize(
    ("call", "error"),
    [(lambda c: c.get_order("unknown-01"), VtexNotFoundError),
     (lambda c: c.send_invoice_body(ORDER_ID, '{"type": "Output"}'), VtexRequestError),
     (lambda c: c.update_tracking(ORDER_ID, "999", TrackingUpdate(tracking_number="T")), VtexNotFoundError)],
)
def test_no_retry_on_client_errors(sandbox: Sandbox, call: Any, error: type[VtexError]) -> None:
    with _client(sandbox) as client, pytest.raises(error):
        call(client)
    assert sandbox.stats["requests_total"] == 1


def test_no_retry_on_401() -> None:
    with Sandbox(orders=[_order()], credentials=Credentials("other", "pair")) as sandbox, _client(sandbox) as client:
        with pytest.raises(VtexAuthError) as caught:
            client.get_order(ORDER_ID)
        assert caught.value.status == 401
        assert caught.value.vtex_code == "1"
        assert sandbox.stats["requests_total"] == 1


def test_a_read_timeout_is_a_timeout_error() -> None:
    with Sandbox(orders=[_order()], faults="slow=1,slow-delay=1") as sandbox:
        client = _client(sandbox, timeouts=Timeouts(connect=1, read=0.1), retry=RetryPolicy(max_attempts=2))
        started = time.monotonic()
        with client, pytest.raises(VtexTimeoutError, match=r"no answer within 0\.1 s"):
            client.get_order(ORDER_ID)
        assert time.monotonic() - started < 1.0
        assert sandbox.stats["requests_total"] == 2


def test_nothing_listening_is_a_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = VtexClient(base_url=f"http://127.0.0.1:{port}", credentials=CREDENTIALS, sleep=lambda _: None,
                        retry=RetryPolicy(max_attempts=2))
    with client, pytest.raises(VtexConnectionError) as caught:
        client.get_order(ORDER_ID)
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert client.stats["retries"] == {"connection": 1}


def test_a_malformed_answer_is_a_vtex_error() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"status": "no order id"}))
    client = VtexClient(base_url="http://vtex.test", credentials=CREDENTIALS, transport=transport)
    with client, pytest.raises(VtexError, match="not a Order"):
        client.get_order(ORDER_ID)


# ----------------------------------------------------------------------------------------- rate limit


def test_every_attempt_goes_through_the_rate_limiter(sandbox: Sandbox) -> None:
    sandbox.queue_faults("503")
    limiter = RecordingLimiter(0.25)
    fake = FakeTime()
    with _client(sandbox, fake, rate_limiter=limiter, retry=RetryPolicy(jitter=False, backoff_base=0.5)) as client:
        client.get_order(ORDER_ID)
        client.get_order(ORDER_ID)
        assert client.stats["rate_limit_wait_seconds"] == pytest.approx(0.75)
    assert limiter.calls == 3
    assert fake.sleeps == [0.25, 0.5, 0.25, 0.25]


def test_a_token_bucket_spaces_real_requests(sandbox: Sandbox) -> None:
    bucket = TokenBucket(rate=40, burst=1)
    client = VtexClient(base_url=sandbox.base_url, credentials=CREDENTIALS, rate_limiter=bucket)
    started = time.monotonic()
    with client:
        for _ in range(6):
            client.get_order(ORDER_ID)
    assert time.monotonic() - started >= 5 / 40 - 0.01


def test_a_client_has_a_rate_limit_by_default() -> None:
    client = VtexClient(base_url="http://vtex.test", credentials=CREDENTIALS)
    assert isinstance(client._core.limiter, TokenBucket)
    assert client._core.limiter.rate == 10.0


# -------------------------------------------------------------------------------------------- settings


def test_a_client_needs_an_account_or_a_base_url() -> None:
    with pytest.raises(ConfigurationError, match="account"):
        VtexClient(credentials=CREDENTIALS)
    assert VtexClient(account="mystore", credentials=CREDENTIALS).endpoint.base_url == (
        "https://mystore.vtexcommercestable.com.br")


def test_credentials_default_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VTEX_APP_KEY", raising=False)
    monkeypatch.delenv("VTEX_APP_TOKEN", raising=False)
    with pytest.raises(ConfigurationError, match="VTEX_APP_KEY"):
        VtexClient(account="mystore")
    monkeypatch.setenv("VTEX_APP_KEY", KEY)
    monkeypatch.setenv("VTEX_APP_TOKEN", TOKEN)
    assert VtexClient(account="mystore")._core.credentials == CREDENTIALS


def test_async_concurrency_must_be_positive() -> None:
    with pytest.raises(ConfigurationError):
        AsyncVtexClient(base_url="http://vtex.test", credentials=CREDENTIALS, max_concurrency=0)


# ----------------------------------------------------------------------------------------------- async


@pytest.mark.anyio
async def test_async_client_every_call(sandbox: Sandbox) -> None:
    async with _async_client(sandbox) as client:
        assert (await client.get_order(ORDER_ID)).value == 4480
        await client.start_handling(ORDER_ID)
        receipt = await client.send_invoice(ORDER_ID, _payload())
        await client.update_tracking(ORDER_ID, "123", TrackingUpdate(tracking_number="TR-9"))
        await client.update_tracking_status(ORDER_ID, "123", TrackingStatus(is_delivered=False))
        again = await client.send_invoice_body(ORDER_ID, _payload().to_json())
        order = await client.get_order(ORDER_ID)
    assert receipt.receipt != again.receipt
    assert order.status == "invoiced"
    assert order.packages[0].tracking_number == "TR-9"


@pytest.mark.anyio
@pytest.mark.parametrize("fault", ["429", "503", "slow", "drop"])
async def test_async_client_retries_each_fault(sandbox: Sandbox, fault: str) -> None:
    sandbox.set_faults("retry-after=3,slow-delay=0.5")
    sandbox.queue_faults(fault)
    fake = FakeTime()
    async with _async_client(sandbox, fake, timeouts=Timeouts(connect=1, read=0.15)) as client:
        await client.send_invoice(ORDER_ID, _payload())
        assert sum(client.stats["retries"].values()) == 1
    assert _packages(sandbox) == ["123"]
    if fault == "429":
        assert fake.sleeps[0] == 3.0


@pytest.mark.anyio
async def test_async_client_gives_up_like_the_sync_one(sandbox: Sandbox) -> None:
    sandbox.set_faults("503=1")
    async with _async_client(sandbox, retry=RetryPolicy(max_attempts=2)) as client:
        with pytest.raises(VtexServerError):
            await client.get_order(ORDER_ID)
        sandbox.set_faults(None)
        with pytest.raises(VtexNotFoundError):
            await client.get_order("unknown-01")
    assert sandbox.stats["requests_total"] == 3


@pytest.mark.anyio
async def test_async_concurrency_is_bounded() -> None:
    orders = [_order(f"{n}-01") for n in range(24)]
    with Sandbox(orders=orders, faults="slow=1,slow-delay=0.05") as sandbox:
        async with AsyncVtexClient(base_url=sandbox.base_url, credentials=CREDENTIALS, rate=10_000,
                                   max_concurrency=4) as client, anyio.create_task_group() as group:
            for order in orders:
                group.start_soon(client.send_invoice, order["orderId"], _payload())
        assert 2 <= sandbox.stats["max_in_flight"] <= 4
        assert all(_packages(sandbox, o["orderId"]) == ["123"] for o in orders)


# ---------------------------------------------------------------------------------------------- parity


_DUNDERS = ("__init__", "__enter__", "__exit__", "__aenter__", "__aexit__")


def _public(cls: type) -> dict[str, Any]:
    return {name: member for name, member in inspect.getmembers(cls)
            if name == "__init__" or ((not name.startswith("_") or name in _DUNDERS) and not hasattr(object, name))}


def test_sync_and_async_clients_mirror_each_other() -> None:
    sync, asynchronous = _public(VtexClient), _public(AsyncVtexClient)
    renamed = {"close": "aclose", "__enter__": "__aenter__", "__exit__": "__aexit__"}
    assert {renamed.get(name, name) for name in sync} == set(asynchronous)
    assert {"get_order", "send_invoice", "send_invoice_body", "update_tracking", "update_tracking_status",
            "start_handling", "stats", "close"} <= set(sync)
    for name, member in sync.items():
        twin = getattr(AsyncVtexClient, renamed.get(name, name))
        if isinstance(member, property):
            assert isinstance(twin, property), name
            continue
        sync_signature, async_signature = inspect.signature(member), inspect.signature(twin)
        if name == "__init__":
            extra = set(async_signature.parameters) - set(sync_signature.parameters)
            assert extra == {"max_concurrency"}
            assert list(sync_signature.parameters) == list(async_signature.parameters)[: len(sync_signature.parameters)]
            continue
        assert inspect.iscoroutinefunction(twin), name
        assert not inspect.iscoroutinefunction(member), name
        assert sync_signature.parameters.keys() == async_signature.parameters.keys(), name
        for parameter in sync_signature.parameters:
            assert sync_signature.parameters[parameter].kind == async_signature.parameters[parameter].kind
            assert sync_signature.parameters[parameter].default == async_signature.parameters[parameter].default
        assert sync_signature.return_annotation == async_signature.return_annotation, name


# ----------------------------------------------------------------------------------------------- secrets


def test_secrets_never_appear_in_logs_errors_or_reprs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    with Sandbox(orders=[_order()], faults="slow-delay=0.5") as sandbox:
        sandbox.queue_faults("429", "503", "drop", "slow")
        sandbox.set_faults("retry-after=0,slow-delay=0.5")
        client = _client(sandbox, timeouts=Timeouts(connect=1, read=0.1))
        texts += [repr(client), str(client), repr(client._core), repr(client.stats)]
        with client:
            client.send_invoice(ORDER_ID, _payload())
            for call in (lambda: client.get_order("unknown-01"),
                         lambda: client.send_invoice_body(ORDER_ID, "{}"),
                         lambda: client.update_tracking(ORDER_ID, "999", TrackingUpdate(tracking_number="T"))):
                with pytest.raises(VtexError) as caught:
                    call()
                texts += [str(caught.value), repr(caught.value), repr(caught.value.__dict__)]
    with Sandbox(orders=[_order()], credentials=Credentials("a", "b")) as sandbox, _client(sandbox) as client:
        with pytest.raises(VtexAuthError) as denied:
            client.get_order(ORDER_ID)
        texts += [str(denied.value), repr(denied.value.__dict__)]
    assert any("retrying" in record.getMessage() for record in caplog.records)  # DEBUG/INFO logging did run
    everything = "\n".join([*texts, caplog.text, *(repr(r.__dict__) for r in caplog.records)])
    assert KEY not in everything
    assert TOKEN not in everything
