"""The 44-character NF-e access key (chave de acesso).

Layout: cUF(2) AAMM(4) CNPJ/CPF(14) mod(2) serie(3) nNF(9) tpEmis(1) cNF(8) cDV(1). The emitter part may
hold letters (alphanumeric CNPJ); a CPF emitter is left-padded with zeros. The check digit is mod 11 with
weights 2..9 cycling from the right, a remainder of 0 or 1 giving 0, letters counting ``ord(c) - 48``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from ..errors import InvalidChecksumError, InvalidFormatError, InvalidLengthError
from ._mod11 import check_digit
from ._verbs import never_raising

LENGTH: Final = 44
_SHAPE: Final = re.compile(r"[0-9]{6}[0-9A-Z]{12}[0-9]{26}")
_WEIGHTS: Final = tuple(2 + (index % 8) for index in range(43))[::-1]


@dataclass(frozen=True, slots=True)
class AccessKeyParts:
    """The named parts of an access key, as the strings they are in the key."""

    cUF: str
    year_month: str  # AAMM of dhEmi
    emitter: str  # 14 characters: CNPJ, or CPF left-padded with "000"
    model: str
    series: str
    number: str
    emission_type: str
    numeric_code: str
    check_digit: str

    @property
    def year(self) -> int:
        return 2000 + int(self.year_month[:2])

    @property
    def month(self) -> int:
        return int(self.year_month[2:])


def compact(value: str) -> str:
    """Strip spaces, dots and a leading ``NFe`` (as in ``infNFe/@Id``)."""
    key = value.replace(" ", "").replace(".", "").strip().upper()
    return key[3:] if key.startswith("NFE") else key


def calc_check_digit(first_43: str) -> str:
    if len(first_43) != 43 or not _SHAPE.fullmatch(first_43 + "0"):
        raise InvalidFormatError("the access key body is 43 characters")
    return str(check_digit(first_43, _WEIGHTS))


def validate(value: str) -> str:
    """Return the compact 44-character key, or raise a specific IdentifierError."""
    if not isinstance(value, str):
        raise InvalidFormatError(f"an access key is a str, got {type(value).__name__}")
    key = compact(value)
    if len(key) != LENGTH:
        raise InvalidLengthError(f"an access key has 44 characters, got {len(key)}")
    if not _SHAPE.fullmatch(key):
        raise InvalidFormatError("an access key is digits, with letters only in the CNPJ positions 7-18")
    expected = calc_check_digit(key[:43])
    if key[43] != expected:
        raise InvalidChecksumError(f"the access key check digit should be {expected}, found {key[43]}")
    return key


is_valid = never_raising(validate)
"""True for a valid access key; never raises."""


def split(value: str) -> AccessKeyParts:
    """Split a 44-character key into its parts (the check digit is not judged here)."""
    key = compact(value)
    if len(key) != LENGTH:
        raise InvalidLengthError(f"an access key has 44 characters, got {len(key)}")
    return AccessKeyParts(
        cUF=key[0:2],
        year_month=key[2:6],
        emitter=key[6:20],
        model=key[20:22],
        series=key[22:25],
        number=key[25:34],
        emission_type=key[34],
        numeric_code=key[35:43],
        check_digit=key[43],
    )


def build(
    *,
    cUF: str | int,
    year_month: str,
    emitter: str,
    model: str | int,
    series: str | int,
    number: str | int,
    emission_type: str | int,
    numeric_code: str | int,
) -> str:
    """Compose a key from its parts, zero-padding numbers and computing the check digit.

    ``emitter`` is a CNPJ (14) or CPF (11, padded to 14). ``year_month`` is ``AAMM``.
    """
    body = (
        f"{int(cUF):02d}{year_month}{emitter.rjust(14, '0')}{int(model):02d}{int(series):03d}"
        f"{int(number):09d}{int(emission_type):1d}{int(numeric_code):08d}"
    )
    if len(body) != 43:
        raise InvalidLengthError(f"the parts make {len(body)} characters instead of 43")
    return body + calc_check_digit(body)


def format(value: str) -> str:
    """Groups of four characters, as printed on a DANFE."""
    key = compact(value)
    return " ".join(key[index : index + 4] for index in range(0, len(key), 4))
