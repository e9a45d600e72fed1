"""Shared helpers for the tests of the key, identity, date, payment, NFC-e and protocol rule families.

A test builds a valid document with :mod:`nfe_invoice.testing.builder`, changes one thing in its XML
(:func:`set_text`, :func:`remove`, :func:`add`, :func:`set_attr`), parses it with :func:`nfe_invoice.parse`
and compares the set of finding codes these families produce with the expected set (:func:`family_codes`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from lxml import etree

import nfe_invoice
from nfe_invoice.findings import Finding
from nfe_invoice.identifiers import access_key
from nfe_invoice.model import NFeDocument
from nfe_invoice.rules import RULES, RuleContext
from nfe_invoice.testing.builder import (
    TEST_ALPHANUMERIC_CNPJ,
    build_nfe,
    default_spec,
    wrap_nfeproc,
)

from .paths import REALWORLD

NS = "http://www.portalfiscal.inf.br/nfe"
# The real documents, copied into fixtures/realworld with their provenance.
REALWORLD_FILES = tuple(sorted((REALWORLD / "nfe").glob("*.xml")) + sorted((REALWORLD / "nfe-signed").glob("*.xml")))

FAMILY_MODULES = {
    "keys": "nfe_invoice.rules.keys",
    "identities": "nfe_invoice.rules.identities",
    "dates": "nfe_invoice.rules.dates",
    "payments": "nfe_invoice.rules.payments",
    "nfce": "nfe_invoice.rules.nfce",
    "protocol": "nfe_invoice.rules.protocol",
}
FAMILY_RULES = tuple(entry for entry in RULES if entry.check.__module__ in FAMILY_MODULES.values())

EMITTED_AT = default_spec(1).emitted_at
RECEIVED_AT = EMITTED_AT + timedelta(minutes=1)  # the default reference clock: a prompt reception
BARE = frozenset({"protocol.absent"})  # what a valid, bare (unauthorised) NFe always gets
ROOT_PREFIX = {"NFe": "/NFe/infNFe", "nfeProc": "/nfeProc/NFe/infNFe", "enviNFe": "/enviNFe/NFe/infNFe"}


def family_codes_registered(family: str) -> set[str]:
    """Every finding code the rules of one family module declare."""
    module = FAMILY_MODULES[family]
    return {code for entry in FAMILY_RULES if entry.check.__module__ == module for code, _, _ in entry.codes}


# ---------------------------------------------------------------------------------------- documents


def nfe(items: int = 1, **changes: object) -> bytes:
    """A valid, unsigned NF-e (model 55) from the builder."""
    return build_nfe(default_spec(items, **changes))


def nfce(items: int = 1, **changes: object) -> bytes:
    """A valid, unsigned NFC-e (model 65) from the builder."""
    return build_nfe(default_spec(items, model=65, **changes))


def nfeproc(xml: bytes | None = None, **options: Any) -> bytes:
    """``xml`` (default: a valid NF-e) wrapped in an authorising nfeProc (options: status, received_at...)."""
    return wrap_nfeproc(xml if xml is not None else nfe(), **options)


@functools.cache
def valid_variants() -> dict[str, bytes]:
    """The builder documents that must produce no finding (but protocol.absent when bare)."""
    return {
        "nfe-1-item": nfe(1),
        "nfe-30-items": nfe(30),
        "nfce-1-item": nfce(1),
        "nfce-30-items": nfce(30),
        "nfe-alphanumeric-cnpj": nfe(3, emitter_cnpj=TEST_ALPHANUMERIC_CNPJ),
        "nfce-alphanumeric-cnpj": nfce(3, emitter_cnpj=TEST_ALPHANUMERIC_CNPJ),
        "nfe-recipient-cnpj": nfe(2, recipient_cpf=None, recipient_cnpj="11444777000161"),
        "nfce-anonymous": nfce(2, recipient_cpf=None),
        "nfe-series-0-number-7": nfe(2, number=7, series=0, numeric_code=10293847),
        "nfeproc-nfe": nfeproc(nfe(5)),
        "nfeproc-nfce": nfeproc(nfce(5)),
        "nfeproc-alphanumeric": nfeproc(nfe(2, emitter_cnpj=TEST_ALPHANUMERIC_CNPJ)),
    }


def parse(xml: bytes) -> NFeDocument:
    return nfe_invoice.parse(xml)


def context(doc: NFeDocument, now: datetime | None = RECEIVED_AT, digest_value: str | None = None) -> RuleContext:
    return RuleContext(now=now, prefix=ROOT_PREFIX[doc.root_tag], digest_value=digest_value)


def family_findings(
    doc: NFeDocument, now: datetime | None = RECEIVED_AT, digest_value: str | None = None
) -> list[Finding]:
    """What the six families say about ``doc`` (the other engineers' families are left out)."""
    ctx = context(doc, now, digest_value)
    return [found for entry in FAMILY_RULES for found in entry.check(doc, ctx)]


def family_codes(
    source: bytes | NFeDocument, now: datetime | None = RECEIVED_AT, digest_value: str | None = None
) -> set[str]:
    doc = parse(source) if isinstance(source, bytes) else source
    return {found.code for found in family_findings(doc, now, digest_value)}


@dataclass(frozen=True)
class Case:
    """One table row: a document, the reference clock, the signature's DigestValue, the expected codes."""

    xml: bytes
    expected: frozenset[str]
    now: datetime | None = RECEIVED_AT
    digest_value: str | None = None

    def codes(self) -> set[str]:
        return family_codes(self.xml, self.now, self.digest_value)


def case(xml: bytes, *expected: str, now: datetime | None = RECEIVED_AT, digest_value: str | None = None) -> Case:
    """A table row; a bare NFe/NFC-e always adds protocol.absent, so it is implied here."""
    implied = BARE if b"<nfeProc" not in xml[:200] and b"<enviNFe" not in xml[:200] else frozenset()
    return Case(xml, frozenset(expected) | implied, now, digest_value)


def covered(cases: Iterable[object]) -> set[str]:
    """Every code some table row expects (to prove each registered code is triggered at least once)."""
    found: set[str] = set()
    for entry in cases:
        values = getattr(entry, "values", (entry,))
        for value in values:
            if isinstance(value, Case):
                found |= value.expected
    return found


# ------------------------------------------------------------------------------------------ editing


def _nfe_element(root: etree._Element) -> etree._Element:
    if etree.QName(root).localname == "NFe":
        return root
    found = root.find(f"{{{NS}}}NFe")
    assert found is not None, "no NFe element"
    return found


def _xpath(path: str) -> str:
    """``infNFe/det[2]/prod`` -> ``n:infNFe/n:det[2]/n:prod`` (relative to the NFe element; ``.`` is NFe)."""
    return path if path == "." else "/".join(f"n:{step}" for step in path.split("/"))


def _edit(xml: bytes, path: str, action: Callable[[etree._Element], None]) -> bytes:
    root = etree.fromstring(xml)
    targets = _nfe_element(root).xpath(_xpath(path), namespaces={"n": NS})
    assert isinstance(targets, list) and targets, f"{path} not found"
    for target in targets:
        assert isinstance(target, etree._Element)
        action(target)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def set_text(xml: bytes, path: str, text: str) -> bytes:
    """Set the text of every element at ``path`` (relative to NFe: ``infNFe/ide/tpAmb``)."""

    def apply(element: etree._Element) -> None:
        element.text = text

    return _edit(xml, path, apply)


def set_attr(xml: bytes, path: str, name: str, value: str) -> bytes:
    def apply(element: etree._Element) -> None:
        element.set(name, value)

    return _edit(xml, path, apply)


def remove(xml: bytes, path: str) -> bytes:
    """Remove every element at ``path``."""

    def apply(element: etree._Element) -> None:
        parent = element.getparent()
        assert parent is not None
        parent.remove(element)

    return _edit(xml, path, apply)


def add(xml: bytes, path: str, fragment: str) -> bytes:
    """Append ``fragment`` (XML in the NF-e namespace, e.g. ``<xJust>...</xJust>``) to the element at ``path``.

    The parser reads children by name, so the position among siblings does not matter to the rules.
    """

    def apply(element: etree._Element) -> None:
        wrapper = etree.fromstring(f'<w xmlns="{NS}">{fragment}</w>')
        for child in list(wrapper):
            element.append(child)

    return _edit(xml, path, apply)


def with_key(xml: bytes, key43: str, *, check_digit: str | None = None) -> bytes:
    """Replace the access key by ``key43`` + its correct check digit (or ``check_digit``) everywhere it is
    written (Id, QR code, chNFe), and ide/cDV by that digit."""
    digit = check_digit if check_digit is not None else access_key.calc_check_digit(key43)
    xml = xml.replace(key_of(xml).encode(), f"{key43}{digit}".encode())
    return set_text(xml, "infNFe/ide/cDV", digit)


def key_of(xml: bytes) -> str:
    doc = parse(xml)
    assert doc.access_key is not None
    return doc.access_key
