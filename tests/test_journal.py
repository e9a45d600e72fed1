"""The journal contract (nfe_invoice.journal.base), run on every backend through ``journal_factory``.

Idempotent enqueue (the full outcome table), exclusive claims, leases and their takeover, fencing by attempt,
outcomes, queries, counts, the shared rate bucket, and a stateful property test of the whole state machine.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from nfe_invoice.journal import (
    Claim,
    EnqueueOutcome,
    Journal,
    NewRecord,
    Query,
    Record,
    RecordKey,
    State,
    decide_enqueue,
)
from nfe_invoice.journal.base import UNCONFIGURED_ACCOUNT

from . import journal_backends
from .journal_backends import JournalFactory

journal_factory = journal_backends.journal_factory  # the fixture: every test below runs on every backend

LONG = 3600.0  # a lease that does not expire during a test
Q, R = State.QUEUED, State.REFUSED


def sha(data: str | bytes) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def new_entry(n: int = 1, *, version: str = "v1", state: State = Q, order: str | None = None,
              account: str = "acme", document: bytes | None = None) -> NewRecord:
    """Invoice ``n`` of ``order`` (default ``order-n``); ``version`` names the payload (same version, same hash)."""
    key = RecordKey(account, order or f"order-{n}", f"{n:06d}")
    payload = json.dumps({"invoiceNumber": key.invoice_number, "version": version})
    raw = document if document is not None else f"<NFe><n>{n}</n><v>{version}</v></NFe>".encode()
    return NewRecord(
        key=key,
        access_key=f"{35000000000000000000000000000000000000000000 + n}",
        xml_sha256=sha(raw),
        document=raw,
        payload=payload if state is Q else None,
        payload_sha256=sha(payload),
        state=state,
        source=f"/erp/out/{n}-{version}.xml",
        findings=({"code": "totals.vnf", "sefaz": "610", "severity": "error", "message": "off", "xpath": None},)
        if state is R else (),
        decision={"action": "refuse", "why": version} if state is R else None,
        reason=f"refused {version}" if state is R else None,
    )


def claim_one(journal: Journal, owner: str = "host-a:1:aaaa", lease: float = LONG) -> Claim:
    claims = journal.claim(owner, limit=1, lease_seconds=lease)
    assert len(claims) == 1
    return claims[0]


# ---------------------------------------------------------------------------------------------- basics


def test_a_new_journal_is_empty_and_migrating_again_changes_nothing(journal_factory: JournalFactory) -> None:
    journal = journal_factory()
    version = journal.migrate()
    assert version >= 2
    assert journal.migrate() == version
    assert journal.counts().total == 0
    assert journal.pending() == 0
    assert list(journal.records()) == []
    assert journal.get(new_entry().key) is None
    assert journal.claim("host-a:1:aaaa", limit=10, lease_seconds=LONG) == []


def test_a_queued_record_reads_back_with_everything_it_was_given(journal_factory: JournalFactory) -> None:
    journal = journal_factory()
    entry = new_entry(7)
    before = datetime.now(UTC) - timedelta(seconds=5)
    result = journal.enqueue(entry)
    assert result.outcome is EnqueueOutcome.QUEUED
    record = result.record
    assert record == journal.get(entry.key)
    assert (record.key, record.access_key, record.xml_sha256) == (entry.key, entry.access_key, entry.xml_sha256)
    assert (record.payload, record.payload_sha256, record.source) == (entry.payload, entry.payload_sha256, entry.source)
    assert record.state is State.QUEUED
    assert record.attempts == 0
    assert record.created_at.tzinfo is not None
    assert before <= record.created_at <= record.updated_at <= datetime.now(UTC) + timedelta(seconds=5)
    assert (record.receipt, record.sent_payload, record.sent_at, record.lease_owner, record.lease_expires) == (
        None, None, None, None, None)
    assert journal.pending() == 1
    assert json.loads(json.dumps(record.to_dict()))["state"] == "queued"


def test_a_refused_record_keeps_its_findings_and_decision_and_is_never_claimed(journal_factory: JournalFactory) -> None:
    journal = journal_factory()
    entry = new_entry(3, state=R)
    result = journal.enqueue(entry)
    assert result.outcome is EnqueueOutcome.REFUSED
    record = result.record
    assert record.state is State.REFUSED
    assert record.payload is None
    assert [dict(f) for f in record.findings] == [dict(f) for f in entry.findings]
    assert record.decision == {"action": "refuse", "why": "v1"}
    assert record.reason == "refused v1"
    assert journal.pending() == 0
    assert journal.claim("host-a:1:aaaa", limit=5, lease_seconds=LONG) == []


def test_the_document_comes_back_byte_for_byte_with_the_claim(journal_factory: JournalFactory) -> None:
    journal = journal_factory()
    document = b'<?xml version="1.0" encoding="UTF-8"?>\n<NFe>' + bytes(range(256)) * 2000 + "ção".encode() + b"</NFe>"
    journal.enqueue(new_entry(1, document=document))
    claim = claim_one(journal)
    assert claim.document == document


# ---------------------------------------------------------------------------------------------- enqueue


def reach(journal: Journal, entry: NewRecord, state: State) -> Claim | None:
    """Bring ``entry``'s record to ``state`` through the interface; the live claim when it is sending."""
    journal.enqueue(replace(entry, state=R if state is R else Q))
    if state in (Q, R):
        return None
    claim = claim_one(journal, "host-a:1:first")
    if state is State.SENDING:
        return claim
    assert journal.finish(claim, state, receipt="receipt-1" if state is State.SENT else None,
                          sent_payload=entry.payload if state is State.SENT else None,
                          reason="VTEX 503" if state is State.FAILED else None)
    return None


