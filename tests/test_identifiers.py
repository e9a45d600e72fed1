"""Identifiers: tables of real values (taken from the documents in ../shared/realworld) and properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nfe_invoice.errors import InvalidChecksumError, InvalidFormatError, InvalidLengthError
from nfe_invoice.identifiers import access_key, cnpj, cpf, gtin

# CNPJs of emitters and recipients in the real documents (nfe-signed/*, nfe/*).
REAL_CNPJS = [
    "65798589000160",  # fabyo: KENTUCKY INDUSTRIA E COMERCIO LTDA
    "32409620000175",  # fabyo: MASION INDUSTRIA METALURGICA LTDA
    "43761964000165",  # fabyo: autXML
    "61558037000205",  # gabschuster emitter
    "61602199001518",  # gapfranco: Companhia Ultragaz
    "06117473000150",  # nfelib homologation PR
    "34128745000152",  # nfelib anonymised samples
    "48231687000100",  # vitorkloy NFC-e
]
# Access keys of real authorised documents (the protocol's chNFe).
REAL_KEYS = [
    "35260665798589000160550010001336181560338290",
    "50221161558037000205550020003350361500810035",
    "35241261602199001518550990013778231350842860",
    "41170706117473000150550010000463201612756527",
    "35260348231687000100650020000158291400522052",
    "21211132727872000142650110000000041000001418",
    "35180834128745000152550010000474491454651420",
]


@pytest.mark.parametrize("number", REAL_CNPJS)
def test_real_cnpjs_are_valid(number: str) -> None:
    assert cnpj.validate(number) == number
    assert cnpj.is_valid(cnpj.format(number))


@pytest.mark.parametrize(
    ("base", "digits"),
    [("12ABC34501DE", "35"), ("112223330001", "81"), ("657985890001", "60"), ("XT9CDVWJ0001", "72")],
)
def test_cnpj_check_digits_numeric_and_alphanumeric(base: str, digits: str) -> None:
    assert cnpj.calc_check_digits(base) == digits


def test_alphanumeric_cnpj_formats_and_has_base() -> None:
    assert cnpj.format("12ABC34501DE35") == "12.ABC.345/01DE-35"
    assert cnpj.validate("12.abc.345/01de-35") == "12ABC34501DE35"
    assert cnpj.is_alphanumeric("12ABC34501DE35")
    assert not cnpj.is_alphanumeric("65798589000160")
    assert cnpj.base("12ABC34501DE35") == "12ABC345"


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("6579858900016", InvalidLengthError),
        ("65798589000161", InvalidChecksumError),
        ("00000000000000", InvalidChecksumError),
        ("12ABC34501DE3X", InvalidFormatError),  # check digits are always numeric
        ("12abc34501de!5", InvalidFormatError),
        ("12ABC34501DE53", InvalidChecksumError),
    ],
)
def test_invalid_cnpjs_raise_specific_errors(value: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        cnpj.validate(value)
    assert not cnpj.is_valid(value)


@pytest.mark.parametrize("value", ["11144477735", "111.444.777-35", "52998224725"])
def test_valid_cpfs(value: str) -> None:
    assert cpf.is_valid(value)
    assert cpf.format(value) == cpf.format(cpf.compact(value))


@pytest.mark.parametrize("value", ["11144477734", "11111111111", "1114447773", "1114447773a"])
def test_invalid_cpfs(value: str) -> None:
    assert not cpf.is_valid(value)
    with pytest.raises(ValueError):
        cpf.validate(value)


@pytest.mark.parametrize("key", REAL_KEYS)
def test_real_access_keys(key: str) -> None:
    assert access_key.validate(key) == key
    assert access_key.validate("NFe" + key) == key
    parts = access_key.split(key)
    rebuilt = access_key.build(
        cUF=parts.cUF,
        year_month=parts.year_month,
        emitter=parts.emitter,
        model=parts.model,
        series=parts.series,
        number=parts.number,
        emission_type=parts.emission_type,
        numeric_code=parts.numeric_code,
    )
    assert rebuilt == key


def test_access_key_split_names_the_parts() -> None:
    parts = access_key.split("35260665798589000160550010001336181560338290")
    assert (parts.cUF, parts.year, parts.month, parts.emitter) == ("35", 2026, 6, "65798589000160")
    assert (parts.model, parts.series, parts.number) == ("55", "001", "000133618")
    assert (parts.emission_type, parts.numeric_code, parts.check_digit) == ("1", "56033829", "0")


def test_access_key_with_alphanumeric_cnpj() -> None:
    assert access_key.calc_check_digit("1318101792142700012565001000000030988725117") == "0"
    key = access_key.build(cUF=35, year_month="2608", emitter="12ABC34501DE35", model=55, series=1,
                           number=42, emission_type=1, numeric_code=12345678)
    assert key[6:20] == "12ABC34501DE35"
    assert access_key.is_valid(key)
    # letters outside the CNPJ positions are refused
    assert not access_key.is_valid("A" + key[1:])


def test_access_key_format_groups_of_four() -> None:
    shown = access_key.format("35260665798589000160550010001336181560338290")
    assert shown == "3526 0665 7985 8900 0160 5500 1000 1336 1815 6033 8290"


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("3526066579858900016055001000133618156033829", InvalidLengthError),
        ("35260665798589000160550010001336181560338291", InvalidChecksumError),
        ("3526066579858900016055001000133618156033829X", InvalidFormatError),
    ],
)
def test_invalid_access_keys(value: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        access_key.validate(value)


@pytest.mark.parametrize("value", ["7891000315507", "7891319738516", "96385074", "012345678905", "17891000315504"])
def test_valid_gtins(value: str) -> None:
    assert gtin.is_valid(value)


@pytest.mark.parametrize("value", ["7891000315508", "SEM GTIN", "123", "789100031550A"])
def test_invalid_gtins(value: str) -> None:
    assert not gtin.is_valid(value)


@pytest.mark.parametrize("function", [cnpj.is_valid, cpf.is_valid, access_key.is_valid, gtin.is_valid])
@pytest.mark.parametrize("junk", [None, 0, 1.5, b"65798589000160", [], "", " ", "\x00"])
def test_is_valid_never_raises(function: object, junk: object) -> None:
    assert callable(function)
    assert function(junk) is False


# ------------------------------------------------------------------------------------ properties

base_chars = st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=12, max_size=12)


@given(base_chars)
def test_cnpj_with_computed_digits_is_always_valid(base: str) -> None:
    number = base + cnpj.calc_check_digits(base)
    assert cnpj.is_valid(number) or number == "0" * 14


@given(base_chars, st.integers(12, 13), st.integers(1, 9))
def test_cnpj_changed_check_digit_is_detected(base: str, position: int, delta: int) -> None:
    # (A changed BASE digit is not always caught: remainders 0 and 1 both give check digit 0.)
    number = base + cnpj.calc_check_digits(base)
    changed_digit = str((int(number[position]) + delta) % 10)
    assert not cnpj.is_valid(number[:position] + changed_digit + number[position + 1 :])


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_cpf_with_computed_digits_is_valid_unless_repeated(base: str) -> None:
    number = base + cpf.calc_check_digits(base)
    assert cpf.is_valid(number) == (len(set(number)) > 1)


@given(
    st.integers(11, 53), st.integers(0, 99), st.integers(1, 12), base_chars, st.sampled_from([55, 65]),
    st.integers(0, 999), st.integers(1, 999_999_999), st.integers(1, 9), st.integers(0, 99_999_999),
)
def test_access_key_build_split_roundtrip(
    uf: int, year: int, month: int, base: str, model: int, series: int, number: int, emission: int, code: int
) -> None:
    emitter = base + cnpj.calc_check_digits(base)
    key = access_key.build(cUF=uf, year_month=f"{year:02d}{month:02d}", emitter=emitter, model=model,
                           series=series, number=number, emission_type=emission, numeric_code=code)
    assert access_key.is_valid(key)
    parts = access_key.split(key)
    assert int(parts.number) == number and parts.emitter == emitter and int(parts.numeric_code) == code
