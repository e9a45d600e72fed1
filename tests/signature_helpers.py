"""Shared helpers for the signature tests: TEST identities made once per session, signing variants, xmlsec1.

Keys are generated at test time (never stored) and cached for the session with ``functools.cache``;
each is labelled TEST by :mod:`nfe_invoice.testing.signing`.

:func:`sign_variant` makes real signatures that depart from the NF-e profile in one chosen way (other
algorithms, a ``ds:`` prefix, extra KeyInfo, an ``Object``...), so the verifier's refusals are tested
against signatures that are cryptographically valid. xmlsec1 confirms several of them are.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

from nfe_invoice.parse import Envelope, locate, parse_document
from nfe_invoice.signature import SignatureResult, TrustStore, verify_signature
from nfe_invoice.testing import (
    SigningIdentity,
    build_nfe,
    default_spec,
    make_test_ca,
    make_test_certificate,
    sign_nfe,
    wrap_nfeproc,
)
from nfe_invoice.testing.builder import TEST_EMITTER_CNPJ
from nfe_invoice.testing.signing import C14N_10, canonicalize, signature_template
from nfe_invoice.xml import DSIG_NS, XmlDocument, dsig, load_bytes, nfe

EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = DSIG_NS + "enveloped-signature"
RSA_SHA1 = DSIG_NS + "rsa-sha1"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
HMAC_SHA1 = DSIG_NS + "hmac-sha1"
SHA1 = DSIG_NS + "sha1"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
HMAC_KEY = b"test-only-hmac-key"


@functools.cache
def root_ca() -> SigningIdentity:
    return make_test_ca("nfe-invoice TEST ROOT CA")


@functools.cache
def intermediate_ca() -> SigningIdentity:
    return make_test_ca("nfe-invoice TEST AC INTERMEDIARIA", issuer=root_ca())


@functools.cache
def emitter() -> SigningIdentity:
    """The default TEST e-CNPJ of the builder's emitter, issued by the TEST intermediate CA."""
    return make_test_certificate(TEST_EMITTER_CNPJ, issuer=intermediate_ca())


@functools.cache
def stranger() -> SigningIdentity:
    """Another TEST certificate for the same CNPJ, with its own key (self-signed)."""
    return make_test_certificate(TEST_EMITTER_CNPJ, company_name="OUTRA EMPRESA TESTE")


@functools.cache
def sefaz() -> SigningIdentity:
    """A TEST stand-in for the SEFAZ certificate that signs some protocols."""
    return make_test_certificate("11444777000161", company_name="SEFAZ TESTE")


@functools.cache
def signed_nfe(items: int = 2, **changes: object) -> bytes:
    """A signed ``<NFe>`` made by the builder and :func:`sign_nfe` with :func:`emitter`."""
    return sign_nfe(build_nfe(default_spec(items, **changes)), emitter())


@functools.cache
def signed_nfeproc(items: int = 2) -> bytes:
    return wrap_nfeproc(signed_nfe(items))


def envi_nfe(nfe_xml: bytes) -> bytes:
    """An ``enviNFe`` batch holding one NFe (what an emitter sends)."""
    body = nfe_xml.split(b"?>", 1)[1] if nfe_xml.startswith(b"<?xml") else nfe_xml
    return (b'<?xml version="1.0" encoding="UTF-8"?><enviNFe xmlns="http://www.portalfiscal.inf.br/nfe" '
            b'versao="4.00"><idLote>1</idLote><indSinc>1</indSinc>' + body + b"</enviNFe>")


@dataclass(frozen=True)
class Checked:
    """A verification together with what it was run on."""

    document: XmlDocument
    envelope: Envelope
    result: SignatureResult

    @property
    def codes(self) -> list[str]:
        return [finding.code for finding in self.result.findings]

    @property
    def errors(self) -> list[str]:
        return [finding.code for finding in self.result.findings if finding.severity == "error"]

    def message(self, code: str) -> str:
        return next(finding.message for finding in self.result.findings if finding.code == code)

    def xpath(self, code: str) -> str | None:
        return next(finding.xpath for finding in self.result.findings if finding.code == code)


def check(
    data: bytes,
    *,
    trust_store: TrustStore | None = None,
    emitted_at: datetime | Literal["document"] | None = "document",
    emitter_cnpj: str | Literal["document"] | None = "document",
) -> Checked:
    """Load, locate and verify ``data``; dhEmi and emit/CNPJ come from the document unless given."""
    document = load_bytes(data)
    envelope = locate(document)
    model = parse_document(document, envelope)
    if emitted_at == "document":
        emitted_at = model.infNFe.ide.dhEmi if model.infNFe.ide else None
    if emitter_cnpj == "document":
        emitter_cnpj = model.infNFe.emit.CNPJ if model.infNFe.emit else None
    result = verify_signature(document, envelope, emitted_at=emitted_at, emitter_cnpj=emitter_cnpj,
                              trust_store=trust_store)
    return Checked(document, envelope, result)


