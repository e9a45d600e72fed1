"""Identity rules: CNPJ/CPF check digits of every party, IBGE municipality codes, GTINs, NCM, item order.

Every CNPJ check accepts the alphanumeric form (NT Conjunta 2025.001: 12 characters ``[0-9A-Z]`` and two
numeric check digits). Sources: MOC 7.0 rules C02 (207/401), E02/E03 (208/237, 220), F02/G02 (512/540,
514/541), GA02/GA03 (323-326), X04/X05 (542/543), YA05-20 (437), YB02-10 (440), I05e-20 (489), ZD02-10
(973), B02/B12/C10/E10/F07/G07 (226, 270-279), I03/I12 (611/612, 882-888, NT 2017.001), I05 (777/471),
H02-10 (927, NT 2019.001); ACBr ``ACBrNFe.ValidarRegrasdeNegocio.pas`` for the same checks.

An empty CNPJ/CPF element counts as absent: some groups allow it (``TCnpjOpc``) and the XSD judges the rest.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import date
from typing import Final

from ..findings import Finding, Severity
from ..identifiers import gtin
from ..model import Address, Location, NFeDocument
from ._common import FOREIGN_UF, UF_CODES, in_force, is_valid_cnpj, is_valid_cpf, is_valid_municipality
from .base import INVARIANT, POLICY, RuleContext, finding, rule

# ------------------------------------------------------------------------------------------- parties


Code = tuple[str, str]  # (finding code, SEFAZ code)


def _party_documents(
    cnpj: str | None, cpf: str | None, what: str, path: str, *, cnpj_code: Code, cpf_code: Code
) -> Iterator[Finding]:
    """The CNPJ and CPF checks every party shares: ``what`` names the party, ``path`` its element."""
    if cnpj and not is_valid_cnpj(cnpj):
        yield finding(*cnpj_code, f"{what} CNPJ {cnpj} is zero or has invalid check digits", f"{path}/CNPJ")
    if cpf and not is_valid_cpf(cpf):
        yield finding(*cpf_code, f"{what} CPF {cpf} is invalid (check digits or repeated digits)", f"{path}/CPF")


@rule(
    ("identity.emitter_cnpj", "207"),
    ("identity.emitter_cpf", "401"),
    kind=INVARIANT,
    description="emit/CNPJ (or emit/CPF of a rural producer) has valid check digits and is not zero",
)
def check_emitter_document(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC C02-10 (207) and C02a-20 (401)."""
    emit = doc.emit
    yield from _party_documents(emit.CNPJ, emit.CPF, "emitter", ctx.path("emit"),
                                cnpj_code=("identity.emitter_cnpj", "207"), cpf_code=("identity.emitter_cpf", "401"))


