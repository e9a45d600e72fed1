"""XML -> model: read an NF-e 4.00 (``NFe`` or ``nfeProc``) into :mod:`nfe_invoice.model` objects.

Reading is table-driven: each model class's fields are the tag names of its element, so one small loop
walks the children of an element once and converts each value by the field's declared type. Elements
are found by namespace and name, never by position. Unknown elements are skipped (the XSD judges them);
values that do not convert are kept as ``None`` and listed in ``NFeDocument.issues``. Parsing raises
only when the input cannot be an NF-e 4.00 at all.
"""

from __future__ import annotations

import dataclasses
import gc
import types
import typing
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from lxml import etree

from . import model
from .errors import NotAnNfeError, UnknownRootError, UnsupportedLayoutError, WrongNamespaceError
from .xml import DEFAULT_MAX_BYTES, NFE_NS, XmlDocument, element_path, load, local_name, namespace, nfe

LAYOUT: Final = "4.00"
_STR, _DEC, _INT, _DATETIME, _DATE, _MODEL, _TUPLE = range(7)
_KIND_NAMES: Final = {_DEC: "a decimal number", _INT: "an integer", _DATETIME: "a date-time with UTC offset",
                      _DATE: "a date (YYYY-MM-DD)"}

# Fields that the layout carries as attributes rather than child elements.
_ATTRIBUTES: Final[dict[type, tuple[str, ...]]] = {
    model.InfNFe: ("Id", "versao"),
    model.Item: ("nItem",),
    model.Protocol: ("Id",),
    model.Observation: ("xCampo",),
}


class _Spec:
    """How to read one model class: its child elements by Clark name and its attributes."""

    __slots__ = ("attributes", "cls", "elements", "has_group", "tuple_fields")

    def __init__(self, cls: type) -> None:
        self.cls = cls
        self.elements: dict[str, tuple[str, int, _Spec | None]] = {}
        self.attributes: tuple[tuple[str, int], ...] = ()
        self.tuple_fields: tuple[str, ...] = ()
        self.has_group = False


_SPECS: dict[type, _Spec] = {}


_SIMPLE: Final[dict[Any, int]] = {str: _STR, Decimal: _DEC, int: _INT, datetime: _DATETIME, date: _DATE}
_SIMPLE_NAMES: Final = {kind.__name__: code for kind, code in _SIMPLE.items()}


def _kind_of_text(annotation: str) -> tuple[int, type | None] | None:
    """How to read a field, from the annotation string ``from __future__`` leaves; None if not a plain form.

    The model's annotations are a few plain forms (``Decimal | None``, ``tuple[Item, ...]``, ``Ide | None``),
    read here directly: ``typing.get_type_hints`` evaluates all of them (about 900) and did so at every
    start of the command line (10 ms). Any other form goes the general way (:func:`_kind_of`).
    """
    text = annotation.removesuffix(" | None")
    if text in _SIMPLE_NAMES:
        return _SIMPLE_NAMES[text], None
    tuple_of = text.startswith("tuple[") and text.endswith(", ...]")
    named = getattr(model, text[6:-6] if tuple_of else text, None)
    if isinstance(named, type) and dataclasses.is_dataclass(named):
        return (_TUPLE if tuple_of else _MODEL), named
    return None


