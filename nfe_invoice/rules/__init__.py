"""Business rules checkable from the XML alone, as small pure functions listed in one table.

Each family of rules lives in its own module and registers itself in :data:`base.REGISTRY` on import;
:data:`RULES` is the whole table, in a stable order. :func:`run_rules` applies every rule to a document.
:data:`POLICY_CODES` are the codes of the policy rules: the findings an authorised document's protocol
outranks (validation demotes them to warnings there, see :mod:`nfe_invoice.validate`).
"""

from __future__ import annotations

from typing import Final

from ..findings import CodeClass, CodeInfo, Finding, Severity
from ..model import NFeDocument

# Importing a family registers its rules (alphabetical; a report sorts findings by severity anyway).
from . import base, dates, identities, items, keys, nfce, payments, protocol, reform, totals  # noqa: F401
from .base import Rule, RuleContext

RULES: tuple[Rule, ...] = tuple(base.REGISTRY)


INTERNAL_ERROR: Final = CodeInfo(
    "rules.internal_error", None, Severity.ERROR,
    "a business rule failed on this document (a bug in nfe-invoice): the document is not passed unchecked",
)


_CHECKS: Final = tuple(entry.check for entry in RULES)
#: Per document model (ide/mod): the checks that can find something on it (see ``Rule.models``). A
#: document of any other model, or without one, gets every check.
_CHECKS_BY_MODEL: Final = {
    model: tuple(entry.check for entry in RULES if entry.models is None or model in entry.models)
    for model in ("55", "65")
}

POLICY_CODES: Final = frozenset(
    code for entry in RULES for code, _, _ in entry.codes if entry.kind_of(code) is CodeClass.POLICY
)


def run_rules(document: NFeDocument, context: RuleContext) -> list[Finding]:
    """Apply every rule. A rule that fails never stops the others, and never lets a document pass.

    Arithmetic on an absurd value (``9E+999999`` is a finite Decimal the XSD rejects) silences only that
    rule; any other failure is a bug of ours and becomes an error finding, so a batch goes on and the
    document is not reported as sound. The common case (no rule fails) runs as one tight loop; the
    first failure restarts the run rule by rule, so the result is the same either way. Rules that cannot
    apply to the document's model are not called (they would yield nothing).
    """
    findings: list[Finding] = []
    try:
        for check in _CHECKS_BY_MODEL.get(document.ide.mod or "", _CHECKS):
            findings.extend(check(document, context))
    except Exception:
        return _run_rules_one_by_one(document, context)
    return findings


def _run_rules_one_by_one(document: NFeDocument, context: RuleContext) -> list[Finding]:
    findings: list[Finding] = []
    model = document.ide.mod
    for entry in RULES:
        if entry.models is not None and model in _CHECKS_BY_MODEL and model not in entry.models:
            continue
        try:
            findings.extend(list(entry.check(document, context)))
        except ArithmeticError:
            continue
        except Exception as exc:
            findings.append(Finding(
                code=INTERNAL_ERROR.code, severity=Severity.ERROR, sefaz=None,
                message=f"rule {entry.name} failed ({type(exc).__name__}: {exc}); please report it"))
    return findings


def rule_codes() -> list[CodeInfo]:
    """Every finding code the rules can emit, with its SEFAZ code, the rule's description and its class."""
    return [
        CodeInfo(code, sefaz, severity, entry.code_descriptions.get(code, entry.description), entry.kind_of(code))
        for entry in RULES
        for code, sefaz, severity in entry.codes
    ] + [INTERNAL_ERROR]


__all__ = ["POLICY_CODES", "RULES", "CodeInfo", "Rule", "RuleContext", "rule_codes", "run_rules"]
