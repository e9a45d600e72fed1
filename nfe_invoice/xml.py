"""Safe XML loading: the only place in nfe-invoice that creates an lxml parser.

Why one place: every hardening choice (no DTD, no entities, no network, size cap) is made here once, and
every other module receives an already-parsed tree plus the exact original bytes.

How sources are taken:

* ``bytes``/``bytearray``/``memoryview``: the document itself.
* ``pathlib.Path``, ``os.PathLike`` or ``str``: a path to a file. A ``str`` is ALWAYS a path, never XML
  text; a ``str`` that starts with ``<`` is refused with a message saying to pass the XML as bytes.
* a binary file object (anything with ``read()`` returning bytes).

The tree is built with comments and processing instructions removed. Canonical XML (what an NF-e
signature covers) drops them too, so values read from the tree are exactly the signed values even for
``<vNF>10<!-- -->.00</vNF>``; :attr:`XmlDocument.has_comments` and :attr:`XmlDocument.has_pis` record that
they were there, so validation can still report them.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import IO, Any, Final

from lxml import etree

from .errors import (
    EmptyInputError,
    HostileXmlError,
    InputTooLargeError,
    InvalidSourceError,
    MalformedXmlError,
)

NFE_NS: Final = "http://www.portalfiscal.inf.br/nfe"
DSIG_NS: Final = "http://www.w3.org/2000/09/xmldsig#"
DEFAULT_MAX_BYTES: Final = 5 * 1024 * 1024

Source = bytes | bytearray | memoryview | str | os.PathLike[str] | IO[bytes]


def nfe(tag: str) -> str:
    """Clark name of an element in the NF-e namespace: ``nfe("infNFe")`` -> ``{...nfe}infNFe``."""
    return f"{{{NFE_NS}}}{tag}"


def dsig(tag: str) -> str:
    """Clark name of an element in the XMLDSig namespace."""
    return f"{{{DSIG_NS}}}{tag}"


def local_name(tag: object) -> str:
    """The local part of a Clark name (``{ns}x`` -> ``x``); comments and PIs give ``""``."""
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


def namespace(tag: object) -> str | None:
    """The namespace URI of a Clark name, or None when there is none."""
    if isinstance(tag, str) and tag.startswith("{"):
        return tag[1:].partition("}")[0]
    return None


@dataclass(frozen=True, slots=True)
class XmlDocument:
    """A parsed document together with the exact bytes it was parsed from."""

    raw: bytes
    root: etree._Element
    has_comments: bool
    has_pis: bool
    name: str | None = None

    @property
    def tree(self) -> etree._ElementTree:
        return self.root.getroottree()


def _make_parser() -> etree.XMLParser:
    # resolve_entities/load_dtd/no_network: no XXE, no SSRF; huge_tree=False keeps libxml2's depth and
    # text-size limits; comments and PIs are dropped so tree values equal their canonical (signed) form.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        strip_cdata=True,
        collect_ids=False,
    )


# An lxml parser must not be used by two threads at once; batch callers validate in threads, so each
# thread gets its own (made once, on first use).
_LOCAL = threading.local()


def _parser() -> etree.XMLParser:
    parser: etree.XMLParser | None = getattr(_LOCAL, "parser", None)
    if parser is None:
        parser = _LOCAL.parser = _make_parser()
    return parser


def read_source(source: object, *, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[bytes, str | None]:
    """Return the bytes of ``source`` and a display name (the path, when there is one).

    Raises :class:`InvalidSourceError` for anything that is not bytes, a path or a binary file, and
    :class:`InputTooLargeError` past ``max_bytes`` (a file is never read past the cap).
    """
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        name = None
    elif isinstance(source, str | os.PathLike):
        path_text = os.fspath(source)
        if not isinstance(path_text, str):
            raise InvalidSourceError("a bytes path is not supported; pass a str or pathlib.Path")
        if path_text.lstrip().startswith("<"):
            raise InvalidSourceError(
                "a str is taken as a file path, and this one looks like XML text: pass the XML as bytes"
            )
        if not path_text or "\x00" in path_text:
            raise InvalidSourceError("the path is empty or contains a NUL character")
        try:
            with open(path_text, "rb") as handle:
                data = _read_capped(handle, max_bytes)
        except OSError as exc:
            raise InvalidSourceError(f"cannot read {path_text}: {exc.strerror or exc}") from exc
        name = path_text
    elif hasattr(source, "read"):
        try:
            data = source.read(max_bytes + 1)
        except Exception as exc:  # a foreign file object may raise anything; translate it once, here
            raise InvalidSourceError(f"cannot read from the file object: {exc}") from exc
        if not isinstance(data, bytes | bytearray):
            raise InvalidSourceError("the file object must be opened in binary mode ('rb')")
        data = bytes(data)
        name = getattr(source, "name", None)
        name = name if isinstance(name, str) else None
    else:
        raise InvalidSourceError(
            f"expected bytes, a path or a binary file object, got {type(source).__name__}"
        )
    if len(data) > max_bytes:
        raise InputTooLargeError(f"the input is larger than the limit of {max_bytes} bytes")
    return data, name


def _read_capped(handle: IO[bytes], max_bytes: int) -> bytes:
    """The file's bytes, never more than ``max_bytes + 1`` (one more says "too large").

    Why not just ``read(max_bytes + 1)``: CPython allocates the whole requested size first, and getting
    and releasing 5 MiB for each 13 kB document costs about 25 us, four times the read itself (measured
    over a folder of NF-e). So the size the file has now is asked first; a file that grew meanwhile is
    read on, up to the cap.
    """
    size = os.fstat(handle.fileno()).st_size
    data = handle.read(min(size, max_bytes) + 1)
    if size < len(data) <= max_bytes:
        data += handle.read(max_bytes + 1 - len(data))
    return data


def load(source: object, *, max_bytes: int = DEFAULT_MAX_BYTES) -> XmlDocument:
    """Parse ``source`` with the hardened parser and keep its original bytes.

    Raises a subclass of :class:`~nfe_invoice.errors.InputError` for anything that is not safe,
    well-formed XML.
    """
    data, name = read_source(source, max_bytes=max_bytes)
    return load_bytes(data, name=name)


def load_bytes(data: bytes, *, name: str | None = None) -> XmlDocument:
    """Parse bytes already read (see :func:`load`)."""
    if not data or data.isspace():  # isspace() stops at the first other byte; strip() would copy it all
        raise EmptyInputError()
    # Refuse hostile input before libxml2 sees any of it. A DOCTYPE, entity or comment needs "<!" and a
    # processing instruction "<?"; memchr for the rare "!" and "?" is ~50x cheaper than searching for
    # "<!" (every "<" is a false start), so the exact scans run only when one of them is present.
    has_bang = b"!" in data
    if has_bang and (b"<!DOCTYPE" in data or b"<!ENTITY" in data):
        raise HostileXmlError()
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (None, None)
        message = str(exc.msg or exc).strip()
        raise MalformedXmlError(f"not well-formed XML: {message}", line=line, column=column) from exc
    except (ValueError, etree.LxmlError) as exc:
        raise MalformedXmlError(f"not well-formed XML: {exc}") from exc
    if root is None:
        raise MalformedXmlError("not well-formed XML: no root element")
    docinfo: Any = root.getroottree().docinfo  # lxml-stubs lack DocInfo.doctype
    # Other encodings (UTF-16) slip past the byte scan; the parsed tree still tells.
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise HostileXmlError()
    return XmlDocument(
        raw=data,
        root=root,
        has_comments=has_bang and b"<!--" in data,
        has_pis=b"?" in data and _has_processing_instruction(data),
        name=name,
    )


#: After this many colons the plain substring search is cheaper than looking at each one (see below).
_COLONS_LOOKED_AT: Final = 64


def declares_prefix(data: bytes) -> bool:
    """Exactly ``b"xmlns:" in data``: whether the bytes hold a namespace prefix declaration.

    Why not ``in``: CPython's substring search advances about a byte at a time through XML (0.6 ns a byte:
    440 us for a 990-item NF-e, and validation asked twice), while a single byte is found with ``memchr``.
    A declaration needs a colon, and an NF-e has few (the times in dhEmi, the URIs of the namespaces and
    algorithms), so each colon is looked at; past :data:`_COLONS_LOOKED_AT` of them the plain search
    decides instead, so input full of colons costs no more than before.
    """
    colon = data.find(b":", 5)
    looked_at = 0
    while colon != -1:
        if data[colon - 5 : colon] == b"xmlns":
            return True
        looked_at += 1
        if looked_at > _COLONS_LOOKED_AT:
            return b"xmlns:" in data
        colon = data.find(b":", colon + 1)
    return False


def parse_fragment(data: bytes) -> etree._Element:
    """Parse bytes this library produced itself (a serialised subtree) with the same hardened parser.

    Used where an element must become a root of its own, e.g. before canonicalisation (see signature.py).
    """
    return etree.fromstring(data, _parser())


def _has_processing_instruction(data: bytes) -> bool:
    """True when ``data`` holds a processing instruction other than the XML declaration."""
    start = 0
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<?xml"):
        start = data.find(b"?>") + 2
    # memchr for the rare "?" (after the declaration only URLs have one: the NFC-e QR code), then a look at
    # the byte before it; searching for "<?" directly stops at every "<" and cost ten times more.
    question = data.find(b"?", start)
    while question != -1:
        if question > 0 and data[question - 1] == 0x3C:  # "<?"
            return True
        question = data.find(b"?", question + 1)
    return False


def element_path(element: etree._Element) -> str:
    """A readable, namespace-free XPath of ``element`` (``/nfeProc/NFe/infNFe/det[2]/prod/vProd``)."""
    parts: list[str] = []
    node: etree._Element | None = element
    while node is not None:
        name = local_name(node.tag)
        parent = node.getparent()
        if parent is not None:
            same = [child for child in parent if child.tag == node.tag]
            if len(same) > 1:
                name = f"{name}[{same.index(node) + 1}]"
        parts.append(name)
        node = parent
    return "/" + "/".join(reversed(parts))
