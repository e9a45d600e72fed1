"""What the two ERP hooks (the HTTP service and the watched folder) share: taking one document in.

An ERP hands over one XML at a time, by HTTP (:mod:`.server`) or by dropping it in a folder (:mod:`.watch`).
Both do the same three things, here, once:

1. **prepare** it (validate, find the order id, map: :func:`nfe_invoice.pipeline.prepare`) in a pool of
   worker processes, because that is CPU work (signature, XSD, ~140 rules) that would otherwise stall the
   event loop serving every other request;
2. **enqueue** it in the journal, on the event loop's thread, where the :class:`~nfe_invoice.pipeline.Runner`
   (the worker inside) makes its own journal calls: one place, one short transaction each, so a backend never
   sees two threads of ours at once. The journal decides idempotency (same key and payload: nothing changes);
3. say what happened as an :class:`Intake`: ``queued`` (new), ``duplicate`` (already received, the stored
   record unchanged), ``refused`` (findings or decision) or ``conflict`` (an invoice number VTEX already holds,
   with a different payload). The HTTP service maps these to 202/200/422/409; the folder to ``done/`` or
   ``refused/``.

Nothing here imports FastAPI or watchfiles, so each hook pays only for its own library.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

from . import schema
from .journal import EnqueueOutcome, Journal, Record, State
from .pipeline import CONFLICT, PipelineOptions, Prepared, Result, conflict_reason, error_findings, prepare
from .validate import validate_full

logger = logging.getLogger("nfe_invoice.hooks")

#: Codes of intake answers decided here (pipeline and mapping refusals carry their own).
CONFLICT_CODE: Final = "pipeline.conflict"


class IntakeOutcome(enum.StrEnum):
    QUEUED = "queued"  # a new record (or a failed one queued again): the worker will send it
    DUPLICATE = "duplicate"  # the same document was already received: the stored record is unchanged
    REFUSED = "refused"  # validation, mapping or the order id said no; never sent
    CONFLICT = "conflict"  # a different payload for an invoice number VTEX already holds; not stored


@dataclass(frozen=True)
class Intake:
    """What became of one document handed over by an ERP."""

    outcome: IntakeOutcome
    record: Record | None
    code: str | None = None
    reason: str | None = None
    findings: tuple[Mapping[str, Any], ...] = ()
    report: Mapping[str, Any] | None = None
    warnings: tuple[str, ...] = ()

    @property
    def accepted(self) -> bool:
        """Queued now or before: the journal holds it and a worker delivers (or delivered) it."""
        return self.outcome in (IntakeOutcome.QUEUED, IntakeOutcome.DUPLICATE)

    def result(self, file: str | None) -> Result:
        """The line ``batch``/``watch`` print for it (state: the record's, or ``refused``/``conflict``)."""
        record = self.record
        state = {IntakeOutcome.REFUSED: State.REFUSED.value, IntakeOutcome.CONFLICT: CONFLICT}.get(
            self.outcome, record.state.value if record is not None else State.REFUSED.value)
        access_key = record.access_key if record is not None else (self.report or {}).get("access_key")
        return Result(file, access_key or None, record.key.order_id or None if record else None,
                      record.key.invoice_number if record else None, state,
                      receipt=record.receipt if record is not None else None, reason=self.reason, code=self.code,
                      findings=self.findings, warnings=self.warnings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "code": self.code,
            "reason": self.reason,
            "findings": [dict(f) for f in self.findings],
            "warnings": list(self.warnings),
            "record": self.record.to_dict() if self.record is not None else None,
            "report": dict(self.report) if self.report is not None else None,
        }


def decide(prepared: Prepared, journal: Journal, *, force: bool = False) -> Intake:
    """Store a prepared document in the journal and say what happened (call it where the journal lives)."""
    entry = prepared.record
    report = prepared.report
    if entry is None:  # not even keyable (unreadable XML, a file that vanished): nothing to store
        return Intake(IntakeOutcome.REFUSED, None, code=prepared.code, reason=prepared.reason,
                      findings=error_findings((report or {}).get("findings")), report=report)
    stored = journal.enqueue(entry, force=force)
    record = stored.record
    if stored.outcome is EnqueueOutcome.CONFLICT:
        return Intake(IntakeOutcome.CONFLICT, record, code=CONFLICT_CODE, reason=conflict_reason(record),
                      report=report)
    if record.state is State.REFUSED:
        code = prepared.code or _code_of(record.reason)  # refused again or before: refused all the same
        return Intake(IntakeOutcome.REFUSED, record, code=code, reason=prepared.reason or record.reason,
                      findings=error_findings(record.findings), report=report)
    outcome = IntakeOutcome.DUPLICATE if stored.outcome is EnqueueOutcome.UNCHANGED else IntakeOutcome.QUEUED
    return Intake(outcome, record, report=report, warnings=prepared.warnings)


def _code_of(reason: str | None) -> str | None:
    """The code a refused record's reason starts with (``[code] text``, as the pipeline writes it)."""
    if reason and reason.startswith("[") and "]" in reason:
        return reason[1 : reason.index("]")]
    return None


# ------------------------------------------------------------------------------------ the worker pool

#: This worker process's options (set once by the pool's initializer, not sent with every document).
_OPTIONS: dict[str, PipelineOptions] = {}


def _init_worker(options: PipelineOptions, parent: int | None = None) -> None:
    _OPTIONS["options"] = options
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent,), name="parent-watch", daemon=True).start()