SAME, OTHER = "v1", "v2"
ENQUEUE_TABLE = [
    # stored state, payload of the new entry, its state, force -> outcome, state afterwards
    (Q, SAME, Q, False, EnqueueOutcome.UNCHANGED, Q),
    (Q, SAME, R, False, EnqueueOutcome.REFUSED, R),
    (Q, OTHER, Q, False, EnqueueOutcome.QUEUED, Q),
    (Q, OTHER, R, False, EnqueueOutcome.CONFLICT, Q),  # a refused other copy never un-queues the sound one
    (Q, OTHER, R, True, EnqueueOutcome.REFUSED, R),
    (R, SAME, R, False, EnqueueOutcome.UNCHANGED, R),
    (R, SAME, Q, False, EnqueueOutcome.QUEUED, Q),
    (R, OTHER, Q, False, EnqueueOutcome.QUEUED, Q),
    (R, OTHER, R, False, EnqueueOutcome.REFUSED, R),
    (State.FAILED, SAME, Q, False, EnqueueOutcome.QUEUED, Q),
    (State.FAILED, OTHER, Q, False, EnqueueOutcome.QUEUED, Q),
    (State.FAILED, SAME, R, False, EnqueueOutcome.REFUSED, R),
    (State.SENDING, SAME, Q, False, EnqueueOutcome.UNCHANGED, State.SENDING),
    (State.SENDING, OTHER, Q, False, EnqueueOutcome.CONFLICT, State.SENDING),
    (State.SENDING, OTHER, Q, True, EnqueueOutcome.QUEUED, Q),
    (State.SENT, SAME, Q, False, EnqueueOutcome.UNCHANGED, State.SENT),
    (State.SENT, SAME, Q, True, EnqueueOutcome.UNCHANGED, State.SENT),
    (State.SENT, SAME, R, False, EnqueueOutcome.UNCHANGED, State.SENT),
    (State.SENT, OTHER, Q, False, EnqueueOutcome.CONFLICT, State.SENT),
    (State.SENT, OTHER, R, False, EnqueueOutcome.CONFLICT, State.SENT),
    (State.SENT, OTHER, Q, True, EnqueueOutcome.QUEUED, Q),
    (State.DELIVERED_ALREADY, SAME, Q, False, EnqueueOutcome.UNCHANGED, State.DELIVERED_ALREADY),
    (State.DELIVERED_ALREADY, OTHER, Q, False, EnqueueOutcome.CONFLICT, State.DELIVERED_ALREADY),
    (State.DELIVERED_ALREADY, OTHER, Q, True, EnqueueOutcome.QUEUED, Q),
]


@pytest.mark.parametrize(("stored", "version", "state", "force", "outcome", "after"), ENQUEUE_TABLE,
                         ids=[f"{r[0].value}-{r[1]}-{r[2].value}{'-force' if r[3] else ''}" for r in ENQUEUE_TABLE])
