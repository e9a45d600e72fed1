"""The signature check over the raw bytes (signature._checked_in_raw_bytes) against the canonical path.

verify_signature first tries the raw bytes: when infNFe is written in canonical form (most NF-e are),
the whole-document C14N is skipped. It may only ever say "intact" where the canonical path says so
too, with the same findings; anything else must fall back to the canonical path. So every test here
runs both and compares the whole SignatureResult, on every fixture, on re-formatted copies of signed
documents (the same tree in other bytes), on tampered ones and on wrapping attempts aimed at the raw
count. Some tests also say which path answered, so both are known to be exercised.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from nfe_invoice.errors import InputError
from nfe_invoice.parse import locate
from nfe_invoice.testing import build_nfe, default_spec, sign_nfe, wrap_nfeproc
from nfe_invoice.xml import NFE_NS, load_bytes

from .paths import FIXTURES
from .signature_helpers import Checked, check, emitter

signature = importlib.import_module("nfe_invoice.signature")


@contextmanager
def canonical_only() -> Iterator[None]:
    original = signature._checked_in_raw_bytes
    signature._checked_in_raw_bytes = lambda *_args: None
    try:
        yield
    finally:
        signature._checked_in_raw_bytes = original


def took_raw_path(data: bytes) -> bool:
    document = load_bytes(data)
    envelope = locate(document)
    return signature._checked_in_raw_bytes(document, envelope, signature._Findings()) is not None


def both(data: bytes) -> Checked:
    """The check both ways; asserts they agree in everything and returns the usual one."""
    usual = check(data)
    with canonical_only():
        reference = check(data)
    assert usual.result == reference.result
    return usual


def signed_with_text(text: bytes = b'Venda "especial" &amp; cia &gt; 1', items: int = 2) -> bytes:
    """A signed nfeProc whose natOp holds characters canonical XML writes in one way only."""
    unsigned = build_nfe(default_spec(items)).replace(b"Venda de mercadoria", text, 1)
    return wrap_nfeproc(sign_nfe(unsigned, emitter()))


# ------------------------------------------------------------------------------------------ the corpus

CORPUS = sorted(FIXTURES.rglob("*.xml"))


def _loads(path: Path) -> bool:
    try:
        locate(load_bytes(path.read_bytes()))
    except InputError:
        return False
    return True


@pytest.mark.parametrize("path", [path for path in CORPUS if _loads(path)], ids=lambda path: path.name)
def test_every_fixture_gets_the_same_result(path: Path) -> None:
    both(path.read_bytes())


def test_most_signed_fixtures_take_the_raw_path() -> None:
    intact = [path for path in CORPUS if _loads(path) and check(path.read_bytes()).result.intact]
    raw = [path for path in intact if took_raw_path(path.read_bytes())]
    assert len(intact) >= 15
    assert len(raw) >= len(intact) - 2


@pytest.mark.parametrize("items", [1, 10])
def test_a_signed_document_is_checked_without_the_whole_document_c14n(
        items: int, monkeypatch: pytest.MonkeyPatch) -> None:
    data = wrap_nfeproc(sign_nfe(build_nfe(default_spec(items)), emitter()))
    monkeypatch.setattr(signature, "_canonical_document", lambda _document: pytest.fail("C14N of the document"))
    assert check(data).result.intact


# ---------------------------------------------------------------- the same tree written in other bytes

SAME_TREE: dict[str, Callable[[bytes], bytes]] = {
    # the raw path takes these (infNFe's content is still canonical)
    "attributes of infNFe in another order": lambda data: data.replace(
        b'<infNFe versao="4.00" Id="', b'<infNFe Id="', 1).replace(b'"><ide>', b'" versao="4.00"><ide>', 1),
    "the signature's empty elements with end tags (its canonical form)": lambda data: re.sub(
        rb'<(\w+) (Algorithm="[^"]*")/>', rb'<\1 \2></\1>', data),
    "white space between the signature's elements": lambda data: data.replace(
        b"</SignedInfo>", b"</SignedInfo>\n  ", 1),
    "single quotes outside infNFe": lambda data: data.replace(b'<protNFe versao="4.00">', b"<protNFe versao='4.00'>"),
    # and these the canonical path decides (the raw bytes differ from the canonical form)
    "a quote written as &quot;": lambda data: data.replace(b'Venda "especial"', b"Venda &quot;especial&quot;", 1),
    "a > written as is": lambda data: data.replace(b"cia &gt; 1", b"cia > 1", 1),
    "a character reference": lambda data: data.replace(b"Venda ", b"Vend&#97; ", 1),
    "CR LF between elements outside infNFe": lambda data: data.replace(b"<protNFe", b"\r\n<protNFe", 1),
    "a comment outside infNFe": lambda data: data.replace(b"<protNFe", b"<!-- c --><protNFe", 1),
    "a copy of infNFe in a comment": lambda data: data.replace(
        b"<protNFe", b"<!--" + data[data.index(b"<infNFe"): data.index(b"</infNFe>") + 9] + b"--><protNFe", 1),
    "a CDATA section": lambda data: data.replace(b"Venda ", b"<![CDATA[Venda ]]>", 1),
    "a processing instruction": lambda data: data.replace(b"<protNFe", b"<?x y?><protNFe", 1),
    "infNFe's content written with single quotes": lambda data: data.replace(b'<det nItem="1">', b"<det nItem='1'>", 1),
    "a self-closing element inside infNFe": lambda data: data.replace(b"<infAdic>", b"<infAdic><infCpl></infCpl>", 1),
}
RAW_PATH = {"attributes of infNFe in another order",
            "the signature's empty elements with end tags (its canonical form)",
            "white space between the signature's elements", "single quotes outside infNFe"}


@pytest.mark.parametrize("name", SAME_TREE)
def test_the_same_tree_in_other_bytes_gets_the_same_result(name: str) -> None:
    original = signed_with_text()
    data = SAME_TREE[name](original)
    assert data != original, "the edit must apply"
    checked = both(data)
    if name != "a self-closing element inside infNFe":  # that one adds an element: another tree
        assert checked.result.intact
    assert took_raw_path(data) is (name in RAW_PATH)


def test_the_unchanged_document_takes_the_raw_path() -> None:
    data = signed_with_text()
    assert took_raw_path(data)
    assert both(data).result.intact


# ----------------------------------------------------------------------------- tampering and wrapping

def _id_of(data: bytes) -> bytes:
    return data.split(b'Id="', 1)[1].split(b'"', 1)[0]


TAMPERED: dict[str, Callable[[bytes], bytes]] = {
    "a value changed": lambda data: data.replace(b"Venda ", b"Vende ", 1),
    "the digest changed": lambda data: data.replace(b"<DigestValue>", b"<DigestValue>A", 1).replace(
        b"=</Dig", b"</Dig"),
    "the Id repeated in single quotes": lambda data: data.replace(
        b"<infProt ", b"<x Id='" + _id_of(data) + b"'></x><infProt ", 1),
    "the Id repeated with a character reference": lambda data: data.replace(
        b"<infProt ", b"<x Id=\"&#78;" + _id_of(data)[1:] + b"\"></x><infProt ", 1),
    "an extra element in NFe": lambda data: data.replace(b"<Signature", b"<extra></extra><Signature", 1),
    "the Id repeated in another element": lambda data: data.replace(
        b"<infProt ", b"<x Id=\"" + _id_of(data) + b"\"></x><infProt ", 1),
    "a second infNFe after NFe": lambda data: data.replace(b"</NFe>", b"</NFe><infNFe></infNFe>", 1),
    "self-closing infNFeSupl twice, beside a second infNFe": lambda data: data.replace(
        b"<Signature", b"<infNFeSupl/><infNFeSupl/><Signature", 1).replace(
        b"</nfeProc>", b"<infNFe></infNFe></nfeProc>", 1),
    "an xml:lang above infNFe": lambda data: data.replace(b"<NFe ", b'<NFe xml:lang="pt" ', 1),
    "a namespace prefix declared above infNFe": lambda data: data.replace(
        b"<nfeProc ", b'<nfeProc xmlns:a="urn:a" ', 1),
    "the Reference URI to another Id": lambda data: data.replace(b'URI="#NFe', b'URI="#NFf', 1),
}


@pytest.mark.parametrize("name", TAMPERED)
def test_tampering_gets_the_same_result_and_is_never_intact(name: str) -> None:
    original = signed_with_text()
    data = TAMPERED[name](original)
    assert data != original, "the edit must apply"
    try:
        load_bytes(data)
    except InputError:
        pytest.fail("the tampered document must still load")
    checked = both(data)
    assert not checked.result.intact
    assert not took_raw_path(data)


def test_the_signed_content_beside_an_empty_infnfe_is_not_taken_for_it() -> None:
    """The attack the infNFeSupl count stops: the genuine signed content placed before NFe in an
    attribute-less infNFe, NFe's own infNFe left empty (self-closing, with the genuine Id and versao), and a
    self-closing infNFeSupl to even the count of "infNFe". The raw cut would then be the genuine content,
    with the right apex made from the empty element, while the model reads the empty one."""
    genuine = signed_nfe_alone()
    start = genuine.index(b"<infNFe")
    content = genuine.index(b">", start) + 1
    end = genuine.index(b"</infNFe>")
    empty = genuine[start:content - 1] + b"/>"
    nfe = genuine[genuine.index(b"<NFe"):]
    nfe = nfe[: nfe.index(b"<infNFe")] + empty + b"<infNFeSupl/>" + nfe[nfe.index(b"<Signature"):]
    data = (b'<?xml version="1.0" encoding="UTF-8"?><nfeProc xmlns="http://www.portalfiscal.inf.br/nfe" '
            b'versao="4.00"><x><infNFe>' + genuine[content:end] + b"</infNFe></x>" + nfe + b"</nfeProc>")
    checked = both(data)
    assert not checked.result.intact
    assert not took_raw_path(data)


def signed_nfe_alone() -> bytes:
    return sign_nfe(build_nfe(default_spec(2)), emitter())


@pytest.mark.parametrize("attributes", [
    {"Id": "NFe35261111222333000181550010000010011314159266", "versao": "4.00"},
    {"versao": "4.00", "Id": "NFe1"},
    {"versao": "4.00", "Id": "NFe1", "a": "x", "Z": "1", "id": "2"},
    {"versao": "4.00", "Id": "NFe 1"},
    {"versao": "4.00", "Id": "a&b<\"c"},
    {"versao": "4.00", "Id": "ação"},
    {"versao": "4.01", "Id": "NFe1"},
    {"{urn:x}a": "1", "Id": "NFe1"},
])
@pytest.mark.parametrize("nsmap", [{None: NFE_NS}, {None: NFE_NS, "x": "urn:x"}])
def test_the_apex_written_directly_is_the_canonical_one(attributes: dict[str, str], nsmap: dict[str | None, str]
                                                        ) -> None:
    element = etree.Element(f"{{{NFE_NS}}}infNFe", nsmap={**nsmap, "x": "urn:x"} if "{urn:x}a" in attributes
                            else nsmap)
    for name, value in attributes.items():
        element.set(name, value)
    assert signature._apex_start_tag(element) == signature._apex_by_c14n(element)


# ------------------------------------------------------------------------------------ random re-writes

EDITS = st.lists(
    st.tuples(
        st.sampled_from([b"><", b'="', b"Venda", b"4.00", b"<det", b"</prod>", b"NFe", b"&amp;", b"&gt;", b" "]),
        st.sampled_from([b">\n<", b"> <", b"='", b'= "', b"&#86;enda", b"4.0", b'<det xmlns="urn:x"', b"</prod >",
                         b"NFE", b"&#38;", b">", b"  ", b"\t", b"<!---->", b"&quot;"]),
        st.integers(min_value=0, max_value=40),
    ),
    max_size=3,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EDITS)
def test_random_rewrites_get_the_same_result(edits: list[tuple[bytes, bytes, int]]) -> None:
    data = signed_with_text(items=1)
    for old, new, nth in edits:
        start = -1
        for _ in range(nth % max(1, data.count(old)) + 1):
            start = data.find(old, start + 1)
        if start != -1:
            data = data[:start] + new + data[start + len(old):]
    try:
        document = load_bytes(data)
        locate(document)
    except InputError:
        return  # not loadable: the signature is never looked at
    both(data)
