"""Parsing: every real document parses (or fails with the documented error), into typed immutable data."""

from __future__ import annotations

import dataclasses
import zipfile
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nfe_invoice import errors, parse
from nfe_invoice.model import Icms, NFeDocument
from nfe_invoice.testing import ItemSpec, build_nfe, default_spec, wrap_nfeproc

from .paths import FIXTURES, REALWORLD

REAL = sorted((REALWORLD / "nfe").glob("*.xml")) + sorted((REALWORLD / "nfe-signed").glob("*.xml"))

# What each real file that is NOT an NF-e 4.00 must raise (everything else must parse).
EXPECTED_ERRORS: dict[str, type[errors.InputError]] = {
    "anderson__LEGACY_nfeProc_55_v310_RJ_B2B_60items_resigned_fsist.xml": errors.UnsupportedLayoutError,
    "jansenfelipe__LEGACY_nfeProc_55_v310_MG_B2B_16items.xml": errors.UnsupportedLayoutError,
    "pdvend__LEGACY_nfeProc_65_v310_SP_prod_5items.xml": errors.UnsupportedLayoutError,
    "spedda__LEGACY_enviNFe_55_v310_vehicle.xml": errors.UnsupportedLayoutError,
    "spedda__LEGACY_nfeProc_65_v310_prod.xml": errors.UnsupportedLayoutError,
    "spednfe__LEGACY_nfeProc_55_v310.xml": errors.UnsupportedLayoutError,
    "wmix__SYNTHETIC_NFe_v310_max_values.xml": errors.UnsupportedLayoutError,
    "spednfe__SCHEMA_SAMPLE_nfeProc_RTC_cnpjalfa_placeholders.xml": errors.UnsupportedLayoutError,
    "bfr__procEventoNFe_cce_fake_sig.xml": errors.UnknownRootError,
    "spedda__procEventoNFe_cce_110110_valid_sig.xml": errors.UnknownRootError,
    "spednfe__envEvento_cancel_110111_in_nfeDadosMsg.xml": errors.WrongNamespaceError,
    "spednfe__envEvento_cancel_subst_110112_in_nfeDadosMsg.xml": errors.WrongNamespaceError,
    "spednfe__envEvento_manifest_210210_in_nfeDadosMsg.xml": errors.WrongNamespaceError,
}


def test_the_realworld_corpus_is_there() -> None:
    assert len(REAL) == 61


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_every_real_document_parses_or_fails_as_documented(path: Path) -> None:
    expected = EXPECTED_ERRORS.get(path.name)
    if expected is not None:
        with pytest.raises(expected):
            parse(path)
        return
    document = parse(path)
    assert isinstance(document, NFeDocument)
    assert document.access_key and len(document.access_key) == 44
    assert document.items, "every NF-e has at least one item"
    assert isinstance(document.totals.vNF, Decimal)
    assert document.ide.dhEmi is None or document.ide.dhEmi.tzinfo is not None
    assert document.raw == path.read_bytes()


