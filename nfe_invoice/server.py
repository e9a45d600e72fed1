"""The HTTP service for ERP hooks (FastAPI): an ERP that can call a URL posts each authorised NF-e here.

``create_app(journal, client, config)`` builds the app; ``nfe-invoice serve`` runs it on uvicorn. Routes:

* ``POST /v1/validate``: the XML in, the report ``validate --format json`` prints out (200);
* ``POST /v1/invoices[?orderId=ID]``: validate, map and queue in the journal: 202 with the record when newly
  queued, 200 with the stored record when the same document was already received (the journal's idempotency
  decides, so concurrent posts of one document queue it once), 422 when refused (findings or decision), 409
  for a different payload under an invoice number VTEX already holds;
* ``GET /v1/invoices/{access_key}``, ``GET /v1/orders/{orderId}/invoices``: records as the journal holds them;
* ``GET /healthz`` (alive), ``GET /readyz`` (journal reachable), ``GET /metrics`` (Prometheus text).

Why it is shaped this way:

* **The event loop never does CPU work**: validation and mapping run in :class:`~nfe_invoice.hooks.Preparer`'s
  worker processes; journal calls run on the loop's thread, where the worker inside (the pipeline's
  :class:`~nfe_invoice.pipeline.Runner`, started in the app's lifespan unless ``worker=False``) makes its own.
* **Hostile input costs little**: the bearer key is checked before the body is touched; a declared
  ``Content-Length`` over the cap is refused (413) before reading, and a streamed body is counted as it arrives
  and abandoned at the cap, so no more than 5 MiB is ever held; a non-XML content type is 415; the XML parser
  itself is the hardened one (no DTDs, no entities, no network).
* **Every answer is JSON**, errors included (``{"error": code, "message": ...}``): no traceback, no secret.
  Keys are kept only as SHA-256 digests and compared in constant time; they never reach a log or a repr.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Final, Literal

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from .errors import ConfigurationError, JournalError, MappingError, NfeInvoiceError
from .hooks import Intake, IntakeOutcome, Preparer, decide
from .journal import Journal, Record, State
from .journal import Query as RecordQuery
from .pipeline import PipelineOptions, Result, Runner, Tally
from .vtex.client import AsyncVtexClient
from .vtex.order_id import check_order_id
from .xml import DEFAULT_MAX_BYTES

logger = logging.getLogger("nfe_invoice.server")

#: Media types taken as XML (plus any ``application/*+xml``).
XML_MEDIA_TYPES: Final = frozenset({"application/xml", "text/xml"})
_ACCESS_KEY_PATTERN: Final = r"^[0-9]{44}$"
_ORDER_ID_PATTERN: Final = r"^[A-Za-z0-9._~-]{1,100}$"


# ------------------------------------------------------------------------------------------ settings


class ApiKeys:
    """The bearer keys that may call ``/v1``, held only as SHA-256 digests.

    Comparing digests with :func:`hmac.compare_digest`, against every key without stopping at a match, takes
    the same time whatever is presented (its length included), so timing says nothing about the keys.
    """

    def __init__(self, keys: Iterable[str]) -> None:
        self._digests = tuple(hashlib.sha256(key.encode()).digest() for key in keys if key)

    @classmethod
    def parse(cls, text: str) -> ApiKeys:
        """Keys from ``NFE_INVOICE_API_KEYS`` (comma-separated) or a file (one per line, ``#`` comments)."""
        keys = []
        for line in text.replace(",", "\n").splitlines():
            key = line.strip()
            if key and not key.startswith("#"):
                keys.append(key)
        return cls(keys)

    def __add__(self, other: ApiKeys) -> ApiKeys:
        merged = ApiKeys(())
        merged._digests = self._digests + other._digests
        return merged

    def __len__(self) -> int:
        return len(self._digests)

    def __repr__(self) -> str:
        return f"ApiKeys({len(self._digests)} key(s))"

    def matches(self, presented: str) -> bool:
        digest = hashlib.sha256(presented.encode(errors="surrogateescape")).digest()
        found = False
        for known in self._digests:
            found |= hmac.compare_digest(digest, known)
        return found


@dataclass(frozen=True)
class ServiceConfig:
    """How the service behaves. No ``api_keys`` means no authentication (``serve`` allows that only on a
    loopback address). ``jobs`` is the number of validating processes (None: one per core; 0: a thread)."""

    options: PipelineOptions
    api_keys: ApiKeys = field(default_factory=lambda: ApiKeys(()))
    worker: bool = True
    concurrency: int = 8
    lease_seconds: float = 60.0
    jobs: int | None = None
    max_body: int = DEFAULT_MAX_BYTES
    body_timeout: float = 60.0  # a body still arriving after this long is abandoned (408): slow-send attacks
    poll_interval: float = 0.2


# ---------------------------------------------------------------------------- the wire (for OpenAPI)


class FindingBody(BaseModel):
    code: str
    sefaz: str | None = None
    severity: Literal["error", "warning", "info"]
    message: str
    xpath: str | None = None


class ReportBody(BaseModel):
    """The validation report, exactly as ``nfe-invoice validate --format json`` prints it."""

    model_config = ConfigDict(extra="allow")
    file: str | None = None
    ok: bool
    authorized: bool
    access_key: str | None = None
    findings: list[FindingBody]


class RecordBody(BaseModel):
    """One journal record (the same object ``status --format json`` prints)."""

    account: str
    order_id: str
    invoice_number: str
    access_key: str
    state: Literal["queued", "refused", "sending", "sent", "delivered-already", "failed"]
    receipt: str | None = None
    attempts: int
    reason: str | None = None
    findings: list[FindingBody]
    decision: dict[str, Any] | None = None
    source: str | None = None
    created_at: str
    updated_at: str
    sent_at: str | None = None


class Problem(BaseModel):
    """Every error: a stable ``error`` code, a one-line ``message``, and what explains it when there is any."""

    error: str
    message: str
    findings: list[FindingBody] = []
    record: RecordBody | None = None
    report: ReportBody | None = None


class Status(BaseModel):
    status: str
    reason: str | None = None


def _problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    meanings = {
        401: "no valid bearer key",
        408: "the body did not arrive in time",
        404: "not in the journal",
        409: "an invoice number VTEX already holds, with a different payload (never corrected once sent)",
        413: "body larger than the cap (5 MiB)",
        415: "the body is not XML (Content-Type application/xml or text/xml)",
        422: "refused: the findings or the decision say why; or a malformed parameter",
        503: "the journal cannot be reached (try again later)",
    }
    return {code: {"model": Problem, "description": meanings[code]} for code in codes}


_XML_BODY: Final = {
    "requestBody": {
        "required": True,
        "description": "One NF-e (NFe, nfeProc or an enviNFe with one NFe), the exact bytes the ERP holds.",
        "content": {media: {"schema": {"type": "string", "format": "binary"}} for media in sorted(XML_MEDIA_TYPES)},
    }
}


class ProblemError(Exception):
    """Raised by a route to answer with a :class:`Problem` (one handler turns it into JSON)."""

    def __init__(self, status: int, error: str, message: str, *, headers: Mapping[str, str] | None = None,
                 **details: Any) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message
        self.headers = dict(headers or {})
        self.details = details

    def response(self) -> JSONResponse:
        body = {"error": self.error, "message": self.message, **self.details}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


# ------------------------------------------------------------------------------------------ service


class Service:
    """What the routes share: the journal, the pool, the worker, and the counters behind ``/metrics``."""

    def __init__(self, journal: Journal, client: AsyncVtexClient | None, config: ServiceConfig) -> None:
        if config.worker and client is None:
            raise ConfigurationError("the service's worker needs a VTEX client (or run it with worker=False)")
        self.journal = journal
        self.client = client
        self.config = config
        self.preparer = Preparer(config.options, jobs=config.jobs)
        self.runner: Runner | None = None
        self.submissions: dict[str, int] = {}
        self.validations: dict[str, int] = {}

    def count(self, table: dict[str, int], label: str) -> None:
        table[label] = table.get(label, 0) + 1

    @property
    def delivered(self) -> Tally:
        return self.runner.tally if self.runner is not None else Tally()

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        self.preparer.start()
        task: asyncio.Task[None] | None = None
        if self.config.worker and self.client is not None:
            self.runner = Runner(self.journal, self.client, self.config.options,
                                 concurrency=self.config.concurrency, lease_seconds=self.config.lease_seconds,
                                 poll_interval=self.config.poll_interval, on_result=_log_result)
            task = asyncio.create_task(self.runner.keep_running())
        try:
            yield
        finally:
            if self.runner is not None and task is not None:
                self.runner.stop()  # in-flight invoices finish; anything unfinished is released to the journal
                await task
            if self.client is not None:
                await self.client.aclose()
            await asyncio.to_thread(self.preparer.close)

    def check_key(self, credentials: HTTPAuthorizationCredentials | None) -> None:
        keys = self.config.api_keys
        if not len(keys):
            return
        if credentials is None or not keys.matches(credentials.credentials):
            raise ProblemError(401, "auth.required", "give a valid key as 'Authorization: Bearer <key>'",
                               headers={"WWW-Authenticate": "Bearer"})

    async def read_xml(self, request: Request) -> bytes:
        """The body, refused before it is read whole when too large, or when it is not XML."""
        limit = self.config.max_body
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                raise ProblemError(400, "input.content_length", "Content-Length is not a number")
            if int(declared) > limit:
                raise ProblemError(413, "input.too_large", f"the body ({int(declared)} bytes) is over the "
                                   f"{limit}-byte cap; nothing was read")
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media not in XML_MEDIA_TYPES and not (media.startswith("application/") and media.endswith("+xml")):
            shown = media[:80] or "none"
            raise ProblemError(415, "input.content_type",
                               f"the body must be XML (Content-Type application/xml or text/xml), not {shown}")
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.config.body_timeout):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise ProblemError(413, "input.too_large", f"the body is over the {limit}-byte cap; "
                                           "reading stopped there")
                    chunks.append(chunk)
        except TimeoutError:
            raise ProblemError(408, "input.timeout", f"the body did not arrive within {self.config.body_timeout:g} s",
                               headers={"Connection": "close"}) from None
        return b"".join(chunks)

    async def receive(self, raw: bytes, order_id: str | None) -> Intake:
        prepared = await self.preparer.prepare(raw, name="http", order_id=order_id)
        return decide(prepared, self.journal, force=self.config.options.force)  # on the loop's thread

    def latest(self, access_key: str) -> Record | None:
        records = list(self.journal.records(RecordQuery(access_key=access_key)))
        return max(records, key=lambda record: record.updated_at) if records else None


