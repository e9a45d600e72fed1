"""Small facts and helpers shared by the key, identity, date, payment, NFC-e and protocol rules.

Nothing here yields findings: these are the tables (IBGE state codes, municipality check digit) and the
tiny predicates several rule families need, computed once at import so that the rules stay cheap.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Final

from ..identifiers import cnpj, cpf
from ..model import NFeDocument
from .base import RuleContext

# IBGE codes of the 27 federative units (Tabela de UF do IBGE, used by ide/cUF and the access key).
UF_CODES: Final[Mapping[str, str]] = MappingProxyType({
    "RO": "11", "AC": "12", "AM": "13", "RR": "14", "PA": "15", "AP": "16", "TO": "17",
    "MA": "21", "PI": "22", "CE": "23", "RN": "24", "PB": "25", "PE": "26", "AL": "27", "SE": "28",
    "BA": "29",
    "MG": "31", "ES": "32", "RJ": "33", "SP": "35",
    "PR": "41", "SC": "42", "RS": "43",
    "MS": "50", "MT": "51", "GO": "52", "DF": "53",
})  # fmt: skip
UF_CODE_SET: Final = frozenset(UF_CODES.values())

# A 44-character access key: letters only in the CNPJ base, key positions 7-18 (NT Conjunta 2025.001).
KEY_SHAPE: Final = re.compile(r"[0-9]{6}[0-9A-Z]{12}[0-9]{26}")

FOREIGN_UF: Final = "EX"
FOREIGN_MUNICIPALITY: Final = "9999999"

# IBGE municipality codes whose 7th digit breaks the mod-10 rule; the MOC (rules B12/C10/E10 notes) and
# ACBr (ACBrDFeUtil.ValidarMunicipio) both list exactly these nine as valid anyway.
MUNICIPALITY_DV_EXCEPTIONS: Final = frozenset({
    "2201919",  # Bom Princípio do Piauí/PI
    "2201988",  # Brejo do Piauí/PI
    "2202251",  # Canavieira/PI
    "2611533",  # Quixaba/PE
    "3117836",  # Cônego Marinho/MG
    "3152131",  # Ponto Chique/MG
    "4305871",  # Coronel Barros/RS
    "5203939",  # Buriti de Goiás/GO
    "5203962",  # Buritinópolis/GO
})  # fmt: skip

# Sum of the decimal digits of 2*d, for the mod-10 (weights 1,2,1,2...) municipality check digit.
_DOUBLED_DIGIT_SUM: Final = tuple(sum(divmod(2 * digit, 10)) for digit in range(10))


def municipality_check_digit(first_six: str) -> str:
    """IBGE municipality check digit: weights 1,2,1,2,1,2, digits of each product summed, mod 10."""
    total = 0
    for index, char in enumerate(first_six):
        digit = ord(char) - 48
        total += _DOUBLED_DIGIT_SUM[digit] if index % 2 else digit
    return str((10 - total % 10) % 10)


@functools.lru_cache(maxsize=8192)
def is_valid_municipality(code: str) -> bool:
    """True for a 7-digit IBGE code with a valid check digit (or one of the nine known exceptions).

    ``9999999`` (abroad) is accepted here; whether it fits the UF is another rule's business.
    """
    if code == FOREIGN_MUNICIPALITY or code in MUNICIPALITY_DV_EXCEPTIONS:
        return True
    if len(code) != 7 or not (code.isascii() and code.isdigit()):
        return False
    return municipality_check_digit(code[:6]) == code[6]


# The same emitters, carriers, marketplaces and cities recur in thousands of documents a day: a small
# cache makes the repeated check-digit arithmetic free.
@functools.lru_cache(maxsize=8192)
def is_valid_cnpj(value: str) -> bool:
    """A CNPJ as written in the XML (14 characters, alphanumeric-aware); all zeros is invalid."""
    return cnpj.is_valid(value)


@functools.lru_cache(maxsize=8192)
def is_valid_cpf(value: str) -> bool:
    """A CPF as written in the XML (11 digits); repeated digits (000..., 111...) are invalid."""
    return cpf.is_valid(value)


def in_force(doc: NFeDocument, production: date, homologation: date | None = None) -> bool:
    """True when a rule that started on ``production`` (or ``homologation`` in tpAmb=2) applies to ``doc``.

    Rules introduced by a technical note only judge documents emitted after their start: an authorised
    2018 document is not wrong for lacking a field created in 2021. Without dhEmi the rule applies.
    """
    emitted = doc.ide.dhEmi
    if emitted is None:
        return True
    start = homologation if homologation is not None and doc.ide.tpAmb == "2" else production
    return emitted.date() >= start


def reference_now(ctx: RuleContext) -> datetime | None:
    """The rule context's clock as an aware datetime (a naive one is taken as UTC), or None."""
    now = ctx.now
    if now is not None and now.tzinfo is None:
        return now.replace(tzinfo=UTC)
    return now


def envelope_path(ctx: RuleContext, relative: str) -> str:
    """XPath of an element beside infNFe, e.g. ``infNFeSupl/qrCode`` -> ``/NFe/infNFeSupl/qrCode``."""
    parent = ctx.prefix.rsplit("/", 1)[0]
    return f"{parent}/{relative}"


def root_path(ctx: RuleContext, relative: str = "") -> str:
    """XPath of the document root, or of an element under it (``protNFe/infProt/cStat`` in an nfeProc)."""
    root = "/" + ctx.prefix.lstrip("/").split("/", 1)[0]
    return f"{root}/{relative}" if relative else root
