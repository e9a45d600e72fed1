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
    ├── IdentifierError (also ValueError) a CNPJ, CPF, access key or GTIN is not valid
    │   ├── InvalidFormatError           wrong characters
    │   ├── InvalidLengthError           wrong length
    │   └── InvalidChecksumError         check digit does not match
    ├── MappingError                     a readable document cannot become a VTEX invoice (code mapping.*)
    ├── VtexError                        VTEX could not be reached, or refused the request
    │   ├── VtexConnectionError          no connection (refused, reset, dropped mid-response)
    │   ├── VtexTimeoutError             connect or read timeout
    │   └── VtexHttpError                an HTTP error status (status, VTEX code and message, request id)
    │       ├── VtexAuthError            401, 403
    │       ├── VtexNotFoundError        404 (unknown order, "Invoice Not Found")
    │       ├── VtexConflictError        409 (e.g. start-handling outside ready-for-handling)
    │       ├── VtexRateLimitedError     429 (carries the Retry-After delay)
    │       ├── VtexServerError          5xx
    │       └── VtexRequestError         any other 4xx (400, 422: the request itself is wrong)
    ├── JournalError                     the journal cannot be opened, migrated or written
    └── ConfigurationError               a configuration file or setting cannot be used

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


class MappingError(NfeInvoiceError):
    """A readable document cannot become a VTEX invoice; ``code`` names the reason (``mapping.type`` ...).

    Unlike the classes above, the code is given per instance: the mapping rules are many and each refusal
    carries its own stable code, documented in the README's mapping table.
    """

    code = "mapping"
    default_message = "the document cannot be mapped to a VTEX invoice"

    def __init__(self, message: str | None = None, *, code: str | None = None) -> None:
        if code is not None:
            self.code = code
        super().__init__(message)


class VtexError(NfeInvoiceError):
    """VTEX could not be reached, or refused the request. Never carries credentials."""

    code = "vtex"
    default_message = "VTEX could not be reached or refused the request"


class VtexConnectionError(VtexError):
    code = "vtex.connection"
    default_message = "could not connect to VTEX (or the connection dropped mid-response)"


class VtexTimeoutError(VtexError):
    code = "vtex.timeout"
    default_message = "VTEX did not answer in time"


class VtexHttpError(VtexError):
    """An HTTP error status from VTEX, with what VTEX said about it."""

    code = "vtex.http"
    default_message = "VTEX answered with an error status"

    def __init__(
        self,
        message: str | None = None,
        *,
        status: int,
        vtex_code: str | None = None,
        vtex_message: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.status = status
        self.vtex_code = vtex_code
        self.vtex_message = vtex_message
        self.request_id = request_id
        super().__init__(message)


class VtexAuthError(VtexHttpError):
    code = "vtex.auth"
    default_message = "VTEX refused the credentials (401/403)"


class VtexNotFoundError(VtexHttpError):
    code = "vtex.not_found"
    default_message = "VTEX does not know this order or invoice (404)"


class VtexConflictError(VtexHttpError):
    code = "vtex.conflict"
    default_message = "VTEX refused the request in the order's current state (409)"


class VtexRateLimitedError(VtexHttpError):
    code = "vtex.rate_limited"
    default_message = "VTEX is throttling this account (429)"

    def __init__(
        self,
        message: str | None = None,
        *,
        status: int = 429,
        vtex_code: str | None = None,
        vtex_message: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(
            message, status=status, vtex_code=vtex_code, vtex_message=vtex_message, request_id=request_id
        )


class VtexServerError(VtexHttpError):
    code = "vtex.server"
    default_message = "VTEX failed with a server error (5xx)"


class VtexRequestError(VtexHttpError):
    code = "vtex.request"
    default_message = "VTEX refused the request as invalid (4xx)"


class JournalError(NfeInvoiceError):
    code = "journal"
    default_message = "the journal cannot be opened, migrated or written"


class ConfigurationError(NfeInvoiceError):
    code = "configuration"
    default_message = "the configuration cannot be used"
