"""The NF-e signature check: what passes, what is refused and why, with real signatures throughout.

Every document here is signed for real (TEST keys made at test time). The attacks are the classic ones
against XML signatures; each test says which defence it exercises. Cross-checks with xmlsec1 live in
test_signature_xmlsec.py, certificates and trust stores in test_signature_certificates.py, real documents
in test_signature_realworld.py.
"""

from __future__ import annotations

import base64
import copy
import hashlib
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from nfe_invoice.errors import NotAnNfeError
from nfe_invoice.findings import Severity
from nfe_invoice.parse import locate, parse_document
from nfe_invoice.signature import (
    SIGNATURE_CODES,
    _canonical_document,
    _canonical_inf_nfe,
    _count,
    _cut,
    _inf_nfe_digest,
    canonicalize_subtree,
    verify_signature,
)
from nfe_invoice.testing import ItemSpec, build_nfe, default_spec, sign_nfe, wrap_nfeproc
from nfe_invoice.testing.builder import TEST_EMITTER_CNPJ
from nfe_invoice.testing.signing import C14N_10, canonicalize, signature_template
from nfe_invoice.xml import dsig, load_bytes, nfe

from .signature_helpers import (
    ENVELOPED,
    EXC_C14N,
    HMAC_SHA1,
    RSA_SHA256,
    SHA256,
    check,
    emitter,
    envi_nfe,
    find,
    mutate,
    nfe_element,
    sefaz,
    sign_protocol,
    sign_variant,
    signature_of,
    signed_nfe,
    signed_nfeproc,
    stranger,
)


def unsigned(items: int = 2, **changes: object) -> bytes:
    return build_nfe(default_spec(items, **changes))


# --- what passes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("NFe", lambda: signed_nfe(2)),
        ("nfeProc", lambda: signed_nfeproc(2)),
        ("NFC-e with infNFeSupl", lambda: wrap_nfeproc(signed_nfe(1, model=65))),
        ("enviNFe with one NFe", lambda: envi_nfe(signed_nfe(2))),
        ("100 items", lambda: signed_nfe(100)),
    ],
)
def test_a_document_signed_as_sefaz_expects_is_intact(name: str, make: object) -> None:
    assert callable(make)
    checked = check(make())
    result = checked.result
    assert result.intact, (name, result.findings)
    assert checked.errors == []
    assert checked.codes == ["certificate.chain_not_checked"]  # the one INFO finding: no trust store given
    assert result.findings[0].severity is Severity.INFO
    digest_element = find(signature_of(checked.document.root), "ds:SignedInfo/ds:Reference/ds:DigestValue")
    assert result.digest_value == digest_element.text


def test_the_digest_value_is_exposed_for_the_protocol_binding() -> None:
    checked = check(signed_nfeproc(3))
    dig_val = find(checked.document.root, "nfe:protNFe/nfe:infProt/nfe:digVal").text
    assert checked.result.digest_value == dig_val
    # and it is the SHA-1 of infNFe's canonical form, computed independently by re-rooting
    expected = base64.b64encode(hashlib.sha1(canonicalize_subtree(checked.envelope.inf_nfe)).digest()).decode()
    assert checked.result.digest_value == expected


def test_certificate_facts_are_exposed() -> None:
    certificate = check(signed_nfe(1)).result.certificate
    assert certificate is not None
    identity = emitter().certificate
    assert certificate.cnpj == TEST_EMITTER_CNPJ
    assert "O=nfe-invoice TEST ONLY" in certificate.subject
    assert f"CN=LOJA EXEMPLO COMERCIO LTDA:{TEST_EMITTER_CNPJ}" in certificate.subject
    assert "CN=nfe-invoice TEST AC INTERMEDIARIA" in certificate.issuer
    assert certificate.serial == format(identity.serial_number, "X")
    assert certificate.not_before == identity.not_valid_before_utc
    assert certificate.not_after == identity.not_valid_after_utc