def _log_result(result: Result) -> None:
    where = f"order {result.order_id} invoice {result.invoice_number}"
    if result.state == State.SENT.value:
        logger.info("%s: sent, receipt %s", where, result.receipt)
    else:
        logger.warning("%s: %s (%s)", where, result.state, result.reason or result.code or "")


def _record(record: Record) -> dict[str, Any]:
    return record.to_dict()


def _refusal(intake: Intake) -> ProblemError:
    findings = [dict(f) for f in intake.findings]
    if intake.outcome is IntakeOutcome.CONFLICT:
        return ProblemError(409, intake.code or "pipeline.conflict", intake.reason or "conflict",
                            record=_record(intake.record) if intake.record else None)
    message = intake.reason or "refused"
    if intake.record is not None and intake.record.decision is not None and not findings:
        message = intake.record.reason or message
    return ProblemError(422, intake.code or "refused", message, findings=findings,
                        record=_record(intake.record) if intake.record else None)


# ---------------------------------------------------------------------------------------------- app

_BEARER: Final = HTTPBearer(auto_error=False, description="one of the keys in NFE_INVOICE_API_KEYS or --api-keys-file")


async def _one_value_per_parameter(request: Request) -> None:
    """Refuse a query parameter given more than once (``?orderId=A&orderId=B``): which one is meant cannot be
    guessed (the framework alone would take the last), and an invoice sent to the wrong order cannot be taken
    back."""
    counts = Counter(name for name, _ in request.query_params.multi_items())
    for name, count in counts.items():
        if count > 1:
            raise ProblemError(422, "request.invalid", f"{name} is given {count} times; give it once")


