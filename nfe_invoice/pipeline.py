"""The one loop every entry point shares: validate -> map -> (journal) -> check the order -> send -> record.

Two stages, because they need different resources:

* :func:`prepare` is CPU work on one document (validate, find the order id, map): it runs in worker
  processes, needs no network and produces a :class:`Prepared` -- either a record to queue or a refusal
  with its findings. ``enqueue`` stops here, on any machine.
* :func:`deliver` / :func:`deliver_sync` is I/O on one journal claim (or one document for ``submit``):
  GET the order, map again against it (VTEX's SKU ids and ``unitMultiplier`` come from the order), predict
  what VTEX will do (:func:`~nfe_invoice.vtex.reconcile.reconcile`), POST, and say what happened as an
  :class:`Outcome` that the journal records.

:class:`Runner` drives both for ``batch``, ``worker`` and the ERP hooks: prepared documents go into the
journal, and claims come out of it under leases, so a crash at any point loses nothing and the next run
(or another worker) resumes from the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from .config import Settings
from .errors import (
    ConfigurationError,
    InputError,
    JournalError,
    MappingError,
    NfeInvoiceError,
    VtexError,
    VtexNotFoundError,
)
from .findings import Report
from .journal import Claim, EnqueueOutcome, Journal, NewRecord, Record, RecordKey, State
from .journal.base import UNCONFIGURED_ACCOUNT, compress_document
from .model import NFeDocument
from .parse import parse
from .validate import Validated, ValidationOptions, validate_each, validate_full
from .vtex.client import AsyncVtexClient, VtexClient
from .vtex.mapping import (
    ItemFacts,
    MappingOptions,
    build_invoice,
    build_template,
    format_invoice_number,
    item_facts,
    load_sku_map,
    remap_items,
)
from .vtex.models import InvoicePayload, Order
from .vtex.order_id import OrderIdRule, check_order_id, find_order_id
from .vtex.policy import Credentials, Endpoint, RetryPolicy, Timeouts, TokenBucket
from .vtex.reconcile import Decision, reconcile

logger = logging.getLogger("nfe_invoice.pipeline")

#: Codes of refusals decided by the pipeline itself (mapping and reconciliation carry their own).
REFUSAL_CODES: Final = {
    "pipeline.validation": "the document has validation errors (see its findings)",
    "pipeline.homologation": "a homologation (test) document, refused unless homologation is allowed",
    "pipeline.order_not_found": "VTEX does not know the order",
    "pipeline.conflict": "an invoice number VTEX already holds, with a different payload (an invoice number "
    "can never be corrected once sent)",
    "pipeline.mapping_changed": "the worker's mapping settings give another invoice number than the enqueuer's",
    "pipeline.order_mismatch": "the order id given differs from the one the document names (compra/xPed)",
}


# ---------------------------------------------------------------------------------------- options


@dataclass(frozen=True)
class PipelineOptions:
    """Everything the pipeline needs to decide, built once from :class:`~nfe_invoice.config.Settings`."""

    account: str
    mapping: MappingOptions = field(default_factory=MappingOptions)
    order_id_rule: OrderIdRule | None = field(default_factory=OrderIdRule)  # compra/xPed by default
    order_id: str | None = None  # an explicit order id (submit, payload) wins over the rule
    allow_homologation: bool = False
    order_check: bool = True
    force: bool = False
    validation: ValidationOptions = field(default_factory=ValidationOptions)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        order_id: str | None = None,
        force: bool = False,
        validation: ValidationOptions | None = None,
    ) -> PipelineOptions:
        """Options from the effective configuration; an unusable SKU map or order-id rule raises
        :class:`~nfe_invoice.errors.ConfigurationError` (the command line turns it into a usage error)."""
        sku_map = load_sku_map(settings.sku_map) if settings.sku_map else None
        try:
            rule = OrderIdRule.parse(settings.order_id_rule)
        except (MappingError, ValueError) as exc:
            raise ConfigurationError(f"order_id_rule: {exc}") from None
        mapping = MappingOptions(
            invoice_number_format=settings.invoice_number_format,
            embed_invoice=settings.embed_invoice,
            invoice_url_template=settings.invoice_url_template,
            sku_map=sku_map,
            invoice_value_as_integer=settings.invoice_value_as_integer,
        )
        return cls(
            account=account_name(settings),
            mapping=mapping,
            order_id_rule=rule,
            order_id=order_id,
            allow_homologation=settings.allow_homologation,
            order_check=settings.order_check,
            force=force,
            validation=validation or ValidationOptions(),
        )


def account_name(settings: Settings) -> str:
    """The journal's account key: the VTEX account, or the host of an explicit base URL (sandbox, proxy)."""
    if settings.account:
        return settings.account
    if settings.base_url:
        return urlsplit(Endpoint.from_base_url(settings.base_url).base_url).netloc  # refuses an unreadable URL
    return UNCONFIGURED_ACCOUNT  # whichever store the worker that claims it delivers to


