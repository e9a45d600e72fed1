"""XMLDSig verification of NF-e 4.00 signatures, and the facts of the signing certificate.

The question answered here: is ``envelope.inf_nfe`` (the element the model is read from) exactly what
the key in the embedded certificate signed, under the one signature profile SEFAZ accepts? And, as
separate questions, is that certificate the emitter's, valid at ``dhEmi``, and (when a trust store is
given) issued under a root you trust?

The profile (anything else is SEFAZ rejection 298): an enveloped signature, unprefixed
``<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">`` as the last child of ``NFe`` (after
``infNFe`` and an optional ``infNFeSupl``); SignedInfo with C14N 1.0 (inclusive, without comments),
RSA-SHA1 and exactly one Reference whose URI is ``#`` + ``infNFe/@Id``; transforms enveloped-signature
then C14N 1.0; a SHA-1 digest; KeyInfo with exactly one X509Data holding exactly one X509Certificate.
A digest or signature value that does not match is 297.

Why each structural check exists (the classic attacks on XML signatures):

* Signature wrapping: a verifier checks the element the Reference points to while the application reads
  another one (a forged ``infNFe`` in place, the genuine one moved into a wrapper or a ``ds:Object``).
  Here the element canonicalised is ``envelope.inf_nfe`` itself; the Reference URI must be ``#`` + its
  ``Id``; that value must not appear as any other ``Id``/``ID``/``id``/``xml:id``/``x:Id`` attribute in the
  whole document; there must be no other ``infNFe`` element anywhere; and ``NFe`` may hold nothing but
  ``infNFe``, ``infNFeSupl`` and the Signature. So the bytes digested are the bytes the model is read
  from, and no other verifier could resolve the Reference to another element.
* The emitter's signature is pinned to be the child of ``envelope.nfe``: a ``Signature`` inside
  ``protNFe`` (SEFAZ signs some protocols) or anywhere else never stands in for it.
* Algorithm confusion (HMAC, SHA-256, other canonicalisations), key confusion (a second certificate, a
  ``KeyValue`` with another key), prefixes and ``ds:Object``: all outside the profile, all 298.
* Comments inside signed values (``<vNF>10<!---->.00</vNF>``): the loader drops comments, and C14N
  without comments drops them too, so the tree's values are the signed values.

Why canonicalisation is done the way it is: lxml (5.3 to 6.1, libxml2 2.12 to 2.14) canonicalises a
NON-ROOT element wrongly (a spurious ``xmlns=""`` on grandchildren when the default namespace is
inherited), so ``etree.tostring(inf_nfe, method="c14n")`` cannot be used. Re-rooting (serialise, parse
back, canonicalise) is correct but costs three passes over the document. Instead the whole document (a
root, which lxml canonicalises correctly) is canonicalised once. Inside it, the bytes of infNFe's content
are identical to those of the infNFe subset (a descendant's namespace rendering depends only on what is in
scope, the same in both); only the start tag differs (the subset's apex declares every namespace in scope)
and is rewritten. Canonical XML escapes ``<`` in text and attribute values and writes every start and end
tag, so counting and cutting in those bytes is exact: it proves infNFe is the only one, finds duplicate
Ids, and, with one pattern, recognises the exact SEFAZ layout of the Signature, whose SignedInfo is cut
out the same way. Whatever does not fit the pattern goes through a tree walk that names each departure;
where the cut's preconditions fail, the subset is re-rooted. Tests compare the paths with each other and
with ``xmlsec1``, an independent implementation.

Processing instructions are part of canonical XML, but the loader drops them (and records ``has_pis``, which
another rule reports): the check is made over the PI-free tree, which is what the model is read from.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import functools
import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)
from lxml import etree

from .errors import InputError
from .findings import CodeInfo, Finding, Severity
from .identifiers import cnpj as cnpj_id
from .parse import Envelope
from .xml import (
    DSIG_NS,
    NFE_NS,
    XmlDocument,
    declares_prefix,
    dsig,
    element_path,
    local_name,
    namespace,
    nfe,
    parse_fragment,
)

C14N_10: Final = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
RSA_SHA1: Final = DSIG_NS + "rsa-sha1"
SHA1: Final = DSIG_NS + "sha1"
ENVELOPED: Final = DSIG_NS + "enveloped-signature"
CNPJ_OID: Final = "2.16.76.1.3.3"
_XML_NS: Final = "http://www.w3.org/XML/1998/namespace"

# --- finding codes -------------------------------------------------------------------------------------

MISSING: Final = "signature.missing"
LOCATION: Final = "signature.location"
PROFILE: Final = "signature.profile"
REFERENCE: Final = "signature.reference"
WRAPPING: Final = "signature.wrapping"
DIGEST: Final = "signature.digest"
VALUE: Final = "signature.value"
CERT_UNREADABLE: Final = "certificate.unreadable"
CERT_VALIDITY: Final = "certificate.validity"
CERT_NO_CNPJ: Final = "certificate.no_cnpj"
CERT_CNPJ_MISMATCH: Final = "certificate.cnpj_mismatch"
CERT_CHAIN: Final = "certificate.chain"
CERT_UNTRUSTED: Final = "certificate.untrusted"
CERT_CHAIN_NOT_CHECKED: Final = "certificate.chain_not_checked"

_E = Severity.ERROR
SIGNATURE_CODES: Final[tuple[CodeInfo, ...]] = (
    CodeInfo(MISSING, None, _E, "The NF-e carries no XML signature (SEFAZ rejects it as a schema failure)."),
    CodeInfo(LOCATION, "298", _E, "The Signature is not the last child of NFe, right after infNFe/infNFeSupl."),
    CodeInfo(PROFILE, "298", _E, "The signature departs from the NF-e profile: RSA-SHA1, SHA-1, C14N 1.0, "
             "enveloped + C14N transforms, one unprefixed X509Certificate, nothing else."),
    CodeInfo(REFERENCE, "298", _E, "The Reference URI is not '#' followed by the infNFe Id."),
    CodeInfo(WRAPPING, "298", _E, "Another infNFe, a duplicate Id or a foreign element could let a second copy "
             "of the content pass for the signed one."),
    CodeInfo(DIGEST, "297", _E, "The digest of infNFe differs from DigestValue: the content changed after signing."),
    CodeInfo(VALUE, "297", _E, "The SignatureValue does not verify over SignedInfo with the certificate's key."),
    CodeInfo(CERT_UNREADABLE, "290", _E, "The X509Certificate cannot be read as a certificate."),
    CodeInfo(CERT_VALIDITY, "291", _E, "The certificate was not valid at the emission date (dhEmi)."),
    CodeInfo(CERT_NO_CNPJ, "292", _E, "The certificate carries no CNPJ (otherName 2.16.76.1.3.3, or CN NAME:CNPJ)."),
    CodeInfo(CERT_CNPJ_MISMATCH, "213", _E, "The certificate's CNPJ base differs from the emitter's CNPJ base."),
    CodeInfo(CERT_CHAIN, "293", _E, "The certificate chain to the trust store is broken (expired or invalid CA, "
             "bad signature, CA constraints)."),
    CodeInfo(CERT_UNTRUSTED, "295", _E, "The certificate does not lead to any root in the trust store."),
    CodeInfo(CERT_CHAIN_NOT_CHECKED, None, Severity.INFO,
             "No trust store was given: integrity was checked, the certificate chain was not judged."),
)


# --- public data ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CertificateInfo:
    """The facts of the signing certificate (validity in UTC, serial in upper-case hex)."""

    subject: str
    issuer: str
    serial: str
    not_before: datetime
    not_after: datetime
    cnpj: str | None


@dataclass(frozen=True)
class SignatureResult:
    """What the signature check found.

    ``intact`` is True only when the digest of ``envelope.inf_nfe`` and the RSA signature over SignedInfo
    both verified AND the signature follows the NF-e profile with no wrapping risk (no 298 finding): then
    the content the model is read from is exactly what the certificate's key signed. Certificate findings
    (validity, CNPJ, chain) do not change ``intact``; they are separate questions reported as findings.
    ``digest_value`` is the emitter signature's DigestValue text, for the protocol rule that compares it
    with ``protNFe/infProt/digVal``.
    """

    findings: tuple[Finding, ...]
    digest_value: str | None
    certificate: CertificateInfo | None
    intact: bool


class TrustStoreError(InputError):
    """The trust store cannot be read: no such file, no certificates, or no self-signed root among them."""

    code = "input.trust_store"
    default_message = "the trust store cannot be read as a PEM file of root certificates"


class TrustStore:
    """Certificates you trust, loaded from PEM (see :func:`load_trust_store`).

    Self-signed certificates are the roots (trust anchors). Any other certificate in the file is an
    intermediate CA offered for building the path, never trusted by itself: an NF-e carries only the
    signer's certificate, so ICP-Brasil's intermediate CAs (e.g. "AC SERASA RFB") must come from here.
    """

    __slots__ = ("_bounds", "_memo_for", "_store", "_verified", "intermediates", "roots", "source")

    def __init__(
        self,
        roots: Sequence[x509.Certificate],
        intermediates: Sequence[x509.Certificate] = (),
        *,
        source: str | None = None,
    ) -> None:
        if not roots:
            raise TrustStoreError("a trust store needs at least one self-signed root certificate")
        self.roots: tuple[x509.Certificate, ...] = tuple(roots)
        self.intermediates: tuple[x509.Certificate, ...] = tuple(intermediates)
        self.source = source
        self._store = Store(list(self.roots))
        self._memo_for: tuple[object, object] = ((), ())
        self._bounds: tuple[datetime, ...] = ()
        self._verified: dict[tuple[bytes, int, int, int, int], None] = {}

    def _verified_chains(self) -> tuple[dict[tuple[bytes, int, int, int, int], None], tuple[datetime, ...]]:
        """The chains already verified with this store (see :func:`_check_chain`), and the validity bounds of
        its certificates in order; both start afresh when ``roots`` or ``intermediates`` are replaced."""
        if self._memo_for[0] is not self.roots or self._memo_for[1] is not self.intermediates:
            self._memo_for = (self.roots, self.intermediates)
            self._bounds = tuple(sorted(
                moment for certificate in (*self.roots, *self.intermediates)
                for moment in (certificate.not_valid_before_utc, certificate.not_valid_after_utc)
            ))
            self._verified = {}
        return self._verified, self._bounds

    def __len__(self) -> int:
        return len(self.roots) + len(self.intermediates)

    def __repr__(self) -> str:
        where = f" from {self.source}" if self.source else ""
        return f"<TrustStore{where}: {len(self.roots)} root(s), {len(self.intermediates)} intermediate(s)>"


def load_trust_store(pem: str | os.PathLike[str] | bytes) -> TrustStore:
    """Load a trust store: ``bytes`` are PEM text; a ``str`` or path-like is the path of a PEM file.

    This is what the CLI's ``--trust-store PEM`` does. Raises :class:`TrustStoreError` when the file
    cannot be read, holds no certificate, or holds no self-signed root.
    """
    source: str | None = None
    if isinstance(pem, bytes):
        data = pem
    else:
        source = os.fspath(pem)
        if source.lstrip().startswith("-----BEGIN"):
            raise TrustStoreError("a str is taken as a file path, and this one looks like PEM text: pass bytes")
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise TrustStoreError(f"cannot read the trust store {source}: {exc.strerror or exc}") from exc
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise TrustStoreError(f"the trust store holds no readable PEM certificate: {exc}") from exc
    roots = [cert for cert in certificates if cert.subject == cert.issuer]
    others = [cert for cert in certificates if cert.subject != cert.issuer]
    if not roots:
        raise TrustStoreError(
            f"the trust store holds {len(certificates)} certificate(s) but no self-signed root to anchor a chain"
        )
    return TrustStore(roots, others, source=source)


#: Trust stores shipped in ``nfe_invoice/data`` (provenance in its README), selectable by name.
BUNDLED_TRUST_STORES: Final = {"icp-brasil": "icp-brasil.pem"}


@functools.lru_cache(maxsize=len(BUNDLED_TRUST_STORES))
def bundled_trust_store(name: str) -> TrustStore:
    """A trust store shipped with the package, by name (``"icp-brasil"``); loaded once per process."""
    file_name = BUNDLED_TRUST_STORES.get(name)
    if file_name is None:
        known = ", ".join(sorted(BUNDLED_TRUST_STORES))
        raise TrustStoreError(f"no bundled trust store named {name!r}; known: {known}")
    store = load_trust_store(Path(str(resources.files("nfe_invoice.data"))) / file_name)
    store.source = f"{name} (bundled)"
    return store


# --- the check -----------------------------------------------------------------------------------------


class _Findings:
    """Findings in the order found; remembers whether any is structural (298)."""

    __slots__ = ("items", "structural")

    def __init__(self) -> None:
        self.items: list[Finding] = []
        self.structural = False  # a 298 finding: the content cannot be called intact

    def add(self, code: str, sefaz: str | None, message: str, where: etree._Element | str | None,
            severity: Severity = Severity.ERROR) -> None:
        if sefaz == "298":
            self.structural = True
        xpath = where if isinstance(where, str) or where is None else element_path(where)
        self.items.append(Finding(code=code, severity=severity, message=message, sefaz=sefaz, xpath=xpath))


@dataclass(slots=True)
class _Cut:
    """Where the one infNFe element sits inside the whole document's canonical bytes."""

    start_tag: bytes  # its start tag as written in context (without the in-scope namespaces)
    content: int  # index just after that start tag
    end: int  # index of its "</infNFe>"


