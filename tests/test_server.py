"""The ERP hooks' HTTP service through real sockets: uvicorn on a free 127.0.0.1 port, the worker inside sending
to the VTEX sandbox, a real SQLite journal, real signed documents; schemathesis against the live OpenAPI."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings

from nfe_invoice.config import Settings
from nfe_invoice.journal import open_journal
from nfe_invoice.parse import parse
from nfe_invoice.pipeline import PipelineOptions, async_client_for
from nfe_invoice.server import ApiKeys, ServiceConfig, create_app
from nfe_invoice.testing.orders import authorised_sale, order_for_document
from nfe_invoice.validate import ValidationOptions, validate_full
from nfe_invoice.vtex.sandbox import Sandbox

from .e2e import CREDENTIALS, identity, run_cli

KEY = "test-api-key-0123456789-SECRET"
AUTH = {"Authorization": f"Bearer {KEY}"}
XML = {"Content-Type": "application/xml"}
SAMPLES = Path(__file__).resolve().parents[1] / "nfe_invoice" / "samples"
BROKEN = SAMPLES / "35261111222333000181550010000010021314159263_broken_nfe55_vnf_one_cent_off.xml"
HOSTILE = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
           b"<NFe>&lol2;</NFe>")


class LiveServer:
    """uvicorn serving ``app`` on a free loopback port in a thread (lifespan included: the worker runs)."""

    def __init__(self, app: Any) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the service did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._thread.join(15)
        self._sock.close()


def wait_for(condition: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as vtex:
        yield vtex


@pytest.fixture(scope="module")
def service(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory, monkeypatch_module: Any) -> Iterator[str]:
    for name, value in CREDENTIALS.items():
        monkeypatch_module.setenv(name, value)
    settings = Settings(base_url=sandbox.base_url, retry_deadline=5.0, max_attempts=2, read_timeout=5.0)
    journal = open_journal(tmp_path_factory.mktemp("journal") / "journal.db")
    client = async_client_for(settings)
    options = PipelineOptions.from_settings(settings, validation=ValidationOptions())
    config = ServiceConfig(options, api_keys=ApiKeys([KEY]), jobs=1, lease_seconds=5.0, poll_interval=0.05,
                           body_timeout=1.0)
    with LiveServer(create_app(journal, client, config)) as live:
        yield live.url
    journal.close()


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


_NUMBERS = iter(range(7000, 8000))


def document(sandbox: Sandbox | None = None, **changes: Any) -> tuple[bytes, str, str]:
    """A signed, authorised NF-e and its order id (seeded into the sandbox when given)."""
    number = next(_NUMBERS)
    order_id = f"SRV{number:06d}-01"
    raw = authorised_sale(number, order_id, identity(), **changes)
    if sandbox is not None:
        sandbox.add_order(order_for_document(parse(raw), order_id))
    return raw, order_id, str(number)


def no_secret(*texts: str) -> bool:
    return not any(secret in text for secret in (KEY, *CREDENTIALS.values()) for text in texts)


# ---------------------------------------------------------------------------------------- validate


def test_validate_answers_the_report_validate_prints(service: str) -> None:
    raw, _, _ = document()
    reply = httpx.post(f"{service}/v1/validate", content=raw, headers={**AUTH, **XML})
    assert reply.status_code == 200, reply.text
    expected = validate_full(raw, ValidationOptions()).report.to_dict()
    expected["file"] = None
    assert reply.json() == expected
    assert reply.json()["ok"] is True and reply.json()["authorized"] is True


def test_validate_reports_a_broken_document_as_not_ok(service: str) -> None:
    reply = httpx.post(f"{service}/v1/validate", content=BROKEN.read_bytes(),
                       headers={**AUTH, "Content-Type": "text/xml"})
    assert reply.status_code == 200
    body = reply.json()
    assert body["ok"] is False
    assert "totals.vnf" in {finding["code"] for finding in body["findings"]}


@pytest.mark.parametrize(("raw", "code"), [
    (HOSTILE, "input.hostile"),
    (b"<NFe><unclosed></NFe>", "input.malformed"),
    (b"", "input.empty"),
    (b"not xml at all", "input.malformed"),
])
def test_hostile_or_broken_xml_is_422_with_findings(service: str, raw: bytes, code: str) -> None:
    for route in ("/v1/validate", "/v1/invoices"):
        reply = httpx.post(f"{service}{route}", content=raw, headers={**AUTH, **XML})
        assert reply.status_code == 422, (route, reply.text)
        body = reply.json()
        assert body["findings"], body
        assert body["findings"][0]["severity"] == "error"
        assert body["error"].startswith("input.") or body["error"] == "pipeline.validation", body
        assert "Traceback" not in reply.text


# -------------------------------------------------------------------------------------------- safety


def test_every_v1_route_needs_a_valid_bearer_key(service: str) -> None:
    raw, _, _ = document()
    attempts = [{}, {"Authorization": "Bearer wrong-key"}, {"Authorization": f"Basic {KEY}"},
                {"Authorization": f"Bearer {KEY}x"}, {"Authorization": KEY}]
    for headers in attempts:
        for method, route in (("POST", "/v1/validate"), ("POST", "/v1/invoices"),
                              ("GET", "/v1/invoices/" + "3" * 44), ("GET", "/v1/orders/X-1/invoices")):
            reply = httpx.request(method, f"{service}{route}", content=raw, headers={**headers, **XML})
            assert reply.status_code == 401, (headers, route, reply.text)
            assert reply.json()["error"] == "auth.required"
            assert reply.headers["www-authenticate"] == "Bearer"
            assert no_secret(reply.text)
    assert httpx.get(f"{service}/healthz").json() == {"status": "alive"}  # probes need no key


def test_api_keys_are_never_shown() -> None:
    keys = ApiKeys.parse(f"# a comment\n{KEY}, other-key-9999\n")
    assert len(keys) == 2
    assert keys.matches(KEY) and keys.matches("other-key-9999")
    assert not keys.matches("") and not keys.matches(KEY[:-1]) and not keys.matches("# a comment")
    assert KEY not in repr(keys) and KEY not in repr(ServiceConfig(PipelineOptions("a"), api_keys=keys))


def _raw_http(port: int, head: bytes, body_chunks: Iterator[bytes], timeout: float = 10) -> bytes:
    """Send a request by hand (a declared length the body never reaches, or an endless chunked body) and
    read what the service answers; it must answer without waiting for the whole body."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(head)
        answer = b""
        try:
            for chunk in body_chunks:
                conn.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while b"\r\n\r\n" not in answer or len(answer) < answer.index(b"\r\n\r\n") + 4 + 10:
                data = conn.recv(65536)
                if not data:
                    break
                answer += data
        except (ConnectionResetError, TimeoutError):
            pass
        return answer


