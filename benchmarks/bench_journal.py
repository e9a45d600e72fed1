"""SQLite journal throughput: N records enqueued, claimed (in batches, as the worker does) and finished.

Wall time, not CPU time: the cost that matters is the fsync of each committed state change (one transaction
per change). Run: ``python benchmarks/bench_journal.py [N] [--claim-batch B]``; it prints each phase's rate
for ``synchronous=FULL`` (the default: a state change that returned survives a power cut) and ``NORMAL``
(survives a crash of the process, may lose the last changes on a power cut).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from pathlib import Path
from typing import Literal

from nfe_invoice.journal import NewRecord, RecordKey, State
from nfe_invoice.journal.sqlite import SqliteJournal
from nfe_invoice.testing import build_nfe, default_spec


def entries(count: int) -> list[NewRecord]:
    document = build_nfe(default_spec(10))  # a realistic 10-item NF-e (about 13 KB)
    records = []
    for n in range(count):
        payload = json.dumps({"invoiceNumber": f"{n:09d}", "invoiceValue": 12345, "items": [
            {"id": str(i), "price": 1000 + i, "quantity": 1} for i in range(10)], "courier": "", "type": "Output"})
        records.append(NewRecord(
            key=RecordKey("acme", f"order-{n:08d}-01", f"{n:09d}"), access_key=f"{n:044d}",
            xml_sha256=hashlib.sha256(document).hexdigest(), document=document, payload=payload,
            payload_sha256=hashlib.sha256(payload.encode()).hexdigest(), source=f"/erp/out/{n}.xml",
        ))
    return records


def run(count: int, batch: int, synchronous: Literal["FULL", "NORMAL"]) -> dict[str, float]:
    todo = entries(count)
    with tempfile.TemporaryDirectory() as folder, SqliteJournal(Path(folder) / "j.db",
                                                                synchronous=synchronous) as journal:
        timings: dict[str, float] = {}
        started = time.perf_counter()
        for entry in todo:
            journal.enqueue(entry)
        timings["enqueue"] = time.perf_counter() - started

        started = time.perf_counter()
        claims = []
        while taken := journal.claim("bench:1:x", limit=batch, lease_seconds=300):
            claims += taken
        timings["claim"] = time.perf_counter() - started
        assert len(claims) == count

        started = time.perf_counter()
        for claim in claims:
            journal.finish(claim, State.SENT, receipt="r", sent_payload=claim.record.payload)
        timings["finish"] = time.perf_counter() - started

        started = time.perf_counter()
        for entry in todo:
            journal.enqueue(entry)  # the rerun: every one unchanged
        timings["rerun (unchanged)"] = time.perf_counter() - started
        assert journal.counts().by_state == {State.SENT: count}
        timings["file MB"] = (Path(folder) / "j.db").stat().st_size / 1e6
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("count", nargs="?", type=int, default=10_000)
    parser.add_argument("--claim-batch", type=int, default=50)
    args = parser.parse_args()
    for synchronous in ("FULL", "NORMAL"):
        timings = run(args.count, args.claim_batch, synchronous)  # type: ignore[arg-type]
        total = sum(v for k, v in timings.items() if k in ("enqueue", "claim", "finish"))
        print(f"synchronous={synchronous}: {args.count} records, enqueue + claim + finish in {total:.1f} s")
        for phase, seconds in timings.items():
            if phase == "file MB":
                print(f"  journal file: {seconds:.1f} MB")
            else:
                print(f"  {phase:<18} {seconds:6.2f} s  {args.count / seconds:8.0f} /s")


if __name__ == "__main__":
    main()
