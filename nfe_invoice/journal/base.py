"""The journal's one small interface: what every backend (SQLite, PostgreSQL) must do, and the record.

One record per invoice, keyed by (account, order id, invoice number). Its state machine::

    (new) ──enqueue──► queued ──claim──► sending ──finish──► sent | delivered-already | failed
      │                  ▲                  │
      └──enqueue──► refused                 └──release (shutdown) / lease expired ──► claimable again

* ``refused``: validation, mapping or reconciliation said no; ``findings`` / ``decision`` say why. Never sent.
* ``sending``: claimed under a lease (``lease_owner``, ``lease_expires``); ``attempts`` is the fencing token:
  every claim increments it and :meth:`Journal.finish` only writes when the claim's attempt is still the
  record's, so a worker whose lease expired cannot overwrite the newer outcome.
* ``sent`` (with VTEX's ``receipt``), ``delivered-already`` (the order already holds this very invoice),
  ``failed`` (VTEX unreachable or refusing after the retries; a later run queues it again).

Idempotency lives in :meth:`Journal.enqueue`: the same invoice with the same payload hash changes nothing;
a different payload for an invoice number already sent is a conflict (refused unless forced), because an
invoice number, once sent, can never be corrected at VTEX.
"""

from __future__ import annotations

import enum
import os
import socket
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class State(enum.StrEnum):
    QUEUED = "queued"
    REFUSED = "refused"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED_ALREADY = "delivered-already"
    FAILED = "failed"


#: States whose payload VTEX holds (an invoice number in them can no longer be changed).
DELIVERED_STATES = frozenset({State.SENT, State.DELIVERED_ALREADY})


#: The account of records enqueued with no VTEX account configured (``enqueue`` on the machine that has the
#: files may not know it): whichever store the worker that claims them delivers to.
UNCONFIGURED_ACCOUNT = "unconfigured"


def account_condition(account: str | None, placeholder: str) -> tuple[str, tuple[str, ...]]:
    """The SQL condition (with the backend's ``placeholder``) and its parameters that keep the records a
    worker delivering to ``account`` takes: its own and the unconfigured ones; nothing for None (every
    account: tools, not workers)."""
    if account is None:
        return "", ()
    accounts = tuple(dict.fromkeys((account, UNCONFIGURED_ACCOUNT)))
    return f" AND account IN ({', '.join([placeholder] * len(accounts))})", accounts


@dataclass(frozen=True)
class RecordKey:
    account: str
    order_id: str
    invoice_number: str


@dataclass(frozen=True)
class NewRecord:
    """What enqueueing knows about one document (built by the pipeline, stored by the journal).

    ``document`` is the XML exactly as received, kept so a worker can map it again against the order it
    fetches (VTEX's SKU ids come from the order) without the original file. ``payload`` is the request body
    as built at enqueue time (JSON text), None when it can only be built against the order; its hash is
    the record's identity for idempotency.
    """

    key: RecordKey
    access_key: str
    xml_sha256: str
    document: bytes
    payload: str | None
    payload_sha256: str
    state: State = State.QUEUED  # QUEUED or REFUSED
    source: str | None = None
    findings: tuple[Mapping[str, Any], ...] = ()
    decision: Mapping[str, Any] | None = None
    reason: str | None = None
    #: ``document`` as the journal stores it (:func:`compress_document`), when whoever built the record made
    #: it already: the batch's validating processes compress each document they hold, so the one process that
    #: writes the journal does not. None: the journal compresses ``document`` itself.
    stored_document: bytes | None = field(default=None, repr=False, compare=False)

    def compressed_document(self) -> bytes:
        """``document`` as the journal stores it."""
        return self.stored_document if self.stored_document is not None else compress_document(self.document)


