"""Helpers for end-to-end tests through the command line: documents as an ERP exports them, the orders they
invoice seeded into a real sandbox on loopback, and the ``nfe-invoice`` command run as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nfe_invoice.parse import parse
from nfe_invoice.testing import make_test_certificate
from nfe_invoice.testing.orders import authorised_sale, order_for_document
from nfe_invoice.testing.signing import SigningIdentity
from nfe_invoice.vtex.sandbox import Sandbox

#: Credentials the subprocesses read from the environment (the sandbox accepts any non-empty pair).
CREDENTIALS = {"VTEX_APP_KEY": "vtexappkey-e2e-SECRETKEY", "VTEX_APP_TOKEN": "E2E-TOPSECRET-TOKEN"}
_IDENTITY: list[SigningIdentity] = []


def identity() -> SigningIdentity:
    """One TEST signing identity for the whole session (RSA keys are slow to make)."""
    if not _IDENTITY:
        _IDENTITY.append(make_test_certificate())
    return _IDENTITY[0]


@dataclass(frozen=True)
class Exported:
    path: Path
    order_id: str
    invoice_number: str
    raw: bytes


def export(folder: Path, number: int, *, order_id: str | None = None, name: str | None = None,
           names_order: bool = True, **changes: Any) -> Exported:
    """Write one signed, authorised NF-e into ``folder`` as an ERP export hook would (``names_order=False``:
    without compra/xPed, so only a given order id says which order it invoices)."""
    order = order_id or f"E2E{number:06d}-01"
    raw = authorised_sale(number, order if names_order else None, identity(), **changes)
    path = folder / (name or f"nfe-{number:06d}.xml")
    path.write_bytes(raw)
    return Exported(path, order, str(number), raw)


def seed(sandbox: Sandbox, exported: Exported, *, extra_items: Sequence[dict[str, Any]] = ()) -> None:
    """Put the order the document invoices into the sandbox (value = vNF, plus any extra lines)."""
    sandbox.add_order(order_for_document(parse(exported.raw), exported.order_id, extra_items=extra_items))


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``nfe-invoice ARGS`` in a fresh process (the console script's own code path)."""
    environment = {**os.environ, **CREDENTIALS, **(env or {})}
    environment.pop("NFE_INVOICE_JOURNAL", None)
    return subprocess.run([sys.executable, "-m", "nfe_invoice.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=environment, input=stdin, check=False)


def start_cli(*args: str) -> subprocess.Popen[str]:
    environment = {**os.environ, **CREDENTIALS}
    return subprocess.Popen([sys.executable, "-m", "nfe_invoice.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=environment)


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def packages(sandbox: Sandbox, order_id: str) -> list[dict[str, Any]]:
    return list(sandbox.order(order_id)["packageAttachment"]["packages"])


def no_secret_in(*texts: str) -> bool:
    return not any(secret in text for secret in CREDENTIALS.values() for text in texts)
