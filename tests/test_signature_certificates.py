"""The signing certificate: validity at dhEmi (291), CNPJ (292, 213), unreadable (290), chain of trust.

Certificates are TEST certificates made at test time; the chain tests use a TEST root and intermediate.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lxml import etree

from nfe_invoice.errors import InputError
from nfe_invoice.signature import TrustStore, TrustStoreError, load_trust_store
from nfe_invoice.testing import build_nfe, default_spec, make_test_ca, make_test_certificate, sign_nfe
from nfe_invoice.testing.builder import TEST_ALPHANUMERIC_CNPJ, TEST_EMITTER_CNPJ

from .signature_helpers import (
    check,
    emitter,
    find,
    intermediate_ca,
    mutate,
    root_ca,
    signature_of,
    signed_nfe,
    stranger,
    when,
)

# The builder's default dhEmi is 2026-11-20T14:30-03:00; the default TEST certificate covers 2026-2027.


def test_a_certificate_valid_at_dhemi_passes_even_if_expired_today() -> None:
    identity = make_test_certificate(not_before=when(2020), not_after=when(2027), key=emitter().key)
    checked = check(sign_nfe(build_nfe(default_spec(1)), identity), emitted_at=when(2026))
    assert checked.errors == []


@pytest.mark.parametrize(("emitted_at", "fails"), [(when(2025), True), (when(2028), True), (when(2026), False)])
def test_validity_is_judged_at_dhemi(emitted_at: datetime, fails: bool) -> None:
    checked = check(signed_nfe(1), emitted_at=emitted_at)
    assert ("certificate.validity" in checked.errors) is fails
    assert checked.result.intact  # validity is a separate question from integrity
    if fails:
        assert "valid at dhEmi" in checked.message("certificate.validity")
        assert checked.xpath("certificate.validity") == "/NFe/Signature/KeyInfo/X509Data/X509Certificate"


def test_the_document_dhemi_is_what_the_caller_passes() -> None:
    late = signed_nfe(1, emitted_at=datetime(2028, 3, 1, 10, tzinfo=UTC))
    assert check(late).errors == ["certificate.validity"]


def test_a_naive_dhemi_is_taken_as_utc() -> None:
    identity = emitter().certificate
    just_before = identity.not_valid_before_utc.replace(tzinfo=None) - timedelta(seconds=1)
    assert check(signed_nfe(1), emitted_at=just_before).errors == ["certificate.validity"]
    assert check(signed_nfe(1), emitted_at=just_before + timedelta(seconds=2)).errors == []


def test_no_dhemi_means_no_validity_judgement() -> None:
    assert check(signed_nfe(1), emitted_at=None).errors == []


@pytest.mark.parametrize("encoding", ["octet", "printable"])
def test_the_cnpj_is_read_from_the_icp_brasil_other_name(encoding: str) -> None:
    identity = make_test_certificate(cnpj_encoding=encoding, cnpj_in_common_name=False,  # type: ignore[arg-type]
                                     key=emitter().key)
    checked = check(sign_nfe(build_nfe(default_spec(1)), identity))
    assert checked.errors == []
    assert checked.result.certificate is not None
    assert checked.result.certificate.cnpj == TEST_EMITTER_CNPJ


def test_the_common_name_is_the_fallback() -> None:
    identity = make_test_certificate(cnpj_in_san=False, key=emitter().key)
    checked = check(sign_nfe(build_nfe(default_spec(1)), identity))
    assert checked.errors == []
    assert checked.result.certificate is not None
    assert checked.result.certificate.cnpj == TEST_EMITTER_CNPJ


def test_a_certificate_without_cnpj_is_292() -> None:
    identity = make_test_certificate(cnpj_in_san=False, cnpj_in_common_name=False, key=emitter().key)
    checked = check(sign_nfe(build_nfe(default_spec(1)), identity))
    assert checked.errors == ["certificate.no_cnpj"]
    assert checked.result.intact
    assert checked.result.certificate is not None
    assert checked.result.certificate.cnpj is None
    # An emitter identified by CPF signs with an e-CPF: no CNPJ is expected then.
    assert check(sign_nfe(build_nfe(default_spec(1)), identity), emitter_cnpj=None).errors == []


def test_a_certificate_of_another_company_is_213() -> None:
    identity = make_test_certificate("11444777000161", key=emitter().key)
    checked = check(sign_nfe(build_nfe(default_spec(1)), identity))
    assert checked.errors == ["certificate.cnpj_mismatch"]
    assert "11222333" in checked.message("certificate.cnpj_mismatch")
    assert "11444777" in checked.message("certificate.cnpj_mismatch")


def test_another_branch_of_the_same_company_is_not_213() -> None:
    identity = make_test_certificate("11222333000262", key=emitter().key)  # same base, branch 0002
    assert check(sign_nfe(build_nfe(default_spec(1)), identity)).errors == []


def test_an_alphanumeric_cnpj_is_compared_by_its_base() -> None:
    document = build_nfe(default_spec(1, emitter_cnpj=TEST_ALPHANUMERIC_CNPJ))
    same = make_test_certificate(TEST_ALPHANUMERIC_CNPJ, key=emitter().key)
    checked = check(sign_nfe(document, same))
    assert checked.errors == []
    assert checked.result.certificate is not None
    assert checked.result.certificate.cnpj == TEST_ALPHANUMERIC_CNPJ
    other = make_test_certificate("AB12CD34000155", key=emitter().key)  # another alphanumeric base
    checked = check(sign_nfe(document, other), emitter_cnpj=TEST_ALPHANUMERIC_CNPJ)
    assert checked.errors == ["certificate.cnpj_mismatch"]
    lower = check(sign_nfe(document, same), emitter_cnpj=TEST_ALPHANUMERIC_CNPJ.lower())
    assert lower.errors == []


@pytest.mark.parametrize("text", ["not base64 at all!", base64.b64encode(b"not a certificate").decode()])
def test_an_unreadable_certificate_is_290_and_the_digest_is_still_checked(text: str) -> None:
    def damage(root: etree._Element) -> None:
        find(signature_of(root), "ds:KeyInfo/ds:X509Data/ds:X509Certificate").text = text
        find(root, ".//nfe:vNF").text = "1.00"

    checked = check(mutate(signed_nfe(1), damage))
    assert checked.errors == ["certificate.unreadable", "signature.digest"]
    assert checked.result.certificate is None
    assert not checked.result.intact


def test_a_certificate_without_an_rsa_key_is_outside_the_profile() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"EC TEST ONLY:{TEST_EMITTER_CNPJ}")])
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(7).not_valid_before(when(2026, 1)).not_valid_after(when(2027))
                   .sign(key, hashes.SHA256()))
    der = certificate.public_bytes(serialization.Encoding.DER)

    def swap(root: etree._Element) -> None:
        find(signature_of(root), "ds:KeyInfo/ds:X509Data/ds:X509Certificate").text = base64.b64encode(der).decode()

    checked = check(mutate(signed_nfe(1), swap))
    assert checked.errors == ["signature.profile"]
    assert "RSA key" in checked.message("signature.profile")


# --- the chain of trust -------------------------------------------------------------------------------


def store(*pems: bytes) -> TrustStore:
    return load_trust_store(b"".join(pems))


def test_without_a_trust_store_the_chain_is_not_judged_and_an_info_says_so() -> None:
    checked = check(signed_nfe(1))
    assert checked.codes == ["certificate.chain_not_checked"]
    assert "trust store" in checked.message("certificate.chain_not_checked")


def test_a_chain_to_a_root_in_the_store_passes() -> None:
    trusted = store(root_ca().certificate_pem, intermediate_ca().certificate_pem)
    checked = check(signed_nfe(1), trust_store=trusted)
    assert checked.codes == []
    assert checked.result.intact


def test_a_certificate_from_an_unknown_root_is_295() -> None:
    other_root = make_test_ca("nfe-invoice TEST OTHER ROOT")
    checked = check(signed_nfe(1), trust_store=store(other_root.certificate_pem))
    assert checked.errors == ["certificate.untrusted"]
    assert next(f.sefaz for f in checked.result.findings) == "295"
    assert checked.result.intact  # integrity and trust are separate answers


def test_a_self_signed_certificate_is_295() -> None:
    trusted = store(root_ca().certificate_pem, intermediate_ca().certificate_pem)
    self_signed = sign_nfe(build_nfe(default_spec(1)), stranger())
    assert check(self_signed, trust_store=trusted).errors == ["certificate.untrusted"]


def test_a_missing_intermediate_means_no_path() -> None:
    assert check(signed_nfe(1), trust_store=store(root_ca().certificate_pem)).errors == ["certificate.untrusted"]


def test_an_intermediate_expired_at_dhemi_is_293() -> None:
    old_intermediate = make_test_ca("nfe-invoice TEST AC INTERMEDIARIA", issuer=root_ca(), not_before=when(2020),
                                    not_after=when(2026, 3), key=intermediate_ca().key)
    trusted = store(root_ca().certificate_pem, old_intermediate.certificate_pem)
    checked = check(signed_nfe(1), trust_store=trusted)  # dhEmi 2026-11-20: the AC had expired
    assert checked.errors == ["certificate.chain"]
    assert next(f.sefaz for f in checked.result.findings) == "293"


def test_the_chain_is_judged_at_dhemi() -> None:
    trusted = store(root_ca().certificate_pem, intermediate_ca().certificate_pem)
    expired_leaf = make_test_certificate(issuer=intermediate_ca(), not_before=when(2024), not_after=when(2025),
                                         key=emitter().key)
    data = sign_nfe(build_nfe(default_spec(1)), expired_leaf)
    assert check(data, trust_store=trusted, emitted_at=when(2024, 7)).errors == []
    late = check(data, trust_store=trusted, emitted_at=when(2026))
    assert late.errors == ["certificate.validity", "certificate.chain"]


def test_load_trust_store_reads_paths_and_bytes(tmp_path: Path) -> None:
    pem = root_ca().certificate_pem + intermediate_ca().certificate_pem
    path = tmp_path / "roots.pem"
    path.write_bytes(pem)
    for source in (path, str(path), pem):
        trusted = load_trust_store(source)
        assert len(trusted.roots) == 1
        assert len(trusted.intermediates) == 1
        assert len(trusted) == 2
    assert "1 root(s)" in repr(load_trust_store(path))


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (b"", "no readable PEM"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "no readable PEM"),
        ("/nonexistent/roots.pem", "cannot read"),
        ("-----BEGIN CERTIFICATE-----", "looks like PEM text"),
    ],
)
def test_load_trust_store_errors(source: str | bytes, message: str) -> None:
    with pytest.raises(TrustStoreError, match=message) as raised:
        load_trust_store(source)
    assert raised.value.code == "input.trust_store"
    assert isinstance(raised.value, InputError)


def test_a_store_without_a_self_signed_root_is_refused() -> None:
    with pytest.raises(TrustStoreError, match="no self-signed root"):
        load_trust_store(intermediate_ca().certificate_pem)


def test_every_certificate_made_by_the_kit_says_test() -> None:
    for identity in (root_ca(), intermediate_ca(), emitter(), stranger()):
        organization = identity.certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        assert [attribute.value for attribute in organization] == ["nfe-invoice TEST ONLY"]
    assert emitter().chain == (intermediate_ca().certificate, root_ca().certificate)


# --- the memo of verified chains (see signature._check_chain) --------------------------------------------


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the chain verifications actually made (each builds one PolicyBuilder)."""
    from nfe_invoice import signature

    made: list[int] = []
    real = signature.PolicyBuilder

    def counting() -> object:
        made.append(1)
        return real()

    monkeypatch.setattr(signature, "PolicyBuilder", counting)
    return made


