"""Business rules checkable from the XML alone, as small pure functions listed in one table.

Each family of rules lives in its own module and registers itself in :data:`base.REGISTRY` on import;
:data:`RULES` is the whole table, in a stable order. :func:`run_rules` applies every rule to a document.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import CodeInfo, Finding
from ..model import NFeDocument

# Importing a family registers its rules (alphabetical; a report sorts findings by severity anyway).
from . import base, dates, identities, items, keys, nfce, payments, protocol, reform, totals  # noqa: F401
from .base import Rule, RuleContext

RULES: tuple[Rule, ...] = tuple(base.REGISTRY)


def run_rules(document: NFeDocument, context: RuleContext) -> Iterator[Finding]:
    for entry in RULES:
        yield from entry.check(document, context)


def rule_codes() -> list[CodeInfo]:
    """Every finding code the rules can emit, with its SEFAZ code and the rule's description."""
    return [
        CodeInfo(code, sefaz, severity, entry.description)
        for entry in RULES
        for code, sefaz, severity in entry.codes
    ]


__all__ = ["RULES", "CodeInfo", "Rule", "RuleContext", "rule_codes", "run_rules"]
