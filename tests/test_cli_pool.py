"""``nfe-invoice validate``'s worker pool: every document once, in input order, same output as one process.

Workers get chunks of paths and send back each document's output already rendered; the parent writes
them in order as chunks complete. These tests run the real pool (forked processes) on real documents.
"""

from __future__ import annotations

import io
import multiprocessing
from pathlib import Path

import pytest

from nfe_invoice.cli import main
from nfe_invoice.cli.validate import _PARALLEL_FROM, _chunks, iter_rendered
from nfe_invoice.testing import build_nfe, default_spec, make_test_certificate, sign_nfe, wrap_nfeproc
from nfe_invoice.validate import ValidationOptions

IDENTITY = make_test_certificate()


@pytest.mark.parametrize("count", [0, 1, 5, 16, 17, 100, 1000, 4321])
@pytest.mark.parametrize("jobs", [1, 2, 3, 8])
def test_chunks_cover_every_path_once_in_order(count: int, jobs: int) -> None:
    names = [f"doc{index}.xml" for index in range(count)]
    chunks = list(_chunks(names, jobs))
    assert [name for chunk in chunks for name in chunk] == names
    assert all(chunks)  # no empty chunk is sent to a worker
    if count >= 1000:
        assert len(chunks[0]) <= jobs  # the first lines come out at once...
        assert max(len(chunk) for chunk in chunks) <= 64
        assert len(chunks) <= count / 8  # ...few round trips (a chunk is 8 documents or more on average)...
        assert all(len(chunk) <= 4 for chunk in chunks[-jobs:])  # ...and no worker holds a long tail alone


def _mixed_folder(folder: Path, count: int) -> None:
    """Signed sound documents with, every fifth, one a cent off, plus files that cannot be read at all."""
    for index in range(count):
        data = build_nfe(default_spec(1 + index % 3, number=5000 + index))
        if index % 5 == 3:
            data = data.replace(b"<vNF>", b"<vNF>1", 1)
        (folder / f"doc{index:03d}.xml").write_bytes(wrap_nfeproc(sign_nfe(data, IDENTITY)))
    (folder / "empty.xml").write_bytes(b"")
    (folder / "not-nfe.xml").write_bytes(b"<html/>")


def _run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


@pytest.mark.parametrize("output_format", ["text", "json"])
def test_the_pool_prints_exactly_what_one_process_prints(tmp_path: Path, output_format: str) -> None:
    _mixed_folder(tmp_path, 40)
    serial = _run("validate", "--format", output_format, "--jobs", "1", str(tmp_path))
    parallel = _run("validate", "--format", output_format, "--jobs", "3", str(tmp_path))
    assert parallel == serial
    code, out = parallel
    assert code == 1
    if output_format == "text":
        assert out.rstrip().endswith("42 document(s): 32 ok, 10 not ok")
        assert out.count("signed by CN=") == 40  # the certificate line, shown to people, comes back too
    else:
        assert out.count("\n") == 42
        assert '"file": "' + str(tmp_path / "doc003.xml") + '", "ok": false' in out


def test_every_document_sound_exits_zero_through_the_pool(tmp_path: Path) -> None:
    for index in range(_PARALLEL_FROM + 3):
        data = build_nfe(default_spec(1, number=7000 + index))
        (tmp_path / f"doc{index:03d}.xml").write_bytes(wrap_nfeproc(sign_nfe(data, IDENTITY)))
    code, out = _run("validate", "--format", "json", "--jobs", "2", str(tmp_path))
    assert code == 0
    assert out.count('"ok": true') == _PARALLEL_FROM + 3


def test_results_stream_and_stopping_early_ends_the_workers(tmp_path: Path) -> None:
    """The first output is there before the rest is done, and closing the stream (Ctrl-C, a closed pipe)
    terminates the workers instead of leaving them behind."""
    _mixed_folder(tmp_path, 60)
    files = sorted(tmp_path.glob("doc*.xml"))
    stream = iter_rendered(files, ValidationOptions(), 2, "json")
    ok, first = next(stream)
    assert ok is True
    assert str(files[0]) in first
    assert len(multiprocessing.active_children()) == 2
    stream.close()
    assert multiprocessing.active_children() == []
