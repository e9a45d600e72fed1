"""Protocol and envelope rules, and every rule family over the real documents in fixtures/realworld."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from lxml import etree

import nfe_invoice
from nfe_invoice.errors import InputError
from nfe_invoice.findings import Finding, Severity
from nfe_invoice.rules import run_rules
from nfe_invoice.testing.builder import TEST_ALPHANUMERIC_CNPJ

from .rules_helpers import (
    BARE,
    EMITTED_AT,
    NS,
    REALWORLD_FILES,
    Case,
    case,
    context,
    covered,
    family_codes,
    family_codes_registered,
    family_findings,
    key_of,
    nfce,
    nfe,
    nfeproc,
    parse,
    valid_variants,
)

N = nfe()
P = nfeproc(N)
KEY = key_of(N)
DIGEST = "AAAAAAAAAAAAAAAAAAAAAAAAAAA="  # what wrap_nfeproc writes into digVal for an unsigned NFe


def _without_protocol(xml: bytes) -> bytes:
    return xml[: xml.index(b"<protNFe")] + b"</nfeProc>"


def _protocol_field(xml: bytes, tag: str, value: str) -> bytes:
    """Change one infProt field (only inside protNFe: the NFe keeps its own)."""
    head, tail = xml.split(b"<protNFe", 1)
    start = tail.index(f"<{tag}>".encode()) + len(tag) + 2
    end = tail.index(f"</{tag}>".encode())
    return head + b"<protNFe" + tail[:start] + value.encode() + tail[end:]


def _envi(xml: bytes) -> bytes:
    body = xml.split(b"?>", 1)[1]
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><enviNFe xmlns="{NS}" versao="4.00"><idLote>1</idLote>'
        f"<indSinc>1</indSinc>{body.decode()}</enviNFe>"
    ).encode()


def _wrong_dv(key: str) -> str:
    return key[:43] + str((int(key[43]) + 1) % 10)


OTHER_KEY = key_of(nfe(number=2002))

CASES = [
    pytest.param(case(N), id="bare-nfe-absent-warning"),
    pytest.param(case(_without_protocol(P), "protocol.missing"), id="missing"),
    pytest.param(case(_envi(N), "document.envi_nfe"), id="envi-nfe"),
    pytest.param(case(P), id="authorised-ok"),
    pytest.param(case(_protocol_field(P, "chNFe", OTHER_KEY), "protocol.key_mismatch"), id="key-mismatch"),
    pytest.param(
        case(_protocol_field(P, "chNFe", _wrong_dv(KEY)), "protocol.key_mismatch", "protocol.key_check_digit"), id="236"
    ),
    pytest.param(case(P, "protocol.digval", digest_value="BBBBBBBBBBBBBBBBBBBBBBBBBBB="), id="digval"),
    pytest.param(case(P, digest_value=DIGEST), id="digval-ok"),
    pytest.param(case(P, digest_value=None), id="digval-unknown-skipped"),
    pytest.param(case(nfeproc(N, status="110"), "protocol.not_authorized"), id="denied-110"),
    pytest.param(case(nfeproc(N, status="302"), "protocol.not_authorized"), id="denied-302"),
    pytest.param(case(nfeproc(N, status="539"), "protocol.not_authorized"), id="rejected-539"),
    pytest.param(case(nfeproc(N, status="150")), id="authorised-late-ok"),
    pytest.param(case(_protocol_field(P, "tpAmb", "2"), "protocol.environment"), id="252"),
    pytest.param(
        case(nfeproc(N, received_at=EMITTED_AT - timedelta(minutes=6)), "protocol.receipt_before_emission", now=None),
        id="receipt-before-emission",
    ),
    pytest.param(case(nfeproc(N, received_at=EMITTED_AT.replace(minute=25)), now=None), id="receipt-tolerance-ok"),
    pytest.param(case(nfeproc(N, protocol_number="13526000001234"), "protocol.nprot_format"), id="nprot-14-digits"),
    pytest.param(case(nfeproc(N, protocol_number="13526000001234X"), "protocol.nprot_format"), id="nprot-letter"),
]


@pytest.mark.parametrize("row", CASES)
def test_protocol_rules(row: Case) -> None:
    assert row.codes() == row.expected


def test_every_protocol_code_is_triggered() -> None:
    assert family_codes_registered("protocol") <= covered(CASES)


@pytest.mark.parametrize("name", sorted(valid_variants()))
def test_valid_builder_documents_have_no_findings(name: str) -> None:
    """The whole promise, on every variant: nothing from the six families but protocol.absent when bare."""
    xml = valid_variants()[name]
    expected = set() if name.startswith("nfeproc") else set(BARE)
    assert family_codes(xml) == expected


def test_receipt_before_emission_also_fails_703_with_the_receipt_clock() -> None:
    received = EMITTED_AT.replace(minute=20)
    assert family_codes(nfeproc(N, received_at=received), now=received) == {
        "protocol.receipt_before_emission",
        "date.emission_after_receipt",
    }


def test_not_authorised_message_names_status_and_reason() -> None:
    (found,) = family_findings(parse(nfeproc(N, status="110")))
    assert found.code == "protocol.not_authorized"
    assert found.message == "protocol cStat is 110 (Rejeicao): use was denied (uso denegado), expected 100 or 150"
    assert found.xpath == "/nfeProc/protNFe/infProt/cStat"
    assert found.severity is Severity.ERROR


def test_envelope_warnings() -> None:
    severities = {f.code: f.severity for xml in (N, _envi(nfce())) for f in family_findings(parse(xml))}
    assert severities == {"protocol.absent": Severity.WARNING, "document.envi_nfe": Severity.WARNING}


def test_alphanumeric_key_in_the_protocol() -> None:
    xml = nfeproc(nfe(emitter_cnpj=TEST_ALPHANUMERIC_CNPJ))
    key = key_of(xml)
    assert "ABC" in key
    assert family_codes(xml) == set()
    assert family_codes(_protocol_field(xml, "chNFe", _wrong_dv(key))) == {
        "protocol.key_mismatch",
        "protocol.key_check_digit",
    }


# ------------------------------------------------------------------------------- real documents


def _digest_value(path: Path) -> str | None:
    """The NFe signature's DigestValue, read independently of the library (for the digVal check)."""
    root = etree.parse(str(path)).getroot()
    found = root.find(
        f".//{{{NS}}}NFe/{{http://www.w3.org/2000/09/xmldsig#}}Signature//{{http://www.w3.org/2000/09/xmldsig#}}DigestValue"
    )
    if found is None:
        found = root.find(".//{http://www.w3.org/2000/09/xmldsig#}DigestValue")
    return found.text.strip() if found is not None and found.text else None


