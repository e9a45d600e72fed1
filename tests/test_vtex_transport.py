"""LeanAsyncTransport over real loopback sockets: plain and chunked answers, keep-alive reuse, a pooled
connection the server closed, ``Connection: close``, timeouts, refused and cut connections, cancellation,
TLS with verification on, and the async client using it by default against the sandbox."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from nfe_invoice.vtex.client import AsyncVtexClient
from nfe_invoice.vtex.policy import Credentials
from nfe_invoice.vtex.sandbox import Sandbox, make_order
from nfe_invoice.vtex.transport import LeanAsyncTransport

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the transport is asyncio's; under trio httpx's own transport is used (not installed here)


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Server:
    """A raw asyncio server on loopback that counts the connections it accepted."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.port = 0

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def serving(handler: Handler, ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    server = Server(handler)
    listener = await asyncio.start_server(server._accept, "127.0.0.1", 0, ssl=ssl_context)
    server.port = listener.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listener.close()


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One request's head and body (Content-Length framing only: the transport always sends one)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head, await reader.readexactly(length) if length else b""


def answer(body: bytes, *extra: bytes) -> bytes:
    headers = b"".join(header + b"\r\n" for header in extra)
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), headers, body)


async def echo_forever(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        head, body = await read_request(reader)
        method = head.split(b" ", 1)[0]
        writer.write(answer(method + b":" + body, b"Content-Type: text/plain"))
        await writer.drain()


def serve_raw(answer_bytes: bytes) -> Handler:
    """A server that gives every request these bytes as its answer."""
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(answer_bytes)
            await writer.drain()
    return handler


def serve_once(answer_bytes: bytes) -> Handler:
    """A server that answers one request with these bytes, then closes the connection."""
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer_bytes)
        await writer.drain()
    return handler


def client(transport: httpx.AsyncBaseTransport, port: int, scheme: str = "http", timeout: float = 5.0
           ) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=transport, base_url=f"{scheme}://127.0.0.1:{port}", timeout=timeout)


async def test_requests_and_answers_go_through_one_kept_alive_connection() -> None:
    async with serving(echo_forever) as server, client(LeanAsyncTransport(), server.port) as http:
        posted = await http.post("/x?y=1", content=b"hello")
        got = await http.get("/x")
        assert (posted.status_code, posted.content, got.content) == (200, b"POST:hello", b"GET:")
        assert posted.headers["content-type"] == "text/plain"
        assert posted.http_version == "HTTP/1.1"
        assert server.connections == 1


async def test_concurrent_requests_open_connections_that_are_then_reused() -> None:
    async with serving(echo_forever) as server, client(LeanAsyncTransport(max_idle=4), server.port) as http:
        for _ in range(3):
            answers = await asyncio.gather(*(http.post("/", content=str(n).encode()) for n in range(4)))
            assert sorted(a.content for a in answers) == [b"POST:0", b"POST:1", b"POST:2", b"POST:3"]
        assert server.connections == 4


async def test_a_connection_the_server_closed_while_idle_is_replaced_not_failed() -> None:
    async with serving(serve_once(answer(b"once"))) as server, client(LeanAsyncTransport(), server.port) as http:
        assert (await http.get("/")).content == b"once"
        await asyncio.sleep(0.05)  # the end of stream reaches the idle connection
        assert (await http.get("/")).content == b"once"
        assert server.connections == 2


async def test_connection_close_is_honoured() -> None:
    async def closing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(answer(b"bye", b"Connection: close"))
            await writer.drain()

    async with serving(closing) as server, client(LeanAsyncTransport(), server.port) as http:
        for _ in range(3):
            assert (await http.get("/")).content == b"bye"
        assert server.connections == 3


async def test_an_answer_that_does_not_come_is_a_read_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(5)

    async with serving(silent) as server, client(LeanAsyncTransport(), server.port, timeout=0.2) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get("/")


async def test_a_refused_connection_is_a_connect_error() -> None:
    async with serving(echo_forever) as server:
        port = server.port
    async with client(LeanAsyncTransport(), port) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get("/")


async def test_an_answer_cut_in_the_middle_is_a_protocol_error_and_the_connection_is_dropped() -> None:
    cut = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
    async with serving(cut) as server, client(LeanAsyncTransport(), server.port) as http:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            await http.get("/")
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            await http.get("/")
        assert server.connections == 2