def mutate(data: bytes, change: Callable[[etree._Element], object]) -> bytes:
    """Parse ``data``, let ``change`` edit the tree, serialise it again (compact, no declaration)."""
    root = load_bytes(data).root
    change(root)
    return etree.tostring(root, encoding="utf-8")


def find(root: etree._Element, path: str) -> etree._Element:
    """The first element at ``path`` (Clark names, ``nfe:``/``ds:`` prefixes allowed), or fail the test."""
    found = root.find(path, namespaces={"nfe": "http://www.portalfiscal.inf.br/nfe", "ds": DSIG_NS})
    if found is None and root.tag == nfe("NFe") and path.startswith("nfe:NFe/"):
        found = root.find(path[len("nfe:NFe/"):], namespaces={"nfe": "http://www.portalfiscal.inf.br/nfe",
                                                               "ds": DSIG_NS})
    assert found is not None, path
    return found


def nfe_element(root: etree._Element) -> etree._Element:
    return root if root.tag == nfe("NFe") else find(root, "nfe:NFe")


def signature_of(root: etree._Element) -> etree._Element:
    return find(nfe_element(root), "ds:Signature")


# --- signatures outside the profile ---------------------------------------------------------------------


def _canonical(element: etree._Element, algorithm: str) -> bytes:
    if algorithm == EXC_C14N:
        rooted = etree.fromstring(etree.tostring(element, with_tail=False))
        return etree.tostring(rooted, method="c14n", exclusive=True, with_comments=False)
    return canonicalize(element)


def sign_variant(
    nfe_xml: bytes,
    identity: SigningIdentity,
    *,
    signature_method: str = RSA_SHA1,
    digest_method: str = SHA1,
    c14n: str = C14N_10,
    transforms: tuple[str, ...] = (ENVELOPED, C14N_10),
    prefix: str | None = None,
    reference_uri: str | None = None,
    key_info: str | None = None,
    signature_attributes: str = "",
    after_key_info: str = "",
    pretty: bool = False,
) -> bytes:
    """Sign an unsigned ``<NFe>`` with a real signature that differs from the NF-e profile as asked."""
    root = load_bytes(nfe_xml).root
    inf = find(root, "nfe:infNFe")
    p = f"{prefix}:" if prefix else ""
    declaration = f'xmlns:{prefix}="{DSIG_NS}"' if prefix else f'xmlns="{DSIG_NS}"'
    nl = "\n  " if pretty else ""
    digest_function = hashlib.sha256 if digest_method == SHA256 else hashlib.sha1
    digest = base64.b64encode(digest_function(_canonical(inf, transforms[-1])).digest()).decode()
    certificate = base64.b64encode(identity.certificate_der).decode()
    uri = f"#{inf.get('Id')}" if reference_uri is None else reference_uri
    transform_xml = "".join(f'{nl}<{p}Transform Algorithm="{algorithm}"/>' for algorithm in transforms)
    key_info_xml = key_info if key_info is not None else (
        f"<{p}X509Data><{p}X509Certificate>{certificate}</{p}X509Certificate></{p}X509Data>")
    text = (
        f"<{p}Signature {declaration}{signature_attributes}>{nl}<{p}SignedInfo>{nl}"
        f'<{p}CanonicalizationMethod Algorithm="{c14n}"/>{nl}<{p}SignatureMethod Algorithm="{signature_method}"/>'
        f'{nl}<{p}Reference URI="{uri}">{nl}<{p}Transforms>{transform_xml}{nl}</{p}Transforms>{nl}'
        f'<{p}DigestMethod Algorithm="{digest_method}"/>{nl}<{p}DigestValue>{digest}</{p}DigestValue>{nl}'
        f"</{p}Reference>{nl}</{p}SignedInfo>{nl}<{p}SignatureValue></{p}SignatureValue>{nl}"
        f"<{p}KeyInfo>{key_info_xml}</{p}KeyInfo>{after_key_info}{nl}</{p}Signature>"
    )
    signature = etree.fromstring(text.encode())
    root.append(signature)
    signed_info = signature.find(dsig("SignedInfo"))
    value_element = signature.find(dsig("SignatureValue"))
    assert signed_info is not None
    assert value_element is not None
    data = _canonical(signed_info, c14n)
    if signature_method == HMAC_SHA1:
        value = hmac.new(HMAC_KEY, data, hashlib.sha1).digest()
    else:
        algorithm = hashes.SHA256() if signature_method == RSA_SHA256 else hashes.SHA1()
        value = identity.key.sign(data, padding.PKCS1v15(), algorithm)
    value_element.text = base64.b64encode(value).decode()
    return b'<?xml version="1.0" encoding="UTF-8"?>' + etree.tostring(root, encoding="utf-8")


