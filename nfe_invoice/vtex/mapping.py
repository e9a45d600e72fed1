"""From a validated NF-e to VTEX's invoice notification, to the cent (pure: no I/O besides reading a SKU map).

Every rule here exists because VTEX gets something wrong, silently, when it is broken:

* ``invoiceValue`` is ``vNF`` in integer cents, exactly: one cent off and the order never reaches
  ``invoiced`` (VTEX takes the invoice as partial without a word);
* ``items[].price`` is the UNIT price in cents after the item's discount, because VTEX multiplies it by
  the quantity; the rounding this forces (net / quantity) leaves a residual that is *reported*, never
  spread over other lines or dropped, and never touches ``invoiceValue``;
* one line per SKU (several NF-e lines of one SKU are merged): VTEX's refunds and returns go by SKU and
  break on repeated lines;
* ``items[].id`` is VTEX's SKU id, not the ERP's ``cProd``: with an order, each NF-e item is matched to an
  order item (``refId``, then a real GTIN, then ``sellerSku``, then ``id``); without one, a table, a
  callable or ``cProd`` itself;
* ``quantity`` is an integer: goods sold by weight or volume are converted with the order item's
  ``unitMultiplier``; a fractional quantity without an order is refused, never rounded;
* the invoice number can never be corrected once sent, so its format can only produce ``[A-Za-z0-9-]``.

A refusal is a :class:`~nfe_invoice.errors.MappingError` whose ``code`` names the rule (``mapping.type``,
``mapping.needs_order`` ...); the README's "Mapping to VTEX" section lists them all.
"""

from __future__ import annotations

import csv
import functools
import os
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Final

from pydantic import ValidationError

from ..errors import ConfigurationError, MappingError
from ..findings import Finding, Report
from ..identifiers import gtin
from ..model import NFeDocument, Product
from .models import INVOICE_NUMBER_PATTERN, InvoiceItem, InvoicePayload, InvoiceType, Order, OrderItem

SkuMap = Mapping[str, str] | Callable[[str], str | None]

#: Placeholders an invoice number format may use (``nNF``, ``serie`` and ``mod`` are integers, so
#: ``{serie:03d}-{nNF:09d}`` works; ``key`` and ``cNF`` are text, as written).
INVOICE_NUMBER_FIELDS = frozenset({"nNF", "serie", "mod", "key", "cNF"})
#: Placeholders an invoice URL template may use.
INVOICE_URL_FIELDS = frozenset({*INVOICE_NUMBER_FIELDS, "invoiceNumber"})
#: Placeholders the tracking URL may use.
TRACKING_URL_FIELDS = frozenset({*INVOICE_URL_FIELDS, "trackingNumber"})

_INVOICE_NUMBER = re.compile(INVOICE_NUMBER_PATTERN)
_KEY = re.compile(r"[0-9A-Z]{44}")
_HUNDRED = Decimal(100)


#: A value of each placeholder's type (as mapping fills them), to try a template on at configuration time.
_SAMPLE_VALUES: Final[dict[str, Any]] = {
    "nNF": 1, "serie": 1, "mod": 55, "key": "0" * 44, "cNF": "00000000", "invoiceNumber": "1", "trackingNumber": "1",
}


