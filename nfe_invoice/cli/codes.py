"""``nfe-invoice codes``: the table of every finding code, generated from the code itself.

Each code shows its class: ``integrity`` and ``invariant`` findings are errors whatever the protocol
says; a ``policy`` finding becomes a warning on a document SEFAZ authorised (unless ``--strict``).
"""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from ..validate import all_codes
from .common import EXIT_OK, Subcommands


def codes_markdown() -> str:
    """The table of every finding code, generated from the code itself (the README embeds it)."""
    lines = ["| code | SEFAZ | severity | class | meaning |", "| --- | --- | --- | --- | --- |"]
    seen: set[str] = set()
    for info in all_codes():
        if info.code in seen:
            continue
        seen.add(info.code)
        meaning = info.description.replace("|", "\\|")
        lines.append(
            f"| `{info.code}` | {info.sefaz or ''} | {info.severity.value} | {info.code_class.value} | {meaning} |"
        )
    return "\n".join(lines) + "\n"


def cmd_codes(args: argparse.Namespace, out: TextIO) -> int:
    if args.format == "json":
        rows = [{"code": i.code, "sefaz": i.sefaz, "severity": i.severity.value, "class": i.code_class.value,
                 "meaning": i.description} for i in all_codes()]
        out.write(json.dumps(rows, ensure_ascii=False, indent=1) + "\n")
    else:
        out.write(codes_markdown())
    return EXIT_OK


def register(commands: Subcommands[argparse.ArgumentParser]) -> None:
    codes = commands.add_parser(
        "codes", help="list every finding code with its SEFAZ code, severity, class (integrity, invariant, policy) "
        "and meaning"
    )
    codes.add_argument("--format", choices=("markdown", "json"), default="markdown")
    codes.set_defaults(handler=cmd_codes)