def test_every_emitted_code_is_in_the_table() -> None:
    table = {info.code: info for info in SIGNATURE_CODES}
    assert len(table) == len(SIGNATURE_CODES)
    assert table["signature.digest"].sefaz == "297"
    assert table["signature.value"].sefaz == "297"
    assert table["signature.wrapping"].sefaz == "298"
    assert table["certificate.cnpj_mismatch"].sefaz == "213"
    assert table["certificate.chain_not_checked"].severity is Severity.INFO


def test_an_envelope_from_another_document_is_a_programming_error() -> None:
    document = load_bytes(signed_nfe(1))
    other = locate(load_bytes(signed_nfe(1)))
    with pytest.raises(ValueError, match="does not belong"):
        verify_signature(document, other, emitted_at=None, emitter_cnpj=None)


# --- content changed after signing (297) ---------------------------------------------------------------


def test_a_value_changed_after_signing_is_297_with_a_plain_message() -> None:
    data = mutate(signed_nfeproc(2), lambda root: setattr(find(root, ".//nfe:vNF"), "text", "1.00"))
    checked = check(data)
    assert not checked.result.intact
    assert checked.errors == ["signature.digest"]
    assert "content changed after signing" in checked.message("signature.digest")
    assert checked.xpath("signature.digest") == "/nfeProc/NFe/Signature/SignedInfo/Reference/DigestValue"
    assert next(f.sefaz for f in checked.result.findings if f.code == "signature.digest") == "297"


def test_a_changed_digest_value_breaks_the_signature_value() -> None:
    def flip(root: etree._Element) -> None:
        element = find(signature_of(root), "ds:SignedInfo/ds:Reference/ds:DigestValue")
        text = element.text or ""
        element.text = ("B" if text[0] != "B" else "C") + text[1:]

    checked = check(mutate(signed_nfe(2), flip))
    assert set(checked.errors) == {"signature.digest", "signature.value"}
    assert not checked.result.intact


def test_a_signature_made_by_another_key_is_297() -> None:
    def swap(root: etree._Element) -> None:
        element = find(signature_of(root), "ds:KeyInfo/ds:X509Data/ds:X509Certificate")
        element.text = base64.b64encode(stranger().certificate_der).decode()

    checked = check(mutate(signed_nfe(2), swap))
    assert checked.errors == ["signature.value"]
    assert "another key" in checked.message("signature.value")
    certificate = checked.result.certificate
    assert certificate is not None
    assert "OUTRA EMPRESA TESTE" in certificate.subject  # facts describe the certificate that is there


def test_a_changed_signature_value_is_297() -> None:
    def change(root: etree._Element) -> None:
        element = find(signature_of(root), "ds:SignatureValue")
        raw = bytearray(base64.b64decode(element.text or ""))
        raw[-1] ^= 1
        element.text = base64.b64encode(bytes(raw)).decode()

    checked = check(mutate(signed_nfe(2), change))
    assert checked.errors == ["signature.value"]


def test_the_id_itself_is_signed_content() -> None:
    """Changing infNFe/@Id and the Reference URI together still breaks the digest (Id is in infNFe)."""
    def rename(root: etree._Element) -> None:
        inf = find(root, "nfe:infNFe")
        new_id = str(inf.get("Id"))[:-1] + ("0" if str(inf.get("Id")).endswith("9") else "9")
        inf.set("Id", new_id)
        find(signature_of(root), "ds:SignedInfo/ds:Reference").set("URI", "#" + new_id)

    assert {"signature.digest", "signature.value"} <= set(check(mutate(signed_nfe(1), rename)).errors)


# --- comments and processing instructions inside signed content ----------------------------------------


def ten_reais() -> bytes:
    item = ItemSpec(code="SKU-1", description="Produto teste", quantity=Decimal(1), unit_price=Decimal("10.00"))
    return sign_nfe(build_nfe(default_spec(1).replace(items=(item,))), emitter())