def test_enqueue_outcomes(journal_factory: JournalFactory, stored: State, version: str, state: State, force: bool,
                          outcome: EnqueueOutcome, after: State) -> None:
    journal = journal_factory()
    first = new_entry(5, version=SAME)
    reach(journal, first, stored)
    before = journal.get(first.key)
    assert before is not None
    entry = new_entry(5, version=version, state=state)

    result = journal.enqueue(entry, force=force)

    assert result.outcome is outcome
    assert decide_enqueue(before, entry, force=force) is outcome  # the shared rule says the same
    now = journal.get(first.key)
    assert now is not None
    assert result.record == now
    assert now.state is after
    if outcome in (EnqueueOutcome.UNCHANGED, EnqueueOutcome.CONFLICT):
        assert now == before  # nothing written at all
    else:  # replaced: the new content, the same identity and fencing token, the last delivery remembered
        assert (now.payload, now.payload_sha256, now.source) == (entry.payload, entry.payload_sha256, entry.source)
        assert (now.created_at, now.attempts) == (before.created_at, before.attempts)
        assert (now.receipt, now.sent_payload) == (before.receipt, before.sent_payload)
        assert now.lease_owner is None
        assert now.reason == entry.reason
    assert journal.counts().total == 1


@pytest.mark.parametrize("state", [Q, R])
def test_another_document_never_replaces_a_queued_one(journal_factory: JournalFactory, state: State) -> None:
    """Two NF-e (other access keys) under one order and invoice number: the queued one stays, the other is a
    conflict and is not stored; with force it replaces it. A refused record is still replaced (nothing in it
    was going to be sent)."""
    journal = journal_factory()
    first = new_entry(3)
    journal.enqueue(first)
    other = dataclasses.replace(new_entry(3, version=OTHER, state=state), access_key="4" * 44)
    assert decide_enqueue(journal.get(first.key), other) is EnqueueOutcome.CONFLICT
    assert journal.enqueue(other).outcome is EnqueueOutcome.CONFLICT
    kept = journal.get(first.key)
    assert kept is not None and (kept.state, kept.access_key, kept.payload) == (Q, first.access_key, first.payload)
    assert journal.enqueue(other, force=True).record.access_key == "4" * 44

    refused = journal_factory()
    refused.enqueue(new_entry(3, state=R))
    assert refused.enqueue(other).outcome is (EnqueueOutcome.QUEUED if state is Q else EnqueueOutcome.REFUSED)


def test_a_forced_replacement_fences_out_the_holder_of_a_sending_record(journal_factory: JournalFactory) -> None:
    journal = journal_factory()
    holder = reach(journal, new_entry(1), State.SENDING)
    assert holder is not None
    assert journal.enqueue(new_entry(1, version="v2"), force=True).outcome is EnqueueOutcome.QUEUED
    assert not journal.finish(holder, State.SENT, receipt="late")
    claim = claim_one(journal, "host-b:2:bbbb")
    assert claim.attempt == holder.attempt + 1
    assert claim.record.payload == new_entry(1, version="v2").payload
    assert claim.document == new_entry(1, version="v2").document


def test_a_new_record_must_be_queued_or_refused() -> None:
    with pytest.raises(ValueError, match="queued or refused"):
        decide_enqueue(None, new_entry(1, state=State.SENT))


# ---------------------------------------------------------------------------------------------- claims


def test_claims_take_queued_records_oldest_first_and_never_twice(journal_factory: JournalFactory) -> None:
    journal = journal_factory()
    for n in range(1, 8):
        journal.enqueue(new_entry(n))
    journal.enqueue(new_entry(99, state=R))
    first = journal.claim("host-a:1:aaaa", limit=3, lease_seconds=LONG)
    second = journal.claim("host-b:2:bbbb", limit=10, lease_seconds=LONG)
    assert [c.record.key.invoice_number for c in first] == ["000001", "000002", "000003"]
    assert [c.record.key.invoice_number for c in second] == ["000004", "000005", "000006", "000007"]
    assert journal.claim("host-c:3:cccc", limit=10, lease_seconds=LONG) == []
    assert journal.claim("host-a:1:aaaa", limit=0, lease_seconds=LONG) == []
    for claim, owner in [(c, "host-a:1:aaaa") for c in first] + [(c, "host-b:2:bbbb") for c in second]:
        assert claim.owner == owner
        assert claim.attempt == claim.record.attempts == 1
        assert claim.recovered is False
        assert claim.record.state is State.SENDING
        assert claim.record.lease_owner == owner
        assert claim.record.lease_expires is not None
        assert claim.record.lease_expires > datetime.now(UTC) + timedelta(seconds=LONG - 60)
        stored = journal.get(claim.record.key)
        assert stored is not None
        assert (stored.state, stored.lease_owner, stored.attempts) == (State.SENDING, owner, 1)
    assert journal.pending() == 7


