"""Where VTEX is and how to talk to it, for every command that does: the options, their resolution, the client.

Resolution happens in exactly one function, :func:`resolve_connection`, through the configuration layer
(:mod:`nfe_invoice.config`): an option given on the command line, else the environment (``VTEX_ACCOUNT``,
``VTEX_ENVIRONMENT``, ``VTEX_BASE_URL``, or ``NFE_INVOICE_<KEY>``), else ``nfe-invoice.toml``, else the
default. Every option defaults to None ("not given"), and the destinations are the names of the settings in
:mod:`nfe_invoice.config`. Credentials are never options (a command line is visible to every user of the
machine and lands in shell history): the options name the environment variables that hold them.

Nothing heavy is imported at module level (httpx, pydantic, the clients): ``nfe-invoice validate`` must not
pay for them.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, overload

from ..errors import ConfigurationError
from .common import UsageError

if TYPE_CHECKING:
    from ..vtex.client import AsyncVtexClient, VtexClient


@dataclass(frozen=True)
class Connection:
    """The resolved connection settings (no secrets: only the names of the variables holding them)."""

    account: str | None
    environment: str
    base_url: str | None
    app_key_env: str
    app_token_env: str
    connect_timeout: float
    read_timeout: float
    max_attempts: int
    retry_deadline: float
    rate: float
    concurrency: int


#: Defaults of the connection settings (the same as nfe_invoice.config.Settings).
DEFAULTS = Connection(
    account=None, environment="vtexcommercestable", base_url=None, app_key_env="VTEX_APP_KEY",
    app_token_env="VTEX_APP_TOKEN", connect_timeout=5.0, read_timeout=30.0, max_attempts=5, retry_deadline=120.0,
    rate=10.0, concurrency=8,
)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a number greater than 0")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def add_connection_options(parser: argparse.ArgumentParser, *, concurrency: bool = False) -> None:
    """Add the VTEX connection options (``concurrency`` only for commands that send in parallel)."""
    group = parser.add_argument_group("VTEX connection")
    group.add_argument("--account", default=None, help="VTEX account name (or $VTEX_ACCOUNT)")
    group.add_argument("--environment", default=None,
                       help="VTEX environment (or $VTEX_ENVIRONMENT; default vtexcommercestable)")
    group.add_argument("--base-url", default=None, metavar="URL",
                       help="explicit base URL instead of the account's (sandbox, proxy; or $VTEX_BASE_URL)")
    group.add_argument("--app-key-env", default=None, metavar="NAME",
                       help="environment variable holding the app key (default VTEX_APP_KEY)")
    group.add_argument("--app-token-env", default=None, metavar="NAME",
                       help="environment variable holding the app token (default VTEX_APP_TOKEN)")
    group.add_argument("--rate", type=_positive_float, default=None, metavar="N",
                       help="requests per second for the account (default 10)")
    group.add_argument("--timeout", dest="read_timeout", type=_positive_float, default=None, metavar="SECONDS",
                       help="read timeout of each request (default 30)")
    group.add_argument("--connect-timeout", type=_positive_float, default=None, metavar="SECONDS",
                       help="connect timeout of each request (default 5)")
    group.add_argument("--max-attempts", type=_positive_int, default=None, metavar="N",
                       help="attempts per request, the first included (default 5)")
    group.add_argument("--retry-deadline", type=_positive_float, default=None, metavar="SECONDS",
                       help="give up on a request after this long, waits included (default 120)")
    if concurrency:
        group.add_argument("--concurrency", type=_positive_int, default=None, metavar="N",
                           help="requests in flight at once (default 8)")


def resolve_connection(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Connection:
    """Options, else the environment, else ``nfe-invoice.toml`` (``--config``), else the defaults: the one
    resolution every command shares (:func:`nfe_invoice.config.resolve`). A usage error when neither an
    account nor a base URL is known (one line, naming both ways to give them)."""
    from ..config import resolve

    given = {name: getattr(args, name, None) for name in DEFAULTS.__dataclass_fields__}
    try:
        settings = resolve(given, config_file=getattr(args, "config", None), environ=environ).settings
    except ConfigurationError as exc:
        raise UsageError(f"configuration: {exc.message}") from None
    connection = Connection(**{name: getattr(settings, name) for name in DEFAULTS.__dataclass_fields__})
    if not connection.account and not connection.base_url:
        raise UsageError("VTEX: give --account (or $VTEX_ACCOUNT) or --base-url (or $VTEX_BASE_URL)")
    return connection


@overload
def client_from_args(args: argparse.Namespace, *, asynchronous: Literal[False] = False,
                     environ: Mapping[str, str] | None = None) -> VtexClient: ...


@overload
def client_from_args(args: argparse.Namespace, *, asynchronous: Literal[True],
                     environ: Mapping[str, str] | None = None) -> AsyncVtexClient: ...


def client_from_args(args: argparse.Namespace, *, asynchronous: bool = False,
                     environ: Mapping[str, str] | None = None) -> VtexClient | AsyncVtexClient:
    """The client the options describe. Configuration problems (credentials not set, a malformed account
    name or base URL) are usage errors, one line each, that never show a secret."""
    from ..vtex.client import AsyncVtexClient, VtexClient
    from ..vtex.policy import Credentials, RetryPolicy, Timeouts

    connection = resolve_connection(args, environ)
    try:
        credentials = Credentials.from_env(connection.app_key_env, connection.app_token_env,
                                           environ=os.environ if environ is None else environ)
        timeouts = Timeouts(connect=connection.connect_timeout, read=connection.read_timeout)
        retry = RetryPolicy(max_attempts=connection.max_attempts, deadline=connection.retry_deadline)
        if asynchronous:
            return AsyncVtexClient(account=connection.account, environment=connection.environment,
                                   base_url=connection.base_url, credentials=credentials, timeouts=timeouts,
                                   retry=retry, rate=connection.rate, max_concurrency=connection.concurrency)
        return VtexClient(account=connection.account, environment=connection.environment,
                          base_url=connection.base_url, credentials=credentials, timeouts=timeouts, retry=retry,
                          rate=connection.rate)
    except ConfigurationError as exc:
        raise UsageError(exc.message) from None
