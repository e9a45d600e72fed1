"""XSD validation: the official set, readable findings, a replaceable directory, compiled once."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from nfe_invoice import schema
from nfe_invoice.cli import main
from nfe_invoice.testing import build_nfe, default_spec, make_test_certificate, sign_nfe, wrap_nfeproc
from nfe_invoice.validate import validate
from nfe_invoice.xml import load_bytes

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def signed() -> bytes:
    return wrap_nfeproc(sign_nfe(build_nfe(default_spec(3)), make_test_certificate()))


def test_a_valid_document_has_no_schema_finding(signed: bytes) -> None:
    assert schema.validate_schema(load_bytes(signed), "nfeProc") == []


def test_schema_errors_are_readable_findings_with_path_and_line(signed: bytes) -> None:
    broken = signed.replace(b"<verProc>nfe-invoice-test 1.0</verProc>", b"<verProc>" + b"x" * 30 + b"</verProc>")
    broken = broken.replace(b"<natOp>", b"<natOpX>oops</natOpX><natOp>")
    findings = schema.validate_schema(load_bytes(broken), "nfeProc")
    assert {f.code for f in findings} == {"schema.invalid"}
    assert all(f.sefaz == "225" for f in findings)
    by_path = {f.xpath: f for f in findings}
    assert "/nfeProc/NFe/infNFe/ide/natOpX" in by_path
    assert "{http" not in by_path["/nfeProc/NFe/infNFe/ide/natOpX"].message  # namespaces stripped
    assert all(f.line == 1 for f in findings)


def test_every_root_has_its_schema_and_the_set_ships_with_the_package() -> None:
    directory = schema.default_schema_dir()
    assert (directory / "nfe_v4.00" / "procNFe_v4.00.xsd").is_file()
    assert (directory / "README.md").is_file()
    for root in ("nfeProc", "NFe", "enviNFe", "procEventoNFe"):
        assert schema.schema_for(root) is schema.schema_for(root)  # compiled once, then cached


def test_the_schema_directory_is_replaceable(tmp_path: Path, signed: bytes) -> None:
    """A newer SEFAZ package is a folder away: here one with a stricter verProc."""
    newer = tmp_path / "PL_next"
    shutil.copytree(ROOT / "schemas" / "nfe_v4.00", newer / "nfe_v4.00")
    types = newer / "nfe_v4.00" / "leiauteNFe_v4.00.xsd"
    text = types.read_text(encoding="utf-8")
    marker = '<xs:element name="verProc">'
    head, tail = text.split(marker, 1)
    tail = tail.replace('<xs:maxLength value="20"/>', '<xs:maxLength value="5"/>', 1)
    types.write_text(head + marker + tail, encoding="utf-8")
    assert validate(signed).ok
    report = validate(signed, schema_dir=newer)
    assert [f.xpath for f in report.errors] == ["/nfeProc/NFe/infNFe/ide/verProc"]


def test_unusable_schema_directory_is_a_clear_error(tmp_path: Path, signed: bytes) -> None:
    with pytest.raises(schema.SchemaError, match="not found"):
        validate(signed, schema_dir=tmp_path)
    assert main(["validate", "--schema-dir", str(tmp_path), str(ROOT / "fixtures" / "bad")]) == 2


def test_compiling_from_many_threads_gives_one_schema(tmp_path: Path) -> None:
    copy = tmp_path / "set"
    shutil.copytree(ROOT / "schemas", copy)
    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(schema.schema_for("NFe", copy))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8
    assert len({id(result) for result in results}) == 1
