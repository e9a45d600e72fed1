"""``nfe-invoice config``: the effective configuration, where each value came from, secrets masked."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from .common import EXIT_OK, Subcommands
from .connection import add_connection_options
from .options import add_config_option, add_journal_option, resolve_settings


def cmd_config(args: argparse.Namespace, out: TextIO) -> int:
    from ..config import describe

    resolved = resolve_settings(args)
    rows = describe(resolved)
    if args.format == "json":
        out.write(json.dumps({"file": str(resolved.file) if resolved.file else None, "settings": rows}) + "\n")
        return EXIT_OK
    out.write(f"# configuration file: {resolved.file or 'none'}\n")
    width = max(len(key) for key in rows)
    for key, row in rows.items():
        value = row["value"]
        shown = "(none)" if value is None else json.dumps(value) if not isinstance(value, str) else value
        out.write(f"{key:<{width}}  {shown}    # {row['from']}\n")
    return EXIT_OK


def register(commands: Subcommands[argparse.ArgumentParser]) -> None:
    config = commands.add_parser("config", help="print the effective configuration (secrets masked)")
    add_config_option(config)
    add_journal_option(config)
    add_connection_options(config)
    config.add_argument("--format", choices=("text", "json"), default="text")
    config.set_defaults(handler=cmd_config)
