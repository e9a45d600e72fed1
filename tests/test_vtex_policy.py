"""The sans-I/O half of the VTEX transport: credentials, endpoints, requests, error classification, the retry
decision, backoff, the token bucket and the stats. Pure functions, plus httpx.MockTransport where the client
loop itself is exercised without a server."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from nfe_invoice.errors import (
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
from nfe_invoice.vtex.client import VtexClient
from nfe_invoice.vtex.policy import (
    LATENCY_BUCKETS,
    ClientStats,
    Credentials,
    Endpoint,
    RetryPolicy,
    Timeouts,
    TokenBucket,
    backoff,
    build_request,
    classify_response,
    decide_retry,
    parse_retry_after,
    retry_reason,
)

KEY, TOKEN = "vtexappkey-mystore-ABCDEF", "SECRET-TOKEN-0123456789"


class FixedRandom:
    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ------------------------------------------------------------------------------------------ credentials


def test_credentials_never_show_their_secrets() -> None:
    credentials = Credentials(KEY, TOKEN)
    for text in (repr(credentials), str(credentials), f"{credentials}", repr([credentials])):
        assert KEY not in text
        assert TOKEN not in text
    assert credentials.headers() == {"X-VTEX-API-AppKey": KEY, "X-VTEX-API-AppToken": TOKEN}
    assert set(credentials.secrets()) == {KEY, TOKEN}


def test_user_token_credentials_use_the_vtex_id_cookie_header() -> None:
    credentials = Credentials(user_token=TOKEN)
    assert credentials.headers() == {"VtexIdclientAutCookie": TOKEN}
    assert credentials.kind == "user-token"
    assert TOKEN not in repr(credentials)


@pytest.mark.parametrize(("key", "token", "user"), [(KEY, None, None), (None, TOKEN, None), ("", "", None),
                                                    (KEY, TOKEN, "user")])
def test_incomplete_or_mixed_credentials_are_refused(key: str | None, token: str | None, user: str | None) -> None:
    with pytest.raises(ConfigurationError):
        Credentials(key, token, user_token=user)


def test_credentials_from_env_name_the_missing_variable_never_a_value() -> None:
    credentials = Credentials.from_env(environ={"VTEX_APP_KEY": KEY, "VTEX_APP_TOKEN": TOKEN})
    assert credentials == Credentials(KEY, TOKEN)
    with pytest.raises(ConfigurationError) as caught:
        Credentials.from_env("MY_KEY", "MY_TOKEN", environ={"MY_KEY": KEY})
    assert "MY_TOKEN" in str(caught.value)
    assert KEY not in str(caught.value)


# --------------------------------------------------------------------------------------------- endpoint


def test_endpoint_from_account_and_environment() -> None:
    assert Endpoint.for_account("mystore").base_url == "https://mystore.vtexcommercestable.com.br"
    assert Endpoint.for_account("mystore", "vtexcommercebeta").base_url == "https://mystore.vtexcommercebeta.com.br"
    assert Endpoint.for_account("mystore").bucket == "mystore"


@pytest.mark.parametrize("account", ["my.store", "evil.com/x", "", "a b", "store@host"])
def test_an_account_that_could_change_the_host_is_refused(account: str) -> None:
    with pytest.raises(ConfigurationError):
        Endpoint.for_account(account)


@pytest.mark.parametrize("url", ["ftp://x", "localhost:8080", "http://user:pw@host", "http://host/?q=1"])
def test_a_base_url_must_be_plain_http(url: str) -> None:
    with pytest.raises(ConfigurationError):
        Endpoint.from_base_url(url)


@pytest.mark.parametrize("url", ["http://[::1", "http://127.0.0.1:abc", "http://127.0.0.1:99999", "http://h:-1"])
def test_a_base_url_that_cannot_be_read_is_a_configuration_error(url: str) -> None:
    """urlsplit raises ValueError for these (or only when the port is read): never a bare ValueError."""
    with pytest.raises(ConfigurationError, match="cannot be read as a URL"):
        Endpoint.from_base_url(url)


def test_base_url_loses_its_trailing_slash() -> None:
    assert Endpoint.from_base_url("http://127.0.0.1:8080/").base_url == "http://127.0.0.1:8080"


# -------------------------------------------------------------------------------------------- requests


def test_build_request_for_each_operation() -> None:
    endpoint, credentials = Endpoint.for_account("mystore"), Credentials(KEY, TOKEN)
    base = "https://mystore.vtexcommercestable.com.br/api/oms/pvt/orders/"
    cases = {
        "get_order": ("GET", base + "1001-01"),
        "send_invoice": ("POST", base + "1001-01/invoice"),
        "update_tracking": ("PATCH", base + "1001-01/invoice/NF-123"),
        "update_tracking_status": ("PUT", base + "1001-01/invoice/NF-123/tracking"),
        "start_handling": ("POST", base + "1001-01/start-handling"),
    }
    for operation, (method, url) in cases.items():
        request = build_request(operation, endpoint, credentials, order_id="1001-01", invoice_number="NF-123",
                                body="{}")
        assert (request.method, request.url) == (method, url)
        assert request.headers["Accept"] == "application/json"
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["X-VTEX-API-AppToken"] == TOKEN
        assert TOKEN not in repr(request)
        assert KEY not in repr(request)


def test_path_segments_are_percent_encoded() -> None:
    request = build_request("update_tracking", Endpoint.for_account("s"), Credentials(KEY, TOKEN),
                            order_id="../../admin?x=1", invoice_number="a/b#c")
    assert request.url.endswith("/api/oms/pvt/orders/..%2F..%2Fadmin%3Fx%3D1/invoice/a%2Fb%23c")


def test_body_text_is_sent_as_utf8_bytes_unchanged() -> None:
    body = '{"embeddedInvoice": "<xNome>Ação</xNome>"}'
    request = build_request("send_invoice", Endpoint.for_account("s"), Credentials(KEY, TOKEN), order_id="1",
                            body=body)
    assert request.body == body.encode("utf-8")


@pytest.mark.parametrize(("order_id", "invoice_number"), [(".", "1"), ("..", "1"), ("1001-01", ".."), ("1001-01", ".")])
def test_a_dot_segment_is_refused_in_any_path(order_id: str, invoice_number: str) -> None:
    """``orders/../invoice/2001`` would be normalised into another VTEX endpoint, called with the credentials."""
    for operation in ("update_tracking", "update_tracking_status"):
        with pytest.raises(ValueError, match="dot segment"):
            build_request(operation, Endpoint.for_account("s"), Credentials(KEY, TOKEN), order_id=order_id,
                          invoice_number=invoice_number)
    if order_id != "1001-01":
        for operation in ("get_order", "send_invoice"):
            with pytest.raises(ValueError, match="dot segment"):
                build_request(operation, Endpoint.for_account("s"), Credentials(KEY, TOKEN), order_id=order_id)


@pytest.mark.parametrize("order_id", ["", "   "])
def test_an_empty_order_id_is_refused(order_id: str) -> None:
    with pytest.raises(ValueError, match="order id"):
        build_request("get_order", Endpoint.for_account("s"), Credentials(KEY, TOKEN), order_id=order_id)


# --------------------------------------------------------------------------------------- classification


def test_success_statuses_are_not_errors() -> None:
    for status in (200, 201, 204):
        assert classify_response(status, {}, b"") is None


@pytest.mark.parametrize(
    ("status", "cls"),
    [(400, VtexRequestError), (401, VtexAuthError), (403, VtexAuthError), (404, VtexNotFoundError),
     (409, VtexConflictError), (422, VtexRequestError), (429, VtexRateLimitedError), (500, VtexServerError),
     (502, VtexServerError), (503, VtexServerError), (504, VtexServerError)],
)
def test_each_status_has_its_exception(status: int, cls: type[VtexHttpError]) -> None:
    body = b'{"error": {"code": "OMS003", "message": "Order status should be ready-for-handling", "exception": null}}'
    error = classify_response(status, {"X-VTEX-Request-Id": "req-42"}, body, operation="start_handling")
    assert type(error) is cls
    assert isinstance(error, VtexHttpError)
    assert error.status == status
    assert error.vtex_code == "OMS003"
    assert error.vtex_message == "Order status should be ready-for-handling"
    assert error.request_id == "req-42"
    assert str(error) == (f"start_handling: VTEX answered {status} [OMS003]: Order status should be "
                          "ready-for-handling (request id req-42)")


def test_non_json_and_other_shapes_become_the_message() -> None:
    error = classify_response(502, {}, b"<html>Bad Gateway</html>")
    assert isinstance(error, VtexServerError)
    assert error.vtex_message == "<html>Bad Gateway</html>"
    assert error.vtex_code is None
    other = classify_response(400, {}, b'{"Message": "invoiceValue is invalid"}')
    assert isinstance(other, VtexRequestError)
    assert other.vtex_message == "invoiceValue is invalid"
    empty = classify_response(404, {}, b"")
    assert isinstance(empty, VtexNotFoundError)
    assert str(empty) == "VTEX answered 404"


def test_retry_after_in_seconds_and_as_an_http_date() -> None:
    error = classify_response(429, {"Retry-After": "7"}, b"")
    assert isinstance(error, VtexRateLimitedError)
    assert error.retry_after == 7
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    dated = classify_response(429, {"retry-after": format_datetime(now + timedelta(seconds=30), usegmt=True)}, b"",
                              now=now)
    assert isinstance(dated, VtexRateLimitedError)
    assert dated.retry_after == 30
    missing = classify_response(429, {}, b"")
    assert isinstance(missing, VtexRateLimitedError)
    assert missing.retry_after is None
    milliseconds = classify_response(429, {"retry-after-ms": "250"}, b"")
    assert isinstance(milliseconds, VtexRateLimitedError)
    assert milliseconds.retry_after == 0.25


@pytest.mark.parametrize(("text", "seconds"), [("0", 0.0), ("1.5", 1.5), (" 3 ", 3.0), ("-5", 0.0), ("soon", None),
                                               ("", None), (None, None), ("nan", None)])
def test_parse_retry_after(text: str | None, seconds: float | None) -> None:
    assert parse_retry_after(text) == seconds


def test_a_past_http_date_means_retry_now() -> None:
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert parse_retry_after(format_datetime(now - timedelta(hours=1), usegmt=True), now=now) == 0.0


# ------------------------------------------------------------------------------------------ retry rules

POLICY = RetryPolicy(max_attempts=5, backoff_base=0.5, backoff_cap=8.0, deadline=120.0)


def _error(status: int, retry_after: float | None = None) -> VtexError:
    if status == 429:
        return VtexRateLimitedError("x", retry_after=retry_after)
    error = classify_response(status, {}, b"")
    assert error is not None
    return error


@pytest.mark.parametrize(
    ("error", "reason"),
    [(VtexConnectionError("reset"), "connection"), (VtexTimeoutError("slow"), "timeout"),
     (_error(429, 1), "429"), (_error(502), "502"), (_error(503), "503"), (_error(504), "504")],
)
def test_retryable_errors_are_retried(error: VtexError, reason: str) -> None:
    assert retry_reason(error) == reason
    assert decide_retry(1, error, 0.0, POLICY, FixedRandom(0.5)) is not None


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 500, 501])
def test_other_statuses_are_never_retried(status: int) -> None:
    error = _error(status)
    assert retry_reason(error) is None
    assert decide_retry(1, error, 0.0, POLICY, FixedRandom(0.5)) is None


def test_a_malformed_answer_is_not_retried() -> None:
    assert decide_retry(1, VtexError("not an order"), 0.0, POLICY, FixedRandom(0.5)) is None


def test_retry_after_is_honoured_exactly() -> None:
    assert decide_retry(1, _error(429, 3.0), 0.0, POLICY, FixedRandom(0.9)) == 3.0


def test_a_429_without_retry_after_waits_the_default_minute() -> None:
    assert decide_retry(1, _error(429, None), 0.0, POLICY, FixedRandom(0.9)) == 60.0


def test_a_retry_after_longer_than_allowed_gives_up() -> None:
    policy = RetryPolicy(max_retry_after=10.0)
    assert decide_retry(1, _error(429, 11.0), 0.0, policy, FixedRandom(0.5)) is None
    assert decide_retry(1, _error(429, 10.0), 0.0, policy, FixedRandom(0.5)) == 10.0


def test_attempts_are_bounded() -> None:
    error = _error(503)
    assert decide_retry(4, error, 0.0, POLICY, FixedRandom(0.5)) is not None
    assert decide_retry(5, error, 0.0, POLICY, FixedRandom(0.5)) is None
    assert decide_retry(1, error, 0.0, RetryPolicy(max_attempts=1), FixedRandom(0.5)) is None


def test_the_deadline_covers_the_next_wait() -> None:
    policy = RetryPolicy(deadline=10.0, backoff_base=4.0, jitter=False)
    assert decide_retry(1, _error(503), 5.0, policy, FixedRandom(0.5)) == 4.0  # 5 + 4 <= 10
    assert decide_retry(1, _error(503), 6.5, policy, FixedRandom(0.5)) is None  # 6.5 + 4 > 10
    assert decide_retry(1, _error(429, 30.0), 0.0, policy, FixedRandom(0.5)) is None


def test_backoff_doubles_up_to_the_cap_with_equal_jitter() -> None:
    plain = RetryPolicy(backoff_base=0.5, backoff_cap=8.0, jitter=False)
    assert [backoff(n, plain, FixedRandom(0.0)) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    jittered = RetryPolicy(backoff_base=0.5, backoff_cap=8.0)
    assert backoff(3, jittered, FixedRandom(0.0)) == 1.0  # half of 2.0 is fixed
    assert backoff(3, jittered, FixedRandom(0.999999)) == pytest.approx(2.0, abs=1e-5)
    rng = random.Random(7)
    delays = {backoff(3, jittered, rng) for _ in range(50)}
    assert len(delays) > 40
    assert all(1.0 <= d <= 2.0 for d in delays)
    assert backoff(500, plain, FixedRandom(0.0)) == 8.0  # no overflow on absurd attempt counts


@pytest.mark.parametrize("changes", [{"max_attempts": 0}, {"deadline": -1.0}, {"backoff_base": -0.1}])
def test_nonsense_retry_policies_are_refused(changes: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        RetryPolicy(**changes)  # type: ignore[arg-type]


def test_nonsense_timeouts_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        Timeouts(read=0)


# ------------------------------------------------------------------------------------------ rate limit


def test_token_bucket_allows_a_burst_then_spaces_requests() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=3, clock=clock)
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    waits = [bucket.reserve() for _ in range(3)]
    assert waits == pytest.approx([0.1, 0.2, 0.3])  # reservations queue up 1/rate apart
    clock.now += 10.0  # a long idle time refills only up to the burst
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.reserve() == pytest.approx(0.1)


def test_token_bucket_is_shared_safely_between_threads() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=100, burst=1, clock=clock)
    waits: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(250):
            wait = bucket.reserve()
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 1,000 reservations at 100/s with the clock standing still: every slot 0.00 ... 9.99 s handed out once
    assert sorted(round(w, 6) for w in waits) == [round(i / 100, 6) for i in range(1000)]


def test_token_bucket_needs_a_positive_rate() -> None:
    with pytest.raises(ConfigurationError):
        TokenBucket(0)


# ---------------------------------------------------------------------------------------------- stats


def test_stats_count_attempts_retries_and_latency() -> None:
    stats = ClientStats()
    stats.attempt("send_invoice", "503", 0.004)
    stats.retry("503")
    stats.attempt("send_invoice", "200", 0.3)
    stats.attempt("get_order", "vtex.timeout", 99.0)
    stats.give_up("vtex.timeout")
    snapshot = stats.snapshot()
    assert snapshot["requests"] == {"send_invoice": 2, "get_order": 1}
    assert snapshot["requests_total"] == 3
    assert snapshot["outcomes"] == {"503": 1, "200": 1, "vtex.timeout": 1}
    assert snapshot["retries"] == {"503": 1}
    assert snapshot["gave_up"] == {"vtex.timeout": 1}
    assert snapshot["latency_count"] == 3
    assert snapshot["latency_sum"] == pytest.approx(99.304)
    histogram = dict(snapshot["latency_histogram"])
    assert histogram[0.005] == 1
    assert histogram[0.25] == 1
    assert histogram[0.5] == 2
    assert histogram[LATENCY_BUCKETS[-1]] == 2
    assert histogram["+Inf"] == 3


# -------------------------------------------------------------- the client loop over a mock transport


def test_client_loop_retries_then_returns_with_mock_transport() -> None:
    """The loop alone: 503, then 429 (Retry-After 2), then 200; sleeps are recorded, not slept."""
    answers = [httpx.Response(503), httpx.Response(429, headers={"Retry-After": "2"}),
               httpx.Response(200, json={"orderId": "1", "status": "handling", "value": 100})]
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers[len(seen) - 1]

    sleeps: list[float] = []
    client = VtexClient(base_url="http://vtex.test", credentials=Credentials(KEY, TOKEN),
                        transport=httpx.MockTransport(handler), sleep=sleeps.append, rng=FixedRandom(0.0),
                        retry=RetryPolicy(backoff_base=0.5, pause_on_rate_limit=False))
    with client:
        order = client.get_order("1")
    assert order.status == "handling"
    assert len(seen) == 3
    assert sleeps == [0.25, 2.0]  # backoff(1) with zero jitter = 0.25; then Retry-After exactly
    assert all(r.headers["X-VTEX-API-AppToken"] == TOKEN for r in seen)
    assert client.stats["retries"] == {"503": 1, "429": 1}


def test_client_translates_transport_errors_with_mock_transport() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = VtexClient(base_url="http://vtex.test", credentials=Credentials(KEY, TOKEN),
                        transport=httpx.MockTransport(handler), sleep=lambda _: None,
                        retry=RetryPolicy(max_attempts=3))
    with client, pytest.raises(VtexConnectionError, match="connection refused") as caught:
        client.get_order("1")
    assert "GET http://vtex.test/api/oms/pvt/orders/1" in str(caught.value)
    assert client.stats["requests_total"] == 3
    assert client.stats["gave_up"] == {"vtex.connection": 1}


def test_a_rate_limited_answer_pauses_every_request_of_the_client() -> None:
    """While one call waits out a 429's Retry-After, another call of the same client waits for it too."""
    clock = FakeClock()
    throttled: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        order_id = request.url.path.rsplit("/", 1)[-1]
        if order_id == "1" and not throttled:
            throttled.append(order_id)
            return httpx.Response(429, headers={"Retry-After": "5"})
        return httpx.Response(200, json={"orderId": order_id})

    sleeps: list[tuple[str, float]] = []

    def sleep(seconds: float) -> None:
        sleeps.append((f"t+{clock.now - 1000:g}", seconds))
        if len(sleeps) == 1:  # during the first call's retry wait, a second call starts
            assert client.get_order("2").order_id == "2"
        clock.now += seconds

    client = VtexClient(base_url="http://vtex.test", credentials=Credentials(KEY, TOKEN), clock=clock,
                        transport=httpx.MockTransport(handler), sleep=sleep, rate=1000, rng=FixedRandom(0.0))
    with client:
        assert client.get_order("1").order_id == "1"
    assert sleeps == [("t+0", 5.0), ("t+0", 5.0)]  # the retry wait, then the second call held for the pause


def test_the_pause_can_be_switched_off() -> None:
    clock = FakeClock()
    throttled: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        order_id = request.url.path.rsplit("/", 1)[-1]
        if not throttled:
            throttled.append(order_id)
            return httpx.Response(429, headers={"Retry-After": "5"})
        return httpx.Response(200, json={"orderId": order_id})

    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 1:
            client.get_order("2")

    client = VtexClient(base_url="http://vtex.test", credentials=Credentials(KEY, TOKEN), clock=clock,
                        transport=httpx.MockTransport(handler), sleep=sleep, rate=1000,
                        retry=RetryPolicy(pause_on_rate_limit=False))
    with client:
        client.get_order("1")
    assert sleeps == [5.0]