def _client_settings(settings: Settings, environ: Mapping[str, str] | None) -> dict[str, Any]:
    """What both clients take from the configuration (credentials from the variables it names)."""
    if not (settings.account or settings.base_url):
        raise ConfigurationError("VTEX: give --account (and --environment) or --base-url, or set them in "
                                 "nfe-invoice.toml or $VTEX_ACCOUNT / $VTEX_BASE_URL")
    return {
        "account": settings.account,
        "environment": settings.environment,
        "base_url": settings.base_url,
        "credentials": Credentials.from_env(settings.app_key_env, settings.app_token_env, environ=environ),
        "timeouts": Timeouts(connect=settings.connect_timeout, read=settings.read_timeout),
        "retry": RetryPolicy(max_attempts=settings.max_attempts, deadline=settings.retry_deadline),
    }


def client_for(
    settings: Settings, *, rate_limiter: Any = None, environ: Mapping[str, str] | None = None
) -> VtexClient:
    """The sync client the configuration describes (``submit``, ``track``); ConfigurationError if it cannot.
    Credentials come from the variables the settings name, in ``environ`` (default: the process's)."""
    return VtexClient(**_client_settings(settings, environ), rate_limiter=rate_limiter, rate=settings.rate or None)


def check_client_settings(settings: Settings, environ: Mapping[str, str] | None = None) -> None:
    """Raise the ConfigurationError that building a client would, without building one (nor a journal)."""
    _client_settings(settings, environ)


def async_client_for(
    settings: Settings, *, rate_limiter: Any = None, environ: Mapping[str, str] | None = None
) -> AsyncVtexClient:
    """The async client for ``batch``, ``worker`` and the hooks, ``concurrency`` requests in flight at most."""
    return AsyncVtexClient(**_client_settings(settings, environ), rate_limiter=rate_limiter,
                           rate=settings.rate or None, max_concurrency=max(1, settings.concurrency))


# ------------------------------------------------------------------------------------ stage 1: prepare


@dataclass(frozen=True)
class Prepared:
    """What one document became before any network: a record to queue, or a refusal with its reasons."""

    source: str | None
    record: NewRecord | None
    report: dict[str, Any] | None
    code: str | None = None  # the refusal's stable code, None when queued
    reason: str | None = None
    warnings: tuple[str, ...] = ()
    #: The items as mapping reads them, so delivery in this process can match them against the order
    #: without parsing the XML again (a delivery elsewhere, or after a crash, parses the stored XML).
    facts: tuple[ItemFacts, ...] | None = None
    #: The payload to re-match against the order: the stored one, or for a document whose items wait for
    #: the order, the same with stand-in items (never stored, never sent as it is).
    template: str | None = None

    @property
    def refused(self) -> bool:
        return self.record is None or self.record.state is State.REFUSED

    def refusal(self) -> Result:
        """This refused document as a result line (its error findings, the refusal's code and reason)."""
        record, report = self.record, self.report or {}
        return Result(self.source, report.get("access_key"), record.key.order_id or None if record else None,
                      record.key.invoice_number if record else None, State.REFUSED.value, reason=self.reason,
                      code=self.code, findings=error_findings(report.get("findings")))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _refusal(
    source: str | None,
    *,
    key: RecordKey | None,
    raw: bytes,
    access_key: str | None,
    code: str,
    reason: str,
    report: Report | None,
) -> Prepared:
    """A refused document: still a journal record when we know enough to key it, so ``status`` shows it."""
    findings = tuple(f.to_dict() for f in report.findings) if report is not None else ()
    xml_sha = _sha256(raw)
    record = None
    if key is not None:
        record = NewRecord(
            key=key,
            access_key=access_key or "",
            xml_sha256=xml_sha,
            document=raw,
            payload=None,
            payload_sha256=_sha256(f"refused:{code}:{xml_sha}".encode()),
            state=State.REFUSED,
            source=source,
            findings=findings,
            reason=f"[{code}] {reason}",
        )
    report_dict = report.to_dict() if report is not None else None
    if report_dict is not None:
        report_dict["file"] = source
    return Prepared(source=source, record=record, report=report_dict, code=code, reason=reason)


def _order_id_in(document: NFeDocument) -> str | None:
    """The order id the document itself names (compra/xPed and the like), if any."""
    try:
        return find_order_id(document, OrderIdRule())
    except MappingError:
        return None


def _invoice_number_for(document: NFeDocument, options: MappingOptions) -> str:
    """The invoice number a document will carry, for keying a record whose payload waits for its order."""
    return format_invoice_number(document, options.invoice_number_format)


Source = str | os.PathLike[str] | bytes


def prepare(source: Source, options: PipelineOptions, *, name: str | None = None) -> Prepared:
    """Validate and map one document; never raises because the document is bad (a refusal says why)."""
    label, raw = _read_source(source, name)
    if isinstance(raw, Prepared):
        return raw
    return _prepare_validated(label, raw, validate_full(raw, options.validation), options)