def test_a_body_declared_over_5_mib_is_refused_before_it_is_read(service: str) -> None:
    port = int(service.rsplit(":", 1)[1])
    head = (f"POST /v1/invoices HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
            f"Content-Type: application/xml\r\nContent-Length: {50 * 1024 * 1024}\r\n\r\n").encode()
    started = time.monotonic()
    answer = _raw_http(port, head, iter([b"<NFe>"]))  # 50 MiB promised, 5 bytes sent: the answer comes anyway
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"error":"input.too_large"' in answer
    assert time.monotonic() - started < 5


def test_a_streamed_body_is_cut_at_the_cap(service: str) -> None:
    port = int(service.rsplit(":", 1)[1])
    head = (f"POST /v1/validate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
            "Content-Type: application/xml\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    block = b"<a>" + b"x" * (256 * 1024 - 7) + b"</a>"

    def chunks() -> Iterator[bytes]:  # 64 MiB offered; the service must stop listening after about 5
        for _ in range(256):
            yield f"{len(block):x}\r\n".encode() + block + b"\r\n"

    answer = _raw_http(port, head, chunks())
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"input.too_large" in answer


def test_a_body_that_never_finishes_arriving_is_abandoned(service: str) -> None:
    port = int(service.rsplit(":", 1)[1])
    head = (f"POST /v1/invoices HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
            "Content-Type: application/xml\r\nContent-Length: 1000\r\n\r\n").encode()
    started = time.monotonic()
    answer = _raw_http(port, head, iter([b"<NFe>"]))  # 1000 bytes promised, 5 sent, then silence
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"input.timeout" in answer
    assert time.monotonic() - started < 5


def test_a_journal_that_cannot_be_reached_is_503_not_500(tmp_path: Path) -> None:
    journal = open_journal(tmp_path / "journal.db")
    config = ServiceConfig(PipelineOptions("store"), worker=False, jobs=0)
    with LiveServer(create_app(journal, None, config)) as live:
        journal.close()  # from now on every journal call fails, as with a database that went away
        raw, _, _ = document()
        posted = httpx.post(f"{live.url}/v1/invoices", params={"orderId": "X-1"}, content=raw, headers=XML)
        assert posted.status_code == 503 and posted.json()["error"] == "journal.unavailable"
        assert posted.headers["retry-after"] == "5"
        read = httpx.get(f"{live.url}/v1/orders/X-1/invoices")
        assert read.status_code == 503 and read.json()["error"] == "journal.unavailable"
        assert httpx.get(f"{live.url}/readyz").status_code == 503
        assert "nfe_invoice_journal_up 0" in httpx.get(f"{live.url}/metrics").text
        assert httpx.post(f"{live.url}/v1/validate", content=raw, headers=XML).json()["ok"] is True


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "multipart/form-data; boundary=x", None])
def test_a_body_that_is_not_xml_is_415(service: str, content_type: str | None) -> None:
    raw, _, _ = document()
    headers = dict(AUTH)
    if content_type:
        headers["Content-Type"] = content_type
    for route in ("/v1/validate", "/v1/invoices"):
        reply = httpx.post(f"{service}{route}", content=raw, headers=headers)
        assert reply.status_code == 415, reply.text
        assert reply.json()["error"] == "input.content_type"


