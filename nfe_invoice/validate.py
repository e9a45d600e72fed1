"""Validation: load -> envelope checks -> XSD -> parse -> signature -> business rules -> Report.

``validate()`` never raises because a document is bad. Input that cannot be read at all becomes a
single error finding (its exception's code), so batch callers always get a report per document.

Authorised documents: an NF-e whose protNFe (cStat 100/150) is bound to this key and to this verified
signature's DigestValue, and which is not cancelled, is the legal invoice. Where one of our *policy*
rules (exceptions, code tables, calendars, UF rules: :class:`~nfe_invoice.findings.CodeClass`) would
reject it, the authority's verdict outranks ours: the finding becomes a warning that says so, keeping its
code and SEFAZ code. Invariants (the document contradicting itself) and integrity findings (signature,
certificate, protocol, schema, cancellation, hostile input) stay errors. ``strict=True`` keeps every
finding at its normal severity, for audits.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from lxml import etree

from . import schema
from .errors import InputError
from .events import CANCEL_CODES, Cancellation, cancellation_findings
from .findings import CodeInfo, Finding, Report, Severity
from .model import NFeDocument, Protocol
from .parse import Envelope, locate, parse_document
from .rules import POLICY_CODES, RuleContext, rule_codes, run_rules
from .rules.protocol import binding_authorisation
from .signature import (
    BUNDLED_TRUST_STORES,
    SIGNATURE_CODES,
    TrustStore,
    bundled_trust_store,
    load_trust_store,
    verify_signature,
)
from .xml import DEFAULT_MAX_BYTES, XmlDocument, declares_prefix, element_path, load, local_name

DOCUMENT_CODES: Final = (
    CodeInfo("document.comment", None, Severity.ERROR,
             "comments or processing instructions in the document (a real NF-e has none; they can hide values)"),
    CodeInfo("document.prefix", "404", Severity.ERROR, "namespace prefixes are not allowed in an NF-e"),
    CodeInfo("document.encoding", "402", Severity.ERROR, "the XML is not declared as UTF-8"),
    CodeInfo("document.whitespace", "588", Severity.WARNING,
             "line breaks or tabs between tags (SEFAZ rejects them; a signed document was re-formatted)"),
    CodeInfo("document.unconvertible", "225", Severity.ERROR, "a value cannot be read as its type"),
    CodeInfo("internal.error", None, Severity.ERROR,
             "validation itself failed on this document (a bug in nfe-invoice); the document does not pass"),
)

INPUT_CODES: Final = (
    CodeInfo("input.source", None, Severity.ERROR, "the source is not bytes, a path or a binary file, or unreadable"),
    CodeInfo("input.empty", None, Severity.ERROR, "the input is empty"),
    CodeInfo("input.too_large", "214", Severity.ERROR, "the input is larger than the size limit"),
    CodeInfo("input.hostile", None, Severity.ERROR, "DOCTYPE or entity declarations (refused as hostile)"),
    CodeInfo("input.malformed", None, Severity.ERROR, "not well-formed XML"),
    CodeInfo("input.not_nfe", None, Severity.ERROR, "well-formed XML that is not an NF-e"),
    CodeInfo("input.namespace", None, Severity.ERROR, "the root is not in the NF-e namespace"),
    CodeInfo("input.root", None, Severity.ERROR, "the root element is neither NFe nor nfeProc"),
    CodeInfo("input.layout", None, Severity.ERROR, "a layout other than 4.00"),
)


@dataclass(frozen=True)
class ValidationOptions:
    """Everything that tunes validation; the defaults are the safe ones."""

    trust_store: TrustStore | None = None
    now: datetime | None = None
    schema_dir: Path | None = None
    max_bytes: int = DEFAULT_MAX_BYTES
    check_signature: bool = True
    #: Keep policy findings as errors even on an authorised document (audits).
    strict: bool = False


@dataclass(frozen=True)
class Validated:
    """A report together with what was read (``document`` is None when the input could not be read)."""

    report: Report
    document: NFeDocument | None


def all_codes() -> list[CodeInfo]:
    """Every finding code validation can produce (the README table is generated from this)."""
    return [
        *INPUT_CODES,
        *DOCUMENT_CODES,
        *schema.SCHEMA_CODES,
        *SIGNATURE_CODES,
        *rule_codes(),
        *CANCEL_CODES,
    ]


def validate(
    source: object,
    *,
    trust_store: TrustStore | str | os.PathLike[str] | None = None,
    now: datetime | None = None,
    schema_dir: str | os.PathLike[str] | None = None,
    cancellations: Iterable[Cancellation] = (),
    max_bytes: int = DEFAULT_MAX_BYTES,
    strict: bool = False,
) -> Report:
    """Validate one NF-e and return its :class:`Report` (never raises because the document is bad).

    ``now`` is the reference clock for the receipt-time rules when the document has no protocol; it is
    never the wall clock by default, so a valid NF-e stays valid. ``trust_store`` turns on the
    chain-of-trust check: a loaded :class:`TrustStore` (load it once for a batch), the path of a PEM
    file, or the name of a bundled store (``"icp-brasil"``). ``cancellations`` are cancellation events
    (see :mod:`nfe_invoice.events`) the caller has for this or other documents. A ``schema_dir`` that
    cannot be used raises :class:`~nfe_invoice.schema.SchemaError`: that is the caller's configuration,
    not a defect of the document. On an authorised document, policy findings are warnings (the authority
    accepted what the rule would reject now) unless ``strict`` is True; ``report.authorized`` says which.
    """
    if isinstance(trust_store, TrustStore | None):
        store = trust_store
    elif isinstance(trust_store, str) and trust_store in BUNDLED_TRUST_STORES:
        store = bundled_trust_store(trust_store)
    else:
        store = load_trust_store(trust_store)
    options = ValidationOptions(
        trust_store=store,
        now=now,
        schema_dir=Path(schema_dir) if schema_dir is not None else None,
        max_bytes=max_bytes,
        strict=strict,
    )
    return validate_full(source, options, cancellations=cancellations).report


def validate_full(
    source: object, options: ValidationOptions, *, cancellations: Iterable[Cancellation] = ()
) -> Validated:
    """Validate and also return the parsed document, for callers that go on to map it (CLI, batch)."""
    return next(validate_each((source,), options, cancellations=cancellations))


#: A group validated phase by phase holds at most this many documents, and stops growing past this many
#: bytes of XML (one large document is a group of its own), so memory stays flat in the number of documents.
GROUP_DOCUMENTS: Final = 16
GROUP_BYTES: Final = 512 * 1024


def validate_each(
    sources: Iterable[object], options: ValidationOptions, *, cancellations: Iterable[Cancellation] = ()
) -> Iterator[Validated]:
    """:func:`validate_full` of each source, in order: the same results, about a quarter less CPU.

    Why a group at a time: validation is a few phases that each have a large working set of their own (the
    compiled schema's automata, the model reader, OpenSSL, the rules' code and tables). Run one document
    through all of them and each phase finds the CPU caches full of the others' data; run each phase over
    a group of documents before the next, and it mostly finds its own. Over 400 signed ten-item documents
    that took a document from about 830 to 620 us. Each document's phases and findings are exactly those of
    :func:`validate_full` (which is this with one source); a failure inside one document's phase makes only
    that document's report an ``internal.error``. Groups are bounded by :data:`GROUP_DOCUMENTS` and
    :data:`GROUP_BYTES`.
    """
    events = tuple(cancellations)
    group: list[_Work | Validated] = []
    size = 0
    for source in sources:
        loaded = _load(source, options)
        group.append(loaded)
        if isinstance(loaded, _Work):
            size += len(loaded.xml.raw)
        if len(group) >= GROUP_DOCUMENTS or size >= GROUP_BYTES:
            yield from _validate_group(group, options, events)
            group, size = [], 0
    if group:
        yield from _validate_group(group, options, events)


@dataclass(slots=True)
class _Work:
    """One loaded document on its way through the phases; ``result`` is set by the last or a failed phase."""

    xml: XmlDocument
    envelope: Envelope
    findings: list[Finding]
    document: NFeDocument | None = None
    digest_value: str | None = None
    facts: dict[str, Any] = dataclasses.field(default_factory=dict)
    result: Validated | None = None


def _load(source: object, options: ValidationOptions) -> _Work | Validated:
    """The loaded document, or the report of input that cannot be read as an NF-e at all."""
    try:
        xml_document = load(source, max_bytes=options.max_bytes)
        envelope = locate(xml_document)
    except InputError as exc:
        name = os.fspath(source) if isinstance(source, str | os.PathLike) else getattr(source, "name", None)
        finding = Finding(code=exc.code, severity=Severity.ERROR, message=exc.message, line=exc.line)
        return Validated(Report.of([finding], source=name if isinstance(name, str) else None), None)
    return _Work(xml_document, envelope, [])


def _validate_group(
    group: list[_Work | Validated], options: ValidationOptions, events: tuple[Cancellation, ...]
) -> list[Validated]:
    works = [item for item in group if isinstance(item, _Work)]
    for phase in (_check_structure, _read_model, _check_signature, _judge):
        for work in works:
            if work.result is not None:
                continue
            try:
                phase(work, options, events)
            except schema.SchemaError:
                raise  # the caller's configuration, not the document (see validate())
            except Exception as exc:
                finding = Finding(
                    code="internal.error",
                    severity=Severity.ERROR,
                    message=f"nfe-invoice failed while validating this document ({type(exc).__name__}: {exc}); "
                    "it is not passed unchecked: please report it",
                )
                work.result = Validated(Report.of([finding], source=work.xml.name), None)
    return [item if isinstance(item, Validated) else typing.cast(Validated, item.result) for item in group]


def _check_structure(work: _Work, options: ValidationOptions, _events: tuple[Cancellation, ...]) -> None:
    """The bytes themselves, then the XSD."""
    work.findings.extend(_envelope_findings(work.xml))
    work.findings.extend(schema.validate_schema(work.xml, work.envelope.root_tag, options.schema_dir))


def _read_model(work: _Work, _options: ValidationOptions, _events: tuple[Cancellation, ...]) -> None:
    document = work.document = parse_document(work.xml, work.envelope)
    work.findings.extend(
        Finding(
            code="document.unconvertible",
            severity=Severity.ERROR,
            message=f"{issue.value!r} is not {issue.expected}",
            sefaz="225",
            xpath=issue.xpath,
        )
        for issue in document.issues
    )


def _check_signature(work: _Work, options: ValidationOptions, _events: tuple[Cancellation, ...]) -> None:
    if not options.check_signature:
        return
    document = typing.cast(NFeDocument, work.document)
    result = verify_signature(
        work.xml,
        work.envelope,
        emitted_at=document.ide.dhEmi,
        emitter_cnpj=document.emit.CNPJ,
        trust_store=options.trust_store,
    )
    work.findings.extend(result.findings)
    work.digest_value = result.digest_value
    if result.certificate is not None:
        work.facts["certificate"] = result.certificate


def _judge(work: _Work, options: ValidationOptions, events: tuple[Cancellation, ...]) -> None:
    """The business rules and cancellations, then the authority's verdict over policy findings: the report."""
    document = typing.cast(NFeDocument, work.document)
    findings = work.findings
    protocol = document.protocol
    now = protocol.dhRecbto if protocol is not None and protocol.dhRecbto is not None else options.now
    context = RuleContext(now=now, prefix=element_path(work.envelope.inf_nfe), digest_value=work.digest_value)
    findings.extend(run_rules(document, context))
    findings.extend(cancellation_findings(work.xml, work.envelope, document, events))
    authorisation = _authorisation(document, work.digest_value, findings)
    if authorisation is not None and not options.strict:
        findings = _outranked_by_authority(findings, authorisation)
    report = Report.of(
        findings,
        access_key=document.access_key,
        source=work.xml.name,
        facts=work.facts,
        authorized=authorisation is not None,
    )
    work.result = Validated(report, document)


