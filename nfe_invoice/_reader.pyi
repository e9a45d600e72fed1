"""Types of the compiled model reader (see _reader.pyx)."""

from decimal import Decimal
from typing import Any

from lxml import etree

KINDS: dict[str, int]

class Spec:
    def __init__(
        self,
        cls: type,
        elements: dict[str, tuple[str, int, Spec | None]],
        attributes: tuple[tuple[bytes, str, int], ...],
        tuple_fields: tuple[str, ...],
        has_group: bool,
    ) -> None: ...

class Reader:
    def __init__(self, decimals: dict[str, Decimal], decimals_max: int, convert: Any, decimal: Any) -> None: ...
    def read(self, spec: Spec, element: etree._Element, issues: list[Any]) -> Any: ...
