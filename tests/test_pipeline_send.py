"""The sending side of :class:`~nfe_invoice.pipeline.Runner` in one process: a real sandbox on loopback, a real
SQLite journal, the async client. What the batch's shortcuts must not change: every invoice lands once, with
the body mapping the whole document against the order gives, and the journal says so."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from nfe_invoice.journal import State
from nfe_invoice.journal import base as journal_base
from nfe_invoice.journal.sqlite import SqliteJournal
from nfe_invoice.parse import parse
from nfe_invoice.pipeline import PipelineOptions, Result, Runner, prepare
from nfe_invoice.vtex.client import AsyncVtexClient
from nfe_invoice.vtex.mapping import build_invoice
from nfe_invoice.vtex.models import Order
from nfe_invoice.vtex.policy import Credentials
from nfe_invoice.vtex.sandbox import Sandbox

from .e2e import export, packages, seed


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed=5) as running:
        yield running


def _client(sandbox: Sandbox) -> AsyncVtexClient:
    return AsyncVtexClient(base_url=sandbox.base_url, credentials=Credentials("key", "token"), rate=10_000)


def _deliver_all(runner: Runner) -> None:
    async def go() -> None:
        assert runner.client is not None
        async with runner.client:
            await runner.run(drain=True)

    asyncio.run(go())


@pytest.mark.parametrize("items", [3, 10], ids=["payload-stored", "payload-waits-for-the-order"])
def test_a_record_enqueued_here_is_sent_without_reading_its_stored_xml_again(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, items: int
) -> None:
    exported = export(tmp_path, 1, items=items)
    seed(sandbox, exported)
    options = PipelineOptions(account="sandbox")
    results: list[Result] = []
    with SqliteJournal(tmp_path / "j.db") as journal:
        runner = Runner(journal, _client(sandbox), options, on_result=results.append, report_all=False)
        prepared = prepare(exported.path, options)
        assert runner.enqueue(prepared).state == "queued"

        def no_reading(stored: bytes) -> bytes:
            raise AssertionError("the XML was decompressed although its items were kept in memory")

        monkeypatch.setattr(journal_base, "decompress_document", no_reading)
        _deliver_all(runner)
        assert [r.state for r in results] == ["sent"]
        record = journal.get(prepared.record.key)  # type: ignore[union-attr]
    assert record is not None and record.state is State.SENT
    document = parse(exported.raw)
    order = Order.model_validate(sandbox.order(exported.order_id))
    expected = build_invoice(document, order=order, force=True).payload.to_json()
    assert record.sent_payload == expected
    [package] = packages(sandbox, exported.order_id)
    assert package["invoiceNumber"] == exported.invoice_number
    assert sandbox.invoice_posts() == {(exported.order_id, exported.invoice_number): 1}


def test_a_record_enqueued_elsewhere_is_mapped_again_from_its_stored_xml(tmp_path: Path, sandbox: Sandbox) -> None:
    exported = export(tmp_path, 2, items=10)
    seed(sandbox, exported)
    options = PipelineOptions(account="sandbox")
    results: list[Result] = []
    with SqliteJournal(tmp_path / "j.db") as journal:
        Runner(journal, None, options).enqueue(prepare(exported.path, options))  # an `enqueue` run
        worker = Runner(journal, _client(sandbox), options, on_result=results.append)
        _deliver_all(worker)
    assert [r.state for r in results] == ["sent"]
    [package] = packages(sandbox, exported.order_id)
    assert package["embeddedInvoice"] == exported.raw.decode()
