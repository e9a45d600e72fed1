"""``nfe-invoice demo``: the README's main job on the embedded default, offline, in a few seconds.

It starts the local VTEX sandbox in this process, seeds it with the orders the bundled sample NF-e invoice,
and runs the same pipeline ``batch`` runs (validate, map, journal, check the order, send) with the sandbox
injecting a few faults that the client rides out. One sample completes its order, one invoices only part of
its order (a partial invoice, legal, and said so), and one is refused before anything is sent (vNF one cent
off: its finding is shown). It ends with each order's status read back from the sandbox, then runs again to
show that nothing is sent twice. Exit 0 when every order ends as the samples promise.
"""

from __future__ import annotations

import argparse
import tempfile
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .common import EXIT_NOT_OK, EXIT_OK, Subcommands

if TYPE_CHECKING:
    from ..journal import Journal
    from ..pipeline import PipelineOptions, Result
    from ..vtex.sandbox import Sandbox

#: The extra order line that makes the NFC-e sample a partial invoice of its order.
_NOT_YET_INVOICED = {"id": "1999", "refId": "SKU-EXTRA", "name": "Bone (to be invoiced later)", "price": 3001,
                     "quantity": 1}


def sample_paths() -> list[Path]:
    """The sample documents shipped in the package."""
    folder = Path(str(resources.files("nfe_invoice.samples")))
    return sorted(folder.glob("*.xml"))


def _brl(cents: int) -> str:
    return f"R$ {cents / 100:,.2f}"


def _seed(sandbox: Sandbox, paths: list[Path], out: TextIO) -> dict[str, str]:
    """One order per sample (the NFC-e's with an extra line not yet invoiced); returns file -> order id."""
    from ..parse import parse
    from ..testing.orders import order_for_document
    from ..vtex.order_id import OrderIdRule, find_order_id

    orders: dict[str, str] = {}
    for path in paths:
        document = parse(path)
        order_id = find_order_id(document, OrderIdRule.parse("xped"))
        extra = [_NOT_YET_INVOICED] if document.is_nfce else []
        order = order_for_document(document, order_id, extra_items=extra)
        sandbox.add_order(order)
        orders[path.name] = order_id
        note = f" (the NFC-e invoices {document.totals.vNF} of it; one line comes later)" if extra else ""
        out.write(f"  order {order_id}: {len(order['items'])} line(s), {_brl(order['value'])}{note}\n")
    return orders


async def _run(paths: list[Path], journal: Journal, sandbox: Sandbox, options: PipelineOptions,
               on_result: Any) -> None:
    from ..pipeline import Runner, prepare
    from ..vtex.client import AsyncVtexClient
    from ..vtex.policy import Credentials, RetryPolicy

    client = AsyncVtexClient(
        base_url=sandbox.base_url,
        credentials=Credentials("vtexappkey-demo", "demo-token"),
        retry=RetryPolicy(backoff_base=0.05, backoff_cap=0.5, deadline=20.0),
        rate=200.0,
        max_concurrency=4,
    )
    runner = Runner(journal, client, options, concurrency=4, lease_seconds=30.0, on_result=on_result,
                    poll_interval=0.05)
    for path in paths:
        runner.enqueue(prepare(path, options))
    async with client:
        await runner.run(drain=True)
    for result in runner.pending_results(runner.unreported()):
        on_result(result)


def _line(result: Result) -> str:
    from .batch import result_text

    return "  " + result_text(result, name=Path(result.file).name if result.file else None).replace("\n", "\n  ")


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    import asyncio

    from ..journal import open_journal as open_location
    from ..pipeline import PipelineOptions
    from ..vtex.sandbox import Sandbox

    paths = sample_paths()
    results: list[Result] = []

    def collect(result: Result) -> None:
        results.append(result)
        out.write(_line(result) + "\n")

    out.write("nfe-invoice demo: the bundled sample NF-e, sent to a local VTEX sandbox (offline)\n\n")
    with tempfile.TemporaryDirectory(prefix="nfe-invoice-demo-") as folder, Sandbox(seed=7) as sandbox:
        sandbox.set_faults("retry-after=0.2")
        sandbox.queue_faults("429", "none", "503")  # ridden out by the client's retries
        out.write(f"VTEX sandbox on {sandbox.base_url}; orders seeded:\n")
        orders = _seed(sandbox, paths, out)
        options = PipelineOptions(account="demo", allow_homologation=False)
        journal = open_location(str(Path(folder) / "journal.db"))
        try:
            out.write("\nvalidate -> map -> journal -> GET order -> reconcile -> POST invoice:\n")
            asyncio.run(_run(paths, journal, sandbox, options, collect))
            faults = sandbox.stats["faults"]
            out.write(f"\nfaults injected by the sandbox and ridden out: "
                      f"{', '.join(f'{kind} x{count}' for kind, count in sorted(faults.items())) or 'none'}\n")
            out.write("\nthe orders at VTEX, read back from the sandbox:\n")
            statuses = {}
            for name, order_id in orders.items():
                order = sandbox.order(order_id)
                invoiced = sum(int(p.get("invoiceValue") or 0) for p in order["packageAttachment"]["packages"])
                statuses[name] = (order["status"], invoiced, order["value"])
                kind = ("complete" if invoiced == order["value"] else "partial" if invoiced else "nothing invoiced")
                out.write(f"  {order_id}  {order['status']:<20} {_brl(invoiced)} of {_brl(order['value'])} "
                          f"invoiced ({kind})\n")
            posts_before = sum(sandbox.invoice_posts().values())
            again: list[Result] = []
            asyncio.run(_run(paths, journal, sandbox, options, again.append))
            posts_after = sum(sandbox.invoice_posts().values())
            counts = journal.counts().by_state
        finally:
            journal.close()
    out.write(f"\nrun again on the same journal: {posts_after - posts_before} invoice(s) sent "
              f"(journal: {', '.join(f'{s.value} {n}' for s, n in sorted(counts.items()))})\n")
    expected = _as_promised(statuses, results, posts_after - posts_before)
    out.write("\nevery order ended as the samples promise\n" if expected else "\nUNEXPECTED results above\n")
    return EXIT_OK if expected else EXIT_NOT_OK


def _as_promised(statuses: dict[str, tuple[str, int, int]], results: list[Result], resent: int) -> bool:
    """The complete sale invoiced, the NFC-e partial, the broken one refused with its 610, nothing resent."""
    by_name = {Path(r.file).name: r for r in results if r.file}
    ok = resent == 0
    for name, (status, invoiced, value) in statuses.items():
        result = by_name.get(name)
        if result is None:
            return False
        if "broken_" in name:
            ok = ok and result.state == "refused" and invoiced == 0 and any(
                f.get("code") == "totals.vnf" for f in result.findings)
        elif "nfce65" in name:
            ok = ok and result.state == "sent" and 0 < invoiced < value and status != "invoiced"
        else:
            ok = ok and result.state == "sent" and invoiced == value and status == "invoiced"
    return ok


def register(commands: Subcommands[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser("demo", help="send the bundled samples to a local VTEX sandbox, offline")
    demo.set_defaults(handler=cmd_demo)