@dataclass(slots=True)
class _Parts:
    """The pieces of a signature that the cryptographic checks need; None where absent or malformed."""

    signed_info: etree._Element | None = None
    digest_element: etree._Element | None = None
    digest: bytes | None = None
    signature_value_element: etree._Element | None = None
    signature_value: bytes | None = None
    certificate_element: etree._Element | None = None
    certificate_text: bytes | None = None  # base64, maybe with white space
    algorithms_ok: bool = True
    # The Reference is a same-document "#id" reference. When the id is not infNFe's (298), the digest of
    # infNFe is still compared: in an NF-e that id can only have named infNFe, so a mismatch means the
    # content (its Id included) changed after signing. URI="" or an external URI means something else.
    fragment_reference: bool = True
    # Set by the fast path: SignedInfo's canonical bytes, cut from the whole-document canonical form.
    signed_info_canonical: bytes | None = None


def verify_signature(
    document: XmlDocument,
    envelope: Envelope,
    *,
    emitted_at: datetime | None,
    emitter_cnpj: str | None,
    trust_store: TrustStore | None = None,
) -> SignatureResult:
    """Verify the emitter's signature of an NF-e and describe its certificate.

    Never raises because of the document: every problem is a finding. ``emitted_at`` is ``ide/dhEmi``
    (certificate validity is judged then, not now: real certificates expire long before their NF-e
    stop mattering; a naive datetime is taken as UTC). ``emitter_cnpj`` is ``emit/CNPJ``; pass None for
    an emitter identified by CPF, whose e-CPF certificate carries no CNPJ (rules 292 and 213 then do not
    apply). Without ``trust_store`` the chain is not judged and an INFO finding says so; with one, it is
    judged at dhEmi (at the current time when dhEmi is unknown).
    """
    if envelope.inf_nfe.getroottree().getroot() is not document.root:
        raise ValueError("the envelope does not belong to this document (use parse.locate(document))")
    out = _Findings()
    checked = _checked_in_raw_bytes(document, envelope, out)
    if checked is None:
        out = _Findings()
        checked = _checked_in_canonical_form(document, envelope, out)
        if checked is None:
            return SignatureResult(tuple(out.items), None, None, False)
    parts, parsed, digest_ok, value_ok = checked
    digest_value = None
    if parts.digest_element is not None:
        digest_value = "".join((parts.digest_element.text or "").split()) or None
    if parsed is not None:
        _check_certificate(parsed, parts.certificate_element, emitted_at, emitter_cnpj, out)
        if trust_store is None:
            out.items.append(_NOT_CHECKED)
        else:
            _check_chain(parsed, parts.certificate_element, trust_store, emitted_at, out)
    intact = digest_ok and value_ok and not out.structural
    certificate = parsed.info if parsed is not None else None
    return SignatureResult(tuple(out.items), digest_value, certificate, intact)