def _kind_of(annotation: Any) -> tuple[int, type | None]:
    """How to read a field, from its evaluated annotation."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        annotation = next(arg for arg in typing.get_args(annotation) if arg is not type(None))
        origin = typing.get_origin(annotation)
    if origin is tuple:
        return _TUPLE, typing.get_args(annotation)[0]
    if annotation in _SIMPLE:
        return _SIMPLE[annotation], None
    if dataclasses.is_dataclass(annotation):
        return _MODEL, typing.cast(type, annotation)
    raise TypeError(f"unsupported model annotation {annotation!r}")


def _spec(cls: type) -> _Spec:
    """The reading spec of a model class, built once (recursively) from its dataclass fields."""
    spec = _SPECS.get(cls)
    if spec is not None:
        return spec
    spec = _SPECS[cls] = _Spec(cls)
    attribute_names = _ATTRIBUTES.get(cls, ())
    attributes: list[tuple[str, int]] = []
    for field in dataclasses.fields(cls):
        read = _kind_of_text(field.type) if isinstance(field.type, str) else None
        kind, sub = read or _kind_of(typing.get_type_hints(cls)[field.name])
        if field.name in attribute_names:
            attributes.append((field.name, kind))
        elif field.name == "group":
            spec.has_group = True
        else:
            spec.elements[nfe(field.name)] = (field.name, kind, _spec(sub) if sub is not None else None)
    spec.attributes = tuple(attributes)
    spec.tuple_fields = tuple(name for name, kind, _ in spec.elements.values() if kind == _TUPLE)
    return spec


def _issue(kind: int, text: str, element: etree._Element, issues: list[model.ParseIssue]) -> None:
    issues.append(model.ParseIssue(element_path(element), text, _KIND_NAMES[kind]))


def _convert(kind: int, text: str, element: etree._Element, issues: list[model.ParseIssue]) -> Any:
    """Convert a non-string, non-decimal value (decimals are converted inline in the hot loop)."""
    try:
        if kind == _DEC:
            number = Decimal(text)
            if number.is_finite():
                return number
        elif kind == _INT:
            return int(text)
        elif kind == _DATETIME:
            moment = datetime.fromisoformat(text.strip())
            if moment.tzinfo is not None:
                return moment
        elif kind == _DATE:
            return date.fromisoformat(text.strip())
    except (InvalidOperation, ValueError):
        pass
    _issue(kind, text, element, issues)
    return None


# Decimal("...") costs ~0.4 us and NF-e documents repeat the same few strings ("0.00", "18.0000", "1.6500")
# many times; Decimals are immutable, so sharing one instance per string is safe. Bounded: cleared when full.
_DECIMALS: dict[str, Decimal] = {}
_DECIMALS_MAX: Final = 4096


def _decimal(text: str, element: etree._Element, issues: list[model.ParseIssue]) -> Decimal | None:
    try:
        number = Decimal(text)
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        _issue(_DEC, text, element, issues)
        return None
    if len(_DECIMALS) >= _DECIMALS_MAX:
        _DECIMALS.clear()
    _DECIMALS[text] = number
    return number


def _read(spec: _Spec, element: etree._Element, issues: list[model.ParseIssue]) -> Any:
    # Make the frozen instance without its __init__ (see the note in model.py) and fill its __dict__ in
    # place (a third cheaper than building a dict and then assigning it as __dict__). A field absent from
    # it reads its default from the class attribute a dataclass keeps for every default (None or ()), so
    # the object compares, hashes and prints like one built normally.
    instance: Any = object.__new__(spec.cls)
    values: dict[str, Any] = instance.__dict__
    if spec.attributes:
        for name, kind in spec.attributes:
            text = element.get(name)
            if text is not None:
                values[name] = text if kind == _STR else _convert(kind, text, element, issues)
    _read_children(spec, element, values, issues)
    if spec.tuple_fields:
        for name in spec.tuple_fields:
            found = values.get(name)
            if found is not None:
                values[name] = tuple(found)
    return instance


def _read_children(
    spec: _Spec, element: etree._Element, values: dict[str, Any], issues: list[model.ParseIssue]
) -> None:
    elements = spec.elements
    decimals = _DECIMALS
    for child in element:
        entry = elements.get(child.tag)
        if entry is None:
            # A choice group (ICMS00, PISAliq, IPITrib...): its fields belong to the same model object.
            if spec.has_group and len(child) and "group" not in values:
                values["group"] = local_name(child.tag)
                _read_children(spec, child, values, issues)
            continue
        name, kind, sub = entry
        if kind == _DEC:
            text = child.text or ""
            number = decimals.get(text)
            values[name] = number if number is not None else _decimal(text, child, issues)
        elif kind == _STR:
            values[name] = child.text or ""
        elif kind == _MODEL:
            values[name] = _read(sub, child, issues)  # type: ignore[arg-type]
        elif kind == _TUPLE:
            item = _read(sub, child, issues)  # type: ignore[arg-type]
            previous = values.get(name)
            if previous is None:
                values[name] = [item]
            else:
                previous.append(item)
        else:
            values[name] = _convert(kind, child.text or "", child, issues)


_INF_NFE: Final = _spec(model.InfNFe)
_SUPPLEMENT: Final = _spec(model.Supplement)
_PROTOCOL: Final = _spec(model.Protocol)


try:
    from . import _reader
except ImportError:  # built without it (it is optional, see setup.py): the Python reader reads the same model
    _reader = None  # type: ignore[assignment]


def _compiled_spec(spec: _Spec, compiled: dict[int, Any]) -> Any:
    """The compiled reader's copy of a spec: element names by local name (they are all in the NF-e namespace)."""
    found = compiled.get(id(spec))
    if found is not None:
        return found
    elements: dict[str, tuple[str, int, Any]] = {}
    attributes = tuple((name.encode(), name, kind) for name, kind in spec.attributes)
    found = compiled[id(spec)] = _reader.Spec(spec.cls, elements, attributes, spec.tuple_fields, spec.has_group)
    for clark, (name, kind, sub) in spec.elements.items():
        space, _, local = clark[1:].partition("}")
        if space != NFE_NS:
            raise TypeError(f"{spec.cls.__name__}.{name}: the compiled reader knows only NF-e elements")
        elements[local] = (name, kind, _compiled_spec(sub, compiled) if sub is not None else None)
    return found


def _python_reader() -> Any:
    """Read with :func:`_read` (the reference the compiled reader is tested against)."""
    return _read


def _compiled_reader() -> Any:
    """Read with the compiled module: the same walk on libxml2's nodes, about four times faster; None if absent."""
    if _reader is None:
        return None
    kinds = {"str": _STR, "decimal": _DEC, "int": _INT, "model": _MODEL, "tuple": _TUPLE}
    if kinds != _reader.KINDS:  # a stale build of an older _reader.pyx
        return None
    compiled: dict[int, Any] = {}
    specs = {id(spec): _compiled_spec(spec, compiled) for spec in (_INF_NFE, _SUPPLEMENT, _PROTOCOL)}
    reader = _reader.Reader(_DECIMALS, _DECIMALS_MAX, _convert, _decimal)
    return lambda spec, element, issues: reader.read(specs[id(spec)], element, issues)


