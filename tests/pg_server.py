"""A throwaway PostgreSQL server for the tests: started once per test session, removed at its end.

Why a real server: the PostgreSQL journal's guarantees (SKIP LOCKED claims, fencing, a shared rate, surviving
a restart or a dropped connection) are properties of PostgreSQL itself; a mock would only test the mock.

How: ``initdb`` and ``pg_ctl`` (from ``PATH`` or the Debian package's ``/usr/lib/postgresql/*/bin``) run as an
unprivileged user (``initdb`` refuses root, and CI runs as root: then the commands go through ``runuser -u
postgres``) in a temporary folder owned by that user, listening on a free 127.0.0.1 port with its unix socket
in the same folder, fsync off (the data is thrown away anyway). It is stopped and removed at exit, and a small
watcher process does the same if the test process dies without exiting (SIGKILL, a CI timeout). The
superuser has a password, so the URLs the tests use carry one, as production URLs do, and password masking
is tested for real.

Tests skip, with the reason, only when no server can be had (no binaries, or root without an unprivileged
user to run them as); ``.ci/run`` installs the ``postgresql`` package so CI always runs them. A server that is
there but fails to start is an error, never a skip.

Use the session fixtures ``postgres_server`` / ``postgres_url`` (import them into the test module), or
:func:`shared_server` from helpers that are not fixtures; :meth:`PostgresServer.create_database` gives each
test a database of its own.
"""

from __future__ import annotations

import atexit
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

SUPERUSER = "nfe_test"
PASSWORD = "s3cret-Test-pw"  # a recognisable string: tests assert it never leaks
_UNPRIVILEGED_USERS = ("postgres", "nobody")


class ServerUnavailable(Exception):
    """No PostgreSQL server can be had on this machine (the reason says why): the tests skip."""


