"""Two of parse()'s speed measures, checked against the slow way they replace.

* Field kinds are read from the model's annotation strings directly, not by evaluating them all with
  ``typing.get_type_hints``: every field of every model class must come out the same both ways.
* The cycle collector is paused while the model is built: the caller's setting always comes back.
"""

from __future__ import annotations

import dataclasses
import gc
import importlib
import typing
from collections.abc import Iterator

import pytest

from nfe_invoice import model, parse
from nfe_invoice.testing import build_nfe, default_spec

DOCUMENT = build_nfe(default_spec(3))


@pytest.fixture
def restore_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    if enabled:
        gc.enable()
    else:
        gc.disable()


@pytest.mark.usefixtures("restore_gc")
@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_setting_is_left_as_found(enabled: bool) -> None:
    (gc.enable if enabled else gc.disable)()
    document = parse(DOCUMENT)
    assert gc.isenabled() is enabled
    assert len(document.items) == 3


@pytest.mark.usefixtures("restore_gc")
def test_the_collector_is_back_on_when_reading_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    module = importlib.import_module("nfe_invoice.parse")  # the module (the package exports the function)

    def broken(*_args: object) -> None:
        raise RuntimeError("reading failed")

    monkeypatch.setattr(module, "_READ_MODEL", broken)
    gc.enable()
    with pytest.raises(RuntimeError):
        parse(DOCUMENT)
    assert gc.isenabled()


MODEL_CLASSES = [cls for cls in vars(model).values()
                 if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == model.__name__]


@pytest.mark.parametrize("cls", MODEL_CLASSES, ids=lambda cls: cls.__name__)
def test_field_kinds_read_from_annotation_text_equal_the_evaluated_ones(cls: type) -> None:
    module = importlib.import_module("nfe_invoice.parse")
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if hints[field.name] is bytes:  # NFeDocument.raw is not read from XML
            continue
        assert isinstance(field.type, str)
        assert module._kind_of_text(field.type) == module._kind_of(hints[field.name]), field.name


def test_an_annotation_of_another_form_is_left_to_the_general_way() -> None:
    module = importlib.import_module("nfe_invoice.parse")
    assert module._kind_of_text("list[Item]") is None
    assert module._kind_of_text("Optional[Decimal]") is None
    assert module._kind_of_text("NotAModelClass | None") is None


def test_parsed_objects_are_frozen_and_equal_to_constructed_ones() -> None:
    """The parser fills each new instance's ``__dict__`` in place: the result must still be immutable and
    compare, hash and print like the same object built through the constructor."""
    item = parse(DOCUMENT).items[0]
    prod = item.prod
    assert prod is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        prod.vProd = None  # type: ignore[misc]
    built = model.Product(**{field.name: getattr(prod, field.name) for field in dataclasses.fields(prod)})
    assert built == prod and hash(built) == hash(prod) and repr(built) == repr(prod)
    assert set(vars(prod)) <= {field.name for field in dataclasses.fields(prod)}
