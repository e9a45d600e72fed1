"""``nfe-invoice batch`` end to end: N signed ten-item documents into the sandbox, documents/s and memory.

Issue 11's goal: at least 500 documents/s end to end on 2 cores with 10,000 ten-item documents, memory flat in
the number of documents. Everything is real: the documents are signed, authorised nfeProc files on disk; the
sandbox runs in its own process (``nfe-invoice sandbox``, as a user would run it) holding one order per
document; the batch is the console command with a fresh SQLite journal, every document validated (XSD,
signature, rules), mapped, journaled, its order fetched and reconciled, its invoice POSTed.

Memory is the batch's main process resident set, sampled every 50 ms from /proc (the validating worker
processes are a fixed pool): it must not grow with the number of documents, so two sizes are run.

    python benchmarks/bench_batch.py                     # 2,000 and 10,000 documents
    python benchmarks/bench_batch.py --sizes 1000        # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nfe_invoice.parse import parse
from nfe_invoice.testing import make_test_certificate
from nfe_invoice.testing.orders import authorised_sale, order_for_document


def make_corpus(folder: Path, count: int, items: int) -> Path:
    """``count`` documents in ``folder`` and the orders they invoice in ``folder/../orders.json``."""
    identity = make_test_certificate()
    folder.mkdir(parents=True)
    orders = []
    for number in range(1, count + 1):
        order_id = f"BENCH{number:07d}-01"
        raw = authorised_sale(number, order_id, identity, items=items)
        (folder / f"nfe-{number:07d}.xml").write_bytes(raw)
        orders.append(order_for_document(parse(raw), order_id))
    orders_file = folder.parent / "orders.json"
    orders_file.write_text(json.dumps(orders), encoding="utf-8")
    return orders_file


def start_sandbox(orders_file: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "nfe_invoice.cli", "sandbox", "--orders", str(orders_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    url = line.split("listening on ", 1)[1].split(" ", 1)[0]
    return process, url


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_batch(folder: Path, url: str, journal: Path, concurrency: int) -> tuple[float, int, dict[str, int], int]:
    env = {**os.environ, "VTEX_APP_KEY": "vtexappkey-bench", "VTEX_APP_TOKEN": "bench-token"}
    command = [sys.executable, "-m", "nfe_invoice.cli", "batch", str(folder), "--base-url", url, "--journal",
               str(journal), "--format", "json", "--rate", "100000", "--concurrency", str(concurrency)]
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.PIPE, text=True, env=env)
        peak = 0
        while process.poll() is None:
            peak = max(peak, rss_kib(process.pid))
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        output.seek(0)
        states: dict[str, int] = {}
        for line in output:
            state = json.loads(line)["state"]
            states[state] = states.get(state, 0) + 1
    assert process.stderr is not None
    errors = process.stderr.read()
    if process.returncode != 0:
        print(errors[-2000:], file=sys.stderr)
    return elapsed, peak, states, process.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--items", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=8, help="as the configuration's default")
    args = parser.parse_args()
    print(f"batch end to end, {args.items}-item signed nfeProc, sandbox in its own process, {os.cpu_count()} cores")
    print(f"{'documents':>10} {'seconds':>8} {'docs/s':>8} {'peak RSS MiB':>13}  states")
    for size in args.sizes:
        with tempfile.TemporaryDirectory(prefix="nfe-bench-batch-") as tmp:
            root = Path(tmp)
            made = time.perf_counter()
            orders = make_corpus(root / "erp", size, args.items)
            made = time.perf_counter() - made
            sandbox, url = start_sandbox(orders)
            try:
                elapsed, peak, states, code = run_batch(root / "erp", url, root / "journal.db", args.concurrency)
            finally:
                sandbox.terminate()
                sandbox.wait(timeout=10)
            print(f"{size:>10} {elapsed:>8.2f} {size / elapsed:>8.0f} {peak / 1024:>13.1f}  {states} "
                  f"(exit {code}; corpus made in {made:.0f} s)")


if __name__ == "__main__":
    main()
