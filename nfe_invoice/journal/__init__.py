"""The journal: one record per invoice, what was sent and what VTEX answered, durable across crashes.

``open_journal(location)`` picks the backend: a ``postgresql://`` URL for several workers, anything else
a SQLite file (the embedded default). See :mod:`.base` for the interface and the state machine.
"""

from .base import (
    DELIVERED_STATES,
    FINAL_STATES,
    Claim,
    Counts,
    EnqueueOutcome,
    EnqueueResult,
    Journal,
    NewRecord,
    Query,
    Record,
    RecordKey,
    State,
)

__all__ = [
    "DELIVERED_STATES",
    "FINAL_STATES",
    "Claim",
    "Counts",
    "EnqueueOutcome",
    "EnqueueResult",
    "Journal",
    "NewRecord",
    "Query",
    "Record",
    "RecordKey",
    "State",
]
