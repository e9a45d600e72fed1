"""The verb every identifier module shares, written once."""

from __future__ import annotations

from collections.abc import Callable


def never_raising(validate: Callable[[str], str]) -> Callable[[object], bool]:
    """Build ``is_valid(value) -> bool`` from a module's ``validate``: True when it accepts, never raises."""

    def is_valid(value: object) -> bool:
        if not isinstance(value, str):
            return False
        try:
            validate(value)
        except ValueError:
            return False
        return True

    return is_valid