@pytest.mark.parametrize("path", REALWORLD_FILES, ids=lambda path: path.name)
def test_all_rules_run_on_real_documents(path: Path) -> None:
    """Every rule (all families, not only these six) runs on every real document without raising."""
    try:
        doc = nfe_invoice.parse(path)
    except InputError:
        return  # not an NF-e 4.00 (events, layout 3.10, SOAP wrappers): the parser says so
    now = doc.protocol.dhRecbto if doc.protocol is not None else None
    findings = list(run_rules(doc, context(doc, now=now, digest_value=_digest_value(path))))
    assert all(isinstance(found, Finding) and found.code and found.message for found in findings)


# Real, intact, authorised documents: none of the six families may call them wrong.
AUTHORISED_REAL = [
    "nfe-signed/fabyo__nfeProc_55_SP_prod_2026_B2B_1item.xml",
    "nfe-signed/gabschuster__nfeProc_55_MS_prod_2022_B2B_21items.xml",
    "nfe-signed/gapfranco__nfeProc_55_SP_prod_2024_B2B_ultragaz_2items.xml",
    "nfe-signed/vitorkloy__nfeProc_65_SP_prod_2026_nfce.xml",
    "nfe-signed/dannielima__nfeProc_55_MA_homolog_2021.xml",
    "nfe-signed/dannielima__nfeProc_65_MA_homolog_2021_nfce.xml",
    "nfe-signed/nfelib__HIST_nfeProc_55_PR_homolog_2017_unimake.xml",
]


@pytest.mark.parametrize("name", AUTHORISED_REAL)
def test_real_authorised_documents_have_no_errors(name: str) -> None:
    path = next((candidate for candidate in REALWORLD_FILES if str(candidate).endswith(name)), None)
    assert path is not None, f"{name} is missing from fixtures/realworld"
    doc = nfe_invoice.parse(path)
    assert doc.protocol is not None
    errors = [
        found
        for found in family_findings(doc, now=doc.protocol.dhRecbto, digest_value=_digest_value(path))
        if found.severity is Severity.ERROR
    ]
    assert errors == []