def test_a_comment_inside_a_signed_value_verifies_and_the_model_reads_the_signed_value() -> None:
    signed = ten_reais()
    assert b"<vNF>10.00</vNF>" in signed
    data = signed.replace(b"<vNF>10.00</vNF>", b"<vNF>10<!---->.00</vNF>")
    checked = check(data)
    assert checked.result.intact  # C14N without comments: the signed form is "10.00"
    assert checked.document.has_comments
    model = parse_document(checked.document, checked.envelope)
    assert model.infNFe.total is not None
    assert model.infNFe.total.ICMSTot is not None
    assert model.infNFe.total.ICMSTot.vNF == Decimal("10.00")  # not "10": values equal the signed ones


def test_a_processing_instruction_is_dropped_by_the_loader_and_flagged_on_the_document() -> None:
    """PIs are part of canonical XML, and the loader drops them, so the check is made without them: the
    values read are the signed ones, and the document carries ``has_pis`` for the PI rule to report."""
    data = ten_reais().replace(b"<vNF>10.00</vNF>", b"<vNF>10<?pi x?>.00</vNF>")
    checked = check(data)
    assert checked.document.has_pis
    assert checked.result.intact
    model = parse_document(checked.document, checked.envelope)
    assert model.infNFe.total is not None
    assert model.infNFe.total.ICMSTot is not None
    assert model.infNFe.total.ICMSTot.vNF == Decimal("10.00")


def test_a_document_signed_with_a_pi_inside_says_the_pi_was_dropped() -> None:
    """A signer that kept a PI inside infNFe signed it (canonical XML keeps PIs); the loader drops it, so
    the digest cannot match, and the message says why."""
    root = etree.fromstring(unsigned(1).replace(b"<natOp>", b"<?keep me?><natOp>"))
    inf = find(root, "nfe:infNFe")
    canonical = etree.tostring(etree.fromstring(etree.tostring(inf, with_tail=False)), method="c14n",
                               with_comments=False)
    assert b"<?keep me?>" in canonical
    digest = base64.b64encode(hashlib.sha1(canonical).digest()).decode()
    signature = etree.fromstring(signature_template(str(inf.get("Id")), digest, emitter().certificate_der).encode())
    root.append(signature)
    signed_info = find(signature, "ds:SignedInfo")
    value = emitter().key.sign(canonicalize(signed_info), padding.PKCS1v15(), hashes.SHA1())
    find(signature, "ds:SignatureValue").text = base64.b64encode(value).decode()
    checked = check(etree.tostring(root))
    assert checked.errors == ["signature.digest"]
    assert "processing instructions" in checked.message("signature.digest")


# --- signature wrapping ---------------------------------------------------------------------------------


def forge(root: etree._Element) -> etree._Element:
    """Replace infNFe by a forged copy (another vNF); return the genuine, detached element."""
    nfe_root = nfe_element(root)
    genuine = find(nfe_root, "nfe:infNFe")
    forged = copy.deepcopy(genuine)
    find(forged, ".//nfe:vNF").text = "0.01"
    nfe_root.replace(genuine, forged)
    return genuine


def test_wrapping_with_the_genuine_infnfe_moved_into_a_wrapper_is_refused() -> None:
    def attack(root: etree._Element) -> None:
        genuine = forge(root)
        wrapper = etree.SubElement(nfe_element(root), nfe("Wrapper"))
        wrapper.append(genuine)
        nfe_element(root).remove(wrapper)
        nfe_element(root).insert(1, wrapper)

    checked = check(mutate(signed_nfeproc(2), attack))
    assert not checked.result.intact
    assert "signature.wrapping" in checked.errors
    assert any("Wrapper" in finding.message for finding in checked.result.findings)
    assert "signature.digest" in checked.errors  # and what we verify is the forged element: it fails


def test_wrapping_with_the_genuine_infnfe_moved_into_a_ds_object_is_refused() -> None:
    def attack(root: etree._Element) -> None:
        genuine = forge(root)
        obj = etree.SubElement(signature_of(root), dsig("Object"))
        obj.append(genuine)

    checked = check(mutate(signed_nfe(2), attack))
    assert not checked.result.intact
    assert {"signature.profile", "signature.wrapping", "signature.digest"} <= set(checked.errors)