def test_a_real_authorised_document_in_detail() -> None:
    document = parse(REALWORLD / "nfe-signed" / "fabyo__nfeProc_55_SP_prod_2026_B2B_1item.xml")
    assert document.root_tag == "nfeProc"
    assert document.access_key == "35260665798589000160550010001336181560338290"
    ide = document.ide
    assert (ide.cUF, ide.cNF, ide.mod, ide.serie, ide.nNF) == ("35", "56033829", "55", "1", "133618")
    assert ide.dhEmi == datetime.fromisoformat("2026-06-11T15:57:49-03:00")
    assert document.emit.CNPJ == "65798589000160" and document.emit.enderEmit is not None
    assert document.emit.enderEmit.UF == "SP"
    assert document.dest is not None and document.dest.CNPJ == "32409620000175"
    assert document.infNFe.entrega is not None and document.infNFe.entrega.CNPJ == ""  # empty, kept as is
    assert [party.CNPJ for party in document.infNFe.autXML] == ["43761964000165"]
    item = document.items[0]
    assert item.nItem == 1 and item.prod is not None
    assert item.prod.qCom == Decimal("605.4") and item.prod.vUnCom == Decimal("69.5")
    assert item.prod.vProd == Decimal("42075.30")
    taxes = item.imposto
    assert taxes is not None and taxes.ICMS is not None
    assert taxes.ICMS.group == "ICMS20" and taxes.ICMS.pRedBC == Decimal("33.33")
    assert taxes.IPI is not None and taxes.IPI.group == "IPITrib" and taxes.IPI.cEnq == "999"
    assert taxes.IPI.vIPI == Decimal("1367.45")
    assert taxes.PIS is not None and taxes.PIS.group == "PISAliq" and taxes.PIS.vPIS == Decimal("610.93")
    assert taxes.IBSCBS is not None and taxes.IBSCBS.gIBSCBS is not None
    assert taxes.IBSCBS.gIBSCBS.gCBS is not None and taxes.IBSCBS.gIBSCBS.gCBS.vCBS == Decimal("302.41")
    assert document.totals.vNF == Decimal("43442.75")
    total = document.infNFe.total
    assert total is not None and total.IBSCBSTot is not None and total.IBSCBSTot.gCBS is not None
    protocol = document.protocol
    assert protocol is not None and protocol.authorized and protocol.nProt == "135262305433907"
    assert protocol.digVal == "Gdlq4ZhaQRWvOL21/7h9SRl3YNw="


def test_money_is_decimal_never_float_and_the_model_is_immutable() -> None:
    document = parse(build_nfe(default_spec(3)))
    for item in document.items:
        assert item.prod is not None
        assert all(isinstance(value, Decimal) for value in (item.prod.qCom, item.prod.vUnCom, item.prod.vProd))
    with pytest.raises(dataclasses.FrozenInstanceError):
        document.totals.vNF = Decimal(0)  # type: ignore[misc]
    assert isinstance(document.items, tuple)


def test_parsed_objects_equal_normally_constructed_ones() -> None:
    """The parser fills instances directly (for speed); they must behave like normal dataclasses."""
    icms = parse(build_nfe(default_spec(1))).items[0].imposto.ICMS  # type: ignore[union-attr]
    assert icms is not None
    expected = Icms(group="ICMS00", orig="0", CST="00", modBC="3", vBC=icms.vBC, pICMS=Decimal("18.0000"),
                    vICMS=icms.vICMS)
    assert icms == expected and hash(icms) == hash(expected) and repr(icms) == repr(expected)


def test_nfce_and_nfeproc_and_alphanumeric_cnpj() -> None:
    spec = default_spec(4, model=65, recipient_cpf=None, emitter_cnpj="12ABC34501DE35")
    document = parse(wrap_nfeproc(build_nfe(spec)))
    assert document.is_nfce and document.dest is None
    assert document.emit.CNPJ == "12ABC34501DE35"
    assert document.access_key == spec.access_key
    assert document.infNFeSupl is not None and document.infNFeSupl.qrCode
    assert document.protocol is not None and document.protocol.chNFe == spec.access_key


def test_unconvertible_values_are_kept_as_none_and_reported() -> None:
    raw = build_nfe(default_spec(1)).replace(b"<vNF>", b"<vNF>1,0").replace(b"<qCom>", b"<qCom>NaN", 1)
    raw = raw.replace(b'nItem="1"', b'nItem="one"')
    document = parse(raw)
    assert document.totals.vNF is None
    item = document.items[0]
    assert item.nItem is None and item.prod is not None and item.prod.qCom is None
    paths = {issue.xpath for issue in document.issues}
    assert "/NFe/infNFe/total/ICMSTot/vNF" in paths
    assert "/NFe/infNFe/det/prod/qCom" in paths


