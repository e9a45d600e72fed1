"""Findings and reports: what validation says about a document.

A finding is data, not an exception: validation never raises because a document is bad. Codes are
stable dotted strings (``totals.vnf``); where the tax authority (SEFAZ) has a rejection code for the
same rule, it travels in ``sefaz`` ("610") so people can match it to what they already know.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


class CodeClass(enum.StrEnum):
    """How much a finding code can be outweighed by the tax authority's own verdict on the document.

    * ``integrity``: whether the document is readable, intact and genuinely authorised (input, layout,
      schema, signature, certificate, protocol binding and status, cancellation). Never outweighed.
    * ``invariant``: the document's own data contradicting itself (check digits, the key against the
      fields, item and total arithmetic, payments against vNF). SEFAZ has applied these everywhere for
      years, so on an authorised document a violation means the copy was edited: it stays an error.
    * ``policy``: presence and consistency rules with exceptions, code tables, calendars, UF-specific,
      NFC-e and tax-reform rules still being phased in. Where SEFAZ authorised the document anyway, its
      verdict outranks ours and such a finding becomes a warning (unless validation is strict).
    """

    INTEGRITY = "integrity"
    INVARIANT = "invariant"
    POLICY = "policy"


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing found in a document: a stable code, a severity, a plain message and where it is."""

    code: str
    severity: Severity
    message: str
    sefaz: str | None = None
    xpath: str | None = None
    line: int | None = None
    context: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "sefaz": self.sefaz,
            "severity": self.severity.value,
            "message": self.message,
            "xpath": self.xpath,
        }


@dataclass(frozen=True, slots=True)
class CodeInfo:
    """One entry of the table of finding codes (README): the code, its SEFAZ code, its meaning, its class.

    Codes outside the business rules (input, schema, signature, cancellation) are all integrity codes,
    hence the default; every business rule states its class explicitly in its registry entry.
    """

    code: str
    sefaz: str | None
    severity: Severity
    description: str
    code_class: CodeClass = CodeClass.INTEGRITY


class ValidationFailed(Exception):
    """Raised by :meth:`Report.raise_for_errors` only: the caller asked for an exception."""

    def __init__(self, report: Report) -> None:
        self.report = report
        first = report.errors[0]
        super().__init__(f"{len(report.errors)} error(s); first: [{first.code}] {first.message}")


@dataclass(frozen=True, slots=True)
class Report:
    """Everything validation found about one document, errors first.

    ``authorized`` is True when the document carries SEFAZ's authorisation bound to these very bytes
    (protNFe cStat 100/150 for this key and this signature's DigestValue, the signature verified, not
    cancelled); ``ok`` still means only "no error finding".
    """

    findings: tuple[Finding, ...]
    access_key: str | None = None
    source: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    authorized: bool = False

    @classmethod
    def of(cls, findings: Iterable[Finding], **kwargs: Any) -> Report:
        ordered = sorted(findings, key=lambda finding: _ORDER[finding.severity])
        return cls(findings=tuple(ordered), **kwargs)

    @property
    def ok(self) -> bool:
        """True when no finding is an error (warnings and info do not make a document bad)."""
        return not any(finding.severity is Severity.ERROR for finding in self.findings)

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.WARNING)

    def codes(self) -> set[str]:
        return {finding.code for finding in self.findings}

    def sefaz_codes(self) -> set[str]:
        return {finding.sefaz for finding in self.findings if finding.sefaz}

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.findings)

    def raise_for_errors(self) -> None:
        if not self.ok:
            raise ValidationFailed(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.source,
            "ok": self.ok,
            "authorized": self.authorized,
            "access_key": self.access_key,
            "findings": [finding.to_dict() for finding in self.findings],
        }