def test_a_second_infnfe_anywhere_in_the_document_is_wrapping() -> None:
    def attack(root: etree._Element) -> None:
        root.append(copy.deepcopy(find(root, "nfe:NFe/nfe:infNFe")))  # a copy after protNFe

    checked = check(mutate(signed_nfeproc(1), attack))
    assert "signature.wrapping" in checked.errors
    assert checked.xpath("signature.wrapping") == "/nfeProc/infNFe"
    assert not checked.result.intact


def test_an_extra_element_in_nfe_is_wrapping() -> None:
    def attack(root: etree._Element) -> None:
        etree.SubElement(root, nfe("Extra")).text = "x"

    checked = check(mutate(signed_nfe(1), attack))
    assert checked.errors == ["signature.location", "signature.wrapping"]  # also: Signature no longer last


@pytest.mark.parametrize(
    ("attribute", "shown"),
    [
        ("Id", "Id"),
        ("ID", "ID"),
        ("id", "id"),
        ("{http://www.w3.org/XML/1998/namespace}id", "xml:id"),
        ("{urn:test-prefix}Id", "x:Id"),
    ],
)
def test_a_duplicate_id_anywhere_is_wrapping(attribute: str, shown: str) -> None:
    def attack(root: etree._Element) -> None:
        inf_id = find(root, "nfe:NFe/nfe:infNFe").get("Id")
        decoy = etree.SubElement(root, nfe("decoy"), nsmap={"x": "urn:test-prefix"})
        decoy.set(attribute, str(inf_id))

    checked = check(mutate(signed_nfeproc(1), attack))
    assert checked.errors == ["signature.wrapping"]
    assert f"attribute {shown} " in checked.message("signature.wrapping")
    assert checked.xpath("signature.wrapping") == "/nfeProc/decoy"
    assert not checked.result.intact  # the digest and value did verify; the ambiguity alone refuses it


@pytest.mark.parametrize("uri", ["", "#NFe35261111222333000181550010000010011000000000", "#", "http://x/y"])
def test_a_reference_to_anything_but_this_infnfe_is_refused(uri: str) -> None:
    data = sign_variant(unsigned(1), emitter(), reference_uri=uri)
    checked = check(data)
    assert "signature.reference" in checked.errors
    assert not checked.result.intact


def test_a_signature_inside_infnfe_is_in_the_wrong_place() -> None:
    def move(root: etree._Element) -> None:
        signature = signature_of(root)
        find(root, "nfe:infNFe").append(signature)

    checked = check(mutate(signed_nfe(1), move))
    assert checked.errors == ["signature.location"]
    assert checked.xpath("signature.location") == "/NFe/infNFe/Signature"
    assert checked.result.digest_value is None


def test_a_signature_as_the_first_child_of_nfe_is_in_the_wrong_place() -> None:
    def move(root: etree._Element) -> None:
        root.insert(0, signature_of(root))

    checked = check(mutate(signed_nfe(1), move))
    assert "signature.location" in checked.errors
    assert "signature.wrapping" in checked.errors  # infNFe is no longer first
    assert not checked.result.intact


def test_two_signatures_in_nfe_are_refused() -> None:
    checked = check(mutate(signed_nfe(1), lambda root: root.append(copy.deepcopy(signature_of(root)))))
    assert checked.errors == ["signature.location"]
    assert "found 2" in checked.message("signature.location")


def test_a_signature_outside_the_xmldsig_namespace_is_not_taken() -> None:
    data = signed_nfe(1).replace(b'<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">',
                                 b'<Signature xmlns="urn:not-xmldsig">')
    checked = check(data)
    assert checked.errors == ["signature.location"]
    assert "urn:not-xmldsig" in checked.message("signature.location")


def test_an_unsigned_document_is_reported_missing() -> None:
    checked = check(unsigned(1))
    assert checked.errors == ["signature.missing"]
    assert checked.result.certificate is None
    assert checked.result.digest_value is None
    assert not checked.result.intact


