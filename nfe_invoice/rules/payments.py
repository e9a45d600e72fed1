"""Payment (pag/detPag), change (vTroco), billing (cobr/fat, cobr/dup) and intermediary rules.

Money is compared as Decimal rounded half-up to the cent (:func:`base.cents`), never as float. Sources:
MOC 7.0 rules YA01 (769), YA02-04/10/40/50 (871, 857, 899, 436), YA03-10/20/30 (865, 866, 904), YA09-10
(869), Y05-10/Y06-10/Y10-10 (901, 902, 851), B25c-10/20 (434/435) and YB01-10/20 (438/439) from NT
2020.006, and ACBr ``ACBrNFe.ValidarRegrasdeNegocio.pas`` for the tolerances (869 only when vTroco > 0;
851 when the installments fall short of vLiq).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Final

from ..findings import Finding, Severity
from ..model import NFeDocument, Payment
from ._common import in_force
from .base import INVARIANT, NFCE_ONLY, POLICY, ZERO, RuleContext, brl, cents, finding, rule

NO_PAYMENT: Final = "90"  # tPag "Sem pagamento"
OTHER: Final = "99"  # tPag "Outros"
TRADE_BILL: Final = "14"  # tPag "Duplicata Mercantil"
_NO_PAYMENT_PURPOSES: Final = frozenset({"3", "4"})  # finNFe ajuste, devolução
_REMOTE_PRESENCE: Final = frozenset({"2", "3", "4", "9"})  # internet, telephone, home delivery, other
_INTERMEDIARY_PRESENCE: Final = frozenset({"1", *_REMOTE_PRESENCE})  # where a marketplace may have taken part
# NT 2020.006 (intermediary, xPag, card CNPJ): MOC notes "01/02/2021 homologação, 01/09/2021 produção".
NT_2020_006_PRODUCTION: Final = date(2021, 9, 1)
NT_2020_006_HOMOLOGATION: Final = date(2021, 2, 1)
# Rule B25c-10 (434) as NT 2020.006 v1.30 (July 2021) left it: only outgoing (tpNF 1) normal (finNFe 1)
# documents, enforced from 04/04/2022 in production (23/08/2021 in homologation), and never for the
# electricity and communication CFOPs of its "Exceção 1". v1.20 had already dropped indPres 1 from it.
NT_2020_006_434_PRODUCTION: Final = date(2022, 4, 4)
NT_2020_006_434_HOMOLOGATION: Final = date(2021, 8, 23)
INTERMEDIARY_EXEMPT_CFOPS: Final = frozenset(
    {"5205", "5206", "5207"} | {str(cfop) for cfop in range(5251, 5259)} | {str(cfop) for cfop in range(5301, 5308)}
)


def _details(doc: NFeDocument) -> Payment | None:
    pag = doc.infNFe.pag
    return pag if pag is not None and pag.detPag else None


def _paid(pag: Payment) -> Decimal:
    """Σ detPag/vPag, to the cent."""
    return cents(sum((cents(detail.vPag) for detail in pag.detPag), ZERO))


def _nt_2020_006(doc: NFeDocument) -> bool:
    return in_force(doc, NT_2020_006_PRODUCTION, NT_2020_006_HOMOLOGATION)


@rule(
    ("payment.missing", "769"),
    kind=POLICY,
    description="layout 4.00 documents carry the pag group with at least one detPag",
)
def check_payment_present(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """769 (ACBr; MOC YA01): since layout 4.00 every NF-e and NFC-e says how it was paid (tPag 90 if not)."""
    if _details(doc) is None:
        yield finding(
            "payment.missing",
            "769",
            "the document has no payment group (pag/detPag), expected at least one (tPag 90 when there is no payment)",
            ctx.path("pag"),
        )


@rule(
    ("payment.insufficient", "865"),
    kind=INVARIANT,
    models=NFCE_ONLY,
    description="on an NFC-e sale, Σ detPag/vPag is at least vNF",
)
def check_payments_cover_total(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC YA03-10 (865): NFC-e only; not for finNFe 3/4 nor when some tPag is 90 (no payment)."""
    pag, total = _details(doc), doc.totals.vNF
    if not doc.is_nfce or pag is None or total is None or doc.ide.finNFe in _NO_PAYMENT_PURPOSES:
        return
    if any(detail.tPag == NO_PAYMENT for detail in pag.detPag):
        return
    paid = _paid(pag)
    if paid < cents(total):
        yield finding(
            "payment.insufficient",
            "865",
            f"payments add up to {brl(paid)}, less than the total vNF {brl(total)}",
            ctx.path("pag"),
        )


