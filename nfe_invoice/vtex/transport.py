"""A lean HTTP/1.1 transport for httpx's async client: asyncio streams and a small codec, nothing else.

Why it exists: httpx's default transport (httpcore over anyio) spends about 0.7 ms of CPU per request on
this project's 2-core reference machine, and h11 under asyncio still 0.2 ms, against 20 us for a bare
asyncio exchange; a batch makes two requests per invoice (the order check and the POST), so the transport was
most of a batch's sending cost. This one keeps everything httpx gives the client (requests, responses,
timeouts, its exception types) and replaces only the connection handling. httpx ignores the environment's
proxies once a client is given a transport, so :class:`~.client.AsyncVtexClient` uses this one only when no
proxy is configured (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``, as :func:`urllib.request.getproxies`
reads them); behind a proxy, httpx's own transport carries the requests, as before.

The codec is the strict subset of RFC 9112 a JSON API needs: requests with a ``Content-Length`` body;
answers framed by ``Content-Length``, ``chunked`` or the end of the connection; 1xx answers skipped;
``Connection: close`` and HTTP/1.0 honoured. What it cannot frame exactly (a bad status line, a header
without a colon, two different lengths, a length or chunk size that is not a number, a body cut short) is
:class:`httpx.RemoteProtocolError` and the connection is dropped; header names and values we would send with
a CR, LF or NUL in them are refused before anything is written (no header injection). The read timeout
bounds each read from the socket, as httpx's does.

What it does not do, it hands to httpx's own transport: anything not running under asyncio (trio). TLS
verification is httpx's own default context (certifi's roots). A pooled connection the server has closed is
noticed before reuse (end of stream seen); one closed while the request is in flight surfaces as
:class:`httpx.RemoteProtocolError` or :class:`httpx.ReadError`, which the client's policy treats like any
dropped connection.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Coroutine
from contextlib import suppress
from typing import Any, Final

import httpx

__all__ = ["LeanAsyncTransport"]

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_MAX_HEAD: Final = 64 * 1024  # status line and headers together
_MAX_BODY: Final = 64 * 1024 * 1024
_NO_BODY: Final = frozenset({204, 304})
_HEX_DIGITS: Final = b"0123456789abcdefABCDEF"


class _Connection:
    """One keep-alive connection: a stream pair and whether it may carry another request."""

    __slots__ = ("keep_alive", "key", "reader", "writer")

    def __init__(self, key: tuple[str, str, int], reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.key = key
        self.reader = reader
        self.writer = writer
        self.keep_alive = False

    def reusable(self) -> bool:
        """The last exchange left it clean, and the server has not closed its end meanwhile."""
        return self.keep_alive and not self.reader.at_eof() and not self.writer.is_closing()

    def close(self) -> None:
        self.keep_alive = False
        with suppress(Exception):
            self.writer.close()


#: Timeouts in seconds by phase (``connect``, ``read``, ``write``), as httpx puts them in a request's extensions.
Timeouts = dict[str, float | None]
#: Where a connection goes: (scheme, host, port).
Origin = tuple[str, str, int]
#: An answer as read off the wire: (HTTP version, status, reason phrase, headers, body).
RawAnswer = tuple[bytes, int, bytes, list[tuple[bytes, bytes]], bytes]


def _timeouts(request: httpx.Request) -> Timeouts:
    given = request.extensions.get("timeout", {})
    return {which: float(given[which]) if given.get(which) is not None else None
            for which in ("connect", "read", "write")}


def origin_of(url: httpx.URL, request: httpx.Request | None = None) -> Origin:
    """(scheme, host, port) of ``url``; an unsupported scheme is :class:`httpx.UnsupportedProtocol`."""
    scheme = url.scheme
    if scheme not in _DEFAULT_PORTS:
        raise httpx.UnsupportedProtocol(f"the URL scheme {scheme!r} is not supported", request=request)
    return (scheme, url.host, url.port or _DEFAULT_PORTS[scheme])


def encode_head(method: str, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes, *,
                request: httpx.Request | None = None) -> bytes:
    """The request line and headers as bytes on the wire (Content-Length framing, never chunked), without the
    blank line that ends them. Refuses (:class:`httpx.LocalProtocolError`) anything that would inject a line."""
    lines = [b"%s %s HTTP/1.1" % (method.encode("ascii"), target)]
    has_length = False
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"transfer-encoding":
            continue
        if lowered == b"content-length":
            has_length = True
            lines.append(b"Content-Length: %d" % len(body))
        elif not name or b":" in name:
            raise httpx.LocalProtocolError(f"refusing to send the header name {name!r}", request=request)
        else:
            lines.append(name + b": " + value)
    if body and not has_length:
        lines.append(b"Content-Length: %d" % len(body))
    head = b"\r\n".join(lines)
    # A CR, LF or NUL inside the request line or a header would start a line of its own (header injection):
    # the separators put exactly len(lines) - 1 CRs and LFs in the head, so any other is refused.
    if head.count(b"\r") != len(lines) - 1 or head.count(b"\n") != len(lines) - 1 or b"\0" in head or (
            b" " in target):
        raise httpx.LocalProtocolError("refusing to send a request line or header with a line break or NUL",
                                       request=request)
    return head


def _encode_request(request: httpx.Request, body: bytes) -> bytes:
    """The request's head and body as bytes on the wire."""
    return encode_head(request.method, request.url.raw_path, request.headers.raw, body,
                       request=request) + b"\r\n\r\n" + body