#: What the cryptographic checks found: the parts, the certificate (None if absent or unreadable), and
#: whether the digest and the signature value verified.
_Checked = tuple[_Parts, "_ParsedCertificate | None", bool, bool]


def _checked_in_canonical_form(document: XmlDocument, envelope: Envelope, out: _Findings) -> _Checked | None:
    """The checks over the whole document's canonical form (module docstring); None when it has no Signature."""
    inf = envelope.inf_nfe
    canonical = _canonical_document(document)
    cut = _cut(envelope, canonical)
    parts = _fast_parts(envelope, canonical, cut) if cut is not None else None
    if parts is None:
        # Something differs from the exact SEFAZ layout: walk the tree to say precisely what.
        signature = _pinned_signature(envelope, out)
        if signature is None:
            return None
        parts = _check_profile(signature, inf, out)
    _check_wrapping(document, envelope, canonical, cut, out)
    parsed = _certificate_of(parts, out)
    public_key = parsed.public_key if parsed is not None else None
    digest_ok = value_ok = False
    if (parts.algorithms_ok and parts.fragment_reference and parts.digest is not None
            and parts.digest_element is not None):
        actual = _inf_nfe_digest(inf, canonical, cut)
        digest_ok = actual == parts.digest
        if not digest_ok:
            _digest_finding(document, parts.digest, actual, parts.digest_element, out)
    if (parts.algorithms_ok and public_key is not None and parts.signed_info is not None
            and parts.signature_value is not None and parts.signature_value_element is not None):
        signed_info_canonical = parts.signed_info_canonical or canonicalize_subtree(parts.signed_info)
        value_ok = _check_value(signed_info_canonical, parts.signature_value, parts.signature_value_element,
                                public_key, out)
    return parts, parsed, digest_ok, value_ok


def _certificate_of(parts: _Parts, out: _Findings) -> _ParsedCertificate | None:
    """The embedded certificate, read; a finding when it is unreadable or its key is not RSA."""
    if parts.certificate_text is None:
        return None
    parsed = _read_certificate(parts.certificate_text, parts.certificate_element, out)
    if parsed is not None and parsed.public_key is None:
        out.add(PROFILE, "298", "expected an RSA key in the certificate (the signature method is rsa-sha1); found "
                f"a {parsed.key_kind} key", parts.certificate_element)
    return parsed


def _raw_may_be_canonical(document: XmlDocument) -> bool:
    """Whether the raw bytes can stand for the canonical form in :func:`_checked_in_raw_bytes`.

    No "<!" (comment, CDATA, DOCTYPE) and no processing instruction: then every "<" starts a tag, as in
    canonical XML, so counting and cutting there is as exact as in the canonical form. No character
    reference and no CR: those are where the parser's reading of bytes differs most from the bytes.
    Each test is a memchr for a byte that a real NF-e rarely holds, then the exact search.
    """
    raw = document.raw
    return not (
        document.has_pis
        or (b"!" in raw and b"<!" in raw)
        or (b"&" in raw and b"&#" in raw)
        or b"\r" in raw
    )


def _checked_in_raw_bytes(document: XmlDocument, envelope: Envelope, out: _Findings) -> _Checked | None:
    """The checks over the raw bytes, when infNFe is already written in canonical form; None: ask the canonical form.

    Most NF-e are written as their signer canonicalised them, so the whole-document C14N (about 100 us for
    ten items, 6 ms for 990) can be skipped: infNFe's content is cut from the raw bytes, the apex start tag
    is made from the tree as in the canonical path, and their SHA-1 compared with the DigestValue; the RSA
    signature is checked over SignedInfo (cut from the raw bytes when they show the exact layout, else
    canonicalised on its own: it is small).

    Why it is sound. It returns only when both verify, so the bytes hashed are exactly the canonical bytes
    the key holder signed. They are the content of ``envelope.inf_nfe``, the element the model is read
    from: there is no comment, CDATA or processing instruction (:func:`_raw_may_be_canonical`), so every
    "<" starts a tag, and :func:`_cut`'s count, with each infNFeSupl written ``<infNFeSupl>`` ...
    ``</infNFeSupl>`` after infNFe, leaves room for no other infNFe tag than that element's own start and
    end tags. Parsing canonical bytes gives back the tree they are the canonical form of, so the canonical
    path would reach the same digest and value. The wrapping checks are at least as strict: the Id may
    occur in the bytes only as infNFe's Id and in the Reference URI (raw bytes need not quote every value
    with double quotes, so the value itself is counted), no xml:* attribute may sit above infNFe, and the
    profile walk must find nothing to say. Anything else, a digest or value that does not verify included,
    returns None: the canonical path then decides and says what is wrong, exactly as before. Tests compare
    the two paths on every fixture and on tampered and re-formatted documents.
    """
    if not _raw_may_be_canonical(document):
        return None
    raw = document.raw
    inf = envelope.inf_nfe
    reference_id = inf.get("Id")
    if not reference_id or not reference_id.isalnum() or raw.count(reference_id.encode()) != 2:
        return None
    cut = _cut(envelope, raw)
    if cut is None or _inherited_xml_attributes(inf):
        return None
    supplements = sum(1 for child in envelope.nfe if child.tag == _INF_NFE_SUPL)
    if (raw.count(b"<infNFeSupl>", cut.end) != supplements
            or raw.count(b"</infNFeSupl>", cut.end) != supplements):
        return None
    parts = _fast_parts(envelope, raw, cut)
    if parts is None:
        profile = _Findings()
        signature = _pinned_signature(envelope, profile)
        if signature is None:
            return None
        parts = _check_profile(signature, inf, profile)
        if profile.items or not parts.algorithms_ok or not parts.fragment_reference:
            return None
    if parts.digest is None or parts.signed_info is None or parts.signature_value is None:
        return None
    digest = hashlib.sha1(_apex_start_tag(inf))
    digest.update(memoryview(raw)[cut.content : cut.end])
    digest.update(b"</infNFe>")
    if digest.digest() != parts.digest:
        return None
    certificate_findings = _Findings()
    parsed = _certificate_of(parts, certificate_findings)
    if parsed is None or parsed.public_key is None or certificate_findings.items:
        return None
    signed_info = parts.signed_info_canonical or canonicalize_subtree(parts.signed_info)
    try:
        parsed.public_key.verify(parts.signature_value, signed_info, _PKCS1V15, _SHA1_HASH)
    except InvalidSignature:
        return None
    return parts, parsed, True, True


