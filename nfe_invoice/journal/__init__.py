"""The journal: one record per invoice, what was sent and what VTEX answered, durable across crashes.

``open_journal(location)`` picks the backend: a ``postgresql://`` URL for several workers, anything else
a SQLite file (the embedded default). See :mod:`.base` for the interface and the state machine.
"""

from __future__ import annotations

import importlib
import os
from typing import cast
from urllib.parse import urlsplit, urlunsplit

from ..errors import JournalError
from .base import (
    DELIVERED_STATES,
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
    decide_enqueue,
)

__all__ = [
    "DEFAULT_JOURNAL_FILE",
    "DELIVERED_STATES",
    "JOURNAL_ENV",
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
    "decide_enqueue",
    "default_journal_location",
    "is_postgres_location",
    "masked_location",
    "open_journal",
]

#: The environment variable that names the journal when no option does.
JOURNAL_ENV = "NFE_INVOICE_JOURNAL"
#: The SQLite file used when nothing names a journal, in the current folder.
DEFAULT_JOURNAL_FILE = "nfe-invoice-journal.db"
_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def default_journal_location() -> str:
    """``$NFE_INVOICE_JOURNAL`` when set (and not empty), else ``nfe-invoice-journal.db`` in the current folder."""
    return os.environ.get(JOURNAL_ENV) or os.path.join(os.getcwd(), DEFAULT_JOURNAL_FILE)


def is_postgres_location(location: str | os.PathLike[str]) -> bool:
    return os.fspath(location).startswith(_POSTGRES_SCHEMES)


def masked_location(location: str | os.PathLike[str]) -> str:
    """The location fit for messages: a URL's password replaced by ``***`` (a file path is shown as is)."""
    text = os.fspath(location)
    if not is_postgres_location(text):
        return text
    try:
        parts = urlsplit(text)
        if parts.password is None:
            return text
        user = parts.username or ""
        host = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
    except ValueError:  # unparseable: show the scheme only rather than risk a secret
        return text.split("://", 1)[0] + "://***"


def open_journal(location: str | os.PathLike[str], *, create: bool = True, durable: bool = True) -> Journal:
    """The journal at ``location``: a ``postgresql://`` (or ``postgres://``) URL, or a SQLite file path.

    Backends are imported here, on first use, so commands that never touch a journal do not pay for sqlite3
    or psycopg. ``create=False`` refuses to create a SQLite file that does not exist (for readers such as
    ``status``). ``durable=False`` lets SQLite skip the flush to disk at each commit (``synchronous=NORMAL``):
    several times faster, still nothing lost when the process crashes or is killed, but a power cut may
    undo the last changes. Fine where the inputs can be fed again (``batch`` over files: a rerun re-enqueues,
    and an undone "sent" is only sent again, which VTEX takes as a renewal); not where the journal is the only
    copy (documents POSTed by ERP hooks). PostgreSQL ignores it (its server settings decide). Raises
    :class:`~nfe_invoice.errors.JournalError` when the journal cannot be opened.
    """
    text = os.fspath(location)
    if not text:
        raise JournalError("no journal location given")
    if is_postgres_location(text):
        try:
            backend = importlib.import_module(".postgres", __name__)
        except ImportError as exc:
            raise JournalError(
                f"a PostgreSQL journal ({masked_location(text)}) needs the postgresql extra: "
                f"pip install 'nfe-invoice[postgresql]' ({exc})"
            ) from exc
        return cast(Journal, backend.PostgresJournal(text))
    from .sqlite import SqliteJournal  # noqa: PLC0415 (lazy: see above)

    return SqliteJournal(text, create=create, synchronous="FULL" if durable else "NORMAL")
