"""``nfe-invoice serve``: the HTTP service an ERP calls with each authorised NF-e (see :mod:`nfe_invoice.server`).

It refuses to start without API keys (``$NFE_INVOICE_API_KEYS``, comma-separated, or ``--api-keys-file``)
unless ``--no-auth`` is given, and ``--no-auth`` only on a loopback address: an unauthenticated service that
queues invoices for VTEX must never be reachable from another machine. The socket is bound here, before the
service starts, so a port in use is a one-line usage error. FastAPI and uvicorn are imported inside the
handler: other commands never pay for them.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import logging
import os
import signal
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TextIO

from .batch import journal_and_client, open_journal, pipeline_options
from .common import EXIT_OK, Subcommands, UsageError, port_number
from .connection import add_connection_options
from .options import add_config_option, add_journal_option, add_mapping_options, add_worker_options, resolve_settings

if TYPE_CHECKING:
    from ..server import ApiKeys

#: Where the keys come from when no file is given (never an option: command lines are visible to all users).
API_KEYS_ENV = "NFE_INVOICE_API_KEYS"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def api_keys(args: argparse.Namespace) -> ApiKeys:
    """The keys from ``$NFE_INVOICE_API_KEYS`` and ``--api-keys-file`` together (either may be empty)."""
    from ..server import ApiKeys

    keys = ApiKeys.parse(os.environ.get(API_KEYS_ENV, ""))
    if args.api_keys_file:
        try:
            with open(args.api_keys_file, encoding="utf-8") as handle:
                keys = keys + ApiKeys.parse(handle.read())
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise UsageError(f"--api-keys-file: cannot read {args.api_keys_file}: {reason}") from None
    return keys


def check_access(args: argparse.Namespace, keys: ApiKeys) -> None:
    if args.no_auth:
        if len(keys):
            raise UsageError(f"--no-auth was given, but so were API keys (${API_KEYS_ENV} or --api-keys-file): "
                             "choose one")
        if not is_loopback(args.host):
            raise UsageError(f"--no-auth only on a loopback address (127.0.0.1, ::1, localhost), not {args.host}")
    elif not len(keys):
        raise UsageError(f"no API keys: set ${API_KEYS_ENV} (comma-separated) or --api-keys-file FILE; "
                         "or, on 127.0.0.1 only, --no-auth")


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    # IPPROTO_TCP named explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and a socket
    # made with proto 0 leaves Nagle on, so every response (headers and body written apart) waited ~40 ms for
    # the client's delayed ACK: 45 ms a request, whatever the work.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def _server(app: Any, log_level: str) -> Any:
    """uvicorn's server without its own signal handling (it re-raises SIGTERM after a clean shutdown, so the
    process would end "killed by SIGTERM"); :func:`_serve_until_signalled` installs ours, and the exit is 0."""
    import uvicorn

    class QuietServer(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return QuietServer(uvicorn.Config(app, log_level=log_level, lifespan="on", server_header=False,
                                      timeout_graceful_shutdown=30))


async def _serve_until_signalled(server: Any, sock: socket.socket) -> None:
    """SIGTERM or Ctrl-C: stop taking requests, finish those in flight, stop the worker (lifespan); twice: now."""
    def stop() -> None:
        if server.should_exit:
            server.force_exit = True
        server.should_exit = True

    import asyncio  # at run time: the other commands start without it

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop)
    await server.serve(sockets=[sock])


def cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    import asyncio

    from ..server import ServiceConfig, create_app

    settings = resolve_settings(args).settings
    options = pipeline_options(settings, args)
    keys = api_keys(args)
    # One line per delivered invoice and per VTEX retry on stderr (uvicorn logs its own; no header is logged).
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    check_access(args, keys)
    with contextlib.ExitStack() as opened:  # whatever fails below, the port and the journal are closed
        sock = opened.enter_context(contextlib.closing(bind(args.host, args.port)))
        journal, client = (open_journal(settings), None) if args.no_worker else journal_and_client(settings)
        opened.callback(journal.close)
        config = ServiceConfig(options, api_keys=keys, worker=not args.no_worker,
                               concurrency=max(1, settings.concurrency), lease_seconds=settings.lease,
                               jobs=args.jobs)
        app = create_app(journal, client, config)
        server = _server(app, args.log_level)
        out.write(f"nfe-invoice serve: listening on http://{args.host}:{sock.getsockname()[1]} "
                  f"(journal {journal.url}, worker {'off' if args.no_worker else 'on'})\n")
        out.flush()
        asyncio.run(_serve_until_signalled(server, sock))
    return EXIT_OK


def register(commands: Subcommands[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser("serve", help="the HTTP service for ERP hooks: POST NF-e, read their records")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=port_number, default=8080, help="port to listen on (default 8080; 0: any free)")
    serve.add_argument("--no-worker", action="store_true",
                       help="only queue: separate `nfe-invoice worker` processes send (a PostgreSQL journal)")
    serve.add_argument("--api-keys-file", metavar="FILE", default=None,
                       help=f"bearer keys, one per line (also ${API_KEYS_ENV}, comma-separated)")
    serve.add_argument("--no-auth", action="store_true", help="no keys at all: only on a loopback address")
    serve.add_argument("--jobs", type=int, metavar="N", default=None,
                       help="processes validating documents (default: number of cores; 0: a thread)")
    serve.add_argument("--log-level", choices=("critical", "error", "warning", "info", "debug"), default="info")
    add_mapping_options(serve)
    add_worker_options(serve)
    add_config_option(serve)
    add_journal_option(serve)
    add_connection_options(serve)
    serve.set_defaults(handler=cmd_serve)
