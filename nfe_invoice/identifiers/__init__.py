"""Brazilian fiscal identifiers: small pure modules sharing the same verbs.

Each of :mod:`cnpj`, :mod:`cpf`, :mod:`access_key` and :mod:`gtin` offers ``compact()`` (strip
formatting), ``calc_check_digits()`` (or ``calc_check_digit()``), ``validate()`` (returns the compact
value or raises a specific :class:`~nfe_invoice.errors.IdentifierError`), ``is_valid()`` (never raises)
and ``format()`` (for display).
"""

from . import access_key, cnpj, cpf, gtin

__all__ = ["access_key", "cnpj", "cpf", "gtin"]