#: How parse_document reads a model object: ``(spec, element, issues) -> object``.
_READ_MODEL: Final = _compiled_reader() or _python_reader()


@dataclass(frozen=True, slots=True)
class Envelope:
    """Where the parts of an NF-e are in a loaded document (shared by parsing and the signature check)."""

    root_tag: str
    nfe: etree._Element
    inf_nfe: etree._Element
    prot_nfe: etree._Element | None


def _layout_of(element: etree._Element) -> str | None:
    version = element.get("versao")
    if version is None:
        inf = element.find("infNFe") if namespace(element.tag) is None else element.find(nfe("infNFe"))
        if inf is not None:
            version = inf.get("versao")
    return version


def locate(document: XmlDocument) -> Envelope:
    """Find ``NFe``, ``infNFe`` and ``protNFe`` in a loaded document, or say why it is not an NF-e 4.00."""
    root = document.root
    name = local_name(root.tag)
    space = namespace(root.tag)
    if space != NFE_NS:
        version = _layout_of(root)
        if name in {"NFe", "nfeProc"} and version not in (None, LAYOUT):
            raise UnsupportedLayoutError(
                f"this is an NF-e of layout {version} without the NF-e namespace; only layout 4.00 is supported"
            )
        found = f"namespace {space}" if space else "no namespace"
        raise WrongNamespaceError(f"the root element <{name}> has {found}; expected {NFE_NS}")
    if name == "nfeProc":
        _require_layout(root, "nfeProc")
        nfe_elements = root.findall(nfe("NFe"))
        if not nfe_elements:
            raise NotAnNfeError("nfeProc holds no NFe element")
        nfe_element = nfe_elements[0]
        prot = root.find(nfe("protNFe"))
    elif name == "NFe":
        nfe_element, prot = root, None
    elif name == "enviNFe":
        nfe_elements = root.findall(nfe("NFe"))
        if len(nfe_elements) != 1:
            raise UnknownRootError(
                f"enviNFe is a sending batch; it is read only when it holds exactly one NFe (found {len(nfe_elements)})"
            )
        nfe_element, prot = nfe_elements[0], None
    else:
        hint = " (an event, not an NF-e)" if "Evento" in name or "evento" in name else ""
        raise UnknownRootError(f"the root element is <{name}>{hint}; expected NFe or nfeProc")
    inf = nfe_element.find(nfe("infNFe"))
    if inf is None:
        raise NotAnNfeError("NFe holds no infNFe element")
    _require_layout(inf, "infNFe")
    return Envelope(name, nfe_element, inf, prot)


def _require_layout(element: etree._Element, what: str) -> None:
    version = element.get("versao")
    if version != LAYOUT:
        shown = f"layout {version}" if version else "no versao attribute"
        raise UnsupportedLayoutError(f"{what} has {shown}; only layout {LAYOUT} is supported")


def parse_document(document: XmlDocument, envelope: Envelope | None = None) -> model.NFeDocument:
    """Read an already-loaded document (see :func:`parse`)."""
    envelope = envelope or locate(document)
    issues: list[model.ParseIssue] = []
    # The model is acyclic (reference counting frees it whole), yet building it allocates two tracked
    # objects per element read, so the cycle collector (run every 700 allocations) ran about a hundred
    # times per 990-item document for nothing: 5% of the parse in a bare process, more in one holding many
    # objects. It is paused while the model is built, and only if it was running (a caller may have turned
    # it off on purpose).
    collecting = gc.isenabled()
    if collecting:
        gc.disable()
    try:
        inf = _READ_MODEL(_INF_NFE, envelope.inf_nfe, issues)
    finally:
        if collecting:
            gc.enable()
    supplement_element = envelope.nfe.find(nfe("infNFeSupl"))
    supplement = _READ_MODEL(_SUPPLEMENT, supplement_element, issues) if supplement_element is not None else None
    protocol = None
    if envelope.prot_nfe is not None:
        inf_prot = envelope.prot_nfe.find(nfe("infProt"))
        if inf_prot is not None:
            protocol = _READ_MODEL(_PROTOCOL, inf_prot, issues)
    return model.NFeDocument(
        raw=document.raw,
        root_tag=envelope.root_tag,
        infNFe=inf,
        infNFeSupl=supplement,
        protocol=protocol,
        issues=tuple(issues),
        source=document.name,
    )


def parse(source: object, *, max_bytes: int = DEFAULT_MAX_BYTES) -> model.NFeDocument:
    """Read an NF-e or NFC-e (``NFe``, ``nfeProc``, or an ``enviNFe`` holding one NFe) into the model.

    ``source`` is bytes, a path (``str`` is always a path) or a binary file object. Raises a subclass of
    :class:`~nfe_invoice.errors.InputError` when the input cannot be an NF-e 4.00.
    """
    return parse_document(load(source, max_bytes=max_bytes))
