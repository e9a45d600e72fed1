"""VTEX OMS clients: :class:`VtexClient` (sync) and :class:`AsyncVtexClient` (async), method for method the same.

Both are thin loops over :mod:`.policy` (build the request, wait for the rate limiter, send, classify the
answer, decide whether to try again); everything they share that does no I/O lives in :class:`_Core`, so the
two loops below are the only code that differs. httpx is used only here, and its exceptions are translated
into the package's tree at exactly one place (:func:`_transport_error`)::

    client = VtexClient(account="mystore", credentials=Credentials.from_env(), rate=10)
    order = client.get_order("1172452900788-01")
    receipt = client.send_invoice("1172452900788-01", payload)      # InvoicePayload from the mapping

Every call raises a :class:`~nfe_invoice.errors.VtexError` subclass when VTEX cannot be reached or refuses
after the retries; nothing else escapes (a malformed answer is a plain ``VtexError``).
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self
from urllib.request import getproxies

import anyio
import httpx
from pydantic import ValidationError

from ..errors import ConfigurationError, VtexConnectionError, VtexError, VtexRateLimitedError, VtexTimeoutError
from .models import InvoicePayload, InvoiceReceipt, Order, TrackingStatus, TrackingUpdate
from .policy import (
    DEFAULT_RATE,
    ClientStats,
    Credentials,
    Endpoint,
    RandomSource,
    RateLimiter,
    Request,
    RetryPolicy,
    Timeouts,
    TokenBucket,
    build_request,
    classify_response,
    decide_retry,
    retry_reason,
)
from .transport import LeanAsyncTransport

logger = logging.getLogger("nfe_invoice.vtex")

__all__ = ["AsyncVtexClient", "VtexClient"]


def _transport_error(exc: httpx.TransportError, request: Request, timeouts: Timeouts) -> VtexError:
    """The one place httpx's exceptions become ours (the chained cause keeps httpx's detail, never headers)."""
    where = f"{request.operation}: {request.method} {request.url}"
    if isinstance(exc, httpx.ConnectTimeout):
        return VtexTimeoutError(f"{where}: no connection within {timeouts.connect:g} s")
    if isinstance(exc, httpx.TimeoutException):
        return VtexTimeoutError(f"{where}: no answer within {timeouts.read:g} s")
    detail = str(exc) or type(exc).__name__
    return VtexConnectionError(f"{where}: {detail}")


def _parse(request: Request, body: bytes, model: type[Order] | type[InvoiceReceipt]) -> Any:
    if model is InvoiceReceipt and not body.strip():
        return InvoiceReceipt()
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise VtexError(
            f"{request.operation}: VTEX answered with a body that is not a {model.__name__} ({where}: {first['msg']})"
        ) from None


class _Core:
    """What both clients share and that does no I/O: settings, request building, pacing, bookkeeping."""

    def __init__(
        self,
        *,
        account: str | None,
        environment: str,
        base_url: str | None,
        credentials: Credentials | None,
        timeouts: Timeouts,
        retry: RetryPolicy,
        rate_limiter: RateLimiter | None,
        rate: float | None,
        clock: Callable[[], float] | None,
        rng: RandomSource | None,
    ) -> None:
        if base_url is not None:
            self.endpoint = Endpoint.from_base_url(base_url, account)
        elif account is not None:
            self.endpoint = Endpoint.for_account(account, environment)
        else:
            raise ConfigurationError("VTEX: give an account (https://{account}.{environment}.com.br) or a base URL")
        self.credentials = credentials if credentials is not None else Credentials.from_env()
        self.timeouts = timeouts
        self.retry = retry
        self.limiter: RateLimiter = rate_limiter or TokenBucket(rate if rate is not None else DEFAULT_RATE)
        self.clock = clock or time.monotonic
        self.rng: RandomSource = rng or random.Random()
        self.stats = ClientStats()
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def httpx_timeout(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.timeouts.connect, read=self.timeouts.read, write=self.timeouts.read,
                             pool=self.timeouts.read)

    def request(self, operation: str, order_id: str, invoice_number: str | None = None,
                body: str | None = None) -> Request:
        return build_request(operation, self.endpoint, self.credentials, order_id=order_id,
                             invoice_number=invoice_number, body=body)

    def wait_before_attempt(self) -> float:
        """Seconds to wait before the next attempt: any account-wide pause after a 429, then the limiter."""
        with self._lock:
            paused = max(0.0, self._paused_until - self.clock())
        wait = paused + self.limiter.reserve()
        if wait > 0:
            self.stats.waited(wait)
        return wait

    def settle(self, request: Request, attempt: int, *, started: float, latency: float,
               response: httpx.Response | None, error: VtexError | None) -> float | None:
        """After one attempt: None when it succeeded, else the seconds to wait before the next one.

        Raises the error when the policy gives up (not retryable, attempts or deadline exhausted)."""
        if response is not None:
            error = classify_response(response.status_code, response.headers, response.content,
                                      operation=request.operation)
            outcome = str(response.status_code)
        else:
            assert error is not None
            outcome = error.code
        self.stats.attempt(request.operation, outcome, latency)
        path = request.url.removeprefix(self.endpoint.base_url)
        if error is None:
            logger.debug("%s %s -> %s in %.0f ms (attempt %d)", request.method, path, outcome, latency * 1000, attempt)
            return None
        delay = decide_retry(attempt, error, self.clock() - started, self.retry, self.rng)
        if delay is None:
            self.stats.give_up(error.code)
            logger.info("%s %s -> %s (attempt %d): giving up", request.method, path, outcome, attempt)
            raise error
        reason = retry_reason(error) or outcome
        self.stats.retry(reason)
        logger.info("%s %s -> %s (attempt %d): retrying in %.2f s", request.method, path, outcome, attempt, delay)
        if isinstance(error, VtexRateLimitedError) and self.retry.pause_on_rate_limit:
            with self._lock:
                self._paused_until = max(self._paused_until, self.clock() + delay)
        return delay

    def describe(self, kind: str) -> str:
        return f"{kind}(base_url={self.endpoint.base_url!r}, credentials={self.credentials!r})"


class VtexClient:
    """Synchronous VTEX OMS client (thread-safe: one client can serve many threads, sharing its rate limit).

    ``transport`` is an httpx transport (tests, proxies); ``sleep``, ``clock`` and ``rng`` are injectable so
    retries can be tested without waiting. ``rate`` builds a :class:`~.policy.TokenBucket`; ``rate_limiter``
    replaces it (e.g. one shared through the journal by several processes). Without credentials, they are
    read from ``VTEX_APP_KEY`` / ``VTEX_APP_TOKEN``.
    """

    def __init__(
        self,
        *,
        account: str | None = None,
        environment: str = "vtexcommercestable",
        base_url: str | None = None,
        credentials: Credentials | None = None,
        timeouts: Timeouts = Timeouts(),  # noqa: B008 - frozen, shared safely
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, shared safely
        rate_limiter: RateLimiter | None = None,
        rate: float | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
        rng: RandomSource | None = None,
    ) -> None:
        self._core = _Core(account=account, environment=environment, base_url=base_url, credentials=credentials,
                           timeouts=timeouts, retry=retry, rate_limiter=rate_limiter, rate=rate, clock=clock, rng=rng)
        self._sleep = sleep or time.sleep
        self._http = httpx.Client(transport=transport, timeout=self._core.httpx_timeout(), follow_redirects=False)

    @property
    def endpoint(self) -> Endpoint:
        return self._core.endpoint

    @property
    def stats(self) -> dict[str, Any]:
        """Counters for a metrics page (see :class:`~.policy.ClientStats`)."""
        return self._core.stats.snapshot()

    def _call(self, request: Request) -> httpx.Response:
        core = self._core
        started = core.clock()
        attempt = 0
        while True:
            attempt += 1
            wait = core.wait_before_attempt()
            if wait > 0:
                self._sleep(wait)
            sent = core.clock()
            response: httpx.Response | None = None
            error: VtexError | None = None
            try:
                response = self._http.request(request.method, request.url, headers=request.headers,
                                              content=request.body)
            except httpx.TransportError as exc:
                error = _transport_error(exc, request, core.timeouts)
            delay = core.settle(request, attempt, started=started, latency=core.clock() - sent, response=response,
                                error=error)
            if delay is None:
                assert response is not None
                return response
            self._sleep(delay)

    def get_order(self, order_id: str) -> Order:
        """GET the order (status, value, items, the invoices VTEX already holds)."""
        request = self._core.request("get_order", order_id)
        result: Order = _parse(request, self._call(request).content, Order)
        return result

    def send_invoice(self, order_id: str, payload: InvoicePayload, *, invoice_value_as_integer: bool = False
                     ) -> InvoiceReceipt:
        """POST the invoice notification (safe to repeat: the same number only renews the receipt)."""
        return self.send_invoice_body(order_id, payload.to_json(invoice_value_as_integer=invoice_value_as_integer))

    def send_invoice_body(self, order_id: str, body: str) -> InvoiceReceipt:
        """POST an invoice body exactly as given (the JSON text the journal stored), byte for byte."""
        request = self._core.request("send_invoice", order_id, body=body)
        result: InvoiceReceipt = _parse(request, self._call(request).content, InvoiceReceipt)
        return result

    def update_tracking(self, order_id: str, invoice_number: str, update: TrackingUpdate) -> InvoiceReceipt:
        """PATCH the invoice's tracking number, URL, courier and dispatch date."""
        request = self._core.request("update_tracking", order_id, invoice_number,
                                     json.dumps(update.to_wire(), ensure_ascii=False))
        result: InvoiceReceipt = _parse(request, self._call(request).content, InvoiceReceipt)
        return result

    def update_tracking_status(self, order_id: str, invoice_number: str, status: TrackingStatus) -> InvoiceReceipt:
        """PUT the delivery status and carrier events of an invoice that already has a tracking number."""
        request = self._core.request("update_tracking_status", order_id, invoice_number,
                                     json.dumps(status.to_wire(), ensure_ascii=False))
        result: InvoiceReceipt = _parse(request, self._call(request).content, InvoiceReceipt)
        return result

    def start_handling(self, order_id: str) -> None:
        """Move the order from ready-for-handling to handling (409 from any other status)."""
        self._call(self._core.request("start_handling", order_id))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return self._core.describe(type(self).__name__)