def prepare_many(sources: Sequence[Source], options: PipelineOptions) -> list[Prepared]:
    """:func:`prepare` of each source, in order, validated a group at a time (:func:`~.validate.validate_each`:
    the same results for about a quarter less of validation's CPU)."""
    read = [_read_source(source, None) for source in sources]
    validated = validate_each([raw for _, raw in read if isinstance(raw, bytes)], options.validation)
    return [raw if isinstance(raw, Prepared) else _prepare_validated(label, raw, next(validated), options)
            for label, raw in read]


def _read_source(source: Source, name: str | None) -> tuple[str | None, bytes | Prepared]:
    """The source's label and bytes, or the refusal of a file that cannot be read."""
    label = name if name is not None else (os.fspath(source) if not isinstance(source, bytes) else None)
    if isinstance(source, bytes):
        return label, source
    try:
        return label, Path(source).read_bytes()
    except OSError as exc:
        reason = f"cannot read the file: {exc.strerror}"
        return label, _refusal(label, key=None, raw=b"", access_key=None, code="input.source", reason=reason,
                               report=None)


def _prepare_validated(label: str | None, raw: bytes, validated: Validated, options: PipelineOptions) -> Prepared:
    """:func:`prepare` once the document is validated: the refusal or the record to queue."""
    report, document = validated.report, validated.document
    access_key = report.access_key

    def refuse(key: RecordKey | None, code: str, reason: str) -> Prepared:
        return _refusal(label, key=key, raw=raw, access_key=access_key, code=code, reason=reason, report=report)

    if document is None:
        first = report.findings[0] if report.findings else None
        return refuse(None, "pipeline.validation", f"[{first.code}] {first.message}" if first else "unreadable")
    try:
        order_id = check_order_id(options.order_id) if options.order_id else None
        if order_id is not None:
            named = _order_id_in(document)
            if named is not None and named != order_id:
                reason = (f"the document names order {named} (compra/xPed or obsCont pedido), not {order_id}: "
                          "an invoice sent to the wrong order cannot be taken back")
                return refuse(RecordKey(options.account, order_id, access_key or _sha256(raw)),
                              "pipeline.order_mismatch", reason)
        if order_id is None:
            if options.order_id_rule is None:
                raise MappingError("no order id was given and no rule finds one", code="mapping.order_id")
            order_id = find_order_id(document, options.order_id_rule)
    except MappingError as exc:
        return refuse(RecordKey(options.account, "", access_key or _sha256(raw)), exc.code, exc.message)
    try:
        invoice_number = _invoice_number_for(document, options.mapping)
    except MappingError as exc:
        return refuse(RecordKey(options.account, order_id, access_key or _sha256(raw)), exc.code, exc.message)
    key = RecordKey(options.account, order_id, invoice_number)
    if not report.ok and not options.force:
        errors = report.errors
        reason = f"{len(errors)} validation error(s); first: [{errors[0].code}] {errors[0].message}"
        return refuse(key, "pipeline.validation", reason)
    if document.ide.tpAmb == "2" and not options.allow_homologation:
        reason = "the document was issued in homologation (tpAmb=2); pass --allow-homologation to send it"
        return refuse(key, "pipeline.homologation", reason)
    payload_text: str | None
    warnings: tuple[str, ...] = ()
    try:
        mapped = build_invoice(document, report=report, options=options.mapping, force=options.force)
        payload_text = mapped.payload.to_json(invoice_value_as_integer=options.mapping.invoice_value_as_integer)
        warnings = tuple(mapped.warnings)
    except MappingError as exc:
        if exc.code != "mapping.needs_order" or not options.order_check:
            return refuse(key, exc.code, exc.message)
        payload_text = None  # built against the order when it is fetched (fractional quantities)
    xml_sha = _sha256(raw)  # once: hashing the XML is not free
    identity = payload_text.encode() if payload_text is not None else f"deferred:{xml_sha}".encode()
    record = NewRecord(
        key=key,
        access_key=access_key or "",
        xml_sha256=xml_sha,
        document=raw,
        payload=payload_text,
        payload_sha256=_sha256(identity),
        state=State.QUEUED,
        source=label,
        findings=tuple(f.to_dict() for f in report.findings),
    )
    report_dict = report.to_dict()
    report_dict["file"] = label
    facts = item_facts(document)
    template = payload_text if payload_text is not None else _template_payload(document, options)
    return Prepared(source=label, record=record, report=report_dict, warnings=warnings, facts=facts,
                    template=template)


def _template_payload(document: NFeDocument, options: PipelineOptions) -> str | None:
    """For a document whose items wait for the order (fractional quantities): its payload with stand-in items
    (:func:`~nfe_invoice.vtex.mapping.build_template`), so the sending stage only matches items
    (:func:`remap_items`) instead of parsing the XML again; None when it cannot be built (the sending stage
    then maps the whole document against the order, and says why not)."""
    try:
        template = build_template(document, options=options.mapping)
    except (MappingError, ValueError):
        return None
    return template.to_json(invoice_value_as_integer=options.mapping.invoice_value_as_integer)


#: The options of this worker process (set once by the pool's initializer, not sent with every chunk), and
#: whether its records go to a journal (see :func:`prepare_executor`).
_WORKER: dict[str, Any] = {}


