"""Reading a path up to the size cap (exact at the cap, refused past it, right when stat lies) and the PI scan.

The reader asks the file's size before reading (see ``xml._read_capped``), so these cases check that a
size that is wrong (a pipe says 0, a file can grow) never truncates a document or lets one past the cap.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

import pytest

from nfe_invoice import errors
from nfe_invoice.xml import load, read_source


def _document(size: int) -> bytes:
    body = b"<a>" + b"x" * (size - 7) + b"</a>"
    assert len(body) == size
    return body


def test_a_file_exactly_at_the_cap_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "at-cap.xml"
    path.write_bytes(_document(1000))
    data, name = read_source(path, max_bytes=1000)
    assert data == path.read_bytes()
    assert name == str(path)


def test_one_byte_past_the_cap_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "past-cap.xml"
    path.write_bytes(_document(1001))
    with pytest.raises(errors.InputTooLargeError):
        read_source(path, max_bytes=1000)


def test_a_pipe_whose_size_is_zero_is_read_whole() -> None:
    """``nfe-invoice validate <(cat doc.xml)`` hands over a pipe: stat says 0 bytes, the data is there."""
    document = _document(70_000)  # more than a pipe buffer: the writer blocks until we read
    read_end, write_end = os.pipe()

    def write() -> None:
        with os.fdopen(write_end, "wb") as writer:
            writer.write(document)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        root = load(f"/dev/fd/{read_end}").root
    finally:
        writer.join(timeout=5)
        os.close(read_end)
    assert root.tag == "a"
    assert len(root.text or "") == 70_000 - 7


def test_a_pipe_past_the_cap_is_refused_without_reading_it_all() -> None:
    read_end, write_end = os.pipe()

    def write() -> None:
        with os.fdopen(write_end, "wb") as writer, contextlib.suppress(BrokenPipeError):
            writer.write(_document(200_000))

    writer = threading.Thread(target=write)
    writer.start()
    try:
        with pytest.raises(errors.InputTooLargeError):
            read_source(f"/dev/fd/{read_end}", max_bytes=50_000)
    finally:
        os.close(read_end)
        writer.join(timeout=5)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'<?xml version="1.0" encoding="UTF-8"?><a>x</a>', False),
        (b'\xef\xbb\xbf<?xml version="1.0"?>\n<a><q>https://x.example/qr?p=1?2</q></a>', False),
        (b"<a>why?</a>", False),
        (b'<?xml version="1.0"?><?pi x?><a/>', True),
        (b'<?xml version="1.0"?><a><b>1</b><?pi?></a>', True),
        (b"<a>1?</a><?pi?>", True),
        (b"<?pi?><a/>", True),
    ],
)
def test_processing_instructions_are_told_from_question_marks_in_text(data: bytes, expected: bool) -> None:
    assert load(data).has_pis is expected
