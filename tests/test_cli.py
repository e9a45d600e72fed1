"""The command line contract: options, one JSON object per document per line, exit codes 0/1/2."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nfe_invoice.cli import main
from nfe_invoice.testing import build_nfe, default_spec

from .paths import FIXTURES, REALWORLD

FINDING_KEYS = {"code", "sefaz", "severity", "message", "xpath"}


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a_unsigned.xml").write_bytes(build_nfe(default_spec(2)))
    (tmp_path / "b_empty.xml").write_bytes(b"")
    (tmp_path / "sub" / "c_hostile.xml").write_bytes(
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><NFe>&a;</NFe>'
    )
    (tmp_path / "sub" / "d_not_nfe.xml").write_bytes(b"<html><body/></html>")
    (tmp_path / "sub" / "e_binary.xml").write_bytes(bytes(range(256)))
    (tmp_path / "ignored.txt").write_bytes(b"not xml")
    return tmp_path


def test_json_output_is_one_object_per_document_per_line(folder: Path) -> None:
    code, out = run("validate", "--format", "json", str(folder))
    reports = json_lines(out)
    assert code == 1
    assert [Path(str(r["file"])).name for r in reports] == [
        "a_unsigned.xml", "b_empty.xml", "c_hostile.xml", "d_not_nfe.xml", "e_binary.xml",
    ]
    for report in reports:
        assert list(report) == ["file", "ok", "authorized", "access_key", "findings"]
        assert report["ok"] is False
        assert report["authorized"] is False
        findings = report["findings"]
        assert isinstance(findings, list) and findings
        for finding in findings:
            assert set(finding) == FINDING_KEYS
            assert finding["severity"] in {"error", "warning", "info"}
    by_name = {Path(str(r["file"])).name: r for r in reports}
    assert by_name["a_unsigned.xml"]["access_key"] == default_spec(2).access_key
    codes = {name: {f["code"] for f in r["findings"]} for name, r in by_name.items()}  # type: ignore[union-attr]
    assert codes["b_empty.xml"] == {"input.empty"}
    assert codes["c_hostile.xml"] == {"input.hostile"}
    assert codes["d_not_nfe.xml"] == {"input.namespace"}
    assert codes["e_binary.xml"] == {"input.malformed"}
    assert "signature.missing" in codes["a_unsigned.xml"]


def test_exit_zero_when_every_document_is_ok(tmp_path: Path) -> None:
    from nfe_invoice.testing import make_test_certificate, sign_nfe, wrap_nfeproc

    spec = default_spec(3)
    credentials = make_test_certificate(cnpj=spec.emitter_cnpj)
    document = tmp_path / "ok.xml"
    document.write_bytes(wrap_nfeproc(sign_nfe(build_nfe(spec), credentials)))
    code, out = run("validate", "--format", "json", str(document))
    [report] = json_lines(out)
    assert report["ok"] is True, report
    assert list(report) == ["file", "ok", "authorized", "access_key", "findings"]
    assert report["authorized"] is True
    assert code == 0
    code, text = run("validate", str(document))
    assert code == 0
    assert f"signed by CN=LOJA EXEMPLO COMERCIO LTDA:{spec.emitter_cnpj}" in text
    assert f"(CNPJ {spec.emitter_cnpj})" in text


def test_text_output_is_readable(folder: Path) -> None:
    code, out = run("validate", str(folder / "b_empty.xml"), str(folder / "a_unsigned.xml"))
    assert code == 1
    assert "FAIL" in out and "b_empty.xml" in out and "[input.empty]" in out
    assert "2 document(s): 0 ok, 2 not ok" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["validate"],  # no PATH
        ["validate", "/nonexistent/folder"],
        ["validate", "--format", "yaml", "x.xml"],
        ["validate", "--now", "yesterday", str(FIXTURES)],
        ["validate", "--now", "2026-11-20T10:00:00", str(FIXTURES)],  # no UTC offset
        ["validate", "--trust-store", "/nonexistent.pem", str(FIXTURES)],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2(argv: list[str]) -> None:
    try:
        code = main(argv, out=io.StringIO())
    except SystemExit as exit_:  # argparse exits by itself on its own usage errors
        code = exit_.code  # type: ignore[assignment]
    assert code == 2


def test_now_is_used_for_receipt_time_rules_only_when_given(tmp_path: Path) -> None:
    target = tmp_path / "doc.xml"
    target.write_bytes(build_nfe(default_spec(1)))  # emitted 2026-11-20, no protocol
    _, without = run("validate", "--format", "json", str(target))
    _, late = run("validate", "--format", "json", "--now", "2027-03-01T12:00:00-03:00", str(target))
    sefaz_without = {f["sefaz"] for f in json_lines(without)[0]["findings"]}  # type: ignore[union-attr]
    sefaz_late = {f["sefaz"] for f in json_lines(late)[0]["findings"]}  # type: ignore[union-attr]
    assert "228" not in sefaz_without
    assert "228" in sefaz_late


def test_real_corpus_never_crashes_the_run() -> None:
    code, out = run("validate", "--format", "json", "--jobs", "1", str(REALWORLD / "nfe"))
    reports = json_lines(out)
    assert code == 1
    assert len(reports) == 49


def test_parallel_run_gives_the_same_reports_in_the_same_order(tmp_path: Path) -> None:
    for index in range(70):
        spec = default_spec(1 + index % 3, number=1000 + index)
        (tmp_path / f"doc{index:03d}.xml").write_bytes(build_nfe(spec))
    _, serial = run("validate", "--format", "json", "--jobs", "1", str(tmp_path))
    _, parallel = run("validate", "--format", "json", "--jobs", "2", str(tmp_path))
    assert json_lines(serial) == json_lines(parallel)
    assert len(json_lines(parallel)) == 70


def test_console_script_is_installed() -> None:
    executable = shutil.which("nfe-invoice") or str(Path(sys.executable).with_name("nfe-invoice"))
    result = subprocess.run([executable, "validate", "--format", "json", str(FIXTURES / "bad")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 1, result.stderr
    [report] = json_lines(result.stdout)
    assert report["findings"][0]["code"] == "input.layout"  # type: ignore[index]


def test_readme_code_table_is_generated_from_the_code() -> None:
    from nfe_invoice.cli import codes_markdown

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    embedded = readme.split("<!-- codes:start -->\n", 1)[1].split("<!-- codes:end -->", 1)[0]
    assert embedded == codes_markdown(), "regenerate the README table with `nfe-invoice codes`"


def test_every_code_is_unique_and_has_a_meaning() -> None:
    from nfe_invoice.validate import all_codes

    codes = [info.code for info in all_codes()]
    assert len(codes) == len(set(codes))
    assert all(info.description for info in all_codes())
    code, out = run("codes", "--format", "json")
    assert code == 0
    assert {row["code"] for row in json.loads(out)} == set(codes)


def test_trust_store_judges_the_chain(tmp_path: Path) -> None:
    from nfe_invoice.testing import make_test_ca, make_test_certificate, sign_nfe, wrap_nfeproc

    root = make_test_ca()
    stranger = make_test_ca("some other TEST ROOT CA")
    spec = default_spec(2)
    signer = make_test_certificate(cnpj=spec.emitter_cnpj, issuer=root)
    document = tmp_path / "doc.xml"
    document.write_bytes(wrap_nfeproc(sign_nfe(build_nfe(spec), signer)))
    ours, theirs = tmp_path / "ours.pem", tmp_path / "theirs.pem"
    ours.write_bytes(root.certificate_pem)
    theirs.write_bytes(stranger.certificate_pem)

    code, out = run("validate", "--format", "json", "--trust-store", str(ours), str(document))
    [report] = json_lines(out)
    assert code == 0
    assert report["findings"] == []  # chain judged and fine: not even the "not checked" info

    code, out = run("validate", "--format", "json", "--trust-store", str(theirs), str(document))
    [report] = json_lines(out)
    assert code == 1
    assert {f["sefaz"] for f in report["findings"]} & {"293", "295"}  # type: ignore[union-attr]


def test_folder_walk_survives_a_symlink_loop(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "doc.XML").write_bytes(build_nfe(default_spec(1)))
    (tmp_path / "a" / "loop").symlink_to(tmp_path, target_is_directory=True)
    code, out = run("validate", "--format", "json", str(tmp_path))
    assert code == 1
    assert [Path(str(r["file"])).name for r in json_lines(out)] == ["doc.XML"]
