"""Real NF-e documents from public repositories (fixtures/realworld, see PROVENANCE.md there).

Why: our own signer and verifier could share a mistake; documents signed by emitters' real software, whose
signatures xmlsec1 accepts, must pass, and documents edited after signing must fail with 297.
Their certificates expired long ago: validity is judged at dhEmi, as SEFAZ did when it authorised them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nfe_invoice.errors import UnsupportedLayoutError
from nfe_invoice.identifiers import cnpj
from nfe_invoice.parse import locate, parse_document
from nfe_invoice.xml import load

from .paths import FIXTURES
from .signature_helpers import check, find, xmlsec1_verify

REALWORLD = FIXTURES / "realworld"

INTACT = [
    "fabyo__nfeProc_55_SP_prod_2026_B2B_1item.xml",
    "gabschuster__nfeProc_55_MS_prod_2022_B2B_21items.xml",
    "gapfranco__nfeProc_55_SP_prod_2024_B2B_ultragaz_2items.xml",
    "nfelib__HIST_nfeProc_55_PR_homolog_2017_unimake.xml",
    "dannielima__nfeProc_65_MA_homolog_2021_nfce.xml",
    "dannielima__nfeProc_55_MA_homolog_2021.xml",
    "dannielima__NFe_65_MA_homolog_2021_signed_no_prot.xml",
    "vitorkloy__nfeProc_65_SP_prod_2026_nfce.xml",
    "javanfe__enviNFe_55_SP_RTC_IBSCBS_testcert.xml",
]
LEGACY = [
    "anderson__LEGACY_nfeProc_55_v310_RJ_B2B_60items_resigned_fsist.xml",
    "pdvend__LEGACY_nfeProc_65_v310_SP_prod_5items.xml",
    "jansenfelipe__LEGACY_nfeProc_55_v310_MG_B2B_16items.xml",
]
# Re-formatted or anonymised after signing (MANIFEST sig_valid = no), all read by our loader.
CHANGED = [
    "nfelib__nfeProc_55_icms40_3items.xml",
    "nfelib__nfeProc_55_icms00_freight.xml",
    "nfelib__nfeProc_55_21items_icms00_20.xml",
    "nfelib__nfeProc_55_icms70.xml",
    "nfelib__nfeProc_55_single_item.xml",
    "nfelib__nfeProc_55_discount_icms10_16items.xml",
    "nfelib__nfeProc_55_icms20.xml",
    "nfelib__nfeProc_55_41items_discount_mixed_icms.xml",
    "nfelib__nfeProc_55_homolog_simples_sn101.xml",
    "nfelib__nfeProc_55_RTC_IBSCBS.xml",
    "bfr__nfeProc_55_RTC_IBSCBS_older_layout.xml",
    "erpbrasil__nfeProc_55_signed_sn500.xml",
    "spednfe__nfeProc_55_prod_freight_kabum.xml",
    "spednfe__NFe_55_signed_sn202.xml",
    "spednfe__nfeProc_55_sn202.xml",
    "spednfe__NFe_65_nfce_prod_signed.xml",
    "spednfe__NFe_65_nfce_qrcode_icms60.xml",
    "spednfe__NFe_65_nfce_no_qrcode.xml",
    "spednfe__NFe_65_nfce_homolog_signed.xml",
    "spedda__nfeProc_55_41items_prod_2025.xml",
    "spedda__NONSTD_nfeProc_55_with_cancel_retEvento.xml",
    "spedda__NONSTD_nfeProc_65_with_cancel_retEvento.xml",
    "spedda__nfeProc_65_nfce_cstat150.xml",
]
DAMAGED_CERTIFICATE = "spedda__nfeProc_55_prod_2022.xml"


def where(name: str) -> Path:
    """A real document, in nfe-signed/ (intact signatures) or nfe/ (the rest)."""
    signed = REALWORLD / "nfe-signed" / name
    return signed if signed.is_file() else REALWORLD / "nfe" / name


def read(name: str) -> bytes:
    return where(name).read_bytes()


def test_every_fixture_is_listed_with_its_provenance() -> None:
    listed = (REALWORLD / "PROVENANCE.md").read_text(encoding="utf-8")
    for name in [*INTACT, *LEGACY, *CHANGED, DAMAGED_CERTIFICATE]:
        assert where(name).is_file(), name
        assert f"| {name} |" in listed, name


@pytest.mark.parametrize("name", INTACT)
def test_real_documents_with_intact_signatures_pass(name: str) -> None:
    checked = check(read(name))
    assert checked.result.intact, checked.result.findings
    assert checked.errors == []
    certificate = checked.result.certificate
    model = parse_document(checked.document, checked.envelope)
    assert certificate is not None
    assert model.infNFe.emit is not None
    assert model.infNFe.emit.CNPJ is not None
    assert certificate.cnpj is not None
    assert cnpj.base(certificate.cnpj) == cnpj.base(model.infNFe.emit.CNPJ)
    assert model.infNFe.ide is not None
    assert model.infNFe.ide.dhEmi is not None
    assert certificate.not_before <= model.infNFe.ide.dhEmi <= certificate.not_after
    if checked.envelope.prot_nfe is not None:  # the protocol is bound to this very signature
        assert checked.result.digest_value == find(checked.envelope.prot_nfe, "nfe:infProt/nfe:digVal").text


@pytest.mark.parametrize("name", INTACT)
def test_xmlsec1_agrees_on_the_real_documents(name: str, tmp_path: Path) -> None:
    ok, log = xmlsec1_verify(read(name), tmp_path)
    assert ok, log
    assert check(read(name)).result.intact


def test_the_nfce_signed_by_caninana_is_the_emitters_own_cnpj() -> None:
    """shared/realworld's MANIFEST calls this a certificate "of another company": the company NAMES differ
    (certificate CANINANA E RIBEIRO LTDA, emit/xNome SYSDATA INFORMATICA) but the CNPJ in the certificate
    (otherName 2.16.76.1.3.3 and CN) is emit/CNPJ itself, so rule 213 (CNPJ base) rightly stays silent."""
    checked = check(read("dannielima__nfeProc_65_MA_homolog_2021_nfce.xml"))
    certificate = checked.result.certificate
    assert certificate is not None
    assert "CANINANA E RIBEIRO LTDA" in certificate.subject
    model = parse_document(checked.document, checked.envelope)
    assert model.infNFe.emit is not None
    assert model.infNFe.emit.xNome == "SYSDATA INFORMATICA"
    assert certificate.cnpj == model.infNFe.emit.CNPJ == "32727872000142"
    assert "certificate.cnpj_mismatch" not in checked.codes


def test_the_library_test_certificate_carries_its_placeholder_cnpj() -> None:
    checked = check(read("javanfe__enviNFe_55_SP_RTC_IBSCBS_testcert.xml"))
    assert checked.envelope.root_tag == "enviNFe"
    assert checked.result.certificate is not None
    assert checked.result.certificate.cnpj == "99999999999999"
    assert "CN=CERTIFICADO CNPJ TESTE" in checked.result.certificate.subject


@pytest.mark.parametrize("name", LEGACY)
def test_layout_310_documents_are_refused_before_the_signature(name: str) -> None:
    with pytest.raises(UnsupportedLayoutError):
        locate(load(where(name)))


@pytest.mark.parametrize("name", CHANGED)
def test_documents_changed_after_signing_are_297(name: str) -> None:
    checked = check(read(name))
    assert not checked.result.intact
    assert "signature.digest" in checked.errors
    assert "the content changed after signing" in checked.message("signature.digest")
    digest = next(f for f in checked.result.findings if f.code == "signature.digest")
    assert digest.sefaz == "297"
    assert digest.xpath is not None
    assert digest.xpath.endswith("/Signature/SignedInfo/Reference/DigestValue")


def test_a_damaged_certificate_is_290() -> None:
    checked = check(read(DAMAGED_CERTIFICATE))
    assert "certificate.unreadable" in checked.errors
    assert checked.result.certificate is None
    assert "signature.digest" in checked.errors  # it was edited after signing too
