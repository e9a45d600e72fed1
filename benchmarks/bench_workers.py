"""Several ``nfe-invoice worker`` processes draining one PostgreSQL journal into the sandbox (issue 12).

For 1, 2 and 4 workers: a fresh database, N signed ten-item documents enqueued (``nfe-invoice enqueue``),
then the workers started together with ``--drain`` and timed until the last one exits; documents/s is N over
that time. A last run holds the account's rate: 4 workers with ``--rate R`` must together stay at R
requests/s (the sandbox counts the requests), not 4 R.

The journal is a throwaway PostgreSQL server started like the tests start theirs (``tests/pg_server.py``),
unless ``--journal URL`` names one. The sandbox runs in its own process, as a user would run it.

    python benchmarks/bench_workers.py                  # 10,000 documents, 1/2/4 workers, rate check
    python benchmarks/bench_workers.py --documents 2000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_batch import make_corpus, start_sandbox

from tests.pg_server import server_or_skip

ENV = {**os.environ, "VTEX_APP_KEY": "vtexappkey-bench", "VTEX_APP_TOKEN": "bench-token"}


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "nfe_invoice.cli", *args]


def sandbox_requests(url: str) -> int:
    with urllib.request.urlopen(f"{url}/_sandbox/stats") as answer:  # the loopback sandbox
        return int(json.load(answer)["requests_total"])


def drain(folder: Path, orders: Path, journal: str, workers: int, *, rate: float, concurrency: int) -> dict[str, float]:
    enqueued = subprocess.run(cli("enqueue", str(folder), "--journal", journal, "--format", "json"),
                              capture_output=True, text=True, env=ENV, check=False)
    if enqueued.returncode != 0:
        raise SystemExit(f"enqueue failed: {enqueued.stderr[-500:]}")
    sandbox, url = start_sandbox(orders)
    try:
        started = time.perf_counter()
        processes = [
            subprocess.Popen(cli("worker", "--journal", journal, "--base-url", url, "--drain", "--format", "json",
                                 "--rate", str(rate), "--concurrency", str(concurrency)),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV)
            for _ in range(workers)
        ]
        for process in processes:
            _, err = process.communicate()
            if process.returncode != 0:
                raise SystemExit(f"worker failed: {err[-500:]}")
        elapsed = time.perf_counter() - started
        requests = sandbox_requests(url)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
    return {"elapsed": elapsed, "requests": requests}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=10000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rate", type=float, default=40.0, help="the shared rate checked in the last run")
    parser.add_argument("--journal", help="a PostgreSQL server URL (a database is created per run)")
    args = parser.parse_args()
    server = server_or_skip()
    print(f"{args.documents} signed ten-item documents, PostgreSQL journal, sandbox in its own process, "
          f"{os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="nfe-bench-workers-") as tmp:
        folder = Path(tmp) / "erp"
        orders = make_corpus(folder, args.documents, 10)
        print(f"{'workers':>8} {'seconds':>8} {'docs/s':>8} {'requests':>9}")
        for count in args.workers:
            result = drain(folder, orders, server.create_database(), count, rate=100000, concurrency=args.concurrency)
            print(f"{count:>8} {result['elapsed']:>8.1f} {args.documents / result['elapsed']:>8.0f} "
                  f"{result['requests']:>9}")
        sample = min(args.documents, int(args.rate * 5))
        small = Path(tmp) / "rate"
        small_orders = make_corpus(small, sample, 1)
        result = drain(small, small_orders, server.create_database(), 4, rate=args.rate, concurrency=4)
        achieved = result["requests"] / result["elapsed"]
        print(f"shared rate: 4 workers with --rate {args.rate:g} made {result['requests']} requests in "
              f"{result['elapsed']:.1f} s = {achieved:.1f} requests/s (start-up included; held if <= {args.rate:g})")


if __name__ == "__main__":
    main()