def _template_fields(template: str, allowed: frozenset[str], option: str) -> None:
    """Refuse, at configuration time, a template naming anything but ``allowed``, not parseable, or whose
    format specifications do not fit the placeholders' types (``{key:09d}``: the key is text)."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigurationError(f"{option}: {template!r} is not a valid template ({exc})") from exc
    for _, name, _, _ in parsed:
        if name is None:
            continue
        if name not in allowed:
            raise ConfigurationError(
                f"{option}: unknown placeholder {{{name}}} in {template!r}; use {', '.join(sorted(allowed))}"
            )
    try:
        template.format(**{name: _SAMPLE_VALUES[name] for name in allowed})
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise ConfigurationError(
            f"{option}: {template!r} cannot be applied ({exc}); nNF, serie and mod are integers, the others text"
        ) from exc


def check_invoice_number_format(template: str) -> str:
    """The format itself, or :class:`ConfigurationError` if it names an unknown placeholder."""
    if not template:
        raise ConfigurationError("invoice number format: empty")
    _template_fields(template, INVOICE_NUMBER_FIELDS, "invoice number format")
    return template


def _check_url_template(template: str, allowed: frozenset[str], option: str) -> str:
    if not template.startswith(("https://", "http://")):
        raise ConfigurationError(f"{option}: {template!r} is not an http(s) URL")
    _template_fields(template, allowed, option)
    return template


@dataclass(frozen=True)
class MappingOptions:
    """How a document becomes a payload; the defaults are the safe, documented ones.

    Templates are checked when the options are made (a bad one raises :class:`ConfigurationError` before
    any document is touched); what a template produces for a given document is checked per document.
    """

    invoice_number_format: str = "{nNF}"
    embed_invoice: bool = True
    invoice_url_template: str | None = None
    courier: str | None = None
    sku_map: SkuMap | None = None
    include_tracking: bool = False
    tracking_number: str | None = None
    tracking_url_template: str | None = None
    invoice_value_as_integer: bool = False

    def __post_init__(self) -> None:
        check_invoice_number_format(self.invoice_number_format)
        if self.invoice_url_template is not None:
            _check_url_template(self.invoice_url_template, INVOICE_URL_FIELDS, "invoice URL template")
        if self.tracking_url_template is not None:
            _check_url_template(self.tracking_url_template, TRACKING_URL_FIELDS, "tracking URL template")
        if self.courier is not None and not self.courier.strip():
            raise ConfigurationError("courier: empty")


DEFAULT_OPTIONS = MappingOptions()


@dataclass(frozen=True)
class SkuResidual:
    """One invoice line (one SKU): how its unit price was rounded, and what the rounding left over.

    ``residual_cents`` = net − unit price × quantity (the net is exact cents, so the residual is too); it
    is at most half a cent per unit, either way. ``matched_by`` says how the SKU id was found.
    """

    sku_id: str
    items: tuple[int, ...]
    quantity: int
    net_cents: int
    unit_price_cents: int
    residual_cents: int
    matched_by: str

    @property
    def residual_per_unit(self) -> Decimal:
        """The residual in fractions of a cent per unit (exact to 6 places)."""
        return (Decimal(self.residual_cents) / self.quantity).quantize(Decimal("0.000001"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "skuId": self.sku_id,
            "items": list(self.items),
            "quantity": self.quantity,
            "netCents": self.net_cents,
            "unitPriceCents": self.unit_price_cents,
            "residualCents": self.residual_cents,
            "residualPerUnitCents": str(self.residual_per_unit),
            "matchedBy": self.matched_by,
        }


@dataclass(frozen=True)
class MappedInvoice:
    """The payload, with what mapping had to say about it (residuals per SKU, warnings)."""

    payload: InvoicePayload
    residuals: tuple[SkuResidual, ...]
    warnings: tuple[str, ...] = ()
    invoice_value_as_integer: bool = False

    def to_wire(self) -> dict[str, Any]:
        """The body exactly as it will be sent (``invoiceValue`` as the options asked)."""
        return self.payload.to_wire(invoice_value_as_integer=self.invoice_value_as_integer)

    def to_dict(self) -> dict[str, Any]:
        return {
            "payload": self.to_wire(),
            "residuals": [residual.to_dict() for residual in self.residuals],
            "warnings": list(self.warnings),
        }


class ValidationRefusedError(MappingError):
    """The document's validation report has errors and mapping was not forced; ``findings`` holds them."""

    def __init__(self, findings: tuple[Finding, ...]) -> None:
        self.findings = findings
        first = findings[0]
        super().__init__(
            f"the document has {len(findings)} validation error(s) (first: [{first.code}] {first.message}); "
            "it is not mapped unless forced",
            code="mapping.validation",
        )


# ------------------------------------------------------------------------------------------- helpers


