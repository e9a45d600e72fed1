"""Everything about talking to VTEX that does no I/O: where, who, what to send, what an answer means, and
whether to try again. Written once, shared by :class:`~nfe_invoice.vtex.client.VtexClient` and
:class:`~nfe_invoice.vtex.client.AsyncVtexClient` (the httpx habit: the clients are thin loops over this).

Why retrying is safe here: the only call that changes VTEX's state in a way that matters is the invoice POST,
and VTEX answers the same ``invoiceNumber`` sent again by renewing its receipt and changing nothing else. So a
POST whose answer was lost (timeout, dropped connection) may be sent again. Tracking PATCH/PUT overwrite with
the same data; GET reads; start-handling on an order already in ``handling`` answers 409, which the caller can
read as "done".

What is retried (:func:`decide_retry`): connection errors, timeouts, 429 (after ``Retry-After``, or a minute
when VTEX does not say: its orders guide asks for that, as flooding an account can take the store's Admin
down) and 502/503/504. Never another 4xx: the request itself is wrong and would be wrong again. Never 500:
VTEX's 500 usually means the request broke something server-side, and repeating it blindly is how
duplicates are made elsewhere; the journal queues it again on a later run instead.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final, Protocol
from urllib.parse import quote, urlsplit

from ..errors import (
    ConfigurationError,
    VtexAuthError,
    VtexConflictError,
    VtexConnectionError,
    VtexError,
    VtexHttpError,
    VtexNotFoundError,
    VtexRateLimitedError,
    VtexRequestError,
    VtexServerError,
    VtexTimeoutError,
)

#: Requests per second a client allows itself when the caller does not say (VTEX documents 6,000 GET order
#: per minute per account, i.e. 100/s, shared with everything else the store runs: stay well under it).
DEFAULT_RATE: Final = 10.0

#: 5xx statuses that mean "the gateway or a node was not there" (safe and useful to try again).
RETRYABLE_STATUSES: Final = frozenset({502, 503, 504})

#: Response headers that may carry VTEX's request id (first present wins).
REQUEST_ID_HEADERS: Final = ("x-vtex-request-id", "x-request-id", "x-amzn-requestid")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,99}$")


# ----------------------------------------------------------------------------------------------- who


class Credentials:
    """VTEX credentials: an app key and token (``X-VTEX-API-AppKey`` / ``X-VTEX-API-AppToken``), or a user
    token (``VtexIdclientAutCookie``). ``repr`` and ``str`` never show them, so they cannot leak through a
    log line, an exception or a debugger print of a client."""

    __slots__ = ("_app_key", "_app_token", "_user_token")

    def __init__(
        self, app_key: str | None = None, app_token: str | None = None, *, user_token: str | None = None
    ) -> None:
        if user_token:
            if app_key or app_token:
                raise ConfigurationError("give either an app key and token, or a user token, not both")
        elif not (app_key and app_token):
            raise ConfigurationError("VTEX credentials need both an app key and an app token (or a user token)")
        self._app_key = app_key or None
        self._app_token = app_token or None
        self._user_token = user_token or None

    @classmethod
    def from_env(
        cls,
        key_var: str = "VTEX_APP_KEY",
        token_var: str = "VTEX_APP_TOKEN",
        *,
        environ: Mapping[str, str] | None = None,
    ) -> Credentials:
        """Read the app key and token from environment variables; the error names the variables, never values."""
        env = os.environ if environ is None else environ
        missing = [name for name in (key_var, token_var) if not env.get(name)]
        if missing:
            raise ConfigurationError(f"VTEX credentials: set the environment variable(s) {', '.join(missing)}")
        return cls(env[key_var], env[token_var])

    @classmethod
    def user_token_from_env(
        cls, var: str = "VTEX_USER_TOKEN", *, environ: Mapping[str, str] | None = None
    ) -> Credentials:
        env = os.environ if environ is None else environ
        if not env.get(var):
            raise ConfigurationError(f"VTEX credentials: set the environment variable {var}")
        return cls(user_token=env[var])

    @property
    def kind(self) -> str:
        return "user-token" if self._user_token else "app-key"

    def headers(self) -> dict[str, str]:
        """The authentication headers (the only place the secrets come out)."""
        if self._user_token:
            return {"VtexIdclientAutCookie": self._user_token}
        assert self._app_key is not None
        assert self._app_token is not None
        return {"X-VTEX-API-AppKey": self._app_key, "X-VTEX-API-AppToken": self._app_token}

    def secrets(self) -> tuple[str, ...]:
        """The secret values, for callers that must scrub text (and for tests proving nothing leaks)."""
        return tuple(s for s in (self._app_key, self._app_token, self._user_token) if s)

    def __repr__(self) -> str:
        return f"Credentials(kind={self.kind!r}, secrets=<hidden>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Credentials) and other.headers() == self.headers()

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.headers().items())))


# ---------------------------------------------------------------------------------------------- where


@dataclass(frozen=True)
class Endpoint:
    """Where VTEX is: ``https://{account}.{environment}.com.br``, or an explicit base URL (sandbox, proxies).

    ``account`` names the rate-limit bucket: VTEX throttles per account, so limiters are keyed by it.
    """

    base_url: str
    account: str | None = None

    @classmethod
    def for_account(cls, account: str, environment: str = "vtexcommercestable") -> Endpoint:
        for label, value in (("account", account), ("environment", environment)):
            if not _NAME.match(value or ""):
                raise ConfigurationError(f"VTEX {label} {value!r} is not a valid name (letters, digits, '-')")
        return cls(f"https://{account}.{environment}.com.br", account)

    @classmethod
    def from_base_url(cls, base_url: str, account: str | None = None) -> Endpoint:
        try:
            parts = urlsplit(base_url)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number from 0 to 65535
        except ValueError as exc:  # "http://[::1", "http://host:abc"
            raise ConfigurationError(f"VTEX base URL {base_url!r} cannot be read as a URL ({exc})") from None
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ConfigurationError(f"VTEX base URL {base_url!r} must be an http(s) URL with no query")
        if parts.username or parts.password:
            raise ConfigurationError("VTEX base URL must not carry credentials")
        return cls(base_url.rstrip("/"), account)

    @property
    def bucket(self) -> str:
        """The rate-limit key: the account when known, else the base URL."""
        return self.account or self.base_url


# ------------------------------------------------------------------------------------------ settings


@dataclass(frozen=True)
class Timeouts:
    """Connect and read timeouts, applied to every request (VTEX occasionally holds a request for minutes)."""

    connect: float = 5.0
    read: float = 30.0

    def __post_init__(self) -> None:
        if not (self.connect > 0 and self.read > 0):
            raise ConfigurationError("timeouts must be positive numbers of seconds")


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before trying again (see :func:`decide_retry`).

    ``max_attempts`` counts the first try. ``deadline`` bounds the whole call, waits included.
    ``default_rate_limit_wait`` is used for a 429 without ``Retry-After`` (VTEX advises a minute); a
    ``Retry-After`` longer than ``max_retry_after`` ends the call (waiting less would only be throttled
    again, and the journal can queue the invoice for a later run). ``pause_on_rate_limit`` holds back every
    request of the client, not only the throttled one, until the wait is over: VTEX throttles whole accounts.
    """

    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    deadline: float = 120.0
    default_rate_limit_wait: float = 60.0
    max_retry_after: float = 120.0
    jitter: bool = True
    pause_on_rate_limit: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigurationError("max_attempts must be at least 1")
        if min(self.backoff_base, self.backoff_cap, self.deadline, self.default_rate_limit_wait) < 0:
            raise ConfigurationError("retry delays and the deadline cannot be negative")