async def test_a_cancelled_request_never_leaves_its_connection_for_the_next_one() -> None:
    release = asyncio.Event()

    async def slow_first(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            if not release.is_set():
                await release.wait()
                writer.write(answer(b"late"))
            else:
                writer.write(answer(b"fresh"))
            await writer.drain()

    async with serving(slow_first) as server, client(LeanAsyncTransport(), server.port) as http:
        pending = asyncio.create_task(http.get("/"))
        await asyncio.sleep(0.05)
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending
        release.set()
        assert (await http.get("/")).content == b"fresh"  # never the late answer meant for the cancelled one
        assert server.connections == 2


def _tls_pair(folder: Path) -> tuple[ssl.SSLContext, Path]:
    """A TEST server certificate for 127.0.0.1 (self-signed, made here) and a server context using it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nfe-invoice TEST loopback")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "test-cert.pem", folder / "test-key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert_file, key_file)
    return server_context, cert_file


async def test_tls_is_verified_against_the_trusted_roots(tmp_path: Path) -> None:
    server_context, cert_file = _tls_pair(tmp_path)
    async with serving(echo_forever, server_context) as server:
        async with client(LeanAsyncTransport(), server.port, scheme="https") as http:
            with pytest.raises(httpx.ConnectError):  # a self-signed certificate is not in certifi's roots
                await http.get("/")
        trusting = ssl.create_default_context(cafile=str(cert_file))
        async with client(LeanAsyncTransport(ssl_context=trusting), server.port, scheme="https") as http:
            assert (await http.post("/", content=b"over tls")).content == b"POST:over tls"


async def test_a_closed_transport_refuses_new_requests() -> None:
    transport = LeanAsyncTransport()
    async with serving(echo_forever) as server:
        http = client(transport, server.port)
        assert (await http.get("/")).status_code == 200
        await http.aclose()
        with pytest.raises(httpx.ConnectError):
            await transport.handle_async_request(httpx.Request("GET", f"http://127.0.0.1:{server.port}/"))


async def test_the_async_client_uses_it_by_default_against_the_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with Sandbox(orders=[make_order("1001-01", [{"id": "7", "price": 1990}])]) as vtex:
        async with AsyncVtexClient(base_url=vtex.base_url, credentials=Credentials("key", "token")) as vtex_client:
            assert isinstance(vtex_client._http._transport, LeanAsyncTransport)
            orders = await asyncio.gather(*(vtex_client.get_order("1001-01") for _ in range(5)))
        assert {order.order_id for order in orders} == {"1001-01"}
        assert vtex.stats["requests_total"] == 5


@pytest.mark.parametrize(
    ("raw", "content"),
    [
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", b"ok"),
        (b"HTTP/1.1 204 No Content\r\n\r\n", b""),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok", b"ok"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
         b"hello world"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;ext=1\r\nok\r\n0\r\nTrailer: x\r\n\r\n", b"ok"),
    ],
    ids=["informational-first", "no-content", "repeated-equal-length", "chunked", "chunk-extension-and-trailer"],
)
async def test_answers_framed_every_way_rfc_9112_allows(raw: bytes, content: bytes) -> None:
    async with serving(serve_raw(raw)) as server, client(LeanAsyncTransport(), server.port) as http:
        for _ in range(2):
            assert (await http.get("/")).content == content
        assert server.connections == 1  # and each left the connection clean for the next request


async def test_an_answer_without_length_ends_with_the_connection() -> None:
    until_close = serve_once(b"HTTP/1.0 200 OK\r\n\r\nall of it")
    async with serving(until_close) as server, client(LeanAsyncTransport(), server.port) as http:
        assert (await http.get("/")).content == b"all of it"
        assert (await http.get("/")).content == b"all of it"
        assert server.connections == 2


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x2\r\nok\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0_2\r\nok\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nno colon here\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok",
        b"SMTP ready\r\n\r\n",
    ],
    ids=["two-lengths", "negative-length", "chunk-size-not-hex", "chunk-size-0x", "chunk-size-underscore",
         "chunk-overrun", "unknown-coding", "header-no-colon",
         "status-four-digits", "not-http"],
)
async def test_an_answer_that_cannot_be_framed_exactly_is_a_protocol_error(raw: bytes) -> None:
    async with serving(serve_raw(raw)) as server, client(LeanAsyncTransport(), server.port) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get("/")


async def test_a_gzip_answer_is_decoded_by_httpx() -> None:
    body = gzip.compress(b'{"ok": true}')
    raw = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    async with serving(serve_raw(raw)) as server, client(LeanAsyncTransport(), server.port) as http:
        assert (await http.get("/")).json() == {"ok": True}


@pytest.mark.parametrize("value", ["token\r\nX-Injected: 1", "token\nX-Injected: 1", "token\x00"])
async def test_a_header_that_would_inject_a_line_is_never_sent(value: str) -> None:
    async with serving(echo_forever) as server, client(LeanAsyncTransport(), server.port) as http:
        with pytest.raises(httpx.LocalProtocolError):
            await http.get("/", headers={"X-VTEX-API-AppToken": value})
        assert server.connections == 0  # refused before a connection was even taken


async def test_a_proxy_from_the_environment_is_still_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """Integrators behind a corporate proxy set HTTP(S)_PROXY: the async client then leaves the requests to
    httpx's own transport, which sends them through the proxy (httpx ignores the environment's proxies once a
    transport is given, so the lean one is only for direct connections)."""
    seen: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head, _ = await read_request(reader)
            seen.append(head.split(b"\r\n", 1)[0])
            writer.write(answer(b'{"orderId": "1-01", "status": "invoiced", "value": 0, "items": []}'))
            await writer.drain()

    async with serving(proxy) as server:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        async with AsyncVtexClient(base_url="http://vtex.example", credentials=Credentials("k", "t")) as vtex:
            assert not isinstance(vtex._http._transport, LeanAsyncTransport)
            order = await vtex.get_order("1-01")
        assert order.order_id == "1-01"
        assert seen == [b"GET http://vtex.example/api/oms/pvt/orders/1-01 HTTP/1.1"]  # the absolute form: a proxy
