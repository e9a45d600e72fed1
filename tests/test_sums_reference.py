"""``_sums._add_item`` against a plain reference that reads every summed field by name.

The fast version reads the ICMS group through its ``__dict__`` (only the fields that were given) and adds
straight into the accumulator; the reference below is the earlier, obvious form. Both must give the same
sums for every fixture and for builder documents with services, the tax reform, ``indTot=0`` items, NFC-e,
and for model objects made by the constructor or ``dataclasses.replace`` (whose ``__dict__`` holds every
field, None included).
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest

from nfe_invoice import parse
from nfe_invoice.model import Icms, Item, NFeDocument
from nfe_invoice.rules import _sums
from nfe_invoice.rules._sums import DocumentSums, compute_sums

from .paths import FIXTURES
from .rules_helpers_totals import Edit, as_service, readable_fixtures, valid, with_reform

ZERO = Decimal(0)


def _reference_add_item(item: Item, acc: dict[str, Decimal]) -> None:
    pairs: list[tuple[str, Decimal | None]] = [("vItem", item.vItem)]
    prod, taxes = item.prod, item.imposto
    service = _sums.is_service(item)
    if prod is not None:
        pairs += [("service.vProd" if service else "goods.vProd", prod.vProd), ("prod.vProd", prod.vProd)]
        pairs += [(key, getattr(prod, name)) for key, name in _sums._PROD_KEYS]
    if item.impostoDevol is not None and item.impostoDevol.IPI is not None:
        pairs.append(("impostoDevol.vIPIDevol", item.impostoDevol.IPI.vIPIDevol))
    if taxes is not None:
        pairs.append(("imposto.vTotTrib", taxes.vTotTrib))
        if taxes.ICMS is not None:
            pairs += [(f"ICMS.{name}", getattr(taxes.ICMS, name)) for name in _sums._ICMS_FIELDS]
        if taxes.ICMSUFDest is not None:
            pairs += [(key, getattr(taxes.ICMSUFDest, name)) for key, name in _sums._ICMS_UF_DEST_KEYS]
        if taxes.II is not None:
            pairs.append(("II.vII", taxes.II.vII))
        if taxes.IPI is not None:
            pairs.append(("IPI.vIPI", taxes.IPI.vIPI))
        if taxes.PIS is not None:
            pairs.append(("service.PIS.vPIS" if service else "goods.PIS.vPIS", taxes.PIS.vPIS))
        if taxes.COFINS is not None:
            pairs.append(("service.COFINS.vCOFINS" if service else "goods.COFINS.vCOFINS", taxes.COFINS.vCOFINS))
        if taxes.PISST is not None and taxes.PISST.indSomaPISST == "1":
            pairs.append(("PISST.vPIS", taxes.PISST.vPIS))
        if taxes.COFINSST is not None and taxes.COFINSST.indSomaCOFINSST == "1":
            pairs.append(("COFINSST.vCOFINS", taxes.COFINSST.vCOFINS))
        if taxes.ISSQN is not None:
            pairs += [(key, getattr(taxes.ISSQN, name)) for key, name in _sums._ISSQN_KEYS]
        if taxes.IS is not None:
            pairs.append(("IS.vIS", taxes.IS.vIS))
        if taxes.IBSCBS is not None:
            pairs += _sums._reform_values(taxes.IBSCBS)
    for key, value in pairs:
        if value is not None:
            acc[key] = acc.get(key, ZERO) + value


def _reference(document: NFeDocument) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    every: dict[str, Decimal] = {}
    excluded: dict[str, Decimal] = {}
    for item in document.items:
        _reference_add_item(item, every)
        if item.prod is not None and item.prod.indTot == "0":
            _reference_add_item(item, excluded)
    return every, excluded


def _assert_same(document: NFeDocument) -> DocumentSums:
    sums = compute_sums(document)
    assert (sums.every, sums.excluded) == _reference(document)
    return sums


@pytest.mark.parametrize("path", readable_fixtures(), ids=lambda path: str(path.relative_to(FIXTURES)))
def test_every_fixture_sums_the_same(path: Path) -> None:
    document = parse(path)
    _assert_same(document)


def _excluded_first_item(xml: bytes) -> bytes:
    edit = Edit(xml)
    edit.set("det[1]/prod/indTot", "0")
    return edit.bytes()


@pytest.mark.parametrize(
    "xml",
    [
        valid(5),
        valid(3, model=65),
        as_service(valid(3), 2),
        with_reform(valid(3), with_is=True),
        with_reform(as_service(valid(4), 1)),
        _excluded_first_item(valid(3)),
    ],
    ids=["nfe", "nfce", "service", "reform_is", "reform_service", "indtot_0"],
)
def test_builder_documents_sum_the_same(xml: bytes) -> None:
    sums = _assert_same(parse(xml))
    assert sums.every  # something was summed


def test_objects_made_by_the_constructor_sum_the_same() -> None:
    """``replace`` and the constructor put every field, None included, in ``__dict__``."""
    document = parse(valid(2))
    first = document.items[0]
    assert first.imposto is not None and first.imposto.ICMS is not None
    icms = first.imposto.ICMS
    full = Icms(**{field.name: getattr(icms, field.name) for field in dataclasses.fields(icms)})
    changed = dataclasses.replace(full, vFCP=Decimal("1.25"), vICMSDeson=None)
    item = dataclasses.replace(first, imposto=dataclasses.replace(first.imposto, ICMS=changed))
    details = (item, *document.items[1:])
    rebuilt = dataclasses.replace(document, infNFe=dataclasses.replace(document.infNFe, det=details))
    sums = _assert_same(rebuilt)
    assert sums.every["ICMS.vFCP"] == Decimal("1.25")