def find_binaries() -> Path:
    """The folder holding initdb and pg_ctl: ``PATH`` first, else the newest Debian-packaged version."""
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(os.path.realpath(initdb)).parent
    candidates = sorted(
        (Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin") if Path(p, "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not candidates:
        raise ServerUnavailable(
            "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql/*/bin; "
            "install the Debian package `postgresql` to run these tests"
        )
    return candidates[-1]


def _run_as() -> str | None:
    """The unprivileged user to run the server as when we are root (None when we are not root)."""
    if os.geteuid() != 0:
        return None
    for name in _UNPRIVILEGED_USERS:
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        if shutil.which("runuser"):
            return name
    raise ServerUnavailable("running as root with no unprivileged user (postgres, nobody) or no runuser to "
                            "start PostgreSQL as (initdb refuses root)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


#: Runs beside the server: when the test process is gone without stopping it (SIGKILL, a CI timeout's
#: SIGTERM skips atexit), stops the server and removes its folder; exits by itself once the folder is gone.
_WATCHER = """
import os, shutil, subprocess, sys, time
owner, root, command = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
while os.path.isdir(root):
    try:
        os.kill(owner, 0)
    except ProcessLookupError:
        subprocess.run(command, capture_output=True, timeout=60, check=False)
        shutil.rmtree(root, ignore_errors=True)
        break
    except PermissionError:
        pass
    time.sleep(0.5)
"""


class PostgresServer:
    """One PostgreSQL cluster in a temporary folder. ``start()`` / ``restart()`` / ``stop()``."""

    def __init__(self) -> None:
        self.bin = find_binaries()
        self.user = _run_as()
        # Under /tmp when the server runs as another user (it must reach the folder: TMPDIR may sit in root's
        # home) or when TMPDIR is long (the unix socket's path must stay under 107 bytes).
        base = tempfile.gettempdir()
        if (self.user is not None or len(base) > 60) and os.path.isdir("/tmp"):
            base = "/tmp"
        self.root = Path(tempfile.mkdtemp(prefix="nfe-invoice-pg-", dir=base))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self._databases = itertools.count(1)
        self._schemas = itertools.count(1)
        self._schemas_database: str | None = None
        self._lock = threading.Lock()
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        os.chmod(self.root, 0o700)

    # -- commands ---------------------------------------------------------------------------------------------
    def _command(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        argv = list(args)
        if self.user is not None:
            argv = ["runuser", "-u", self.user, "--", *argv]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, cwd=self.root)

    def _checked(self, *args: str, timeout: float = 60) -> None:
        result = self._command(*args, timeout=timeout)
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed ({result.returncode}):\n{result.stdout}\n"
                               f"{result.stderr}\n--- server log ---\n{log}")

    def _options(self) -> str:
        return (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")

    def initialise(self) -> None:
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        pwfile.chmod(0o600)
        try:
            self._checked(str(self.bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER, f"--pwfile={pwfile}",
                          "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync",
                          "--locale=C")
        finally:
            pwfile.unlink(missing_ok=True)

    def start(self) -> None:
        for _ in range(3):  # the free port may be taken between finding and binding it: try another
            self.port = free_port()
            result = self._command(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                                   "-o", self._options(), "-w", "-t", "30", "start")
            if result.returncode == 0:
                self._watch()
                return
        raise RuntimeError(f"pg_ctl start failed: {result.stderr}\n{self.log.read_text(errors='replace')[-3000:]}")

    def _watch(self) -> None:
        stop = [str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"]
        if self.user is not None:
            stop = ["runuser", "-u", self.user, "--", *stop]
        subprocess.Popen([sys.executable, "-c", _WATCHER, str(os.getpid()), str(self.root), *stop],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)

    def restart(self) -> None:
        """Stop the server (fast: connections are cut) and start it again on the same port."""
        self._checked(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", self._options(),
                      "-m", "fast", "-w", "-t", "30", "restart")

    def halt(self) -> None:
        """Stop the server but keep its data (``resume()`` starts it again on the same port)."""
        self._checked(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def resume(self) -> None:
        self._checked(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", self._options(),
                      "-w", "-t", "30", "start")

    def stop(self) -> None:
        if self.data.exists() and (self.data / "postmaster.pid").exists():
            self._command(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    # -- URLs and administration ------------------------------------------------------------------------------
    def url(self, database: str = "postgres", *, password: str = PASSWORD) -> str:
        return f"postgresql://{SUPERUSER}:{password}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database (one per test keeps tests apart); returns its URL."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._databases)}"  # count() is atomic under the GIL
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.url(name)

    def create_schema(self) -> str:
        """A new empty schema in one shared database, as a URL whose ``search_path`` is that schema: much cheaper
        than a database (for tests that make many journals), just as separate for the journal's tables."""
        import psycopg

        with self._lock:
            if self._schemas_database is None:
                self._schemas_database = self.create_database()
            name = f"s{os.getpid()}_{next(self._schemas)}"
        with psycopg.connect(self._schemas_database, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        return f"{self._schemas_database}?options=-csearch_path%3D{name}"

    def terminate_backends(self, database: str | None = None, application_name: str | None = None) -> int:
        """Cut every client connection (of one database / application), as a network failure or an
        administrator would: ``pg_terminate_backend``. Returns how many were cut."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                "AND backend_type = 'client backend' AND (%s::text IS NULL OR datname = %s) "
                "AND (%s::text IS NULL OR application_name = %s)",
                (database, database, application_name, application_name),
            ).fetchall()
        return sum(1 for (done,) in rows if done)


class _Shared:
    """The process's one server (or why there can be none), behind a lock."""

    lock = threading.Lock()
    server: PostgresServer | None = None
    error: ServerUnavailable | None = None


def shared_server() -> PostgresServer:
    """The session's one server, started on first use and stopped when the process exits.

    Raises :class:`ServerUnavailable` (callers skip) when no server can be had on this machine.
    """
    with _Shared.lock:
        if _Shared.error is not None:
            raise _Shared.error
        if _Shared.server is None:
            try:
                server = PostgresServer()
            except ServerUnavailable as exc:
                _Shared.error = exc
                raise
            try:
                server.initialise()
                server.start()
            except BaseException:
                server.stop()
                raise
            atexit.register(server.stop)
            _Shared.server = server
        return _Shared.server


def server_or_skip() -> PostgresServer:
    try:
        return shared_server()
    except ServerUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def postgres_server() -> PostgresServer:
    """The session's server. Stopped at exit (atexit), not here: helpers outside fixtures share it."""
    return server_or_skip()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL (with its password) of a database of the session's server, for tests that share one."""
    return postgres_server.create_database()


@pytest.fixture
def postgres_database(postgres_server: PostgresServer) -> str:
    """The URL of a fresh empty database, one per test."""
    return postgres_server.create_database()


__all__ = ["PASSWORD", "PostgresServer", "ServerUnavailable", "postgres_database", "postgres_server",
           "postgres_url", "server_or_skip", "shared_server"]