def _init_prepare_worker(options: PipelineOptions, journal: bool = False) -> None:
    _WORKER["options"] = options
    _WORKER["journal"] = journal


def _for_journal(prepared: Prepared) -> Prepared:
    """``prepared`` with its document also compressed as the journal stores it (done where it was read)."""
    record = prepared.record
    if record is None:
        return prepared
    stored = dataclasses.replace(record, stored_document=compress_document(record.document))
    return dataclasses.replace(prepared, record=stored)


def _prepare_chunk(paths: Sequence[str]) -> list[Prepared]:
    prepared = prepare_many(paths, _WORKER["options"])
    if _WORKER.get("journal"):
        return [_for_journal(one) for one in prepared]
    return prepared


def _windowed(paths: Sequence[str], executor: Executor, chunk: int, window: int
              ) -> Iterator[Future[list[Prepared]]]:
    """The chunks' futures in order, at most ``window`` submitted ahead of the one the caller waits for."""
    chunks = [paths[i : i + chunk] for i in range(0, len(paths), chunk)]
    pending: list[Future[list[Prepared]]] = []
    next_chunk = 0
    while next_chunk < len(chunks) or pending:
        while next_chunk < len(chunks) and len(pending) < window:
            pending.append(executor.submit(_prepare_chunk, chunks[next_chunk]))
            next_chunk += 1
        yield pending.pop(0)


def prepare_all(
    paths: Sequence[str], options: PipelineOptions, executor: Executor | None, *, chunk: int = 16, window: int = 8
) -> Iterator[Prepared]:
    """Prepare every path, in order, in the executor's processes (or here when None).

    At most ``window`` chunks are in flight, so memory stays flat however many documents there are.
    The executor must have been started with :func:`prepare_executor` (it carries the options).
    """
    if executor is None:
        for path in paths:
            yield prepare(path, options)
        return
    for future in _windowed(paths, executor, chunk, window):
        yield from future.result()


async def prepare_each(
    paths: Sequence[str], options: PipelineOptions, executor: Executor | None, *, chunk: int = 16, window: int = 8
) -> AsyncIterator[Prepared]:
    """:func:`prepare_all` for an event loop: it awaits each chunk of the worker processes, so the loop keeps
    sending meanwhile; no thread hop per document (that cost the batch about 0.1 ms of CPU each)."""
    if executor is None:
        for path in paths:
            yield await asyncio.to_thread(prepare, path, options)
        return
    for future in _windowed(paths, executor, chunk, window):
        for prepared in await asyncio.wrap_future(future):
            yield prepared


def prepare_executor(options: PipelineOptions, jobs: int, *, journal: bool = False) -> Executor | None:
    """Worker processes for :func:`prepare_all` (None for one job: prepare in this process).

    ``journal``: the records go to a journal, so the workers also compress each document as the journal
    stores it (:attr:`NewRecord.stored_document`): the process that writes the journal is the batch's busiest,
    and the workers hold the document anyway."""
    if jobs <= 1:
        _init_prepare_worker(options)
        return None
    return ProcessPoolExecutor(max_workers=jobs, initializer=_init_prepare_worker, initargs=(options, journal))


# ------------------------------------------------------------------------------------ stage 2: deliver


@dataclass(frozen=True)
class Outcome:
    """What happened to one invoice at VTEX (or why it was not sent)."""

    state: State
    receipt: str | None = None
    reason: str | None = None
    code: str | None = None
    decision: Mapping[str, Any] | None = None
    sent_payload: str | None = None


@dataclass(frozen=True)
class Plan:
    """What to do once the order is known: send this body, or stop with this outcome."""

    body: str | None
    decision: Decision | None
    outcome: Outcome | None


#: The XML of the document being delivered, or a callable that returns it: a journal claim decompresses its
#: stored XML only if mapping really needs it (:attr:`~nfe_invoice.journal.Claim.document`), and a record
#: enqueued by the same process never does (its items were kept in memory).
DocumentSource = bytes | Callable[[], bytes]


def _document_bytes(document: DocumentSource) -> bytes:
    return document if isinstance(document, bytes) else document()


