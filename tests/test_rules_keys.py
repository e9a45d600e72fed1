"""Access key rules (546, 253, 614-619, 502/561/562, 897, 701) and the homologation warning."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nfe_invoice.identifiers import access_key

from .rules_helpers import (
    BARE,
    Case,
    add,
    case,
    covered,
    family_codes,
    family_codes_registered,
    family_findings,
    key_of,
    nfce,
    nfe,
    parse,
    remove,
    set_attr,
    set_text,
    valid_variants,
    with_key,
)

N = nfe()
K = key_of(N)[:43]  # 35 2611 11222333000181 55 001 000001001 1 31415926
LATER = datetime.fromisoformat("2026-12-01T10:00:00-03:00")
WRONG_DV = str((int(access_key.calc_check_digit(K)) + 1) % 10)


def _key(**parts: str) -> str:
    """K with some parts replaced (each given exactly as it appears in the key)."""
    layout = {"cUF": (0, 2), "AAMM": (2, 6), "emitter": (6, 20), "mod": (20, 22), "serie": (22, 25),
              "nNF": (25, 34), "tpEmis": (34, 35), "cNF": (35, 43)}  # fmt: skip
    key = K
    for name, value in parts.items():
        start, end = layout[name]
        assert len(value) == end - start
        key = key[:start] + value + key[end:]
    return key


def _emitted(xml: bytes, moment: datetime) -> bytes:
    xml = set_text(xml, "infNFe/ide/dhEmi", moment.isoformat())
    return set_text(xml, "infNFe/ide/dhSaiEnt", moment.isoformat())


def _cpf_emitter() -> bytes:
    xml = add(remove(N, "infNFe/emit/CNPJ"), "infNFe/emit", "<CPF>11144477735</CPF>")
    return with_key(xml, _key(emitter="00011144477735"))


CASES = [
    # 546: the Id literal and shape
    pytest.param(case(set_attr(N, "infNFe", "Id", K + "0"), "key.id_format"), id="546-no-literal"),
    pytest.param(case(set_attr(N, "infNFe", "Id", "NFe" + K), "key.id_format"), id="546-43-characters"),
    pytest.param(
        case(set_attr(N, "infNFe", "Id", "NFe" + K[:2] + "A" + K[3:] + "0"), "key.id_format"),
        id="546-letter-outside-cnpj",
    ),
    pytest.param(case(nfe(emitter_cnpj="12ABC34501DE35")), id="546-letters-in-cnpj-ok"),
    # 253: the check digit, and ide/cDV repeating it
    pytest.param(case(with_key(N, K, check_digit=WRONG_DV), "key.check_digit"), id="253-wrong-dv"),
    pytest.param(
        case(set_text(N, "infNFe/ide/cDV", str((int(key_of(N)[43]) + 1) % 10)), "key.cdv"), id="253-cdv-differs"
    ),
    pytest.param(case(with_key(N, K)), id="253-correct-dv"),
    # 614-616: the key's header on its own
    pytest.param(case(with_key(N, _key(cUF="99")), "key.uf", "key.mismatch"), id="614-uf-99"),
    pytest.param(case(with_key(N, _key(cUF="20")), "key.uf", "key.mismatch"), id="614-uf-20"),
    pytest.param(case(with_key(N, _key(AAMM="0411")), "key.year", "key.month"), id="615-before-2005"),
    pytest.param(case(with_key(N, _key(AAMM="2711")), "key.year", "key.month"), id="615-after-now"),
    pytest.param(
        case(_emitted(with_key(N, _key(AAMM="2711")), datetime.fromisoformat("2027-11-20T10:00-03:00")), now=None),
        id="615-future-year-without-clock",
    ),
    pytest.param(case(with_key(N, _key(AAMM="2613")), "key.month_range", "key.month"), id="616-month-13"),
    pytest.param(case(with_key(N, _key(AAMM="2600")), "key.month_range", "key.month"), id="616-month-00"),
    # 617-619: the key's body on its own
    pytest.param(
        case(with_key(N, _key(emitter="11222333000182")), "key.emitter", "key.mismatch"), id="617-bad-cnpj-dv"
    ),
    pytest.param(case(with_key(N, _key(emitter="0" * 14)), "key.emitter", "key.mismatch"), id="617-zero"),
    pytest.param(case(_cpf_emitter()), id="617-cpf-emitter-ok"),
    pytest.param(case(with_key(N, _key(mod="57")), "key.model", "key.mismatch"), id="618-model-57"),
    pytest.param(case(with_key(N, _key(nNF="0" * 9)), "key.number", "key.mismatch"), id="619-number-zero"),
    # 502/561/562: the key against ide/emit
    pytest.param(case(set_text(N, "infNFe/ide/serie", "2"), "key.mismatch"), id="502-serie"),
    pytest.param(case(with_key(N, _key(tpEmis="2")), "key.mismatch"), id="502-tpemis"),
    pytest.param(case(set_text(N, "infNFe/emit/CNPJ", "11444777000161"), "key.mismatch"), id="502-emitter"),
    pytest.param(
        case(set_text(N, "infNFe/ide/cUF", "33"), "key.mismatch", "identity.uf", "identity.cmunfg_uf"), id="502-cuf"
    ),
    pytest.param(case(_emitted(N, LATER), "key.month", now=None), id="561-month"),
    pytest.param(
        case(_emitted(N, datetime.fromisoformat("2026-11-30T23:59:59-03:00")), now=None), id="561-same-month-ok"
    ),
    pytest.param(case(set_text(N, "infNFe/ide/cNF", "27182818"), "key.numeric_code"), id="562-cnf"),
    # 897: predictable cNF
    pytest.param(case(nfe(numeric_code=1001, number=1001), "key.cnf_format"), id="897-equals-nnf"),
    pytest.param(case(nfe(numeric_code=12345678), "key.cnf_format"), id="897-ascending"),
    pytest.param(case(nfe(numeric_code=1234567), "key.cnf_format"), id="897-ascending-from-0"),
    pytest.param(case(nfe(numeric_code=0), "key.cnf_format"), id="897-zeros"),
    pytest.param(case(nfe(numeric_code=77777777), "key.cnf_format"), id="897-repeated"),
    pytest.param(case(nfe(numeric_code=12345679)), id="897-random-ok"),
    # homologation environment
    pytest.param(case(nfe(environment=2), "environment.homologation"), id="homologation-nfe"),
    pytest.param(case(nfce(environment=2), "environment.homologation"), id="homologation-nfce"),
]


@pytest.mark.parametrize("row", CASES)
def test_key_rules(row: Case) -> None:
    assert row.codes() == row.expected


def test_every_key_code_is_triggered() -> None:
    assert family_codes_registered("keys") - {"document.layout"} <= covered(CASES)


@pytest.mark.parametrize("name", sorted(valid_variants()))
def test_valid_documents_have_no_key_findings(name: str) -> None:
    codes = family_codes(valid_variants()[name])
    assert not codes & family_codes_registered("keys")


def test_layout_version_other_than_400() -> None:
    """The parser refuses other layouts; a model built otherwise is still judged (701)."""
    doc = parse(N)
    assert "document.layout" not in family_codes(doc)
    old = dataclasses.replace(doc, infNFe=dataclasses.replace(doc.infNFe, versao="3.10"))
    assert family_codes(old) == {"document.layout"} | BARE


def test_messages_say_what_was_expected() -> None:
    wrong = WRONG_DV
    doc = parse(with_key(N, K, check_digit=wrong))
    (found,) = [f for f in family_findings(doc) if f.code == "key.check_digit"]
    assert found.message == f"access key check digit is {wrong}, expected {access_key.calc_check_digit(K)}"
    assert found.sefaz == "253"
    assert found.xpath == "/NFe/infNFe/@Id"


def test_missing_fields_are_skipped_quietly() -> None:
    doc = parse(N)
    bare = dataclasses.replace(doc, infNFe=dataclasses.replace(doc.infNFe, Id=None, ide=None, emit=None))
    assert family_codes(bare) & family_codes_registered("keys") == set()


@settings(max_examples=25, deadline=None)
@given(
    number=st.integers(min_value=1, max_value=999_999_999),
    series=st.integers(min_value=0, max_value=889),
    numeric_code=st.integers(min_value=0, max_value=99_999_999),
)
def test_any_builder_key_is_consistent(number: int, series: int, numeric_code: int) -> None:
    codes = family_codes(nfe(number=number, series=series, numeric_code=numeric_code))
    trivial = numeric_code == number or f"{numeric_code:08d}" in {
        *(str(d) * 8 for d in range(10)), "12345678", "23456789", "34567890", "45678901", "56789012",
        "67890123", "78901234", "89012345", "90123456", "01234567",
    }  # fmt: skip
    assert codes == BARE | ({"key.cnf_format"} if trivial else set())
