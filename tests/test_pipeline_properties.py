"""End to end: any consistent document the builder makes, signed and authorised, validates clean.

This guards against false positives across the whole pipeline (XSD, signature, ~80 rules), which
would stop good invoices from reaching VTEX.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nfe_invoice.testing import ItemSpec, build_nfe, default_spec, make_test_certificate, sign_nfe, wrap_nfeproc
from nfe_invoice.validate import validate

IDENTITY = make_test_certificate()

items = st.lists(
    st.builds(
        ItemSpec,
        code=st.from_regex(r"[A-Z0-9]{1,20}", fullmatch=True),
        description=st.sampled_from(["Camiseta", "Calça jeans", "Tênis & meia", "Caneca <branca>"]),
        quantity=st.decimals("0.0001", "500", places=4),
        unit_price=st.decimals("0.01", "9999.99", places=2),
        discount=st.sampled_from([Decimal("0.00"), Decimal("0.01"), Decimal("1.25")]),
        freight=st.sampled_from([Decimal("0.00"), Decimal("0.99"), Decimal("12.30")]),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items, st.sampled_from([55, 65]), st.integers(1, 999_999_999), st.sampled_from(["11222333000181",
                                                                                       "12ABC34501DE35"]))
def test_consistent_documents_validate_clean(
    rows: list[ItemSpec], model: int, number: int, emitter: str
) -> None:
    rows = [row for row in rows if row.total > row.discount]  # a discount never exceeds the item
    if not rows:
        return
    spec = default_spec(1, model=model, number=number, emitter_cnpj=emitter,
                        recipient_cpf=None if model == 65 else "11144477735").replace(items=tuple(rows))
    signed = wrap_nfeproc(sign_nfe(build_nfe(spec), make_test_certificate(cnpj=emitter)
                                   if emitter != "11222333000181" else IDENTITY))
    report = validate(signed)
    assert report.ok, [(f.code, f.message) for f in report.errors]
    assert report.access_key == spec.access_key
    assert not report.warnings, [(f.code, f.message) for f in report.warnings]
