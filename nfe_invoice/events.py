"""Cancellation events: an authorised NF-e that was later cancelled must never reach VTEX.

Two forms are recognised:

* the standard ``procEventoNFe`` of a cancellation (tpEvento 110111, or 110112 "cancelamento por
  substituição") whose ``retEvento`` says it was registered (cStat 135, 136 or 155); the 110111 form is
  validated against the official ``procEventoCancNFe_v1.00.xsd``;
* the non-standard ``nfeProc`` with a ``retEvento`` appended after ``protNFe``, seen in the wild (how
  sped-nfe marks a cancelled NF-e); the XSD rejects it, and this module says why it matters.

Blocking is the safe direction: a registered cancellation blocks the document even when the event file
has other defects, which are named in the finding's message.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from lxml import etree

from . import schema
from .errors import NotAnNfeError
from .findings import CodeInfo, Finding, Severity
from .model import NFeDocument
from .parse import Envelope
from .xml import DEFAULT_MAX_BYTES, NFE_NS, XmlDocument, element_path, load, local_name, namespace, nfe

CANCEL_EVENT_TYPES: Final = {"110111": "cancellation", "110112": "cancellation by substitution"}
REGISTERED_STATUSES: Final = frozenset({"135", "136", "155"})
CANCEL_CODES: Final = (
    CodeInfo("document.cancelled", "218", Severity.ERROR,
             "a registered cancellation event (110111/110112) exists for this NF-e"),
)


class NotACancellationError(NotAnNfeError):
    code = "input.not_cancellation"
    default_message = "the document is not a cancellation event (procEventoNFe 110111/110112)"


@dataclass(frozen=True)
class Cancellation:
    """A cancellation event as read from a ``procEventoNFe`` (or a ``retEvento`` inside ``nfeProc``)."""

    access_key: str
    event_type: str
    status: str | None
    protocol: str | None
    registered_at: str | None
    problems: tuple[str, ...] = ()
    source: str | None = None

    @property
    def registered(self) -> bool:
        return self.status is not None and self.status.strip() in REGISTERED_STATUSES

    def cancels(self, access_key: str | None) -> bool:
        """Whether this is a registered cancellation of ``access_key``. White space around the values does
        not hide it (the safe direction, as for the protocol's chNFe): `` 135`` is still registered."""
        return access_key is not None and self.access_key.strip() == access_key.strip() and self.registered


def _text(element: etree._Element | None, tag: str) -> str | None:
    if element is None:
        return None
    found = element.find(nfe(tag))
    text = found.text.strip() if found is not None and found.text else None  # the XSD reports the spaces
    return text or None


def read_cancellation(
    source: object, *, schema_dir: Path | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> Cancellation:
    """Read a ``procEventoNFe`` cancellation; raise :class:`NotACancellationError` for anything else."""
    document = load(source, max_bytes=max_bytes)
    return cancellation_from(document, schema_dir=schema_dir)


def cancellation_from(document: XmlDocument, *, schema_dir: Path | None = None) -> Cancellation:
    root = document.root
    if namespace(root.tag) != NFE_NS or local_name(root.tag) != "procEventoNFe":
        raise NotACancellationError(f"the root element is <{local_name(root.tag)}>, not procEventoNFe")
    info = root.find(f"{nfe('evento')}/{nfe('infEvento')}")
    answer = root.find(f"{nfe('retEvento')}/{nfe('infEvento')}")
    event_type = _text(info, "tpEvento")
    key = _text(info, "chNFe") or _text(answer, "chNFe")
    if event_type not in CANCEL_EVENT_TYPES or key is None:
        raise NotACancellationError(f"event type {event_type} is not a cancellation (110111/110112)")
    problems: list[str] = []
    if event_type == "110111":
        errors = schema.validate_schema(document, "procEventoNFe", schema_dir)
        problems.extend(f"XSD: {finding.message}" for finding in errors[:3])
    if answer is None:
        problems.append("the event has no retEvento: it was never registered by SEFAZ")
    return Cancellation(
        access_key=key,
        event_type=event_type,
        status=_text(answer, "cStat"),
        protocol=_text(answer, "nProt"),
        registered_at=_text(answer, "dhRegEvento"),
        problems=tuple(problems),
        source=document.name,
    )


def _appended_events(envelope: Envelope) -> Iterable[tuple[etree._Element, Cancellation]]:
    """``retEvento`` elements appended to a non-standard ``nfeProc``."""
    if envelope.root_tag != "nfeProc":
        return
    root = envelope.nfe.getparent()
    if root is None:
        return
    for answer in root.iterfind(f"{nfe('retEvento')}/{nfe('infEvento')}"):
        event_type = _text(answer, "tpEvento")
        key = _text(answer, "chNFe")
        if event_type in CANCEL_EVENT_TYPES and key:
            yield answer, Cancellation(
                access_key=key,
                event_type=event_type,
                status=_text(answer, "cStat"),
                protocol=_text(answer, "nProt"),
                registered_at=_text(answer, "dhRegEvento"),
                problems=("appended to nfeProc (non-standard form)",),
            )


def cancellation_findings(
    xml_document: XmlDocument,
    envelope: Envelope,
    document: NFeDocument,
    cancellations: Iterable[Cancellation],
) -> Iterable[Finding]:
    """An error for every registered cancellation of this document's key."""
    key = document.access_key
    found: list[tuple[str | None, Cancellation]] = [
        (element_path(element), event) for element, event in _appended_events(envelope)
    ]
    found.extend((None, event) for event in cancellations)
    for xpath, event in found:
        if not event.cancels(key):
            continue
        detail = f"; note: {'; '.join(event.problems)}" if event.problems else ""
        where = f" ({event.source})" if event.source else ""
        kind = CANCEL_EVENT_TYPES.get(event.event_type.strip(), "a cancellation")
        yield Finding(
            code="document.cancelled",
            severity=Severity.ERROR,
            message=(
                f"this NF-e was cancelled: event {event.event_type} ({kind}) "
                f"registered with cStat {event.status}, protocol {event.protocol}, at {event.registered_at}"
                f"{where}{detail}"
            ),
            sefaz="218",
            xpath=xpath,
        )


__all__ = [
    "CANCEL_CODES",
    "Cancellation",
    "NotACancellationError",
    "cancellation_findings",
    "read_cancellation",
]