class _Reader:
    """Reads one answer from a connection, each socket read bounded by the read timeout."""

    __slots__ = ("reader", "request", "timeout")

    def __init__(self, reader: asyncio.StreamReader, request: httpx.Request | None, timeout: float | None) -> None:
        self.reader = reader
        self.request = request
        self.timeout = timeout

    def _protocol_error(self, message: str) -> httpx.RemoteProtocolError:
        return httpx.RemoteProtocolError(message, request=self.request)

    async def line(self) -> bytes:
        return await self.until(b"\r\n")

    async def until(self, separator: bytes) -> bytes:
        """Bytes up to and including ``separator`` (at most 64 KiB: the stream's limit)."""
        return await self._bounded(self.reader.readuntil(separator))

    async def exactly(self, count: int) -> bytes:
        return await self._bounded(self.reader.readexactly(count), within_answer=True)

    async def to_end(self) -> bytes:
        parts: list[bytes] = []
        size = 0
        while data := await self._bounded(self.reader.read(65536), within_answer=True):
            size += len(data)
            if size > _MAX_BODY:
                raise self._protocol_error("an answer larger than 64 MiB")
            parts.append(data)
        return b"".join(parts)

    async def _bounded(self, read: Coroutine[Any, Any, bytes], *, within_answer: bool = False) -> bytes:
        """One read from the socket under the read timeout, its failures as httpx's exceptions."""
        try:
            async with asyncio.timeout(self.timeout):
                return await read
        except TimeoutError:
            what = "the answer stopped coming" if within_answer else "no answer"
            raise httpx.ReadTimeout(f"{what} within the read timeout", request=self.request) from None
        except asyncio.IncompleteReadError as exc:
            what = "in the middle of the answer" if within_answer or exc.partial else "without an answer"
            raise self._protocol_error(f"the server closed the connection {what}") from None
        except asyncio.LimitOverrunError:
            raise self._protocol_error("an answer head or line longer than 64 KiB") from None
        except OSError as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__, request=self.request) from exc

    async def head(self) -> tuple[bytes, int, bytes, list[tuple[bytes, bytes]]]:
        """Status line and headers of the final (non-1xx) answer: (version, status, reason, headers)."""
        while True:
            block = await self.until(b"\r\n\r\n")
            status_line, *lines = block[:-4].split(b"\r\n")
            parts = status_line.split(b" ", 2)
            if len(parts) < 2 or parts[0] not in (b"HTTP/1.1", b"HTTP/1.0") or not parts[1].isdigit() or len(
                    parts[1]) != 3:
                raise self._protocol_error(f"not an HTTP/1.1 status line: {status_line[:80]!r}")
            status = int(parts[1])
            headers: list[tuple[bytes, bytes]] = []
            for line in lines:
                name, colon, value = line.partition(b":")
                if not colon or not name or name != name.strip() or b"\n" in line:
                    raise self._protocol_error(f"a malformed header line: {line[:80]!r}")
                headers.append((name, value.strip()))
            if 100 <= status < 200:
                continue  # informational (100 Continue, 103 Early Hints): the final answer follows
            return parts[0], status, parts[2] if len(parts) > 2 else b"", headers

    async def chunked(self) -> bytes:
        parts: list[bytes] = []
        size = 0
        while True:
            line = await self.line()
            text = line.split(b";", 1)[0].strip()  # a chunk extension after ";" is ignored
            if not text or text.strip(_HEX_DIGITS):  # int(text, 16) would also take "0x1f", "+1f", "1_f"
                raise self._protocol_error(f"a chunk size that is not a number: {line[:40]!r}")
            length = int(text, 16)
            if length == 0:
                trailer = await self.line()
                while trailer != b"\r\n":  # trailer fields, ignored
                    trailer = await self.line()
                return b"".join(parts)
            size += length
            if size > _MAX_BODY:
                raise self._protocol_error("an answer larger than 64 MiB")
            parts.append(await self.exactly(length))
            if await self.exactly(2) != b"\r\n":
                raise self._protocol_error("a chunk that does not end where its size says")


def _framing(headers: list[tuple[bytes, bytes]], request: httpx.Request | None) -> tuple[bool, int | None]:
    """(chunked, content length) from the answer's headers, as RFC 9112 section 6.3 orders them."""
    chunked, lengths = False, set()
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"transfer-encoding":
            codings = [coding.strip().lower() for coding in value.split(b",")]
            if codings[-1] != b"chunked":
                raise httpx.RemoteProtocolError(f"unsupported Transfer-Encoding {value!r}", request=request)
            chunked = True
        elif lowered == b"content-length":
            for part in value.split(b","):
                item = part.strip()
                if not item.isdigit():
                    raise httpx.RemoteProtocolError(f"a Content-Length that is not a number: {value!r}",
                                                    request=request)
                lengths.add(int(item))
    if len(lengths) > 1:
        raise httpx.RemoteProtocolError("two different Content-Length headers", request=request)
    length = lengths.pop() if lengths else None
    if length is not None and length > _MAX_BODY:
        raise httpx.RemoteProtocolError("an answer larger than 64 MiB", request=request)
    return chunked, None if chunked else length