def test_unknown_routes_and_methods_answer_json(service: str) -> None:
    missing = httpx.get(f"{service}/v2/nothing", headers=AUTH)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    wrong = httpx.delete(f"{service}/v1/invoices", headers=AUTH)
    assert wrong.status_code == 405 and wrong.json()["error"] == "method_not_allowed"
    bad_key = httpx.get(f"{service}/v1/invoices/12345", headers=AUTH)
    assert bad_key.status_code == 422 and bad_key.json()["error"] == "request.invalid"
    unknown = httpx.get(f"{service}/v1/invoices/" + "1" * 44, headers=AUTH)
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"


# -------------------------------------------------------------------------------------- invoices


def test_a_posted_document_is_queued_sent_and_shown_with_its_receipt(service: str, sandbox: Sandbox) -> None:
    raw, order_id, number = document(sandbox)
    reply = httpx.post(f"{service}/v1/invoices", content=raw, headers={**AUTH, **XML})
    assert reply.status_code == 202, reply.text
    record = reply.json()
    access_key = parse(raw).access_key
    assert (record["access_key"], record["order_id"], record["invoice_number"]) == (access_key, order_id, number)
    assert record["state"] in {"queued", "sending", "sent"}

    def sent() -> dict[str, Any] | None:
        body: dict[str, Any] = httpx.get(f"{service}/v1/invoices/{access_key}", headers=AUTH).json()
        return body if body["state"] == "sent" else None

    final = wait_for(sent)
    assert final["receipt"] and final["receipt"] == sandbox.receipt(order_id, number)
    assert final["attempts"] == 1
    listed = httpx.get(f"{service}/v1/orders/{order_id}/invoices", headers=AUTH).json()
    assert [item["access_key"] for item in listed] == [access_key] and listed[0]["state"] == "sent"
    again = httpx.post(f"{service}/v1/invoices", content=raw, headers={**AUTH, **XML})
    assert again.status_code == 200 and again.json()["state"] == "sent"
    assert sandbox.invoice_posts()[(order_id, number)] == 1
    assert httpx.get(f"{service}/v1/orders/NO-SUCH-ORDER/invoices", headers=AUTH).json() == []