# One immutable finding, shared: it says the same about every document checked without a trust store.
_NOT_CHECKED: Final = Finding(
    code=CERT_CHAIN_NOT_CHECKED,
    severity=Severity.INFO,
    message="no trust store was given, so the signature's integrity was checked but not whether the "
    "certificate chains to a trusted root (ICP-Brasil); pass a trust store (--trust-store PEM) to judge it",
)


# --- the canonical form of infNFe ----------------------------------------------------------------------

_ASCII_COMPATIBLE: Final = frozenset({"UTF-8", "UTF8", "US-ASCII", "ASCII", "ISO-8859-1", "LATIN1", "WINDOWS-1252"})


def _canonical_document(document: XmlDocument) -> bytes:
    """Inclusive C14N 1.0 without comments of the whole document (a root: lxml gets this right).

    Exclusive C14N gives the same bytes, about a fifth faster, when the document declares no namespace
    prefix at all: every element is then unprefixed and so visibly uses the default namespace, and the
    two algorithms render a default namespace declaration under exactly the same condition (it differs
    from the one in effect). A prefixed declaration can only be written as the ASCII text ``xmlns:`` (no
    entities: the loader refuses DTDs; names admit no character references), so one byte search of the
    raw input decides, for the ASCII-compatible encodings listed (a NUL among the first bytes would mean
    UTF-16 or UTF-32, where the search proves nothing).
    """
    raw = document.raw
    tree = document.tree
    exclusive = (not declares_prefix(raw) and b"\x00" not in raw[:4]
                 and (tree.docinfo.encoding or "UTF-8").upper() in _ASCII_COMPATIBLE)
    return etree.tostring(tree, method="c14n", exclusive=exclusive, with_comments=False)


_INF_START: Final = re.compile(rb'<infNFe(?: [^\s=":]+="[^"]*")*>')
_INF_APEX: Final = b'<infNFe xmlns="' + NFE_NS.encode() + b'"'
_INF_NFE: Final = nfe("infNFe")
_NFE_ONLY: Final = {None: NFE_NS}


def _cut(envelope: Envelope, canonical: bytes) -> _Cut | None:
    """Locate the one infNFe in the whole document's canonical bytes, or None when it is not alone.

    Canonical XML escapes ``<`` in text and in attribute values, and writes every element with a start
    and an end tag. So when the text "infNFe" occurs exactly as often as the tags of infNFe and of NFe's
    infNFeSupl account for, no other element named infNFe exists anywhere, ``</infNFe>`` closes
    ``envelope.inf_nfe`` (unprefixed, so written exactly so), and its start tag is the one ``<infNFe``.
    The start-tag pattern admits no prefixed attribute name, so the cut never has a namespaced attribute
    to carry (the apex rewrite below relies on that).
    """
    inf = envelope.inf_nfe
    if inf.prefix is not None:
        return None
    expected = 2
    for child in envelope.nfe:
        if child.tag == _INF_NFE_SUPL:
            expected += 2
    if _count(canonical, b"infNFe") != expected:
        return None
    end = canonical.rfind(b"</infNFe>")
    match = _INF_START.match(canonical, canonical.find(b"<infNFe"))
    if end == -1 or match is None or match.end() > end:
        return None
    return _Cut(match.group(), match.end(), end)


def _count(data: bytes, needle: bytes) -> int:
    """Exactly ``data.count(needle)``, searched backwards: three times faster through XML for ``infNFe``.

    CPython's forward search advances about a byte at a time here (0.41 ms for the 990-item document),
    the backward one skips (0.14 ms). Both count greedily non-overlapping matches, one from each end; for
    matches of one length both greedy counts are the largest number of disjoint ones, so they are equal.
    """
    if not needle:
        return data.count(needle)  # len(data) + 1
    count, end = 0, len(data)
    while (end := data.rfind(needle, 0, end)) != -1:
        count += 1
    return count


def _canonical_inf_nfe(inf: etree._Element, canonical: bytes, cut: _Cut | None) -> bytes:
    """Inclusive C14N 1.0 (no comments) of the document subset rooted at ``inf``.

    With a cut: the content is cut out of the whole-document form (identical inside, see the module
    docstring) and the apex start tag is rewritten to declare every namespace in scope. Otherwise the
    subtree is re-rooted and canonicalised on its own.
    """
    return b"".join(_canonical_inf_nfe_pieces(inf, canonical, cut))


def _inf_nfe_digest(inf: etree._Element, canonical: bytes, cut: _Cut | None) -> bytes:
    """SHA-1 of :func:`_canonical_inf_nfe`, fed its pieces in order instead of their joined copy.

    The same bytes in the same order give the same digest; joining them first cost a copy as large as
    the document (0.8 MB for 990 items), and with it fresh pages to fault in on every document.
    """
    digest = hashlib.sha1()
    for piece in _canonical_inf_nfe_pieces(inf, canonical, cut):
        digest.update(piece)
    return digest.digest()


def _canonical_inf_nfe_pieces(
    inf: etree._Element, canonical: bytes, cut: _Cut | None
) -> tuple[bytes | memoryview, ...]:
    """The canonical form of infNFe as consecutive pieces (see :func:`_canonical_inf_nfe`)."""
    if cut is None:
        return (canonicalize_subtree(inf),)
    if b" xmlns" not in cut.start_tag and inf.nsmap == {None: NFE_NS}:
        apex = _INF_APEX + cut.start_tag[7:]  # the usual case: only the NF-e namespace is in scope
    else:
        apex = _apex_start_tag(inf)
    return apex, memoryview(canonical)[cut.content : cut.end], b"</infNFe>"


def canonicalize_subtree(element: etree._Element) -> bytes:
    """Inclusive C14N 1.0 without comments of the document subset rooted at ``element``, re-rooted first.

    Never ``etree.tostring(element, method="c14n")`` on a non-root element (lxml bug, module docstring).
    ``etree.tostring`` of a subelement declares every namespace in scope on it, which is exactly the
    namespace axis inclusive C14N gives the apex of a subset.
    """
    rooted = parse_fragment(etree.tostring(element, with_tail=False))
    return etree.tostring(rooted, method="c14n", with_comments=False)


def _apex_start_tag(element: etree._Element) -> bytes:
    """The canonical start tag of ``element`` as the apex of a document subset.

    It declares every namespace in scope; made by canonicalising a childless copy that is a root (so the
    lxml bug cannot touch it). Only for elements without namespaced attributes (the callers check).
    The usual infNFe (only the NF-e namespace in scope, alphanumeric values) is written directly, as C14N
    writes it: the namespace declaration, then the attributes ordered by name (tests compare the two).
    """
    if element.tag == _INF_NFE and element.nsmap == _NFE_ONLY:
        attributes = sorted(element.attrib.items())
        if all(not str(name).startswith("{") and (value.isalnum() or value == "4.00") for name, value in attributes):
            return _INF_APEX + b"".join(b' %s="%s"' % (str(name).encode(), str(value).encode())
                                        for name, value in attributes) + b">"
    return _apex_by_c14n(element)