# ------------------------------------------------------------------------------------------ rate limits


class RateLimiter(Protocol):
    """Spaces requests out. ``reserve()`` takes one request's slot and says how long to wait before using it.

    Shared by every request of a client (and, through the journal, by every process on one account)."""

    def reserve(self) -> float: ...


class Unlimited:
    """No rate limit (benchmarks against the sandbox; never against a real account)."""

    def reserve(self) -> float:
        return 0.0


class TokenBucket:
    """A thread-safe token bucket: ``rate`` requests per second on average, ``burst`` at once.

    A reservation is taken even when no token is there (the bucket goes into debt), so callers waiting in
    parallel are spaced ``1/rate`` apart instead of all waking at the same instant.
    """

    def __init__(self, rate: float, burst: int | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        if not rate > 0:
            raise ConfigurationError("the rate must be a positive number of requests per second")
        self.rate = float(rate)
        self.burst = max(1, burst if burst is not None else math.ceil(rate))
        self._clock = clock
        self._tokens = float(self.burst)
        self._stamp = clock()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def __repr__(self) -> str:
        return f"TokenBucket(rate={self.rate}, burst={self.burst})"


# ---------------------------------------------------------------------------------------------- what


#: operation -> (method, path under /api/oms/pvt/orders/, with {order} and {invoice})
OPERATIONS: Final[Mapping[str, tuple[str, str]]] = {
    "get_order": ("GET", "{order}"),
    "send_invoice": ("POST", "{order}/invoice"),
    "update_tracking": ("PATCH", "{order}/invoice/{invoice}"),
    "update_tracking_status": ("PUT", "{order}/invoice/{invoice}/tracking"),
    "start_handling": ("POST", "{order}/start-handling"),
}
ORDERS_PATH: Final = "/api/oms/pvt/orders/"


@dataclass(frozen=True)
class Request:
    """One request, ready for any HTTP library. ``headers`` holds the credentials, so it is not in the repr."""

    operation: str
    method: str
    url: str
    headers: Mapping[str, str] = field(repr=False)
    body: bytes | None = field(default=None, repr=False)


def _segment(label: str, value: str) -> str:
    """``value`` as one path segment: a '/' or '?' in an id cannot reach another path, and neither can a
    dot segment (``.`` and ``..`` are not encoded by percent-encoding, and URL normalisation removes them,
    so ``orders/../invoice`` would be another VTEX endpoint, called with the credentials)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{label} must be a non-empty string")
    if value in {".", ".."}:
        raise ValueError(f"{label} {value!r} is a dot segment, which would name another path; it is never sent")
    return quote(value, safe="")


def build_request(
    operation: str,
    endpoint: Endpoint,
    credentials: Credentials,
    *,
    order_id: str,
    invoice_number: str | None = None,
    body: str | bytes | None = None,
) -> Request:
    """The request for one of :data:`OPERATIONS`: path segments percent-encoded, JSON headers VTEX requires
    (``Accept`` and ``Content-Type`` on every call), the credentials, the body as UTF-8 bytes."""
    method, template = OPERATIONS[operation]
    path = template.replace("{order}", _segment("order id", order_id))
    if "{invoice}" in path:
        path = path.replace("{invoice}", _segment("invoice number", invoice_number or ""))
    headers = {"Accept": "application/json", "Content-Type": "application/json", **credentials.headers()}
    content = body.encode("utf-8") if isinstance(body, str) else body
    return Request(operation, method, endpoint.base_url + ORDERS_PATH + path, headers, content)


# ------------------------------------------------------------------------------------- what it means


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: a number of seconds (a decimal is accepted) or an HTTP date. None when
    absent or unreadable (the caller then falls back to its default wait)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = {k.lower(): v for k, v in headers.items()}
    return lowered.get(name)


def _vtex_error_fields(body: bytes) -> tuple[str | None, str | None]:
    """VTEX's ``{"error": {"code", "message", "exception"}}``; a few VTEX services answer ``{"Message": ...}``
    or plain text instead, which becomes the message (cut short: it is for people, not machines)."""
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return None, None
    try:
        data = json.loads(text)
    except ValueError:
        return None, text[:200]
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            code = error.get("code")
            message = error.get("message")
            return (None if code is None else str(code)), (None if message is None else str(message)[:500])
        for key in ("message", "Message", "error_description"):
            if isinstance(data.get(key), str):
                return None, data[key][:500]
    return None, text[:200]


_STATUS_CLASSES: Final[Mapping[int, type[VtexHttpError]]] = {
    401: VtexAuthError,
    403: VtexAuthError,
    404: VtexNotFoundError,
    409: VtexConflictError,
}


def classify_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    operation: str | None = None,
    now: datetime | None = None,
) -> VtexError | None:
    """None for a success (2xx); otherwise the exception for this status, carrying VTEX's code and message,
    the request id and, for a 429, the ``Retry-After`` delay. The message is one line for people."""
    if 200 <= status < 300:
        return None
    vtex_code, vtex_message = _vtex_error_fields(body)
    request_id = next((v for v in (_header(headers, h) for h in REQUEST_ID_HEADERS) if v), None)
    what = f"{operation}: " if operation else ""
    said = f": {vtex_message}" if vtex_message else ""
    coded = f" [{vtex_code}]" if vtex_code else ""
    rid = f" (request id {request_id})" if request_id else ""
    message = f"{what}VTEX answered {status}{coded}{said}{rid}"
    common: dict[str, Any] = {"vtex_code": vtex_code, "vtex_message": vtex_message, "request_id": request_id}
    if status == 429:
        retry_after = parse_retry_after(_header(headers, "retry-after"), now=now)
        if retry_after is None:
            milliseconds = parse_retry_after(_header(headers, "retry-after-ms"))
            retry_after = None if milliseconds is None else milliseconds / 1000
        return VtexRateLimitedError(message, status=status, retry_after=retry_after, **common)
    cls = _STATUS_CLASSES.get(status)
    if cls is None:
        cls = VtexServerError if status >= 500 else VtexRequestError
    return cls(message, status=status, **common)


def retry_reason(error: VtexError) -> str | None:
    """A short label for why ``error`` may be retried (also the stats label), or None when it must not be."""
    if isinstance(error, VtexRateLimitedError):
        return "429"
    if isinstance(error, VtexServerError) and error.status in RETRYABLE_STATUSES:
        return str(error.status)
    if isinstance(error, VtexTimeoutError):
        return "timeout"
    if isinstance(error, VtexConnectionError):
        return "connection"
    return None


class RandomSource(Protocol):
    def random(self) -> float: ...


def backoff(attempt: int, policy: RetryPolicy, rng: RandomSource) -> float:
    """Exponential backoff after the ``attempt``-th failure: base·2^(attempt-1) capped, with "equal jitter"
    (half fixed, half random) so parallel callers spread out but never retry instantly."""
    delay: float = min(policy.backoff_cap, policy.backoff_base * 2.0 ** min(attempt - 1, 60))
    return delay / 2 + rng.random() * delay / 2 if policy.jitter else delay


def decide_retry(
    attempt: int, error: VtexError, elapsed: float, policy: RetryPolicy, rng: RandomSource
) -> float | None:
    """Seconds to wait before attempt ``attempt + 1``, or None to give up and raise ``error``.

    ``attempt`` is how many attempts were made (1 after the first); ``elapsed`` the seconds since the call
    began. Gives up on errors that are not retryable (:func:`retry_reason`), after ``max_attempts``, when
    VTEX asks for a longer wait than ``max_retry_after``, and when the wait would cross the ``deadline``.
    """
    if retry_reason(error) is None or attempt >= policy.max_attempts:
        return None
    if isinstance(error, VtexRateLimitedError):
        wait = policy.default_rate_limit_wait if error.retry_after is None else error.retry_after
        if wait > policy.max_retry_after:
            return None
    else:
        wait = backoff(attempt, policy, rng)
    if elapsed + wait > policy.deadline:
        return None
    return wait


# ---------------------------------------------------------------------------------------------- stats

#: Latency histogram bucket upper bounds, seconds (Prometheus style: cumulative, plus +Inf).
LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ClientStats:
    """Counters of one client, thread-safe, for a ``/metrics`` page: attempts by operation and outcome,
    retries by reason, calls that gave up, time spent waiting for the rate limiter, and latency."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[str, int] = {}
        self.outcomes: dict[str, int] = {}
        self.retries: dict[str, int] = {}
        self.gave_up: dict[str, int] = {}
        self.rate_limit_wait = 0.0
        self.latency_sum = 0.0
        self.latency_count = 0
        self.latency_buckets = [0] * (len(LATENCY_BUCKETS) + 1)

    def attempt(self, operation: str, outcome: str, latency: float) -> None:
        with self._lock:
            self.requests[operation] = self.requests.get(operation, 0) + 1
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
            self.latency_sum += latency
            self.latency_count += 1
            index = next((i for i, bound in enumerate(LATENCY_BUCKETS) if latency <= bound), len(LATENCY_BUCKETS))
            self.latency_buckets[index] += 1

    def retry(self, reason: str) -> None:
        with self._lock:
            self.retries[reason] = self.retries.get(reason, 0) + 1

    def give_up(self, code: str) -> None:
        with self._lock:
            self.gave_up[code] = self.gave_up.get(code, 0) + 1

    def waited(self, seconds: float) -> None:
        with self._lock:
            self.rate_limit_wait += seconds

    def snapshot(self) -> dict[str, Any]:
        """A plain copy; ``latency_histogram`` is cumulative per upper bound, ending with ``+Inf``."""
        with self._lock:
            cumulative, running = [], 0
            for bound, count in zip((*LATENCY_BUCKETS, math.inf), self.latency_buckets, strict=True):
                running += count
                cumulative.append(("+Inf" if bound == math.inf else bound, running))
            return {
                "requests": dict(self.requests),
                "requests_total": sum(self.requests.values()),
                "outcomes": dict(self.outcomes),
                "retries": dict(self.retries),
                "gave_up": dict(self.gave_up),
                "rate_limit_wait_seconds": self.rate_limit_wait,
                "latency_sum": self.latency_sum,
                "latency_count": self.latency_count,
                "latency_histogram": cumulative,
            }
