"""``nfe-invoice demo``: the README's main job on the embedded default (the bundled samples)."""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path
from typing import TextIO

from ..findings import Report, Severity
from ..model import NFeDocument
from ..validate import ValidationOptions, validate_full
from .common import EXIT_NOT_OK, EXIT_OK, Subcommands, finding_line


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
                out.write(finding_line(finding.to_dict()) + "\n")
        as_expected = as_expected and report.ok == expected_ok
    out.write(f"\n{'every sample got the verdict it should' if as_expected else 'UNEXPECTED verdicts above'}\n")
    return EXIT_OK if as_expected else EXIT_NOT_OK


def register(commands: Subcommands[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser("demo", help="validate and show the bundled sample documents")
    demo.add_argument("--verbose", action="store_true", help="also show info findings")
    demo.set_defaults(handler=cmd_demo)
