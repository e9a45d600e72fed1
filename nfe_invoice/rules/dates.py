"""Date rules: emission, exit/entry, contingency and installment dates.

The MOC defines the time rules against the moment SEFAZ received the document; offline that moment is
:attr:`RuleContext.now` (the protocol's dhRecbto for an nfeProc, else the caller's clock). Rules that need it
are skipped when it is None. All comparisons use timezone-aware datetimes (dhEmi carries its UTC offset).
Sources: MOC 7.0 rules B09-10/20/40 (703, 228, 704), B10-20/30/40 (504, 505, 506), B28-10/20/30/40
(556, 557, 558, 569), Y09-20/30 (900, 850; NT 2016.002), I80 rastro (877, 870; ``shared/sefaz/offline-rules.md``
§B); ACBr ``ACBrNFe.ValidarRegrasdeNegocio.pas``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Final

from ..findings import Finding
from ..model import NFeDocument
from ._common import reference_now
from .base import NFCE_ONLY, NFE_ONLY, POLICY, RuleContext, finding, rule

CLOCK_TOLERANCE: Final = timedelta(minutes=5)  # MOC B09-10/B09-40/B28-30: clock skew between emitter and SEFAZ
LATE_LIMIT: Final = timedelta(days=30)  # MOC B09-20 (228), B10-20/30 (504/505), B28-40 (569)
_ON_TIME_EMISSION: Final = frozenset({"1", "3", "6", "7"})  # normal, SCAN, SVC-AN, SVC-RS: sent at once
_CONTINGENCY_OFFLINE: Final = frozenset({"2", "4", "5", "9"})  # FS-IA, EPEC, FS-DA, NFC-e offline
_AUTHORISED_LATE: Final = "150"  # cStat "autorizado fora de prazo": SEFAZ accepted the delay knowingly


def _authorised_late(doc: NFeDocument) -> bool:
    return doc.protocol is not None and doc.protocol.cStat == _AUTHORISED_LATE


def _ago(delta: timedelta) -> str:
    """A duration for messages: ``3 days 2:00:00`` style, without microseconds."""
    return str(delta - timedelta(microseconds=delta.microseconds))


@rule(
    ("date.emission_after_receipt", "703"),
    kind=POLICY,
    description="dhEmi is not later than the receipt time (+5 min)",
)
def check_emission_not_in_future(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC B09-10 (703): dhEmi may exceed the receipt time by the 5-minute clock tolerance only."""
    now, emitted = reference_now(ctx), doc.ide.dhEmi
    if now is None or emitted is None or emitted <= now + CLOCK_TOLERANCE:
        return
    yield finding(
        "date.emission_after_receipt",
        "703",
        f"dhEmi {emitted.isoformat()} is {_ago(emitted - now)} after the reception time {now.isoformat()}, "
        "expected at most 5 minutes",
        ctx.path("ide/dhEmi"),
    )


