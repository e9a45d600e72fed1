"""What every command shares: exit statuses, the usage error, path expansion and finding lines.

Exit statuses (documented in the README; other tools script against them):

* 0: success (every document ok, sent, or already delivered);
* 1: at least one document refused or not ok (validation, mapping, reconciliation);
* 2: usage error (bad option, missing path, unreadable trust store or configuration);
* 3: VTEX (or the journal) could not be reached, or refused after the retries.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from ..config import LARGEST_NUMBER

EXIT_OK: Final = 0
EXIT_NOT_OK: Final = 1
EXIT_USAGE: Final = 2
EXIT_UNREACHABLE: Final = 3


class UsageError(Exception):
    """A problem with the command line itself (exit status 2)."""


class CommandFailed(Exception):
    """A command stops with a one-line reason and a given exit status (no traceback reaches the user)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def parse_moment(text: str | None, option: str = "--now") -> datetime | None:
    """An ISO 8601 date-time with a UTC offset, or a usage error naming the option."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise UsageError(f"{option}: {text!r} is not an ISO 8601 date-time") from exc
    if moment.tzinfo is None:
        raise UsageError(f"{option} needs a UTC offset, e.g. 2026-11-20T14:30:00-03:00")
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


def positive_float(text: str, *, below: float = LARGEST_NUMBER) -> float:
    """An argparse type: a number greater than 0 and less than ``below``, or a one-line usage error.

    Every such option is a duration, a rate or a count: past :data:`~nfe_invoice.config.LARGEST_NUMBER` it
    can only be a typo, and ``1e300`` seconds overflows the clock arithmetic."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < below:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number greater than 0 and less than {below:g}")
    return value


def _whole_number(text: str, lowest: int, highest: int | None, what: str, bounds: str) -> int:
    """``text`` as a whole number from ``lowest`` to ``highest`` (None: no upper bound), for argparse."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if value < lowest or (highest is not None and value > highest):
        raise argparse.ArgumentTypeError(f"{text!r} {bounds}")
    return value


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 0 (any free port) to 65535."""
    return _whole_number(text, 0, 65535, "a port number", "is not a port number (0 to 65535)")


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    return _whole_number(text, 1, None, "a whole number", "must be at least 1")


def finding_line(finding: dict[str, Any]) -> str:
    """One finding for people: severity, code (with the SEFAZ code) and message, then where."""
    code = finding["code"] + (f"/{finding['sefaz']}" if finding.get("sefaz") else "")
    where = f"\n      at {finding['xpath']}" if finding.get("xpath") else ""
    return f"  {finding['severity'].upper():<7} [{code}] {finding['message']}{where}"


#: What each command module's ``register()`` receives: the sub-command table of the top-level parser.
Subcommands = argparse._SubParsersAction  # argparse exposes no public name for it