def test_the_order_id_can_come_from_the_query(service: str, sandbox: Sandbox) -> None:
    number = next(_NUMBERS)
    raw = authorised_sale(number, None, identity())  # type: ignore[arg-type]  # names no order: the ERP knows it
    sandbox.add_order(order_for_document(parse(raw), "QUERY-ORDER-1"))
    without = httpx.post(f"{service}/v1/invoices", content=raw, headers={**AUTH, **XML})
    assert without.status_code == 422 and without.json()["error"].startswith("mapping.")
    reply = httpx.post(f"{service}/v1/invoices", params={"orderId": "QUERY-ORDER-1"}, content=raw,
                       headers={**AUTH, **XML})
    assert reply.status_code == 202, reply.text
    assert reply.json()["order_id"] == "QUERY-ORDER-1"
    wait_for(lambda: sandbox.receipt("QUERY-ORDER-1", str(number)))
    bad = httpx.post(f"{service}/v1/invoices", params={"orderId": "../etc"}, content=raw, headers={**AUTH, **XML})
    assert bad.status_code == 422 and bad.json()["error"] == "request.invalid"
    # Two orders named: which one is meant cannot be guessed, and an invoice sent to the wrong order cannot be
    # taken back (the framework alone would take the last one).
    twice = httpx.post(f"{service}/v1/invoices", params=[("orderId", "QUERY-ORDER-2"), ("orderId", "QUERY-ORDER-3")],
                       content=raw, headers={**AUTH, **XML})
    assert twice.status_code == 422 and twice.json()["error"] == "request.invalid", twice.text
    assert "orderId" in twice.json()["message"]
    named, order_id, _ = document(sandbox)  # names its own order: another one in the query is refused
    other = httpx.post(f"{service}/v1/invoices", params={"orderId": "SOME-OTHER-1"}, content=named,
                       headers={**AUTH, **XML})
    assert other.status_code == 422 and other.json()["error"] == "pipeline.order_mismatch", other.text
    assert order_id in other.json()["message"]


def test_concurrent_posts_of_one_document_queue_it_once(service: str, sandbox: Sandbox) -> None:
    raw, order_id, number = document(sandbox)
    with ThreadPoolExecutor(12) as pool:
        replies = list(pool.map(lambda _: httpx.post(f"{service}/v1/invoices", content=raw,
                                                     headers={**AUTH, **XML}, timeout=30), range(12)))
    codes = sorted(reply.status_code for reply in replies)
    assert codes == [200] * 11 + [202], codes
    assert len({(r.json()["order_id"], r.json()["invoice_number"]) for r in replies}) == 1
    wait_for(lambda: sandbox.receipt(order_id, number))
    time.sleep(0.3)
    assert sandbox.invoice_posts()[(order_id, number)] == 1


def test_refused_documents_are_422_with_findings_and_recorded(service: str, sandbox: Sandbox) -> None:
    broken = httpx.post(f"{service}/v1/invoices", content=BROKEN.read_bytes(), headers={**AUTH, **XML})
    assert broken.status_code == 422
    body = broken.json()
    assert body["error"] == "pipeline.validation"
    assert "totals.vnf" in {finding["code"] for finding in body["findings"]}
    assert body["record"]["state"] == "refused"
    assert httpx.post(f"{service}/v1/invoices", content=BROKEN.read_bytes(),
                      headers={**AUTH, **XML}).status_code == 422  # refused again, not "accepted"
    raw, _, _ = document(sandbox, environment=2)
    homologation = httpx.post(f"{service}/v1/invoices", content=raw, headers={**AUTH, **XML})
    assert homologation.status_code == 422
    assert homologation.json()["error"] == "pipeline.homologation"