#: The most significant digit an NF-e amount (TDec_1302: 13 integer digits) or quantity (TDec_1104v: 11)
#: can have, as ``Decimal.adjusted()`` counts it. A larger value only reaches mapping when it is forced past
#: the XSD, and ``1E+99999999`` would otherwise overflow, or become a hundred-million-digit int.
_AMOUNT_DIGITS: Final = 12
_QUANTITY_DIGITS: Final = 10


def cents(value: Decimal | None, what: str, *, code: str = "mapping.value") -> int:
    """``value`` in integer cents, exactly; more than two decimals is refused, never rounded."""
    if value is None:
        raise MappingError(f"{what} is missing", code=code)
    if not value.is_finite() or value.adjusted() > _AMOUNT_DIGITS:
        raise MappingError(f"{what} {value} is not an amount an NF-e can hold (13 integer digits)", code=code)
    scaled = value * _HUNDRED
    if scaled != scaled.to_integral_value():
        raise MappingError(f"{what} {value} has more than two decimals; it is not rounded", code=code)
    return int(scaled)


def _invoice_type(document: NFeDocument) -> InvoiceType:
    ide = document.ide
    if ide.tpNF == "1" and ide.finNFe == "4":
        raise MappingError(
            "tpNF=1 with finNFe=4 is an outgoing return: the return NF-e a customer's company issues to the "
            "store, or one the store issues to its supplier. Neither is a sale, so it is not sent as an Output; "
            "a customer's return is sent with the store's own entry NF-e (tpNF=0, finNFe=4, Input)",
            code="mapping.type",
        )
    if ide.tpNF == "1":
        return "Output"
    if ide.tpNF == "0" and ide.finNFe == "4":
        return "Input"
    raise MappingError(
        f"tpNF={ide.tpNF} with finNFe={ide.finNFe} is neither a sale (tpNF=1, Output) nor a customer's "
        "return (tpNF=0 with finNFe=4, Input)",
        code="mapping.type",
    )


def _access_key(document: NFeDocument) -> str:
    key = document.access_key
    if key is None or not _KEY.fullmatch(key):
        raise MappingError(f"the access key {key!r} is not 44 characters (infNFe/@Id)", code="mapping.key")
    return key


def _issuance_date(document: NFeDocument) -> datetime:
    moment = document.ide.dhEmi
    if moment is None:
        raise MappingError("ide/dhEmi is missing: VTEX needs the issuance date", code="mapping.issuance_date")
    return moment


def _placeholders(document: NFeDocument, key: str) -> dict[str, Any]:
    ide = document.ide
    values: dict[str, Any] = {"key": key, "cNF": ide.cNF or ""}
    for name in ("nNF", "serie", "mod"):
        text = getattr(ide, name)
        if text is None or not text.isdigit():
            raise MappingError(f"ide/{name} {text!r} is not a number", code="mapping.invoice_number")
        values[name] = int(text)
    return values


def _invoice_number(template: str, values: dict[str, Any]) -> str:
    try:
        number = template.format(**values)
    except (ValueError, KeyError, IndexError) as exc:
        raise MappingError(
            f"the invoice number format {template!r} cannot be applied ({exc})", code="mapping.invoice_number"
        ) from exc
    if not _INVOICE_NUMBER.fullmatch(number):
        raise MappingError(
            f"the invoice number format {template!r} gives {number!r}; an invoice number holds 1 to 50 of "
            "A-Z a-z 0-9 and '-' only (it can never be corrected once sent)",
            code="mapping.invoice_number",
        )
    return number


def _embedded(document: NFeDocument) -> str:
    """The document exactly as received: its bytes decoded, never re-serialised."""
    try:
        return document.raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MappingError(
            f"the document is not UTF-8 (byte {exc.start}), so it cannot travel as embeddedInvoice unchanged",
            code="mapping.embedded_invoice",
        ) from exc


