"""VTEX's JSON, as pydantic models at the wire boundary only (the NF-e model stays plain dataclasses).

Two kinds of model, on purpose:

* what we **build and send** (:class:`InvoicePayload`, :class:`TrackingUpdate`, :class:`TrackingStatus`) is
  strict: unknown fields are forbidden, money is integer cents, dates are timezone-aware, and an invoice
  number can only ever hold ``[A-Za-z0-9-]`` (VTEX's post-purchase flows break on anything else, and an
  invoice number can never be corrected once sent);
* what we **read** from VTEX (:class:`Order`, :class:`InvoiceReceipt`) is tolerant: unknown fields are
  ignored and VTEX's documented type defects are accepted (numbers as strings and strings as numbers,
  ``null`` for lists, ``unitMultiplier`` as a decimal, ``priceDefinition`` or ``priceDefinitions``).

Field names are Python's snake_case; the wire is camelCase (``model_dump(by_alias=True)``, which
:meth:`InvoicePayload.to_wire` does for you).
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

#: What an invoice number may hold: VTEX's post-purchase flows break on spaces, ``/`` or ``#``.
INVOICE_NUMBER_PATTERN = r"^[A-Za-z0-9-]{1,50}$"

InvoiceType = Literal["Output", "Input"]


def _none_as_empty(value: object) -> object:
    """VTEX sends ``null`` where a list is empty."""
    return [] if value is None else value


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("a date-time sent to VTEX needs a UTC offset")
    return value


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


Cents = Annotated[int, Field(ge=0, strict=True)]
ListOrNull = BeforeValidator(_none_as_empty)


class _Outgoing(BaseModel):
    """What we build and send: strict, immutable, camelCase on the wire."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, validate_default=True
    )


class _Incoming(BaseModel):
    """What VTEX sends us: unknown fields ignored, numbers and strings accepted for each other."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True, coerce_numbers_to_str=True
    )


# ------------------------------------------------------------------------------------ invoice (POST)


class InvoiceItem(_Outgoing):
    """One line of the invoice: VTEX's SKU id, the UNIT price in cents (VTEX multiplies), an integer quantity."""

    id: str = Field(min_length=1)
    price: Cents
    quantity: int = Field(gt=0, strict=True)
    description: str | None = None


class InvoicePayload(_Outgoing):
    """The body of ``POST /api/oms/pvt/orders/{orderId}/invoice``."""

    type: InvoiceType
    issuance_date: datetime
    invoice_number: str = Field(pattern=INVOICE_NUMBER_PATTERN)
    invoice_value: int = Field(gt=0, strict=True)  # cents; the wire carries it as the spec types it
    invoice_key: str | None = None
    invoice_url: str | None = None
    embedded_invoice: str | None = None
    courier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    dispatched_date: datetime | None = None
    items: tuple[InvoiceItem, ...] = Field(min_length=1)

    _check_issuance = field_validator("issuance_date", "dispatched_date")(_aware)

    def to_wire(self, *, invoice_value_as_integer: bool = False) -> dict[str, Any]:
        """The JSON object VTEX receives: camelCase, no nulls, ``invoiceValue`` a string of digits by default.

        VTEX's contract types ``invoiceValue`` as a string (``"2499"``); some stores' middleware expects the
        integer the order API returns, hence the switch.
        """
        body = self.model_dump(by_alias=True, exclude_none=True)
        body["issuanceDate"] = _iso(self.issuance_date)
        if self.dispatched_date is not None:
            body["dispatchedDate"] = _iso(self.dispatched_date)
        body["invoiceValue"] = self.invoice_value if invoice_value_as_integer else str(self.invoice_value)
        body["items"] = [item.model_dump(by_alias=True, exclude_none=True) for item in self.items]
        return body

    def to_json(self, *, invoice_value_as_integer: bool = False) -> str:
        """The exact request body, compact and with non-ASCII kept (``embeddedInvoice`` is UTF-8 text)."""
        return json.dumps(self.to_wire(invoice_value_as_integer=invoice_value_as_integer), ensure_ascii=False)

    @classmethod
    def from_wire(cls, body: dict[str, Any]) -> InvoicePayload:
        """Read back a body made by :meth:`to_wire` (the journal stores bodies as sent)."""
        data = dict(body)
        data["invoiceValue"] = int(data["invoiceValue"])
        return cls.model_validate(data)


