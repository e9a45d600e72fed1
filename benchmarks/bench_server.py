"""Requests per second for ``POST /v1/validate`` with ten-item documents, as an ERP would call the service.

``nfe-invoice serve`` runs as it would in production (a child process: uvicorn, one event loop, validation in
``--jobs`` worker processes; ``--no-worker``: nothing to send), and an async httpx client on the same machine
(a minimal asyncio HTTP/1.1 client, so the load costs little CPU) keeps ``--concurrency`` requests in flight over
keep-alive connections for ``--seconds``. Every answer must be
200 with ``ok: true``. The client shares the 2 cores with the service, as a load test on one box does, so the
figure is a floor for what a separate client would see.

Run: python benchmarks/bench_server.py [--seconds S] [--concurrency N] [--jobs 0,1,2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from nfe_invoice.testing import make_test_certificate
from nfe_invoice.testing.orders import authorised_sale

try:
    from benchmarks._timing import table
except ModuleNotFoundError:  # run as a script from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _timing import table  # type: ignore[no-redef]


def documents(count: int) -> list[bytes]:
    identity = make_test_certificate()
    return [authorised_sale(100 + n, f"BENCH{n:04d}-01", identity, items=10) for n in range(count)]


def start(jobs: int, folder: Path) -> tuple[subprocess.Popen[str], str]:
    environment = {**os.environ, "NFE_INVOICE_API_KEYS": ""}
    process = subprocess.Popen(
        [sys.executable, "-m", "nfe_invoice.cli", "serve", "--port", "0", "--no-auth", "--no-worker", "--jobs",
         str(jobs), "--journal", str(folder / f"journal-{jobs}.db"), "--log-level", "warning"],
        stdout=subprocess.PIPE, text=True, env=environment)
    assert process.stdout is not None
    line = process.stdout.readline()
    url = line.split("listening on ", 1)[1].split(" ", 1)[0]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("the service did not start")


async def _post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes) -> tuple[int, bytes]:
    """One request on a kept-alive connection, by hand: httpx's own cost per request (~2 ms of CPU) would
    otherwise take a good part of the two cores from the service being measured."""
    writer.write(b"POST /v1/validate HTTP/1.1\r\nHost: bench\r\nContent-Type: application/xml\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    return status, await reader.readexactly(length)


async def load(url: str, bodies: list[bytes], concurrency: int, seconds: float) -> tuple[int, float, list[float]]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    latencies: list[float] = []
    connections = [await asyncio.open_connection(host, int(port)) for _ in range(concurrency)]
    for (reader, writer), body in zip(connections, bodies, strict=False):  # warm-up: workers, caches
        await _post(reader, writer, body)
    stop_at = time.perf_counter() + seconds

    async def user(offset: int) -> None:
        reader, writer = connections[offset]
        n = offset
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            status, answer = await _post(reader, writer, bodies[n % len(bodies)])
            latencies.append(time.perf_counter() - started)
            if status != 200 or b'"ok":true' not in answer:
                raise RuntimeError(f"unexpected answer {status}: {answer[:200]!r}")
            n += concurrency

    started = time.perf_counter()
    await asyncio.gather(*(user(i) for i in range(concurrency)))
    elapsed = time.perf_counter() - started
    for _, writer in connections:
        writer.close()
    return len(latencies), elapsed, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--jobs", default="0,1,2", help="validating processes to compare (0: a thread)")
    args = parser.parse_args()
    bodies = documents(32)
    print(f"{len(bodies)} distinct signed ten-item documents, {len(bodies[0]):,} bytes each; "
          f"{os.cpu_count()} cores; {args.concurrency} requests in flight for {args.seconds:g} s")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for jobs in (int(text) for text in args.jobs.split(",")):
            process, url = start(jobs, Path(folder))
            try:
                count, elapsed, latencies = asyncio.run(load(url, bodies, args.concurrency, args.seconds))
            finally:
                process.terminate()
                process.wait(30)
            latencies.sort()
            rows.append([str(jobs), f"{count:,}", f"{count / elapsed:,.0f}",
                         f"{statistics.median(latencies) * 1000:.1f}",
                         f"{latencies[int(len(latencies) * 0.95)] * 1000:.1f}"])
    print(table(["jobs", "requests", "requests/s", "p50 ms", "p95 ms"], rows))


if __name__ == "__main__":
    main()