@dataclass(frozen=True)
class Record:
    """A journal row as read back."""

    key: RecordKey
    access_key: str
    xml_sha256: str
    payload: str | None
    payload_sha256: str
    state: State
    attempts: int
    created_at: datetime
    updated_at: datetime
    source: str | None = None
    receipt: str | None = None
    reason: str | None = None
    findings: tuple[Mapping[str, Any], ...] = ()
    decision: Mapping[str, Any] | None = None
    sent_payload: str | None = None
    sent_at: datetime | None = None
    lease_owner: str | None = None
    lease_expires: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape shared by ``status --format json`` and the HTTP service."""
        return {
            "account": self.key.account,
            "order_id": self.key.order_id,
            "invoice_number": self.key.invoice_number,
            "access_key": self.access_key,
            "state": self.state.value,
            "receipt": self.receipt,
            "attempts": self.attempts,
            "reason": self.reason,
            "findings": [dict(f) for f in self.findings],
            "decision": dict(self.decision) if self.decision is not None else None,
            "source": self.source,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "sent_at": self.sent_at.isoformat() if self.sent_at else None,
        }


class EnqueueOutcome(enum.StrEnum):
    QUEUED = "queued"  # new record, or a refused/failed one queued again (its payload replaced)
    REFUSED = "refused"  # stored as refused
    UNCHANGED = "unchanged"  # the same payload was already there: nothing changes
    CONFLICT = "conflict"  # a different payload for an invoice number VTEX holds, or another queued document


def decide_enqueue(existing: Record | None, entry: NewRecord, *, force: bool = False) -> EnqueueOutcome:
    """What :meth:`Journal.enqueue` does with ``entry`` given the record already stored under its key.

    One pure function so every backend gives the same answer (the backend only stores it):

    ========================  =========================  ==========================================
    stored record             same payload hash          different payload hash
    ========================  =========================  ==========================================
    none                      entry's state (QUEUED or REFUSED)
    queued                    UNCHANGED if the entry's   replaced by the same bytes (a new verdict)
                              state is the same, else    or a queued copy of the same NF-e (same
                              replaced (a new verdict)   key); another document, or a refused copy,
                                                         is a CONFLICT (with ``force``: replaced)
    refused                   as queued                  replaced: entry's state
    failed                    replaced: entry's state (QUEUED = queued again for a retry)
    sending, sent,            UNCHANGED                  CONFLICT; with ``force``: replaced
    delivered-already
    ========================  =========================  ==========================================

    Why a queued record is kept against another document: it is waiting to be sent, and two documents
    cannot share an (order, invoice number); replacing it lost the first without a word (two NF-e of one
    order in two series under ``{nNF}``), and a damaged copy's refusal un-queued the sound original.

    A record in ``sending`` counts as delivered here: its payload may already be at VTEX. Replacing it (force)
    puts it back to ``queued``, which fences out its current holder (``finish`` needs state ``sending``).
    A replaced record keeps its key, ``created_at`` and ``attempts`` (the fencing token only ever grows), and
    ``receipt``/``sent_payload``/``sent_at``, which always describe the last delivery VTEX confirmed.
    """
    if entry.state not in (State.QUEUED, State.REFUSED):
        raise ValueError(f"a new record is queued or refused, not {entry.state.value}")
    fresh = EnqueueOutcome.QUEUED if entry.state is State.QUEUED else EnqueueOutcome.REFUSED
    if existing is None:
        return fresh
    same = existing.payload_sha256 == entry.payload_sha256
    if existing.state in DELIVERED_STATES or existing.state is State.SENDING:
        if same:
            return EnqueueOutcome.UNCHANGED
        return fresh if force else EnqueueOutcome.CONFLICT
    if existing.state is not State.FAILED and same and existing.state is entry.state:
        return EnqueueOutcome.UNCHANGED
    if existing.state is State.QUEUED and not same and not force and existing.xml_sha256 != entry.xml_sha256:
        same_nfe = bool(existing.access_key) and existing.access_key == entry.access_key
        if not same_nfe or entry.state is State.REFUSED:
            return EnqueueOutcome.CONFLICT
    return fresh


@dataclass(frozen=True)
class EnqueueResult:
    outcome: EnqueueOutcome
    record: Record


@dataclass(frozen=True)
class Claim:
    """A record held under a lease by one worker. ``attempt`` is the fencing token (see the module doc)."""

    record: Record
    #: The XML as the journal keeps it (:func:`compress_document`); :attr:`document` reads it.
    stored_document: bytes
    attempt: int
    owner: str
    #: True when the record was taken over from a dead or expired holder: it may already be at VTEX.
    recovered: bool = False

    @property
    def document(self) -> bytes:
        """The XML as received, decompressed when read: delivering a record enqueued by the same process
        never reads it (the items it needs were kept in memory), so a batch does not pay for it."""
        return decompress_document(self.stored_document)


@dataclass(frozen=True)
class Query:
    """Filters that combine (all must hold); ``since`` keeps records whose ``updated_at`` is at or after it."""

    order_id: str | None = None
    state: State | None = None
    since: datetime | None = None
    access_key: str | None = None
    limit: int | None = None


@dataclass
class Counts:
    by_state: dict[State, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.by_state.values())


class Journal(Protocol):
    """Every backend implements exactly this. Each state change is one transaction."""

    url: str  # where it lives, with any password masked

    def migrate(self) -> int:
        """Create or upgrade the schema; returns the schema version now in force."""

    def enqueue(self, entry: NewRecord, *, force: bool = False) -> EnqueueResult:
        """Store a document's record idempotently (see :class:`EnqueueOutcome`).

        ``force`` replaces the payload of an invoice number already delivered and queues it again.
        """

    def claim(self, owner: str, *, limit: int, lease_seconds: float, account: str | None = None) -> list[Claim]:
        """Atomically take up to ``limit`` records that are queued, or sending under an expired (or dead)
        lease: state becomes sending, attempts + 1, the lease is ``owner``'s. No two owners ever hold one.
        ``account`` takes only the records :func:`account_condition` keeps: one journal may hold several
        stores' invoices, and a worker delivers to the one store its client speaks to."""

    def renew(self, claim: Claim, lease_seconds: float) -> bool:
        """Extend the lease; False when the record is no longer this claim's (fenced out)."""

    def finish(
        self,
        claim: Claim,
        state: State,
        *,
        receipt: str | None = None,
        reason: str | None = None,
        decision: Mapping[str, Any] | None = None,
        sent_payload: str | None = None,
        findings: tuple[Mapping[str, Any], ...] = (),
    ) -> bool:
        """Record the outcome (sent, delivered-already, refused or failed) if the claim still holds the
        record (``attempts == claim.attempt``); False, and nothing written, when it was fenced out."""

    def release(self, claim: Claim) -> bool:
        """Give a claimed record back (queued) without an outcome, e.g. on shutdown."""

    def requeue_failed(self, account: str | None = None) -> int:
        """Queue every failed record (deliverable to ``account``, when given) again (a later run retries
        them); returns how many."""

    def get(self, key: RecordKey) -> Record | None: ...

    def records(self, query: Query = Query()) -> Iterator[Record]:
        """Records matching the query, oldest first."""

    def counts(self) -> Counts: ...

    def pending(self, account: str | None = None) -> int:
        """Records queued or sending (deliverable to ``account``, when given): ``worker --drain`` stops when
        those of its account reach zero."""

    def reserve_rate(self, bucket: str, rate: float, burst: int) -> float:
        """Reserve one request in the token bucket ``bucket`` (e.g. the VTEX account) shared by every process
        on this journal; returns the seconds to wait before making that request (0 when a token was there).
        This is how N workers together hold an account's configured rate instead of N times it."""

    def close(self) -> None: ...