#: Errors that mean SEFAZ's protocol does not vouch for these bytes: the signature does not verify, its
#: certificate could not have been accepted (290-293, 295, 213), or the document was cancelled since.
_NOT_VOUCHED_FOR: Final = ("signature.", "certificate.", "document.cancelled")


def _authorisation(document: NFeDocument, digest_value: str | None, findings: Sequence[Finding]) -> Protocol | None:
    """The protocol under which SEFAZ authorised exactly this document, or None (see the module docstring)."""
    protocol = binding_authorisation(document, digest_value)
    if protocol is None:
        return None
    for finding in findings:
        if finding.severity is Severity.ERROR and finding.code.startswith(_NOT_VOUCHED_FOR):
            return None
    return protocol


def _outranked_by_authority(findings: list[Finding], protocol: Protocol) -> list[Finding]:
    """Policy errors become warnings that say the authority accepted the document; nothing else changes.

    Costs one pass over a short list, and only on authorised documents with a policy error.
    """
    if not any(finding.severity is Severity.ERROR and finding.code in POLICY_CODES for finding in findings):
        return findings
    number = f" (protocol {protocol.nProt})" if protocol.nProt else ""
    note = f"; SEFAZ authorised this document{number} although this rule would reject it now"
    return [
        dataclasses.replace(finding, severity=Severity.WARNING, message=finding.message + note)
        if finding.severity is Severity.ERROR and finding.code in POLICY_CODES
        else finding
        for finding in findings
    ]