def plan_delivery(
    order_id: str,
    document: DocumentSource,
    stored_payload: str | None,
    order: Order | None,
    options: PipelineOptions,
    *,
    invoice_number: str | None = None,
    facts: tuple[ItemFacts, ...] | None = None,
) -> Plan:
    """The decision between GET order and POST, as a pure function (shared by both clients).

    With an order, the document is mapped again against it (SKU ids, unit multipliers) and reconciled;
    without one (``--no-order-check``) the stored payload goes as it is. ``invoice_number`` is the one the
    record was queued under: mapping again must give the same, or nothing is sent.
    """
    if order is None:
        if stored_payload is None:
            return Plan(None, None, Outcome(State.REFUSED, reason="the payload needs the order, which was not "
                                            "fetched", code="mapping.needs_order"))
        return Plan(stored_payload, None, None)
    wire: dict[str, Any] | None = None
    try:
        if facts is not None and stored_payload is not None:  # the fast path: items only, no XML parsed
            wire = json.loads(stored_payload)
            mapped = remap_items(InvoicePayload.from_wire(wire), facts, order)
        else:
            mapped = build_invoice(parse(_document_bytes(document)), order=order, options=options.mapping, force=True)
    except (MappingError, InputError) as exc:
        code = exc.code
        return Plan(None, None, Outcome(State.REFUSED, reason=f"[{code}] {exc.message}", code=code))
    payload: InvoicePayload = mapped.payload
    if invoice_number is not None and payload.invoice_number != invoice_number:
        reason = (f"mapped again against the order, the invoice number is {payload.invoice_number}, not "
                  f"{invoice_number} as when it was queued: the enqueuer and this worker use different "
                  "invoice number formats; nothing was sent")
        return Plan(None, None, Outcome(State.REFUSED, reason=reason, code="pipeline.mapping_changed"))
    decision = reconcile(order, payload)
    if decision.action == "already_delivered":
        return Plan(None, decision, Outcome(State.DELIVERED_ALREADY, reason="; ".join(decision.reasons),
                                            code=decision.code, decision=decision.to_dict()))
    if decision.action == "refuse":
        return Plan(None, decision, Outcome(State.REFUSED, reason=f"[{decision.code}] {'; '.join(decision.reasons)}",
                                            code=decision.code, decision=decision.to_dict()))
    as_integer = options.mapping.invoice_value_as_integer
    body = None
    if stored_payload is not None and wire is not None:
        body = _with_items(stored_payload, wire, payload, as_integer=as_integer)
    return Plan(body or payload.to_json(invoice_value_as_integer=as_integer), decision, None)


#: How :meth:`InvoicePayload.to_json` writes the key of its last member, the items (outside a JSON string a
#: quote is never escaped, inside one always: the text holds it exactly once).
_ITEMS_MEMBER: Final = ', "items": ['


def _with_items(text: str, wire: dict[str, Any], payload: InvoicePayload, *, as_integer: bool) -> str | None:
    """``payload.to_json()`` for a payload that is ``text`` (a ``to_json`` output, decoded as ``wire``) with
    other items, written by replacing the items in ``text`` instead of encoding the whole payload again: its
    ``embeddedInvoice`` (the XML, a few kB of escapes) made encoding the body a quarter of the sending stage's
    mapping cost. None (encode it whole) unless ``text`` is laid out as ``to_json`` with these options lays
    it out: the items last, and ``invoiceValue`` a string or an integer as ``as_integer`` says."""
    cut = text.rfind(_ITEMS_MEMBER)
    if cut < 0 or not text.endswith("]}") or next(reversed(wire), None) != "items" or (
            isinstance(wire.get("invoiceValue"), int) is not as_integer):
        return None
    items = [item.model_dump(by_alias=True, exclude_none=True) for item in payload.items]
    return f"{text[:cut]}, \"items\": {json.dumps(items, ensure_ascii=False)}}}"


def _failure(exc: VtexError, step: str) -> Outcome:
    """A VTEX error as an outcome: an unknown order is a refusal; anything else failed (a rerun retries)."""
    if isinstance(exc, VtexNotFoundError) and step == "order":
        return Outcome(State.REFUSED, reason=f"VTEX does not know this order ({exc.message})",
                       code="pipeline.order_not_found")
    return Outcome(State.FAILED, reason=f"{step}: [{exc.code}] {exc.message}", code=exc.code)


def _sent(receipt: str | None, body: str, plan: Plan) -> Outcome:
    decision = plan.decision.to_dict() if plan.decision is not None else None
    return Outcome(State.SENT, receipt=receipt, sent_payload=body, decision=decision,
                   code=plan.decision.code if plan.decision is not None else None)


async def deliver(
    order_id: str,
    document: DocumentSource,
    stored_payload: str | None,
    client: AsyncVtexClient,
    options: PipelineOptions,
    *,
    invoice_number: str | None = None,
    facts: tuple[ItemFacts, ...] | None = None,
) -> Outcome:
    """GET the order, plan, POST: one invoice through the async client. Never raises for VTEX's answers."""
    order = None
    if options.order_check:
        try:
            order = await client.get_order(order_id)
        except VtexError as exc:
            return _failure(exc, "order")
    plan = plan_delivery(order_id, document, stored_payload, order, options, invoice_number=invoice_number,
                         facts=facts)
    if plan.outcome is not None or plan.body is None:
        return plan.outcome or Outcome(State.FAILED, reason="nothing to send")
    try:
        receipt = await client.send_invoice_body(order_id, plan.body)
    except VtexError as exc:
        return _failure(exc, "invoice")
    return _sent(receipt.receipt, plan.body, plan)


def deliver_sync(
    order_id: str,
    document: DocumentSource,
    stored_payload: str | None,
    client: VtexClient,
    options: PipelineOptions,
    *,
    invoice_number: str | None = None,
    facts: tuple[ItemFacts, ...] | None = None,
) -> Outcome:
    """:func:`deliver` through the sync client (the ``submit`` command), step for step the same."""
    order = None
    if options.order_check:
        try:
            order = client.get_order(order_id)
        except VtexError as exc:
            return _failure(exc, "order")
    plan = plan_delivery(order_id, document, stored_payload, order, options, invoice_number=invoice_number,
                         facts=facts)
    if plan.outcome is not None or plan.body is None:
        return plan.outcome or Outcome(State.FAILED, reason="nothing to send")
    try:
        receipt = client.send_invoice_body(order_id, plan.body)
    except VtexError as exc:
        return _failure(exc, "invoice")
    return _sent(receipt.receipt, plan.body, plan)


