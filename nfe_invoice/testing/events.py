"""Build signed cancellation events (``procEventoNFe``, tpEvento 110111) for tests.

A cancellation registered by SEFAZ must stop an NF-e from reaching VTEX; tests need real-shaped events
to prove it. The event is signed like an NF-e (RSA-SHA1, SHA1, C14N 1.0, enveloped) with a TEST
certificate, so it passes the official ``procEventoCancNFe_v1.00.xsd``.
"""

from __future__ import annotations

from datetime import datetime

from lxml import etree

from ..identifiers import access_key
from ..xml import nfe, parse_fragment
from .builder import BRT
from .signing import SigningIdentity, sign_enveloped


def build_cancellation(
    key: str,
    identity: SigningIdentity,
    *,
    status: str = "135",
    protocol_number: str = "135260000012345",
    registered_at: datetime = datetime(2026, 11, 21, 9, 15, tzinfo=BRT),
    event_type: str = "110111",
) -> bytes:
    """A signed ``procEventoNFe`` cancelling the NF-e ``key``, answered by SEFAZ with ``status``."""
    parts = access_key.split(key)
    event_id = f"ID{event_type}{key}01"
    moment = registered_at.isoformat(timespec="seconds")
    event = parse_fragment(
        (
            f'<evento xmlns="http://www.portalfiscal.inf.br/nfe" versao="1.00"><infEvento Id="{event_id}">'
            f"<cOrgao>{parts.cUF}</cOrgao><tpAmb>1</tpAmb><CNPJ>{parts.emitter}</CNPJ><chNFe>{key}</chNFe>"
            f"<dhEvento>{moment}</dhEvento><tpEvento>{event_type}</tpEvento><nSeqEvento>1</nSeqEvento>"
            f'<verEvento>1.00</verEvento><detEvento versao="1.00"><descEvento>Cancelamento</descEvento>'
            f"<nProt>{protocol_number}</nProt><xJust>Pedido cancelado pelo cliente antes do envio</xJust>"
            f"</detEvento></infEvento></evento>"
        ).encode()
    )
    info = event.find(nfe("infEvento"))
    if info is None:  # pragma: no cover - built just above
        raise AssertionError("the event template lost its infEvento")
    sign_enveloped(event, info, identity)
    answer = (
        f'<retEvento versao="1.00"><infEvento><tpAmb>1</tpAmb><verAplic>SP_EVENTOS_PL_100</verAplic>'
        f"<cOrgao>{parts.cUF}</cOrgao><cStat>{status}</cStat><xMotivo>Evento registrado e vinculado a NF-e"
        f"</xMotivo><chNFe>{key}</chNFe><tpEvento>{event_type}</tpEvento><xEvento>Cancelamento registrado"
        f"</xEvento><nSeqEvento>1</nSeqEvento><dhRegEvento>{moment}</dhRegEvento>"
        f"<nProt>{protocol_number[:-1]}9</nProt></infEvento></retEvento>"
    )
    body = etree.tostring(event, encoding="unicode")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<procEventoNFe xmlns="http://www.portalfiscal.inf.br/nfe" versao="1.00">{body}{answer}</procEventoNFe>'
    ).encode()
