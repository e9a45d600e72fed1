"""parse() pauses the cycle collector while it builds the model: the caller's setting always comes back."""

from __future__ import annotations

import gc
import importlib
from collections.abc import Iterator

import pytest

from nfe_invoice import parse
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

    monkeypatch.setattr(module, "_read", broken)
    gc.enable()
    with pytest.raises(RuntimeError):
        parse(DOCUMENT)
    assert gc.isenabled()
