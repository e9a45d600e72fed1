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

import asyncio
import json
import logging
import random
import re
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Protocol, Self
from urllib.parse import urlsplit
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
from .transport import LeanAsyncTransport, Origin, encode_head, origin_of
from .transport import Timeouts as PhaseTimeouts

logger = logging.getLogger("nfe_invoice.vtex")
_HTTPX_LOGGER = logging.getLogger("httpx")  # the lean path logs each request there, as httpx's client does

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


class _Response(Protocol):
    """What the clients read of an answer: an :class:`httpx.Response`, or the lean path's :class:`_Answer`."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def content(self) -> bytes: ...


class _Answer:
    """An answer the lean path read (see :class:`_LeanPath`): status, body, and headers made into
    :class:`httpx.Headers` only if asked for (an error answer is classified by them; a success never is)."""

    __slots__ = ("_headers", "_raw_headers", "content", "status_code")

    def __init__(self, status_code: int, raw_headers: list[tuple[bytes, bytes]], content: bytes) -> None:
        self.status_code = status_code
        self.content = content
        self._raw_headers = raw_headers
        self._headers: httpx.Headers | None = None

    @property
    def headers(self) -> httpx.Headers:
        if self._headers is None:
            self._headers = httpx.Headers(self._raw_headers)
        return self._headers


#: A request target httpx sends exactly as given (no percent-encoding or dot segments to normalise): our
#: paths are made of :func:`urllib.parse.quote`'d segments, so only an odd base URL ever fails this.
_PLAIN_TARGET = re.compile(r"(/[A-Za-z0-9\-_~%]*(\.[A-Za-z0-9\-_~%]+)*)*")
#: Answer headers only httpx's own path handles: a cookie for the client's jar, a body to decode.
_HTTPX_ONLY_ANSWERS = frozenset({b"set-cookie", b"content-encoding"})


class _LeanPath:
    """The async client's requests, encoded here and exchanged on its :class:`.transport.LeanAsyncTransport`
    directly: httpx's client machinery around the transport (request and URL objects, header merging, the
    cookie jar's bookkeeping, auth and redirect layers, the response object) cost the batch about as much CPU
    as the transport itself, for requests that are always the same few shapes.

    The bytes on the wire are the ones httpx would write: for each shape (method, headers, with or without a
    body) the header block is learnt once from ``httpx.AsyncClient.build_request`` (Host, httpx's default
    headers, ours, in httpx's order) and reused; only the request line and ``Content-Length`` change. Whatever
    it does not model goes through httpx as before (:meth:`send` returns None): a cookie in the client's jar to
    send, an answer that sets a cookie or has a ``Content-Encoding`` (read again through an
    :class:`httpx.Response`, which decodes it and feeds the jar), a closed client, a target httpx would
    normalise, and any event loop other than asyncio.
    """

    def __init__(self, http: httpx.AsyncClient, transport: LeanAsyncTransport, base_url: str,
                 timeout: httpx.Timeout) -> None:
        self._http = http
        self._transport = transport
        self._origin: Origin = origin_of(httpx.URL(base_url))
        parts = urlsplit(base_url)
        self._root = f"{parts.scheme}://{parts.netloc}"  # the request target is what follows it
        self._timeouts: PhaseTimeouts = {"connect": timeout.connect, "read": timeout.read, "write": timeout.write}
        #: (method, headers, body kind) -> header lines before and after Content-Length, each "\r\n"-led
        self._heads: dict[tuple[str, tuple[tuple[str, str], ...], int], tuple[bytes, bytes]] = {}

    def _head(self, request: Request, target: bytes) -> tuple[bytes, bytes]:
        body = request.body
        # httpx frames no body, an empty one and a non-empty one differently (no Content-Length, one of 0
        # right after Host, one with the length last): each is a shape of its own
        kind = 0 if body is None else 1 if not body else 2
        shape = (request.method, tuple(request.headers.items()), kind)
        known = self._heads.get(shape)
        if known is None:
            model = self._http.build_request(request.method, self._root + "/", headers=request.headers,
                                             content=(None, b"", b"-")[kind])
            lines = list(model.headers.raw)
            encode_head(request.method, target, lines, b"")  # refuses a header that would inject a line
            cut = next((i for i, (name, _) in enumerate(lines) if name.lower() == b"content-length"), None)
            if kind == 2 and cut is None:  # pragma: no cover - httpx always sets it for a body
                raise httpx.LocalProtocolError("httpx made a request with a body and no Content-Length")
            before, after = (lines[:cut], lines[cut + 1:]) if kind == 2 and cut is not None else (lines, [])
            known = (b"".join(b"\r\n" + name + b": " + value for name, value in before),
                     b"".join(b"\r\n" + name + b": " + value for name, value in after))
            self._heads[shape] = known
        return known

    async def send(self, request: Request) -> _Response | None:
        """The answer to ``request``, or None when it must go through httpx's client instead."""
        if self._http.is_closed or self._http.cookies.jar:
            return None
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # not asyncio (trio): httpx's client, whose transport falls back to httpx's own
            return None
        if not request.url.startswith(self._root):
            return None
        path = request.url[len(self._root):]
        if not _PLAIN_TARGET.fullmatch(path) or not path:
            return None
        target = path.encode("ascii")
        before, after = self._head(request, target)
        body = request.body
        length = b"\r\nContent-Length: %d" % len(body) if body else b""
        data = b"%s %s HTTP/1.1%s%s%s\r\n\r\n%s" % (request.method.encode("ascii"), target, before, length, after,
                                                     body or b"")
        version, status, reason, headers, content = await self._transport.exchange(
            self._origin, data, self._timeouts, head_only=request.method == "HEAD")
        if _HTTPX_LOGGER.isEnabledFor(logging.INFO):
            _HTTPX_LOGGER.info('HTTP Request: %s %s "%s %d %s"', request.method, httpx.URL(request.url),
                               version.decode("ascii", "replace"), status, reason.decode("ascii", "replace"))
        if any(name.lower() in _HTTPX_ONLY_ANSWERS for name, _ in headers):
            model = self._http.build_request(request.method, request.url, headers=request.headers,
                                             content=request.body)
            response = httpx.Response(status, headers=headers, content=content, request=model,
                                      extensions={"http_version": version, "reason_phrase": reason})
            self._http.cookies.extract_cookies(response)
            return response
        return _Answer(status, headers, content)


def _slots(count: int) -> anyio.Semaphore:
    """The client's request slots. A free slot is taken without yielding to the event loop (anyio >= 4.5:
    ``fast_acquire``), which would otherwise cost every request one more turn of the loop; older anyio
    releases (httpx accepts any) get the plain semaphore."""
    try:
        return anyio.Semaphore(count, fast_acquire=True)
    except TypeError:  # pragma: no cover - anyio < 4.5
        return anyio.Semaphore(count)


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
               response: _Response | None, error: VtexError | None) -> float | None:
        """After one attempt: None when it succeeded, else the seconds to wait before the next one.

        Raises the error when the policy gives up (not retryable, attempts or deadline exhausted)."""
        if response is not None:
            status = response.status_code
            # a success is never classified: its headers are not even read (the lean path builds them lazily)
            error = None if 200 <= status < 300 else classify_response(
                status, response.headers, response.content, operation=request.operation)
            outcome = str(status)
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
        self._slots = _slots(max_concurrency)
        self.max_concurrency = max_concurrency
        limits = httpx.Limits(max_connections=max_concurrency, max_keepalive_connections=max_concurrency)
        lean: LeanAsyncTransport | None = None
        if transport is None and not getproxies():  # behind a proxy, httpx's own (see .transport)
            transport = lean = LeanAsyncTransport(max_idle=max_concurrency)
        timeout = self._core.httpx_timeout()
        self._http = httpx.AsyncClient(transport=transport, timeout=timeout, limits=limits, follow_redirects=False)
        self._lean = _LeanPath(self._http, lean, self._core.endpoint.base_url, timeout) if lean is not None else None

    @property
    def endpoint(self) -> Endpoint:
        return self._core.endpoint

    @property
    def stats(self) -> dict[str, Any]:
        """Counters for a metrics page (see :class:`~.policy.ClientStats`)."""
        return self._core.stats.snapshot()

    async def _send(self, request: Request) -> _Response:
        """One attempt: through the lean path when it can take the request, else through httpx's client."""
        if self._lean is not None:
            answer = await self._lean.send(request)
            if answer is not None:
                return answer
        return await self._http.request(request.method, request.url, headers=request.headers, content=request.body)

    async def _call(self, request: Request) -> _Response:
        core = self._core
        started = core.clock()
        attempt = 0
        while True:
            attempt += 1
            wait = core.wait_before_attempt()
            if wait > 0:
                await self._sleep(wait)
            response: _Response | None = None
            error: VtexError | None = None
            async with self._slots:
                sent = core.clock()
                try:
                    response = await self._send(request)
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