def test_a_different_payload_for_an_invoice_number_already_sent_is_409(service: str, sandbox: Sandbox) -> None:
    raw, order_id, number = document(sandbox)
    assert httpx.post(f"{service}/v1/invoices", content=raw, headers={**AUTH, **XML}).status_code == 202
    wait_for(lambda: sandbox.receipt(order_id, number))
    wait_for(lambda: httpx.get(f"{service}/v1/orders/{order_id}/invoices", headers=AUTH).json()[0]["state"] == "sent")
    other = authorised_sale(int(number), order_id, identity(), items=4)  # same number, other goods
    reply = httpx.post(f"{service}/v1/invoices", content=other, headers={**AUTH, **XML})
    assert reply.status_code == 409, reply.text
    body = reply.json()
    assert body["error"] == "pipeline.conflict"
    assert "never be corrected" in body["message"] and body["record"]["state"] == "sent"
    assert sandbox.invoice_posts()[(order_id, number)] == 1


def test_probes_and_metrics(service: str) -> None:
    assert httpx.get(f"{service}/readyz").json() == {"status": "ready"}
    reply = httpx.get(f"{service}/metrics")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    text = reply.text
    samples = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
               if line and not line.startswith("#")}
    assert samples['nfe_invoice_records{state="sent"}'] >= 1
    assert samples['nfe_invoice_submissions_total{outcome="queued"}'] >= 1
    assert samples['nfe_invoice_vtex_requests_total{operation="send_invoice"}'] >= 1
    assert samples['nfe_invoice_vtex_request_duration_seconds_bucket{le="+Inf"}'] >= 2
    assert samples["nfe_invoice_journal_up"] == 1
    assert "# TYPE nfe_invoice_vtex_request_duration_seconds histogram" in text
    assert no_secret(text)


# ------------------------------------------------------------------------------------ schemathesis


