"""Protocol (protNFe/infProt) rules: is this an authorised NF-e, and is the protocol really its own?

SEFAZ never receives an nfeProc, so there are no rejection codes for most of these: they are integrity
checks of the envelope we are handed. An authorised document is ``nfeProc`` = ``NFe`` + ``protNFe`` whose
chNFe is the key, whose digVal is the signature's DigestValue (binding the protocol to these exact bytes),
whose cStat is 100 or 150 and whose tpAmb is the document's. Sources: MOC 7.0 §5 (protocol layout,
cStat 100/150/110/301/302/303), offline-rules §J, ACBr ``ACBrDFeUtil.ValidarProtocolo``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Final

from ..findings import Finding, Severity
from ..identifiers import access_key
from ..model import NFeDocument, Protocol
from ._common import KEY_SHAPE, root_path
from .base import INTEGRITY, RuleContext, finding, rule

AUTHORISED: Final = frozenset({"100", "150"})
DENIED: Final = frozenset({"110", "301", "302", "303"})  # uso denegado: the number is burned, no NF-e exists
CLOCK_TOLERANCE: Final = timedelta(minutes=5)
_PROTOCOL_DIGITS: Final = 15


def _protocol(doc: NFeDocument) -> Protocol | None:
    """The protocol of an nfeProc (only that envelope is judged here)."""
    return doc.protocol if doc.root_tag == "nfeProc" else None


def binding_authorisation(doc: NFeDocument, digest_value: str | None) -> Protocol | None:
    """The protocol that authorises these very bytes, or None: the positive side of the rules below.

    cStat 100 or 150, chNFe equal to the access key, digVal equal to the signature's DigestValue (which
    only a signature check yields: without one, nothing binds the protocol to the content) and the
    protocol's environment the document's. Whether the signature itself verifies is the caller's to add.
    """
    protocol = _protocol(doc)
    if protocol is None or digest_value is None or protocol.cStat not in AUTHORISED:
        return None
    key, received_key = doc.access_key, protocol.chNFe
    if key is None or received_key is None or received_key.strip() != key:
        return None
    if protocol.digVal is None or protocol.digVal.strip() != digest_value.strip():
        return None
    if protocol.tpAmb is not None and doc.ide.tpAmb is not None and protocol.tpAmb != doc.ide.tpAmb:
        return None
    return protocol


@rule(
    ("protocol.missing", None),
    ("protocol.absent", None, Severity.WARNING),
    ("document.envi_nfe", None, Severity.WARNING),
    kind=INTEGRITY,
    description="the document is an nfeProc with its protocol (a bare NFe or an enviNFe is not authorised)",
)
def check_envelope(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """An nfeProc without protNFe/infProt is broken; a bare NFe or an enviNFe batch may be valid, but
    nothing shows SEFAZ authorised it, and VTEX submission refuses it later."""
    if doc.root_tag == "nfeProc":
        if doc.protocol is None:
            yield finding(
                "protocol.missing",
                None,
                "nfeProc has no protNFe/infProt, expected SEFAZ's protocol",
                root_path(ctx, "protNFe"),
            )
    elif doc.root_tag == "enviNFe":
        yield finding(
            "document.envi_nfe",
            None,
            "the document is an enviNFe sending batch, not an authorised document "
            "(expected an nfeProc with its protocol)",
            root_path(ctx),
            Severity.WARNING,
        )
    elif doc.protocol is None:
        yield finding(
            "protocol.absent",
            None,
            "the document is a bare NFe without protocol, not an authorised nfeProc",
            root_path(ctx),
            Severity.WARNING,
        )


@rule(
    ("protocol.key_mismatch", None),
    ("protocol.key_check_digit", "236"),
    kind=INTEGRITY,
    description="protNFe/infProt/chNFe is the document's access key, with a valid check digit",
)
def check_protocol_key(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """The protocol authorises one key: another key means the protocol belongs to another document.
    236 is SEFAZ's code for a received key with an invalid check digit."""
    protocol = _protocol(doc)
    if protocol is None or protocol.chNFe is None:
        return
    path = root_path(ctx, "protNFe/infProt/chNFe")
    received = protocol.chNFe.strip()
    key = doc.access_key
    if key is not None and received != key:
        yield finding(
            "protocol.key_mismatch",
            None,
            f"protocol chNFe is {received}, expected the document key {key}",
            path,
        )
    if KEY_SHAPE.fullmatch(received):
        expected = access_key.calc_check_digit(received[:43])
        if received[43] != expected:
            yield finding(
                "protocol.key_check_digit",
                "236",
                f"protocol chNFe check digit is {received[43]}, expected {expected}",
                path,
            )