async def _authorised(request: Request,
                      credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]) -> None:
    """Every /v1 route's guard (module level: FastAPI reads the annotations from this module's names)."""
    service: Service = request.app.state.service
    service.check_key(credentials)


def create_app(journal: Journal, client: AsyncVtexClient | None, config: ServiceConfig) -> FastAPI:
    """The ERP hooks' HTTP service over ``journal``; with ``config.worker`` it also delivers through ``client``
    (started and stopped with the app's lifespan: run it under uvicorn, or any ASGI server that sends it)."""
    service = Service(journal, client, config)
    app = FastAPI(
        title="nfe-invoice ERP hooks",
        version="1",  # the API's version (its routes live under /v1), not the package's
        description="Post authorised NF-e XML; they are validated, mapped and queued for VTEX. Every /v1 route "
        "needs 'Authorization: Bearer <key>'. Errors are JSON objects with a stable 'error' code.",
        lifespan=service.lifespan,
    )
    app.state.service = service
    guarded = [Depends(_authorised), Depends(_one_value_per_parameter)]

    @app.exception_handler(ProblemError)
    async def on_problem(_request: Request, exc: ProblemError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def on_invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        message = f"{where}: {first.get('msg', 'invalid')}" if where else "invalid request"
        return ProblemError(422, "request.invalid", message).response()

    @app.exception_handler(StarletteHTTPException)
    async def on_http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http.error")
        headers = dict(exc.headers or {})
        return ProblemError(exc.status_code, error, str(exc.detail), headers=headers).response()

    @app.exception_handler(JournalError)
    async def on_journal(_request: Request, exc: JournalError) -> JSONResponse:
        logger.error("journal: %s", exc.message)
        return ProblemError(503, "journal.unavailable", f"the journal cannot be reached: {exc.message}",
                            headers={"Retry-After": "5"}).response()

    @app.exception_handler(Exception)
    async def on_error(_request: Request, exc: Exception) -> JSONResponse:
        logger.error("internal error (%s)", type(exc).__name__, exc_info=exc)
        return ProblemError(500, "internal.error", "internal error; the service's log has the details").response()

    @app.post("/v1/validate", dependencies=guarded, response_model=ReportBody, openapi_extra=_XML_BODY,
              responses=_problem_responses(401, 408, 413, 415, 422), summary="Validate one NF-e")
    async def validate_document(request: Request) -> JSONResponse:
        """The validation report; 422 when the body cannot be read as an NF-e at all (broken, hostile)."""
        raw = await service.read_xml(request)
        report, readable = await service.preparer.validate(raw)
        service.count(service.validations, "ok" if report["ok"] else ("unreadable" if not readable else "not_ok"))
        if not readable:
            first = report["findings"][0] if report["findings"] else {"code": "input.invalid", "message": "unreadable"}
            raise ProblemError(422, first["code"], first["message"], findings=report["findings"], report=report)
        return JSONResponse(report)

    @app.post("/v1/invoices", dependencies=guarded, response_model=RecordBody, status_code=202,
              openapi_extra=_XML_BODY, summary="Validate, map and queue one NF-e for VTEX",
              responses={200: {"model": RecordBody, "description": "already received: the stored record"},
                         202: {"model": RecordBody, "description": "queued: the worker will send it"},
                         **_problem_responses(401, 408, 409, 413, 415, 422, 503)})
    async def post_invoice(
        request: Request,
        order_id: Annotated[str | None, Query(alias="orderId", pattern=_ORDER_ID_PATTERN,
                                              description="the VTEX order (else the configured rule finds it)")]
        = None,
    ) -> JSONResponse:
        if order_id is not None:
            try:
                check_order_id(order_id)
            except MappingError as exc:
                raise ProblemError(422, exc.code, exc.message) from None
        raw = await service.read_xml(request)
        intake = await service.receive(raw, order_id)
        service.count(service.submissions, intake.outcome.value)
        if not intake.accepted or intake.record is None:
            raise _refusal(intake)
        status = 202 if intake.outcome is IntakeOutcome.QUEUED else 200
        return JSONResponse(_record(intake.record), status_code=status)

    @app.get("/v1/invoices/{access_key}", dependencies=guarded, response_model=RecordBody,
             responses=_problem_responses(401, 404, 422, 503), summary="The journal's record of one NF-e")
    async def get_invoice(
        access_key: Annotated[str, Path(pattern=_ACCESS_KEY_PATTERN, description="the 44-digit access key")],
    ) -> JSONResponse:
        record = service.latest(access_key)
        if record is None:
            raise ProblemError(404, "not_found", f"no record of the access key {access_key}")
        return JSONResponse(_record(record))

    @app.get("/v1/orders/{order_id}/invoices", dependencies=guarded, response_model=list[RecordBody],
             responses=_problem_responses(401, 422, 503), summary="The journal's records of one order")
    async def get_order_invoices(
        order_id: Annotated[str, Path(pattern=_ORDER_ID_PATTERN, description="the VTEX order id")],
    ) -> JSONResponse:
        records = service.journal.records(RecordQuery(order_id=order_id))
        return JSONResponse([_record(record) for record in records])

    @app.get("/healthz", response_model=Status, summary="The process answers")
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "alive"})

    @app.get("/readyz", response_model=Status, summary="The journal answers",
             responses={503: {"model": Status, "description": "the journal cannot be reached"}})
    async def readyz() -> JSONResponse:
        try:
            service.journal.pending()
        except NfeInvoiceError as exc:
            return JSONResponse({"status": "unavailable", "reason": str(exc)}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics",
             responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                              "description": "Prometheus text format 0.0.4"}})
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(render_metrics(service), media_type="text/plain; version=0.0.4; charset=utf-8")

    return app


