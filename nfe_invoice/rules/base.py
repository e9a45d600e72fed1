"""The shape every business rule shares: a pure function of the model that yields findings.

A rule never raises because a document is odd: absent fields are ``None`` and a rule that lacks what it
needs simply yields nothing (the XSD reports missing elements). Each rule is registered once, with its
stable code, its SEFAZ rejection code, a one-line description and its class (``kind``: an INVARIANT the
document's own data must satisfy, a POLICY rule the authority may have waived, or an INTEGRITY check of
the protocol); the README's code table is generated from the registry, so it cannot drift.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

from ..findings import CodeClass, Finding, Severity
from ..model import NFeDocument

#: The classes a rule's registry entry must choose from (see :class:`~nfe_invoice.findings.CodeClass`).
INTEGRITY: Final = CodeClass.INTEGRITY
INVARIANT: Final = CodeClass.INVARIANT
POLICY: Final = CodeClass.POLICY

#: The ``models`` of a rule that can only find something on an NFC-e (ide/mod 65), or on an NF-e (55).
NFCE_ONLY: Final = frozenset({"65"})
NFE_ONLY: Final = frozenset({"55"})

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
    kind: CodeClass
    #: A rule that judges a whole table (one row per total) describes each code on its own.
    code_descriptions: Mapping[str, str] = field(default_factory=dict)
    #: A rule whose codes are not all of its own class (a check digit beside a prefix table) says so here.
    code_kinds: Mapping[str, CodeClass] = field(default_factory=dict)
    #: The document models (ide/mod) on which the rule can find anything, or None for every model. The
    #: rule itself still checks the model first (it stays right when called alone); :func:`run_rules`
    #: does not call it on another model, a rule call saved per such rule (13 on a model-55 document).
    models: frozenset[str] | None = None

    def kind_of(self, code: str) -> CodeClass:
        return self.code_kinds.get(code, self.kind)


class Registry:
    """An ordered table of rules; ``rule(...)`` is the decorator that adds one."""

    def __init__(self) -> None:
        self.rules: list[Rule] = []

    def rule(
        self,
        *codes: tuple[str, str | None] | tuple[str, str | None, Severity],
        kind: CodeClass,
        description: str,
        code_descriptions: Mapping[str, str] | None = None,
        code_kinds: Mapping[str, CodeClass] | None = None,
        models: frozenset[str] | None = None,
    ) -> Callable[[RuleFunction], RuleFunction]:
        """Register a rule. ``kind`` is required: no rule may leave its class to a default."""
        normalised = tuple(
            (entry[0], entry[1], entry[2] if len(entry) == 3 else Severity.ERROR)
            for entry in codes
        )
        if not isinstance(kind, CodeClass):
            raise TypeError(f"rule kind must be a CodeClass, got {kind!r}")
        unknown = set(code_kinds or {}) - {entry[0] for entry in normalised}
        if unknown:
            raise ValueError(f"code_kinds names codes the rule does not declare: {sorted(unknown)}")

        def register(function: RuleFunction) -> RuleFunction:
            self.rules.append(
                Rule(function.__name__, description, function, normalised, kind,
                     dict(code_descriptions or {}), dict(code_kinds or {}), models)
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