def load_sku_map(path: str | os.PathLike[str]) -> dict[str, str]:
    """A ``cProd,skuId`` CSV (a header row is optional) as a dict; a bad file is a ConfigurationError.

    Both columns are kept exactly as written except for surrounding spaces; a ``cProd`` listed twice with
    different SKU ids is refused (which one is right cannot be guessed).
    """
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"SKU map {os.fspath(path)}: cannot be read ({exc})") from exc
    table: dict[str, str] = {}
    for number, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != 2:
            raise ConfigurationError(f"SKU map {os.fspath(path)}, line {number}: expected 2 columns (cProd,skuId)")
        code, sku = row[0].strip(), row[1].strip()
        if number == 1 and code.lower() == "cprod":
            continue
        if not code or not sku:
            raise ConfigurationError(f"SKU map {os.fspath(path)}, line {number}: empty cProd or skuId")
        if table.get(code, sku) != sku:
            raise ConfigurationError(
                f"SKU map {os.fspath(path)}, line {number}: cProd {code!r} maps to both {table[code]!r} and {sku!r}"
            )
        table[code] = sku
    if not table:
        raise ConfigurationError(f"SKU map {os.fspath(path)}: no rows")
    return table


def read_order(data: object) -> Order:
    """An order (GET order's JSON, already decoded) read tolerantly, or ``MappingError(code="mapping.order")``.

    The reason names at most three offending fields on one line: it is shown to people, never a traceback.
    """
    try:
        return Order.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'order'}: {e['msg']}" for e in exc.errors()[:3])
        raise MappingError(f"not a VTEX order ({problems})", code="mapping.order") from exc


# --------------------------------------------------------------------------------------------- items


@dataclass
class _Line:
    """One SKU being assembled from one or more NF-e items."""

    sku_id: str
    matched_by: str
    description: str | None
    codes: dict[int, str] = field(default_factory=dict)  # nItem -> cProd
    quantity: int = 0
    net_cents: int = 0


def _item_label(number: int, prod: ItemFacts | Product) -> str:
    return f"item {number} (cProd {prod.cProd!r})"


def _real_gtin(value: str | None) -> str | None:
    """A GTIN worth matching on, padded to 14 digits (GTIN-13 and GTIN-14 of one product then agree)."""
    return None if value is None else _real_gtin_of(value)


@functools.lru_cache(maxsize=4096)
def _real_gtin_of(value: str) -> str | None:
    """:func:`_real_gtin` of a string, remembered: matching an NF-e against its order checks every item's and
    every order line's GTIN (its check digit computed digit by digit), and a store sells the same products
    over and over, so a batch checks the same few codes thousands of times. Pure, so caching changes nothing."""
    if value.strip().upper() == gtin.NO_GTIN or not gtin.is_valid(value):
        return None
    return gtin.compact(value).zfill(14)


class _OrderIndex:
    """The order's items indexed by each matching key, built once per document (a 1,000-line B2B order
    against a 1,000-item NF-e would otherwise cost a million comparisons per step)."""

    STEPS = ("refId", "ean", "sellerSku", "id")

    def __init__(self, order: Order) -> None:
        self.order_id = order.order_id
        self.by: dict[str, dict[str, list[OrderItem]]] = {step: {} for step in self.STEPS}
        for item in order.items:
            keys = {"refId": item.ref_id, "ean": _real_gtin(item.ean), "sellerSku": item.seller_sku, "id": item.id}
            for step, key in keys.items():
                if key:
                    self.by[step].setdefault(key, []).append(item)

    def match(self, number: int, prod: ItemFacts) -> tuple[OrderItem, str]:
        """The order item this NF-e item is, by refId, then a real GTIN, then sellerSku, then id."""
        keys = {"refId": prod.cProd, "ean": _real_gtin(prod.cEAN), "sellerSku": prod.cProd, "id": prod.cProd}
        for step in self.STEPS:
            key = keys[step]
            hits = self.by[step].get(key, []) if key else []
            ids = sorted({item.id for item in hits})
            if len(ids) == 1:
                return hits[0], step
            if len(ids) > 1:
                raise MappingError(
                    f"{_item_label(number, prod)} matches several SKUs of order {self.order_id} by {step}: "
                    f"{', '.join(ids)}",
                    code="mapping.sku_ambiguous",
                )
        raise MappingError(
            f"{_item_label(number, prod)}, cEAN {prod.cEAN!r}, matches no item of order {self.order_id} "
            "(tried refId, ean, sellerSku and id)",
            code="mapping.sku_unmatched",
        )


