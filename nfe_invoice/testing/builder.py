"""Build valid NF-e 4.00 documents of any size, for tests, benchmarks and demos.

Every document this module makes is valid against the official XSD, its access key is correct, and
its totals are the exact sums of its items (money computed with Decimal and rounded half-up to the cent,
as the layout expects). Tests that need a broken document build a valid one and change one thing, so only
the targeted rule fires. Nothing here is signed: :mod:`nfe_invoice.testing.signing` signs.

The output is compact (no white space between tags), as SEFAZ requires (rule 588).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from xml.sax.saxutils import escape

from ..identifiers import access_key

CENT = Decimal("0.01")
BRT = timezone(timedelta(hours=-3))

# Test identities (valid check digits, not real companies as far as we know).
TEST_EMITTER_CNPJ = "11222333000181"
TEST_ALPHANUMERIC_CNPJ = "12ABC34501DE35"
TEST_RECIPIENT_CPF = "11144477735"
TEST_RECIPIENT_CNPJ = "11444777000161"
TEST_CARRIER_CNPJ = "34028316000103"


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class ItemSpec:
    """One item: code, description, quantity, unit price and the extras that move the totals."""

    code: str
    description: str
    quantity: Decimal
    unit_price: Decimal
    gtin: str = "SEM GTIN"
    discount: Decimal = Decimal("0.00")
    freight: Decimal = Decimal("0.00")
    ncm: str = "61091000"
    cfop: str = "5102"
    icms_rate: Decimal = Decimal("18.00")

    @property
    def total(self) -> Decimal:
        return money(self.quantity * self.unit_price)


@dataclass(frozen=True)
class NFeSpec:
    """Everything that makes one document; every field has a sensible default."""

    items: tuple[ItemSpec, ...]
    model: int = 55
    series: int = 1
    number: int = 1001
    numeric_code: int = 31415926
    emitted_at: datetime = datetime(2026, 11, 20, 14, 30, tzinfo=BRT)
    environment: int = 1  # 1 production, 2 homologation
    emitter_cnpj: str = TEST_EMITTER_CNPJ
    recipient_cpf: str | None = TEST_RECIPIENT_CPF
    recipient_cnpj: str | None = None
    order_id: str | None = "1234567890123-01"
    payment_type: str = "03"  # credit card
    cUF: int = 35
    city_code: str = "3550308"

    @property
    def access_key(self) -> str:
        return access_key.build(
            cUF=self.cUF,
            year_month=self.emitted_at.strftime("%y%m"),
            emitter=self.emitter_cnpj,
            model=self.model,
            series=self.series,
            number=self.number,
            emission_type=1,
            numeric_code=self.numeric_code,
        )

    def replace(self, **changes: object) -> NFeSpec:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def sample_items(count: int) -> tuple[ItemSpec, ...]:
    """``count`` varied items: different quantities and prices, some with discount or freight."""
    items = []
    for index in range(1, count + 1):
        quantity = Decimal(1 + index % 3) + (Decimal("0.5") if index % 7 == 0 else Decimal(0))
        unit_price = Decimal("19.90") + Decimal(index % 50) * Decimal("3.37")
        items.append(
            ItemSpec(
                code=f"SKU-{index:05d}",
                description=f"Camiseta modelo {index} algodao",
                quantity=quantity,
                unit_price=unit_price,
                gtin="7891000315507" if index % 4 == 0 else "SEM GTIN",
                discount=Decimal("1.25") if index % 5 == 0 else Decimal("0.00"),
                freight=Decimal("2.10") if index % 3 == 0 else Decimal("0.00"),
            )
        )
    return tuple(items)


def default_spec(items: int = 10, **changes: object) -> NFeSpec:
    """A consistent document with ``items`` items; ``changes`` override any :class:`NFeSpec` field."""
    return NFeSpec(items=sample_items(items)).replace(**changes)


def _d(value: Decimal, places: int = 2) -> str:
    return f"{value:.{places}f}"


def _dh(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _item_xml(number: int, item: ItemSpec, spec: NFeSpec) -> tuple[str, dict[str, Decimal]]:
    gross = item.total
    base = gross - item.discount + item.freight
    icms = money(base * item.icms_rate / 100)
    pis = money(base * Decimal("1.65") / 100)
    cofins = money(base * Decimal("7.60") / 100)
    approx = money(gross * Decimal("0.3145"))
    extras = ""
    if item.freight:
        extras += f"<vFrete>{_d(item.freight)}</vFrete>"
    if item.discount:
        extras += f"<vDesc>{_d(item.discount)}</vDesc>"
    xml = (
        f'<det nItem="{number}"><prod><cProd>{escape(item.code)}</cProd><cEAN>{item.gtin}</cEAN>'
        f"<xProd>{escape(item.description)}</xProd><NCM>{item.ncm}</NCM><CFOP>{item.cfop}</CFOP>"
        f"<uCom>UN</uCom><qCom>{_d(item.quantity, 4)}</qCom><vUnCom>{_d(item.unit_price, 10)}</vUnCom>"
        f"<vProd>{_d(gross)}</vProd><cEANTrib>{item.gtin}</cEANTrib><uTrib>UN</uTrib>"
        f"<qTrib>{_d(item.quantity, 4)}</qTrib><vUnTrib>{_d(item.unit_price, 10)}</vUnTrib>{extras}"
        f"<indTot>1</indTot></prod>"
        f"<imposto><vTotTrib>{_d(approx)}</vTotTrib><ICMS><ICMS00><orig>0</orig><CST>00</CST><modBC>3</modBC>"
        f"<vBC>{_d(base)}</vBC><pICMS>{_d(item.icms_rate, 4)}</pICMS><vICMS>{_d(icms)}</vICMS></ICMS00></ICMS>"
        f"<PIS><PISAliq><CST>01</CST><vBC>{_d(base)}</vBC><pPIS>1.6500</pPIS><vPIS>{_d(pis)}</vPIS></PISAliq></PIS>"
        f"<COFINS><COFINSAliq><CST>01</CST><vBC>{_d(base)}</vBC><pCOFINS>7.6000</pCOFINS>"
        f"<vCOFINS>{_d(cofins)}</vCOFINS></COFINSAliq></COFINS></imposto></det>"
    )
    sums = {"vBC": base, "vICMS": icms, "vProd": gross, "vFrete": item.freight, "vDesc": item.discount,
            "vPIS": pis, "vCOFINS": cofins, "vTotTrib": approx}
    return xml, sums


def build_nfe(spec: NFeSpec | None = None) -> bytes:
    """An unsigned ``<NFe>`` document (UTF-8 bytes with an XML declaration) for ``spec``."""
    spec = spec or default_spec()
    if not spec.items:
        raise ValueError("an NF-e needs at least one item")
    key = spec.access_key
    is_nfce = spec.model == 65
    totals = dict.fromkeys(("vBC", "vICMS", "vProd", "vFrete", "vDesc", "vPIS", "vCOFINS", "vTotTrib"), Decimal(0))
    items_xml = []
    for number, item in enumerate(spec.items, start=1):
        xml, sums = _item_xml(number, item, spec)
        items_xml.append(xml)
        for name, value in sums.items():
            totals[name] += value
    total_nf = totals["vProd"] - totals["vDesc"] + totals["vFrete"]
    homologation_name = "NF-E EMITIDA EM AMBIENTE DE HOMOLOGACAO - SEM VALOR FISCAL"
    recipient_name = homologation_name if spec.environment == 2 else "Maria da Silva Souza"
    if spec.recipient_cnpj:
        dest = (f"<dest><CNPJ>{spec.recipient_cnpj}</CNPJ><xNome>{recipient_name}</xNome>"
                f"{_address('enderDest')}<indIEDest>9</indIEDest></dest>")
    elif spec.recipient_cpf:
        dest = (f"<dest><CPF>{spec.recipient_cpf}</CPF><xNome>{recipient_name}</xNome>"
                f"{'' if is_nfce else _address('enderDest')}<indIEDest>9</indIEDest></dest>")
    else:
        dest = ""
    ide = (
        f"<ide><cUF>{spec.cUF}</cUF><cNF>{spec.numeric_code:08d}</cNF><natOp>Venda de mercadoria</natOp>"
        f"<mod>{spec.model}</mod><serie>{spec.series}</serie><nNF>{spec.number}</nNF>"
        f"<dhEmi>{_dh(spec.emitted_at)}</dhEmi>"
        + ("" if is_nfce else f"<dhSaiEnt>{_dh(spec.emitted_at)}</dhSaiEnt>")
        + f"<tpNF>1</tpNF><idDest>1</idDest><cMunFG>{spec.city_code}</cMunFG>"
        f"<tpImp>{4 if is_nfce else 1}</tpImp><tpEmis>1</tpEmis><cDV>{key[-1]}</cDV>"
        f"<tpAmb>{spec.environment}</tpAmb><finNFe>1</finNFe><indFinal>1</indFinal>"
        f"<indPres>{1 if is_nfce else 2}</indPres>"
        + ("" if is_nfce else "<indIntermed>0</indIntermed>")
        + "<procEmi>0</procEmi><verProc>nfe-invoice-test 1.0</verProc></ide>"
    )
    emit = (
        f"<emit><CNPJ>{spec.emitter_cnpj}</CNPJ><xNome>Loja Exemplo Comercio Ltda</xNome>"
        f"<xFant>Loja Exemplo</xFant>{_address('enderEmit', fone=True)}<IE>111222333444</IE><CRT>3</CRT></emit>"
    )
    total = (
        f"<total><ICMSTot><vBC>{_d(totals['vBC'])}</vBC><vICMS>{_d(totals['vICMS'])}</vICMS>"
        "<vICMSDeson>0.00</vICMSDeson><vFCP>0.00</vFCP><vBCST>0.00</vBCST><vST>0.00</vST>"
        "<vFCPST>0.00</vFCPST><vFCPSTRet>0.00</vFCPSTRet>"
        f"<vProd>{_d(totals['vProd'])}</vProd><vFrete>{_d(totals['vFrete'])}</vFrete><vSeg>0.00</vSeg>"
        f"<vDesc>{_d(totals['vDesc'])}</vDesc><vII>0.00</vII><vIPI>0.00</vIPI><vIPIDevol>0.00</vIPIDevol>"
        f"<vPIS>{_d(totals['vPIS'])}</vPIS><vCOFINS>{_d(totals['vCOFINS'])}</vCOFINS><vOutro>0.00</vOutro>"
        f"<vNF>{_d(total_nf)}</vNF><vTotTrib>{_d(totals['vTotTrib'])}</vTotTrib></ICMSTot></total>"
    )
    if is_nfce:
        transp = "<transp><modFrete>9</modFrete></transp>"
    else:
        transp = (
            f"<transp><modFrete>0</modFrete><transporta><CNPJ>{TEST_CARRIER_CNPJ}</CNPJ>"
            "<xNome>Transportadora Rapida Ltda</xNome><IE>222333444555</IE><xEnder>Rua do Porto 10</xEnder>"
            "<xMun>Sao Paulo</xMun><UF>SP</UF></transporta>"
            f"<vol><qVol>{len(spec.items)}</qVol><esp>CAIXA</esp><pesoL>1.500</pesoL><pesoB>1.750</pesoB></vol></transp>"
        )
    card = ""
    if spec.payment_type in {"03", "04"}:
        card = "<card><tpIntegra>2</tpIntegra><tBand>01</tBand><cAut>A1B2C3</cAut></card>"
    pag = f"<pag><detPag><tPag>{spec.payment_type}</tPag><vPag>{_d(total_nf)}</vPag>{card}</detPag></pag>"
    # The marketplace order id travels in compra/xPed (NF-e) or, where compra is not allowed (NFC-e, rule
    # 762), in an obsCont field named "pedido".
    compra = f"<compra><xPed>{escape(spec.order_id)}</xPed></compra>" if spec.order_id and not is_nfce else ""
    observation = (
        f'<obsCont xCampo="pedido"><xTexto>{escape(spec.order_id)}</xTexto></obsCont>'
        if spec.order_id and is_nfce
        else ""
    )
    inf_adic = f"<infAdic><infCpl>Documento gerado por nfe-invoice para testes.</infCpl>{observation}</infAdic>"
    supl = ""
    if is_nfce:
        supl = (
            "<infNFeSupl><qrCode><![CDATA[https://www.homologacao.nfce.fazenda.sp.gov.br/qrcode?p="
            f"{key}|2|{spec.environment}|1|0123456789ABCDEF0123456789ABCDEF01234567]]></qrCode>"
            "<urlChave>https://www.nfce.fazenda.sp.gov.br/consulta</urlChave></infNFeSupl>"
        )
    document = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<NFe xmlns="http://www.portalfiscal.inf.br/nfe"><infNFe versao="4.00" Id="NFe{key}">'
        f"{ide}{emit}{dest}{''.join(items_xml)}{total}{transp}{pag}{inf_adic}{compra}</infNFe>{supl}</NFe>"
    )
    return document.encode("utf-8")


def _address(tag: str, *, fone: bool = False) -> str:
    phone = "<fone>1130001000</fone>" if fone else ""
    return (
        f"<{tag}><xLgr>Avenida Paulista</xLgr><nro>1000</nro><xBairro>Bela Vista</xBairro>"
        f"<cMun>3550308</cMun><xMun>Sao Paulo</xMun><UF>SP</UF><CEP>01310100</CEP>"
        f"<cPais>1058</cPais><xPais>Brasil</xPais>{phone}</{tag}>"
    )


def wrap_nfeproc(
    nfe_xml: bytes,
    *,
    status: str = "100",
    protocol_number: str = "135260000012345",
    received_at: datetime | None = None,
    digest_value: str | None = None,
) -> bytes:
    """Wrap an ``<NFe>`` in ``<nfeProc>`` with an authorising ``protNFe``.

    ``digVal`` is the NFe's own ``DigestValue`` when it is signed (that is what binds the protocol to
    the document), else ``digest_value`` or a dummy value.
    """
    body = nfe_xml.split(b"?>", 1)[1] if nfe_xml.startswith(b"<?xml") else nfe_xml
    text = body.decode("utf-8")
    key_start = text.index('Id="NFe') + 7
    key = text[key_start : key_start + 44]
    env_start = text.index("<tpAmb>") + 7
    environment = text[env_start]
    if digest_value is None:
        marker = "<DigestValue>"
        digest_value = (
            text[text.index(marker) + len(marker) : text.index("</DigestValue>")]
            if marker in text
            else "AAAAAAAAAAAAAAAAAAAAAAAAAAA="
        )
    received = received_at or datetime(2026, 11, 20, 14, 31, 5, tzinfo=BRT)
    reason = {"100": "Autorizado o uso da NF-e", "150": "Autorizado o uso da NF-e, autorizacao fora de prazo"}.get(
        status, "Rejeicao"
    )
    prot = (
        f'<protNFe versao="4.00"><infProt Id="ID{protocol_number}"><tpAmb>{environment}</tpAmb>'
        f"<verAplic>SP_NFE_PL009_V4</verAplic><chNFe>{key}</chNFe><dhRecbto>{_dh(received)}</dhRecbto>"
        f"<nProt>{protocol_number}</nProt><digVal>{digest_value}</digVal><cStat>{status}</cStat>"
        f"<xMotivo>{reason}</xMotivo></infProt></protNFe>"
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<nfeProc xmlns="http://www.portalfiscal.inf.br/nfe" versao="4.00">{text}{prot}</nfeProc>'
    ).encode()