def _apex_by_c14n(element: etree._Element) -> bytes:
    """:func:`_apex_start_tag` the general way: canonicalise a childless root copy and keep its start tag."""
    apex = etree.Element(element.tag, attrib=dict(element.attrib), nsmap=element.nsmap)  # type: ignore[arg-type,misc]
    shallow = etree.tostring(apex, method="c14n", with_comments=False)
    return shallow[: shallow.rindex(b"</")]


# --- the fast path: the exact SEFAZ layout, recognised in the canonical bytes ---------------------------

_WS: Final = rb"[ \t\n]*"  # white space between elements (canonical XML writes a CR as &#xD;)
_B64: Final = rb"[A-Za-z0-9+/=\s]*"
_INF_NFE_SUPL: Final = nfe("infNFeSupl")
_SIGNATURE: Final = dsig("Signature")


def _exact(text: str) -> bytes:
    return re.escape(text.encode())


def _empty(name: str, algorithm: str) -> bytes:
    """An element with only its Algorithm attribute, with an end tag (canonical) or self-closing (raw bytes)."""
    start = b"<" + name.encode() + b' Algorithm="' + _exact(algorithm) + b'"'
    return b"(?:" + start + b"></" + name.encode() + b">|" + start + b"/>)"


# Everything after </infNFe> up to </NFe> in a document laid out exactly as SEFAZ expects: an optional
# infNFeSupl, then the Signature with its fixed elements and attributes. Canonical XML writes every
# element's start and end tag, attributes in a fixed order and escaped, so one match proves the whole
# profile (no prefix, no extra element or attribute, the algorithms, one certificate, the Signature as the
# last child of NFe). Anything else, even harmless, falls back to the tree walk, which names what differs.
# The empty elements may also be self-closing, as most signers write them: canonical bytes never are, and
# raw bytes (see _checked_in_raw_bytes) often are; SignedInfo's canonical form then writes the end tags.
_EXACT_LAYOUT: Final = re.compile(
    rb"(?:" + _WS + rb"<infNFeSupl>.*?</infNFeSupl>)?" + _WS
    + b'<Signature xmlns="' + _exact(DSIG_NS) + b'">' + _WS + b"<SignedInfo>(?P<si>" + _WS
    + _empty("CanonicalizationMethod", C14N_10) + _WS
    + _empty("SignatureMethod", RSA_SHA1) + _WS
    + b'<Reference URI="(?P<uri>[^"]*)">' + _WS + b"<Transforms>" + _WS
    + _empty("Transform", ENVELOPED) + _WS
    + _empty("Transform", C14N_10) + _WS + b"</Transforms>" + _WS
    + _empty("DigestMethod", SHA1) + _WS
    + b"<DigestValue>(?P<digest>" + _B64 + b")</DigestValue>" + _WS + b"</Reference>" + _WS
    + b")</SignedInfo>" + _WS + b"<SignatureValue>(?P<value>" + _B64 + b")</SignatureValue>" + _WS
    + b"<KeyInfo>" + _WS + b"<X509Data>" + _WS + b"<X509Certificate>",
    re.DOTALL,
)
# After the certificate's text (found with bytes.find: a regex loop over 2 KB of base64 costs more than
# the rest of the check): the end of the Signature, which must also be the end of NFe.
_LAYOUT_END: Final = re.compile(
    b"</X509Certificate>" + _WS + b"</X509Data>" + _WS + b"</KeyInfo>" + _WS + b"</Signature>" + _WS + b"</NFe>"
)
_SIGNED_INFO_APEX: Final = b'<SignedInfo xmlns="' + DSIG_NS.encode() + b'">'
#: The self-closing forms :data:`_EXACT_LAYOUT` admits in SignedInfo, each with its canonical form.
_END_TAGS: Final = tuple(
    (b'<%s Algorithm="%s"/>' % (name, algorithm), b'<%s Algorithm="%s"></%s>' % (name, algorithm, name))
    for name, algorithm in ((b"CanonicalizationMethod", C14N_10.encode()), (b"SignatureMethod", RSA_SHA1.encode()),
                            (b"Transform", ENVELOPED.encode()), (b"Transform", C14N_10.encode()),
                            (b"DigestMethod", SHA1.encode()))
)


def _with_end_tags(signed_info: bytes) -> bytes:
    """A SignedInfo matched by :data:`_EXACT_LAYOUT` with its empty elements written as C14N writes them."""
    if b"/>" in signed_info:
        for self_closed, with_end_tag in _END_TAGS:
            signed_info = signed_info.replace(self_closed, with_end_tag)
    return signed_info


def _decode(text: bytes, size: int | None) -> bytes | None:
    try:
        value = binascii.a2b_base64(text, strict_mode=True)
    except binascii.Error:
        try:  # white space inside (line-wrapped base64): strict mode refuses it, so take it out first
            value = binascii.a2b_base64(b"".join(text.split()), strict_mode=True)
        except binascii.Error:
            return None
    return value if value and (size is None or len(value) == size) else None


def _fast_parts(envelope: Envelope, canonical: bytes, cut: _Cut) -> _Parts | None:
    """The signature's parts when the document has exactly the SEFAZ layout; None to take the tree walk.

    With ``cut`` (infNFe is alone in the document), a match right after ``</infNFe>`` that runs to
    ``</NFe>`` means NFe holds infNFe, maybe infNFeSupl, then the Signature, and nothing else.
    """
    nfe_element = envelope.nfe
    reference_id = envelope.inf_nfe.get("Id")
    if not reference_id or nfe_element[0] is not envelope.inf_nfe or len(nfe_element) > 3:
        return None
    signature = nfe_element[-1]
    if signature.tag != _SIGNATURE:
        return None
    match = _EXACT_LAYOUT.match(canonical, cut.end + 9)
    if match is None or match["uri"] != b"#" + _attribute_text(reference_id):
        return None
    certificate_start = match.end()
    certificate_end = canonical.find(b"</X509Certificate>", certificate_start)
    if (certificate_end == -1 or canonical.find(b"<", certificate_start, certificate_end) != -1
            or canonical.find(b"&", certificate_start, certificate_end) != -1
            or _LAYOUT_END.match(canonical, certificate_end) is None):
        return None
    digest = _decode(match["digest"], 20)
    value = _decode(match["value"], None)
    if digest is None or value is None:
        return None
    signed_info = signature[0]
    apex = _SIGNED_INFO_APEX if signed_info.nsmap == {None: DSIG_NS} else _apex_start_tag(signed_info)
    return _Parts(
        signed_info=signed_info,
        digest_element=signed_info[2][2],
        digest=digest,
        signature_value_element=signature[1],
        signature_value=value,
        certificate_element=signature[2][0][0],
        certificate_text=canonical[certificate_start:certificate_end],
        signed_info_canonical=b"".join((apex, _with_end_tags(match["si"]), b"</SignedInfo>")),
    )


# --- where the signature is ----------------------------------------------------------------------------