def _sku_without_order(number: int, prod: ItemFacts, sku_map: SkuMap | None) -> tuple[str, str]:
    code = prod.cProd
    if not code:
        raise MappingError(f"item {number} has no cProd", code="mapping.sku_unmatched")
    if sku_map is None:
        return code, "cProd"
    found = sku_map(code) if callable(sku_map) else sku_map.get(code)
    if not found:
        raise MappingError(f"{_item_label(number, prod)} is not in the SKU map", code="mapping.sku_unmatched")
    return found, "skuMap"


def _quantity(number: int, prod: ItemFacts, order_item: OrderItem | None) -> int:
    quantity = prod.qCom
    if quantity is None or not quantity.is_finite() or quantity <= 0:
        raise MappingError(f"{_item_label(number, prod)}: qCom {quantity} is not a positive quantity",
                           code="mapping.quantity")
    if quantity.adjusted() > _QUANTITY_DIGITS:
        raise MappingError(f"{_item_label(number, prod)}: qCom {quantity} is not a quantity an NF-e can hold "
                           "(11 integer digits)", code="mapping.quantity")
    if order_item is None:
        if quantity != quantity.to_integral_value():
            raise MappingError(
                f"{_item_label(number, prod)}: qCom {quantity} is not a whole number and VTEX takes whole "
                "quantities only; an order with the item's unitMultiplier is needed to convert it",
                code="mapping.needs_order",
            )
        return int(quantity)
    multiplier = order_item.unit_multiplier
    if multiplier <= 0:  # the model already refuses NaN and infinities
        raise MappingError(f"{_item_label(number, prod)}: unitMultiplier {multiplier} of order SKU {order_item.id} "
                           "is not a positive number", code="mapping.quantity")
    converted = quantity / multiplier
    if converted != converted.to_integral_value():
        raise MappingError(
            f"{_item_label(number, prod)}: qCom {quantity} / unitMultiplier {multiplier} of order SKU "
            f"{order_item.id} = {converted.normalize()} is not a whole number",
            code="mapping.quantity",
        )
    return int(converted)


@dataclass(frozen=True)
class ItemFacts:
    """What mapping reads of one NF-e item, and nothing else: small and picklable, so the stage that parsed
    the document (a validating worker process) can hand it to the stage that fetches the order, which then
    matches items without parsing the XML again (:func:`remap_items`). Field names are the layout's, as on
    :class:`~nfe_invoice.model.Product`, so the matching code reads either."""

    number: int
    cProd: str | None
    cEAN: str | None
    qCom: Decimal | None
    vProd: Decimal | None
    vDesc: Decimal | None
    xProd: str | None
    #: ``0`` when the item's value is not part of the NF-e's total (NT 2011/004): it is sent at price 0.
    indTot: str | None = None


def item_facts(document: NFeDocument) -> tuple[ItemFacts, ...]:
    """The facts of every item, in order (``mapping.items`` when an item has no prod group, or none is there)."""
    if not document.items:
        raise MappingError("the document has no items", code="mapping.items")
    facts = []
    for position, item in enumerate(document.items, start=1):
        number = item.nItem or position
        prod = item.prod
        if prod is None:
            raise MappingError(f"item {number} has no prod group", code="mapping.items")
        facts.append(ItemFacts(number, prod.cProd, prod.cEAN, prod.qCom, prod.vProd, prod.vDesc, prod.xProd,
                               prod.indTot))
    return tuple(facts)


def _lines(document: NFeDocument, order: Order | None, sku_map: SkuMap | None) -> list[_Line]:
    return _item_lines(item_facts(document), order, sku_map)


_ZERO: Final = Decimal(0)


def _item_cents(value: Decimal | None, number: int, prod: ItemFacts, name: str) -> int:
    """:func:`cents` of one of an item's values, refused with the item's label in the message; the label is
    only formatted when refusing (this runs for every item of every document)."""
    try:
        return cents(value, name, code="mapping.item_value")
    except MappingError:
        return cents(value, f"{_item_label(number, prod)}: {name}", code="mapping.item_value")


