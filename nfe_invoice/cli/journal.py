"""``nfe-invoice journal migrate``: create or upgrade the journal's schema, for whoever owns the database.

Opening a journal migrates it automatically when that is safe (additive steps); this command is for the
cases where it is not, or where workers run as a database user without the right to change the schema: an
administrator runs it once, with a user that has. It says which version the journal was at and is at now.
"""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from .common import EXIT_OK, EXIT_UNREACHABLE, CommandFailed, Subcommands
from .options import add_config_option, add_journal_option, resolve_settings


def _is_postgres(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


def cmd_migrate(args: argparse.Namespace, out: TextIO) -> int:
    # Lazy: `nfe-invoice validate` must not pay for the journal (or psycopg) at start-up.
    from ..errors import JournalError
    from ..journal import open_journal

    location = resolve_settings(args).settings.journal
    try:
        if _is_postgres(location):
            from ..journal.postgres import PostgresJournal

            journal = PostgresJournal(location, migrate=False)
            try:
                before: int | None = journal.schema_version()
                after = journal.migrate()
            finally:
                journal.close()
            where = journal.url
        else:
            sqlite_journal = open_journal(location)
            try:
                before, after, where = None, sqlite_journal.migrate(), sqlite_journal.url
            finally:
                sqlite_journal.close()
    except JournalError as exc:
        raise CommandFailed(exc.message, EXIT_UNREACHABLE) from None
    if args.format == "json":
        out.write(json.dumps({"journal": where, "previous_version": before, "schema_version": after}) + "\n")
    elif before is None or before == after:
        out.write(f"journal {where}: schema version {after}, up to date\n")
    else:
        out.write(f"journal {where}: migrated from schema version {before} to {after}\n")
    return EXIT_OK


def register(commands: Subcommands[argparse.ArgumentParser]) -> None:
    journal = commands.add_parser("journal", help="look after the journal itself (schema migrations)")
    verbs = journal.add_subparsers(dest="journal_command", required=True)
    migrate = verbs.add_parser("migrate", help="create or upgrade the journal's schema (safe to run at any time, "
                               "also while workers run)")
    add_journal_option(migrate)
    add_config_option(migrate)
    migrate.add_argument("--format", choices=("text", "json"), default="text")
    migrate.set_defaults(handler=cmd_migrate)