@pytest.fixture(scope="module")
def api_schema(service: str) -> Any:
    from hypothesis import strategies as st

    valid, _, _ = document()
    bodies = st.sampled_from([valid, BROKEN.read_bytes(), HOSTILE, b"<NFe/>", b"", b"\xff\xfe<", valid[:200]])
    schemathesis.openapi.media_type("application/xml", bodies, aliases=["text/xml"])
    return schemathesis.openapi.from_url(f"{service}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_the_live_service_matches_its_openapi(case: Any) -> None:
    from schemathesis import checks

    response = case.call(headers=AUTH, timeout=20)
    # Every check but "schema-valid data is accepted": a body can be a string (as the schema says) and still not
    # be an NF-e, which the service rightly refuses with 422 and its findings.
    case.validate_response(response, checks=[
        checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
        checks.response_schema_conformance, checks.response_headers_conformance, checks.negative_data_rejection,
        checks.ignored_auth,
    ], headers=AUTH)
    assert response.status_code < 500
    assert no_secret(response.text)


# --------------------------------------------------------------------------------- the command line


def _serve(*args: str, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    environment = {**os.environ, **CREDENTIALS, **env}
    environment.pop("NFE_INVOICE_JOURNAL", None)
    process = subprocess.Popen([sys.executable, "-m", "nfe_invoice.cli", "serve", "--port", "0", "--jobs", "1", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
    assert process.stdout is not None
    line = process.stdout.readline()
    assert "listening on http://" in line, (line, process.stderr.read() if process.poll() is not None else "")
    url = line.split("listening on ", 1)[1].split(" ", 1)[0]
    wait_for(lambda: _alive(url))
    return process, url


def _alive(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_serve_refuses_to_start_unsafely(tmp_path: Path) -> None:
    journal = ["--journal", str(tmp_path / "j.db"), "--no-worker"]
    no_keys = run_cli("serve", *journal, env={"NFE_INVOICE_API_KEYS": ""})
    assert no_keys.returncode == 2 and "NFE_INVOICE_API_KEYS" in no_keys.stderr
    open_auth = run_cli("serve", "--host", "0.0.0.0", "--no-auth", *journal, env={"NFE_INVOICE_API_KEYS": ""})
    assert open_auth.returncode == 2 and "loopback" in open_auth.stderr
    both = run_cli("serve", "--no-auth", *journal, env={"NFE_INVOICE_API_KEYS": KEY})
    assert both.returncode == 2
    unreadable = run_cli("serve", "--api-keys-file", str(tmp_path / "none.txt"), *journal)
    assert unreadable.returncode == 2 and "--api-keys-file" in unreadable.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = run_cli("serve", "--port", str(taken.getsockname()[1]), *journal, env={"NFE_INVOICE_API_KEYS": KEY})
    assert busy.returncode == 2 and "cannot listen" in busy.stderr
    no_vtex = run_cli("serve", "--journal", str(tmp_path / "j.db"),
                      env={"NFE_INVOICE_API_KEYS": KEY, "VTEX_ACCOUNT": "", "VTEX_BASE_URL": ""})
    assert no_vtex.returncode == 2 and "--base-url" in no_vtex.stderr
    for result in (no_keys, open_auth, both, unreadable, busy, no_vtex):
        assert "Traceback" not in result.stderr and no_secret(result.stdout, result.stderr)


def test_serve_command_queues_sends_and_stops_on_sigterm(tmp_path: Path, sandbox: Sandbox) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text(f"# the ERP's key\n{KEY}\n", encoding="utf-8")
    process, url = _serve("--journal", str(tmp_path / "j.db"), "--base-url", sandbox.base_url, "--api-keys-file",
                          str(keys), "--log-level", "debug", env={"NFE_INVOICE_API_KEYS": ""})
    try:
        raw, order_id, number = document(sandbox)
        assert httpx.post(f"{url}/v1/invoices", content=raw, headers={**XML}).status_code == 401
        reply = httpx.post(f"{url}/v1/invoices", content=raw, headers={**AUTH, **XML})
        assert reply.status_code == 202, reply.text
        wait_for(lambda: sandbox.receipt(order_id, number))
        access_key = reply.json()["access_key"]
        wait_for(lambda: httpx.get(f"{url}/v1/invoices/{access_key}", headers=AUTH).json()["state"] == "sent")
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Traceback" not in err and no_secret(out, err)
    assert f"order {order_id} invoice {number}: sent, receipt" in err  # the worker's line, at debug level


def test_serve_without_worker_only_queues(tmp_path: Path, sandbox: Sandbox) -> None:
    process, url = _serve("--journal", str(tmp_path / "j.db"), "--no-worker", "--no-auth", "--log-level", "warning",
                          env={"NFE_INVOICE_API_KEYS": "", "VTEX_ACCOUNT": "", "VTEX_BASE_URL": ""})
    try:
        raw, order_id, number = document(sandbox)
        reply = httpx.post(f"{url}/v1/invoices", content=raw, headers=XML)
        assert reply.status_code == 202 and reply.json()["state"] == "queued"
        time.sleep(0.5)
        assert httpx.get(f"{url}/v1/orders/{order_id}/invoices").json()[0]["state"] == "queued"
        assert sandbox.receipt(order_id, number) is None
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err


def test_the_listening_socket_says_tcp_so_responses_are_not_held_by_nagle() -> None:
    from nfe_invoice.cli.serve import bind

    sock = bind("127.0.0.1", 0)
    try:  # asyncio turns Nagle off only for sockets whose proto is TCP (else ~40 ms per response)
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()
