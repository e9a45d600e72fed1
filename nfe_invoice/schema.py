"""XSD validation against the official NF-e schema set, reported as findings (SEFAZ 225).

libxml2 validates (through lxml): it costs a fraction of what xmlschema costs per document here, so it
is the only validator on the hot path. Each schema is compiled once per process and directory, lazily,
under a lock. The directory is replaceable, because SEFAZ publishes a new package every few months.
"""

from __future__ import annotations

import re
import threading
import typing
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any, Final

from lxml import etree

from .errors import InputError
from .findings import CodeInfo, Finding, Severity
from .xml import XmlDocument, element_path

SCHEMA_CODES: Final = (
    CodeInfo("schema.invalid", "225", Severity.ERROR, "the document does not follow the official XSD (PL_010f)"),
)

# Which schema validates which root element.
_ENTRY_POINTS: Final = {
    "nfeProc": "procNFe_v4.00.xsd",
    "NFe": "nfe_v4.00.xsd",
    "enviNFe": "enviNFe_v4.00.xsd",
}
_CANCEL_ENTRY_POINT: Final = "procEventoCancNFe_v1.00.xsd"
_NAMESPACE_IN_MESSAGE: Final = re.compile(r"\{[^}]*\}")
_LONG_VALUE: Final = re.compile(r"'([^']{80})[^']+'")
MAX_FINDINGS: Final = 50


class SchemaError(InputError):
    """The schema directory is missing a file or a schema does not compile."""

    code = "input.schema_dir"
    default_message = "the XSD directory cannot be used"


def default_schema_dir() -> Path:
    """The schema set shipped in the package (``nfe_invoice.schemas``), or the checkout's ``schemas/``."""
    try:
        shipped = Path(str(resources.files("nfe_invoice.schemas")))
    except ModuleNotFoundError:
        shipped = Path(__file__).resolve().parent.parent / "schemas"
    return shipped


_LOCK: Final = threading.Lock()
_COMPILED: dict[Path, etree.XMLSchema] = {}


def compiled_schema(path: Path) -> etree.XMLSchema:
    """Compile (once per process) and return the schema at ``path``."""
    schema = _COMPILED.get(path)
    if schema is not None:
        return schema
    with _LOCK:
        schema = _COMPILED.get(path)
        if schema is None:
            if not path.is_file():
                raise SchemaError(f"schema file not found: {path}")
            try:
                schema = etree.XMLSchema(etree.parse(str(path)))
            except (etree.XMLSchemaParseError, etree.XMLSyntaxError, OSError) as exc:
                raise SchemaError(f"cannot compile {path}: {exc}") from exc
            _COMPILED[path] = schema
    return schema


def _find_entry(directory: Path, name: str) -> Path:
    """An entry-point file in ``directory`` or one of its sub-folders (``nfe_v4.00/``...)."""
    direct = directory / name
    if direct.is_file():
        return direct
    for candidate in sorted(directory.glob(f"*/{name}")):
        return candidate
    raise SchemaError(f"{name} not found in {directory}")


_ENTRY_CACHE: dict[tuple[str, Path | None], etree.XMLSchema] = {}


def schema_for(root_tag: str, schema_dir: Path | None = None) -> etree.XMLSchema:
    """The compiled schema for a root element; looked up once per (root, directory), then a dict hit."""
    cached = _ENTRY_CACHE.get((root_tag, schema_dir))
    if cached is not None:
        return cached
    directory = (schema_dir or default_schema_dir()).resolve()
    name = _ENTRY_POINTS.get(root_tag, _CANCEL_ENTRY_POINT if root_tag == "procEventoNFe" else "")
    if not name:
        raise SchemaError(f"no schema for root element {root_tag}")
    schema = compiled_schema(_find_entry(directory, name))
    _ENTRY_CACHE[(root_tag, schema_dir)] = schema
    return schema


def _readable(message: str) -> str:
    text = _NAMESPACE_IN_MESSAGE.sub("", message)
    return _LONG_VALUE.sub(lambda match: f"'{match.group(1)}...'", text)


def validate_schema(
    document: XmlDocument, root_tag: str, schema_dir: Path | None = None
) -> list[Finding]:
    """Validate the whole document; each XSD error becomes one finding with a named XPath and line."""
    schema = schema_for(root_tag, schema_dir)
    if schema.validate(document.tree):
        return []
    findings = []
    for entry in list(typing.cast(Iterable[Any], schema.error_log))[:MAX_FINDINGS]:
        xpath = None
        if entry.path:
            try:
                hits = document.tree.xpath(entry.path)
            except etree.XPathError:
                hits = []
            if isinstance(hits, list) and hits and isinstance(hits[0], etree._Element):
                xpath = element_path(hits[0])
        findings.append(
            Finding(
                code="schema.invalid",
                severity=Severity.ERROR,
                message=_readable(entry.message),
                sefaz="225",
                xpath=xpath,
                line=entry.line or None,
            )
        )
    return findings
