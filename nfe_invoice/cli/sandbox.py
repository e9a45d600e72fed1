"""``nfe-invoice sandbox``: run the local VTEX OMS (:mod:`nfe_invoice.vtex.sandbox`) on 127.0.0.1 until Ctrl-C.

For integration tests of your own: point ``--base-url`` (or ``VTEX_BASE_URL``) at the printed address. Orders
come from ``--orders FILE`` (a JSON array of VTEX GET-order objects, or ``{"orders": [...]}``) or are added
while it runs with ``POST /_sandbox/orders``; ``--faults`` takes the spec documented in the module above.
"""



from __future__ import annotations

import argparse
import json
import signal
import time
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from .common import EXIT_OK, Subcommands, UsageError, port_number


def read_orders(path: str) -> list[dict[str, Any]]:
    """The orders of ``--orders FILE``; a usage error names the file and what is wrong with it."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"--orders: cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"--orders: {path} is not JSON: {exc}") from None
    if isinstance(data, dict) and "orders" in data:
        data = data["orders"]
    if not isinstance(data, list) or not all(isinstance(o, dict) and isinstance(o.get("orderId"), str) for o in data):
        raise UsageError(f"--orders: {path} must hold a JSON array of orders, each with an orderId")
    return data


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def cmd_sandbox(args: argparse.Namespace, out: TextIO) -> int:
    from ..errors import ConfigurationError
    from ..vtex.sandbox import FaultSpec, Sandbox

    orders = read_orders(args.orders) if args.orders else []
    try:
        faults = FaultSpec.parse(args.faults)
        sandbox = Sandbox(orders=orders, faults=faults, port=args.port, seed=args.seed).start()
    except (ConfigurationError, ValueError) as exc:
        raise UsageError(f"sandbox: {exc}") from None
    try:
        previous: Any = signal.signal(signal.SIGTERM, _stop)
    except ValueError:  # not the main thread (embedded use): Ctrl-C only
        previous = None
    try:
        out.write(f"VTEX sandbox listening on {sandbox.base_url} ({len(orders)} orders; faults: "
                  f"{faults.to_text() if faults.rates else 'none'}); any app key and token are accepted; "
                  "Ctrl-C stops it\n")
        out.flush()
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stats = sandbox.stats
        out.write(f"VTEX sandbox stopped after {stats['requests_total']} requests\n")
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        sandbox.close()
    return EXIT_OK


def register(commands: Subcommands[argparse.ArgumentParser]) -> None:
    sandbox = commands.add_parser("sandbox", help="run a local VTEX OMS on 127.0.0.1 (for integration tests)")
    sandbox.add_argument("--port", type=port_number, default=0, help="port to listen on (default: any free port)")
    sandbox.add_argument("--orders", metavar="FILE", default=None,
                         help="JSON array of VTEX orders (GET order shape) to start with")
    sandbox.add_argument("--faults", metavar="SPEC", default=None,
                         help="fault injection, e.g. 429=0.05,503=0.05,slow=0.01,drop=0.01,retry-after=1")
    sandbox.add_argument("--seed", type=int, default=0, help="seed of the fault and receipt generators")
    sandbox.set_defaults(handler=cmd_sandbox)