def sign_protocol(nfeproc_xml: bytes, identity: SigningIdentity) -> bytes:
    """Add a SEFAZ-style Signature over protNFe/infProt (some authorisers sign their protocols)."""

    def add(root: etree._Element) -> None:
        prot = find(root, "nfe:protNFe")
        inf_prot = find(prot, "nfe:infProt")
        digest = base64.b64encode(hashlib.sha1(canonicalize(inf_prot)).digest()).decode()
        signature = etree.fromstring(
            signature_template(str(inf_prot.get("Id")), digest, identity.certificate_der).encode())
        prot.append(signature)
        signed_info = signature.find(dsig("SignedInfo"))
        value_element = signature.find(dsig("SignatureValue"))
        assert signed_info is not None
        assert value_element is not None
        value_element.text = base64.b64encode(
            identity.key.sign(canonicalize(signed_info), padding.PKCS1v15(), hashes.SHA1())).decode()

    return mutate(nfeproc_xml, add)


# --- xmlsec1, the independent implementation -------------------------------------------------------------


def require_xmlsec1() -> str:
    path = shutil.which("xmlsec1")
    if path is None:
        pytest.skip("xmlsec1 is not installed (CI installs the Debian package)")
    return path


def xmlsec1_verify(data: bytes, tmp_path: Path, *, certificate_pem: bytes | None = None) -> tuple[bool, str]:
    """``xmlsec1 --verify`` with infNFe's Id registered as an ID; with the signer's certificate pinned
    (``--pubkey-cert-pem``), or else with the embedded one taken as is (real, expired certificates)."""
    binary = require_xmlsec1()
    document = tmp_path / f"verify-{hashlib.sha1(data).hexdigest()[:12]}.xml"
    document.write_bytes(data)
    command = [binary, "--verify", "--id-attr:Id", "infNFe"]
    if certificate_pem is not None:
        pem = tmp_path / "signer-cert.pem"
        pem.write_bytes(certificate_pem)
        command += ["--pubkey-cert-pem", str(pem)]
    else:
        command += ["--insecure", "--enabled-key-data", "x509"]
    completed = subprocess.run([*command, str(document)], capture_output=True, text=True, timeout=30,
                               check=False)
    return completed.returncode == 0, completed.stderr


def xmlsec1_sign(template: bytes, identity: SigningIdentity, tmp_path: Path) -> bytes:
    """``xmlsec1 --sign`` a document holding a Signature template (empty DigestValue and SignatureValue)."""
    binary = require_xmlsec1()
    source = tmp_path / f"template-{hashlib.sha1(template).hexdigest()[:12]}.xml"
    source.write_bytes(template)
    key = tmp_path / "test-only-key.pem"
    key.write_bytes(identity.private_key_pem)
    certificate = tmp_path / "test-only-cert.pem"
    certificate.write_bytes(identity.certificate_pem)
    output = tmp_path / f"signed-{source.name}"
    completed = subprocess.run(
        [binary, "--sign", "--id-attr:Id", "infNFe", "--privkey-pem", f"{key},{certificate}",
         "--output", str(output), str(source)],
        capture_output=True, text=True, timeout=30, check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return output.read_bytes()


def template_signature(reference_id: str, *, pretty: bool = False, certificate: bool = True) -> str:
    """The SEFAZ-profile Signature with empty values, for ``xmlsec1 --sign`` to fill in."""
    nl = "\n    " if pretty else ""
    x509 = "<X509Data><X509Certificate/></X509Data>" if certificate else ""
    return (
        f'<Signature xmlns="{DSIG_NS}">{nl}<SignedInfo>{nl}<CanonicalizationMethod Algorithm="{C14N_10}"/>{nl}'
        f'<SignatureMethod Algorithm="{RSA_SHA1}"/>{nl}<Reference URI="#{reference_id}">{nl}<Transforms>{nl}'
        f'<Transform Algorithm="{ENVELOPED}"/>{nl}<Transform Algorithm="{C14N_10}"/>{nl}</Transforms>{nl}'
        f'<DigestMethod Algorithm="{SHA1}"/>{nl}<DigestValue/>{nl}</Reference>{nl}</SignedInfo>{nl}'
        f"<SignatureValue/>{nl}<KeyInfo>{x509}</KeyInfo>{nl}</Signature>"
    )


def when(year: int, month: int = 6, day: int = 1) -> datetime:
    return datetime(year, month, day, 12, tzinfo=UTC)