def test_a_signed_protocol_never_stands_in_for_the_emitters_signature() -> None:
    with_sefaz = sign_protocol(signed_nfeproc(1), sefaz())
    # Both signatures present: the emitter's is the one checked and described.
    checked = check(with_sefaz)
    assert checked.result.intact
    assert checked.result.certificate is not None
    assert checked.result.certificate.cnpj == TEST_EMITTER_CNPJ
    # The emitter's removed: the valid protocol signature does not count.
    stripped = check(mutate(with_sefaz, lambda root: nfe_element(root).remove(signature_of(root))))
    assert stripped.errors == ["signature.missing"]
    # The emitter's broken: still 297, whatever the protocol signature says.
    broken = check(mutate(with_sefaz, lambda root: setattr(find(root, ".//nfe:vNF"), "text", "1.00")))
    assert broken.errors == ["signature.digest"]


def test_the_verified_element_is_the_one_the_model_is_read_from() -> None:
    """The digest is computed over ``envelope.inf_nfe`` itself, whose Id the Reference names and which no
    other element shares: so what the model reads is what was signed."""
    checked = check(signed_nfeproc(2))
    inf = checked.envelope.inf_nfe
    reference = find(signature_of(checked.document.root), "ds:SignedInfo/ds:Reference")
    assert reference.get("URI") == "#" + str(inf.get("Id"))
    assert checked.document.root.xpath("count(//@*[. = $v])", v=str(inf.get("Id"))) == 1
    canonical = _canonical_document(checked.document)
    assert _canonical_inf_nfe(inf, canonical, _cut(checked.envelope, canonical)) == canonicalize_subtree(inf)
    # Changing that very element (and nothing else) is what breaks the digest:
    inf.set("versao", "4.00 ")
    assert "signature.digest" in [
        f.code for f in verify_signature(checked.document, checked.envelope, emitted_at=None,
                                         emitter_cnpj=None).findings
    ]


# --- outside the profile (298), with valid signatures ---------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"signature_method": RSA_SHA256, "digest_method": SHA256}, "RSA-SHA1"),
        ({"digest_method": SHA256}, "SHA-1"),
        ({"signature_method": HMAC_SHA1}, "RSA-SHA1"),
        ({"c14n": EXC_C14N, "transforms": (ENVELOPED, EXC_C14N)}, "C14N 1.0"),
        ({"transforms": (C14N_10,)}, "Transform, Transform"),
        ({"transforms": (ENVELOPED, C14N_10, C14N_10)}, "Transform, Transform"),
        ({"transforms": (C14N_10, ENVELOPED)}, "enveloped-signature then C14N 1.0"),
    ],
)
def test_other_algorithms_are_outside_the_profile(changes: dict[str, object], expected: str) -> None:
    data = sign_variant(unsigned(1), emitter(), **changes)  # type: ignore[arg-type]
    checked = check(data)
    assert set(checked.errors) == {"signature.profile"}
    assert any(expected in finding.message for finding in checked.result.findings)
    assert not checked.result.intact


def test_a_prefixed_signature_is_outside_the_profile_even_when_valid() -> None:
    checked = check(sign_variant(unsigned(1), emitter(), prefix="ds"))
    assert checked.errors == ["signature.profile"]
    assert "ds:" in checked.message("signature.profile")
    assert not checked.result.intact


def test_a_second_certificate_is_refused_and_none_is_used() -> None:
    certificate = base64.b64encode(emitter().certificate_der).decode()
    other = base64.b64encode(stranger().certificate_der).decode()
    key_info = (f"<X509Data><X509Certificate>{other}</X509Certificate>"
                f"<X509Certificate>{certificate}</X509Certificate></X509Data>")
    checked = check(sign_variant(unsigned(1), emitter(), key_info=key_info))
    assert checked.errors == ["signature.profile"]
    assert checked.result.certificate is None
    assert not checked.result.intact


