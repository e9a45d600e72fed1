"""``nfe-invoice validate``: one report per document, text for people or JSON lines for machines."""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import multiprocessing.context
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from .. import schema
from ..errors import InputError, NfeInvoiceError
from ..events import Cancellation, NotACancellationError, read_cancellation
from ..findings import Report
from ..signature import BUNDLED_TRUST_STORES, TrustStore, bundled_trust_store, load_trust_store
from ..validate import ValidationOptions, validate_each
from .common import EXIT_NOT_OK, EXIT_OK, Subcommands, UsageError, expand_paths, finding_line, parse_moment

_CERTIFICATE = "_certificate"
_WORKER_OPTIONS: ValidationOptions | None = None
_WORKER_EVENTS: list[Cancellation] = []
#: Fewer documents than this are validated in this process: starting workers would cost more than it saves.
_PARALLEL_FROM = 16


def _looks_like_event(path: Path) -> bool:
    """A cheap look at the head of a file: is it a procEventoNFe (read fully only if so)?

    Every path is looked at before any is validated (an event cancels another file's document), so this
    runs serially in the parent: plain descriptors, no file object, halve its cost (3.5 us per file).
    """
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        head = os.read(descriptor, 600)
    except OSError:
        return False
    finally:
        os.close(descriptor)
    return b"procEventoNFe" in head


def collect_cancellations(files: Sequence[Path], options: ValidationOptions) -> list[Cancellation]:
    events = []
    for path in files:
        if _looks_like_event(path):
            try:
                events.append(read_cancellation(path, schema_dir=options.schema_dir, max_bytes=options.max_bytes))
            except (NotACancellationError, InputError):
                continue
    return events


def print_text_report(report: dict[str, Any], out: TextIO) -> None:
    mark = "OK  " if report["ok"] else "FAIL"
    key = f"  key {report['access_key']}" if report.get("access_key") else ""
    counts: dict[str, int] = {}
    for finding in report["findings"]:
        counts[finding["severity"]] = counts.get(finding["severity"], 0) + 1
    summary = ", ".join(f"{count} {severity}{'s' if count > 1 else ''}" for severity, count in counts.items())
    # "authorised": SEFAZ's protocol is bound to this very document; its policy findings read as warnings.
    authorised = "  authorised by SEFAZ" if report.get("authorized") else ""
    out.write(f"{mark} {report['file']}{key}{authorised}{'  (' + summary + ')' if summary else ''}\n")
    if report.get(_CERTIFICATE):
        out.write(f"  signed by {report[_CERTIFICATE]}\n")
    for finding in report["findings"]:
        out.write(finding_line(finding) + "\n")


# --- the worker pool --------------------------------------------------------------------------------------
# Workers are started once (forked after the schemas are compiled, so none compiles its own), receive
# chunks of paths (small str lists: cheap to send) and send back each document's output already rendered,
# so the parent only writes strings, in input order, as chunks complete (streamed: memory stays flat).

_WORKER_FORMAT = "json"


def _init_worker(options: ValidationOptions, events: list[Cancellation], output_format: str = "json") -> None:
    global _WORKER_OPTIONS, _WORKER_EVENTS, _WORKER_FORMAT
    _WORKER_OPTIONS, _WORKER_EVENTS, _WORKER_FORMAT = options, events, output_format


def _report_of(path: str, report: Report) -> dict[str, Any]:
    result = report.to_dict()
    result["file"] = path
    certificate = report.facts.get("certificate")
    # Shown to people only (not part of the JSON contract), so made only for them (3 us a document).
    if certificate is not None and _WORKER_FORMAT == "text":
        result[_CERTIFICATE] = (
            f"{certificate.subject} (CNPJ {certificate.cnpj or 'none'}), serial {certificate.serial}, "
            f"valid {certificate.not_before:%Y-%m-%d} to {certificate.not_after:%Y-%m-%d}, "
            f"issued by {certificate.issuer}"
        )
    return result


def render_report(report: dict[str, Any], output_format: str) -> str:
    """One document's output: a JSON line (the contract: no certificate text) or the text block."""
    if output_format == "json":
        report.pop(_CERTIFICATE, None)
        return json.dumps(report, ensure_ascii=False) + "\n"
    buffer = io.StringIO()
    print_text_report(report, buffer)
    return buffer.getvalue()


def _render_chunk(paths: list[str]) -> list[tuple[bool, str]]:
    """Validate a chunk of paths in a worker: (ok, rendered output) per document, in order."""
    assert _WORKER_OPTIONS is not None
    rendered = []
    validated = validate_each(paths, _WORKER_OPTIONS, cancellations=_WORKER_EVENTS)  # phase by phase, see there
    for path, one in zip(paths, validated, strict=True):
        report = _report_of(path, one.report)
        rendered.append((bool(report["ok"]), render_report(report, _WORKER_FORMAT)))
    return rendered