def test_an_expired_lease_is_taken_over_and_the_old_holder_is_fenced_out(journal_factory: JournalFactory) -> None:
    journal = journal_factory()
    journal.enqueue(new_entry(1))
    old = claim_one(journal, "host-a:1:aaaa", lease=0.3)
    assert journal.claim("host-b:2:bbbb", limit=5, lease_seconds=LONG) == []  # still held
    time.sleep(0.4)
    new = claim_one(journal, "host-b:2:bbbb")
    assert new.recovered is True
    assert (new.attempt, new.owner) == (2, "host-b:2:bbbb")

    assert journal.renew(old, LONG) is False
    assert journal.finish(old, State.SENT, receipt="stale") is False
    assert journal.release(old) is False
    record = journal.get(new.record.key)
    assert record is not None
    assert (record.state, record.lease_owner, record.attempts, record.receipt) == (
        State.SENDING, "host-b:2:bbbb", 2, None)

    assert journal.finish(new, State.SENT, receipt="r-2", sent_payload=new.record.payload)
    record = journal.get(new.record.key)
    assert record is not None
    assert (record.state, record.receipt, record.sent_payload) == (State.SENT, "r-2", new.record.payload)


def test_renewing_keeps_a_lease_from_expiring(journal_factory: JournalFactory) -> None:
    journal = journal_factory()
    journal.enqueue(new_entry(1))
    claim = claim_one(journal, lease=0)
    assert journal.renew(claim, LONG) is True
    assert journal.claim("host-b:2:bbbb", limit=5, lease_seconds=LONG) == []
    record = journal.get(claim.record.key)
    assert record is not None
    assert record.lease_expires is not None
    assert record.lease_expires > datetime.now(UTC) + timedelta(seconds=LONG - 60)
    assert journal.finish(claim, State.DELIVERED_ALREADY)


def test_a_released_record_is_queued_again_and_the_next_claim_counts_another_attempt(
    journal_factory: JournalFactory,
) -> None:
    journal = journal_factory()
    journal.enqueue(new_entry(1))
    claim = claim_one(journal)
    assert journal.release(claim) is True
    assert journal.release(claim) is False  # no longer held
    record = journal.get(claim.record.key)
    assert record is not None
    assert (record.state, record.lease_owner, record.lease_expires) == (State.QUEUED, None, None)
    again = claim_one(journal, "host-b:2:bbbb")
    assert again.attempt == 2
    assert again.recovered is False
    assert journal.finish(claim, State.SENT) is False


# ---------------------------------------------------------------------------------------------- outcomes


def test_finish_records_each_outcome(journal_factory: JournalFactory) -> None:
    journal = journal_factory()
    for n in range(1, 5):
        journal.enqueue(new_entry(n))
    sent, already, refused, failed = journal.claim("host-a:1:aaaa", limit=4, lease_seconds=LONG)
    finding = {"code": "order.value", "sefaz": None, "severity": "error", "message": "x", "xpath": None}
    assert journal.finish(sent, State.SENT, receipt="r-1", sent_payload='{"sent": 1}',
                          decision={"action": "send"})
    assert journal.finish(already, State.DELIVERED_ALREADY, decision={"action": "already"})
    assert journal.finish(refused, State.REFUSED, reason="order cancelled", decision={"action": "refuse"},
                          findings=(finding,))
    assert journal.finish(failed, State.FAILED, reason="VTEX 503 after 3 retries")
    assert journal.finish(sent, State.FAILED) is False  # a finished claim no longer holds its record

    def stored(claim: Claim) -> Record:
        record = journal.get(claim.record.key)
        assert record is not None
        assert (record.lease_owner, record.lease_expires) == (None, None)
        return record

    record = stored(sent)
    assert (record.state, record.receipt, record.sent_payload, record.decision) == (
        State.SENT, "r-1", '{"sent": 1}', {"action": "send"})
    assert record.sent_at is not None
    record = stored(already)
    assert (record.state, record.decision) == (State.DELIVERED_ALREADY, {"action": "already"})
    assert record.sent_at is not None
    record = stored(refused)
    assert (record.state, record.reason, record.decision) == (State.REFUSED, "order cancelled", {"action": "refuse"})
    assert [dict(f) for f in record.findings] == [finding]
    record = stored(failed)
    assert (record.state, record.reason, record.sent_at) == (State.FAILED, "VTEX 503 after 3 retries", None)
    assert journal.pending() == 0
    assert journal.counts().by_state == {State.SENT: 1, State.DELIVERED_ALREADY: 1, State.REFUSED: 1,
                                         State.FAILED: 1}