# ------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Result:
    """One line of ``batch`` / ``enqueue`` / ``worker`` output: what became of one document."""

    file: str | None
    access_key: str | None
    order_id: str | None
    invoice_number: str | None
    state: str
    receipt: str | None = None
    reason: str | None = None
    code: str | None = None
    findings: tuple[Mapping[str, Any], ...] = ()
    decision: Mapping[str, Any] | None = None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "key": self.access_key,
            "order_id": self.order_id,
            "invoice_number": self.invoice_number,
            "state": self.state,
            "receipt": self.receipt,
            "reason": self.reason,
            "code": self.code,
            "findings": [dict(f) for f in self.findings],
            "decision": dict(self.decision) if self.decision is not None else None,
            "warnings": list(self.warnings),
        }

    @classmethod
    def of_record(cls, record: Record, *, file: str | None = None) -> Result:
        errors = error_findings(record.findings)
        return cls(
            file=file if file is not None else record.source,
            access_key=record.access_key or None,
            order_id=record.key.order_id or None,
            invoice_number=record.key.invoice_number,
            state=record.state.value,
            receipt=record.receipt,
            reason=record.reason,
            findings=errors if record.state is State.REFUSED else (),
            decision=record.decision,
        )


#: Result states beyond the journal's own: documents that never became a record.
CONFLICT: Final = "conflict"
WOULD_SEND: Final = "would-send"


def exit_status(states: Iterable[str]) -> int:
    """0 all sent (or already there, or queued by enqueue), 1 some refused, 3 some could not be sent."""
    seen = set(states)
    if State.FAILED.value in seen or State.SENDING.value in seen:
        return 3
    if State.REFUSED.value in seen or CONFLICT in seen:
        return 1
    return 0


# --------------------------------------------------------------------------------------------- runner


def new_owner() -> str:
    """A worker's identity in the journal: host, process id (so a dead process is recognised), a nonce."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class JournalRateLimiter:
    """The account's request rate, shared through the journal by every process that uses it.

    A journal round trip per request would cost more than the request at high rates, so one journal token
    stands for a *block* of requests: the bucket in the journal runs at ``rate / block`` blocks per second,
    each process takes a block when it has used its last one, and spends it paced by a local token bucket at
    the full rate. The block is sized so the journal sees about :data:`JOURNAL_RESERVATIONS_PER_SECOND`
    reservations a second at most; up to 20 requests/s a block is one request and the sharing is exact. N
    processes together never exceed the rate by more than one block each.
    """

    JOURNAL_RESERVATIONS_PER_SECOND: Final = 20.0

    def __init__(self, journal: Journal, bucket: str, rate: float, burst: int | None = None) -> None:
        self._journal = journal
        self._bucket = bucket
        self._rate = rate
        self._block = max(1, int(rate / self.JOURNAL_RESERVATIONS_PER_SECOND))
        self._burst = burst if burst is not None else max(1, int(rate))
        self._left = 0  # requests left in the block this process holds
        self._local = TokenBucket(rate, self._burst) if rate > 0 else None

    def reserve(self) -> float:
        if self._rate <= 0 or self._local is None:
            return 0.0
        wait = 0.0
        if self._left == 0:
            blocks_burst = max(1, self._burst // self._block)
            wait = self._journal.reserve_rate(self._bucket, self._rate / self._block, blocks_burst)
            self._left = self._block
        self._left -= 1
        return max(wait, self._local.reserve())


@dataclass
class Tally:
    """Counts per state for progress bars, summaries and ``/metrics``."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, state: str) -> None:
        self.counts[state] = self.counts.get(state, 0) + 1

    def get(self, state: str) -> int:
        return self.counts.get(state, 0)


ResultCallback = Callable[[Result], None]