def _first_prefixed(document: XmlDocument) -> etree._Element | None:
    """The first element written with a namespace prefix (``ds:Signature``, ``ns1:IBSCBS``), if any.

    A prefix that is declared but never used (``xmlns:xsi`` on some nfeProc) is not an error.
    """
    for element in document.root.iter():
        if element.prefix is not None:
            return element
    return None


def _envelope_findings(document: XmlDocument) -> Iterable[Finding]:
    """Checks on the bytes themselves, before any structure is judged."""
    if document.has_comments or document.has_pis:
        what = "comments" if document.has_comments else "processing instructions"
        yield Finding(
            code="document.comment",
            severity=Severity.ERROR,
            message=f"the document contains {what}; a real NF-e has none, and they can hide or split values",
        )
    raw = document.raw
    prefixed = _first_prefixed(document) if declares_prefix(raw) else None  # the tree walk only when needed
    if prefixed is not None:
        yield Finding(
            code="document.prefix",
            severity=Severity.ERROR,
            message=f"<{prefixed.prefix}:{local_name(prefixed.tag)}> uses a namespace prefix; "
            "NF-e allows only the default namespaces",
            sefaz="404",
            xpath=element_path(prefixed),
        )
    encoding = document.tree.docinfo.encoding
    if encoding and encoding.upper().replace("_", "-") not in {"UTF-8", "UTF8"}:
        yield Finding(
            code="document.encoding",
            severity=Severity.ERROR,
            message=f"the XML is declared as {encoding}; NF-e must be UTF-8",
            sefaz="402",
        )
    # memchr for the rare "\n", "\r" and "\t" first; the exact two-byte searches only when one is there.
    edit_characters = (b"\n" in raw or b"\r" in raw or b"\t" in raw) and (
        b">\n" in raw or b">\r" in raw or b">\t" in raw
    )
    # rfind, not ``in``: the same answer, but CPython's backward search skips through XML twice as fast
    # for this needle (its first byte, ">", rarely starts a candidate; its last, "<", starts every tag):
    # 5 us instead of 10 at 10 items, 0.29 ms instead of 0.6 at 990.
    if edit_characters or raw.rfind(b"> <") != -1:
        yield Finding(
            code="document.whitespace",
            severity=Severity.WARNING,
            message="line breaks, tabs or spaces between tags: SEFAZ rejects them (588), so this copy was "
            "re-formatted after it was issued",
            sefaz="588",
        )
