"""Test-signing kit: ICP-Brasil-shaped TEST certificates, and NF-e signatures made exactly as SEFAZ expects.

Why this exists: tests of the signature check need real signatures over documents we build, by
certificates whose every field we choose (CNPJ, validity, issuer). Nothing here touches a real
certificate, and everything it makes says so: each name carries ``O=nfe-invoice TEST ONLY``. Keys are
generated in memory when asked for; none is ever written to the repository.

Why signatures are built by hand rather than with signxml: signxml's signer refuses SHA-1 outright,
and NF-e 4.00 is RSA-SHA1 with a SHA-1 digest. The layout made here is the one SEFAZ accepts and
:mod:`nfe_invoice.signature` checks: an unprefixed ``<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">``
as the last child of ``NFe``, inclusive C14N 1.0, transforms enveloped-signature + C14N, one Reference
``#NFe<key>``, one ``X509Certificate``.

Why canonicalisation re-roots the element first: lxml (5.3 to 6.1, libxml2 2.12 to 2.14) writes a
spurious ``xmlns=""`` on grandchildren when it canonicalises a non-root element in place. Serialising the
subtree (lxml copies the in-scope namespace declarations onto it) and parsing it back as a root gives the
correct bytes. The signatures made here verify with ``xmlsec1`` (see tests/test_signature_xmlsec.py).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier
from lxml import etree

from ..xml import DSIG_NS, dsig, load_bytes, nfe, parse_fragment
from .builder import TEST_EMITTER_CNPJ, TEST_RECIPIENT_CPF

TEST_ORGANIZATION: Final = "nfe-invoice TEST ONLY"
C14N_10: Final = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"

# ICP-Brasil (DOC-ICP-04) otherName fields of an e-CNPJ: the responsible person's data, their name,
# the company's CNPJ, and its INSS CEI number.
OID_RESPONSIBLE_DATA: Final = ObjectIdentifier("2.16.76.1.3.4")
OID_RESPONSIBLE_NAME: Final = ObjectIdentifier("2.16.76.1.3.2")
OID_CNPJ: Final = ObjectIdentifier("2.16.76.1.3.3")
OID_CEI: Final = ObjectIdentifier("2.16.76.1.3.7")

# Defaults cover the builder's default emission date (2026-11-20) with room on both sides.
DEFAULT_NOT_BEFORE: Final = datetime(2026, 1, 1, tzinfo=UTC)
DEFAULT_NOT_AFTER: Final = datetime(2027, 12, 31, 23, 59, 59, tzinfo=UTC)


@dataclass(frozen=True)
class SigningIdentity:
    """A TEST private key with its certificate and the chain of TEST CAs above it (nearest first)."""

    key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def certificate_der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def private_key_pem(self) -> bytes:
        """Unencrypted PKCS#8 PEM, for handing the TEST key to tools such as ``xmlsec1 --sign``."""
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def generate_test_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    """A fresh RSA key (about 50-80 ms for 2048 bits; cache it per test session)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def _der_string(tag: int, text: str) -> bytes:
    """DER of a short string (OCTET STRING 0x04, PrintableString 0x13, ...), as ICP-Brasil otherNames carry."""
    content = text.encode("ascii")
    if len(content) > 127:
        raise ValueError("only short (< 128 bytes) DER strings are needed here")
    return bytes((tag, len(content))) + content


def _name(common_name: str, unit: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "BR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, TEST_ORGANIZATION),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_test_ca(
    common_name: str = "nfe-invoice TEST ROOT CA",
    *,
    issuer: SigningIdentity | None = None,
    not_before: datetime = datetime(2020, 1, 1, tzinfo=UTC),
    not_after: datetime = datetime(2040, 1, 1, tzinfo=UTC),
    key: rsa.RSAPrivateKey | None = None,
) -> SigningIdentity:
    """A TEST certification authority: a self-signed root, or an intermediate CA under ``issuer``."""
    key = key or generate_test_key()
    subject = _name(common_name, "TEST CA - NOT ICP-Brasil")
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    signer = issuer.key if issuer else key
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
        )
    chain = (issuer.certificate, *issuer.chain) if issuer else ()
    return SigningIdentity(key, builder.sign(signer, hashes.SHA256()), chain)


def make_test_certificate(
    cnpj: str | None = TEST_EMITTER_CNPJ,
    *,
    company_name: str = "LOJA EXEMPLO COMERCIO LTDA",
    not_before: datetime = DEFAULT_NOT_BEFORE,
    not_after: datetime = DEFAULT_NOT_AFTER,
    issuer: SigningIdentity | None = None,
    key: rsa.RSAPrivateKey | None = None,
    cnpj_in_san: bool = True,
    cnpj_encoding: Literal["octet", "printable"] = "octet",
    cnpj_in_common_name: bool = True,
) -> SigningIdentity:
    """A TEST certificate shaped like an ICP-Brasil e-CNPJ (A1).

    The CNPJ goes in the subjectAltName otherName 2.16.76.1.3.3 (DER OCTET STRING, or PrintableString as
    some authorities write it) and in the common name as ``NAME:CNPJ``; each can be left out to test the
    fallbacks and rule 292. Without ``issuer`` the certificate is self-signed (a chain check then fails,
    as it should); with one (see :func:`make_test_ca`) it chains to that TEST CA.
    """
    key = key or generate_test_key()
    common_name = f"{company_name}:{cnpj}" if cnpj and cnpj_in_common_name else company_name
    subject = _name(common_name, "TEST CERTIFICATE - NOT VALID FOR NF-e")
    tag = 0x04 if cnpj_encoding == "octet" else 0x13
    other_names = [
        x509.OtherName(OID_RESPONSIBLE_DATA, _der_string(tag, f"01011980{TEST_RECIPIENT_CPF}" + "0" * 27)),
        x509.OtherName(OID_RESPONSIBLE_NAME, _der_string(tag, "RESPONSAVEL TESTE")),
    ]
    if cnpj and cnpj_in_san:
        other_names.append(x509.OtherName(OID_CNPJ, _der_string(tag, cnpj)))
    other_names.append(x509.OtherName(OID_CEI, _der_string(tag, "0" * 12)))
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, True, True, False, False, False, False, False, False), critical=True
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION]),
            critical=False,
        )
        .add_extension(
            x509.SubjectAlternativeName([*other_names, x509.RFC822Name("teste@example.com")]), critical=False
        )
    )
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
        )
    signer = issuer.key if issuer else key
    chain = (issuer.certificate, *issuer.chain) if issuer else ()
    return SigningIdentity(key, builder.sign(signer, hashes.SHA256()), chain)


def canonicalize(element: etree._Element) -> bytes:
    """Inclusive C14N 1.0 (without comments) of the document subset rooted at ``element``.

    Re-rooted first: never call ``etree.tostring(element, method="c14n")`` on a non-root element (see the
    module docstring for the lxml bug).
    """
    rooted = parse_fragment(etree.tostring(element, with_tail=False))
    return etree.tostring(rooted, method="c14n", with_comments=False)


def signature_template(reference_id: str, digest_value: str, certificate_der: bytes) -> str:
    """The SEFAZ-profile ``<Signature>`` with an empty SignatureValue, as text."""
    certificate = base64.b64encode(certificate_der).decode("ascii")
    return (
        f'<Signature xmlns="{DSIG_NS}"><SignedInfo>'
        f'<CanonicalizationMethod Algorithm="{C14N_10}"/>'
        f'<SignatureMethod Algorithm="{DSIG_NS}rsa-sha1"/>'
        f'<Reference URI="#{reference_id}"><Transforms>'
        f'<Transform Algorithm="{DSIG_NS}enveloped-signature"/><Transform Algorithm="{C14N_10}"/>'
        f'</Transforms><DigestMethod Algorithm="{DSIG_NS}sha1"/><DigestValue>{digest_value}</DigestValue>'
        f"</Reference></SignedInfo><SignatureValue></SignatureValue>"
        f"<KeyInfo><X509Data><X509Certificate>{certificate}</X509Certificate></X509Data></KeyInfo>"
        f"</Signature>"
    )


def sign_enveloped(parent: etree._Element, target: etree._Element, identity: SigningIdentity) -> None:
    """Append to ``parent`` a SEFAZ-profile enveloped ``<Signature>`` of ``target`` (referenced by its Id).

    The one signing routine: NF-e (``NFe`` signs ``infNFe``) and events (``evento`` signs ``infEvento``)
    are signed the same way, RSA-SHA1 over the C14N 1.0 of SignedInfo, SHA-1 digest of the target.
    """
    reference_id = target.get("Id")
    if not reference_id:
        raise ValueError(f"<{target.tag}> has no Id attribute to reference")
    digest = base64.b64encode(hashlib.sha1(canonicalize(target)).digest()).decode("ascii")
    signature = parse_fragment(signature_template(reference_id, digest, identity.certificate_der).encode())
    parent.append(signature)
    signed_info = signature.find(dsig("SignedInfo"))
    signature_value = signature.find(dsig("SignatureValue"))
    if signed_info is None or signature_value is None:  # pragma: no cover - built just above
        raise AssertionError("the signature template lost its SignedInfo or SignatureValue")
    value = identity.key.sign(canonicalize(signed_info), padding.PKCS1v15(), hashes.SHA1())
    signature_value.text = base64.b64encode(value).decode("ascii")


def sign_nfe(nfe_xml: bytes, identity: SigningIdentity) -> bytes:
    """Sign an unsigned ``<NFe>`` document (from :func:`~nfe_invoice.testing.build_nfe`) as SEFAZ expects.

    The Signature becomes the last child of ``NFe`` (after ``infNFe`` and any ``infNFeSupl``); the
    output is compact UTF-8 with an XML declaration, ready for :func:`~nfe_invoice.testing.wrap_nfeproc`.
    """
    document = load_bytes(nfe_xml)
    root = document.root
    if root.tag != nfe("NFe"):
        raise ValueError("sign_nfe signs an <NFe> document; wrap the signed result in nfeProc afterwards")
    if root.find(dsig("Signature")) is not None:
        raise ValueError("the NFe is already signed")
    inf = root.find(nfe("infNFe"))
    if inf is None:
        raise ValueError("the NFe has no infNFe")
    sign_enveloped(root, inf, identity)
    return b'<?xml version="1.0" encoding="UTF-8"?>' + etree.tostring(root, encoding="utf-8")