@pytest.mark.parametrize("state", [State.QUEUED, State.SENDING])
def test_finish_only_records_outcomes(journal_factory: JournalFactory, state: State) -> None:
    journal = journal_factory()
    journal.enqueue(new_entry(1))
    claim = claim_one(journal)
    with pytest.raises(ValueError, match="outcome"):
        journal.finish(claim, state)


def test_failed_records_are_queued_again_on_request(journal_factory: JournalFactory) -> None:
    journal = journal_factory()
    for n in range(1, 5):
        journal.enqueue(new_entry(n))
    claims = journal.claim("host-a:1:aaaa", limit=4, lease_seconds=LONG)
    for claim in claims[:3]:
        journal.finish(claim, State.FAILED, reason="down")
    journal.finish(claims[3], State.SENT, receipt="r")
    assert journal.requeue_failed() == 3
    assert journal.requeue_failed() == 0
    assert journal.counts().by_state == {State.QUEUED: 3, State.SENT: 1}
    retried = journal.claim("host-a:1:aaaa", limit=10, lease_seconds=LONG)
    assert sorted(c.attempt for c in retried) == [2, 2, 2]


def test_a_worker_takes_only_the_records_of_its_account_and_the_unconfigured_ones(
    journal_factory: JournalFactory,
) -> None:
    """One journal may hold several stores' invoices: a worker delivering to one store never sends another's
    (nor counts them as pending, or it would never drain); records enqueued with no account go to any."""
    journal = journal_factory()
    for n, account in enumerate(["acme", "other", UNCONFIGURED_ACCOUNT, "acme", "other"], start=1):
        journal.enqueue(new_entry(n, account=account))
    assert journal.pending() == 5
    assert journal.pending("acme") == 3 and journal.pending("other") == 3 and journal.pending("nobody") == 1
    taken = journal.claim("host-a:1:aaaa", limit=10, lease_seconds=LONG, account="acme")
    assert sorted(c.record.key.account for c in taken) == ["acme", "acme", UNCONFIGURED_ACCOUNT]
    assert journal.pending("acme") == 3  # being sent
    for claim in taken:
        journal.finish(claim, State.FAILED, reason="down")
    assert journal.pending("acme") == 0 and journal.pending("other") == 2  # the drain of "acme" can end
    stale = journal.claim("host-b:2:bbbb", limit=10, lease_seconds=0, account="other")
    assert sorted(c.record.key.invoice_number for c in stale) == ["000002", "000005"]
    assert journal.claim("host-c:3:cccc", limit=10, lease_seconds=LONG, account="acme") == []  # not even expired
    assert journal.requeue_failed("other") == 1  # the unconfigured one only
    assert journal.requeue_failed("acme") == 2
    assert journal.counts().by_state == {State.QUEUED: 3, State.SENDING: 2}


# ---------------------------------------------------------------------------------------------- reading


def test_queries_filter_and_keep_the_oldest_first(journal_factory: JournalFactory) -> None:
    journal = journal_factory()
    for n in range(1, 6):
        journal.enqueue(new_entry(n, order="order-A" if n % 2 else "order-B"))
    journal.enqueue(new_entry(6, order="order-A", state=R))
    time.sleep(0.05)
    middle = datetime.now(UTC)
    time.sleep(0.05)
    claim = claim_one(journal)  # record 1 changes after `middle`
    journal.finish(claim, State.SENT, receipt="r")

    def numbers(query: Query) -> list[int]:
        return [int(r.key.invoice_number) for r in journal.records(query)]

    assert numbers(Query()) == [1, 2, 3, 4, 5, 6]
    assert numbers(Query(order_id="order-A")) == [1, 3, 5, 6]
    assert numbers(Query(order_id="order-B")) == [2, 4]
    assert numbers(Query(state=State.QUEUED)) == [2, 3, 4, 5]
    assert numbers(Query(state=State.SENT)) == [1]
    assert numbers(Query(since=middle)) == [1]
    assert numbers(Query(since=middle + timedelta(hours=1))) == []
    assert numbers(Query(access_key=new_entry(4).access_key)) == [4]
    assert numbers(Query(order_id="order-A", state=State.QUEUED)) == [3, 5]
    assert numbers(Query(limit=2)) == [1, 2]
    assert numbers(Query(order_id="nope")) == []
    counts = journal.counts()
    assert counts.by_state == {State.SENT: 1, State.QUEUED: 4, State.REFUSED: 1}
    assert counts.total == 6
    assert journal.pending() == 4