# --------------------------------------------------------------------------- tracking (PATCH and PUT)


class TrackingUpdate(_Outgoing):
    """The body of ``PATCH .../invoice/{invoiceNumber}``: the carrier's tracking data, after shipping."""

    tracking_number: str = Field(min_length=1)
    tracking_url: str | None = None
    courier: str | None = None
    dispatched_date: datetime | None = None

    _check_dates = field_validator("dispatched_date")(_aware)

    def to_wire(self) -> dict[str, Any]:
        body = self.model_dump(by_alias=True)  # the spec lists all four as required (nullable)
        body["dispatchedDate"] = _iso(self.dispatched_date)
        return body


class TrackingEvent(_Outgoing):
    city: str
    state: str
    description: str
    date: datetime

    _check_dates = field_validator("date")(_aware)


class TrackingStatus(_Outgoing):
    """The body of ``PUT .../invoice/{invoiceNumber}/tracking``: delivery status and carrier events."""

    is_delivered: bool
    delivered_date: datetime | None = None
    events: tuple[TrackingEvent, ...] = ()

    _check_dates = field_validator("delivered_date")(_aware)

    def to_wire(self) -> dict[str, Any]:
        return {
            "isDelivered": self.is_delivered,
            "deliveredDate": _iso(self.delivered_date),
            "events": [
                {"city": e.city, "state": e.state, "description": e.description, "date": _iso(e.date)}
                for e in self.events
            ],
        }


# -------------------------------------------------------------------------------- what VTEX returns


class InvoiceReceipt(_Incoming):
    """VTEX's answer to the invoice calls: when, which order, and the receipt (renewed on every resend)."""

    date: str | None = None
    order_id: str | None = None
    receipt: str | None = None


class PriceDefinition(_Incoming):
    total: int | None = None
    calculated_selling_price: int | None = None


class OrderItem(_Incoming):
    """An order line as invoicing needs it. ``id`` is VTEX's SKU id; ``ref_id`` is usually the ERP's code."""

    id: str
    ref_id: str | None = None
    ean: str | None = None
    seller_sku: str | None = None
    name: str | None = None
    quantity: int = 0
    price: int | None = None
    selling_price: int | None = None
    unit_multiplier: Decimal = Decimal(1)
    price_definition: PriceDefinition | None = Field(
        default=None, validation_alias=AliasChoices("priceDefinition", "priceDefinitions", "price_definition")
    )

    @field_validator("unit_multiplier", mode="before")
    @classmethod
    def _multiplier(cls, value: object) -> object:
        """``null`` or 0 means "sold by the unit"; a float like 0.3 is read by its shortest text."""
        if value in (None, 0, "0", ""):
            return Decimal(1)
        return Decimal(str(value)) if isinstance(value, float) else value


class PackageItem(_Incoming):
    item_index: int | None = None
    quantity: int | None = None
    price: int | None = None


class Package(_Incoming):
    """An invoice VTEX already holds for the order (``packageAttachment.packages[]``)."""

    invoice_number: str | None = None
    invoice_value: int | None = None
    invoice_key: str | None = None
    type: str | None = None
    issuance_date: str | None = None
    courier: str | None = None
    tracking_number: str | None = None
    items: Annotated[tuple[PackageItem, ...], ListOrNull] = ()


class PackageAttachment(_Incoming):
    packages: Annotated[tuple[Package, ...], ListOrNull] = ()


class OrderTotal(_Incoming):
    id: str | None = None
    name: str | None = None
    value: int | None = None


class Order(_Incoming):
    """The parts of ``GET /api/oms/pvt/orders/{orderId}`` that invoicing needs."""

    order_id: str
    status: str | None = None
    value: int = 0
    totals: Annotated[tuple[OrderTotal, ...], ListOrNull] = ()
    items: Annotated[tuple[OrderItem, ...], ListOrNull] = ()
    package_attachment: PackageAttachment | None = None
    changes_attachment: Any = None

    @property
    def packages(self) -> tuple[Package, ...]:
        return self.package_attachment.packages if self.package_attachment is not None else ()