def test_datetime_without_offset_is_an_issue_not_a_naive_datetime() -> None:
    raw = build_nfe(default_spec(1)).replace(b"T14:30:00-03:00</dhEmi>", b"T14:30:00</dhEmi>")
    document = parse(raw)
    assert document.ide.dhEmi is None
    assert any(issue.xpath.endswith("/ide/dhEmi") for issue in document.issues)


@pytest.mark.parametrize(
    ("raw", "error", "message"),
    [
        (b"<NFe><infNFe versao='4.00'/></NFe>", errors.WrongNamespaceError, "no namespace"),
        (b"<NFe xmlns='urn:other'><infNFe versao='4.00'/></NFe>", errors.WrongNamespaceError, "urn:other"),
        (b"<html xmlns='http://www.portalfiscal.inf.br/nfe'/>", errors.UnknownRootError, "<html>"),
        (b"<NFe xmlns='http://www.portalfiscal.inf.br/nfe'><infNFe versao='3.10'/></NFe>",
         errors.UnsupportedLayoutError, "3.10"),
        (b"<NFe xmlns='http://www.portalfiscal.inf.br/nfe'/>", errors.NotAnNfeError, "no infNFe"),
        (b"<nfeProc xmlns='http://www.portalfiscal.inf.br/nfe' versao='4.00'/>", errors.NotAnNfeError, "no NFe"),
        (b"<nfeProc xmlns='http://www.portalfiscal.inf.br/nfe'/>", errors.UnsupportedLayoutError, "versao"),
    ],
)
def test_documents_that_are_not_nfe_4_00(raw: bytes, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        parse(raw)


def test_vtex_documentation_example_is_refused_as_old_layout() -> None:
    with pytest.raises(errors.UnsupportedLayoutError, match=r"1\.10"):
        parse(FIXTURES / "bad" / "vtex_docs_example_nfe_v1.10.xml")


def test_envi_nfe_with_one_nfe_is_read_and_with_two_is_refused() -> None:
    body = build_nfe(default_spec(1)).split(b"?>", 1)[1]
    one = b'<enviNFe xmlns="http://www.portalfiscal.inf.br/nfe" versao="4.00"><idLote>1</idLote>' + body
    assert parse(one + b"</enviNFe>").root_tag == "enviNFe"
    with pytest.raises(errors.UnknownRootError, match="exactly one"):
        parse(one + body + b"</enviNFe>")


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.decimals("0.0001", "9999", places=4), st.decimals("0.01", "99999", places=2)),
        min_size=1,
        max_size=12,
    )
)
def test_builder_documents_roundtrip_through_the_parser(rows: list[tuple[Decimal, Decimal]]) -> None:
    items = tuple(ItemSpec(code=f"C{i}", description="Produto", quantity=q, unit_price=p)
                  for i, (q, p) in enumerate(rows, 1))
    spec = default_spec(1).replace(items=items)
    document = parse(build_nfe(spec))
    assert len(document.items) == len(items)
    assert document.totals.vProd == sum(item.total for item in items)
    assert [item.prod.qCom for item in document.items if item.prod] == [item.quantity for item in items]


def test_samples_and_schemas_are_inside_the_built_wheel(tmp_path: Path) -> None:
    """The XSD set must ship in the wheel and be found from an installed package, not only a checkout."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path),
         str(root)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    wheel = next(tmp_path.glob("nfe_invoice-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "nfe_invoice/schemas/nfe_v4.00/procNFe_v4.00.xsd" in names
    assert "nfe_invoice/schemas/nfe_v4.00/nfe_v4.00.xsd" in names
    assert "nfe_invoice/schemas/nfe_evento_cancel_v1.00/procEventoCancNFe_v1.00.xsd" in names
    assert "nfe_invoice/schemas/README.md" in names
    assert "nfe_invoice/py.typed" in names
    assert "nfe_invoice/data/icp-brasil.pem" in names
    assert any(name.startswith("nfe_invoice/samples/") and name.endswith(".xml") for name in names)