# ---------------------------------------------------------------------------------------------- sharing


def test_two_handles_on_one_journal_see_each_other_and_never_share_a_claim(journal_factory: JournalFactory) -> None:
    one = journal_factory()
    other = journal_factory.reopen(one)
    for n in range(1, 11):
        (one if n % 2 else other).enqueue(new_entry(n))
    assert one.counts().total == other.counts().total == 10
    held: list[Claim] = []
    for round_ in range(6):
        held += (one if round_ % 2 else other).claim(f"host-{round_ % 2}:1:x", limit=2, lease_seconds=LONG)
    keys = [c.record.key for c in held]
    assert len(keys) == len(set(keys)) == 10
    assert one.enqueue(new_entry(3)).outcome is EnqueueOutcome.UNCHANGED  # enqueued through the other handle


def test_the_rate_bucket_gives_the_burst_then_spaces_requests_at_the_rate(journal_factory: JournalFactory) -> None:
    journal = journal_factory()
    other = journal_factory.reopen(journal)
    waits = [journal.reserve_rate("acme", 2.0, 3) for _ in range(3)]
    assert waits == [0.0, 0.0, 0.0]
    fourth = other.reserve_rate("acme", 2.0, 3)  # the same bucket through another handle
    fifth = journal.reserve_rate("acme", 2.0, 3)
    assert 0.3 < fourth <= 0.5
    assert 0.8 < fifth <= 1.0
    assert journal.reserve_rate("another-account", 2.0, 3) == 0.0
    with pytest.raises(ValueError, match="rate"):
        journal.reserve_rate("acme", 0, 3)
    with pytest.raises(ValueError, match="burst"):
        journal.reserve_rate("acme", 1.0, 0)


def test_the_rate_bucket_refills_over_time(journal_factory: JournalFactory) -> None:
    journal = journal_factory()
    assert journal.reserve_rate("acme", 20.0, 1) == 0.0
    assert journal.reserve_rate("acme", 20.0, 1) > 0.0
    time.sleep(0.25)  # both tokens paid back, and more: never above the burst
    assert journal.reserve_rate("acme", 20.0, 1) == 0.0
    assert journal.reserve_rate("acme", 20.0, 1) > 0.0


# ---------------------------------------------------------------------------------------------- state machine


@dataclass
class Expected:
    state: State
    version: str
    attempts: int = 0
    holder: tuple[str, int] | None = None  # (owner, attempt) while sending
    expired: bool = False


