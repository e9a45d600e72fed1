"""The hooks' validating pool survives the death of a worker process (the OOM killer, a kill)."""

from __future__ import annotations

import asyncio
import os
import signal
import time

from nfe_invoice.hooks import Preparer
from nfe_invoice.pipeline import PipelineOptions
from nfe_invoice.testing import build_nfe, default_spec


def test_a_killed_worker_process_does_not_fail_every_later_document() -> None:
    preparer = Preparer(PipelineOptions(account="acme"), jobs=1)
    preparer.start()
    raw = build_nfe(default_spec(1))
    try:
        first, _ = asyncio.run(preparer.validate(raw))
        pool = preparer._executor
        [pid] = list(pool._processes)  # type: ignore[union-attr]
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # until the pool has noticed that its process is gone
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.01)
        time.sleep(0.2)
        again, _ = asyncio.run(preparer.validate(raw))
        assert again == first
        assert preparer._executor is not pool  # a new pool took its place
        prepared = asyncio.run(preparer.prepare(raw, name="after.xml"))
        assert prepared.source == "after.xml"
    finally:
        preparer.close()
