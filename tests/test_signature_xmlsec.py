"""Cross-checks with xmlsec1, an independent XMLDSig implementation (libxmlsec1 + OpenSSL).

Why: lxml canonicalises non-root elements wrongly (see nfe_invoice/signature.py), and a verifier and a
signer that share a canonicalisation bug agree with each other while both disagree with SEFAZ. So:
what we sign must verify with xmlsec1, and what xmlsec1 signs must verify with us, including layouts
that take the less common code paths (extra namespaces in scope, white space, other encodings).
Skipped only where xmlsec1 is not installed (CI installs the Debian package).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from nfe_invoice.testing import build_nfe, default_spec, sign_nfe, wrap_nfeproc
from nfe_invoice.testing.builder import TEST_ALPHANUMERIC_CNPJ
from nfe_invoice.testing.signing import C14N_10, make_test_certificate

from .signature_helpers import (
    ENVELOPED,
    RSA_SHA256,
    SHA256,
    check,
    emitter,
    envi_nfe,
    require_xmlsec1,
    sign_variant,
    signed_nfe,
    signed_nfeproc,
    template_signature,
    xmlsec1_sign,
    xmlsec1_verify,
)

pytestmark = pytest.mark.usefixtures("xmlsec1")


@pytest.fixture
def xmlsec1() -> str:
    return require_xmlsec1()


def alphanumeric() -> bytes:
    document = build_nfe(default_spec(2, emitter_cnpj=TEST_ALPHANUMERIC_CNPJ))
    return sign_nfe(document, make_test_certificate(TEST_ALPHANUMERIC_CNPJ, key=emitter().key))


OURS: dict[str, Callable[[], bytes]] = {
    "NFe": lambda: signed_nfe(2),
    "nfeProc": lambda: signed_nfeproc(2),
    "NFC-e": lambda: wrap_nfeproc(signed_nfe(1, model=65)),
    "enviNFe": lambda: envi_nfe(signed_nfe(1)),
    "100 items": lambda: signed_nfe(100),
    "alphanumeric CNPJ": alphanumeric,
}


@pytest.mark.parametrize("name", list(OURS))
def test_what_we_sign_verifies_with_xmlsec1(name: str, tmp_path: Path) -> None:
    data = OURS[name]()
    ok, log = xmlsec1_verify(data, tmp_path, certificate_pem=emitter().certificate_pem)
    assert ok, log
    assert check(data).result.intact


def test_xmlsec1_and_we_both_refuse_a_changed_value(tmp_path: Path) -> None:
    data = signed_nfeproc(2).replace(b"<vNF>", b"<vNF>9", 1)
    ok, _ = xmlsec1_verify(data, tmp_path, certificate_pem=emitter().certificate_pem)
    assert not ok
    assert check(data).errors == ["signature.digest"]


def test_a_comment_inside_a_value_verifies_with_both(tmp_path: Path) -> None:
    signed = signed_nfe(1)
    start = signed.index(b"<vNF>") + 5
    data = signed[: start + 1] + b"<!-- x -->" + signed[start + 1 :]
    ok, log = xmlsec1_verify(data, tmp_path, certificate_pem=emitter().certificate_pem)
    assert ok, log
    assert check(data).result.intact


def unsigned_with_template(
    items: int = 1, *, pretty: bool = False, model: int = 55, edit: Callable[[bytes], bytes] = lambda data: data
) -> bytes:
    document = edit(build_nfe(default_spec(items, model=model)))
    reference_id = document.split(b'Id="', 1)[1].split(b'"', 1)[0].decode()
    return document.replace(b"</NFe>", template_signature(reference_id, pretty=pretty).encode() + b"</NFe>")


TEMPLATES: dict[str, Callable[[], bytes]] = {
    "compact NFe": lambda: unsigned_with_template(3),
    "white space inside Signature": lambda: unsigned_with_template(2, pretty=True),
    "NFC-e with infNFeSupl": lambda: unsigned_with_template(1, model=65),
    "a prefix declared inside infNFe": lambda: unsigned_with_template(
        1, edit=lambda data: data.replace(b"<infAdic>", b'<infAdic xmlns:q="urn:q">')),
    "another default namespace inside infNFe": lambda: unsigned_with_template(
        1, edit=lambda data: data.replace(b"<infCpl>", b'<infCpl xmlns="urn:other">')),
    "ISO-8859-1 with accents": lambda: unsigned_with_template(2).replace(
        b'encoding="UTF-8"', b'encoding="ISO-8859-1"').replace(
        b"Camiseta modelo 1 ", "Camiseta Promoção 1 ".encode("latin-1")),
    "UTF-16": lambda: unsigned_with_template(2).decode().replace(
        'encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16"),
}


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_what_xmlsec1_signs_verifies_with_us(name: str, tmp_path: Path) -> None:
    signed = xmlsec1_sign(TEMPLATES[name](), emitter(), tmp_path)
    checked = check(signed)
    assert checked.result.intact, checked.result.findings
    assert checked.errors == []


def test_xmlsec1_signing_inside_nfeproc_with_extra_namespaces_verifies_with_us(tmp_path: Path) -> None:
    """Signed where nfeProc declares xsi: the prefix is in scope for infNFe and SignedInfo, so their
    canonical forms carry it (the apex rewrite and the inclusive path are both exercised)."""
    template = wrap_nfeproc(unsigned_with_template(2), digest_value="AAAAAAAAAAAAAAAAAAAAAAAAAAA=").replace(
        b'<nfeProc xmlns="http://www.portalfiscal.inf.br/nfe"',
        b'<nfeProc xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://www.portalfiscal.inf.br/nfe"')
    signed = xmlsec1_sign(template, emitter(), tmp_path)
    checked = check(signed)
    assert checked.result.intact, checked.result.findings
    # the same NFe moved out of nfeProc no longer matches: xsi was part of what was signed
    moved = signed.replace(b' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"', b"")
    assert "signature.digest" in check(moved).errors
    ok, _ = xmlsec1_verify(moved, tmp_path, certificate_pem=emitter().certificate_pem)
    assert not ok


@pytest.mark.parametrize(
    ("changes", "valid_for_xmlsec1"),
    [
        ({"prefix": "ds"}, True),
        ({"signature_method": RSA_SHA256, "digest_method": SHA256}, True),
        ({"transforms": (C14N_10, ENVELOPED)}, False),
    ],
)
def test_signatures_outside_the_profile(changes: dict[str, object], valid_for_xmlsec1: bool, tmp_path: Path) -> None:
    """Real signatures that differ from the profile: only the profile decides (298), not the cryptography.

    The prefixed and SHA-256 ones are valid for xmlsec1; transforms in the reverse order are allowed by the
    SEFAZ schema, but xmlsec1 cannot apply the enveloped-signature transform to canonical bytes, so we
    refuse that order too.
    """
    data = sign_variant(build_nfe(default_spec(1)), emitter(), **changes)  # type: ignore[arg-type]
    ok, log = xmlsec1_verify(data, tmp_path, certificate_pem=emitter().certificate_pem)
    assert ok is valid_for_xmlsec1, log
    checked = check(data)
    assert not checked.result.intact
    assert set(checked.errors) == {"signature.profile"}
