"""CPF (Cadastro de Pessoas Físicas): 11 digits, two mod-11 check digits. It stays numeric."""

from __future__ import annotations

from typing import Final

from ..errors import InvalidChecksumError, InvalidFormatError, InvalidLengthError
from ._mod11 import check_digit
from ._verbs import never_raising

LENGTH: Final = 11
_SEPARATORS: Final = str.maketrans("", "", " .-")


def compact(value: str) -> str:
    return value.translate(_SEPARATORS).strip()


def calc_check_digits(base: str) -> str:
    """The two check digits of the first 9 digits."""
    if len(base) != 9 or not (base.isascii() and base.isdigit()):
        raise InvalidFormatError(f"a CPF base is 9 digits, got {base!r}")
    first = check_digit(base, range(10, 1, -1))
    second = check_digit(base + str(first), range(11, 1, -1))
    return f"{first}{second}"


def validate(value: str) -> str:
    """Return the compact CPF, or raise a specific :class:`~nfe_invoice.errors.IdentifierError`."""
    if not isinstance(value, str):
        raise InvalidFormatError(f"a CPF is a str, got {type(value).__name__}")
    number = compact(value)
    if not (number.isascii() and number.isdigit()):
        raise InvalidFormatError("a CPF has digits only")
    if len(number) != LENGTH:
        raise InvalidLengthError(f"a CPF has 11 digits, got {len(number)}")
    if len(set(number)) == 1:
        raise InvalidChecksumError("a CPF of one repeated digit is not valid")
    if calc_check_digits(number[:9]) != number[9:]:
        raise InvalidChecksumError(f"the CPF check digits should be {calc_check_digits(number[:9])}")
    return number


is_valid = never_raising(validate)
"""True for a valid CPF; never raises."""


def format(value: str) -> str:
    number = compact(value)
    return f"{number[:3]}.{number[3:6]}.{number[6:9]}-{number[9:]}"