def _item_lines(facts: tuple[ItemFacts, ...], order: Order | None, sku_map: SkuMap | None) -> list[_Line]:
    lines: dict[str, _Line] = {}
    index = _OrderIndex(order) if order is not None else None
    for prod in facts:
        number = prod.number
        order_item: OrderItem | None = None
        if index is not None:
            order_item, how = index.match(number, prod)
            sku_id = order_item.id
        else:
            sku_id, how = _sku_without_order(number, prod, sku_map)
        quantity = _quantity(number, prod, order_item)
        gross = _item_cents(prod.vProd, number, prod, "vProd")
        discount = _item_cents(prod.vDesc or _ZERO, number, prod, "vDesc")
        if discount > gross:
            raise MappingError(f"{_item_label(number, prod)}: vDesc {prod.vDesc} is larger than vProd {prod.vProd}",
                               code="mapping.item_value")
        line = lines.get(sku_id)
        if line is None:
            line = lines[sku_id] = _Line(sku_id, how, prod.xProd)
        other = next((n for n, c in line.codes.items() if c != prod.cProd), None)
        if other is not None:
            raise MappingError(
                f"items {other} (cProd {line.codes[other]!r}) and {number} (cProd {prod.cProd!r}) both map to "
                f"SKU {sku_id}: two different products cannot be one invoice line",
                code="mapping.sku_conflict",
            )
        line.codes[number] = prod.cProd or ""
        line.quantity += quantity
        if prod.indTot != "0":  # an item outside vNF is on the invoice, but not at a price (see ItemFacts)
            line.net_cents += gross - discount
    return list(lines.values())


def _priced(line: _Line) -> tuple[InvoiceItem, SkuResidual]:
    unit = int((Decimal(line.net_cents) / line.quantity).to_integral_value(rounding=ROUND_HALF_UP))
    item = InvoiceItem(id=line.sku_id, price=unit, quantity=line.quantity, description=line.description)
    residual = SkuResidual(
        sku_id=line.sku_id,
        items=tuple(line.codes),
        quantity=line.quantity,
        net_cents=line.net_cents,
        unit_price_cents=unit,
        residual_cents=line.net_cents - unit * line.quantity,
        matched_by=line.matched_by,
    )
    return item, residual


# ------------------------------------------------------------------------------------------ the entry


def build_invoice(
    document: NFeDocument,
    *,
    report: Report | None = None,
    order: Order | None = None,
    options: MappingOptions = DEFAULT_OPTIONS,
    force: bool = False,
) -> MappedInvoice:
    """Map ``document`` to VTEX's invoice notification, or raise :class:`MappingError` saying why not.

    ``report`` is the document's validation report: with errors, the document is refused
    (``mapping.validation``, the errors on the exception's ``findings``) unless ``force`` is set, which
    leaves a warning on the result. ``order`` (VTEX's GET order) makes SKU ids VTEX's own and converts
    fractional quantities with ``unitMultiplier``; without it, ``options.sku_map`` or ``cProd`` gives
    the ids and a fractional quantity is refused (``mapping.needs_order``).
    """
    warnings: list[str] = []
    if report is not None and not report.ok:
        if not force:
            raise ValidationRefusedError(report.errors)
        warnings.append(f"mapped although validation found {len(report.errors)} error(s) (forced)")
    header = _Header(document, options)
    if order is not None and options.sku_map is not None:
        warnings.append("the SKU map is not used: SKU ids come from the order")
    lines = _lines(document, order, None if order is not None else options.sku_map)
    priced = [_priced(line) for line in lines]
    for item, _ in priced:
        if item.price == 0:
            warnings.append(f"SKU {item.id} is invoiced at price 0")
    return MappedInvoice(
        payload=header.payload(document, options, tuple(item for item, _ in priced)),
        residuals=tuple(residual for _, residual in priced),
        warnings=tuple(warnings),
        invoice_value_as_integer=options.invoice_value_as_integer,
    )


