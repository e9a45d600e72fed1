"""The model classes behave as the frozen dataclasses they were, though nothing is generated per class.

``model.record`` leaves construction, immutability and value semantics to :class:`model.Record` (see the
module docstring: per-class generated methods cost start-up time). These checks hold it to what
``@dataclass(frozen=True)`` gave: the same constructor, the same errors, the same values.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
from decimal import Decimal

import pytest

from nfe_invoice import model, parse
from nfe_invoice.testing import build_nfe, default_spec


def test_fields_by_name_or_position_and_defaults_for_the_rest() -> None:
    by_name = model.Medicine(vPMC=Decimal("9.90"), cProdANVISA="1234567890123")
    by_position = model.Medicine("1234567890123", None, Decimal("9.90"))
    assert by_name == by_position
    assert hash(by_name) == hash(by_position)
    assert by_name.xMotivoIsencao is None
    assert model.Transport().vol == ()
    assert repr(by_name) == "Medicine(cProdANVISA='1234567890123', xMotivoIsencao=None, vPMC=Decimal('9.90'))"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: model.Medicine(vPMC=1, bogus=2), "unexpected keyword argument 'bogus'"),
        (lambda: model.Medicine("a", "b", 1, 2), "takes 3 positional arguments but 4 were given"),
        (lambda: model.Medicine("a", cProdANVISA="b"), "multiple values for argument 'cProdANVISA'"),
        (lambda: model.ParseIssue("/a"), "missing required arguments: 'value', 'expected'"),
        (lambda: model.Medicine(__dict__={}), "unexpected keyword argument '__dict__'"),
    ],
)
def test_constructor_errors_are_the_dataclass_ones(make: object, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        make()  # type: ignore[operator]


def test_instances_are_immutable() -> None:
    medicine = model.Medicine(vPMC=Decimal(1))
    with pytest.raises(dataclasses.FrozenInstanceError):
        medicine.vPMC = Decimal(2)  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        medicine.other = 1  # type: ignore[attr-defined]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del medicine.vPMC  # type: ignore[misc]
    assert medicine.vPMC == Decimal(1)


def test_dataclass_tools_and_copies_work_on_parsed_documents() -> None:
    document = parse(build_nfe(default_spec(2)))
    item = document.items[0]
    assert dataclasses.is_dataclass(item)
    changed = dataclasses.replace(item, infAdProd="changed")
    assert changed.infAdProd == "changed" and changed.prod == item.prod and changed != item
    assert dataclasses.asdict(item)["prod"]["vProd"] == item.prod.vProd  # type: ignore[union-attr]
    assert pickle.loads(pickle.dumps(document)) == document
    assert copy.deepcopy(document) == document
    rebuilt = model.Item(**{field.name: getattr(item, field.name) for field in dataclasses.fields(item)})
    assert rebuilt == item


def test_the_signature_and_docs_are_the_dataclass_ones() -> None:
    signature = inspect.signature(model.ParseIssue)
    assert list(signature.parameters) == ["xpath", "value", "expected"]
    assert all(parameter.default is inspect.Parameter.empty for parameter in signature.parameters.values())
    assert str(inspect.signature(model.Seal)) == "(nLacre: 'str | None' = None) -> None"
    assert model.RefECF.__doc__ == (
        "RefECF(mod: 'str | None' = None, nECF: 'str | None' = None, nCOO: 'str | None' = None)")
