"""Option groups shared by the commands that map and send (payload excepted): where the settings come from,
how documents are mapped and judged, and which journal remembers them.

Every option defaults to None ("not given") so :func:`nfe_invoice.config.resolve` can tell an explicit option
from the environment, ``nfe-invoice.toml`` and the defaults. The connection options (``--account``,
``--environment``, ``--base-url``, ...) are added by :mod:`.connection`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, TextIO

from .common import UsageError, expand_paths, positive_float, positive_int

if TYPE_CHECKING:
    from ..config import Resolved, Settings
    from ..validate import ValidationOptions

#: argparse destinations that are settings (same names as nfe_invoice.config.Settings fields).
SETTING_OPTIONS = (
    "account", "environment", "base_url", "app_key_env", "app_token_env", "sku_map", "order_id_rule",
    "invoice_number_format", "invoice_url_template", "embed_invoice", "invoice_value_as_integer",
    "allow_homologation", "order_check", "trust_store", "connect_timeout", "read_timeout", "max_attempts",
    "retry_deadline", "rate", "concurrency", "journal", "lease",
)


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE",
                        help="settings file (default: $NFE_INVOICE_CONFIG, else ./nfe-invoice.toml if present)")


def add_journal_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--journal", metavar="FILE|URL", default=None,
                        help="the journal: a SQLite file (default nfe-invoice-journal.db) or a postgresql:// URL "
                        "(or $NFE_INVOICE_JOURNAL, or journal in nfe-invoice.toml)")


def add_mapping_options(parser: argparse.ArgumentParser, *, order_id_rule: bool = True) -> None:
    """How documents become payloads, and which ones are allowed at all."""
    if order_id_rule:
        parser.add_argument("--order-id-from", dest="order_id_rule", metavar="RULE", default=None,
                            help="where each document's VTEX order id is: xped (compra/xPed, the default), "
                            "infcpl:REGEX (first group of REGEX over infAdic/infCpl) or map:CSV (access key or "
                            "invoice number -> order id)")
    parser.add_argument("--sku-map", metavar="CSV", default=None,
                        help="cProd,skuId table used when the order is not fetched (--no-order-check)")
    parser.add_argument("--invoice-number-format", metavar="FORMAT", default=None,
                        help="invoiceNumber template, e.g. {serie}-{nNF} (default {nNF}); only [A-Za-z0-9-]")
    parser.add_argument("--invoice-url", dest="invoice_url_template", metavar="TEMPLATE", default=None,
                        help="invoiceUrl template, e.g. https://files.example/{key}.xml")
    parser.add_argument("--no-embed", dest="embed_invoice", action="store_const", const=False, default=None,
                        help="do not send the XML as embeddedInvoice")
    parser.add_argument("--allow-homologation", action="store_const", const=True, default=None,
                        help="send documents issued in homologation (tpAmb=2); refused otherwise")
    parser.add_argument("--no-order-check", dest="order_check", action="store_const", const=False, default=None,
                        help="do not GET the order before sending (SKU ids then come from --sku-map or cProd)")
    parser.add_argument("--force", action="store_true",
                        help="send despite validation errors, or a new payload for an invoice number already "
                        "sent (audited: both stay in the journal)")
    parser.add_argument("--trust-store", metavar="PEM", default=None,
                        help="certificates signing chains must reach (a PEM file or 'icp-brasil')")


def add_worker_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--concurrency", type=positive_int, metavar="N", default=None,
                        help="invoices in flight at once (default 8)")
    parser.add_argument("--lease", type=positive_float, metavar="SECONDS", default=None,
                        help="how long a claimed record is held before another worker may take it over "
                        "(renewed while it is worked on; default 60)")


def add_sources_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH", help="NF-e files, or folders walked for *.xml")
    parser.add_argument("--from-list", metavar="FILE", default=None,
                        help="read more paths, one per line, from FILE (- for standard input)")


def add_format_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("text", "json"), default=None,
                        help="text for people, json for machines (default: json when stdout is not a terminal)")


def output_format(args: argparse.Namespace, out: TextIO) -> str:
    if args.format:
        return str(args.format)
    return "text" if out.isatty() else "json"


def resolve_settings(args: argparse.Namespace, *, environ: Mapping[str, str] | None = None) -> Resolved:
    """Options over environment over ``nfe-invoice.toml`` over defaults; a bad setting is a usage error."""
    from ..config import resolve
    from ..errors import ConfigurationError

    given = {name: getattr(args, name) for name in SETTING_OPTIONS if hasattr(args, name)}
    try:
        return resolve(given, config_file=getattr(args, "config", None), environ=environ)
    except ConfigurationError as exc:
        raise UsageError(f"configuration: {exc.message}") from None


def source_paths(args: argparse.Namespace, stdin: TextIO | None = None) -> list[str]:
    """Paths from the command line and ``--from-list``, folders expanded, in a stable order."""
    texts = list(args.paths)
    if args.from_list:
        texts.extend(_read_list(args.from_list, stdin or sys.stdin))
    if not texts:
        raise UsageError("no documents: give paths, or --from-list FILE")
    return [str(path) for path in expand_paths(texts)]


def _read_list(name: str, stdin: TextIO) -> Iterator[str]:
    if name == "-":
        lines = stdin.read().splitlines()
    else:
        try:
            with open(name, encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except OSError as exc:
            raise UsageError(f"--from-list: cannot read {name}: {exc.strerror}") from None
    return (line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))


def validation_options_of(settings: Settings) -> ValidationOptions:
    """Validation options for the pipeline, the trust store loaded once (an unusable one is a usage error)."""
    from ..validate import ValidationOptions
    from .validate import trust_store_option

    return ValidationOptions(trust_store=trust_store_option(settings.trust_store))