def _keeps_alive(version: bytes, headers: list[tuple[bytes, bytes]]) -> bool:
    tokens = {token.strip().lower() for name, value in headers if name.lower() == b"connection"
              for token in value.split(b",")}
    return b"keep-alive" in tokens if version == b"HTTP/1.0" else b"close" not in tokens


class LeanAsyncTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 keep-alive over asyncio streams (see the module doc); at most ``max_idle`` idle connections
    are kept per origin. ``ssl_context`` defaults to httpx's (verifying, certifi's roots)."""

    def __init__(self, *, max_idle: int = 16, ssl_context: ssl.SSLContext | None = None) -> None:
        self._max_idle = max_idle
        self._ssl_context = ssl_context
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._fallback: httpx.AsyncHTTPTransport | None = None
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # not asyncio (trio): httpx's own transport speaks anyio
            return await self._fallback_transport().handle_async_request(request)
        body = b"".join([chunk async for chunk in request.stream]) if isinstance(
            request.stream, httpx.AsyncByteStream) else b"".join(request.stream)
        data = _encode_request(request, body)
        version, status, reason, headers, content = await self.exchange(
            origin_of(request.url, request), data, _timeouts(request), head_only=request.method == "HEAD",
            request=request)
        return httpx.Response(
            status,
            headers=headers,
            content=content,
            request=request,
            extensions={"http_version": version, "reason_phrase": reason},
        )

    async def exchange(self, origin: Origin, data: bytes, timeouts: Timeouts, *, head_only: bool = False,
                       request: httpx.Request | None = None) -> RawAnswer:
        """Send ``data`` (a whole request, as :func:`encode_head` and the body make it) to ``origin`` on a
        kept-alive connection and read the answer; asyncio only. The client calls this directly when it has
        encoded the request itself, skipping the httpx request and response objects (see
        :class:`~.client.AsyncVtexClient`); ``request``, when there is one, goes into the exceptions."""
        if self._closed:
            raise httpx.ConnectError("the transport is closed", request=request)
        connection = await self._connection(origin, timeouts.get("connect"), request)
        try:
            answer = await self._exchange(connection, data, timeouts, head_only, request)
        except BaseException:
            connection.close()  # half a message on it (error, timeout, cancellation): never reused
            raise
        self._release(connection)
        return answer

    async def aclose(self) -> None:
        self._closed = True
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()
        if self._fallback is not None:
            await self._fallback.aclose()

    # ------------------------------------------------------------------------------------------ internals

    def _fallback_transport(self) -> httpx.AsyncHTTPTransport:
        if self._fallback is None:
            self._fallback = httpx.AsyncHTTPTransport()
        return self._fallback

    async def _connection(self, key: Origin, connect_timeout: float | None,
                          request: httpx.Request | None) -> _Connection:
        scheme = key[0]
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()
            if connection.reusable():
                return connection
            connection.close()
        context = None
        if scheme == "https":
            if self._ssl_context is None:
                self._ssl_context = httpx.create_ssl_context()
            context = self._ssl_context
        try:
            async with asyncio.timeout(connect_timeout):
                reader, writer = await asyncio.open_connection(key[1], key[2], ssl=context, limit=_MAX_HEAD)
        except TimeoutError:
            raise httpx.ConnectTimeout("no connection within the connect timeout", request=request) from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
        return _Connection(key, reader, writer)

    def _release(self, connection: _Connection) -> None:
        if connection.keep_alive and not self._closed:
            idle = self._idle.setdefault(connection.key, [])
            if len(idle) < self._max_idle:
                idle.append(connection)
                return
        connection.close()

    async def _exchange(self, connection: _Connection, data: bytes, timeouts: Timeouts, head_only: bool,
                        request: httpx.Request | None) -> RawAnswer:
        connection.keep_alive = False  # until this exchange ends cleanly
        writer = connection.writer
        try:
            writer.write(data)
            async with asyncio.timeout(timeouts.get("write")):
                await writer.drain()
        except TimeoutError:
            raise httpx.WriteTimeout("the request could not be written in time", request=request) from None
        except OSError as exc:
            raise httpx.WriteError(str(exc) or type(exc).__name__, request=request) from exc
        reader = _Reader(connection.reader, request, timeouts.get("read"))
        version, status, reason, headers = await reader.head()
        keep_alive = _keeps_alive(version, headers)
        if head_only or status in _NO_BODY:
            content = b""
        else:
            chunked, length = _framing(headers, request)
            if chunked:
                content = await reader.chunked()
            elif length is not None:
                content = await reader.exactly(length) if length else b""
            else:  # delimited by the end of the connection
                content, keep_alive = await reader.to_end(), False
        connection.keep_alive = keep_alive
        return version, status, reason, headers, content
