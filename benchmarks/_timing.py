"""Shared timing helpers for the benchmark scripts.

The machines this runs on are small shared VMs whose speed drifts by 2x within seconds, so a
comparison is only fair when both sides are measured under the same conditions: :func:`compare`
alternates short rounds of the two functions and keeps the fastest round of each. CPU time of this
process is used (not wall time), so being descheduled does not count.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def _loops_for(function: Callable[[], object], round_s: float) -> int:
    function()  # warm up (schema compilation, caches)
    started = time.process_time()
    function()
    single = max(time.process_time() - started, 1e-6)
    return max(1, int(round_s / single))


def _round(function: Callable[[], object], loops: int) -> float:
    started = time.process_time()
    for _ in range(loops):
        function()
    return (time.process_time() - started) / loops * 1e6


def per_call_us(function: Callable[[], object], *, budget_s: float = 0.4, repeats: int = 7) -> float:
    """The fastest of ``repeats`` rounds (mean time per call within a round), in microseconds."""
    loops = _loops_for(function, budget_s / repeats)
    return min(_round(function, loops) for _ in range(repeats))


def compare(
    baseline: Callable[[], object], candidate: Callable[[], object], *, budget_s: float = 1.0, rounds: int = 15
) -> tuple[float, float]:
    """(baseline us, candidate us): fastest of ``rounds`` alternating rounds of each."""
    round_s = budget_s / rounds / 2
    loops_a, loops_b = _loops_for(baseline, round_s), _loops_for(candidate, round_s)
    best_a = best_b = float("inf")
    for _ in range(rounds):
        best_a = min(best_a, _round(baseline, loops_a))
        best_b = min(best_b, _round(candidate, loops_b))
    return best_a, best_b


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = ["  ".join(str(cell).rjust(width) for cell, width in zip(row, widths, strict=True))
             for row in [headers, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