@rule(
    ("payment.change_missing", "866"),
    ("payment.change_incorrect", "869"),
    kind=INVARIANT,
    description="overpayment is returned as vTroco, and vTroco = Σ vPag − vNF",
)
def check_change(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC YA03-20 (866: paid more than vNF without vTroco) and YA09-10 (869: vTroco ≠ Σ vPag − vNF).
    869 is judged only when vTroco > 0, as ACBr does: a zero vTroco beside tPag 90 is legitimate."""
    pag, total = _details(doc), doc.totals.vNF
    if pag is None or total is None:
        return
    paid, expected_total = _paid(pag), cents(total)
    change = pag.vTroco
    if change is None:
        if paid > expected_total:
            yield finding(
                "payment.change_missing",
                "866",
                f"payments add up to {brl(paid)}, more than vNF {brl(total)}, but no change (vTroco) is informed",
                ctx.path("pag"),
            )
    elif cents(change) > ZERO and cents(change) != paid - expected_total:
        yield finding(
            "payment.change_incorrect",
            "869",
            f"vTroco is {brl(change)}, expected {brl(paid - expected_total)} (payments {brl(paid)} − vNF {brl(total)})",
            ctx.path("pag/vTroco"),
        )


@rule(
    ("payment.no_payment_required", "871"),
    ("payment.nfce_no_payment", "899"),
    ("payment.no_payment_value", "904"),
    kind=POLICY,
    description="tPag 90 (no payment) is used on adjustment/return NF-e, never on an NFC-e, and with vPag 0",
)
def check_no_payment(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC YA02-04 (871: finNFe 3/4 on model 55 must use tPag 90), YA02-40 (899: an NFC-e is a sale and
    cannot use 90) and YA03-30 (904: tPag 90 with a non-zero vPag)."""
    pag = _details(doc)
    if pag is None:
        return
    ide = doc.ide
    for index, detail in enumerate(pag.detPag, start=1):
        path = ctx.path(f"pag/detPag[{index}]/tPag")
        if detail.tPag == NO_PAYMENT:
            if doc.is_nfce:
                yield finding(
                    "payment.nfce_no_payment",
                    "899",
                    "NFC-e payment has tPag 90 (no payment), expected a means of payment",
                    path,
                )
            if cents(detail.vPag) != ZERO:
                yield finding(
                    "payment.no_payment_value",
                    "904",
                    f"payment {index} has tPag 90 (no payment) but vPag {brl(detail.vPag)}, expected 0.00",
                    ctx.path(f"pag/detPag[{index}]/vPag"),
                )
        elif ide.mod == "55" and ide.finNFe in _NO_PAYMENT_PURPOSES and detail.tPag is not None:
            yield finding(
                "payment.no_payment_required",
                "871",
                f"finNFe {ide.finNFe} (adjustment or return) has tPag {detail.tPag}, expected 90 (no payment)",
                path,
            )


@rule(
    ("payment.other_description", "441"),
    ("payment.nfce_other", "436", Severity.WARNING),
    ("payment.nfce_trade_bill", "857"),
    kind=POLICY,
    description="tPag 99 (other) carries xPag; an NFC-e avoids 99 and cannot use 14 (trade bill)",
)
def check_payment_means(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """441 (NT 2020.006: tPag 99 requires xPag), MOC YA02-50 (436: tPag 99 on an NFC-e; a warning, since
    UFs apply it unevenly) and YA02-10 (857: duplicata mercantil is not a payment at the counter)."""
    pag = _details(doc)
    if pag is None:
        return
    recent = _nt_2020_006(doc)
    for index, detail in enumerate(pag.detPag, start=1):
        path = ctx.path(f"pag/detPag[{index}]/tPag")
        if detail.tPag == OTHER:
            if recent and not detail.xPag:
                yield finding(
                    "payment.other_description",
                    "441",
                    f"payment {index} has tPag 99 (other) without xPag, expected a description of the means",
                    ctx.path(f"pag/detPag[{index}]/xPag"),
                )
            if doc.is_nfce and recent:
                yield finding(
                    "payment.nfce_other",
                    "436",
                    f"NFC-e payment {index} has tPag 99 (other), which SEFAZ may refuse, expected a specific means",
                    path,
                    Severity.WARNING,
                )
        elif detail.tPag == TRADE_BILL and doc.is_nfce:
            yield finding(
                "payment.nfce_trade_bill",
                "857",
                f"NFC-e payment {index} has tPag 14 (duplicata mercantil), expected a means of payment at the sale",
                path,
            )


@rule(
    ("payment.invoice_discount", "901"),
    ("payment.invoice_net", "902"),
    kind=INVARIANT,
    description="cobr/fat: vDesc is not more than vOrig, and vLiq = vOrig − vDesc",
)
def check_invoice_values(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC Y05-10 (901) and Y06-10 (902), NT 2016.002; an absent vDesc counts as zero."""
    billing = doc.infNFe.cobr
    invoice = billing.fat if billing is not None else None
    if invoice is None or invoice.vOrig is None:
        return
    original, discount = cents(invoice.vOrig), cents(invoice.vDesc)
    if discount > original:
        yield finding(
            "payment.invoice_discount",
            "901",
            f"invoice discount vDesc {brl(discount)} is more than the original value vOrig {brl(original)}",
            ctx.path("cobr/fat/vDesc"),
        )
    if invoice.vLiq is not None and cents(invoice.vLiq) != original - discount:
        yield finding(
            "payment.invoice_net",
            "902",
            f"invoice net value vLiq is {brl(invoice.vLiq)}, expected {brl(original - discount)} "
            f"(vOrig {brl(original)} − vDesc {brl(discount)})",
            ctx.path("cobr/fat/vLiq"),
        )


@rule(
    ("payment.installments_short", "851"),
    ("payment.installments_excess", "851", Severity.WARNING),
    kind=POLICY,
    description="Σ cobr/dup/vDup covers cobr/fat/vLiq (less is an error, more a warning)",
)
def check_installments_total(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC Y10-10 (851, NT 2016.002) says the installments must add up to vLiq; ACBr rejects only a sum
    below vLiq, so a sum above it (interest, rounding) is reported as a warning."""
    billing = doc.infNFe.cobr
    if billing is None or billing.fat is None or billing.fat.vLiq is None or not billing.dup:
        return
    net = cents(billing.fat.vLiq)
    total = cents(sum((cents(installment.vDup) for installment in billing.dup), ZERO))
    if total < net:
        yield finding(
            "payment.installments_short",
            "851",
            f"installments add up to {brl(total)}, less than the invoice net value vLiq {brl(net)}",
            ctx.path("cobr/dup"),
        )
    elif total > net:
        yield finding(
            "payment.installments_excess",
            "851",
            f"installments add up to {brl(total)}, more than the invoice net value vLiq {brl(net)}",
            ctx.path("cobr/dup"),
            Severity.WARNING,
        )


@rule(
    ("payment.intermediary_indicator_missing", "434"),
    ("payment.intermediary_indicator_unexpected", "435"),
    kind=POLICY,
    description="ide/indIntermed is informed on outgoing normal remote sales (indPres 2, 3, 4, 9; from 2022-04-04, "
    "exempt CFOPs aside), and is not 1 with indPres 0 or 5 (NT 2020.006 v1.30)",
)
def check_intermediary_indicator(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """B25c-10 (434) and B25c-20 (435) as NT 2020.006 v1.30 states them, no wider.

    434: an outgoing (tpNF 1), normal (finNFe 1) sale that is not in person (indPres 2, 3, 4, 9) says
    whether a marketplace was involved; from 04/04/2022 in production, and not when an item carries
    one of the exempt CFOPs (the NT names CFOPs, not documents: one such item exempts the document,
    so we never reject what SEFAZ may accept). 435 (v1.20 on): a marketplace (indIntermed 1) cannot be
    declared where no sale can have gone through one (indPres 0 "not applicable" or 5 "in person,
    outside the establishment"); indIntermed 0 is accepted anywhere, and so is 1 in person (indPres 1).
    """
    ide = doc.ide
    if ide.indPres is None:
        return
    if (
        ide.indPres in _REMOTE_PRESENCE
        and ide.indIntermed is None
        and ide.tpNF == "1"
        and ide.finNFe == "1"
        and in_force(doc, NT_2020_006_434_PRODUCTION, NT_2020_006_434_HOMOLOGATION)
        and not any(item.prod is not None and item.prod.CFOP in INTERMEDIARY_EXEMPT_CFOPS for item in doc.items)
    ):
        yield finding(
            "payment.intermediary_indicator_missing",
            "434",
            f"indPres is {ide.indPres} (not in person) but indIntermed is missing, expected 0 (own site) or "
            "1 (marketplace)",
            ctx.path("ide/indPres"),
        )
    elif ide.indIntermed == "1" and ide.indPres not in _INTERMEDIARY_PRESENCE and _nt_2020_006(doc):
        yield finding(
            "payment.intermediary_indicator_unexpected",
            "435",
            f"indPres is {ide.indPres} but indIntermed is 1 (marketplace), expected a marketplace sale only "
            "with indPres 1, 2, 3, 4 or 9",
            ctx.path("ide/indIntermed"),
        )


@rule(
    ("payment.intermediary_missing", "438"),
    ("payment.intermediary_unexpected", "439"),
    kind=POLICY,
    description="infIntermed is present exactly when indIntermed is 1 (marketplace sale)",
)
def check_intermediary_group(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC YB01-10/YB01-20 (438/439, NT 2020.006). The MOC lists model 55; the rule is a plain consistency
    of two fields, so it is applied to the NFC-e too."""
    if not _nt_2020_006(doc):
        return
    indicator, group = doc.ide.indIntermed, doc.infNFe.infIntermed
    if indicator == "1" and group is None:
        yield finding(
            "payment.intermediary_missing",
            "438",
            "indIntermed is 1 (marketplace sale) but infIntermed is missing, expected the intermediary's CNPJ",
            ctx.path("ide/indIntermed"),
        )
    elif indicator != "1" and group is not None:
        shown = indicator if indicator is not None else "absent"
        yield finding(
            "payment.intermediary_unexpected",
            "439",
            f"infIntermed is informed but indIntermed is {shown}, expected 1 (marketplace sale)",
            ctx.path("infIntermed"),
        )
