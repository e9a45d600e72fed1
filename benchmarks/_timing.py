"""Shared timing helpers for the benchmark scripts: the best of several rounds, so noise does not decide."""

from __future__ import annotations

import time
from collections.abc import Callable


def per_call_us(function: Callable[[], object], *, budget_s: float = 0.4, repeats: int = 7) -> float:
    """The fastest of ``repeats`` rounds (mean time per call within a round), in microseconds.

    The minimum, not the median: other processes only ever add time, so the fastest round is the
    closest to the code's own cost, and two functions measured this way compare fairly. CPU time of
    this process (not wall time), so being descheduled on a busy 2-core machine does not count.
    """
    function()  # warm up (schema compilation, caches)
    started = time.process_time()
    function()
    single = max(time.process_time() - started, 1e-6)
    loops = max(1, int(budget_s / repeats / single))
    rounds = []
    for _ in range(repeats):
        started = time.process_time()
        for _ in range(loops):
            function()
        rounds.append((time.process_time() - started) / loops * 1e6)
    return min(rounds)


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = ["  ".join(str(cell).rjust(width) for cell, width in zip(row, widths, strict=True))
             for row in [headers, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