@rule(
    ("date.emission_too_old", "228"),
    kind=POLICY,
    models=NFE_ONLY,
    description="an NF-e is received within 30 days of dhEmi",
)
def check_emission_not_too_old(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC B09-20 (228): model 55 with tpEmis 1/3/6/7 received more than 30 days after dhEmi. Contingency
    emissions and protocols with cStat 150 (authorised late, on purpose) are exempt."""
    now, ide = reference_now(ctx), doc.ide
    emitted = ide.dhEmi
    if now is None or emitted is None or ide.mod != "55" or ide.tpEmis not in _ON_TIME_EMISSION:
        return
    if now - emitted > LATE_LIMIT and not _authorised_late(doc):
        yield finding(
            "date.emission_too_old",
            "228",
            f"dhEmi {emitted.isoformat()} is {_ago(now - emitted)} before the reception time "
            f"{now.isoformat()}, expected at most 30 days",
            ctx.path("ide/dhEmi"),
        )


@rule(
    ("date.nfce_late", "704"),
    kind=POLICY,
    models=NFCE_ONLY,
    description="an NFC-e issued online is received within 5 minutes of dhEmi",
)
def check_nfce_not_late(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC B09-40 (704): an NFC-e with tpEmis 1/3/6/7 is transmitted on line, with 5 minutes of tolerance
    (ACBr uses 10; the UF may configure more). Offline contingency (tpEmis 9) and cStat 150 are exempt."""
    now, ide = reference_now(ctx), doc.ide
    emitted = ide.dhEmi
    if now is None or emitted is None or ide.mod != "65" or ide.tpEmis not in _ON_TIME_EMISSION:
        return
    if now - emitted > CLOCK_TOLERANCE and not _authorised_late(doc):
        yield finding(
            "date.nfce_late",
            "704",
            f"NFC-e dhEmi {emitted.isoformat()} is {_ago(now - emitted)} before the reception time "
            f"{now.isoformat()}, expected at most 5 minutes for an on-line emission",
            ctx.path("ide/dhEmi"),
        )


@rule(
    ("date.exit_too_late", "504"),
    ("date.exit_too_early", "505"),
    kind=POLICY,
    models=NFE_ONLY,
    description="dhSaiEnt is within 30 days of the reception time",
)
def check_exit_date_window(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC B10-20/B10-30 (504/505): the exit/entry date may not be more than 30 days from authorisation."""
    now, moment = reference_now(ctx), doc.ide.dhSaiEnt
    if now is None or moment is None or doc.ide.mod != "55":
        return
    if moment - now > LATE_LIMIT:
        yield finding(
            "date.exit_too_late",
            "504",
            f"dhSaiEnt {moment.isoformat()} is {_ago(moment - now)} after the reception time, expected at most 30 days",
            ctx.path("ide/dhSaiEnt"),
        )
    elif now - moment > LATE_LIMIT:
        yield finding(
            "date.exit_too_early",
            "505",
            f"dhSaiEnt {moment.isoformat()} is {_ago(now - moment)} before the reception time, "
            "expected at most 30 days",
            ctx.path("ide/dhSaiEnt"),
        )


@rule(
    ("date.exit_before_emission", "506"),
    kind=POLICY,
    description="on an outgoing NF-e, dhSaiEnt is not before dhEmi",
)
def check_exit_after_emission(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC B10-40 (506): goods cannot leave before the document that covers them (tpNF=1 only)."""
    ide = doc.ide
    if ide.tpNF != "1" or ide.dhSaiEnt is None or ide.dhEmi is None:
        return
    if ide.dhSaiEnt < ide.dhEmi:
        yield finding(
            "date.exit_before_emission",
            "506",
            f"dhSaiEnt {ide.dhSaiEnt.isoformat()} is before dhEmi {ide.dhEmi.isoformat()}, expected the same "
            "moment or later",
            ctx.path("ide/dhSaiEnt"),
        )


@rule(
    ("date.contingency_unexpected", "556"),
    ("date.contingency_missing", "557"),
    kind=POLICY,
    description="dhCont and xJust appear exactly when tpEmis is an off-line contingency (2, 4, 5, 9)",
)
def check_contingency_justification(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC B28-10 (556: tpEmis=1 must not carry dhCont/xJust) and B28-20 (557: tpEmis 2/4/5/9 must)."""
    ide = doc.ide
    present = [name for name, value in (("dhCont", ide.dhCont), ("xJust", ide.xJust)) if value is not None]
    if ide.tpEmis == "1" and present:
        yield finding(
            "date.contingency_unexpected",
            "556",
            f"tpEmis is 1 (normal) but {' and '.join(present)} {'is' if len(present) == 1 else 'are'} "
            "informed, expected no contingency justification",
            ctx.path(f"ide/{present[0]}"),
        )
    elif ide.tpEmis in _CONTINGENCY_OFFLINE and len(present) < 2:
        missing = [name for name in ("dhCont", "xJust") if name not in present]
        yield finding(
            "date.contingency_missing",
            "557",
            f"tpEmis is {ide.tpEmis} (contingency) but {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} missing, expected when and why contingency began",
            ctx.path("ide/tpEmis"),
        )


@rule(
    ("date.contingency_after_receipt", "558"),
    ("date.contingency_too_old", "569"),
    kind=POLICY,
    description="dhCont is not after the reception time, nor more than 30 days before it",
)
def check_contingency_date(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC B28-30 (558, with the 5-minute tolerance) and B28-40 (569; ACBr: reception − dhCont > 30 days)."""
    now, started = reference_now(ctx), doc.ide.dhCont
    if now is None or started is None:
        return
    if started > now + CLOCK_TOLERANCE:
        yield finding(
            "date.contingency_after_receipt",
            "558",
            f"dhCont {started.isoformat()} is after the reception time {now.isoformat()}, expected earlier",
            ctx.path("ide/dhCont"),
        )
    elif now - started > LATE_LIMIT:
        yield finding(
            "date.contingency_too_old",
            "569",
            f"dhCont {started.isoformat()} is {_ago(now - started)} before the reception time, "
            "expected at most 30 days",
            ctx.path("ide/dhCont"),
        )


@rule(
    ("date.due_before_emission", "900"),
    ("date.due_out_of_order", "850"),
    kind=POLICY,
    models=NFE_ONLY,
    description="each cobr/dup/dVenc is informed, not before the emission date nor before the previous one",
)
def check_installment_dates(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC Y09-20 (900) and Y09-30 (850), NT 2016.002; model 55 (an NFC-e has no cobr at all, 760).
    The emission date is dhEmi's own calendar date, in the offset it was written with."""
    billing, emitted = doc.infNFe.cobr, doc.ide.dhEmi
    if billing is None or not billing.dup or doc.ide.mod != "55":
        return
    issued = emitted.date() if emitted is not None else None
    previous = None
    for index, installment in enumerate(billing.dup, start=1):
        due = installment.dVenc
        path = ctx.path(f"cobr/dup[{index}]/dVenc")
        if due is None:
            yield finding("date.due_before_emission", "900", f"installment {index} has no due date (dVenc)", path)
            continue
        if issued is not None and due < issued:
            yield finding(
                "date.due_before_emission",
                "900",
                f"installment {index} is due {due.isoformat()}, before the emission date {issued.isoformat()}, "
                "expected that date or later",
                path,
            )
        if previous is not None and due < previous:
            yield finding(
                "date.due_out_of_order",
                "850",
                f"installment {index} is due {due.isoformat()}, before installment {index - 1} "
                f"({previous.isoformat()}), expected non-decreasing due dates",
                path,
            )
        previous = due


@rule(
    ("date.batch_made_after_emission", "877"),
    ("date.batch_expires_before_made", "870"),
    kind=POLICY,
    description="each rastro batch was made on or before the emission date and expires on or after it was made",
)
def check_batch_dates(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """877 (dFab after the processing date) and 870 (dVal before dFab), per ``det/prod/rastro`` batch.

    SEFAZ compares dFab with its processing date, which offline is unknown or (with ``ctx.now``) a clock
    that may run days after the emission. dhEmi's own calendar date is the stricter bound that holds in
    both cases (an item cannot be made after the document that sells it), as offline-rules §B and ACBr
    do: ``dFab ≤ dhEmi``. Dates are calendar dates; dhEmi's date is read in the offset it was written with.
    """
    emitted = doc.ide.dhEmi
    issued = emitted.date() if emitted is not None else None
    for position, item in enumerate(doc.items, start=1):
        prod = item.prod
        if prod is None or not prod.rastro:
            continue
        number = item.nItem if item.nItem is not None else position
        for index, batch in enumerate(prod.rastro, start=1):
            made, expires = batch.dFab, batch.dVal
            where = f"det[{position}]/prod/rastro[{index}]"
            if made is not None and issued is not None and made > issued:
                yield finding(
                    "date.batch_made_after_emission",
                    "877",
                    f"item {number} batch {batch.nLote or index} was made on {made.isoformat()}, after the emission "
                    f"date {issued.isoformat()}, expected that date or earlier",
                    ctx.path(f"{where}/dFab"),
                )
            if made is not None and expires is not None and expires < made:
                yield finding(
                    "date.batch_expires_before_made",
                    "870",
                    f"item {number} batch {batch.nLote or index} expires on {expires.isoformat()}, before it was "
                    f"made ({made.isoformat()}), expected dVal on or after dFab",
                    ctx.path(f"{where}/dVal"),
                )
