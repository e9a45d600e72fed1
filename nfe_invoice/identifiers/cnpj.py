"""CNPJ (Cadastro Nacional da Pessoa Jurídica), numeric and alphanumeric.

Since July 2026 new CNPJs may carry letters: 12 base characters ``[0-9A-Z]`` and 2 numeric check
digits (NT Conjunta 2025.001). The check digits use the same mod-11 with each character counted as
``ord(c) - 48``, so numeric CNPJs keep their digits. Vector: base ``12ABC34501DE`` -> ``35``.
"""

from __future__ import annotations

import re
from typing import Final

from ..errors import InvalidChecksumError, InvalidFormatError, InvalidLengthError
from ._mod11 import check_digit
from ._verbs import never_raising

LENGTH: Final = 14
_WEIGHTS_1: Final = (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_WEIGHTS_2: Final = (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_SHAPE: Final = re.compile(r"[0-9A-Z]{12}[0-9]{2}")
_SEPARATORS: Final = str.maketrans("", "", " ./-")


def compact(value: str) -> str:
    """Remove formatting (dots, slash, dash, spaces) and upper-case letters."""
    return value.translate(_SEPARATORS).strip().upper()


def calc_check_digits(base: str) -> str:
    """The two check digits of a 12-character base (numeric or alphanumeric)."""
    base = compact(base)
    if len(base) != 12 or not re.fullmatch(r"[0-9A-Z]{12}", base):
        raise InvalidFormatError(f"a CNPJ base is 12 characters 0-9/A-Z, got {base!r}")
    first = check_digit(base, _WEIGHTS_1)
    second = check_digit(base + str(first), _WEIGHTS_2)
    return f"{first}{second}"


def validate(value: str) -> str:
    """Return the compact CNPJ, or raise a specific :class:`~nfe_invoice.errors.IdentifierError`."""
    if not isinstance(value, str):
        raise InvalidFormatError(f"a CNPJ is a str, got {type(value).__name__}")
    number = compact(value)
    if len(number) != LENGTH:
        raise InvalidLengthError(f"a CNPJ has 14 characters, got {len(number)}")
    if not _SHAPE.fullmatch(number):
        raise InvalidFormatError("a CNPJ is 12 characters 0-9/A-Z followed by 2 digits")
    if number == "0" * LENGTH:
        raise InvalidChecksumError("the CNPJ is all zeros")
    if calc_check_digits(number[:12]) != number[12:]:
        raise InvalidChecksumError(f"the CNPJ check digits should be {calc_check_digits(number[:12])}")
    return number


is_valid = never_raising(validate)
"""True for a valid CNPJ; never raises."""


def is_alphanumeric(value: str) -> bool:
    """True when the CNPJ base carries letters (the form live since July 2026)."""
    return any(char.isalpha() for char in compact(value)[:12])


def base(value: str) -> str:
    """The 8-character root (CNPJ base) that identifies the company across its branches."""
    return compact(value)[:8]


def format(value: str) -> str:
    """``12.ABC.345/01DE-35`` style."""
    number = compact(value)
    return f"{number[:2]}.{number[2:5]}.{number[5:8]}/{number[8:12]}-{number[12:]}"
