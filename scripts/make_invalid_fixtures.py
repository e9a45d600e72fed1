"""Regenerate fixtures/invalid/<code>/*.xml: valid signed documents with ONE thing changed.

The folder name is the expected code: a SEFAZ rejection code (``610``) or, where SEFAZ has none, our
finding code (``protocol.digval``). Every document is built by nfe_invoice.testing, changed, then signed
(with a TEST certificate whose key is discarded) and wrapped in an authorising nfeProc, so the rest of
the document stays valid and only the targeted rule fires. tests/test_invalid_fixtures.py checks each one.
To add a case: add a function here (or drop a hand-made file into a new folder) and run
``python scripts/make_invalid_fixtures.py``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

from nfe_invoice.testing import NFeSpec, build_nfe, default_spec, make_test_certificate, sign_nfe, wrap_nfeproc

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "invalid"


def _set(raw: bytes, tag: str, value: str, occurrence: int = 1) -> bytes:
    """Replace the text of the n-th <tag> element."""
    pattern = re.compile(rb"<" + tag.encode() + rb">([^<]*)</" + tag.encode() + rb">")
    matches = list(pattern.finditer(raw))
    match = matches[occurrence - 1]
    return raw[: match.start(1)] + value.encode() + raw[match.end(1) :]


def _get(raw: bytes, tag: str, occurrence: int = 1) -> str:
    pattern = re.compile(rb"<" + tag.encode() + rb">([^<]*)</" + tag.encode() + rb">")
    return pattern.findall(raw)[occurrence - 1].decode()


def _plus_cent(text: str, cents: int = 1) -> str:
    value = round(float(text) * 100) + cents  # test data only; parsed back as Decimal by the library
    return f"{value // 100}.{value % 100:02d}"


def _signed(raw: bytes, spec: NFeSpec, **wrap: str) -> bytes:
    identity = make_test_certificate(cnpj=spec.emitter_cnpj)
    return wrap_nfeproc(sign_nfe(raw, identity), **wrap)  # type: ignore[arg-type]


def vnf_one_cent_off() -> tuple[str, bytes]:
    spec = default_spec(5)
    raw = build_nfe(spec)
    return "610", _signed(_set(raw, "vNF", _plus_cent(_get(raw, "vNF"))), spec)


def item_value_not_quantity_times_price() -> tuple[str, bytes]:
    spec = default_spec(3)
    raw = build_nfe(spec)
    return "629", _signed(_set(raw, "vUnCom", "99.0000000000", 2), spec)


def key_check_digit() -> tuple[str, bytes]:
    spec = default_spec(2)
    raw = build_nfe(spec)
    key = spec.access_key
    wrong = key[:43] + str((int(key[43]) + 1) % 10)
    raw = raw.replace(f"NFe{key}".encode(), f"NFe{wrong}".encode())
    raw = _set(raw, "cDV", wrong[43])
    return "253", _signed(raw, spec)


def emitter_cnpj_check_digit() -> tuple[str, bytes]:
    spec = default_spec(2, emitter_cnpj="11222333000182")
    return "207", _signed(build_nfe(spec), spec)


def nfce_payment_below_total() -> tuple[str, bytes]:
    spec = default_spec(2, model=65, recipient_cpf=None)
    raw = build_nfe(spec)
    return "865", _signed(_set(raw, "vPag", _plus_cent(_get(raw, "vPag"), -100)), spec)


def protocol_denied() -> tuple[str, bytes]:
    spec = default_spec(2)
    return "protocol.not_authorized", _signed(build_nfe(spec), spec, status="302")


def protocol_from_another_document() -> tuple[str, bytes]:
    spec = default_spec(2)
    return "protocol.digval", _signed(build_nfe(spec), spec, digest_value="Gdlq4ZhaQRWvOL21/7h9SRl3YNw=")


def content_changed_after_signing() -> tuple[str, bytes]:
    spec = default_spec(2)
    signed = _signed(build_nfe(spec), spec)
    return "297", signed.replace(b"<xProd>Camiseta modelo 1", b"<xProd>Camiseta modelo 9", 1)


def certificate_of_another_company() -> tuple[str, bytes]:
    spec = default_spec(2)
    identity = make_test_certificate(cnpj="34028316000103")
    return "213", wrap_nfeproc(sign_nfe(build_nfe(spec), identity))


CASES: tuple[Callable[[], tuple[str, bytes]], ...] = (
    vnf_one_cent_off,
    item_value_not_quantity_times_price,
    key_check_digit,
    emitter_cnpj_check_digit,
    nfce_payment_below_total,
    protocol_denied,
    protocol_from_another_document,
    content_changed_after_signing,
    certificate_of_another_company,
)


def main() -> None:
    for case in CASES:
        code, raw = case()
        folder = OUT / code
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        (folder / f"{case.__name__}.xml").write_bytes(raw)


if __name__ == "__main__":
    main()