class AsyncVtexClient:
    """Asynchronous VTEX OMS client, the mirror of :class:`VtexClient`, with at most ``max_concurrency``
    requests in flight (its waits for the rate limiter and between retries do not hold a slot).

    ``sleep`` is an async callable (default ``anyio.sleep``, so it runs under asyncio or trio). The rate
    limiter's ``reserve()`` is called directly: it must be quick (a lock, or one short database statement).
    """

    def __init__(
        self,
        *,
        account: str | None = None,
        environment: str = "vtexcommercestable",
        base_url: str | None = None,
        credentials: Credentials | None = None,
        timeouts: Timeouts = Timeouts(),  # noqa: B008 - frozen, shared safely
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, shared safely
        rate_limiter: RateLimiter | None = None,
        rate: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        clock: Callable[[], float] | None = None,
        rng: RandomSource | None = None,
        max_concurrency: int = 8,
    ) -> None:
        if max_concurrency < 1:
            raise ConfigurationError("max_concurrency must be at least 1")
        self._core = _Core(account=account, environment=environment, base_url=base_url, credentials=credentials,
                           timeouts=timeouts, retry=retry, rate_limiter=rate_limiter, rate=rate, clock=clock, rng=rng)
        self._sleep = sleep or anyio.sleep
        self._slots = anyio.Semaphore(max_concurrency)
        self.max_concurrency = max_concurrency
        limits = httpx.Limits(max_connections=max_concurrency, max_keepalive_connections=max_concurrency)
        if transport is None and not getproxies():  # behind a proxy, httpx's own (see .transport)
            transport = LeanAsyncTransport(max_idle=max_concurrency)
        self._http = httpx.AsyncClient(transport=transport, timeout=self._core.httpx_timeout(), limits=limits,
                                       follow_redirects=False)

    @property
    def endpoint(self) -> Endpoint:
        return self._core.endpoint

    @property
    def stats(self) -> dict[str, Any]:
        """Counters for a metrics page (see :class:`~.policy.ClientStats`)."""
        return self._core.stats.snapshot()

    async def _call(self, request: Request) -> httpx.Response:
        core = self._core
        started = core.clock()
        attempt = 0
        while True:
            attempt += 1
            wait = core.wait_before_attempt()
            if wait > 0:
                await self._sleep(wait)
            response: httpx.Response | None = None
            error: VtexError | None = None
            async with self._slots:
                sent = core.clock()
                try:
                    response = await self._http.request(request.method, request.url, headers=request.headers,
                                                        content=request.body)
                except httpx.TransportError as exc:
                    error = _transport_error(exc, request, core.timeouts)
                latency = core.clock() - sent
            delay = core.settle(request, attempt, started=started, latency=latency, response=response, error=error)
            if delay is None:
                assert response is not None
                return response
            await self._sleep(delay)

    async def get_order(self, order_id: str) -> Order:
        """GET the order (status, value, items, the invoices VTEX already holds)."""
        request = self._core.request("get_order", order_id)
        result: Order = _parse(request, (await self._call(request)).content, Order)
        return result

    async def send_invoice(self, order_id: str, payload: InvoicePayload, *, invoice_value_as_integer: bool = False
                           ) -> InvoiceReceipt:
        """POST the invoice notification (safe to repeat: the same number only renews the receipt)."""
        return await self.send_invoice_body(
            order_id, payload.to_json(invoice_value_as_integer=invoice_value_as_integer)
        )

    async def send_invoice_body(self, order_id: str, body: str) -> InvoiceReceipt:
        """POST an invoice body exactly as given (the JSON text the journal stored), byte for byte."""
        request = self._core.request("send_invoice", order_id, body=body)
        result: InvoiceReceipt = _parse(request, (await self._call(request)).content, InvoiceReceipt)
        return result

    async def update_tracking(self, order_id: str, invoice_number: str, update: TrackingUpdate) -> InvoiceReceipt:
        """PATCH the invoice's tracking number, URL, courier and dispatch date."""
        request = self._core.request("update_tracking", order_id, invoice_number,
                                     json.dumps(update.to_wire(), ensure_ascii=False))
        result: InvoiceReceipt = _parse(request, (await self._call(request)).content, InvoiceReceipt)
        return result

    async def update_tracking_status(self, order_id: str, invoice_number: str, status: TrackingStatus
                                     ) -> InvoiceReceipt:
        """PUT the delivery status and carrier events of an invoice that already has a tracking number."""
        request = self._core.request("update_tracking_status", order_id, invoice_number,
                                     json.dumps(status.to_wire(), ensure_ascii=False))
        result: InvoiceReceipt = _parse(request, (await self._call(request)).content, InvoiceReceipt)
        return result

    async def start_handling(self, order_id: str) -> None:
        """Move the order from ready-for-handling to handling (409 from any other status)."""
        await self._call(self._core.request("start_handling", order_id))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, value: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return self._core.describe(type(self).__name__)