# ------------------------------------------------------------------------------------------ metrics


def _label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _family(lines: list[str], name: str, kind: str, help_text: str, samples: Mapping[str, float], *,
            label: str | None = None) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")
    for value_label, value in sorted(samples.items()):
        where = f'{{{label}="{_label(value_label)}"}}' if label else ""
        lines.append(f"{name}{where} {value:g}" if isinstance(value, float) else f"{name}{where} {value}")


def render_metrics(service: Service) -> str:
    """``/metrics`` in the Prometheus text format: records per state, submissions, VTEX latency and retries."""
    lines: list[str] = []
    try:
        counts = {state.value: 0 for state in State}
        counts.update({state.value: count for state, count in service.journal.counts().by_state.items()})
        _family(lines, "nfe_invoice_records", "gauge", "journal records per state", counts, label="state")
        up = 1
    except NfeInvoiceError:
        up = 0
    _family(lines, "nfe_invoice_journal_up", "gauge", "1 when the journal answered this scrape", {"": up})
    _family(lines, "nfe_invoice_submissions_total", "counter", "POST /v1/invoices answers by outcome",
            {outcome.value: service.submissions.get(outcome.value, 0) for outcome in IntakeOutcome}, label="outcome")
    _family(lines, "nfe_invoice_validations_total", "counter", "POST /v1/validate answers by verdict",
            {verdict: service.validations.get(verdict, 0) for verdict in ("ok", "not_ok", "unreadable")},
            label="verdict")
    _family(lines, "nfe_invoice_deliveries_total", "counter", "invoices the worker inside finished, by state",
            dict(service.delivered.counts), label="state")
    if service.client is not None:
        stats = service.client.stats
        _family(lines, "nfe_invoice_vtex_requests_total", "counter", "VTEX attempts by operation",
                stats["requests"], label="operation")
        _family(lines, "nfe_invoice_vtex_responses_total", "counter", "VTEX attempts by status or error",
                stats["outcomes"], label="outcome")
        _family(lines, "nfe_invoice_vtex_retries_total", "counter", "VTEX retries by reason", stats["retries"],
                label="reason")
        _family(lines, "nfe_invoice_vtex_gave_up_total", "counter", "VTEX calls given up, by error code",
                stats["gave_up"], label="code")
        _family(lines, "nfe_invoice_vtex_rate_limit_wait_seconds_total", "counter",
                "seconds spent waiting for the account's rate", {"": float(stats["rate_limit_wait_seconds"])})
        lines.append("# HELP nfe_invoice_vtex_request_duration_seconds VTEX attempt latency")
        lines.append("# TYPE nfe_invoice_vtex_request_duration_seconds histogram")
        for bound, count in stats["latency_histogram"]:
            lines.append(f'nfe_invoice_vtex_request_duration_seconds_bucket{{le="{bound}"}} {count}')
        lines.append(f"nfe_invoice_vtex_request_duration_seconds_sum {float(stats['latency_sum']):g}")
        lines.append(f"nfe_invoice_vtex_request_duration_seconds_count {stats['latency_count']}")
    return "\n".join(lines) + "\n"
