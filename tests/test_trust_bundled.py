"""The bundled ICP-Brasil trust store: real production signatures chain to it, test certificates do not."""

from __future__ import annotations

import io
import json

import pytest
from cryptography.x509.oid import NameOID

from nfe_invoice.cli import main
from nfe_invoice.signature import TrustStoreError, bundled_trust_store
from nfe_invoice.validate import validate

from .paths import REALWORLD

SIGNED = REALWORLD / "nfe-signed"


def test_the_bundle_holds_only_icp_brasil_authorities() -> None:
    store = bundled_trust_store("icp-brasil")
    assert len(store.roots) == 3
    names = {root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value for root in store.roots}
    assert names == {f"Autoridade Certificadora Raiz Brasileira {v}" for v in ("v5", "v10", "v11")}
    for certificate in (*store.roots, *store.intermediates):
        organisations = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        assert [attribute.value for attribute in organisations] == ["ICP-Brasil"]
    assert bundled_trust_store("icp-brasil") is store  # loaded once


def test_unknown_bundle_name_is_a_clear_error() -> None:
    with pytest.raises(TrustStoreError, match="icp-brasil"):
        bundled_trust_store("mozilla")


@pytest.mark.parametrize(
    "name",
    [
        "fabyo__nfeProc_55_SP_prod_2026_B2B_1item.xml",  # AC VALID RFB v5
        "gapfranco__nfeProc_55_SP_prod_2024_B2B_ultragaz_2items.xml",  # AC SAFEWEB CD
        "vitorkloy__nfeProc_65_SP_prod_2026_nfce.xml",  # AC DIGITALSIGN RFB G3
        "gabschuster__nfeProc_55_MS_prod_2022_B2B_21items.xml",
    ],
)
def test_real_production_signatures_chain_to_icp_brasil(name: str) -> None:
    report = validate(SIGNED / name, trust_store=bundled_trust_store("icp-brasil"))
    assert not [f for f in report.findings if f.code.startswith(("certificate.", "signature."))]


def test_the_api_takes_the_bundle_by_name_too() -> None:
    report = validate(SIGNED / "fabyo__nfeProc_55_SP_prod_2026_B2B_1item.xml", trust_store="icp-brasil")
    assert report.ok
    assert "certificate.chain_not_checked" not in report.codes()


def test_a_library_test_certificate_does_not_chain() -> None:
    report = validate(SIGNED / "javanfe__enviNFe_55_SP_RTC_IBSCBS_testcert.xml",
                      trust_store=bundled_trust_store("icp-brasil"))
    assert "certificate.untrusted" in report.codes()
    assert "295" in report.sefaz_codes()


def test_cli_selects_the_bundle_by_name() -> None:
    out = io.StringIO()
    code = main(["validate", "--format", "json", "--trust-store", "icp-brasil",
                 str(SIGNED / "fabyo__nfeProc_55_SP_prod_2026_B2B_1item.xml")], out=out)
    report = json.loads(out.getvalue())
    assert code == 0
    assert report["ok"] is True
    assert "certificate.chain_not_checked" not in {f["code"] for f in report["findings"]}
