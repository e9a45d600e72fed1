"""A local VTEX OMS: a real HTTP server on 127.0.0.1 that keeps an order's invoicing state the way VTEX does,
and misbehaves on request. Our tests, the demo and users' own integration tests send to it instead of a store.

What it models (the parts of VTEX invoicing this project relies on, see ``../shared/vtex``):

* the same paths: ``GET /api/oms/pvt/orders/{id}``, ``POST .../{id}/invoice``, ``PATCH .../{id}/invoice/{n}``,
  ``PUT .../{id}/invoice/{n}/tracking``, ``POST .../{id}/start-handling``;
* authentication: ``X-VTEX-API-AppKey`` + ``X-VTEX-API-AppToken`` (or ``VtexIdclientAutCookie``) on every
  call, else 401. Any non-empty pair is accepted unless the sandbox was given :class:`Credentials`;
* the invoice's required fields (``type``, ``issuanceDate``, ``invoiceNumber``, ``invoiceValue`` > 0, ``items``
  with ``id``/``price``/``quantity``), else 400 in VTEX's error shape ``{"error": {"code", "message",
  "exception"}}``. Unlike VTEX (which does not document it) an item id that is not in the order is a 400 too,
  so a mapping bug shows up here instead of as a silently partial invoice;
* the state VTEX keeps: each invoice becomes a package; the order turns ``invoiced`` only when its Output
  invoices reach the order's value (less is taken as a partial invoice); the same ``invoiceNumber`` again
  renews the receipt and changes nothing else; an Input (return) invoice only once the order is fully
  invoiced; tracking PATCH/PUT on an unknown invoice number is 404 "Invoice Not Found"; start-handling only
  from ``ready-for-handling`` (409 ``OMS003`` otherwise); unknown orders 404. Error codes other than VTEX's
  documented ``1`` (unauthorised) and ``OMS003`` are the sandbox's own (``SANDBOX.*``).

Faults, per run, as a spec string (``--faults`` on the command line, :meth:`Sandbox.set_faults` in process)::

    SPEC     := ITEM ("," ITEM)*            e.g. "429=0.05,503=0.05,slow=0.01,drop=0.01,retry-after=1"
    ITEM     := KIND "=" PROBABILITY        KIND: 429 | 500 | 502 | 503 | 504 | slow | drop
              | "retry-after=" SECONDS|none the Retry-After sent with a 429 (default 1; decimals allowed)
              | "slow-delay=" SECONDS       how long a slow answer waits (default 5: beyond a short timeout)

Each API request draws at most one fault, from a random generator seeded by ``seed`` (the same requests in
the same order meet the same faults). ``429`` and ``5xx`` are answered before the request is looked at (a
gateway's refusal: nothing applied). ``slow`` and ``drop`` model the dangerous case: the request IS applied,
then the answer comes too late or the connection is cut mid-response, so the client cannot know, which is why
resending must stay safe. :meth:`Sandbox.queue_faults` forces the next requests' faults (deterministic tests).
"""

from __future__ import annotations

import asyncio
import copy
import io
import json
import logging
import random
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import unquote, urlsplit

from ..errors import ConfigurationError
from .policy import ORDERS_PATH, Credentials

logger = logging.getLogger("nfe_invoice.vtex.sandbox")

FAULT_KINDS: Final = ("429", "500", "502", "503", "504", "slow", "drop")
MAX_BODY: Final = 16 * 1024 * 1024
_AUTH_HEADERS: Final = ("X-VTEX-API-AppKey", "X-VTEX-API-AppToken", "VtexIdclientAutCookie")

__all__ = ["FAULT_KINDS", "FaultSpec", "Sandbox", "make_order"]


# ---------------------------------------------------------------------------------------------- faults


@dataclass(frozen=True)
class FaultSpec:
    """Probabilities of each fault kind per API request, and the knobs of the faults (module doc: grammar)."""

    rates: Mapping[str, float] = field(default_factory=dict)
    retry_after: float | None = 1.0
    slow_delay: float = 5.0

    @classmethod
    def parse(cls, text: str | None) -> FaultSpec:
        """Read a spec string; a :class:`ConfigurationError` names the first item that cannot be used."""
        rates: dict[str, float] = {}
        retry_after: float | None = 1.0
        slow_delay = 5.0
        for raw in (text or "").split(","):
            item = raw.strip()
            if not item:
                continue
            name, sep, value = (part.strip() for part in item.partition("="))
            if not sep:
                raise ConfigurationError(f"fault {item!r}: expected NAME=VALUE (e.g. 503=0.05)")
            if name == "retry-after" and value.lower() == "none":
                retry_after = None
                continue
            try:
                number = float(value)
            except ValueError:
                raise ConfigurationError(f"fault {item!r}: {value!r} is not a number") from None
            if not number >= 0:
                raise ConfigurationError(f"fault {item!r}: must not be negative")
            if name == "retry-after":
                retry_after = number
            elif name == "slow-delay":
                slow_delay = number
            elif name in FAULT_KINDS:
                if number > 1:
                    raise ConfigurationError(f"fault {item!r}: a probability is between 0 and 1")
                rates[name] = number
            else:
                raise ConfigurationError(
                    f"fault {item!r}: unknown name {name!r} (known: {', '.join(FAULT_KINDS)}, retry-after, slow-delay)"
                )
        if sum(rates.values()) > 1 + 1e-9:
            raise ConfigurationError("faults: the probabilities add up to more than 1")
        return cls(rates, retry_after, slow_delay)

    def to_text(self) -> str:
        items = [f"{kind}={self.rates[kind]:g}" for kind in FAULT_KINDS if self.rates.get(kind)]
        items.append(f"retry-after={'none' if self.retry_after is None else format(self.retry_after, 'g')}")
        items.append(f"slow-delay={self.slow_delay:g}")
        return ",".join(items)