def build_template(document: NFeDocument, *, options: MappingOptions = DEFAULT_OPTIONS) -> InvoicePayload:
    """The payload of a document whose items wait for the order (a fractional quantity needs the order's
    ``unitMultiplier``): every field as :func:`build_invoice` makes it, and one stand-in line per NF-e item
    (its cProd, quantity 1, price 0) that :func:`remap_items` replaces once the order is known.

    Never stored and never sent as it is: it spares the stage that fetches the order parsing the XML again.
    Raises :class:`MappingError` as :func:`build_invoice` would for anything but the items.
    """
    header = _Header(document, options)
    stand_ins = tuple(InvoiceItem(id=fact.cProd or f"item-{fact.number}", price=0, quantity=1)
                      for fact in item_facts(document))
    return header.payload(document, options, stand_ins)


class _Header:
    """Every field of the payload but the items, read and checked before the items are (refusals keep
    their order: type, access key, value, dates, invoice number)."""

    def __init__(self, document: NFeDocument, options: MappingOptions) -> None:
        self.type = _invoice_type(document)
        self.key = _access_key(document)
        self.value = cents(document.totals.vNF, "total/ICMSTot/vNF")
        if self.value <= 0:
            raise MappingError(f"total/ICMSTot/vNF {document.totals.vNF} is not positive", code="mapping.value")
        self.issued = _issuance_date(document)
        self.values = _placeholders(document, self.key)
        self.number = _invoice_number(options.invoice_number_format, self.values)
        self.values["invoiceNumber"] = self.number

    def payload(self, document: NFeDocument, options: MappingOptions, items: tuple[InvoiceItem, ...]
                ) -> InvoicePayload:
        values = self.values
        carrier = document.infNFe.transp.transporta if document.infNFe.transp else None
        courier = options.courier or (carrier.xNome if carrier is not None and carrier.xNome else None)
        tracking_number, tracking_url, dispatched = "", "", None
        if options.include_tracking:
            tracking_number = options.tracking_number or ""
            values["trackingNumber"] = tracking_number
            if options.tracking_url_template is not None:
                tracking_url = options.tracking_url_template.format(**values)
            dispatched = document.ide.dhSaiEnt or self.issued
        try:
            return InvoicePayload(
                type=self.type,
                issuance_date=self.issued,
                invoice_number=self.number,
                invoice_value=self.value,
                invoice_key=self.key,
                invoice_url=options.invoice_url_template.format(**values) if options.invoice_url_template else None,
                embedded_invoice=_embedded(document) if options.embed_invoice else None,
                courier=courier,
                tracking_number=tracking_number,
                tracking_url=tracking_url,
                dispatched_date=dispatched,
                items=items,
            )
        except ValidationError as exc:  # a rule above should have caught it; say which field, never a traceback
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise MappingError(f"the payload does not hold: {problems}", code="mapping.payload") from exc


def format_invoice_number(document: NFeDocument, template: str = "{nNF}") -> str:
    """The invoice number ``template`` gives for ``document`` (what :func:`build_invoice` would send).

    The journal keys a record by it before the payload can be built (a fractional quantity waits for the
    order's ``unitMultiplier``), and a worker checks that mapping again gives the same number.
    """
    return _invoice_number(template, _placeholders(document, _access_key(document)))


def remap_items(payload: InvoicePayload, facts: tuple[ItemFacts, ...], order: Order) -> MappedInvoice:
    """``payload`` (mapped without the order) with its items matched against ``order``: VTEX's SKU ids and
    ``unitMultiplier`` conversions, exactly as :func:`build_invoice` with that order would give them; every
    other field is kept. The worker's fast path: no XML is parsed again."""
    priced = [_priced(line) for line in _item_lines(facts, order, None)]
    warnings = [f"SKU {item.id} is invoiced at price 0" for item, _ in priced if item.price == 0]
    remapped = payload.model_copy(update={"items": tuple(item for item, _ in priced)})
    return MappedInvoice(payload=remapped, residuals=tuple(r for _, r in priced), warnings=tuple(warnings))