def _pinned_signature(envelope: Envelope, out: _Findings) -> etree._Element | None:
    """The emitter's Signature: the last child of ``envelope.nfe``, right after infNFe (and infNFeSupl).

    Only children of NFe are considered, so a Signature in protNFe (or anywhere else) never stands in.
    Elements that do not belong in a signed NFe are wrapping findings: they could hide a second copy.
    """
    nfe_element = envelope.nfe
    children = list(nfe_element)
    signatures = [child for child in children if child.tag == dsig("Signature")]
    if not signatures:
        stray = [el for el in nfe_element.iter() if local_name(el.tag) == "Signature"]
        for element in stray:
            space = namespace(element.tag)
            where = "in the XMLDSig namespace" if space == DSIG_NS else f"in namespace {space or '(none)'}"
            out.add(LOCATION, "298", "expected the XMLDSig Signature as the last child of NFe; found a Signature "
                    f"element {where} at {element_path(element)}", element)
        if not stray:
            out.add(MISSING, None, "expected an XMLDSig Signature as the last child of NFe; the NF-e is not signed",
                    nfe_element)
        return None
    if len(signatures) > 1:
        out.add(LOCATION, "298", f"expected one Signature in NFe; found {len(signatures)}", nfe_element)
        return None
    signature = signatures[0]
    supplement_seen = False
    for index, child in enumerate(children):
        if child is envelope.inf_nfe:
            if index != 0:
                out.add(WRAPPING, "298", "expected infNFe to be the first child of NFe; it is child "
                        f"number {index + 1}", child)
        elif child is signature:
            if index != len(children) - 1:
                out.add(LOCATION, "298", "expected the Signature as the last child of NFe (after infNFe and "
                        f"infNFeSupl); it is followed by {len(children) - 1 - index} element(s)", child)
        elif child.tag == nfe("infNFeSupl") and not supplement_seen and index < children.index(signature):
            supplement_seen = True
        else:
            out.add(WRAPPING, "298", f"expected NFe to hold only infNFe, infNFeSupl and Signature; found "
                    f"<{local_name(child.tag)}>, which could carry a second copy of the signed content", child)
    return signature


# --- the profile ---------------------------------------------------------------------------------------


def _children(element: etree._Element, names: tuple[str, ...], out: _Findings) -> list[etree._Element] | None:
    """The element children of ``element`` if they are exactly XMLDSig ``names`` in order, else a finding.

    Also enforces what the SEFAZ schema says about every XMLDSig element here: no prefix, no text other
    than white space between children, no attributes but the few the schema names.
    """
    found = list(element)
    ok = [child.tag for child in found] == [dsig(name) for name in names]
    if not ok:
        shown = ", ".join(_display(child) for child in found) or "nothing"
        out.add(PROFILE, "298", f"expected {local_name(element.tag)} to hold {', '.join(names) or 'nothing'}; "
                f"found {shown}", element)
        return None
    if names and ((element.text or "").strip() or any((child.tail or "").strip() for child in found)):
        out.add(PROFILE, "298", f"expected only elements inside {local_name(element.tag)}; found text", element)
    return found


def _display(element: etree._Element) -> str:
    space = namespace(element.tag)
    name = local_name(element.tag)
    if element.prefix:
        name = f"{element.prefix}:{name}"
    return f"<{name}>" if space == DSIG_NS else f"<{name}> (namespace {space or 'none'})"


_PROFILE_TAGS: Final = tuple(dsig(name) for name in (
    "Signature", "SignedInfo", "CanonicalizationMethod", "SignatureMethod", "Reference", "Transforms", "Transform",
    "DigestMethod", "DigestValue", "SignatureValue", "KeyInfo", "X509Data", "X509Certificate"))
_ALLOWED_ATTRIBUTES: Final = {
    "Signature": {"Id"},
    "SignedInfo": {"Id"},
    "Reference": {"Id", "URI", "Type"},
    "SignatureValue": {"Id"},
    "KeyInfo": {"Id"},
    "CanonicalizationMethod": {"Algorithm"},
    "SignatureMethod": {"Algorithm"},
    "Transform": {"Algorithm"},
    "DigestMethod": {"Algorithm"},
}


def _check_attributes(element: etree._Element, out: _Findings) -> None:
    allowed = _ALLOWED_ATTRIBUTES.get(local_name(element.tag), set())
    extra = [name for name in element.attrib if name not in allowed]
    if extra:
        out.add(PROFILE, "298", f"expected {local_name(element.tag)} to carry only "
                f"{', '.join(sorted(allowed)) or 'no attributes'}; found {', '.join(map(str, extra))}", element)


def _algorithm(element: etree._Element, expected: str, what: str, out: _Findings, parts: _Parts) -> None:
    found = element.get("Algorithm")
    if found != expected:
        parts.algorithms_ok = False
        out.add(PROFILE, "298", f"expected the {what} {expected}; found {found or 'none'}", element)
    if len(element) or (element.text or "").strip():
        parts.algorithms_ok = False
        out.add(PROFILE, "298", f"expected an empty {local_name(element.tag)}; it has content "
                "(parameters such as HMACOutputLength or XPath are not part of the NF-e profile)", element)


def _base64(element: etree._Element, what: str, size: int | None, out: _Findings) -> bytes | None:
    text = "".join((element.text or "").split())
    try:
        value = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        value = None
    if not value or (size is not None and len(value) != size):
        expected = f"base64 of {size} bytes" if size else "base64"
        out.add(PROFILE, "298", f"expected {what} to be {expected}; found {text[:40]!r}", element)
        return None
    return value


def _check_profile(signature: etree._Element, inf: etree._Element, out: _Findings) -> _Parts:
    """Check the Signature against the SEFAZ schema and profile; return what the crypto checks need."""
    parts = _Parts()
    prefixes = sorted({element.prefix for element in signature.iter() if element.prefix})
    if prefixes:
        out.add(PROFILE, "298", f"expected an unprefixed <Signature xmlns=\"{DSIG_NS}\"> and unprefixed "
                f"children; found the prefix(es) {', '.join(p + ':' for p in prefixes)}", signature)
    for element in signature.iter(*_PROFILE_TAGS):
        _check_attributes(element, out)
    top = _children(signature, ("SignedInfo", "SignatureValue", "KeyInfo"), out)
    if top is None:
        # Already 298; each part that is still unambiguous is checked further, to say all that is wrong.
        signed_info, signature_value, key_info = (
            _single(signature, "SignedInfo"), _single(signature, "SignatureValue"), _single(signature, "KeyInfo"))
    else:
        signed_info, signature_value, key_info = top
    if signed_info is not None:
        parts.signed_info = signed_info
        _check_signed_info(signed_info, inf, out, parts)
    else:
        parts.algorithms_ok = False
    if signature_value is not None:
        parts.signature_value_element = signature_value
        parts.signature_value = _base64(signature_value, "SignatureValue", None, out)
    if key_info is not None:
        x509_data = _children(key_info, ("X509Data",), out)
        if x509_data is not None:
            certificates = _children(x509_data[0], ("X509Certificate",), out)
            if certificates is not None:
                parts.certificate_element = certificates[0]
                parts.certificate_text = (certificates[0].text or "").encode()
        else:
            # A KeyValue (or another key hint) beside one X509Data holding one certificate: 298 already,
            # but the certificate is still unambiguous, so it is described and checked. Two certificates
            # are ambiguous: none is used.
            data = key_info.findall(dsig("X509Data"))
            if len(data) == 1 and [child.tag for child in data[0]] == [dsig("X509Certificate")]:
                parts.certificate_element = data[0][0]
                parts.certificate_text = (data[0][0].text or "").encode()
    return parts


def _single(parent: etree._Element, name: str) -> etree._Element | None:
    found = parent.findall(dsig(name))
    return found[0] if len(found) == 1 else None


