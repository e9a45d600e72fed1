"""Access key (chave de acesso) rules: the Id literal, its check digit, its parts against ide/emit.

The key is ``cUF(2) AAMM(4) CNPJ/CPF(14) mod(2) serie(3) nNF(9) tpEmis(1) cNF(8) cDV(1)``; letters are
allowed only in the CNPJ base, key positions 7-18 (NT Conjunta 2025.001, alphanumeric CNPJ). Sources: MOC
7.0 rules A03-10 (502), B03-10 (897), B23-10 (253) and the 5xx/6xx key codes as ACBr checks them
(``ACBrNFe.ValidarRegrasdeNegocio.pas``, ``ACBrDFeUtil.ValidarChave``/``ValidarCodigoDFe``).

Rules that need a well-formed key skip documents whose Id is malformed: 546 already says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

from ..findings import Finding, Severity
from ..identifiers import access_key
from ..model import NFeDocument
from ._common import UF_CODE_SET, is_valid_cnpj, is_valid_cpf, reference_now
from .base import INTEGRITY, INVARIANT, POLICY, RuleContext, finding, rule

LAYOUT: Final = "4.00"
_ID_SHAPE: Final = re.compile(r"NFe[0-9]{6}[0-9A-Z]{12}[0-9]{26}")
_MODELS: Final = frozenset({"55", "65"})
_FIRST_KEY_YEAR: Final = 5  # MOC 615: "Ano < 05"; the first NF-e was authorised in 2006

# MOC B03-10 (NT 2019.001 v1.50): cNF may not be one repeated digit nor one of these ascending runs.
_TRIVIAL_CNF: Final = frozenset(
    {str(digit) * 8 for digit in range(10)}
    | {"12345678", "23456789", "34567890", "45678901", "56789012", "67890123", "78901234", "89012345",
       "90123456", "01234567"}
)  # fmt: skip


def _key(doc: NFeDocument) -> str | None:
    """The 44-character key when infNFe/@Id is well formed, else None (546 reports a malformed Id)."""
    identifier = doc.infNFe.Id
    if identifier is None or not _ID_SHAPE.fullmatch(identifier):
        return None
    return identifier[3:]


def _digits(value: str | None, width: int) -> str | None:
    """A numeric field zero-padded to its width in the key, or None when it is absent or not digits."""
    if value is None or not (value.isascii() and value.isdigit()):
        return None
    return value.zfill(width)


@rule(
    ("key.id_format", "546"),
    kind=INVARIANT,
    description="infNFe/@Id is the literal NFe followed by the 44-character key",
)
def check_id_format(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC 546: ``Id`` must be ``NFe`` + 44 characters, letters only in the CNPJ base (positions 7-18)."""
    identifier = doc.infNFe.Id
    if identifier is None or _ID_SHAPE.fullmatch(identifier):
        return
    if not identifier.startswith("NFe"):
        problem = f"it does not start with the literal NFe ({identifier[:3]!r})"
    elif len(identifier) != 47:
        problem = f"the key after NFe has {len(identifier) - 3} characters instead of 44"
    else:
        problem = "the key has characters other than digits, or letters outside the CNPJ positions 7-18"
    yield finding(
        "key.id_format",
        "546",
        f"infNFe/@Id {identifier!r} is not NFe plus a 44-character key: {problem}",
        ctx.path("@Id"),
    )


