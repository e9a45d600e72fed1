"""The ``nfe-invoice`` command line: argument parsing and printing over the public API, nothing else.

Exit status (every command): 0 success / every document ok, 1 at least one document not ok,
2 usage error (bad option, missing path, unreadable trust store).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from . import __version__, schema
from .errors import InputError, NfeInvoiceError
from .events import Cancellation, NotACancellationError, read_cancellation
from .findings import Report, Severity
from .model import NFeDocument
from .signature import BUNDLED_TRUST_STORES, bundled_trust_store, load_trust_store
from .validate import ValidationOptions, all_codes, validate_full

EXIT_OK, EXIT_NOT_OK, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A problem with the command line itself (exit status 2)."""


# ----------------------------------------------------------------------------------------- helpers


def _parse_now(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise UsageError(f"--now: {text!r} is not an ISO 8601 date-time") from exc
    if moment.tzinfo is None:
        raise UsageError("--now needs a UTC offset, e.g. 2026-11-20T14:30:00-03:00")
    return moment


def expand_paths(paths: Sequence[str]) -> list[Path]:
    """Files as given, and every ``*.xml`` below each folder (sorted, so output order is stable)."""
    files: list[Path] = []
    for text in paths:
        path = Path(text)
        if path.is_dir():
            found = [
                Path(folder, name)
                for folder, _, names in os.walk(path)  # symlinked folders are not entered (no loops)
                for name in names
                if name.lower().endswith(".xml")
            ]
            files.extend(sorted(p for p in found if p.is_file()))
        elif path.exists():
            files.append(path)
        else:
            raise UsageError(f"no such file or folder: {text}")
    return files


def _looks_like_event(path: Path) -> bool:
    """A cheap look at the head of a file: is it a procEventoNFe (read fully only if so)?"""
    try:
        with path.open("rb") as handle:
            head = handle.read(600)
    except OSError:
        return False
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


# ------------------------------------------------------------------------------------------ output


def _finding_line(finding: dict[str, Any]) -> str:
    code = finding["code"] + (f"/{finding['sefaz']}" if finding.get("sefaz") else "")
    where = f"\n      at {finding['xpath']}" if finding.get("xpath") else ""
    return f"  {finding['severity'].upper():<7} [{code}] {finding['message']}{where}"


def print_text_report(report: dict[str, Any], out: TextIO) -> None:
    mark = "OK  " if report["ok"] else "FAIL"
    key = f"  key {report['access_key']}" if report.get("access_key") else ""
    counts: dict[str, int] = {}
    for finding in report["findings"]:
        counts[finding["severity"]] = counts.get(finding["severity"], 0) + 1
    summary = ", ".join(f"{count} {severity}{'s' if count > 1 else ''}" for severity, count in counts.items())
    out.write(f"{mark} {report['file']}{key}{'  (' + summary + ')' if summary else ''}\n")
    if report.get(_CERTIFICATE):
        out.write(f"  signed by {report[_CERTIFICATE]}\n")
    for finding in report["findings"]:
        out.write(_finding_line(finding) + "\n")


# --------------------------------------------------------------------------------------- validate

_CERTIFICATE = "_certificate"
_WORKER_OPTIONS: ValidationOptions | None = None
_WORKER_EVENTS: list[Cancellation] = []


def _init_worker(options: ValidationOptions, events: list[Cancellation]) -> None:
    global _WORKER_OPTIONS, _WORKER_EVENTS
    _WORKER_OPTIONS, _WORKER_EVENTS = options, events


def _validate_one(path: str) -> dict[str, Any]:
    assert _WORKER_OPTIONS is not None
    report = validate_full(path, _WORKER_OPTIONS, cancellations=_WORKER_EVENTS).report
    result = report.to_dict()
    result["file"] = path
    certificate = report.facts.get("certificate")
    if certificate is not None:  # shown to people; not part of the JSON contract
        result[_CERTIFICATE] = (
            f"{certificate.subject} (CNPJ {certificate.cnpj or 'none'}), serial {certificate.serial}, "
            f"valid {certificate.not_before:%Y-%m-%d} to {certificate.not_after:%Y-%m-%d}, "
            f"issued by {certificate.issuer}"
        )
    return result


def iter_reports(files: Sequence[Path], options: ValidationOptions, jobs: int) -> Iterator[dict[str, Any]]:
    """Validate every file (in parallel when ``jobs`` > 1), yielding report dicts in input order."""
    events = collect_cancellations(files, options)
    names = [str(path) for path in files]
    if jobs <= 1 or len(names) < 64:
        _init_worker(options, events)
        yield from map(_validate_one, names)
        return
    chunk = max(8, min(256, len(names) // (jobs * 8)))
    # The schemas are compiled already (cmd_validate): forked workers inherit them, none compiles its own.
    with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=(options, events)) as pool:
        yield from pool.map(_validate_one, names, chunksize=chunk)


def cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    files = expand_paths(args.paths)
    try:
        store = None
        if args.trust_store in BUNDLED_TRUST_STORES:
            store = bundled_trust_store(args.trust_store)
        elif args.trust_store:
            store = load_trust_store(args.trust_store)
    except NfeInvoiceError as exc:
        raise UsageError(f"--trust-store: {exc}") from exc
    options = ValidationOptions(
        trust_store=store,
        now=_parse_now(args.now),
        schema_dir=Path(args.schema_dir) if args.schema_dir else None,
    )
    try:  # a schema set that cannot be used is the command line's fault, not the documents'
        for root_tag in ("nfeProc", "NFe"):
            schema.schema_for(root_tag, options.schema_dir)
    except schema.SchemaError as exc:
        raise UsageError(f"--schema-dir: {exc}") from exc
    all_ok = True
    total = failed = 0
    for report in iter_reports(files, options, args.jobs):
        total += 1
        if not report["ok"]:
            all_ok = False
            failed += 1
        if args.format == "json":
            report.pop(_CERTIFICATE, None)
            out.write(json.dumps(report, ensure_ascii=False) + "\n")
        else:
            print_text_report(report, out)
    if args.format == "text":
        out.write(f"\n{total} document(s): {total - failed} ok, {failed} not ok\n")
    return EXIT_OK if all_ok else EXIT_NOT_OK


# ------------------------------------------------------------------------------------------- demo


def sample_paths() -> list[Path]:
    """The sample documents shipped in the package."""
    folder = Path(str(resources.files("nfe_invoice.samples")))
    return sorted(folder.glob("*.xml"))


def describe(document: NFeDocument, out: TextIO) -> None:
    emit = document.emit
    total = document.totals
    out.write(f"  key      {document.access_key}\n")
    out.write(f"  model    {document.model} ({'NFC-e' if document.is_nfce else 'NF-e'}), series "
              f"{document.ide.serie}, number {document.ide.nNF}, issued {document.ide.dhEmi}\n")
    out.write(f"  emitter  {emit.xNome} ({emit.document})\n")
    for item in document.items[:5]:
        prod = item.prod
        if prod is not None:
            out.write(f"  item {item.nItem:>3} {prod.cProd} {prod.xProd}: {prod.qCom} x {prod.vUnCom} = {prod.vProd}\n")
    if len(document.items) > 5:
        out.write(f"  ... and {len(document.items) - 5} more items\n")
    out.write(f"  total    vProd {total.vProd}  vDesc {total.vDesc}  vFrete {total.vFrete}  vNF {total.vNF}\n")


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    """Read and validate the bundled sample documents and show what was read.

    A sample whose name starts with ``broken_`` is meant to fail (it shows what a finding looks like);
    the demo succeeds when every sample gets the verdict its name promises.
    """
    options = ValidationOptions()
    as_expected = True
    out.write("nfe-invoice demo: reading and validating the sample documents shipped with the package\n")
    for path in sample_paths():
        validated = validate_full(path, options)
        report: Report = validated.report
        expected_ok = not path.name.split("_", 1)[1].startswith("broken_")
        verdict = "valid" if report.ok else "NOT valid"
        note = "" if report.ok == expected_ok else "  <-- unexpected!"
        out.write(f"\n{path.name}: {verdict}{note}\n")
        if validated.document is not None:
            describe(validated.document, out)
        for finding in report.findings:
            if finding.severity is not Severity.INFO or args.verbose:
                out.write(_finding_line(finding.to_dict()) + "\n")
        as_expected = as_expected and report.ok == expected_ok
    out.write(f"\n{'every sample got the verdict it should' if as_expected else 'UNEXPECTED verdicts above'}\n")
    return EXIT_OK if as_expected else EXIT_NOT_OK


def codes_markdown() -> str:
    """The table of every finding code, generated from the code itself (the README embeds it)."""
    lines = ["| code | SEFAZ | severity | meaning |", "| --- | --- | --- | --- |"]
    seen: set[str] = set()
    for info in all_codes():
        if info.code in seen:
            continue
        seen.add(info.code)
        meaning = info.description.replace("|", "\\|")
        lines.append(f"| `{info.code}` | {info.sefaz or ''} | {info.severity.value} | {meaning} |")
    return "\n".join(lines) + "\n"


def cmd_codes(args: argparse.Namespace, out: TextIO) -> int:
    if args.format == "json":
        rows = [{"code": i.code, "sefaz": i.sefaz, "severity": i.severity.value, "meaning": i.description}
                for i in all_codes()]
        out.write(json.dumps(rows, ensure_ascii=False, indent=1) + "\n")
    else:
        out.write(codes_markdown())
    return EXIT_OK


# ------------------------------------------------------------------------------------------ parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nfe-invoice",
        description="Validate Brazilian NF-e 4.00 documents and turn them into VTEX invoice notifications.",
    )
    parser.add_argument("--version", action="version", version=f"nfe-invoice {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    validate = commands.add_parser("validate", help="validate NF-e files or folders")
    validate.add_argument("paths", nargs="+", metavar="PATH", help="an XML file, or a folder walked for *.xml")
    validate.add_argument("--format", choices=("text", "json"), default="text",
                          help="text for people, json for machines (one object per document per line)")
    validate.add_argument("--trust-store", metavar="PEM",
                          help="root (and intermediate) certificates that signing chains must reach: a PEM file, "
                          f"or the name of a bundled store ({', '.join(sorted(BUNDLED_TRUST_STORES))})")
    validate.add_argument("--now", metavar="ISO", help="reference time for the receipt-time rules when a "
                          "document has no protocol (e.g. 2026-11-20T14:30:00-03:00)")
    validate.add_argument("--schema-dir", metavar="DIR", help="a newer official XSD set to validate against")
    validate.add_argument("--jobs", type=int, default=os.cpu_count() or 1, metavar="N",
                          help="worker processes for large folders (default: number of cores)")
    validate.set_defaults(handler=cmd_validate)

    codes = commands.add_parser("codes", help="list every finding code with its SEFAZ code and meaning")
    codes.add_argument("--format", choices=("markdown", "json"), default="markdown")
    codes.set_defaults(handler=cmd_codes)

    demo = commands.add_parser("demo", help="validate and show the bundled sample documents")
    demo.add_argument("--verbose", action="store_true", help="also show info findings")
    demo.set_defaults(handler=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    stream = out or sys.stdout
    try:
        code: int = args.handler(args, stream)
    except UsageError as exc:
        sys.stderr.write(f"nfe-invoice: error: {exc}\n")
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_OK
    return code


if __name__ == "__main__":
    sys.exit(main())
