"""The hardened loader: every bad input gets a specific, documented exception (never an lxml traceback)."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from nfe_invoice import errors
from nfe_invoice.testing import build_nfe, default_spec
from nfe_invoice.xml import declares_prefix, element_path, load, load_bytes

NFE = b'<NFe xmlns="http://www.portalfiscal.inf.br/nfe"><infNFe versao="4.00" Id="x"/></NFe>'


def test_bytes_path_and_file_objects_are_read(tmp_path: Path) -> None:
    raw = build_nfe(default_spec(2))
    target = tmp_path / "doc.xml"
    target.write_bytes(raw)
    for source in (raw, bytearray(raw), memoryview(raw), target, str(target), io.BytesIO(raw), target.open("rb")):
        document = load(source)
        assert document.raw == raw  # the exact original bytes are kept
    assert load(str(target)).name == str(target)


def test_a_str_is_a_path_never_xml_text() -> None:
    with pytest.raises(errors.InvalidSourceError, match="pass the XML as bytes"):
        load(NFE.decode())
    with pytest.raises(errors.InvalidSourceError, match="cannot read"):
        load("/nonexistent/file.xml")


def test_text_mode_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "doc.xml"
    target.write_bytes(NFE)
    with target.open("r", encoding="utf-8") as handle, pytest.raises(errors.InvalidSourceError, match="binary"):
        load(handle)


@pytest.mark.parametrize("junk", [None, 0, 1.5, [], {}, object(), b"".join])
def test_wrong_types_are_refused(junk: object) -> None:
    with pytest.raises(errors.InvalidSourceError):
        load(junk)


@pytest.mark.parametrize("raw", [b"", b"   \n\t", b"\n"])
def test_empty_input(raw: bytes) -> None:
    with pytest.raises(errors.EmptyInputError):
        load(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"<NFe><infNFe>",  # truncated
        b"<NFe></nfe>",  # mismatched
        b"\x00\x01\x02\xff\xfe binary junk",
        b"not xml at all",
        NFE[: len(NFE) // 2],
    ],
)
def test_malformed_input_gives_line_and_column(raw: bytes) -> None:
    with pytest.raises(errors.MalformedXmlError) as caught:
        load(raw)
    assert "not well-formed" in str(caught.value)
    assert caught.value.line is not None


HOSTILE = [
    # billion laughs
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><NFe>&lol3;</NFe>',
    # XXE: local file and network
    b'<?xml version="1.0"?><!DOCTYPE NFe [<!ENTITY x SYSTEM "file:///etc/passwd">]><NFe>&x;</NFe>',
    b'<?xml version="1.0"?><!DOCTYPE NFe SYSTEM "http://127.0.0.1:1/x.dtd"><NFe/>',
    # internal entity used to smuggle a value
    b'<!DOCTYPE NFe [<!ENTITY v "10.00">]><NFe xmlns="http://www.portalfiscal.inf.br/nfe"><vNF>&v;</vNF></NFe>',
    # DOCTYPE in UTF-16 (the byte scan cannot see it; the parsed tree still tells)
    '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE NFe [<!ENTITY x "y">]><NFe>&x;</NFe>'.encode("utf-16"),
]


@pytest.mark.parametrize("raw", HOSTILE)
def test_dtds_and_entities_are_refused_as_hostile(raw: bytes) -> None:
    started = time.perf_counter()
    with pytest.raises((errors.HostileXmlError, errors.MalformedXmlError)):
        load(raw)
    assert time.perf_counter() - started < 1.0  # refused, not expanded


def test_utf16_doctype_is_hostile_not_just_malformed() -> None:
    with pytest.raises(errors.HostileXmlError):
        load(HOSTILE[-1])


def test_size_cap(tmp_path: Path) -> None:
    big = b"<a>" + b"x" * 2000 + b"</a>"
    with pytest.raises(errors.InputTooLargeError):
        load(big, max_bytes=1000)
    target = tmp_path / "big.xml"
    target.write_bytes(big)
    with pytest.raises(errors.InputTooLargeError):
        load(target, max_bytes=1000)
    assert load(big, max_bytes=5000).root.tag == "a"


def test_default_cap_refuses_50_mb_text_node() -> None:
    with pytest.raises(errors.InputTooLargeError):
        load(b"<a>" + b"x" * (50 * 1024 * 1024) + b"</a>")


def test_deep_nesting_is_stopped_by_libxml2_limits() -> None:
    deep = b"<a>" * 20000 + b"</a>" * 20000
    with pytest.raises(errors.MalformedXmlError):
        load(deep)


def test_comments_and_pis_are_dropped_from_the_tree_but_recorded() -> None:
    document = load_bytes(b'<?xml version="1.0"?><a><v>10<!-- x -->.00</v><w>1<?pi x?>2</w></a>')
    assert document.root[0].text == "10.00"  # what C14N (the signed form) says, not "10"
    assert document.root[1].text == "12"
    assert document.has_comments and document.has_pis
    plain = load_bytes(b'<?xml version="1.0"?><a><v>https://x/?p=1</v></a>')
    assert not plain.has_comments and not plain.has_pis


def test_element_path_names_elements_with_positions() -> None:
    root = load_bytes(b"<r><d><p/></d><d><p/><q/></d></r>").root
    assert element_path(root[1][0]) == "/r/d[2]/p"
    assert element_path(root[0]) == "/r/d[1]"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"xmlns:",
        b":xmlns:",
        b"mlns:",
        b"<a xmlns=\"urn:x\"/>",
        b'<a xmlns:p="urn:x"/>',
        b"<a>" + b"x:" * 200 + b"</a>",  # past the colons looked at one by one: the plain search decides
        b"<a>" + b"x:" * 200 + b'<b xmlns:q="urn:q"/></a>',
        b"<a>" + b"x:" * 64 + b'<b xmlns:q="urn:q"/></a>',  # right at the limit
        b"<a>" + b"x:" * 65 + b'<b xmlns:q="urn:q"/></a>',
        b"xmlns xmlns : xmlns;:",
        build_nfe(default_spec(2)),
        build_nfe(default_spec(2)).replace(b"<NFe ", b'<NFe xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '),
    ],
)
def test_declares_prefix_is_exactly_the_substring_test(raw: bytes) -> None:
    assert declares_prefix(raw) is (b"xmlns:" in raw)