def test_a_verified_chain_is_remembered_per_certificate_and_store(verifications: list[int]) -> None:
    trusted = store(root_ca().certificate_pem, intermediate_ca().certificate_pem)
    first = check(signed_nfe(1), trust_store=trusted)
    again = check(signed_nfe(2), trust_store=trusted, emitted_at=when(2026, 12))  # same certificate
    assert first.codes == again.codes == []
    assert len(verifications) == 1
    other_store = store(root_ca().certificate_pem, intermediate_ca().certificate_pem)  # same content
    assert check(signed_nfe(1), trust_store=other_store).codes == []
    assert len(verifications) == 2  # never shared between stores
    other_leaf = make_test_certificate(issuer=intermediate_ca())
    assert check(sign_nfe(build_nfe(default_spec(1)), other_leaf), trust_store=trusted).codes == []
    assert len(verifications) == 3  # keyed by the certificate


def test_a_remembered_chain_is_judged_again_past_a_validity_bound(verifications: list[int]) -> None:
    """Verified at dhEmi 2026-11-20; a document of 2027-02, after the intermediate expired, must fail."""
    short_intermediate = make_test_ca("nfe-invoice TEST AC INTERMEDIARIA", issuer=root_ca(), not_before=when(2020),
                                      not_after=when(2027, 1), key=intermediate_ca().key)
    trusted = store(root_ca().certificate_pem, short_intermediate.certificate_pem)
    assert check(signed_nfe(1), trust_store=trusted).codes == []
    later = check(signed_nfe(1), trust_store=trusted, emitted_at=when(2027, 2))
    assert later.errors == ["certificate.chain"]  # the leaf itself is valid until the end of 2027
    assert len(verifications) == 2
    last_instant = short_intermediate.certificate.not_valid_after_utc
    on_the_bound = check(signed_nfe(1), trust_store=trusted, emitted_at=last_instant)
    assert on_the_bound.codes == []  # valid on its last instant (inclusive), and judged anew
    assert len(verifications) == 3


def test_a_failed_chain_is_not_remembered(verifications: list[int]) -> None:
    trusted = store(root_ca().certificate_pem)  # no intermediate: no path
    assert check(signed_nfe(1), trust_store=trusted).errors == ["certificate.untrusted"]
    assert check(signed_nfe(1), trust_store=trusted).errors == ["certificate.untrusted"]
    assert len(verifications) == 2


def test_replacing_the_intermediates_forgets_what_was_verified(verifications: list[int]) -> None:
    trusted = store(root_ca().certificate_pem, intermediate_ca().certificate_pem)
    assert check(signed_nfe(1), trust_store=trusted).codes == []
    trusted.intermediates = ()
    assert check(signed_nfe(1), trust_store=trusted).errors == ["certificate.untrusted"]
    assert len(verifications) == 2


def test_the_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from nfe_invoice import signature

    monkeypatch.setattr(signature, "_VERIFIED_MAX", 2)
    trusted = store(root_ca().certificate_pem, intermediate_ca().certificate_pem)
    for _ in range(4):
        leaf = make_test_certificate(issuer=intermediate_ca())
        assert check(sign_nfe(build_nfe(default_spec(1)), leaf), trust_store=trusted).codes == []
        assert 1 <= len(trusted._verified) <= 2
