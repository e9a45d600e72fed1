"""GTIN (EAN/UPC) codes as NF-e carries them in cEAN/cEANTrib: GTIN-8, 12, 13 or 14.

The NF-e writes ``SEM GTIN`` when a product has none; that literal is not a GTIN and is left to the
validation rules (it is allowed), so these functions only judge real codes.
"""

from __future__ import annotations

from typing import Final

from ..errors import InvalidChecksumError, InvalidFormatError, InvalidLengthError
from ._verbs import never_raising

LENGTHS: Final = frozenset({8, 12, 13, 14})
NO_GTIN: Final = "SEM GTIN"


def compact(value: str) -> str:
    return value.replace(" ", "").replace("-", "").strip()


def calc_check_digit(body: str) -> str:
    """GS1 check digit: weights 3,1,3,1... from the right of the body."""
    if not (body.isascii() and body.isdigit()):
        raise InvalidFormatError("a GTIN has digits only")
    total = sum(int(digit) * (3 if index % 2 == 0 else 1) for index, digit in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def validate(value: str) -> str:
    if not isinstance(value, str):
        raise InvalidFormatError(f"a GTIN is a str, got {type(value).__name__}")
    code = compact(value)
    if not (code.isascii() and code.isdigit()):
        raise InvalidFormatError("a GTIN has digits only")
    if len(code) not in LENGTHS:
        raise InvalidLengthError(f"a GTIN has 8, 12, 13 or 14 digits, got {len(code)}")
    if calc_check_digit(code[:-1]) != code[-1]:
        raise InvalidChecksumError(f"the GTIN check digit should be {calc_check_digit(code[:-1])}")
    return code


is_valid = never_raising(validate)
"""True for a valid GTIN; never raises."""


def format(value: str) -> str:
    return compact(value)