class Runner:
    """Enqueue prepared documents and drain the journal with bounded concurrency, under leases.

    One instance serves ``batch`` (enqueue, then drain), ``worker`` (drain, or run until stopped) and the ERP
    hooks (a worker in the background while documents arrive). Every journal call happens on the event
    loop's thread, one short transaction each. ``report_all=False`` (batch) reports only the documents this
    runner enqueued, once each, whoever delivers them; a worker reports every record it finishes.
    """

    def __init__(
        self,
        journal: Journal,
        client: AsyncVtexClient | None,
        options: PipelineOptions,
        *,
        concurrency: int = 8,
        lease_seconds: float = 60.0,
        on_result: ResultCallback | None = None,
        poll_interval: float = 0.2,
        owner: str | None = None,
        report_all: bool = True,
    ) -> None:
        self.journal = journal
        self.client = client
        self.options = options
        self.concurrency = max(1, concurrency)
        self.lease_seconds = lease_seconds
        self.on_result = on_result or (lambda _result: None)
        self.poll_interval = poll_interval
        self.owner = owner or new_owner()
        self.report_all = report_all
        self.tally = Tally()
        self._held: dict[RecordKey, Claim] = {}
        self._stopping = asyncio.Event()
        self._journal_error: JournalError | None = None  # set when the journal goes out of reach mid-run
        self._files: dict[RecordKey, list[str | None]] = {}  # documents waiting for their record's outcome
        #: items, payload template and payload hash of records enqueued here, so delivering them parses no XML
        #: (used only while the claimed record still holds that payload: another process may replace it)
        self._facts: dict[RecordKey, tuple[tuple[ItemFacts, ...], str, str]] = {}

    # ---------------------------------------------------------------- enqueue

    def enqueue(self, prepared: Prepared) -> Result:
        """Store one prepared document; refusals and no-ops are reported at once, queued ones when final."""
        record = prepared.record
        if record is None:
            result = prepared.refusal()
            self._emit(result)
            return result
        outcome = self.journal.enqueue(record, force=self.options.force)
        stored = outcome.record
        if outcome.outcome is EnqueueOutcome.CONFLICT:
            reason = f"{conflict_reason(stored)} (use --force to send the new payload anyway)"
            result = Result(prepared.source, record.access_key or None, record.key.order_id, record.key.invoice_number,
                            CONFLICT, reason=reason, code="pipeline.conflict")
            self._emit(result)
            return result
        if outcome.outcome is EnqueueOutcome.REFUSED or stored.state in {State.REFUSED} | _DONE:
            result = Result.of_record(stored, file=prepared.source)
            if stored.state is State.REFUSED and prepared.code:
                result = Result(**{**result.__dict__, "code": prepared.code})
            self._emit(result)
            return result
        self._files.setdefault(record.key, []).append(prepared.source)  # a duplicate file waits as well
        same = stored.payload_sha256 == record.payload_sha256
        if prepared.facts is not None and prepared.template is not None and same:
            self._facts[record.key] = (prepared.facts, prepared.template, record.payload_sha256)
        return Result.of_record(stored, file=prepared.source)

    # ---------------------------------------------------------------- drain

    def stop(self) -> None:
        """Ask the loop to stop claiming; what is in flight finishes (or is released) and run() returns."""
        self._stopping.set()

    async def run(self, *, drain: bool = True, feeding: asyncio.Event | None = None) -> Tally:
        """Claim and deliver until the journal has nothing pending (``drain``) or until :meth:`stop`.

        ``feeding`` (when given) is set by the producer once every document is enqueued: draining does not
        end before that. Records another live worker holds are waited for; expired ones are taken over.
        """
        if self.client is None:
            raise ConfigurationError("delivering needs a VTEX client (an account or a base URL)")
        tasks: set[asyncio.Task[None]] = set()
        self._journal_error = None
        try:
            # A record that failed in an earlier run (VTEX unreachable, or refusing after the retries) is retried
            # by the next one, whatever feeds it: batch, worker, serve or watch (a hook keeps no file to enqueue
            # again). Once, before anything is claimed, so a record that fails in this run waits for the next
            # one. A batch's file enqueued meanwhile finds its record queued, sending or done, and is reported
            # with it.
            self.journal.requeue_failed(self.options.account)
        except JournalError as exc:
            self._journal_error = exc
        renewer = asyncio.create_task(self._renew_leases())
        try:
            while not self._stopping.is_set() and self._journal_error is None:
                # Claim in batches (half the slots free, or none busy): one journal transaction feeds several
                # deliveries instead of one per finished invoice.
                free = self.concurrency - len(tasks)
                wanted = free if (free * 2 >= self.concurrency or not tasks) else 0
                try:
                    claims = (
                        self.journal.claim(self.owner, limit=wanted, lease_seconds=self.lease_seconds,
                                           account=self.options.account)
                        if wanted else []
                    )
                except JournalError as exc:
                    self._journal_error = exc
                    break
                for claim in claims:
                    self._held[claim.record.key] = claim
                    task = asyncio.create_task(self._deliver(claim))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                if claims:
                    await asyncio.sleep(0)
                    continue
                if drain and not tasks and (feeding is None or feeding.is_set()):
                    try:
                        if self.journal.pending(self.options.account) == 0:
                            break
                    except JournalError as exc:
                        self._journal_error = exc
                        break
                waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(asyncio.sleep(self.poll_interval))]
                if tasks:
                    waiters.extend(tasks)
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                waiters[0].cancel()
            if tasks:
                await asyncio.wait(tasks)
        finally:
            renewer.cancel()
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            if self._journal_error is None:
                for claim in list(self._held.values()):  # interrupted: give back what was not finished
                    with contextlib.suppress(NfeInvoiceError):
                        self.journal.release(claim)
            self._held.clear()  # with the journal out of reach, the leases expire on their own
        if self._journal_error is not None:
            raise self._journal_error
        return self.tally

    async def keep_running(self, *, pause: float = 1.0) -> None:
        """The worker inside a long-running hook (serve, watch): deliver until :meth:`stop`; a journal outage
        pauses it for ``pause`` seconds and it carries on, it never ends the service."""
        while not self._stopping.is_set():
            try:
                await self.run(drain=False)
                return
            except NfeInvoiceError as exc:
                logger.error("worker paused for %g s: %s", pause, exc)
                await asyncio.sleep(pause)

    async def _deliver(self, claim: Claim) -> None:
        record = claim.record
        assert self.client is not None
        try:
            facts, template, payload_sha256 = self._facts.pop(record.key, (None, record.payload, record.payload_sha256))
            if payload_sha256 != record.payload_sha256:  # replaced meanwhile (another process enqueued a new copy)
                facts, template = None, record.payload
            # the claim itself reads the XML, and only when it is needed (not when the facts are kept here)
            outcome = await deliver(record.key.order_id, _claimed_document(claim), template, self.client, self.options,
                                    invoice_number=record.key.invoice_number, facts=facts)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must not stop the batch: the record fails with the reason
            outcome = Outcome(State.FAILED, reason=f"internal error while sending ({type(exc).__name__}: {exc})",
                              code="internal.error")
        if self._journal_error is not None:  # the journal is out of reach: leave the record to its lease
            self._held.pop(record.key, None)
            return
        try:
            written = self.journal.finish(
                claim,
                outcome.state,
                receipt=outcome.receipt,
                reason=outcome.reason,
                decision=outcome.decision,
                sent_payload=outcome.sent_payload,
            )
        except NfeInvoiceError as exc:
            # The journal is out of reach: stop renewing the lease, so the record is taken again once it
            # expires, its order checked first (an invoice that did land becomes delivered-already).
            logger.error("the outcome of invoice %s of order %s (%s) could not be recorded: %s",
                         record.key.invoice_number, record.key.order_id, outcome.state.value, exc)
            self._held.pop(record.key, None)
            if isinstance(exc, JournalError):
                self._journal_error = exc  # stop claiming; run() ends with it
            return
        self._held.pop(record.key, None)
        if not written:  # fenced out: a newer holder owns the record and will report it
            return
        files = self._files.pop(record.key, None)
        if files is None:  # enqueued elsewhere: a worker reports it; a batch reports only its own documents
            files = [record.source] if self.report_all else []
        for file in files:
            self._emit(Result(file, record.access_key or None, record.key.order_id, record.key.invoice_number,
                              outcome.state.value, receipt=outcome.receipt, reason=outcome.reason,
                              code=outcome.code, decision=outcome.decision))

    async def _renew_leases(self) -> None:
        interval = max(0.05, self.lease_seconds / 3)
        while True:
            await asyncio.sleep(interval)
            for key, claim in list(self._held.items()):
                if self._journal_error is not None:
                    return
                try:
                    if not self.journal.renew(claim, self.lease_seconds):
                        self._held.pop(key, None)
                except JournalError as exc:
                    self._journal_error = exc  # out of reach: run() stops claiming and ends with it
                    return

    def _emit(self, result: Result) -> None:
        self.tally.add(result.state)
        self.on_result(result)

    def unreported(self) -> list[RecordKey]:
        """Records this runner enqueued whose outcome another process (or an earlier run) will decide."""
        return list(self._files)

    def pending_results(self, keys: Iterable[RecordKey]) -> list[Result]:
        """Final results, read from the journal, of records another process finished for us."""
        results: list[Result] = []
        for key in keys:
            record = self.journal.get(key)
            self._facts.pop(key, None)
            if record is not None:
                results.extend(Result.of_record(record, file=file) for file in self._files.pop(key, [None]))
        return results