def test_a_key_value_beside_the_certificate_is_refused() -> None:
    certificate = base64.b64encode(emitter().certificate_der).decode()
    numbers = stranger().key.public_key().public_numbers()
    modulus = base64.b64encode(numbers.n.to_bytes(256, "big")).decode()
    key_info = (f"<KeyValue><RSAKeyValue><Modulus>{modulus}</Modulus><Exponent>AQAB</Exponent></RSAKeyValue>"
                f"</KeyValue><X509Data><X509Certificate>{certificate}</X509Certificate></X509Data>")
    checked = check(sign_variant(unsigned(1), emitter(), key_info=key_info))
    assert checked.errors == ["signature.profile"]
    assert "KeyValue" in checked.message("signature.profile")
    assert checked.result.certificate is not None  # the one certificate is still described
    assert not checked.result.intact


def test_an_object_in_the_signature_is_refused() -> None:
    checked = check(sign_variant(unsigned(1), emitter(), after_key_info="<Object>anything</Object>"))
    assert checked.errors == ["signature.profile"]
    assert "Object" in checked.message("signature.profile")


def test_what_the_sefaz_schema_allows_is_accepted() -> None:
    """An Id on Signature, white space between the signature's elements."""
    for data in (
        sign_variant(unsigned(1), emitter(), signature_attributes=' Id="assinatura"'),
        sign_variant(unsigned(1), emitter(), pretty=True),
    ):
        checked = check(data)
        assert checked.result.intact, checked.result.findings
        assert checked.errors == []


def test_an_unknown_attribute_is_refused() -> None:
    checked = check(sign_variant(unsigned(1), emitter(), signature_attributes=' Foo="bar"'))
    assert checked.errors == ["signature.profile"]
    assert "Foo" in checked.message("signature.profile")


def test_a_digest_value_that_is_not_sha1_sized_is_refused() -> None:
    def shorten(root: etree._Element) -> None:
        find(signature_of(root), "ds:SignedInfo/ds:Reference/ds:DigestValue").text = "AAAA"

    checked = check(mutate(signed_nfe(1), shorten))
    assert "signature.profile" in checked.errors
    assert "20 bytes" in checked.message("signature.profile")


def test_an_inherited_xml_attribute_is_refused() -> None:
    data = signed_nfeproc(1).replace(b'<nfeProc xmlns="http://www.portalfiscal.inf.br/nfe"',
                                     b'<nfeProc xml:lang="pt" xmlns="http://www.portalfiscal.inf.br/nfe"')
    checked = check(data)
    assert checked.errors == ["signature.profile"]
    assert "xml:lang" in checked.message("signature.profile")


# --- canonical form: the cut equals re-rooting ----------------------------------------------------------


def nfe_with_extra_namespaces() -> bytes:
    """A signed nfeProc whose root declares an unused prefix (in scope for infNFe, so in its canonical
    form) and whose infNFe declares another one deep inside."""
    proc = signed_nfeproc(1).replace(
        b'<nfeProc xmlns="http://www.portalfiscal.inf.br/nfe"',
        b'<nfeProc xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://www.portalfiscal.inf.br/nfe"')
    return proc


@pytest.mark.parametrize(
    "make",
    [
        lambda: signed_nfe(3),
        lambda: signed_nfeproc(3),
        lambda: wrap_nfeproc(signed_nfe(1, model=65)),
        lambda: envi_nfe(signed_nfe(1)),
        nfe_with_extra_namespaces,
        lambda: signed_nfe(1).replace(b"<infAdic>", b'<infAdic xmlns:q="urn:q">'),
        lambda: signed_nfe(1).replace(b"<infAdic>", b'<infAdic xmlns="urn:other">'),
        lambda: signed_nfe(1).replace(b"<infCpl>", b'<infCpl xmlns="">'),
        lambda: signed_nfe(1).replace(b'versao="4.00" Id=', b'versao="4.00" a="&lt;&amp;&quot;&#9;" Id='),
    ],
)
def test_the_cut_from_the_whole_document_equals_re_rooting(make: object) -> None:
    assert callable(make)
    document = load_bytes(make())
    envelope = locate(document)
    canonical = _canonical_document(document)
    inclusive = etree.tostring(document.tree, method="c14n", with_comments=False)
    assert canonical == inclusive  # exclusive where it is used gives the inclusive bytes
    expected = canonicalize_subtree(envelope.inf_nfe)
    assert _canonical_inf_nfe(envelope.inf_nfe, canonical, _cut(envelope, canonical)) == expected
    assert _canonical_inf_nfe(envelope.inf_nfe, canonical, None) == expected
    # the digest is fed the same pieces one by one (no joined copy): it must be the digest of the whole
    for cut in (_cut(envelope, canonical), None):
        assert _inf_nfe_digest(envelope.inf_nfe, canonical, cut) == hashlib.sha1(expected).digest()


