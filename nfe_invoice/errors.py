"""The one exception tree of nfe-invoice.

An exception means we could not look at the input at all (or, later, could not send it). A document that
can be read but is wrong in some way is never an exception: validation reports it as findings.

::

    NfeInvoiceError                      code "error"
    ├── InputError                       the input cannot be read as an NF-e 4.00
    │   ├── InvalidSourceError           not bytes, a path or a binary file; unreadable path
    │   ├── EmptyInputError              zero bytes, or only white space
    │   ├── InputTooLargeError           over the configured size cap
    │   ├── HostileXmlError              DOCTYPE, entity declarations, external references
    │   ├── MalformedXmlError            not well-formed XML (carries line and column)
    │   └── NotAnNfeError                well-formed, but not an NF-e document
    │       ├── WrongNamespaceError      missing or foreign namespace on the root
    │       ├── UnknownRootError         a root element we do not read (enviNFe batches, events, ...)
    │       └── UnsupportedLayoutError   a layout other than 4.00 (3.10, 1.10, ...)
    └── IdentifierError (also ValueError) a CNPJ, CPF, access key or GTIN is not valid
        ├── InvalidFormatError           wrong characters
        ├── InvalidLengthError           wrong length
        └── InvalidChecksumError         check digit does not match

Every class has a stable ``code`` (a dotted string) that is never renamed once released; the
validation report uses it for the single finding it makes of an unreadable input.
"""

from __future__ import annotations


class NfeInvoiceError(Exception):
    """Base of every exception this library raises on purpose."""

    code = "error"
    default_message = "nfe-invoice error"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class InputError(NfeInvoiceError):
    """The input cannot be read as an NF-e 4.00 document."""

    code = "input"
    default_message = "the input cannot be read as an NF-e 4.00 document"

    def __init__(self, message: str | None = None, *, line: int | None = None, column: int | None = None) -> None:
        self.line = line
        self.column = column
        super().__init__(message)


class InvalidSourceError(InputError, TypeError):
    code = "input.source"
    default_message = "expected bytes, a path or a binary file object"


class EmptyInputError(InputError):
    code = "input.empty"
    default_message = "the input is empty"


class InputTooLargeError(InputError):
    code = "input.too_large"
    default_message = "the input is larger than the configured limit"


class HostileXmlError(InputError):
    code = "input.hostile"
    default_message = "the XML declares a DOCTYPE or entities, which an NF-e never does"


class MalformedXmlError(InputError):
    code = "input.malformed"
    default_message = "the input is not well-formed XML"


class NotAnNfeError(InputError):
    code = "input.not_nfe"
    default_message = "the XML is not an NF-e document"


class WrongNamespaceError(NotAnNfeError):
    code = "input.namespace"
    default_message = "the root element is not in the NF-e namespace http://www.portalfiscal.inf.br/nfe"


class UnknownRootError(NotAnNfeError):
    code = "input.root"
    default_message = "the root element is neither NFe nor nfeProc"


class UnsupportedLayoutError(NotAnNfeError):
    code = "input.layout"
    default_message = "only NF-e layout 4.00 is supported"


class IdentifierError(NfeInvoiceError, ValueError):
    """A CNPJ, CPF, access key or GTIN is not valid."""

    code = "identifier"
    default_message = "invalid identifier"


class InvalidFormatError(IdentifierError):
    code = "identifier.format"
    default_message = "the identifier has characters that are not allowed"


class InvalidLengthError(IdentifierError):
    code = "identifier.length"
    default_message = "the identifier has the wrong length"


class InvalidChecksumError(IdentifierError):
    code = "identifier.checksum"
    default_message = "the identifier's check digit does not match"
