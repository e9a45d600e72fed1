"""The ``journal_factory`` fixture: every journal contract test runs once per backend.

A factory makes fresh, empty journals (``factory()``), a second independent handle on one of them
(``factory.reopen(journal)``, as another process would open it) and says where one lives
(``factory.location(journal)``, what ``open_journal`` and ``--journal`` take). Everything it opened is
closed at the end of the test.

To add a backend: add its name to ``BACKENDS`` and a branch in :func:`journal_factory` that builds its
factory (fetch any server fixture with ``request.getfixturevalue`` there, so the other backends' runs
never start it). A test module makes the fixture its own with
``journal_factory = journal_backends.journal_factory``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from nfe_invoice.journal import Journal, open_journal
from tests.pg_server import PostgresServer, server_or_skip

#: Backend names, in the order test ids show them.
BACKENDS = ["sqlite", "postgresql"]


class JournalFactory:
    """Base for one backend's factory: tracks what it opened so everything is closed at teardown."""

    name = "?"

    def __init__(self) -> None:
        self._opened: list[Journal] = []
        self._locations: dict[int, str] = {}

    def __call__(self) -> Journal:
        """A fresh, empty journal, migrated to the current schema."""
        return self.open(self.new_location())

    def new_location(self) -> str:
        raise NotImplementedError

    def open(self, location: str) -> Journal:
        journal = open_journal(location)
        self._opened.append(journal)
        self._locations[id(journal)] = location
        return journal

    def location(self, journal: Journal) -> str:
        return self._locations[id(journal)]

    def reopen(self, journal: Journal) -> Journal:
        """Another independent handle (its own connection) on the same journal."""
        return self.open(self.location(journal))

    def close_all(self) -> None:
        for journal in reversed(self._opened):
            journal.close()
        self._opened.clear()


class SqliteFactory(JournalFactory):
    name = "sqlite"

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self._folder = folder
        self._numbers = itertools.count(1)

    def new_location(self) -> str:
        return str(self._folder / f"journal-{next(self._numbers)}.db")


class PostgresFactory(JournalFactory):
    """Each journal in a schema of its own on the session's throwaway server (tests/pg_server.py): a schema
    costs a millisecond where a database costs a hundred, and the property test makes many journals."""

    name = "postgresql"

    def __init__(self, server: PostgresServer) -> None:
        super().__init__()
        self._server = server

    def new_location(self) -> str:
        return self._server.create_schema()


@pytest.fixture(params=BACKENDS)
def journal_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JournalFactory]:
    factory: JournalFactory
    if request.param == "sqlite":
        factory = SqliteFactory(tmp_path)
    elif request.param == "postgresql":
        factory = PostgresFactory(server_or_skip())  # started once per session, on first use; skips if none
    else:  # pragma: no cover - a name in BACKENDS without its branch here
        raise AssertionError(f"no factory for the journal backend {request.param!r}")
    try:
        yield factory
    finally:
        factory.close_all()
