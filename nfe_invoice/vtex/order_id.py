"""Which VTEX order an NF-e invoices: given by the caller, or found in the document by a configured rule.

The order id becomes a segment of the URL the invoice is POSTed to (``/api/oms/pvt/orders/{orderId}/invoice``),
so it must be a *safe* path segment: an id with ``/``, ``?``, ``#``, ``%``, a space or a control character
could address another resource, and ``.``/``..`` another path. Rather than escape such ids, they are
refused: no real VTEX order id needs them (``1172452900788-01``, ``v502556llux-01``, ``MLB-123-01``), so
one that has them came from a wrong field or a hostile document. Allowed: RFC 3986's unreserved
characters ``A-Z a-z 0-9 - . _ ~``, at most 100 of them.

Rules (``OrderIdRule.parse``):

* ``xped``: ``compra/xPed``; else every item's ``det/prod/xPed`` when they all carry the same one; else an
  ``infAdic/obsCont`` field named ``pedido`` (where an NFC-e, which cannot have ``compra``, carries it);
* ``infcpl:REGEX``: the first match of REGEX in ``infAdic/infCpl`` (its first group, if it has groups);
* ``map:CSV``: a table with a header row naming ``orderId`` and either ``access_key`` or ``nNF``.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..errors import ConfigurationError, MappingError
from ..model import NFeDocument

_SAFE = re.compile(r"[A-Za-z0-9._~-]{1,100}")

RuleKind = Literal["xped", "infcpl", "map"]


def check_order_id(text: str) -> str:
    """``text`` unchanged if it is a safe URL path segment, else ``MappingError(code="mapping.order_id")``."""
    if not isinstance(text, str) or not _SAFE.fullmatch(text) or text in {".", ".."}:
        shown = repr(text)[:120]
        raise MappingError(
            f"order id {shown} is not a safe URL path segment (1 to 100 of A-Z a-z 0-9 - . _ ~); it is never sent",
            code="mapping.order_id",
        )
    return text


def _load_table(path: Path) -> tuple[str, dict[str, str]]:
    """The CSV of a ``map:`` rule: which column keys it (``access_key`` or ``nNF``) and the table."""
    try:
        rows = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"order id map {path}: cannot be read ({exc})") from exc
    if not rows:
        raise ConfigurationError(f"order id map {path}: empty")
    header = [cell.strip() for cell in rows[0]]
    keys = [name for name in ("access_key", "nNF") if name in header]
    if "orderId" not in header or len(keys) != 1:
        raise ConfigurationError(
            f"order id map {path}: the header must name orderId and one of access_key or nNF, got {header}"
        )
    by, key_column, id_column = keys[0], header.index(keys[0]), header.index("orderId")
    table: dict[str, str] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise ConfigurationError(f"order id map {path}, line {number}: expected {len(header)} columns")
        key, order_id = row[key_column].strip(), row[id_column].strip()
        if table.get(key, order_id) != order_id:
            raise ConfigurationError(f"order id map {path}, line {number}: {by} {key} is listed with two orders")
        table[key] = order_id
    return by, table


@dataclass(frozen=True)
class OrderIdRule:
    """How to find the order id in a document (see the module docstring for the rules)."""

    kind: RuleKind = "xped"
    pattern: re.Pattern[str] | None = None
    map_by: str | None = None
    table: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    text: str = "xped"

    @classmethod
    def parse(cls, text: str) -> OrderIdRule:
        """``xped``, ``infcpl:REGEX`` or ``map:CSV``; anything else is a ConfigurationError."""
        kind, _, argument = text.partition(":")
        if kind == "xped" and not argument:
            return cls("xped", text=text)
        if kind == "infcpl" and argument:
            try:
                pattern = re.compile(argument)
            except re.error as exc:
                raise ConfigurationError(f"order id rule {text!r}: bad regular expression ({exc})") from exc
            return cls("infcpl", pattern=pattern, text=text)
        if kind == "map" and argument:
            by, table = _load_table(Path(os.path.expanduser(argument)))
            return cls("map", map_by=by, table=table, text=text)
        raise ConfigurationError(f"order id rule {text!r}: use xped, infcpl:REGEX or map:CSV")


def _from_purchase_references(document: NFeDocument) -> str | None:
    purchase = document.infNFe.compra
    if purchase is not None and purchase.xPed:
        return purchase.xPed.strip()
    references = {item.prod.xPed.strip() if item.prod and item.prod.xPed else None for item in document.items}
    if len(references) == 1 and None not in references:
        return references.pop()
    info = document.infNFe.infAdic
    for observation in info.obsCont if info is not None else ():
        if (observation.xCampo or "").strip().lower() == "pedido" and observation.xTexto:
            return observation.xTexto.strip()
    return None


def find_order_id(document: NFeDocument, rule: OrderIdRule) -> str:
    """The order id ``rule`` finds in ``document``, checked; ``MappingError(code="mapping.order_id")`` if none."""
    found: str | None
    where: str
    if rule.kind == "xped":
        found = _from_purchase_references(document)
        where = "compra/xPed, det/prod/xPed (all items alike) or infAdic/obsCont[pedido]"
    elif rule.kind == "infcpl":
        assert rule.pattern is not None
        info = document.infNFe.infAdic
        match = rule.pattern.search(info.infCpl or "") if info is not None else None
        found = (match.group(1) if match.re.groups else match.group(0)) if match else None
        found = found.strip() if found else None
        where = f"infAdic/infCpl by {rule.pattern.pattern!r}"
    else:
        key = document.access_key if rule.map_by == "access_key" else document.ide.nNF
        found = rule.table.get(key or "")
        where = f"the order id map by {rule.map_by} {key}"
    if not found:
        raise MappingError(f"no order id found in {where}", code="mapping.order_id")
    return check_order_id(found)
