"""The ``nfe-invoice`` command line: argument parsing and printing over the public API, nothing else.

Each command lives in its own module with a ``register(commands)`` function that adds its sub-parser
and sets ``handler(args, out) -> exit status``. Exit statuses are listed in :mod:`.common`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import TextIO

from .. import __version__
from ..errors import ConfigurationError, JournalError, VtexError
from . import batch, codes, demo, payload, sandbox, status, submit, track, validate
from . import config as config_command
from . import journal as journal_command
from . import serve as serve_command
from . import watch as watch_command
from .codes import codes_markdown
from .common import EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, CommandFailed, UsageError

#: Every command module, in the order ``--help`` lists them.
COMMANDS = (validate, payload, submit, batch, status, journal_command, track, sandbox, config_command, codes, demo,
            serve_command, watch_command)

__all__ = ["CommandFailed", "UsageError", "build_parser", "codes_markdown", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nfe-invoice",
        description="Validate Brazilian NF-e 4.00 documents and turn them into VTEX invoice notifications.",
    )
    parser.add_argument("--version", action="version", version=f"nfe-invoice {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    # Libraries' own warnings (psycopg's pool retrying a lost server) would otherwise reach stderr through
    # logging's last resort, multi-line, beside our one-line reason; `serve --log-level` still shows them.
    logging.getLogger("psycopg").addHandler(logging.NullHandler())
    parser = build_parser()
    args = parser.parse_args(argv)
    stream = out or sys.stdout
    try:
        code: int = args.handler(args, stream)
    except UsageError as exc:
        sys.stderr.write(f"nfe-invoice: error: {exc}\n")
        return EXIT_USAGE
    except CommandFailed as exc:
        sys.stderr.write(f"nfe-invoice: {exc}\n")
        return exc.exit_code
    except BrokenPipeError:
        return EXIT_OK
    except (JournalError, VtexError) as exc:  # out of reach mid-run: one line, and a later run resumes
        sys.stderr.write(f"nfe-invoice: [{exc.code}] {exc.message}\n")
        return EXIT_UNREACHABLE
    except ConfigurationError as exc:
        sys.stderr.write(f"nfe-invoice: error: {exc.message}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("nfe-invoice: interrupted\n")
        return 130
    return code
