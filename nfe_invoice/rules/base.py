"""The shape every business rule shares: a pure function of the model that yields findings.

A rule never raises because a document is odd: absent fields are ``None`` and a rule that lacks what it
needs simply yields nothing (the XSD reports missing elements). Each rule is registered once, with its
stable code, its SEFAZ rejection code and a one-line description; the README's code table is generated
from the registry, so it cannot drift.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

from ..findings import Finding, Severity
from ..model import NFeDocument

CENT: Final = Decimal("0.01")
ZERO: Final = Decimal("0")


@dataclass(frozen=True)
class RuleContext:
    """What a rule may know besides the document.

    ``now`` is the reference clock for the receipt-time rules (703, 228, 704, 504-506): the protocol's
    ``dhRecbto`` when there is one, else the caller's explicit ``now``; None means those rules are skipped.
    ``prefix`` is the XPath of ``infNFe`` in this document (``/nfeProc/NFe/infNFe`` or ``/NFe/infNFe``).
    ``digest_value`` is the signature's DigestValue, when the document is signed (for protNFe/digVal).
    """

    now: datetime | None = None
    prefix: str = "/NFe/infNFe"
    digest_value: str | None = None
    extra: dict[str, object] = field(default_factory=dict)

    def path(self, relative: str) -> str:
        """Full XPath of an element below infNFe: ``ctx.path("det[2]/prod/vProd")``."""
        return f"{self.prefix}/{relative}" if relative else self.prefix


RuleFunction = Callable[[NFeDocument, RuleContext], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    """One registered check. ``codes`` lists every finding code the function may emit, with its SEFAZ code."""

    name: str
    description: str
    check: RuleFunction
    codes: tuple[tuple[str, str | None, Severity], ...]
    #: A rule that judges a whole table (one row per total) describes each code on its own.
    code_descriptions: Mapping[str, str] = field(default_factory=dict)


class Registry:
    """An ordered table of rules; ``rule(...)`` is the decorator that adds one."""

    def __init__(self) -> None:
        self.rules: list[Rule] = []

    def rule(
        self,
        *codes: tuple[str, str | None] | tuple[str, str | None, Severity],
        description: str,
        code_descriptions: Mapping[str, str] | None = None,
    ) -> Callable[[RuleFunction], RuleFunction]:
        normalised = tuple(
            (entry[0], entry[1], entry[2] if len(entry) == 3 else Severity.ERROR)
            for entry in codes
        )

        def register(function: RuleFunction) -> RuleFunction:
            self.rules.append(
                Rule(function.__name__, description, function, normalised, dict(code_descriptions or {}))
            )
            return function

        return register

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)


def finding(
    code: str,
    sefaz: str | None,
    message: str,
    xpath: str | None = None,
    severity: Severity = Severity.ERROR,
) -> Finding:
    return Finding(code=code, severity=severity, message=message, sefaz=sefaz, xpath=xpath)


def cents(value: Decimal | None) -> Decimal:
    """Round to the cent, half up (None counts as zero): how SEFAZ compares money."""
    return (value or ZERO).quantize(CENT, rounding=ROUND_HALF_UP)


def brl(value: Decimal | None) -> str:
    """A money value for messages: ``1234.50``."""
    return f"{cents(value):.2f}"


REGISTRY: Final = Registry()
rule: Final = REGISTRY.rule