def _chunks(names: list[str], jobs: int) -> Iterator[list[str]]:
    """Chunks of paths for the workers: a few small ones first (the first lines appear at once), then each
    a quarter of an even share of what is left, between 4 and 64 paths: few round trips while much is
    left, and small chunks at the end, so no worker finishes a long chunk alone while the others idle."""
    start = 0
    for size in (jobs, 2 * jobs, 4 * jobs):
        if start >= len(names):
            return
        yield names[start:start + size]
        start += size
    while start < len(names):
        size = max(4, min(64, (len(names) - start) // (4 * jobs)))
        yield names[start:start + size]
        start += size


def _pool_context() -> multiprocessing.context.BaseContext:
    # fork: workers inherit the imported modules and the compiled schemas, so they start in milliseconds.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)


def iter_rendered(
    files: Sequence[Path], options: ValidationOptions, jobs: int, output_format: str = "json"
) -> Iterator[tuple[bool, str]]:
    """Validate every file (in worker processes when ``jobs`` > 1), yielding (ok, output) in input order."""
    events = collect_cancellations(files, options)
    names = [str(path) for path in files]
    if jobs <= 1 or len(names) < _PARALLEL_FROM:
        _init_worker(options, events, output_format)
        for name in names:
            yield from _render_chunk([name])
        return
    workers = min(jobs, len(names))
    with _pool_context().Pool(workers, initializer=_init_worker, initargs=(options, events, output_format)) as pool:
        for rendered in pool.imap(_render_chunk, _chunks(names, workers)):
            yield from rendered


def trust_store_option(value: str | None) -> TrustStore | None:
    """``--trust-store``: a bundled store's name or a PEM path; unusable is a usage error."""
    try:
        if value in BUNDLED_TRUST_STORES:
            return bundled_trust_store(value)
        if value:
            return load_trust_store(value)
    except NfeInvoiceError as exc:
        raise UsageError(f"--trust-store: {exc}") from exc
    return None


def validation_options(args: argparse.Namespace) -> ValidationOptions:
    """The validation options shared by every command that validates, checked once up front."""
    options = ValidationOptions(
        trust_store=trust_store_option(getattr(args, "trust_store", None)),
        now=parse_moment(getattr(args, "now", None)),
        schema_dir=Path(args.schema_dir) if getattr(args, "schema_dir", None) else None,
        strict=bool(getattr(args, "strict", False)),
    )
    try:  # a schema set that cannot be used is the command line's fault, not the documents'
        for root_tag in ("nfeProc", "NFe"):
            schema.schema_for(root_tag, options.schema_dir)
    except schema.SchemaError as exc:
        raise UsageError(f"--schema-dir: {exc}") from exc
    return options


def add_validation_options(parser: argparse.ArgumentParser) -> None:
    """``--trust-store``, ``--now`` and ``--schema-dir``, for every command that validates."""
    parser.add_argument("--trust-store", metavar="PEM",
                        help="root (and intermediate) certificates that signing chains must reach: a PEM file, "
                        f"or the name of a bundled store ({', '.join(sorted(BUNDLED_TRUST_STORES))})")
    parser.add_argument("--now", metavar="ISO", help="reference time for the receipt-time rules when a "
                        "document has no protocol (e.g. 2026-11-20T14:30:00-03:00)")
    parser.add_argument("--schema-dir", metavar="DIR", help="a newer official XSD set to validate against")


def cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    files = expand_paths(args.paths)
    options = validation_options(args)
    total = failed = 0
    for ok, rendered in iter_rendered(files, options, args.jobs, args.format):
        total += 1
        failed += not ok
        out.write(rendered)
    if args.format == "text":
        out.write(f"\n{total} document(s): {total - failed} ok, {failed} not ok\n")
    return EXIT_OK if failed == 0 else EXIT_NOT_OK


def register(commands: Subcommands[argparse.ArgumentParser]) -> None:
    validate = commands.add_parser("validate", help="validate NF-e files or folders")
    validate.add_argument("paths", nargs="+", metavar="PATH", help="an XML file, or a folder walked for *.xml")
    validate.add_argument("--format", choices=("text", "json"), default="text",
                          help="text for people, json for machines (one object per document per line)")
    add_validation_options(validate)
    validate.add_argument("--strict", action="store_true",
                          help="keep every finding at its normal severity, for audits: without it, on a document "
                          "SEFAZ authorised, a policy rule's error becomes a warning (the authority's verdict "
                          "outranks the rule; `nfe-invoice codes` shows each rule's class)")
    validate.add_argument("--jobs", type=int, default=os.cpu_count() or 1, metavar="N",
                          help="worker processes for large folders (default: number of cores)")
    validate.set_defaults(handler=cmd_validate)