@rule(("protocol.digval", None), kind=INTEGRITY, description="protNFe/infProt/digVal is the signature's DigestValue")
def check_protocol_digest(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """digVal binds the protocol to the exact signed bytes: a different value means the NFe was changed
    (or swapped) after authorisation. Skipped when the DigestValue is unknown (unsigned, or not checked)."""
    protocol = _protocol(doc)
    if protocol is None or protocol.digVal is None or ctx.digest_value is None:
        return
    received, signed = protocol.digVal.strip(), ctx.digest_value.strip()
    if received != signed:
        yield finding(
            "protocol.digval",
            None,
            f"protocol digVal is {received}, but the signature's DigestValue is {signed}: "
            "the document is not "
            "the one SEFAZ authorised",
            root_path(ctx, "protNFe/infProt/digVal"),
        )


@rule(("protocol.not_authorized", None), kind=INTEGRITY, description="protNFe/infProt/cStat is 100 or 150 (authorised)")
def check_protocol_status(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """cStat 100 (authorised) and 150 (authorised late) are the only ones that make a valid NF-e; 110/301/
    302/303 are uso denegado, anything else a rejection."""
    protocol = _protocol(doc)
    if protocol is None or protocol.cStat is None or protocol.cStat in AUTHORISED:
        return
    reason = f" ({protocol.xMotivo})" if protocol.xMotivo else ""
    kind = "use was denied (uso denegado)" if protocol.cStat in DENIED else "it was not authorised"
    yield finding(
        "protocol.not_authorized",
        None,
        f"protocol cStat is {protocol.cStat}{reason}: {kind}, expected 100 or 150",
        root_path(ctx, "protNFe/infProt/cStat"),
    )


@rule(("protocol.environment", "252"), kind=INTEGRITY, description="protNFe/infProt/tpAmb equals ide/tpAmb")
def check_protocol_environment(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """MOC B24-10 (252): the receiving environment, which the protocol records, is the document's."""
    protocol = _protocol(doc)
    if protocol is None or protocol.tpAmb is None or doc.ide.tpAmb is None:
        return
    if protocol.tpAmb != doc.ide.tpAmb:
        yield finding(
            "protocol.environment",
            "252",
            f"protocol tpAmb is {protocol.tpAmb} but ide/tpAmb is {doc.ide.tpAmb}, expected the same environment",
            root_path(ctx, "protNFe/infProt/tpAmb"),
        )


@rule(
    ("protocol.receipt_before_emission", None, Severity.WARNING),
    kind=INTEGRITY,
    description="protNFe/infProt/dhRecbto is not earlier than dhEmi (5 minutes of clock tolerance)",
)
def check_protocol_timing(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """SEFAZ cannot receive a document before it was issued; beyond the 5-minute clock tolerance of MOC
    B09-10 the protocol and the document do not belong together (or the protocol was fabricated)."""
    protocol = _protocol(doc)
    emitted = doc.ide.dhEmi
    if protocol is None or protocol.dhRecbto is None or emitted is None:
        return
    if protocol.dhRecbto < emitted - CLOCK_TOLERANCE:
        yield finding(
            "protocol.receipt_before_emission",
            None,
            f"protocol dhRecbto {protocol.dhRecbto.isoformat()} is before dhEmi {emitted.isoformat()}, "
            "expected the reception after the emission",
            root_path(ctx, "protNFe/infProt/dhRecbto"),
            Severity.WARNING,
        )


@rule(
    ("protocol.nprot_format", None, Severity.WARNING),
    kind=INTEGRITY,
    description="protNFe/infProt/nProt has 15 digits",
)
def check_protocol_number(doc: NFeDocument, ctx: RuleContext) -> Iterator[Finding]:
    """The authorisation number is 15 digits (MOC §5; ACBr ``ValidarProtocolo``)."""
    protocol = _protocol(doc)
    if protocol is None or protocol.nProt is None:
        return
    number = protocol.nProt.strip()
    if len(number) != _PROTOCOL_DIGITS or not (number.isascii() and number.isdigit()):
        yield finding(
            "protocol.nprot_format",
            None,
            f"protocol number nProt {number!r} is not 15 digits",
            root_path(ctx, "protNFe/infProt/nProt"),
            Severity.WARNING,
        )