def compress_document(document: bytes) -> bytes:
    """The XML as both backends store it: zlib at level 1, half the CPU of the default level for about 10%
    more bytes (a ten-item NF-e: 13.0 kB -> 4.2 kB instead of 3.8 kB), and every document is compressed once
    on a batch's busiest process. Any level decompresses the same way, so older journals read unchanged."""
    return zlib.compress(document, 1)


def decompress_document(stored: bytes) -> bytes:
    """The XML from what :func:`compress_document` stored."""
    return zlib.decompress(stored)


def owner_is_dead(owner: str, *, host: str | None = None) -> bool:
    """True only when ``owner`` (``host:pid:nonce``) names a process on this host that no longer exists.

    Anything else (another host, another format, a live or unknowable process) is False: such a lease is
    only taken over once it expires. A process id reused by an unrelated process also reads as alive, which
    errs on the safe side (the lease still expires). POSIX only: elsewhere ``os.kill`` would end the process.

    Both backends use it so a rerun right after a kill -9 on the same machine takes its records over at once
    instead of waiting for the lease. The host name must name one process space: containers that share a
    journal *and* a host name (host networking) but not their process ids would see each other's workers
    as dead; open the journal with ``recover_dead_owners=False`` there (takeover then waits for the lease to
    expire, as across machines).
    """
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != (host or socket.gethostname()) or os.name != "posix":
        return False
    try:
        pid = int(parts[1])
    except ValueError:
        return False
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return True
    except OSError:  # PermissionError: it exists, under another user
        return False
    return False