class JournalMachine(RuleBasedStateMachine):
    """Drives a journal with random enqueue / claim / renew / finish / release / requeue sequences against a
    model written independently of the implementation; leases expire by being given (or renewed to) zero
    seconds. Checked after every step: each record's state, attempts and holder, counts and pending."""

    factory: JournalFactory

    def __init__(self) -> None:
        super().__init__()
        self.journal = self.factory()
        self.model: dict[RecordKey, Expected] = {}
        self.claims: list[Claim] = []

    def teardown(self) -> None:
        self.journal.close()

    @staticmethod
    def key(n: int) -> RecordKey:
        return new_entry(n).key

    @rule(n=st.integers(1, 4), version=st.sampled_from(["v1", "v2"]), refused=st.booleans(), force=st.booleans())
    def enqueue(self, n: int, version: str, refused: bool, force: bool) -> None:
        entry = new_entry(n, version=version, state=R if refused else Q)
        now = self.model.get(entry.key)
        if now is None:
            expected = EnqueueOutcome.REFUSED if refused else EnqueueOutcome.QUEUED
        elif now.state in (State.SENDING, State.SENT, State.DELIVERED_ALREADY):
            if now.version == version:
                expected = EnqueueOutcome.UNCHANGED
            elif force:
                expected = EnqueueOutcome.REFUSED if refused else EnqueueOutcome.QUEUED
            else:
                expected = EnqueueOutcome.CONFLICT
        elif now.state is not State.FAILED and now.version == version and now.state is entry.state:
            expected = EnqueueOutcome.UNCHANGED
        elif now.state is Q and now.version != version and refused and not force:
            expected = EnqueueOutcome.CONFLICT  # a refused other copy never un-queues a queued record
        else:
            expected = EnqueueOutcome.REFUSED if refused else EnqueueOutcome.QUEUED
        assert self.journal.enqueue(entry, force=force).outcome is expected
        if expected in (EnqueueOutcome.QUEUED, EnqueueOutcome.REFUSED):
            attempts = now.attempts if now else 0
            self.model[entry.key] = Expected(entry.state, version, attempts)

    @rule(owner=st.sampled_from(["w1", "w2", "w3"]), limit=st.integers(1, 3), expired=st.booleans())
    def claim(self, owner: str, limit: int, expired: bool) -> None:
        claimable = {k for k, e in self.model.items() if e.state is Q or (e.state is State.SENDING and e.expired)}
        claims = self.journal.claim(owner, limit=limit, lease_seconds=0 if expired else LONG)
        assert len(claims) == min(limit, len(claimable))
        keys = [c.record.key for c in claims]
        assert len(set(keys)) == len(keys)
        for claim in claims:
            expected = self.model[claim.record.key]
            assert claim.record.key in claimable
            assert claim.recovered is (expected.state is State.SENDING)
            assert claim.attempt == expected.attempts + 1
            expected.state, expected.attempts = State.SENDING, claim.attempt
            expected.holder, expected.expired = (owner, claim.attempt), expired
        self.claims += claims

    def holds(self, claim: Claim) -> bool:
        expected = self.model[claim.record.key]
        return expected.state is State.SENDING and expected.holder == (claim.owner, claim.attempt)

    @rule(data=st.data(), outcome=st.sampled_from([State.SENT, State.DELIVERED_ALREADY, State.REFUSED, State.FAILED]))
    def finish(self, data: st.DataObject, outcome: State) -> None:
        if not self.claims:
            return
        claim = data.draw(st.sampled_from(self.claims))
        expected = self.holds(claim)
        assert self.journal.finish(claim, outcome, receipt="r") is expected
        if expected:
            record = self.model[claim.record.key]
            record.state, record.holder, record.expired = outcome, None, False

    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        if not self.claims:
            return
        claim = data.draw(st.sampled_from(self.claims))
        expected = self.holds(claim)
        assert self.journal.release(claim) is expected
        if expected:
            record = self.model[claim.record.key]
            record.state, record.holder, record.expired = Q, None, False

    @rule(data=st.data(), expire=st.booleans())
    def renew(self, data: st.DataObject, expire: bool) -> None:
        if not self.claims:
            return
        claim = data.draw(st.sampled_from(self.claims))
        expected = self.holds(claim)
        assert self.journal.renew(claim, 0 if expire else LONG) is expected
        if expected:
            self.model[claim.record.key].expired = expire

    @rule()
    def requeue_failed(self) -> None:
        failed = [e for e in self.model.values() if e.state is State.FAILED]
        assert self.journal.requeue_failed() == len(failed)
        for expected in failed:
            expected.state = Q

    @invariant()
    def journal_matches_the_model(self) -> None:
        for key, expected in self.model.items():
            record = self.journal.get(key)
            assert record is not None
            assert (record.state, record.attempts) == (expected.state, expected.attempts)
            assert record.payload_sha256 == new_entry(int(key.invoice_number), version=expected.version).payload_sha256
            if expected.state is State.SENDING:
                assert expected.holder is not None
                assert record.lease_owner == expected.holder[0]
            else:
                assert record.lease_owner is None
        counts: dict[State, int] = {}
        for expected in self.model.values():
            counts[expected.state] = counts.get(expected.state, 0) + 1
        assert self.journal.counts().by_state == counts
        assert self.journal.pending() == counts.get(Q, 0) + counts.get(State.SENDING, 0)


def test_any_sequence_of_operations_keeps_the_state_machine_consistent(journal_factory: JournalFactory) -> None:
    machine = type("Machine", (JournalMachine,), {"factory": journal_factory})
    run_state_machine_as_test(  # type: ignore[no-untyped-call]
        machine,
        settings=settings(max_examples=60, stateful_step_count=30, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow]),
    )