def test_the_lxml_bug_the_code_works_around_is_still_there() -> None:
    """If this fails, lxml fixed in-place C14N of non-root elements; the workaround could then go."""
    document = load_bytes(signed_nfeproc(1))
    inf = locate(document).inf_nfe
    assert b'xmlns=""' in etree.tostring(inf, method="c14n")
    assert b'xmlns=""' not in canonicalize_subtree(inf)


def test_not_an_nfe_is_refused_before_the_signature() -> None:
    with pytest.raises(NotAnNfeError):
        locate(load_bytes(b'<NFe xmlns="http://www.portalfiscal.inf.br/nfe"/>'))


# --- properties -------------------------------------------------------------------------------------------

EXTRA_NAMESPACES = [
    b"",
    b' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"',
    b' xmlns:a="urn:a" xmlns:b="urn:b"',
]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    items=st.integers(min_value=1, max_value=12),
    model=st.sampled_from([55, 65]),
    wrapped=st.booleans(),
    extra=st.sampled_from(EXTRA_NAMESPACES),
    inner=st.sampled_from([b"", b' xmlns:q="urn:q"', b' xmlns="urn:other"']),
)
def test_the_cut_always_equals_re_rooting_and_signed_documents_verify(
    items: int, model: int, wrapped: bool, extra: bytes, inner: bytes
) -> None:
    """Whatever the size, model, envelope and namespaces in scope, the fast canonical form is the re-rooted
    one, and a document signed in that context verifies."""
    data = unsigned(items, model=model).replace(b"<infAdic>", b"<infAdic" + inner + b">")
    signed = sign_nfe(data, emitter())
    if wrapped:
        signed = wrap_nfeproc(signed)
    root_tag = b"<nfeProc " if wrapped else b"<NFe "
    if extra:
        # declared on the root before signing would be cleaner; declared after, the digest must break
        # exactly when the prefix is new to infNFe's scope
        signed = signed.replace(root_tag, root_tag[:-1] + extra + b" ", 1)
    document = load_bytes(signed)
    envelope = locate(document)
    canonical = _canonical_document(document)
    expected = canonicalize_subtree(envelope.inf_nfe)
    assert _canonical_inf_nfe(envelope.inf_nfe, canonical, _cut(envelope, canonical)) == expected
    checked = check(signed)
    assert checked.result.intact is (not extra)
    if extra:
        assert "signature.digest" in checked.errors


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_changing_any_text_inside_infnfe_breaks_the_digest(data: st.DataObject) -> None:
    signed = signed_nfe(3)
    root = load_bytes(signed).root
    texts = [element for element in find(root, "nfe:infNFe").iter() if element.text and len(element) == 0]
    target = data.draw(st.sampled_from(range(len(texts))))
    path = root.getroottree().getpath(texts[target])

    def change(tree_root: etree._Element) -> None:
        found = tree_root.getroottree().xpath(path)
        assert isinstance(found, list)
        element = found[0]
        assert isinstance(element, etree._Element)
        element.text = (element.text or "") + "0"

    checked = check(mutate(signed, change))
    assert checked.errors == ["signature.digest"]


@settings(max_examples=300, deadline=None)
@given(st.text("ab<>", max_size=60), st.text("ab<>", max_size=4))
def test_the_backward_count_is_bytes_count(text: str, pattern: str) -> None:
    """signature._count (used to prove infNFe is alone) must equal bytes.count, overlapping needles too."""
    data, needle = text.encode(), pattern.encode()
    assert _count(data, needle) == data.count(needle)
    assert _count(data + b"infNFe" * 3, b"infNFe") == data.count(b"infNFe") + 3
