"""The compiled model reader (nfe_invoice/_reader.pyx) against the Python reader it replaces.

parse_document reads with the compiled reader when it is built (setup.py), so every other test of the
suite exercises it; here the two readers read the same elements and must give the same model objects
(equal, and equal in repr, so a Decimal's exponent counts) and the same parse issues. The corpus: every
fixture the project has (real documents, invalid ones, samples), documents from the builder, and
hypothesis-made variations of a document in the places where lxml's behaviour is subtle (several text
nodes, comments, CDATA, unknown and foreign elements, values that do not convert, attributes).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from nfe_invoice.errors import InputError
from nfe_invoice.testing import build_nfe, default_spec, make_test_certificate, sign_nfe, wrap_nfeproc
from nfe_invoice.xml import NFE_NS, load

from .paths import FIXTURES, ROOT

compiled = pytest.importorskip("nfe_invoice._reader", reason="the compiled reader is not built (setup.py)")
parse = importlib.import_module("nfe_invoice.parse")  # the module (the package exports the function)

Reader = Callable[[Any, etree._Element, list[Any]], Any]
PYTHON: Reader = parse._python_reader()
COMPILED: Reader = parse._compiled_reader()


def test_parse_reads_with_the_compiled_reader_when_it_is_built() -> None:
    assert COMPILED is not None
    assert parse._READ_MODEL is not PYTHON
    element = etree.fromstring(f'<infNFe xmlns="{NFE_NS}" Id="NFe1" versao="4.00"/>'.encode())
    assert parse._READ_MODEL(parse._INF_NFE, element, []).Id == "NFe1"


def _parts(raw: bytes) -> list[tuple[Any, etree._Element]]:
    """(spec, element) for each model part parse_document reads; empty when the input is no NF-e."""
    try:
        document = load(raw)
        envelope = parse.locate(document)
    except InputError:
        return []
    parts = [(parse._INF_NFE, envelope.inf_nfe)]
    supplement = envelope.nfe.find(f"{{{NFE_NS}}}infNFeSupl")
    if supplement is not None:
        parts.append((parse._SUPPLEMENT, supplement))
    if envelope.prot_nfe is not None:
        inf_prot = envelope.prot_nfe.find(f"{{{NFE_NS}}}infProt")
        if inf_prot is not None:
            parts.append((parse._PROTOCOL, inf_prot))
    return parts


def assert_same_reading(raw: bytes) -> int:
    """Both readers on every part of ``raw``; returns how many parts were compared."""
    parts = _parts(raw)
    for spec, element in parts:
        python_issues: list[Any] = []
        compiled_issues: list[Any] = []
        expected = PYTHON(spec, element, python_issues)
        got = COMPILED(spec, element, compiled_issues)
        assert got == expected
        assert repr(got) == repr(expected)
        assert compiled_issues == python_issues
    return len(parts)


CORPUS = sorted({*FIXTURES.rglob("*.xml"), *(ROOT / "nfe_invoice" / "samples").glob("*.xml")})


def test_the_corpus_is_there() -> None:
    assert len(CORPUS) > 60
    assert sum(bool(_parts(path.read_bytes())) for path in CORPUS) > 50


@pytest.mark.parametrize("path", CORPUS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_fixture_reads_the_same(path: Path) -> None:
    assert_same_reading(path.read_bytes())


@pytest.mark.parametrize("items", [1, 10, 990])
def test_built_documents_read_the_same(items: int) -> None:
    raw = wrap_nfeproc(sign_nfe(build_nfe(default_spec(items)), make_test_certificate()))
    assert assert_same_reading(raw) == 2


# ------------------------------------------------------------------------------------- variations

BASE = build_nfe(default_spec(2))
_BASE_TREE = etree.fromstring(BASE)
LEAVES = len([element for element in _BASE_TREE.iter() if len(element) == 0])
ELEMENTS = len(list(_BASE_TREE.iter()))

#: Values where conversions differ: not numbers, not finite, padded, other digits, odd dates.
VALUES = st.one_of(
    st.sampled_from(["", " ", "0", "1.00", " 1.00", "1e5", "1E+999999", "NaN", "-Infinity", "sNaN", "abc", "12",
                     "1_000", "١٢.٥", "2026-13-01", "2026-02-01", "2026-02-01T10:00:00", "2026-02-01T10:00:00-03:00",
                     "-0", "0.000000000000000000000000000001", "x" * 300, "ação"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=12),
)

EDITS = st.lists(
    st.one_of(
        st.tuples(st.just("text"), st.integers(0, LEAVES - 1), VALUES),
        st.tuples(st.just("cdata"), st.integers(0, LEAVES - 1), VALUES),
        st.tuples(st.just("split"), st.integers(0, LEAVES - 1), VALUES),  # text, a comment, more text
        st.tuples(st.just("comment"), st.integers(0, ELEMENTS - 1), VALUES),
        st.tuples(st.just("unknown"), st.integers(0, ELEMENTS - 1), VALUES),
        st.tuples(st.just("foreign"), st.integers(0, ELEMENTS - 1), VALUES),
        st.tuples(st.just("group"), st.integers(0, ELEMENTS - 1), VALUES),  # an unknown element with children
        st.tuples(st.just("drop"), st.integers(1, ELEMENTS - 1), VALUES),
        st.tuples(st.just("attribute"), st.integers(0, ELEMENTS - 1), VALUES),
    ),
    max_size=8,
)


def _safe(value: str) -> str:
    """XML 1.0 cannot carry every character; those become "?" (the readers see what the parser kept)."""
    return "".join(ch if ch in "\t\n\r" or (ch >= " " and ch not in "\ufffe\uffff") else "?" for ch in value)


def _edited(edits: list[tuple[str, int, str]]) -> bytes:
    root = etree.fromstring(BASE)
    for kind, index, raw_value in edits:
        value = _safe(raw_value)
        leaves = [element for element in root.iter() if len(element) == 0 and isinstance(element.tag, str)]
        elements = [element for element in root.iter() if isinstance(element.tag, str)]
        if kind in {"text", "cdata", "split"}:
            if not leaves:  # everything was dropped
                continue
            leaf = leaves[index % len(leaves)]
            if kind == "text":
                leaf.text = value
            elif kind == "cdata":
                leaf.text = etree.CDATA(value.replace("]]>", "")) if value else value
            else:
                leaf.text = value[: len(value) // 2]
                comment = etree.Comment("c")
                comment.tail = value[len(value) // 2 :]
                leaf.append(comment)
            continue
        element = elements[index % len(elements)]
        if kind == "comment":
            element.insert(0, etree.Comment(value.replace("--", "").rstrip("-") or "c"))
        elif kind == "unknown":  # first, so that it comes before a choice group
            unknown = etree.Element(f"{{{NFE_NS}}}zz{len(value)}")
            unknown.text = value
            element.insert(0, unknown)
        elif kind == "foreign":
            etree.SubElement(element, f"{{urn:other}}{element.tag.rpartition('}')[2]}").text = value
        elif kind == "group":
            group = etree.SubElement(element, f"{{{NFE_NS}}}Grp{len(value)}")
            etree.SubElement(group, f"{{{NFE_NS}}}vBC").text = value
            etree.SubElement(group, f"{{{NFE_NS}}}CST").text = value
        elif kind == "drop" and element.getparent() is not None:
            element.getparent().remove(element)
        elif kind == "attribute":  # a same-named attribute in another namespace is not the field
            for name in ("Id", "nItem", "xCampo"):  # not versao: locate() refuses another layout
                element.attrib.pop(name, None)
                element.set(f"{{urn:other}}{name}", value + "!")
                if len(value) % 2 == 0:
                    element.set(name, value)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EDITS)
def test_variations_read_the_same(edits: list[tuple[str, int, str]]) -> None:
    assert_same_reading(_edited(edits))


def test_a_value_that_does_not_convert_is_an_issue_with_its_path() -> None:
    raw = BASE.replace(b"<vNF>", b"<vNF>x", 1)
    assert assert_same_reading(raw) == 1
    issues: list[Any] = []
    COMPILED(parse._INF_NFE, _parts(raw)[0][1], issues)
    assert [(issue.xpath, issue.value) for issue in issues] == [
        ("/NFe/infNFe/total/ICMSTot/vNF", "x" + BASE.split(b"<vNF>")[1].split(b"<")[0].decode())
    ]