# ---------------------------------------------------------------------------------------------- orders


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def make_order(
    order_id: str,
    items: Iterable[Mapping[str, Any]],
    *,
    status: str = "ready-for-handling",
    shipping: int = 0,
    discounts: int = 0,
    tax: int = 0,
    packages: Sequence[Mapping[str, Any]] = (),
    creation_date: str = "2026-11-20T12:00:00.0000000+00:00",
) -> dict[str, Any]:
    """A VTEX-shaped GET-order JSON, for seeding the sandbox with orders that match NF-e documents.

    Each item is a mapping (camelCase or snake_case keys): ``id`` (the SKU id, required), ``refId``, ``ean``,
    ``sellerSku`` (default ``id``), ``name``, ``quantity`` (default 1), ``price`` (cents, required),
    ``sellingPrice`` (default ``price``), ``unitMultiplier`` (default 1), ``measurementUnit`` and ``total``.
    Money is integer cents. An item's total defaults to sellingPrice × quantity × unitMultiplier, rounded
    half-even (a price per measurement unit, e.g. per kg, of ``quantity`` pieces of ``unitMultiplier`` kg);
    ``value`` = items + ``shipping`` + ``tax`` − ``discounts``, as VTEX's ``totals`` add up.
    """
    rows: list[dict[str, Any]] = []
    for index, given in enumerate(items):
        item = {_camel(k): v for k, v in given.items()}
        if "id" not in item or "price" not in item:
            raise ValueError(f"order item {index}: 'id' and 'price' are required")
        quantity = int(item.get("quantity", 1))
        selling = int(item.get("sellingPrice", item["price"]))
        multiplier = item.get("unitMultiplier", 1)
        total = item.get("total")
        if total is None:
            exact = Decimal(selling) * quantity * Decimal(str(multiplier))
            total = int(exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
        rows.append({
            "uniqueId": f"{order_id}-{index}",
            "id": str(item["id"]),
            "productId": str(item.get("productId", item["id"])),
            "ean": item.get("ean"),
            "refId": item.get("refId"),
            "sellerSku": str(item.get("sellerSku", item["id"])),
            "seller": "1",
            "name": item.get("name", f"SKU {item['id']}"),
            "quantity": quantity,
            "price": int(item["price"]),
            "listPrice": int(item.get("listPrice", item["price"])),
            "sellingPrice": selling,
            "unitMultiplier": multiplier,
            "measurementUnit": item.get("measurementUnit", "un"),
            "priceTags": [],
            "priceDefinition": {
                "sellingPrices": [{"value": selling, "quantity": quantity}],
                "calculatedSellingPrice": selling,
                "total": int(total),
                "reason": None,
            },
        })
    items_total = sum(row["priceDefinition"]["total"] for row in rows)
    return {
        "orderId": order_id,
        "sequence": re.sub(r"\D", "", order_id)[:8] or "1",
        "status": status,
        "value": items_total + shipping + tax - discounts,
        "totals": [
            {"id": "Items", "name": "Total dos Itens", "value": items_total},
            {"id": "Discounts", "name": "Total dos Descontos", "value": -discounts},
            {"id": "Shipping", "name": "Total do Frete", "value": shipping},
            {"id": "Tax", "name": "Total da Taxa", "value": tax},
        ],
        "items": rows,
        "packageAttachment": {"packages": [dict(p) for p in packages]},
        "changesAttachment": None,
        "creationDate": creation_date,
    }


# ------------------------------------------------------------------------------------------ the state


class _Reply:
    """One answer: status, JSON body (None for none) and extra headers. ``encoded`` is a body already encoded
    as the handler would encode ``body``: GET order encodes the order while the state's lock is held, which
    is the consistent snapshot a deep copy used to take, at a third of the cost."""

    __slots__ = ("body", "encoded", "headers", "status")

    def __init__(self, status: int, body: Any = None, headers: Mapping[str, str] | None = None, *,
                 encoded: bytes | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        self.encoded = encoded


def _encode_json(body: Any) -> bytes:
    """A body as the sandbox sends it (UTF-8 JSON, non-ASCII kept)."""
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def _error(status: int, code: str, message: str) -> _Reply:
    return _Reply(status, {"error": {"code": code, "message": message, "exception": None}})


def _cents(value: object) -> int | None:
    """invoiceValue as VTEX takes it: a string of digits (as the spec types it) or an integer."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _is_date(value: object) -> bool:
    if not isinstance(value, str) or not value:
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _invoice_problems(data: Mapping[str, Any], order: Mapping[str, Any]) -> list[str]:
    problems = [f"{name} is required" for name in ("type", "issuanceDate", "invoiceNumber", "invoiceValue", "items")
                if data.get(name) in (None, "")]
    if problems:
        return problems
    if data["type"] not in ("Output", "Input"):
        problems.append("type must be Output or Input")
    if not _is_date(data["issuanceDate"]):
        problems.append("issuanceDate is not a date")
    if not isinstance(data["invoiceNumber"], str):
        problems.append("invoiceNumber must be a string")
    value = _cents(data["invoiceValue"])
    if value is None or value <= 0:
        problems.append("invoiceValue must be a positive amount in cents, without separators")
    items = data["items"]
    if not isinstance(items, list) or not items:
        return [*problems, "items must be a non-empty list"]
    known = {item.get("id") for item in order.get("items") or ()}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(f"items[{index}] must be an object")
            continue
        if not isinstance(item.get("id"), str) or not item["id"]:
            problems.append(f"items[{index}].id is required")
        elif item["id"] not in known:
            problems.append(f"items[{index}].id {item['id']!r} is not an item of order {order['orderId']}")
        if not _is_int(item.get("price")) or item["price"] < 0:
            problems.append(f"items[{index}].price must be an integer number of cents")
        if not _is_int(item.get("quantity")) or item["quantity"] <= 0:
            problems.append(f"items[{index}].quantity must be a positive integer")
    return problems


class _State:
    """Orders, invoices and receipts, behind one lock; each method is one VTEX call's effect."""

    def __init__(self, seed: int) -> None:
        self.lock = threading.Lock()
        self.orders: dict[str, dict[str, Any]] = {}
        self.posts: Counter[tuple[str, str]] = Counter()
        self.receipts: dict[tuple[str, str], str] = {}
        self._rng = random.Random(f"receipts:{seed}")

    def add(self, order: Mapping[str, Any]) -> None:
        order_id = order.get("orderId")
        if not isinstance(order_id, str) or not order_id:
            raise ValueError("an order needs an orderId")
        if not isinstance(order.get("items") or [], list):
            raise ValueError(f"order {order_id}: items must be a list")
        stored = copy.deepcopy(dict(order))
        stored.setdefault("status", "ready-for-handling")
        stored.setdefault("value", 0)
        stored.setdefault("items", [])
        attachment = stored.get("packageAttachment") or {}
        stored["packageAttachment"] = {**attachment, "packages": list(attachment.get("packages") or [])}
        with self.lock:
            self.orders[order_id] = stored

    def _receipt(self, order_id: str, number: str | None = None) -> dict[str, str]:
        receipt = f"{self._rng.getrandbits(128):032x}"
        if number is not None:
            self.receipts[(order_id, number)] = receipt
        return {"date": datetime.now(UTC).isoformat(), "orderId": order_id, "receipt": receipt}

    @staticmethod
    def _package(order: Mapping[str, Any], number: str) -> dict[str, Any] | None:
        return next((p for p in order["packageAttachment"]["packages"] if p.get("invoiceNumber") == number), None)

    @staticmethod
    def _output_total(order: Mapping[str, Any]) -> int:
        return sum(int(p.get("invoiceValue") or 0) for p in order["packageAttachment"]["packages"]
                   if p.get("type", "Output") == "Output")

    def get(self, order: dict[str, Any]) -> _Reply:
        """The order as it is now (the caller holds :attr:`lock`, so the encoded snapshot is consistent)."""
        return _Reply(200, encoded=_encode_json(order))

    def invoice(self, order: dict[str, Any], data: Mapping[str, Any]) -> _Reply:
        problems = _invoice_problems(data, order)
        if problems:
            return _error(400, "SANDBOX.invalid_invoice", "; ".join(problems))
        order_id, number = order["orderId"], data["invoiceNumber"]
        if self._package(order, number) is not None:  # VTEX: a new receipt, nothing else changes
            self.posts[(order_id, number)] += 1
            return _Reply(200, self._receipt(order_id, number))
        if order.get("status") == "canceled":
            return _error(409, "SANDBOX.canceled", f"order {order_id} is canceled and cannot be invoiced")
        value = _cents(data["invoiceValue"]) or 0
        if data["type"] == "Input" and self._output_total(order) < int(order.get("value") or 0):
            return _error(400, "SANDBOX.input_before_invoiced",
                          "a return (Input) invoice is only accepted once the order is fully invoiced")
        index = {item.get("id"): i for i, item in reversed(list(enumerate(order["items"])))}
        package = {
            "invoiceNumber": number,
            "invoiceValue": value,
            "type": data["type"],
            "issuanceDate": data["issuanceDate"],
            "invoiceKey": data.get("invoiceKey"),
            "invoiceUrl": data.get("invoiceUrl"),
            "embeddedInvoice": data.get("embeddedInvoice"),
            "courier": data.get("courier"),
            "trackingNumber": data.get("trackingNumber") or None,
            "trackingUrl": data.get("trackingUrl") or None,
            "dispatchedDate": data.get("dispatchedDate"),
            "items": [{"itemIndex": index[item["id"]], "quantity": item["quantity"], "price": item["price"],
                       "description": item.get("description")} for item in data["items"]],
            "courierStatus": None,
        }
        order["packageAttachment"]["packages"].append(package)
        if data["type"] == "Output" and self._output_total(order) >= int(order.get("value") or 0):
            order["status"] = "invoiced"
        self.posts[(order_id, number)] += 1
        return _Reply(200, self._receipt(order_id, number))

    def tracking(self, order: dict[str, Any], number: str, data: Mapping[str, Any]) -> _Reply:
        package = self._package(order, number)
        if package is None:
            return _error(404, "SANDBOX.invoice_not_found", "Invoice Not Found")
        if not isinstance(data.get("trackingNumber"), str) or not data["trackingNumber"]:
            return _error(400, "SANDBOX.invalid_tracking", "trackingNumber is required")
        for key in ("trackingNumber", "trackingUrl", "courier", "dispatchedDate"):
            package[key] = data.get(key)
        return _Reply(200, self._receipt(order["orderId"]))

    def tracking_status(self, order: dict[str, Any], number: str, data: Mapping[str, Any]) -> _Reply:
        package = self._package(order, number)
        if package is None:
            return _error(404, "SANDBOX.invoice_not_found", "Invoice Not Found")
        events = data.get("events")
        if not isinstance(data.get("isDelivered"), bool) or not isinstance(events, list):
            return _error(400, "SANDBOX.invalid_tracking",
                          "isDelivered (true or false) and events (a list) are required")
        if not all(isinstance(e, dict) and all(isinstance(e.get(k), str) for k in ("city", "state", "description",
                                                                                     "date")) for e in events):
            return _error(400, "SANDBOX.invalid_tracking", "each event needs city, state, description and date")
        if not package.get("trackingNumber"):
            return _error(400, "SANDBOX.no_tracking_number",
                          "the invoice has no tracking number yet (send it with PATCH first)")
        package["courierStatus"] = {
            "status": "delivered" if data["isDelivered"] else "in-transit",
            "finished": data["isDelivered"],
            "deliveredDate": data.get("deliveredDate"),
            "data": [dict(e) for e in events],
        }
        return _Reply(200, self._receipt(order["orderId"]))

    def start_handling(self, order: dict[str, Any]) -> _Reply:
        if order.get("status") != "ready-for-handling":
            return _error(409, "OMS003", "Order status should be ready-for-handling to perform this action")
        order["status"] = "handling"
        return _Reply(204)


# ------------------------------------------------------------------------------------------ the server


class _Handler(BaseHTTPRequestHandler):
    """http.server's reading of a request, for what :class:`_AsyncServer` does not read itself: it is given the
    request's bytes and writes its answer into a buffer (see :meth:`_AsyncServer._by_handler`)."""

    protocol_version = "HTTP/1.1"
    server_version = "nfe-invoice-sandbox"
    timeout = 60  # an idle keep-alive connection is closed after a minute
    server: _HandlerHost  # type: ignore[assignment]  # a request handed over by _AsyncServer

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("sandbox: " + format, *args)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        sandbox = self.server.sandbox
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self._send(_error(400 if length < 0 else 413, "SANDBOX.body", "bad or too large Content-Length"))
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        headers = {name: self.headers.get(name) or "" for name in _AUTH_HEADERS}
        with sandbox._in_flight_request():  # until the answer is out: a slow answer is a request in flight
            reply, fault = sandbox._answer(self.command, self.path, headers, body)
            if fault == "slow":
                sandbox._stopping.wait(sandbox.faults.slow_delay)
            if fault == "drop":
                self._drop(reply)
                return
            self._send(reply)

    def _encode(self, reply: _Reply) -> bytes:
        return _reply_bytes(reply)

    def _send(self, reply: _Reply) -> None:
        """The answer in one write: head and body together, as :meth:`send_response`, :meth:`send_header` and
        :meth:`end_headers` would make them (status line, Server, Date, ours). Those write the head and the
        body separately, and a send on a loopback socket cost the sandbox as much CPU as answering."""
        data = self._encode(reply)
        self.log_request(reply.status)
        try:
            self.wfile.write(_answer_head(reply, data) + data)
            self.wfile.flush()
        except OSError:  # the client gave up (e.g. its read timeout fired during a slow answer)
            self.close_connection = True

    def _drop(self, reply: _Reply) -> None:
        """Applied, then cut: the headers promise the whole body, half of it comes, the connection closes."""
        data = self._encode(reply)
        self.close_connection = True
        try:
            if data:
                self.log_request(reply.status)
                self.wfile.write(_dropped_head(reply, data) + data[: len(data) // 2])
                self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _reply_bytes(reply: _Reply) -> bytes:
    if reply.encoded is not None:
        return reply.encoded
    return b"" if reply.body is None else _encode_json(reply.body)


_SERVER_HEADER: Final = f"Server: {_Handler.server_version} {_Handler.sys_version}"
_dates: list[tuple[int, str]] = [(0, "")]  # the Date header of the current second


def _date_header() -> str:
    """``Date:`` as :meth:`BaseHTTPRequestHandler.date_time_string` gives it, formatted once a second."""
    now = time.time()
    second, text = _dates[-1]
    if int(now) != second:
        text = f"Date: {formatdate(now, usegmt=True)}"
        _dates[-1] = (int(now), text)
    return text


def _answer_head(reply: _Reply, data: bytes) -> bytes:
    """Status line and headers of an answer, blank line included, as :class:`_Handler` has always sent them
    (http.server's ``send_response``: status, Server, Date; then the reply's; then type and length)."""
    phrase = _Handler.responses[reply.status][0] if reply.status in _Handler.responses else ""
    lines = [f"HTTP/1.1 {reply.status} {phrase}", _SERVER_HEADER, _date_header(),
             *(f"{name}: {value}" for name, value in reply.headers.items())]
    if reply.status != 204:
        lines += ["Content-Type: application/json; charset=utf-8", f"Content-Length: {len(data)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "strict")


def _dropped_head(reply: _Reply, data: bytes) -> bytes:
    """The head of an answer a ``drop`` fault cuts: status, Server, Date, type and the whole body's length
    (the body that follows stops halfway), without the reply's own headers."""
    phrase = _Handler.responses[reply.status][0] if reply.status in _Handler.responses else ""
    lines = [f"HTTP/1.1 {reply.status} {phrase}", _SERVER_HEADER, _date_header(),
             "Content-Type: application/json; charset=utf-8", f"Content-Length: {len(data)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "strict")


#: The methods :class:`_Handler` answers (its ``do_*``); http.server answers any other 501.
_METHODS: Final = frozenset({"GET", "POST", "PATCH", "PUT", "DELETE"})
_LINE_LIMIT: Final = 65536  # http.server's longest request line and header line
_MAX_HEADERS: Final = 100  # http.client's most header lines
_HEAD_LIMIT: Final = _LINE_LIMIT * 4  # more than this without a blank line: http.server's own errors say why


class _Output:
    """The file :class:`_Handler` writes to when it serves a request for :class:`_Connection`."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        """Nothing to flush: the parts are sent together once the handler is done."""


class _Cut:
    """The socket as :class:`_Handler` sees it when it serves a request for :class:`_Connection`: shutting it
    down (a ``drop`` fault) marks the connection to be cut once what was written is out."""

    def __init__(self) -> None:
        self.cut = False

    def shutdown(self, how: int) -> None:
        self.cut = True


class _Connection(asyncio.Protocol):
    """One client connection of :class:`_AsyncServer`: what arrived, kept until a request is complete."""

    def __init__(self, server: _AsyncServer) -> None:
        self.server = server
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.closed = False  # the client's end: no more data will come
        self._waiter: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None
        self.task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server.connections.add(self)
        self.task = self.server.loop.create_task(self.server.serve(self))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > _HEAD_LIMIT + MAX_BODY and self.transport is not None:
            self.transport.pause_reading()  # a client far ahead of the answers: wait for it to be read
        self._wake()

    def eof_received(self) -> bool:
        self.closed = True
        self._wake()
        return True  # keep our end open: the answer to what came before the end still goes out

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.connections.discard(self)
        self._wake()
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def pause_writing(self) -> None:
        self._writable = self.server.loop.create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def more(self) -> None:
        """Wait until more data came, or the client's end closed."""
        if self.transport is not None and self.transport.is_reading() is False:
            self.transport.resume_reading()
        self._waiter = self.server.loop.create_future()
        await self._waiter

    def take(self, count: int) -> bytes:
        data = bytes(self.buffer[:count])
        del self.buffer[:count]
        return data

    async def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)
        if self._writable is not None:
            await self._writable

    def head_end(self) -> int:
        """Where the request head (request line and headers, blank line included) ends in the buffer, or -1:
        at the first empty line, a line ending in LF as http.client reads them (CRLF or a bare LF)."""
        buffer = self.buffer
        ends = [i for i in (buffer.find(b"\n\r\n"), buffer.find(b"\n\n")) if i >= 0]
        if not ends:
            return -1
        end = min(ends)
        return end + (3 if buffer[end + 1:end + 2] == b"\r" else 2)


class _AsyncServer:
    """The sandbox's HTTP/1.1 server: one asyncio event loop in a background thread, every connection on it.

    It replaced http.server's thread per connection, whose GIL hand-offs between eight connection threads cost
    the sandbox about twice the CPU per request (a batch sends two requests per invoice). What http.server
    did, it still does: a well-formed HTTP/1.1 request (the common case) is read and answered here, with the
    very bytes :class:`_Handler` would write; anything else (another HTTP version, a method the sandbox does
    not serve, a malformed request line or header, a line too long) is handed to :class:`_Handler` itself,
    on a worker thread, so it is answered exactly as before.
    """

    def __init__(self, sandbox: Sandbox, sock: socket.socket) -> None:
        self.sandbox = sandbox
        self.sock = sock
        self.server_address = sock.getsockname()
        self.loop = asyncio.new_event_loop()
        self.connections: set[_Connection] = set()
        self.closing = asyncio.Event()
        self._server: asyncio.AbstractServer | None = None
        self._handler_server = _HandlerHost(sandbox)
        self._started = threading.Event()
        self._failed: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="vtex-sandbox", daemon=True)

    def start(self) -> None:
        self.thread.start()
        self._started.wait()
        if self._failed is not None:
            raise self._failed

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self._server = self.loop.run_until_complete(
                self.loop.create_server(lambda: _Connection(self), sock=self.sock))
        except BaseException as exc:  # pragma: no cover - the socket is already bound and listening
            self._failed = exc
            self._started.set()
            return
        self._started.set()
        self.loop.run_forever()

    def close(self) -> None:
        if not self.thread.is_alive():
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop)
        with suppress(Exception):
            future.result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        if not self.thread.is_alive():
            self.loop.close()

    async def _shutdown(self) -> None:
        self.closing.set()
        if self._server is not None:
            self._server.close()
        tasks = []
        for connection in list(self.connections):
            if connection.transport is not None:
                sock = connection.transport.get_extra_info("socket")
                if sock is not None:
                    with suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                connection.transport.close()
            if connection.task is not None:
                connection.task.cancel()
                tasks.append(connection.task)
        await asyncio.gather(*tasks, return_exceptions=True)

    # ------------------------------------------------------------------------------ one connection

    async def serve(self, connection: _Connection) -> None:
        """Answer the connection's requests in order until it closes (or is closed after an answer)."""
        try:
            closing = False
            while not closing:
                closing = await self._request(connection)
        except (OSError, TimeoutError):
            logger.debug("sandbox: a connection ended early (the client went away or stalled)")
        except Exception:  # pragma: no cover - a bug must not kill the loop
            logger.debug("sandbox: a connection ended with an error", exc_info=True)
        finally:
            if connection.transport is not None:
                connection.transport.close()

    async def _request(self, connection: _Connection) -> bool:
        """Serve one request; True when the connection is to be closed after it."""
        try:
            async with asyncio.timeout(_Handler.timeout):  # an idle keep-alive connection is closed
                while (end := connection.head_end()) < 0:
                    if connection.closed or len(connection.buffer) > _HEAD_LIMIT:
                        break
                    await connection.more()
        except TimeoutError:
            logger.debug("sandbox: request timed out")
            return True
        if end < 0:  # the client closed before a complete head, or sent too much of one: as http.server would
            if not connection.buffer:
                return True
            return await self._by_handler(connection, connection.take(len(connection.buffer)))
        head = connection.take(end)
        parsed = _fast_head(head)
        if parsed is None:
            return await self._by_handler(connection, head)
        method, target, headers, close = parsed
        if headers.get("expect", "").lower() == "100-continue":
            await connection.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            reply = _error(400 if length < 0 else 413, "SANDBOX.body", "bad or too large Content-Length")
            await self._send(connection, method, target, reply)
            return True
        body = await self._body(connection, length) if length else b""
        if body is None:
            return True
        sandbox = self.sandbox
        auth = {name: headers.get(name.lower(), "") for name in _AUTH_HEADERS}
        with sandbox._in_flight_request():  # until the answer is out: a slow answer is a request in flight
            reply, fault = sandbox._answer(method, target, auth, body)
            if fault == "slow":
                with suppress(TimeoutError):
                    await asyncio.wait_for(self.closing.wait(), sandbox.faults.slow_delay)
            if fault == "drop":
                await self._drop(connection, method, target, reply)
                return True
            await self._send(connection, method, target, reply)
        return close

    async def _body(self, connection: _Connection, length: int) -> bytes | None:
        """``length`` bytes of body (fewer if the client closed first, as http.server's read gives them);
        None when none came within the timeout."""
        try:
            async with asyncio.timeout(_Handler.timeout):
                while len(connection.buffer) < length and not connection.closed:
                    await connection.more()
        except TimeoutError:
            return None
        return connection.take(length)

    async def _send(self, connection: _Connection, method: str, target: str, reply: _Reply) -> None:
        data = _reply_bytes(reply)
        logger.debug('sandbox: "%s %s HTTP/1.1" %s -', method, target, reply.status)
        await connection.write(_answer_head(reply, data) + data)

    async def _drop(self, connection: _Connection, method: str, target: str, reply: _Reply) -> None:
        """As :meth:`_Handler._drop`: the headers promise the whole body, half of it comes, the connection is
        cut (only once that half is out)."""
        data = _reply_bytes(reply)
        if data:
            logger.debug('sandbox: "%s %s HTTP/1.1" %s -', method, target, reply.status)
            await connection.write(_dropped_head(reply, data) + data[: len(data) // 2])
        await self._cut(connection)

    async def _cut(self, connection: _Connection) -> None:
        transport = connection.transport
        if transport is None:
            return
        while transport.get_write_buffer_size() and not transport.is_closing():
            await asyncio.sleep(0.001)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        transport.close()

    async def _by_handler(self, connection: _Connection, head: bytes) -> bool:
        """Hand a request this server does not read itself to :class:`_Handler` (on a worker thread: a slow
        answer waits there), with its body when its length can be read; True when it closed the connection."""
        length = _content_length(head)
        body = await self._body(connection, length) if 0 < length <= MAX_BODY else b""
        output, cut = _Output(), _Cut()
        handler = _Handler.__new__(_Handler)  # the request, not a socket: what __init__ would set up
        handler.server = self._handler_server
        transport = connection.transport
        handler.client_address = transport.get_extra_info("peername") if transport is not None else ("", 0)
        handler.connection = cut
        handler.rfile = io.BytesIO(head + (body or b""))
        handler.wfile = output  # type: ignore[assignment]
        handler.close_connection = True
        await self.loop.run_in_executor(None, handler.handle_one_request)
        if output.parts:
            await connection.write(b"".join(output.parts))
        if cut.cut:
            await self._cut(connection)
            return True
        return bool(handler.close_connection) or connection.closed


class _HandlerHost:
    """What :class:`_Handler` reads of its server when :class:`_AsyncServer` hands it a request."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox


def _content_length(head: bytes) -> int:
    """The Content-Length a head declares (first one), or -1 when there is none that reads as a number."""
    for line in head.split(b"\n")[1:]:
        name, colon, value = line.partition(b":")
        if colon and name.lower() == b"content-length":
            try:
                return int(value.strip() or 0)
            except ValueError:
                return -1
    return -1


def _fast_head(head: bytes) -> tuple[str, str, dict[str, str], bool] | None:
    """(method, target, headers by lower-case name (the first of each), close after answering) of a plain
    HTTP/1.1 request head, as http.server and http.client would read it; None for anything else."""
    lines = head.split(b"\n")
    request_line = lines[0].rstrip(b"\r")
    words = request_line.split()
    if len(words) != 3 or words[2] != b"HTTP/1.1" or request_line.count(b" ") != 2 or len(lines[0]) > _LINE_LIMIT:
        return None
    method, target = words[0].decode("latin-1"), words[1].decode("latin-1")
    if method not in _METHODS or target.startswith("//"):
        return None
    fields = lines[1:-2] if lines[-2] in (b"", b"\r") else None  # the head ends with its blank line
    if fields is None or len(fields) > _MAX_HEADERS:
        return None
    headers: dict[str, str] = {}
    for line in fields:
        name, colon, value = line.partition(b":")
        if not colon or not name or line[:1] in (b" ", b"\t") or len(line) > _LINE_LIMIT:
            return None  # folded, malformed or too long: http.client's own reading decides
        key = name.decode("latin-1").lower()
        if key not in headers:
            headers[key] = value.decode("latin-1").lstrip(" \t").rstrip("\r\n")
    return method, target, headers, headers.get("connection", "").lower() == "close"


class Sandbox:
    """A local VTEX OMS on 127.0.0.1 (see the module doc), run in a background thread::

        with Sandbox(orders=[make_order("1001-01", [{"id": "7", "price": 1990}])], faults="503=0.1") as vtex:
            client = VtexClient(base_url=vtex.base_url, credentials=Credentials("key", "token"))
            ...
            assert vtex.order("1001-01")["status"] == "invoiced"

    ``port=0`` takes a free port. ``seed`` makes faults and receipts repeatable. ``credentials``, when given,
    are the only ones accepted.
    """

    def __init__(
        self,
        *,
        orders: Iterable[Mapping[str, Any]] = (),
        faults: str | FaultSpec | None = None,
        port: int = 0,
        seed: int = 0,
        host: str = "127.0.0.1",
        credentials: Credentials | None = None,
    ) -> None:
        self._state = _State(seed)
        for order in orders:
            self._state.add(order)
        self.faults = faults if isinstance(faults, FaultSpec) else FaultSpec.parse(faults)
        self._fault_rng = random.Random(f"faults:{seed}")
        self._queued: list[str] = []
        self._credentials = credentials
        self._host, self._port = host, port
        self._server: _AsyncServer | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()
        self._responses: Counter[int] = Counter()
        self._faults_served: Counter[str] = Counter()
        self._in_flight = 0
        self._max_in_flight = 0
        self._request_ids = 0

    # -------------------------------------------------------------------------------- lifecycle

    def start(self) -> Self:
        if self._server is not None:
            return self
        try:
            sock = socket.create_server((self._host, self._port), reuse_port=False)
        except OSError as exc:
            raise ConfigurationError(f"sandbox: cannot listen on {self._host}:{self._port}: {exc.strerror}") from None
        server = _AsyncServer(self, sock)
        server.start()
        self._server = server
        return self

    def close(self) -> None:
        if self._server is None:
            return
        self._stopping.set()
        self._server.close()
        self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the sandbox is not running (use it as a context manager, or call start())")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    # ------------------------------------------------------------------------------ state, in process

    def add_order(self, order_json: Mapping[str, Any]) -> None:
        """Add (or replace) an order, VTEX-shaped (see :func:`make_order`)."""
        self._state.add(order_json)

    def order(self, order_id: str) -> dict[str, Any]:
        """The order as ``GET order`` would return it now (a copy). KeyError for an unknown order."""
        with self._state.lock:
            return copy.deepcopy(self._state.orders[order_id])

    def order_ids(self) -> list[str]:
        with self._state.lock:
            return list(self._state.orders)

    def invoice_posts(self) -> dict[tuple[str, str], int]:
        """Accepted invoice POSTs per (order id, invoice number): 1 = sent once; more = resent (each renewed
        the receipt and changed nothing else). The packages themselves never hold an invoice number twice."""
        with self._state.lock:
            return dict(self._state.posts)

    def receipt(self, order_id: str, invoice_number: str) -> str | None:
        """The invoice's current receipt (the one the last accepted POST returned)."""
        with self._state.lock:
            return self._state.receipts.get((order_id, invoice_number))

    def set_faults(self, spec: str | FaultSpec | None) -> None:
        self.faults = spec if isinstance(spec, FaultSpec) else FaultSpec.parse(spec)

    def queue_faults(self, *kinds: str) -> None:
        """Force the faults of the next API requests, in order (``"none"`` lets one through), before the
        random ones: e.g. ``queue_faults("503", "429")`` fails the next two requests."""
        for kind in kinds:
            if kind not in (*FAULT_KINDS, "none"):
                raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULT_KINDS)}, none")
        with self._lock:
            self._queued.extend(kinds)

    @property
    def stats(self) -> dict[str, Any]:
        """Requests by route, responses by status, faults served by kind, and the most requests in flight."""
        with self._lock:
            return {
                "requests": dict(self._requests),
                "requests_total": sum(self._requests.values()),
                "responses": dict(self._responses),
                "faults": dict(self._faults_served),
                "max_in_flight": self._max_in_flight,
            }

    # --------------------------------------------------------------------------------- answering

    @contextmanager
    def _in_flight_request(self) -> Iterator[None]:
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1

    def _draw_fault(self) -> str | None:
        with self._lock:
            if self._queued:
                kind = self._queued.pop(0)
                return None if kind == "none" else kind
            rates = self.faults.rates
            if not rates:
                return None
            draw, running = self._fault_rng.random(), 0.0
            for kind in FAULT_KINDS:
                running += rates.get(kind, 0.0)
                if draw < running:
                    return kind
            return None

    def _authorised(self, headers: Mapping[str, str]) -> bool:
        given = {name: headers.get(name) or "" for name in _AUTH_HEADERS}
        if self._credentials is not None:
            expected = self._credentials.headers()
            return all(given.get(name) == value for name, value in expected.items())
        return bool(given["X-VTEX-API-AppKey"] and given["X-VTEX-API-AppToken"]) or bool(
            given["VtexIdclientAutCookie"])

    def _answer(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> tuple[_Reply, str | None]:
        """The reply to one request and the fault to apply while sending it (slow, drop, or None)."""
        path = urlsplit(target).path
        fault: str | None = None
        try:
            if path.startswith("/_sandbox/"):
                reply = self._admin(method, path, body)
            else:
                reply, fault = self._api(method, path, headers, body)
        except Exception as exc:  # a seeded order the sandbox cannot read: say so, as VTEX would with a 500
            logger.warning("sandbox: %s %s failed: %r", method, path, exc)
            reply = _error(500, "SANDBOX.internal", f"the sandbox could not handle this request: {exc!r}")
        with self._lock:
            self._request_ids += 1
            reply.headers["X-VTEX-Request-Id"] = f"sandbox-{self._request_ids}"
            self._responses[reply.status] += 1
            if fault is not None:
                self._faults_served[fault] += 1
        return reply, fault

    def _api(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> tuple[_Reply, str | None]:
        route = self._route(method, path)
        with self._lock:
            self._requests[route] += 1
        fault = self._draw_fault()
        if fault == "429":
            wait = self.faults.retry_after
            extra = {} if wait is None else {"Retry-After": f"{wait:g}"}
            return _Reply(429, {"error": {"code": "429", "message": "Too Many Requests", "exception": None}},
                          extra), fault
        if fault is not None and fault.isdigit():
            return _error(int(fault), fault, "Service Unavailable (sandbox fault)"), fault
        if not self._authorised(headers):
            return _error(401, "1", "Unauthorized access"), fault
        return self._apply(method, path, body), fault

    @staticmethod
    def _route(method: str, path: str) -> str:
        if not path.startswith(ORDERS_PATH):
            return f"{method} other"
        parts = path[len(ORDERS_PATH):].split("/")
        shape = ["{id}", *parts[1:2], *(["{n}"] if len(parts) > 2 else []), *parts[3:]]
        return f"{method} /{'/'.join(shape)}"

    def _apply(self, method: str, path: str, body: bytes) -> _Reply:
        if not path.startswith(ORDERS_PATH):
            return _error(404, "SANDBOX.not_found", f"no such path: {path}")
        parts = [unquote(p) for p in path[len(ORDERS_PATH):].split("/")]
        state = self._state
        data: Any = None
        if body:
            try:
                data = json.loads(body)
            except ValueError:
                return _error(400, "SANDBOX.invalid_json", "the body is not JSON")
        with state.lock:
            order = state.orders.get(parts[0])
            shape = (method, len(parts), parts[1] if len(parts) > 1 else None,
                     parts[3] if len(parts) > 3 else None)
            known = {("GET", 1, None, None), ("POST", 2, "invoice", None), ("POST", 2, "start-handling", None),
                     ("PATCH", 3, "invoice", None), ("PUT", 4, "invoice", "tracking")}
            if shape not in known:
                same_path = {(s[1], s[2], s[3]) for s in known}
                if shape[1:] in same_path:
                    return _error(405, "SANDBOX.method", f"{method} is not allowed here")
                return _error(404, "SANDBOX.not_found", f"no such path: {path}")
            if order is None:
                return _error(404, "SANDBOX.order_not_found", f"Order {parts[0]} not found")
            if method in ("POST", "PATCH", "PUT") and parts[-1] != "start-handling" and not isinstance(data, dict):
                return _error(400, "SANDBOX.invalid_json", "the body must be a JSON object")
            if method == "GET":
                return state.get(order)
            if parts[1] == "start-handling":
                return state.start_handling(order)
            if method == "POST":
                return state.invoice(order, data)
            if method == "PATCH":
                return state.tracking(order, parts[2], data)
            return state.tracking_status(order, parts[2], data)

    def _admin(self, method: str, path: str, body: bytes) -> _Reply:
        """``POST /_sandbox/orders`` (an order or a list), ``PUT /_sandbox/faults`` (a spec string as the body),
        ``GET /_sandbox/stats``: for integration tests driving a sandbox started from the command line."""
        try:
            if (method, path) == ("POST", "/_sandbox/orders"):
                data = json.loads(body or b"null")
                orders = data if isinstance(data, list) else [data]
                for order in orders:
                    if not isinstance(order, dict):
                        raise ValueError("each order must be a JSON object")
                    self.add_order(order)
                return _Reply(200, {"added": len(orders)})
            if (method, path) == ("PUT", "/_sandbox/faults"):
                self.set_faults(body.decode("utf-8"))
                return _Reply(200, {"faults": self.faults.to_text()})
            if (method, path) == ("GET", "/_sandbox/stats"):
                return _Reply(200, self.stats)
        except (ValueError, ConfigurationError) as exc:
            return _error(400, "SANDBOX.admin", str(exc))
        return _error(404, "SANDBOX.not_found", f"no such path: {path}")

    def __repr__(self) -> str:
        where = self.base_url if self._server is not None else "stopped"
        return f"Sandbox({where}, {len(self._state.orders)} orders, faults={self.faults.to_text()!r})"
