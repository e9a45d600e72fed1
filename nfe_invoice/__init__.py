"""nfe-invoice: read, validate and map Brazilian NF-e 4.00 documents to VTEX order invoices."""

import importlib
from typing import TYPE_CHECKING, Any

from .errors import NfeInvoiceError
from .model import NFeDocument
from .parse import parse

if TYPE_CHECKING:
    from .vtex.mapping import build_invoice

__all__ = ["NFeDocument", "NfeInvoiceError", "build_invoice", "parse"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """``nfe_invoice.build_invoice`` on first use: importing the package (and so starting
    ``nfe-invoice validate``) does not pay for pydantic unless the VTEX half is used."""
    if name == "build_invoice":
        return importlib.import_module(".vtex.mapping", __name__).build_invoice
    raise AttributeError(f"module 'nfe_invoice' has no attribute {name!r}")