_DONE: Final = frozenset({State.SENT, State.DELIVERED_ALREADY})


def _claimed_document(claim: Claim) -> Callable[[], bytes]:
    """The claim's XML, decompressed when called (a bound property getter would decompress it at once)."""
    return lambda: claim.document


def error_findings(findings: Iterable[Mapping[str, Any]] | None) -> tuple[Mapping[str, Any], ...]:
    """The error findings among ``findings`` (what a refusal shows; warnings and info stay in the journal)."""
    return tuple(f for f in findings or () if f.get("severity") == "error")


def conflict_reason(record: Record) -> str:
    """Why a document is not taken under a record already stored (every entry point): a different payload
    for an invoice number VTEX already holds, or another document already queued under the same key."""
    if record.state is State.QUEUED:
        return (f"invoice {record.key.invoice_number} of order {record.key.order_id} is already queued for "
                f"another copy or document (access key {record.access_key or 'unknown'}); this one is not stored, "
                "and the queued one is kept. Two NF-e of one order cannot share an invoice number: numbers repeat "
                "across series, so a format with the series ({serie}-{nNF}) tells them apart")
    return (f"invoice {record.key.invoice_number} of order {record.key.order_id} was already sent to VTEX "
            f"({record.state.value}) with a different payload; an invoice number can never be corrected once sent")


def dumps(result: Result) -> str:
    """One JSON line for machines."""
    return json.dumps(result.to_dict(), ensure_ascii=False)