@rule(
    ("identity.recipient_cnpj", "208"),
    ("identity.recipient_cpf", "237"),
    kind=INVARIANT,
    description="dest/CNPJ or dest/CPF has valid check digits",
)
def check_recipient_document(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC E02-10 (208) and E03-10 (237)."""
    dest = doc.dest
    if dest is not None:
        yield from _party_documents(dest.CNPJ, dest.CPF, "recipient", ctx.path("dest"),
                                    cnpj_code=("identity.recipient_cnpj", "208"),
                                    cpf_code=("identity.recipient_cpf", "237"))


@rule(
    ("identity.carrier_cnpj", "542"),
    ("identity.carrier_cpf", "543"),
    kind=INVARIANT,
    description="transp/transporta CNPJ or CPF has valid check digits",
)
def check_carrier_document(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC X04-20 (542) and X05-10 (543)."""
    transp = doc.infNFe.transp
    carrier = transp.transporta if transp is not None else None
    if carrier is not None:
        yield from _party_documents(carrier.CNPJ, carrier.CPF, "carrier", ctx.path("transp/transporta"),
                                    cnpj_code=("identity.carrier_cnpj", "542"),
                                    cpf_code=("identity.carrier_cpf", "543"))


# (group, what, CNPJ code, CPF code)
_LOCATIONS: Final = (
    ("retirada", "pickup place", ("identity.pickup_cnpj", "512"), ("identity.pickup_cpf", "540")),
    ("entrega", "delivery place", ("identity.delivery_cnpj", "514"), ("identity.delivery_cpf", "541")),
)


@rule(
    ("identity.pickup_cnpj", "512"),
    ("identity.pickup_cpf", "540"),
    ("identity.delivery_cnpj", "514"),
    ("identity.delivery_cpf", "541"),
    kind=INVARIANT,
    description="retirada and entrega CNPJ or CPF have valid check digits",
)
def check_location_documents(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC F02-10/F02a-10 (512/540, pickup) and G02-10/G02a-10 (514/541, delivery)."""
    for group, what, cnpj_code, cpf_code in _LOCATIONS:
        place: Location | None = getattr(doc.infNFe, group)
        if place is not None:
            yield from _party_documents(place.CNPJ, place.CPF, what, ctx.path(group),
                                        cnpj_code=cnpj_code, cpf_code=cpf_code)


@rule(
    ("identity.download_cnpj", "323"),
    ("identity.download_cpf", "325"),
    ("identity.download_cnpj_is_recipient", "324"),
    ("identity.download_cpf_is_recipient", "326"),
    kind=INVARIANT,
    description="autXML CNPJ/CPF have valid check digits and do not repeat the recipient",
    # Repeating the recipient is a consistency rule, not a check digit: the authority may have waived it.
    code_kinds={"identity.download_cnpj_is_recipient": POLICY, "identity.download_cpf_is_recipient": POLICY},
)
def check_download_parties(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC GA02-10/GA03-10 (323/325) and GA02-20/GA03-20 (324/326): the recipient may already download."""
    dest = doc.dest
    dest_cnpj = dest.CNPJ if dest is not None else None
    dest_cpf = dest.CPF if dest is not None else None
    for index, party in enumerate(doc.infNFe.autXML, start=1):
        if party.CNPJ:
            path = ctx.path(f"autXML[{index}]/CNPJ")
            if not is_valid_cnpj(party.CNPJ):
                yield finding(
                    "identity.download_cnpj",
                    "323",
                    f"CNPJ {party.CNPJ} authorised to download the XML is zero or has invalid check digits",
                    path,
                )
            elif dest_cnpj == party.CNPJ:
                yield finding(
                    "identity.download_cnpj_is_recipient",
                    "324",
                    f"autXML CNPJ {party.CNPJ} is the recipient's, who may download the XML already",
                    path,
                )
        if party.CPF:
            path = ctx.path(f"autXML[{index}]/CPF")
            if not is_valid_cpf(party.CPF):
                yield finding(
                    "identity.download_cpf",
                    "325",
                    f"CPF {party.CPF} authorised to download the XML is invalid (check or repeated digits)",
                    path,
                )
            elif dest_cpf == party.CPF:
                yield finding(
                    "identity.download_cpf_is_recipient",
                    "326",
                    f"autXML CPF {party.CPF} is the recipient's, who may download the XML already",
                    path,
                )


@rule(
    ("identity.payment_institution_cnpj", "437"),
    ("identity.intermediary_cnpj", "440"),
    kind=INVARIANT,
    description="detPag/card/CNPJ and infIntermed/CNPJ have valid check digits",
)
def check_payment_parties(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC YA05-20 (437) and YB02-10 (440), NT 2020.006: the card acquirer and the marketplace."""
    pag = doc.infNFe.pag
    if pag is not None:
        for index, detail in enumerate(pag.detPag, start=1):
            card = detail.card
            if card is not None and card.CNPJ and not is_valid_cnpj(card.CNPJ):
                yield finding(
                    "identity.payment_institution_cnpj",
                    "437",
                    f"payment institution CNPJ {card.CNPJ} is zero or has invalid check digits",
                    ctx.path(f"pag/detPag[{index}]/card/CNPJ"),
                )
    intermediary = doc.infNFe.infIntermed
    if intermediary is not None and intermediary.CNPJ and not is_valid_cnpj(intermediary.CNPJ):
        yield finding(
            "identity.intermediary_cnpj",
            "440",
            f"intermediary (marketplace) CNPJ {intermediary.CNPJ} is zero or has invalid check digits",
            ctx.path("infIntermed/CNPJ"),
        )


@rule(
    ("identity.technical_responsible_cnpj", "973"),
    kind=INVARIANT,
    description="infRespTec/CNPJ (the software house) has valid check digits",
)
def check_technical_responsible(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC ZD02-10 (973, NT 2018.005)."""
    responsible = doc.infNFe.infRespTec
    if responsible is not None and responsible.CNPJ and not is_valid_cnpj(responsible.CNPJ):
        yield finding(
            "identity.technical_responsible_cnpj",
            "973",
            f"technical responsible CNPJ {responsible.CNPJ} is zero or has invalid check digits",
            ctx.path("infRespTec/CNPJ"),
        )


@rule(
    ("identity.recipient_is_emitter", "220"),
    ("identity.recipient_is_emitter_nfe", None, Severity.WARNING),
    kind=POLICY,
    description="the recipient is not the emitter itself (an error on NFC-e, a warning on NF-e: transfers)",
)
def check_recipient_is_emitter(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC E02-20 (220) applies to the NFC-e only; on an NF-e a transfer between the same CNPJ is legal,
    but on a marketplace sale it usually means the emitter was copied into dest, so it is worth a warning."""
    dest = doc.dest
    emitter = doc.emit.CNPJ
    if dest is None or emitter is None or emitter != dest.CNPJ:
        return
    if doc.is_nfce:
        yield finding(
            "identity.recipient_is_emitter",
            "220",
            f"NFC-e recipient CNPJ {emitter} is the emitter's own CNPJ",
            ctx.path("dest/CNPJ"),
        )
    else:
        yield finding(
            "identity.recipient_is_emitter_nfe",
            None,
            f"recipient CNPJ {emitter} is the emitter's own CNPJ: fine for a transfer, unexpected for a sale",
            ctx.path("dest/CNPJ"),
            Severity.WARNING,
        )


# ------------------------------------------------------------------------------------- municipalities


@rule(("identity.uf", "226"), kind=POLICY, description="ide/cUF is the IBGE code of the emitter's state (enderEmit/UF)")
def check_emitter_state(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC B02-10 (226): the authorising state is the emitter's. Offline, the emitter's state is
    enderEmit/UF, or the first two digits of enderEmit/cMun when UF is missing."""
    state_code = doc.ide.cUF
    address = doc.emit.enderEmit
    if state_code is None or address is None:
        return
    if address.UF is not None:
        expected, source = UF_CODES.get(address.UF), f"enderEmit/UF {address.UF}"
    elif address.cMun is not None:
        expected, source = address.cMun[:2], f"enderEmit/cMun {address.cMun}"
    else:
        return
    if expected is not None and state_code != expected:
        yield finding(
            "identity.uf",
            "226",
            f"ide/cUF is {state_code}, expected {expected} from the emitter's {source}",
            ctx.path("ide/cUF"),
        )


# role -> (check-digit code, its sefaz, state code, its sefaz, label in messages)
_MUNICIPALITY_CODES: Final = {
    "emitter": ("identity.emitter_cmun_digit", "272", "identity.emitter_cmun_uf", "273", "emitter municipality"),
    "recipient": (
        "identity.recipient_cmun_digit", "274", "identity.recipient_cmun_uf", "275", "recipient municipality",
    ),
    "pickup": ("identity.pickup_cmun_digit", "276", "identity.pickup_cmun_uf", "277", "pickup municipality"),
    "delivery": (
        "identity.delivery_cmun_digit", "278", "identity.delivery_cmun_uf", "279", "delivery municipality",
    ),
}  # fmt: skip


def _municipality_findings(code: str | None, state: str | None, role: str, path: str) -> Iterator[Finding]:
    """The two checks every address shares: IBGE check digit, and first two digits = the state's code."""
    if code is None:
        return
    digit_code, digit_sefaz, state_code, state_sefaz, what = _MUNICIPALITY_CODES[role]
    if not is_valid_municipality(code):
        yield finding(digit_code, digit_sefaz, f"{what} {code} is not a valid IBGE code (check digit)", path)
    elif state is not None and state != FOREIGN_UF:
        expected = UF_CODES.get(state)
        if expected is not None and code[:2] != expected:
            yield finding(
                state_code, state_sefaz, f"{what} {code} starts with {code[:2]}, expected {expected} ({state})", path
            )


@rule(
    ("identity.cmunfg_digit", "270"),
    ("identity.cmunfg_uf", "271"),
    kind=POLICY,
    description="ide/cMunFG is a valid IBGE code in the emitter's state",
)
def check_taxable_event_municipality(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC B12-10/B12-20 (270/271): the check digit stands in for "exists in the IBGE table"."""
    ide = doc.ide
    code = ide.cMunFG
    if code is None:
        return
    if not is_valid_municipality(code):
        yield finding(
            "identity.cmunfg_digit",
            "270",
            f"ide/cMunFG {code} is not a valid IBGE code (check digit)",
            ctx.path("ide/cMunFG"),
        )
    elif ide.cUF is not None and code[:2] != ide.cUF:
        yield finding(
            "identity.cmunfg_uf",
            "271",
            f"ide/cMunFG {code} starts with {code[:2]}, expected {ide.cUF} (ide/cUF)",
            ctx.path("ide/cMunFG"),
        )


@rule(
    ("identity.emitter_cmun_digit", "272"),
    ("identity.emitter_cmun_uf", "273"),
    kind=POLICY,
    description="enderEmit/cMun is a valid IBGE code in enderEmit/UF",
)
def check_emitter_municipality(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC C10-10/C10-20 (272/273)."""
    address = doc.emit.enderEmit
    if address is None:
        return
    yield from _municipality_findings(address.cMun, address.UF, "emitter", ctx.path("emit/enderEmit/cMun"))


@rule(
    ("identity.recipient_cmun_digit", "274"),
    ("identity.recipient_cmun_uf", "275"),
    ("identity.pickup_cmun_digit", "276"),
    ("identity.pickup_cmun_uf", "277"),
    ("identity.delivery_cmun_digit", "278"),
    ("identity.delivery_cmun_uf", "279"),
    kind=POLICY,
    description="dest, retirada and entrega municipality codes are valid IBGE codes in their states",
)
def check_party_municipalities(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC E10-10/E10-20 (274/275), F07-20/F07-30 (276/277), G07-20/G07-30 (278/279); addresses abroad
    (UF EX) are left to 509/513/515."""
    dest = doc.dest
    address: Address | None = dest.enderDest if dest is not None else None
    if address is not None:
        yield from _municipality_findings(address.cMun, address.UF, "recipient", ctx.path("dest/enderDest/cMun"))
    pickup, delivery = doc.infNFe.retirada, doc.infNFe.entrega
    if pickup is not None:
        yield from _municipality_findings(pickup.cMun, pickup.UF, "pickup", ctx.path("retirada/cMun"))
    if delivery is not None:
        yield from _municipality_findings(delivery.cMun, delivery.UF, "delivery", ctx.path("entrega/cMun"))


# -------------------------------------------------------------------------------------------- items


@rule(
    ("identity.manufacturer_cnpj", "489"),
    kind=INVARIANT,
    description="det/prod/CNPJFab (manufacturer of goods not made at relevant scale) has valid check digits",
)
def check_manufacturer_cnpj(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC I05e-20 (489, NT 2016.002)."""
    for index, item in enumerate(doc.items, start=1):
        prod = item.prod
        if prod is not None and prod.CNPJFab and not is_valid_cnpj(prod.CNPJFab):
            yield finding(
                "identity.manufacturer_cnpj",
                "489",
                f"item {index}: manufacturer CNPJ {prod.CNPJFab} is zero or has invalid check digits",
                ctx.path(f"det[{index}]/prod/CNPJFab"),
            )


# GS1 prefixes assigned to member organisations or special uses (restricted circulation 020-029, 040-049,
# 200-299; ISSN/ISBN; coupons), as in GS1's public prefix list and ACBr's ValidarPrefixoGTIN (the SEFAZ
# "Tabela Prefixo GS1" is not in any corpus we could read, so 882/884 are warnings). Inclusive ranges.
_GS1_PREFIX_RANGES: Final = (
    (0, 139), (200, 380), (383, 383), (385, 385), (387, 387), (389, 389), (400, 440), (450, 471),
    (474, 489), (490, 509), (520, 521), (528, 531), (535, 535), (539, 549), (560, 560), (569, 579),
    (590, 590), (594, 594), (599, 601), (603, 604), (608, 609), (611, 611), (613, 613), (615, 616),
    (618, 629), (640, 649), (690, 709), (729, 746), (750, 750), (754, 755), (759, 771), (773, 773),
    (775, 775), (777, 780), (784, 784), (786, 786), (789, 790), (800, 850), (858, 860), (865, 865),
    (867, 880), (884, 885), (888, 888), (890, 890), (893, 893), (896, 896), (899, 919), (930, 951),
    (955, 955), (958, 958), (960, 969), (977, 984), (990, 999),
)  # fmt: skip
_GS1_PREFIXES: Final = frozenset(number for start, end in _GS1_PREFIX_RANGES for number in range(start, end + 1))


# NT 2017.001 created the GTIN rules but v1.30 postponed them in production ("implementação futura");
# NT 2021.003 "Etapa 1" switched them on. SEFAZ-MA announced the obligation from 12/09/2022 (a secondary
# source: confirm against the NT). Authorised documents from before carry empty or bad GTINs legally.
GTIN_RULES_START: Final = date(2022, 9, 12)


def _gtin_rules_apply(doc: NFeDocument) -> bool:
    return in_force(doc, GTIN_RULES_START)


def gtin_prefix(code: str) -> int:
    """The 3-digit GS1 prefix of a valid GTIN: skip the GTIN-14 indicator, or read a GTIN-8 as such."""
    padded = code.zfill(14)
    return int(padded[6:9]) if padded.startswith("000000") else int(padded[1:4])


@functools.lru_cache(maxsize=16384)
def _gtin_status(code: str) -> int:
    """0 valid, 1 bad check digit/length/characters, 2 unassigned GS1 prefix (cached: products recur)."""
    if not gtin.is_valid(code):
        return 1
    return 0 if gtin_prefix(code) in _GS1_PREFIXES else 2


def _has_gtin(value: str | None) -> bool:
    """True when the field holds a code (anything but absent, empty or the literal SEM GTIN)."""
    return bool(value) and value != gtin.NO_GTIN


# (field, label, invalid code, invalid sefaz, prefix code, prefix sefaz)
_GTIN_FIELDS: Final = (
    ("cEAN", "GTIN (cEAN)", "identity.gtin", "611", "identity.gtin_prefix", "882"),
    (
        "cEANTrib",
        "taxable-unit GTIN (cEANTrib)",
        "identity.gtin_trib",
        "612",
        "identity.gtin_trib_prefix",
        "884",
    ),
)


@rule(
    ("identity.gtin", "611"),
    ("identity.gtin_trib", "612"),
    ("identity.gtin_prefix", "882", Severity.WARNING),
    ("identity.gtin_trib_prefix", "884", Severity.WARNING),
    kind=INVARIANT,
    description="cEAN and cEANTrib, unless SEM GTIN, are GTIN-8/12/13/14 with a valid check digit and prefix",
    # The GS1 prefix table changes over time (a policy); the check digit does not (an invariant).
    code_kinds={"identity.gtin_prefix": POLICY, "identity.gtin_trib_prefix": POLICY},
)
def check_gtin_codes(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC I03-10/I12-10 (611/612) and I03-20/I12-20 (882/884), NT 2017.001 / NT 2021.003."""
    if not _gtin_rules_apply(doc):
        return
    for index, item in enumerate(doc.items, start=1):
        prod = item.prod
        if prod is None:
            continue
        for field, label, bad_code, bad_sefaz, prefix_code, prefix_sefaz in _GTIN_FIELDS:
            value: str | None = getattr(prod, field)
            if value is None or not _has_gtin(value):
                continue
            status = _gtin_status(value)
            if status == 0:
                continue
            path = ctx.path(f"det[{index}]/prod/{field}")
            if status == 1:
                yield finding(
                    bad_code,
                    bad_sefaz,
                    f"item {index}: {label} {value!r} is not a GTIN-8/12/13/14 with a valid check digit",
                    path,
                )
            else:
                yield finding(
                    prefix_code,
                    prefix_sefaz,
                    f"item {index}: {label} {value} has GS1 prefix {gtin_prefix(value):03d}, "
                    "which is not assigned to any GS1 organisation",
                    path,
                    Severity.WARNING,
                )


@rule(
    ("identity.gtin_empty", "883"),
    ("identity.gtin_trib_empty", "888"),
    ("identity.gtin_trib_missing", "885"),
    ("identity.gtin_missing", "886"),
    kind=POLICY,
    description="cEAN and cEANTrib are filled (SEM GTIN when there is none) and come in pairs",
)
def check_gtin_pairing(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC I03-30/I12-60 (883/888: empty, write SEM GTIN) and I12-30/I12-40 (885/886: a GTIN on one unit
    requires a GTIN on the other), NT 2017.001 / NT 2021.003."""
    if not _gtin_rules_apply(doc):
        return
    for index, item in enumerate(doc.items, start=1):
        prod = item.prod
        if prod is None:
            continue
        ean, ean_trib = prod.cEAN, prod.cEANTrib
        if ean == "":
            yield finding(
                "identity.gtin_empty",
                "883",
                f"item {index}: cEAN is empty, expected a GTIN or SEM GTIN",
                ctx.path(f"det[{index}]/prod/cEAN"),
            )
        if ean_trib == "":
            yield finding(
                "identity.gtin_trib_empty",
                "888",
                f"item {index}: cEANTrib is empty, expected a GTIN or SEM GTIN",
                ctx.path(f"det[{index}]/prod/cEANTrib"),
            )
        if ean is None or ean_trib is None:
            continue
        if _has_gtin(ean) and not _has_gtin(ean_trib):
            yield finding(
                "identity.gtin_trib_missing",
                "885",
                f"item {index}: cEAN has GTIN {ean} but cEANTrib is {ean_trib!r}, expected the taxable unit's GTIN",
                ctx.path(f"det[{index}]/prod/cEANTrib"),
            )
        elif _has_gtin(ean_trib) and not _has_gtin(ean):
            yield finding(
                "identity.gtin_missing",
                "886",
                f"item {index}: cEANTrib has GTIN {ean_trib} but cEAN is {ean!r}, expected the product's GTIN",
                ctx.path(f"det[{index}]/prod/cEAN"),
            )


@rule(
    ("identity.ncm", "777"),
    ("identity.ncm_services_only", "471"),
    kind=POLICY,
    description="NCM has all 8 digits; the code 00 only on service items (ISSQN) or adjustment NF-e",
)
def check_ncm(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC I05-10 (777, NT 2013/005) and I05-24 (471, NT 2014/004)."""
    adjustment = doc.ide.finNFe == "3"
    for index, item in enumerate(doc.items, start=1):
        prod = item.prod
        ncm = prod.NCM if prod is not None else None
        if ncm is None or len(ncm) == 8:
            continue
        path = ctx.path(f"det[{index}]/prod/NCM")
        if ncm != "00":
            yield finding("identity.ncm", "777", f"item {index}: NCM is {ncm!r}, expected the full 8 digits", path)
        elif not adjustment and (item.imposto is None or item.imposto.ISSQN is None):
            yield finding(
                "identity.ncm_services_only",
                "471",
                f"item {index}: NCM is 00, which only a service item (with ISSQN) may use, expected 8 digits",
                path,
            )


@rule(
    ("identity.item_order", "927"),
    kind=POLICY,
    description="det/@nItem numbers the items 1, 2, 3... in document order",
)
def check_item_numbering(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC H02-10 (927, NT 2019.001): items are numbered consecutively from 1. Reports the first break."""
    for index, item in enumerate(doc.items, start=1):
        if item.nItem is not None and item.nItem != index:
            yield finding(
                "identity.item_order",
                "927",
                f"item {index} has nItem {item.nItem}, expected {index}",
                ctx.path(f"det[{index}]/@nItem"),
            )
            return