def _check_signed_info(signed_info: etree._Element, inf: etree._Element, out: _Findings, parts: _Parts) -> None:
    found = _children(signed_info, ("CanonicalizationMethod", "SignatureMethod", "Reference"), out)
    if found is None:
        parts.algorithms_ok = False
        references = signed_info.findall(dsig("Reference"))
        if len(references) != 1:
            out.add(PROFILE, "298", f"expected exactly one Reference in SignedInfo; found {len(references)}",
                    signed_info)
            return
        reference = references[0]
    else:
        c14n, method, reference = found
        _algorithm(c14n, C14N_10, "canonicalization C14N 1.0", out, parts)
        _algorithm(method, RSA_SHA1, "signature method RSA-SHA1", out, parts)
    expected_uri = "#" + (inf.get("Id") or "")
    uri = reference.get("URI")
    if uri != expected_uri or expected_uri == "#":
        parts.fragment_reference = uri is not None and uri.startswith("#") and len(uri) > 1
        shown = "no URI" if uri is None else f"URI={uri!r}"
        out.add(REFERENCE, "298", f"expected the Reference URI to be {expected_uri!r} (the infNFe Id of this "
                f"document); found {shown}", reference)
    inner = _children(reference, ("Transforms", "DigestMethod", "DigestValue"), out)
    if inner is None:
        parts.algorithms_ok = False
        digest_value = reference.find(dsig("DigestValue"))
        parts.digest_element = digest_value
        return
    transforms, digest_method, digest_value = inner
    parts.digest_element = digest_value
    _algorithm(digest_method, SHA1, "digest method SHA-1", out, parts)
    transform_list = _children(transforms, ("Transform", "Transform"), out)
    if transform_list is None:
        parts.algorithms_ok = False
    else:
        # In this order: the enveloped-signature transform works on the document, which canonical bytes no
        # longer are (xmlsec1 refuses the reverse order: "same document is required for transform").
        algorithms = [transform.get("Algorithm") for transform in transform_list]
        if algorithms != [ENVELOPED, C14N_10]:
            parts.algorithms_ok = False
            out.add(PROFILE, "298", "expected the transforms enveloped-signature then C14N 1.0; found "
                    f"{', '.join(map(str, algorithms))}", transforms)
        for transform in transform_list:
            if len(transform) or (transform.text or "").strip():
                parts.algorithms_ok = False
                out.add(PROFILE, "298", "expected an empty Transform; it has content (XPath parameters are not "
                        "part of the NF-e profile)", transform)
    parts.digest = _base64(digest_value, "DigestValue", 20, out)


# --- wrapping ------------------------------------------------------------------------------------------


def _attribute_text(value: str) -> bytes:
    """An attribute value as canonical XML writes it (C14N 1.0 escaping)."""
    if value.isalnum():  # every real NF-e Id ("NFe" + 44 characters): nothing to escape
        return value.encode("utf-8")
    escaped = (value.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
               .replace("\t", "&#x9;").replace("\n", "&#xA;").replace("\r", "&#xD;"))
    return escaped.encode("utf-8")


def _check_wrapping(
    document: XmlDocument, envelope: Envelope, canonical: bytes, cut: _Cut | None, out: _Findings
) -> None:
    """No other infNFe anywhere, no other ID-like attribute with the infNFe Id, no inherited xml:* attribute.

    Counting in the canonical bytes is exact and cheap (canonical XML escapes ``<`` and ``"`` inside
    values); only when a count is off does the slower tree scan run, to name the culprits precisely.
    """
    inf = envelope.inf_nfe
    if cut is None:  # infNFe may not be alone: find the others
        for element in document.root.iter():
            if local_name(element.tag) == "infNFe" and element is not inf:
                out.add(WRAPPING, "298", "expected one infNFe element in the document; found another at "
                        f"{element_path(element)}, which could pass for the signed content", element)
    reference_id = inf.get("Id")
    if reference_id and canonical.count(b'="' + _attribute_text(reference_id) + b'"') != 1:
        for owner in document.root.iter():
            for raw_name, value in owner.attrib.items():
                name = str(raw_name)
                if value != reference_id or local_name(name).lower() != "id" or (owner is inf and name == "Id"):
                    continue
                out.add(WRAPPING, "298", f"expected the infNFe Id {reference_id!r} to be unique; the attribute "
                        f"{_attribute_display(owner, name)} on {element_path(owner)} repeats it, so a verifier "
                        "could resolve the Reference to that element", owner)
    for ancestor, inherited in _inherited_xml_attributes(inf):
        out.add(PROFILE, "298", f"expected no xml:* attribute above infNFe; <{local_name(ancestor.tag)}> has "
                f"{', '.join('xml:' + local_name(name) for name in inherited)}, which canonical XML would "
                "carry into the signed content", ancestor)


def _inherited_xml_attributes(inf: etree._Element) -> list[tuple[etree._Element, list[str]]]:
    """Each ancestor of infNFe with xml:* attributes (inclusive C14N copies them onto the subset's apex)."""
    found = []
    for ancestor in inf.iterancestors():
        inherited = [str(name) for name in ancestor.attrib if str(name).startswith(_XML_ATTRIBUTE)]
        if inherited:
            found.append((ancestor, inherited))
    return found


_XML_ATTRIBUTE: Final = "{" + _XML_NS + "}"


def _attribute_display(owner: etree._Element, name: str) -> str:
    space = namespace(name)
    if space is None:
        return name
    if space == _XML_NS:
        return f"xml:{local_name(name)}"
    prefix = next((p for p, uri in owner.nsmap.items() if uri == space and p), None)
    return f"{prefix}:{local_name(name)}" if prefix else f"{{{space}}}{local_name(name)}"


# --- cryptography --------------------------------------------------------------------------------------


def _digest_finding(
    document: XmlDocument, expected: bytes, actual: bytes, element: etree._Element, out: _Findings
) -> None:
    note = (" (the document holds processing instructions, which are dropped before checking)"
            if document.has_pis else "")
    out.add(DIGEST, "297", "expected the SHA-1 digest of infNFe to equal the signed DigestValue "
            f"{base64.b64encode(expected).decode()}; it is {base64.b64encode(actual).decode()}: the content "
            f"changed after signing{note}", element)


_PKCS1V15: Final = padding.PKCS1v15()
_SHA1_HASH: Final = hashes.SHA1()


def _check_value(
    signed_info_canonical: bytes,
    signature_value: bytes,
    value_element: etree._Element,
    public_key: rsa.RSAPublicKey,
    out: _Findings,
) -> bool:
    try:
        public_key.verify(signature_value, signed_info_canonical, _PKCS1V15, _SHA1_HASH)
    except InvalidSignature:
        out.add(VALUE, "297", "expected the RSA-SHA1 SignatureValue to verify over SignedInfo with the "
                "certificate's public key; it does not: SignedInfo changed after signing, or another key signed "
                "it", value_element)
        return False
    return True


# --- the certificate -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ParsedCertificate:
    der: bytes
    certificate: x509.Certificate
    info: CertificateInfo
    public_key: rsa.RSAPublicKey | None
    key_kind: str
    cnpj_from_san: str | None
    cnpj_from_cn: str | None
    cnpj_base: str | None


def _read_certificate(
    text: bytes, where: etree._Element | str | None, out: _Findings
) -> _ParsedCertificate | None:
    try:
        return _parse_certificate(text) if len(text) <= _CACHED_SIZE else _parse_certificate.__wrapped__(text)
    except (binascii.Error, ValueError, UnsupportedAlgorithm) as exc:
        out.add(CERT_UNREADABLE, "290", f"expected X509Certificate to hold a DER certificate in base64; it "
                f"cannot be read ({str(exc)[:120]})", where)
        return None


