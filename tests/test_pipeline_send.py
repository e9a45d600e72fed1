"""The sending side of :class:`~nfe_invoice.pipeline.Runner` in one process: a real sandbox on loopback, a real
SQLite journal, the async client. What the batch's shortcuts must not change: every invoice lands once, with
the body mapping the whole document against the order gives, and the journal says so."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nfe_invoice.errors import MappingError
from nfe_invoice.journal import State
from nfe_invoice.journal import base as journal_base
from nfe_invoice.journal.sqlite import SqliteJournal
from nfe_invoice.parse import parse
from nfe_invoice.pipeline import (
    PipelineOptions,
    Result,
    Runner,
    plan_delivery,
    prepare,
    prepare_all,
    prepare_executor,
)
from nfe_invoice.testing import build_nfe, default_spec, make_test_certificate, sign_nfe, wrap_nfeproc
from nfe_invoice.testing.orders import order_for_document
from nfe_invoice.vtex.client import AsyncVtexClient
from nfe_invoice.vtex.mapping import MappingOptions, build_invoice
from nfe_invoice.vtex.models import Order
from nfe_invoice.vtex.policy import Credentials
from nfe_invoice.vtex.sandbox import Sandbox

from .e2e import export, packages, seed
from .test_vtex_remap import documents


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


def test_a_record_replaced_by_another_process_is_sent_as_the_journal_holds_it(tmp_path: Path, sandbox: Sandbox) -> None:
    """The items kept in memory at enqueue are used only while the record still holds that payload: here
    another process queues a new copy of the same NF-e (other bytes, same key) before the record is sent."""
    exported = export(tmp_path, 3, items=3)
    seed(sandbox, exported)
    options = PipelineOptions(account="sandbox")
    results: list[Result] = []
    with SqliteJournal(tmp_path / "j.db") as journal, SqliteJournal(tmp_path / "j.db") as elsewhere:
        runner = Runner(journal, _client(sandbox), options, on_result=results.append, report_all=False)
        assert runner.enqueue(prepare(exported.path, options)).state == "queued"
        copy = tmp_path / "copy.xml"
        copy.write_bytes(exported.raw.replace(b'encoding="UTF-8"', b'encoding="utf-8"', 1))
        assert copy.read_bytes() != exported.raw
        replacement = prepare(copy, options)
        assert replacement.record is not None
        assert Runner(elsewhere, None, options).enqueue(replacement).state == "queued"
        _deliver_all(runner)
        assert [r.state for r in results] == ["sent"]
        record = journal.get(replacement.record.key)
    assert record is not None and record.sent_payload is not None and replacement.record.payload is not None
    sent, queued = json.loads(record.sent_payload), json.loads(replacement.record.payload)
    assert sent["embeddedInvoice"] == queued["embeddedInvoice"] == copy.read_bytes().decode()
    [package] = packages(sandbox, exported.order_id)
    assert package["embeddedInvoice"].startswith('<?xml version="1.0" encoding="utf-8"?>')


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


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.booleans())
def test_the_body_planned_from_the_kept_template_is_the_whole_mapping_encoded(raw: bytes, as_integer: bool) -> None:
    """The sending stage writes the body by replacing the items of the payload text it kept: byte for byte
    what mapping the whole document against the order and encoding it gives."""
    document = parse(raw)
    order_json = order_for_document(document, "SPLICE-01")
    order = Order.model_validate(order_json)
    # unsigned test documents: forced past validation, which is not what this is about
    options = PipelineOptions(account="x", mapping=MappingOptions(invoice_value_as_integer=as_integer), force=True)
    prepared = prepare(raw, options)
    assert prepared.record is not None and prepared.template is not None and prepared.facts is not None
    try:
        expected = build_invoice(document, order=order, options=options.mapping, force=True).payload
    except MappingError:
        return  # refused the same way on both paths (test_vtex_remap)
    plan = plan_delivery("SPLICE-01", b"", prepared.template, order, options,
                         invoice_number=prepared.record.key.invoice_number, facts=prepared.facts)
    assert plan.body == expected.to_json(invoice_value_as_integer=as_integer)


def test_a_kept_payload_laid_out_otherwise_is_encoded_whole() -> None:
    raw = build_nfe(default_spec(3))
    document = parse(raw)
    order = Order.model_validate(order_for_document(document, "SPLICE-02"))
    prepared = prepare(raw, PipelineOptions(account="x", force=True))
    assert prepared.template is not None and prepared.record is not None and prepared.facts is not None
    integer = PipelineOptions(account="x", mapping=MappingOptions(invoice_value_as_integer=True), force=True)
    indented = json.dumps(json.loads(prepared.template), ensure_ascii=False, indent=1)  # a stored one, say
    expected = build_invoice(document, order=order, force=True).payload
    for template, options in ((prepared.template, integer), (indented, PipelineOptions(account="x", force=True))):
        plan = plan_delivery("SPLICE-02", b"", template, order, options,
                             invoice_number=prepared.record.key.invoice_number, facts=prepared.facts)
        assert plan.body == expected.to_json(invoice_value_as_integer=options.mapping.invoice_value_as_integer)


def test_the_validating_processes_of_a_batch_compress_each_document_for_the_journal(tmp_path: Path) -> None:
    paths = [str(export(tmp_path, n, items=2).path) for n in (1, 2, 3)]
    options = PipelineOptions(account="sandbox")
    for journal, compressed in ((True, True), (False, False)):
        executor = prepare_executor(options, 2, journal=journal)
        assert executor is not None
        try:
            prepared = list(prepare_all(paths, options, executor, chunk=1))
        finally:
            executor.shutdown()
        for each in prepared:
            assert each.record is not None
            if compressed:
                assert each.record.stored_document is not None
                assert zlib.decompress(each.record.stored_document) == each.record.document
            else:
                assert each.record.stored_document is None


def test_the_journal_stores_the_compressed_document_it_is_given(tmp_path: Path) -> None:
    exported = export(tmp_path, 4, items=2)
    prepared = prepare(exported.path, PipelineOptions(account="sandbox"))
    assert prepared.record is not None
    given = zlib.compress(exported.raw, 9)  # not what the journal would make itself (level 1)
    record = dataclasses.replace(prepared.record, stored_document=given)
    with SqliteJournal(tmp_path / "j.db") as journal:
        journal.enqueue(record)
        assert journal.document(record.key) == exported.raw
        stored = journal._conn.execute("SELECT document FROM record_bodies").fetchone()[0]
    assert stored == given
    assert record == prepared.record  # the compressed copy is not part of the record's identity


def test_prepare_many_gives_what_prepare_gives_each(tmp_path: Path) -> None:
    """The batch's workers prepare a chunk at a time (validated group by group): the same as one at a time, for
    sound, refused, unreadable, homologation and fractional-quantity documents alike."""
    from nfe_invoice.pipeline import prepare_many

    samples = sorted((Path(__file__).parents[1] / "nfe_invoice" / "samples").glob("*.xml"))
    homologation = tmp_path / "homologation.xml"
    identity = make_test_certificate()

    def signed(**changes: object) -> bytes:
        return wrap_nfeproc(sign_nfe(build_nfe(default_spec(**changes)), identity))

    homologation.write_bytes(signed(items=2, number=7, environment=2))
    fractional = signed(items=7, number=8)  # its seventh item has a fractional quantity
    sources: list[str | bytes] = [*(str(path) for path in samples), str(tmp_path / "missing.xml"),
                                  str(homologation), fractional, b"<not-xml", signed(items=3, number=9)] * 3
    options = PipelineOptions(account="x")
    many = prepare_many(sources, options)
    one_by_one = [prepare(source, options) for source in sources]
    assert many == one_by_one
    codes = {prepared.code for prepared in many}
    assert {None, "input.source", "pipeline.validation", "pipeline.homologation"} <= codes
    assert any(prepared.template is not None and prepared.record is not None and prepared.record.payload is None
               for prepared in many), "a document whose items wait for the order"
