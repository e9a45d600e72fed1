"""Regenerate the sample documents shipped for ``nfe-invoice demo`` (nfe_invoice/samples/).

Each sample is built by nfe_invoice.testing (correct key, exact totals), signed with a freshly made TEST
certificate (its private key is thrown away, never written), and wrapped in an authorising nfeProc.
The ``broken_`` sample is valid except for one cent in vNF, re-signed after the change, so only the
totals rule (SEFAZ 610) fires: the demo shows what a finding looks like.

Run: python scripts/make_samples.py
"""

from __future__ import annotations

from pathlib import Path

from nfe_invoice.testing import build_nfe, default_spec, make_test_certificate, sign_nfe, wrap_nfeproc

SAMPLES = Path(__file__).resolve().parents[1] / "nfe_invoice" / "samples"


def main() -> None:
    sale = default_spec(3, number=1001, order_id="1264680564893-01")
    nfce = default_spec(2, model=65, number=2001, recipient_cpf=None, order_id="1264680564894-01")
    off_by_a_cent = default_spec(2, number=1002, order_id="1264680564895-01")
    for name, spec, mutate in (
        ("nfe55_sale_3_items", sale, None),
        ("nfce65_sale_2_items", nfce, None),
        ("broken_nfe55_vnf_one_cent_off", off_by_a_cent, "vNF"),
    ):
        raw = build_nfe(spec)
        if mutate:
            start = raw.index(b"<vNF>") + 5
            end = raw.index(b"</vNF>")
            cents = int(raw[start:end].replace(b".", b"")) + 1
            raw = raw[:start] + f"{cents // 100}.{cents % 100:02d}".encode() + raw[end:]
        identity = make_test_certificate(cnpj=spec.emitter_cnpj)
        signed = wrap_nfeproc(sign_nfe(raw, identity))
        (SAMPLES / f"{spec.access_key}_{name}.xml").write_bytes(signed)


if __name__ == "__main__":
    main()