def _exit_with(parent: int) -> None:
    """End this worker once its parent is gone (killed with SIGKILL, say): orphans would otherwise live on,
    holding the parent's pipes open, until the machine restarts."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def _prepare_in_worker(raw: bytes, name: str | None, order_id: str | None) -> Prepared:
    options = _OPTIONS["options"]
    if order_id is not None:
        options = dataclasses.replace(options, order_id=order_id)
    return prepare(raw, options, name=name)


def _validate_in_worker(raw: bytes) -> tuple[dict[str, Any], bool]:
    """The report ``validate --format json`` prints (``file`` is None: the body has no name), and whether
    the input could be read as an NF-e at all."""
    validated = validate_full(raw, _OPTIONS["options"].validation)
    report = validated.report.to_dict()
    report["file"] = None
    return report, validated.document is not None


class Preparer:
    """A pool that validates and maps documents off the event loop.

    ``jobs`` processes (forked after the XSD set is compiled here, so none compiles its own); ``jobs=0``
    uses one thread of this process instead (lxml releases the GIL for much of the work; for small
    deployments and tests, where a process per core is not worth its memory).
    """

    def __init__(self, options: PipelineOptions, *, jobs: int | None = None) -> None:
        self.options = options
        self.jobs = (os.cpu_count() or 1) if jobs is None else max(0, jobs)
        self._executor: Executor | None = None

    def start(self) -> None:
        if self._executor is not None:
            return
        for root_tag in ("nfeProc", "NFe"):  # compiled once, inherited by every forked worker
            schema.schema_for(root_tag, self.options.validation.schema_dir)
        _init_worker(self.options)
        if self.jobs == 0:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nfe-prepare")
            return
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else None)
        executor = ProcessPoolExecutor(max_workers=self.jobs, mp_context=context, initializer=_init_worker,
                                       initargs=(self.options, os.getpid()))
        executor.submit(int).result()  # start the workers now, not in the middle of the first request
        self._executor = executor

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def _pool(self) -> Executor:
        if self._executor is None:
            self.start()
        assert self._executor is not None
        return self._executor

    async def prepare(self, raw: bytes, *, name: str | None = None, order_id: str | None = None) -> Prepared:
        prepared: Prepared = await self._run(_prepare_in_worker, raw, name, order_id)
        return prepared

    async def validate(self, raw: bytes) -> tuple[dict[str, Any], bool]:
        validated: tuple[dict[str, Any], bool] = await self._run(_validate_in_worker, raw)
        return validated

    async def _run(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)`` in the pool. A pool whose worker process died (the OOM killer, a kill) is broken
        for good: it is replaced, and the call tried once more, so one lost process does not fail every
        later document. A document that kills its worker again gets the error."""
        loop = asyncio.get_running_loop()
        for attempt in (1, 2):
            executor = self._pool()
            try:
                return await loop.run_in_executor(executor, function, *args)
            except BrokenExecutor:
                if self._executor is executor:
                    logger.warning("a validating worker process died; its pool is started again")
                    self._executor = None
                    executor.shutdown(wait=False, cancel_futures=True)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")
