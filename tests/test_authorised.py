"""Authorised documents (issue 8): where the tax authority's verdict outranks our policy rules.

Every document here is really signed (TEST certificates from :mod:`nfe_invoice.testing`) and, unless a
test says otherwise, wrapped in a protNFe that SEFAZ would have issued for it (cStat 100, its key, its
DigestValue). The running example is a remote sale (indPres 9) without ``indIntermed``: rule 434, a
policy rule of NT 2020.006 that SEFAZ did not apply to real authorised documents.
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from nfe_invoice import parse
from nfe_invoice.cli import main
from nfe_invoice.errors import NfeInvoiceError
from nfe_invoice.events import read_cancellation
from nfe_invoice.findings import CodeClass, Finding, Report, Severity
from nfe_invoice.rules import POLICY_CODES, RULES, rule_codes
from nfe_invoice.rules.base import Registry
from nfe_invoice.testing import SigningIdentity, build_nfe, default_spec, make_test_certificate, sign_nfe, wrap_nfeproc
from nfe_invoice.testing.builder import BRT
from nfe_invoice.testing.events import build_cancellation
from nfe_invoice.validate import all_codes, validate

from .paths import REALWORLD
from .rules_helpers import NS, add, remove, set_text

SPEC = default_spec(3)
MISSING_434 = "payment.intermediary_indicator_missing"
AUTHORITY_NOTE = "SEFAZ authorised this document (protocol 135260000012345) although this rule would reject it now"


@functools.cache
def identity() -> SigningIdentity:
    return make_test_certificate(cnpj=SPEC.emitter_cnpj)


def remote_sale_without_indicator(xml: bytes) -> bytes:
    """indPres 9 (remote, other) without indIntermed: rule 434 applies (tpNF 1, finNFe 1, CFOP 5102)."""
    return remove(set_text(xml, "infNFe/ide/indPres", "9"), "infNFe/ide/indIntermed")


def signed(xml: bytes) -> bytes:
    return sign_nfe(xml, identity())


def authorised(xml: bytes, **protocol: str) -> bytes:
    return wrap_nfeproc(signed(xml), **protocol)  # type: ignore[arg-type]


def by_code(report: Report, code: str) -> list[Finding]:
    return [finding for finding in report.findings if finding.code == code]


POLICY_DOCUMENT = remote_sale_without_indicator(build_nfe(SPEC))


# ------------------------------------------------------------------------------ the policy is waived


def test_an_authorised_document_with_a_policy_violation_is_ok_with_a_warning() -> None:
    report = validate(authorised(POLICY_DOCUMENT))
    assert report.authorized is True
    assert report.ok is True, report.errors
    [found] = by_code(report, MISSING_434)
    assert found.severity is Severity.WARNING
    assert found.sefaz == "434"
    assert found.message.startswith("indPres is 9 (not in person) but indIntermed is missing")
    assert found.message.endswith(AUTHORITY_NOTE)
    assert report.to_dict()["authorized"] is True


def test_strict_keeps_the_policy_finding_an_error() -> None:
    report = validate(authorised(POLICY_DOCUMENT), strict=True)
    assert report.authorized is True
    assert report.ok is False
    [found] = by_code(report, MISSING_434)
    assert found.severity is Severity.ERROR
    assert AUTHORITY_NOTE not in found.message


def test_late_authorisation_counts_too() -> None:
    report = validate(authorised(POLICY_DOCUMENT, status="150"))
    assert report.authorized and report.ok
    assert by_code(report, MISSING_434)[0].severity is Severity.WARNING


def test_demotion_leaves_the_other_findings_alone() -> None:
    """A homologation warning and the chain info stay as they were; errors still sort first."""
    xml = remote_sale_without_indicator(build_nfe(default_spec(2, environment=2)))
    report = validate(authorised(xml))
    assert report.authorized and report.ok
    severities = {finding.code: finding.severity for finding in report.findings}
    assert severities == {
        MISSING_434: Severity.WARNING,
        "environment.homologation": Severity.WARNING,
        "certificate.chain_not_checked": Severity.INFO,
    }
    homologation = by_code(report, "environment.homologation")[0]
    assert AUTHORITY_NOTE not in homologation.message


# ------------------------------------------------------------------------- invariants stay errors


def test_vnf_one_cent_off_stays_an_error_on_an_authorised_document() -> None:
    total = parse(POLICY_DOCUMENT).totals.vNF
    assert total is not None
    vnf = total - Decimal("0.01")
    report = validate(authorised(set_text(POLICY_DOCUMENT, "infNFe/total/ICMSTot/vNF", f"{vnf:.2f}")))
    assert report.authorized is True
    assert report.ok is False
    assert by_code(report, "totals.vnf")[0].severity is Severity.ERROR  # an invariant (610)
    assert by_code(report, MISSING_434)[0].severity is Severity.WARNING  # the policy one is still waived


def test_a_schema_error_stays_an_error_on_an_authorised_document() -> None:
    """Signed and authorised, but not valid against the XSD we hold: 225 is never waived."""
    xml = add(POLICY_DOCUMENT, "infNFe/ide", "<campoDesconhecido>1</campoDesconhecido>")
    report = validate(authorised(xml))
    assert report.authorized is True
    assert [finding.severity for finding in by_code(report, "schema.invalid")] == [Severity.ERROR]
    assert not report.ok


# ------------------------------------------------------------------------------ not authorised


OTHER_KEY = default_spec(3, number=4242).access_key
NOT_AUTHORISED: dict[str, tuple[Callable[[], bytes], str]] = {
    "protocol missing (a bare signed NFe)": (lambda: signed(POLICY_DOCUMENT), "protocol.absent"),
    "use denied (cStat 110)": (lambda: authorised(POLICY_DOCUMENT, status="110"), "protocol.not_authorized"),
    "rejected (cStat 539)": (lambda: authorised(POLICY_DOCUMENT, status="539"), "protocol.not_authorized"),
    "bound to another digest": (
        lambda: authorised(POLICY_DOCUMENT, digest_value="2jmj7l5rSw0yVb/vlWAYkK/YBwk="),
        "protocol.digval",
    ),
    "for another key": (lambda: with_protocol(chNFe=OTHER_KEY), "protocol.key_mismatch"),
    "from the other environment": (lambda: with_protocol(tpAmb="2"), "protocol.environment"),
}


def with_protocol(**values: str) -> bytes:
    """The authorised example with some protNFe/infProt values replaced (the NFe itself untouched)."""
    root = etree.fromstring(authorised(POLICY_DOCUMENT))
    for name, value in values.items():
        element = root.find(f"{{{NS}}}protNFe/{{{NS}}}infProt/{{{NS}}}{name}")
        assert element is not None, name
        element.text = value
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@pytest.mark.parametrize("case", sorted(NOT_AUTHORISED))
def test_without_a_binding_authorisation_policy_findings_stay_errors(case: str) -> None:
    make, expected = NOT_AUTHORISED[case]
    report = validate(make())
    assert report.authorized is False
    assert report.ok is False
    assert by_code(report, MISSING_434)[0].severity is Severity.ERROR
    assert by_code(report, expected), report.codes()


def test_an_authorised_document_whose_signature_is_broken_keeps_297() -> None:
    """Edited after signing (and after authorisation): the protocol no longer vouches for these bytes."""
    tampered = set_text(authorised(POLICY_DOCUMENT), "infNFe/emit/xFant", "Loja Alterada")
    report = validate(tampered)
    assert report.authorized is False
    assert "297" in report.sefaz_codes()
    assert all(finding.severity is Severity.ERROR for finding in by_code(report, "signature.digest"))
    assert by_code(report, MISSING_434)[0].severity is Severity.ERROR


def test_a_certificate_of_another_company_is_not_authorised() -> None:
    """SEFAZ rejects 213, so a protocol beside such a signature cannot be genuine."""
    stranger = make_test_certificate(cnpj="11444777000161")
    report = validate(wrap_nfeproc(sign_nfe(POLICY_DOCUMENT, stranger)))
    assert report.authorized is False
    assert {"certificate.cnpj_mismatch", MISSING_434} <= {finding.code for finding in report.errors}


def test_without_the_signature_check_nothing_binds_the_protocol() -> None:
    from nfe_invoice.validate import ValidationOptions, validate_full

    report = validate_full(authorised(POLICY_DOCUMENT), ValidationOptions(check_signature=False)).report
    assert report.authorized is False
    assert by_code(report, MISSING_434)[0].severity is Severity.ERROR


def test_a_cancelled_document_is_no_longer_authorised() -> None:
    event = read_cancellation(build_cancellation(SPEC.access_key, identity()))
    report = validate(authorised(POLICY_DOCUMENT), cancellations=[event])
    assert report.authorized is False
    assert {"document.cancelled", MISSING_434} <= {finding.code for finding in report.errors}


def test_unreadable_input_is_not_authorised() -> None:
    report = validate(b"")
    assert report.authorized is False
    assert report.to_dict()["authorized"] is False


# --------------------------------------------------------------------------- every rule is classified


def test_every_rule_states_its_class() -> None:
    for entry in RULES:
        assert isinstance(entry.kind, CodeClass), entry.name
        for code, _, _ in entry.codes:
            assert isinstance(entry.kind_of(code), CodeClass), code


def test_a_rule_cannot_be_registered_without_a_class() -> None:
    registry = Registry()
    with pytest.raises(TypeError):
        registry.rule(("x.y", None), description="no class")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        registry.rule(("x.y", None), kind="policy", description="a string is not a class")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"x\.z"):
        registry.rule(("x.y", None), kind=CodeClass.POLICY, description="d", code_kinds={"x.z": CodeClass.POLICY})


INVARIANT_CODES = {
    # check digits: key, CNPJ, CPF, GTIN
    "key.check_digit", "key.cdv", "identity.emitter_cnpj", "identity.emitter_cpf", "identity.recipient_cnpj",
    "identity.recipient_cpf", "identity.carrier_cnpj", "identity.intermediary_cnpj", "identity.gtin",
    "identity.gtin_trib",
    # the key against the fields
    "key.mismatch", "key.month", "key.numeric_code",
    # item and total arithmetic, vNF by its formula, tax totals
    "item.vprod", "item.vprod_trib", "totals.vprod", "totals.vicms", "totals.vbc", "totals.vpis", "totals.vnf",
    # payments against vNF
    "payment.insufficient", "payment.change_incorrect",
}  # fmt: skip
POLICY_EXAMPLES = {
    MISSING_434, "payment.intermediary_indicator_unexpected", "payment.intermediary_missing",
    "identity.gtin_prefix", "identity.ncm", "identity.emitter_cmun_digit", "identity.download_cnpj_is_recipient",
    "date.emission_too_old", "date.due_before_emission", "nfce.dest_ie", "nfce.tpimp", "reform.vibs",
    "key.cnf_format",
}  # fmt: skip


def test_the_classes_follow_the_issue() -> None:
    classes = {info.code: info.code_class for info in all_codes()}
    for code in INVARIANT_CODES:
        assert classes[code] is CodeClass.INVARIANT, code
    for code in POLICY_EXAMPLES:
        assert classes[code] is CodeClass.POLICY, code
    assert POLICY_EXAMPLES <= POLICY_CODES
    assert not INVARIANT_CODES & POLICY_CODES
    integrity = {code for code, kind in classes.items() if kind is CodeClass.INTEGRITY}
    rule_code_set = {info.code for info in rule_codes()}
    # Everything outside the business rules is integrity, and so is the whole protocol family.
    assert set(classes) - rule_code_set <= integrity
    assert {code for code in classes if code.startswith("protocol.")} <= integrity
    assert {"schema.invalid", "signature.digest", "certificate.cnpj_mismatch", "document.cancelled",
            "input.hostile", "document.layout"} <= integrity  # fmt: skip
    assert not integrity & POLICY_CODES


def test_a_code_has_one_class_wherever_it_is_listed() -> None:
    seen: dict[str, CodeClass] = {}
    for info in all_codes():
        assert seen.setdefault(info.code, info.code_class) is info.code_class, info.code


# --------------------------------------------------------------- the real documents (issue 8 evidence)

SAO_PAULO_2022 = REALWORLD / "nfe" / "spedda__nfeProc_55_prod_2022.xml"
SAO_PAULO_2025 = REALWORLD / "nfe" / "spedda__nfeProc_55_41items_prod_2025.xml"


@pytest.mark.parametrize("path", [SAO_PAULO_2022, SAO_PAULO_2025], ids=lambda path: path.name)
def test_the_434_decision_on_the_two_real_sao_paulo_documents(path: Path) -> None:
    """Decision recorded for issue 8: rule 434 was wider than SEFAZ's, and is narrowed; it still applies here.

    NT 2020.006 v1.30 (July 2021) limits B25c-10 to outgoing (tpNF 1) normal (finNFe 1) documents, with
    indPres 2, 3, 4 or 9, enforced in production from 04/04/2022, and exempts the electricity and
    communication CFOPs (5205-5207, 5251-5258, 5301-5307); v1.20 had limited B25c-20 (435) to
    indIntermed 1 with indPres 0 or 5. Our rule demanded indIntermed on every remote sale since
    01/09/2021 and refused indIntermed 0 in person: it is now exactly the NT's. Both documents are
    outgoing, normal, indPres 9, CFOP 6101, in production, after 04/04/2022: the NT's rule applies, so
    SEFAZ-SP accepted them anyway, or these public copies were edited (their signatures no longer verify,
    and the 2022 one fails the XSD). So 434 stays a policy rule: an error here (these copies are not
    authorised: 297), a warning on an intact authorised document (see the tests above).
    """
    document = parse(path)
    ide = document.ide
    assert (ide.tpNF, ide.finNFe, ide.indPres, ide.indIntermed, ide.tpAmb) == ("1", "1", "9", None, "1")
    assert ide.dhEmi is not None and ide.dhEmi.date() >= date(2022, 4, 4)
    assert {item.prod.CFOP for item in document.items if item.prod is not None} == {"6101"}
    report = validate(path)
    assert report.authorized is False
    assert "297" in report.sefaz_codes()  # edited after signing
    assert by_code(report, MISSING_434)[0].severity is Severity.ERROR
    if path == SAO_PAULO_2022:
        assert by_code(report, "schema.invalid")


def test_434_before_its_production_start_is_not_applied() -> None:
    """The same remote sale without indIntermed, issued (and authorised) on 2022-04-03: no 434."""
    before = remote_sale_without_indicator(build_nfe(default_spec(1, emitted_at=datetime(2022, 4, 3, 10, tzinfo=BRT))))
    report = validate(before, strict=True, now=datetime(2022, 4, 3, 10, 1, tzinfo=BRT))
    assert MISSING_434 not in report.codes()


REAL_FILES = sorted((REALWORLD / "nfe").glob("*.xml")) + sorted((REALWORLD / "nfe-signed").glob("*.xml"))


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda path: path.name)
def test_no_real_document_proves_a_policy_rule_wider_than_sefaz(path: Path) -> None:
    """Every real document with an authorising protocol is either authorised here, and then has no
    error at all, or its copy is not what SEFAZ authorised (an integrity or invariant error: edited after
    signing, anonymised keys and CNPJs, a protocol from another environment). So, 434 aside (decided above
    from the NT), no policy rule that fires on them can be blamed on the rule: on the edited NFC-e copies
    729 comes from a hand-inserted B2B recipient and 709 from an ide whose tpAmb no longer matches its
    protocol's, 557 from a tpEmis 9 the access key contradicts (tpEmis 1); on the tax-reform samples 703,
    504 and 900 from dates moved years away from their protocol, and the IBS/CBS totals from item values
    changed after signing; on the unsigned sample 877 from a synthetic dhEmi."""
    try:
        document = parse(path)
    except NfeInvoiceError:
        return  # not an NF-e 4.00: no protocol to weigh
    protocol = document.protocol
    if protocol is None or protocol.cStat not in {"100", "150"}:
        return
    report = validate(path)
    if report.authorized:
        assert report.ok, report.errors
        return
    policy = {finding.code for finding in report.errors if finding.code in POLICY_CODES}
    other = {finding.code for finding in report.errors if finding.code not in POLICY_CODES}
    assert other, f"{path.name}: only policy errors {policy} on a document SEFAZ authorised"


def test_real_intact_authorised_documents_are_reported_authorised() -> None:
    names = {
        path.name for path in (REALWORLD / "nfe-signed").glob("*.xml")
        if validate(path).authorized
    }
    assert names == {
        "dannielima__nfeProc_55_MA_homolog_2021.xml",
        "dannielima__nfeProc_65_MA_homolog_2021_nfce.xml",
        "fabyo__nfeProc_55_SP_prod_2026_B2B_1item.xml",
        "gabschuster__nfeProc_55_MS_prod_2022_B2B_21items.xml",
        "gapfranco__nfeProc_55_SP_prod_2024_B2B_ultragaz_2items.xml",
        "nfelib__HIST_nfeProc_55_PR_homolog_2017_unimake.xml",
        "vitorkloy__nfeProc_65_SP_prod_2026_nfce.xml",
    }


# -------------------------------------------------------------------------------- the command line


def run_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def test_cli_says_authorised_and_strict_restores_the_error(tmp_path: Path) -> None:
    path = tmp_path / "remote-sale.xml"
    path.write_bytes(authorised(POLICY_DOCUMENT))

    code, out = run_cli("validate", "--format", "json", str(path))
    [report] = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert (report["ok"], report["authorized"]) == (True, True)
    assert [(f["code"], f["sefaz"], f["severity"]) for f in report["findings"] if f["code"] == MISSING_434] == [
        (MISSING_434, "434", "warning")
    ]

    code, out = run_cli("validate", "--strict", "--format", "json", str(path))
    [report] = [json.loads(line) for line in out.splitlines()]
    assert code == 1
    assert (report["ok"], report["authorized"]) == (False, True)

    code, text = run_cli("validate", str(path))
    assert code == 0
    header = text.splitlines()[0]
    assert header.startswith("OK   ") and "authorised by SEFAZ" in header
    assert f"WARNING [{MISSING_434}/434]" in text and AUTHORITY_NOTE in text


def test_cli_text_does_not_claim_authorisation_for_a_bare_document(tmp_path: Path) -> None:
    path = tmp_path / "bare.xml"
    path.write_bytes(signed(POLICY_DOCUMENT))
    code, text = run_cli("validate", str(path))
    assert code == 1
    assert text.startswith("FAIL") and "authorised by SEFAZ" not in text


def test_codes_show_each_class() -> None:
    code, table = run_cli("codes")
    assert code == 0
    assert table.splitlines()[0] == "| code | SEFAZ | severity | class | meaning |"
    rows = {line.split(" | ")[0].strip("| `"): line.split(" | ")[3] for line in table.splitlines()[2:]}
    assert rows[MISSING_434] == "policy"
    assert rows["totals.vnf"] == "invariant"
    assert rows["signature.digest"] == "integrity"
    code, text = run_cli("codes", "--format", "json")
    entries = {entry["code"]: entry for entry in json.loads(text)}
    assert list(entries["totals.vnf"]) == ["code", "sefaz", "severity", "class", "meaning"]
    assert {entry["class"] for entry in entries.values()} == {"integrity", "invariant", "policy"}
    assert {code for code, entry in entries.items() if entry["class"] == "policy"} == POLICY_CODES