_CACHED_SIZE: Final = 16 * 1024  # real certificates are 2-3 KB of base64; larger ones are parsed, not kept


@functools.lru_cache(maxsize=64)
def _parse_certificate(text: bytes) -> _ParsedCertificate:
    """Parse a certificate (its base64 text) once: a batch shares one emitter certificate."""
    der = base64.b64decode(b"".join(text.split()), validate=True)
    certificate = x509.load_der_x509_certificate(der)
    key = certificate.public_key()
    san_cnpj = _cnpj_from_san(certificate)
    cn_cnpj = _cnpj_from_common_name(certificate)
    info = CertificateInfo(
        subject=certificate.subject.rfc4514_string(),
        issuer=certificate.issuer.rfc4514_string(),
        serial=format(certificate.serial_number, "X"),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        cnpj=san_cnpj or cn_cnpj,
    )
    public_key = key if isinstance(key, rsa.RSAPublicKey) else None
    cnpj_base = cnpj_id.base(info.cnpj) if info.cnpj else None
    return _ParsedCertificate(der, certificate, info, public_key, type(key).__name__, san_cnpj, cn_cnpj, cnpj_base)


def _der_string(value: bytes) -> str | None:
    """The text of a DER OCTET STRING / PrintableString / UTF8String / IA5String (the forms seen in e-CNPJs)."""
    if len(value) < 2 or value[0] not in (0x04, 0x13, 0x0C, 0x16):
        return None
    length = value[1]
    offset = 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 2 or len(value) < 2 + count:
            return None
        length = int.from_bytes(value[2 : 2 + count], "big")
        offset = 2 + count
    content = value[offset : offset + length]
    if len(content) != length:
        return None
    try:
        return content.decode("ascii").strip()
    except UnicodeDecodeError:
        return None


# The certificate's CNPJ is taken as written (shape only, no check digits): judging the number itself is
# the emitter rules' job, and a test certificate's 99999999999999 is still "a CNPJ" for rules 292/213.
_CNPJ_SHAPE: Final = re.compile(r"[0-9A-Z]{12}[0-9]{2}")


def _cnpj_from_san(certificate: x509.Certificate) -> str | None:
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return None
    for other in san.get_values_for_type(x509.OtherName):
        if other.type_id.dotted_string == CNPJ_OID:
            text = _der_string(other.value)
            if text is not None and _CNPJ_SHAPE.fullmatch(cnpj_id.compact(text)):
                return cnpj_id.compact(text)
    return None


def _cnpj_from_common_name(certificate: x509.Certificate) -> str | None:
    try:
        names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    except ValueError:
        return None
    for attribute in names:
        value = attribute.value if isinstance(attribute.value, str) else attribute.value.decode("latin-1")
        candidate = cnpj_id.compact(value.rpartition(":")[2])
        if ":" in value and _CNPJ_SHAPE.fullmatch(candidate):
            return candidate
    return None


def _utc(moment: datetime) -> datetime:
    """Aware datetimes compare correctly across offsets; a naive one is taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _check_certificate(
    parsed: _ParsedCertificate,
    element: etree._Element | str | None,
    emitted_at: datetime | None,
    emitter_cnpj: str | None,
    out: _Findings,
) -> None:
    info = parsed.info
    if emitted_at is not None:
        when = _utc(emitted_at)
        if not info.not_before <= when <= info.not_after:
            out.add(CERT_VALIDITY, "291", f"expected the certificate to be valid at dhEmi {emitted_at.isoformat()}; "
                    f"it is valid from {info.not_before.isoformat()} to {info.not_after.isoformat()}", element)
    if emitter_cnpj is None:
        return
    if info.cnpj is None:
        out.add(CERT_NO_CNPJ, "292", "expected the certificate to carry the emitter's CNPJ (subjectAltName "
                f"otherName {CNPJ_OID}, or a common name NAME:CNPJ); it carries none (subject: {info.subject})",
                element)
        return
    if parsed.cnpj_base != emitter_cnpj[:8] and parsed.cnpj_base != cnpj_id.base(emitter_cnpj):
        out.add(CERT_CNPJ_MISMATCH, "213", f"expected the certificate's CNPJ base to equal the emitter's "
                f"({cnpj_id.base(emitter_cnpj)}, emit/CNPJ {emitter_cnpj}); the certificate's CNPJ is "
                f"{info.cnpj} (base {cnpj_id.base(info.cnpj)})", element)


# Permissive policies: ICP-Brasil CAs and end-entity certificates are not shaped like web PKI (no
# server/client EKU rules, no SAN DNS names). cryptography still requires basicConstraints on CAs, checks
# every signature, validity at the chosen time, and path length.
_CA_POLICY: Final = ExtensionPolicy.permit_all().require_present(x509.BasicConstraints, Criticality.AGNOSTIC, None)
_EE_POLICY: Final = ExtensionPolicy.permit_all()


#: Chains remembered per trust store (a batch has a handful of emitter certificates); cleared when full.
_VERIFIED_MAX: Final = 256


def _check_chain(
    parsed: _ParsedCertificate,
    element: etree._Element | str | None,
    trust_store: TrustStore,
    emitted_at: datetime | None,
    out: _Findings,
) -> None:
    """Judge the chain from ``parsed`` to a root of ``trust_store`` at dhEmi (293/295).

    A chain that verified is remembered, per trust store, so a batch signed by one certificate pays for
    path building once (~250 us a document otherwise, most of a signature check). What the answer depends
    on: the certificate (its exact DER bytes), the store (the memo lives on it, and starts afresh if its
    roots or intermediates are replaced), and the moment only through the validity periods of those
    certificates (the one time-dependent check of the path). So the key holds the DER and where ``when``
    falls among every validity bound of the store and of the certificate (before, on or after each one):
    two moments with the same key pass or fail every validity check alike. Only successes are kept; a
    failure is judged again each time, so its message is always this document's.
    """
    info = parsed.info
    when = _utc(emitted_at) if emitted_at is not None else datetime.now(UTC)
    verified, bounds = trust_store._verified_chains()
    leaf_bounds = tuple(sorted((info.not_before, info.not_after)))
    key = (parsed.der, bisect.bisect_left(bounds, when), bisect.bisect_right(bounds, when),
           bisect.bisect_left(leaf_bounds, when), bisect.bisect_right(leaf_bounds, when))
    if key in verified:
        return
    verifier = (
        PolicyBuilder()
        .store(trust_store._store)
        .time(when)
        .extension_policies(ca_policy=_CA_POLICY, ee_policy=_EE_POLICY)
        .build_client_verifier()
    )
    try:
        verifier.verify(parsed.certificate, list(trust_store.intermediates))
    except VerificationError as exc:
        reason = str(exc)
        if "candidates exhausted" in reason and "no interior errors" in reason:
            out.add(CERT_UNTRUSTED, "295", f"expected the certificate (issuer: {info.issuer}) to lead to a root in "
                    f"the trust store; no path to any of its {len(trust_store.roots)} root(s) was found", element)
        else:
            out.add(CERT_CHAIN, "293", f"expected a valid certificate chain to the trust store at "
                    f"{when.isoformat()}; {reason}", element)
    except (ValueError, UnsupportedAlgorithm) as exc:
        out.add(CERT_CHAIN, "293", f"expected a certificate chain that can be checked; {exc}", element)
    else:
        if len(verified) >= _VERIFIED_MAX:
            verified.clear()
        verified[key] = None

