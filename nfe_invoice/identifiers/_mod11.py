"""The modulo-11 check digit shared by CNPJ, CPF and the access key."""

from __future__ import annotations

import operator
from collections.abc import Sequence


def char_value(char: str) -> int:
    """Value of one character: digits are 0-9 and letters ``ord(c) - 48`` (A=17 ... Z=42).

    This mapping is what makes the alphanumeric CNPJ (NT Conjunta 2025.001) work with the old
    mod-11 arithmetic unchanged for purely numeric values.
    """
    return ord(char) - 48


def weighted_sum(text: str, weights: Sequence[int]) -> int:
    """Σ char_value(c) × w, computed in C: Σ ord(c)·w − 48·Σw over the ASCII bytes (``text`` is [0-9A-Z])."""
    if len(text) != len(weights):
        raise ValueError("text and weights differ in length")
    total: int = sum(map(operator.mul, text.encode("ascii"), weights))
    return total - 48 * sum(weights)


def check_digit(text: str, weights: Sequence[int]) -> int:
    """``11 - (sum % 11)``, where a remainder of 0 or 1 gives 0."""
    remainder = weighted_sum(text, weights) % 11
    return 0 if remainder < 2 else 11 - remainder