@rule(
    ("key.check_digit", "253"),
    ("key.cdv", "253"),
    kind=INVARIANT,
    description="the access key check digit is the mod-11 of its first 43 characters, and ide/cDV repeats it",
)
def check_key_check_digit(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC B23-10 (253): mod 11, weights 2..9 from the right, letters as ``ord(c) - 48`` (NT 2025.001)."""
    key = _key(doc)
    if key is None:
        return
    expected = access_key.calc_check_digit(key[:43])
    if key[43] != expected:
        yield finding(
            "key.check_digit",
            "253",
            f"access key check digit is {key[43]}, expected {expected}",
            ctx.path("@Id"),
        )
    written = doc.ide.cDV
    if written is not None and written != key[43]:
        yield finding(
            "key.cdv",
            "253",
            f"ide/cDV is {written}, but the access key ends in {key[43]}",
            ctx.path("ide/cDV"),
        )


@rule(
    ("key.uf", "614"),
    ("key.year", "615"),
    ("key.month_range", "616"),
    kind=INVARIANT,
    description="the access key's cUF is an IBGE state code and its year and month (AAMM) are plausible",
)
def check_key_header(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC 614/615/616 (ACBr ``ValidarChave``): the key's own cUF and AAMM, whatever ide says."""
    key = _key(doc)
    if key is None:
        return
    path = ctx.path("@Id")
    if key[:2] not in UF_CODE_SET:
        yield finding("key.uf", "614", f"access key state code is {key[:2]}, which is not an IBGE UF code", path)
    year = int(key[2:4])
    now = reference_now(ctx)
    if year < _FIRST_KEY_YEAR or (now is not None and 2000 + year > now.year):
        latest = f" nor after {now.year}" if now is not None else ""
        yield finding(
            "key.year", "615", f"access key year is 20{key[2:4]}, expected no earlier than 2005{latest}", path
        )
    if not 1 <= int(key[4:6]) <= 12:
        yield finding("key.month_range", "616", f"access key month is {key[4:6]}, expected 01 to 12", path)


@rule(
    ("key.emitter", "617"),
    ("key.model", "618"),
    ("key.number", "619"),
    kind=INVARIANT,
    description="the access key carries a valid emitter CNPJ/CPF, model 55 or 65 and a non-zero number",
)
def check_key_body(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC 617/618/619: the key's emitter (CNPJ, or CPF padded with 000), model and nNF, on their own."""
    key = _key(doc)
    if key is None:
        return
    path = ctx.path("@Id")
    emitter = key[6:20]
    if not (is_valid_cnpj(emitter) or (emitter.startswith("000") and is_valid_cpf(emitter[3:]))):
        yield finding("key.emitter", "617", f"access key emitter {emitter} is zero or not a valid CNPJ/CPF", path)
    if key[20:22] not in _MODELS:
        yield finding("key.model", "618", f"access key model is {key[20:22]}, expected 55 or 65", path)
    if key[25:34] == "000000000":
        yield finding("key.number", "619", "access key number (nNF) is zero", path)


def _expected_parts(doc: NFeDocument) -> dict[str, tuple[slice, str | None, str]]:
    """Each key part as ide/emit say it should be: (position in the key, expected text, source field)."""
    ide, emit = doc.ide, doc.emit
    emitter = emit.CNPJ if emit.CNPJ is not None else (emit.CPF.zfill(14) if emit.CPF is not None else None)
    return {
        "cUF": (slice(0, 2), _digits(ide.cUF, 2), "ide/cUF"),
        "AAMM": (slice(2, 6), ide.dhEmi.strftime("%y%m") if ide.dhEmi is not None else None, "ide/dhEmi"),
        "emitter": (slice(6, 20), emitter, "emit/CNPJ" if emit.CNPJ is not None else "emit/CPF"),
        "mod": (slice(20, 22), _digits(ide.mod, 2), "ide/mod"),
        "serie": (slice(22, 25), _digits(ide.serie, 3), "ide/serie"),
        "nNF": (slice(25, 34), _digits(ide.nNF, 9), "ide/nNF"),
        "tpEmis": (slice(34, 35), _digits(ide.tpEmis, 1), "ide/tpEmis"),
        "cNF": (slice(35, 43), _digits(ide.cNF, 8), "ide/cNF"),
    }


@rule(
    ("key.mismatch", "502"),
    ("key.month", "561"),
    ("key.numeric_code", "562"),
    kind=INVARIANT,
    description="the access key is the concatenation of cUF, AAMM, emitter, mod, serie, nNF, tpEmis and cNF",
)
def check_key_matches_document(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC A03-10 (502), with the month (561) and the numeric code (562) reported under their own codes."""
    key = _key(doc)
    if key is None:
        return
    others: list[str] = []
    for name, (where, expected, source) in _expected_parts(doc).items():
        found = key[where]
        if expected is None or found == expected:
            continue
        if name == "AAMM":
            yield finding(
                "key.month",
                "561",
                f"access key year-month is {found}, expected {expected} from ide/dhEmi",
                ctx.path("ide/dhEmi"),
            )
        elif name == "cNF":
            yield finding(
                "key.numeric_code",
                "562",
                f"access key numeric code is {found}, expected {expected} (ide/cNF)",
                ctx.path("ide/cNF"),
            )
        else:
            others.append(f"{name} is {found} in the key but {expected} in {source}")
    if others:
        yield finding(
            "key.mismatch",
            "502",
            "access key does not match the document's fields: " + "; ".join(others),
            ctx.path("@Id"),
        )


@rule(("key.cnf_format", "897"), kind=POLICY, description="ide/cNF is not nNF nor a trivial sequence such as 12345678")
def check_numeric_code(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC B03-10 (897, NT 2019.001): cNF protects the key from guessing, so it must not be predictable."""
    code = doc.ide.cNF
    if code is None or not (code.isascii() and code.isdigit()):
        return
    number = doc.ide.nNF
    if number is not None and number.isascii() and number.isdigit() and int(code) == int(number):
        yield finding(
            "key.cnf_format",
            "897",
            f"ide/cNF {code} equals the document number nNF, expected a random code",
            ctx.path("ide/cNF"),
        )
    elif code.zfill(8) in _TRIVIAL_CNF:
        yield finding(
            "key.cnf_format",
            "897",
            f"ide/cNF {code} is a trivial sequence, expected a random code",
            ctx.path("ide/cNF"),
        )


@rule(
    ("environment.homologation", None, Severity.WARNING),
    kind=INTEGRITY,
    description="the document was issued in the homologation (test) environment",
)
def check_environment(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """tpAmb=2 documents have no fiscal value (MOC B24); worth a warning before anything is invoiced."""
    if doc.ide.tpAmb == "2":
        yield finding(
            "environment.homologation",
            None,
            "ide/tpAmb is 2: the document was issued in the homologation (test) environment and has no "
            "fiscal value, expected 1 (production)",
            ctx.path("ide/tpAmb"),
            Severity.WARNING,
        )


@rule(("document.layout", "701"), kind=INTEGRITY, description="infNFe/@versao is 4.00")
def check_layout_version(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """701 (ACBr): only layout 4.00 is accepted. The parser refuses other layouts; this guards models."""
    version = doc.infNFe.versao
    if version is not None and version != LAYOUT:
        yield finding("document.layout", "701", f"infNFe/@versao is {version}, expected {LAYOUT}", ctx.path("@versao"))
