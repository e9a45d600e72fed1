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
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal, overload

from ..errors import ConfigurationError
from .common import UsageError, positive_float, positive_int
from .options import resolve_settings

if TYPE_CHECKING:
    from ..config import Settings
    from ..vtex.client import AsyncVtexClient, VtexClient


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
    group.add_argument("--rate", type=positive_float, default=None, metavar="N",
                       help="requests per second for the account (default 10)")
    group.add_argument("--timeout", dest="read_timeout", type=positive_float, default=None, metavar="SECONDS",
                       help="read timeout of each request (default 30)")
    group.add_argument("--connect-timeout", type=positive_float, default=None, metavar="SECONDS",
                       help="connect timeout of each request (default 5)")
    group.add_argument("--max-attempts", type=positive_int, default=None, metavar="N",
                       help="attempts per request, the first included (default 5)")
    group.add_argument("--retry-deadline", type=positive_float, default=None, metavar="SECONDS",
                       help="give up on a request after this long, waits included (default 120)")
    if concurrency:
        group.add_argument("--concurrency", type=positive_int, default=None, metavar="N",
                           help="requests in flight at once (default 8)")


def resolve_connection(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Settings:
    """Options, else the environment, else ``nfe-invoice.toml`` (``--config``), else the defaults: the one
    resolution every command shares (:func:`nfe_invoice.config.resolve`). A usage error when neither an
    account nor a base URL is known (one line, naming both ways to give them)."""
    settings = resolve_settings(args, environ=environ).settings
    if not settings.account and not settings.base_url:
        raise UsageError("VTEX: give --account (or $VTEX_ACCOUNT) or --base-url (or $VTEX_BASE_URL)")
    return settings


@overload
def client_from_args(args: argparse.Namespace, *, asynchronous: Literal[False] = False,
                     environ: Mapping[str, str] | None = None) -> VtexClient: ...


@overload
def client_from_args(args: argparse.Namespace, *, asynchronous: Literal[True],
                     environ: Mapping[str, str] | None = None) -> AsyncVtexClient: ...


def client_from_args(args: argparse.Namespace, *, asynchronous: bool = False,
                     environ: Mapping[str, str] | None = None) -> VtexClient | AsyncVtexClient:
    """The client the options describe (:func:`nfe_invoice.pipeline.client_for`). Configuration problems
    (credentials not set, a malformed account name or base URL) are usage errors, one line each, that never
    show a secret."""
    from ..pipeline import async_client_for, client_for

    settings = resolve_connection(args, environ)
    try:
        if asynchronous:
            return async_client_for(settings, environ=environ)
        return client_for(settings, environ=environ)
    except ConfigurationError as exc:
        raise UsageError(exc.message) from None
