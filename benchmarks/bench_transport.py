"""5,000 invoices through AsyncVtexClient into the local sandbox, with bounded concurrency and 5% of requests
failing (429 with a short Retry-After, or 503): every invoice must land, none twice in the packages.

Each invoice goes to its own order, so "landed" is checkable exactly: the order is ``invoiced``, holds exactly
one package with that invoice number and value, and its receipt is the one the client got last. The sandbox
runs in a child process (as it would for a user's integration tests): sharing one interpreter lock with the
client, its threads and the event loop would mostly measure lock convoys. The figure is the client plus the
standard library HTTP server on the project's 2-core VM; a real VTEX account is limited by its rate, not this.

Run: python benchmarks/bench_transport.py [--invoices N] [--concurrency N] [--faults SPEC] [--no-pause] [--drops]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

from nfe_invoice.vtex.client import AsyncVtexClient
from nfe_invoice.vtex.models import InvoiceItem, InvoicePayload, InvoiceReceipt
from nfe_invoice.vtex.policy import Credentials, RetryPolicy, Timeouts, Unlimited
from nfe_invoice.vtex.sandbox import Sandbox, make_order

DEFAULT_FAULTS = "429=0.025,503=0.025,retry-after=0.05"


def payload(number: int, price: int) -> InvoicePayload:
    return InvoicePayload(type="Output", issuance_date=datetime(2026, 11, 20, 10, tzinfo=UTC),
                          invoice_number=f"NF-{number}", invoice_value=price * 2,
                          invoice_key=f"{number:044d}", items=(InvoiceItem(id="7", price=price, quantity=2),))


async def send_all(base_url: str, count: int, concurrency: int, prices: list[int], *, pause: bool
                   ) -> tuple[list[InvoiceReceipt], dict[str, Any]]:
    retry = RetryPolicy(max_attempts=8, backoff_base=0.05, backoff_cap=1.0, deadline=60.0, pause_on_rate_limit=pause)
    async with AsyncVtexClient(base_url=base_url, credentials=Credentials("bench-key", "bench-token"),
                               rate_limiter=Unlimited(), max_concurrency=concurrency, retry=retry,
                               timeouts=Timeouts(connect=2, read=0.5)) as client:
        receipts = await asyncio.gather(*(client.send_invoice(f"{n}-01", payload(n, prices[n]))
                                          for n in range(count)))
        return receipts, client.stats


def serve(channel: Connection, orders: list[dict[str, Any]], faults: str) -> None:
    """The child process: run the sandbox, say where, and report its state when asked."""
    with Sandbox(orders=orders, faults=faults, seed=1) as sandbox:
        channel.send(sandbox.base_url)
        channel.recv()
        state = {}
        for order_id in sandbox.order_ids():
            order = sandbox.order(order_id)
            packages = order["packageAttachment"]["packages"]
            state[order_id] = ([(p["invoiceNumber"], p["invoiceValue"]) for p in packages], order["status"],
                               [sandbox.receipt(order_id, p["invoiceNumber"]) for p in packages])
        channel.send((state, sandbox.invoice_posts(), sandbox.stats))


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--invoices", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--faults", default=DEFAULT_FAULTS)
    parser.add_argument("--no-pause", action="store_true",
                        help="a 429 holds back only its own request (by default it pauses the whole client, as "
                        "VTEX throttles whole accounts)")
    parser.add_argument("--drops", action="store_true",
                        help="also drop 1%% of connections mid-response and answer 1%% too late (applied anyway)")
    args = parser.parse_args()
    faults = args.faults + (",drop=0.01,slow=0.01,slow-delay=1" if args.drops else "")
    prices = [1000 + n % 997 for n in range(args.invoices)]
    orders = [make_order(f"{n}-01", [{"id": "7", "price": prices[n], "quantity": 2}]) for n in range(args.invoices)]

    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve, args=(child, orders, faults), daemon=True)
    server.start()
    try:
        base_url = parent.recv()
        started = time.perf_counter()
        receipts, stats = asyncio.run(send_all(base_url, args.invoices, args.concurrency, prices,
                                               pause=not args.no_pause))
        elapsed = time.perf_counter() - started
        parent.send("report")
        state, posts, served = parent.recv()
    finally:
        server.terminate()
        server.join()

    problems = []
    for n, receipt in enumerate(receipts):
        packages, status, current = state[f"{n}-01"]
        if packages != [(f"NF-{n}", prices[n] * 2)] or status != "invoiced":
            problems.append(f"order {n}-01: packages {packages}, status {status}")
        elif receipt.receipt != current[0]:
            problems.append(f"order {n}-01: the client's receipt is not the current one")
    resent = sum(1 for count in posts.values() if count > 1)
    pause = "429 pauses only its own request" if args.no_pause else "429 pauses the whole client"
    print(f"{args.invoices:,} invoices, concurrency {args.concurrency}, faults {faults!r}, {pause}")
    print(f"  requests to the sandbox  {served['requests_total']:,} (faults served: {served['faults']})")
    print(f"  client retries           {stats['retries']}")
    print(f"  most requests in flight  {served['max_in_flight']}")
    print(f"  invoices applied twice   {resent} (answer lost, resent: receipt renewed, nothing else changed)")
    print(f"  landed exactly once      {args.invoices - len(problems):,} / {args.invoices:,}")
    print(f"  elapsed                  {elapsed:.2f} s -> {args.invoices / elapsed:,.0f} invoices/s")
    for problem in problems[:10]:
        print("  PROBLEM", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
