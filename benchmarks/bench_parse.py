"""parse() against a bare lxml.etree.fromstring of the same bytes (goal: at most 3x), in one run.

Run: python benchmarks/bench_parse.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import compare, table

from nfe_invoice import parse
from nfe_invoice.testing import build_nfe, default_spec, wrap_nfeproc

GOAL = 3.0


def main() -> int:
    rows = []
    worst = 0.0
    for items in (1, 10, 100, 990):
        raw = wrap_nfeproc(build_nfe(default_spec(items)))
        bare, ours = compare(lambda raw=raw: etree.fromstring(raw), lambda raw=raw: parse(raw))
        ratio = ours / bare
        worst = max(worst, ratio)
        rows.append([str(items), f"{len(raw):,}", f"{bare:,.0f}", f"{ours:,.0f}", f"{ratio:.2f}x"])
    print("parse() vs bare lxml fromstring (nfeProc documents from nfe_invoice.testing)")
    print(table(["items", "bytes", "lxml us", "parse us", "ratio"], rows))
    print(f"worst ratio {worst:.2f}x (goal <= {GOAL:.1f}x): {'met' if worst <= GOAL else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
