"""Full validation against bare lxml parse + XSD of the same bytes, CLI throughput, and peak memory.

Goals (issue 3): validate() at most 3x bare lxml parse+XSD for 10-item documents; a folder of 1,000
documents through the CLI at least 1,000 documents/s on 2 cores; peak memory for a 990-item document
under 60 MB. Documents are signed nfeProc made by nfe_invoice.testing, so every check runs.

Run: python benchmarks/bench_validate.py [--skip-cli]
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import compare, table

from nfe_invoice import schema
from nfe_invoice.testing import build_nfe, default_spec, make_test_certificate, sign_nfe, wrap_nfeproc
from nfe_invoice.validate import validate

GOAL_RATIO, GOAL_DOCS_PER_S, GOAL_MB = 3.0, 1000.0, 60.0


def signed_document(items: int, number: int = 1001) -> bytes:
    spec = default_spec(items, number=number)
    return wrap_nfeproc(sign_nfe(build_nfe(spec), IDENTITY))


IDENTITY = make_test_certificate()


def ratios() -> bool:
    xsd = schema.schema_for("nfeProc")
    rows, met = [], True
    for items in (1, 10, 100, 990):
        raw = signed_document(items)
        assert validate(raw).ok, validate(raw).findings
        bare, ours = compare(lambda raw=raw: xsd.validate(etree.fromstring(raw)), lambda raw=raw: validate(raw))
        ratio = ours / bare
        if items == 10:
            met = ratio <= GOAL_RATIO
        rows.append([str(items), f"{len(raw):,}", f"{bare:,.0f}", f"{ours:,.0f}", f"{ratio:.2f}x"])
    print("validate() (XSD + signature + rules) vs bare lxml parse + XSD validation")
    print(table(["items", "bytes", "lxml+xsd us", "validate us", "ratio"], rows))
    print(f"10 items: goal <= {GOAL_RATIO:.1f}x: {'met' if met else 'NOT met'}\n")
    return met


MEMORY_PROBE = """
import gc, os, sys, threading, time, tracemalloc
from nfe_invoice.validate import validate
page = os.sysconf("SC_PAGE_SIZE")
def rss():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * page
raw = open(sys.argv[1], "rb").read()
validate(raw[:200])  # import and compile everything first
validate(open(sys.argv[2], "rb").read())  # and warm every cache on a small document
gc.collect()
baseline, peak, running = rss(), [0], [True]
def sample():
    while running[0]:
        peak[0] = max(peak[0], rss())
        time.sleep(0.0005)
sampler = threading.Thread(target=sample)
sampler.start()
tracemalloc.start()
report = validate(raw)
python_peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
running[0] = False
sampler.join()
print(baseline, max(peak[0], rss()), python_peak, report.ok)
"""


def memory(folder: Path) -> bool:
    path, small = folder / "big.xml", folder / "small.xml"
    path.write_bytes(signed_document(990))
    small.write_bytes(signed_document(10))
    output = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(path), str(small)], capture_output=True,
                            text=True, check=True).stdout.split()
    baseline, peak, python_peak = (int(value) / 2**20 for value in output[:3])
    growth = peak - baseline
    print(f"990-item document ({path.stat().st_size:,} bytes): resident memory grew by {growth:.1f} MB while "
          f"validating it (sampled every 0.5 ms; baseline {baseline:.0f} MB after imports and compiled schemas; "
          f"Python objects peak {python_peak:.1f} MB). Goal < {GOAL_MB:.0f} MB: "
          f"{'met' if growth < GOAL_MB else 'NOT met'}; ok={output[3]}\n")
    return growth < GOAL_MB


def cli_throughput(folder: Path, count: int = 1000) -> bool:
    documents = folder / "batch"
    documents.mkdir()
    for index in range(count):
        (documents / f"{index:05d}.xml").write_bytes(signed_document(10, number=10_000 + index))
    command = [sys.executable, "-m", "nfe_invoice.cli", "validate", "--format", "json", str(documents)]
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, check=False)
        best = min(best, time.perf_counter() - started)
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.count(b"\n") == count
    rate = count / best
    verdict = "met" if rate >= GOAL_DOCS_PER_S else "NOT met"
    print(f"CLI: {count} signed 10-item documents in {best:.2f} s (whole process, {os.cpu_count()} cores) = "
          f"{rate:,.0f} documents/s (goal >= {GOAL_DOCS_PER_S:,.0f}): {verdict}")
    return rate >= GOAL_DOCS_PER_S


def main() -> int:
    ratios()
    with tempfile.TemporaryDirectory() as tmp:
        memory(Path(tmp))
        if "--skip-cli" not in sys.argv:
            cli_throughput(Path(tmp))
    print(f"(this process: peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
