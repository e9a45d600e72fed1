"""nfe-invoice: read, validate and map Brazilian NF-e 4.00 documents to VTEX order invoices."""

from .errors import NfeInvoiceError
from .model import NFeDocument
from .parse import parse

__all__ = ["NFeDocument", "NfeInvoiceError", "parse"]
__version__ = "0.1.0"
