# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The model reader of :mod:`nfe_invoice.parse`, compiled: the same walk, on libxml2's nodes directly.

Why it exists: reading the typed model was the largest part of validation (a third of it at ten items),
and in Python each element read costs an lxml proxy, a Clark-name string and a ``.text`` call, about
0.5 us, however the loop is written. Here the walk reads libxml2's ``xmlNode`` structs through lxml's
public C API (``lxml.includes``), and only the values become Python objects.

It does exactly what :func:`nfe_invoice.parse._read` does, from the same reading specs, and the tests
compare the two model for model on every fixture and on generated documents. Each step below names the
lxml behaviour it reproduces. Values it cannot convert are handed to the Python converters (which record
the :class:`~nfe_invoice.model.ParseIssue` with the element's path), so failures read exactly as before.
The package works without this module (it is an optional build): ``parse`` then uses its Python reader.
"""

from cpython.object cimport PyObject
from cpython.unicode cimport PyUnicode_AsUTF8
from cpython.ref cimport Py_INCREF, Py_XDECREF
from libc.stdint cimport uint64_t, uintptr_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcmp, memcpy, strcmp, strlen

from lxml.includes cimport tree
from lxml.includes.etreepublic cimport _Document, _Element, elementFactory, import_lxml__etree

from decimal import Decimal, InvalidOperation

import_lxml__etree()

cdef const char* NFE_NS = b"http://www.portalfiscal.inf.br/nfe"
cdef object _new_object = object.__new__

# The kinds of parse.py (parse._STR ... parse._TUPLE); parse.py checks that they agree (KINDS).
cdef enum:
    K_STR = 0
    K_DEC = 1
    K_INT = 2
    K_MODEL = 5
    K_TUPLE = 6

KINDS = {"str": K_STR, "decimal": K_DEC, "int": K_INT, "model": K_MODEL, "tuple": K_TUPLE}


cdef class Spec:
    """One model class's reading spec (a parse._Spec), with its element names keyed by local name."""

    cdef object cls
    cdef dict elements  # local name in the NF-e namespace -> (field name, kind, Spec or None)
    cdef tuple attributes  # ((bytes name, field name, kind), ...)
    cdef tuple tuple_fields
    cdef bint has_group

    def __init__(self, cls, dict elements, tuple attributes, tuple tuple_fields, bint has_group):
        self.cls = cls
        self.elements = elements
        self.attributes = attributes
        self.tuple_fields = tuple_fields
        self.has_group = has_group


cdef enum:
    NAME_SLOTS = 1024  # a power of two


cdef struct NameSlot:
    const tree.xmlChar* c_name
    PyObject* name  # owned by Reader.names


cdef enum:
    DECIMAL_SLOTS = 4096  # a power of two
    DECIMAL_KEY = 24  # longer texts take the general path


cdef struct DecimalSlot:
    Py_ssize_t length  # 0: empty
    char key[DECIMAL_KEY]
    PyObject* value  # a strong reference to the Decimal of ``key``


cdef class Reader:
    """The converters shared with parse.py: its Decimal cache and its slow paths that record issues."""

    # Element names as str, by libxml2's pointer to the name: a parser interns names in a dictionary that
    # lxml shares between the documents of a thread, so the same tag comes back with the same pointer, and
    # one pointer comparison (plus strcmp, in case a freed name's memory was reused) replaces a UTF-8
    # decode and a hash per element.
    cdef NameSlot slots[NAME_SLOTS]
    cdef list names
    # Decimals by the bytes of their text: the common case (one text node, a short number) finds its
    # Decimal without making a str and hashing it; the same immutable instance for the same text, as the
    # Python reader's ``decimals`` dict gives.
    cdef DecimalSlot* decimal_slots
    cdef dict decimals
    cdef Py_ssize_t decimals_max
    cdef object convert  # parse._convert(kind, text, element, issues)
    cdef object decimal  # parse._decimal(text, element, issues)

    def __cinit__(self) -> None:
        self.decimal_slots = <DecimalSlot*>calloc(DECIMAL_SLOTS, sizeof(DecimalSlot))
        if self.decimal_slots is NULL:
            raise MemoryError()

    def __dealloc__(self) -> None:
        if self.decimal_slots is not NULL:
            for i in range(DECIMAL_SLOTS):
                Py_XDECREF(self.decimal_slots[i].value)
            free(self.decimal_slots)

    def __init__(self, dict decimals, Py_ssize_t decimals_max, convert, decimal):
        self.names = []
        self.decimals = decimals
        self.decimals_max = decimals_max
        self.convert = convert
        self.decimal = decimal

    def read(self, Spec spec, _Element element, list issues):
        """parse._read(spec, element, issues): one model object from ``element``."""
        return self._read(spec, element._doc, element._c_node, issues)

    cdef object _read(self, Spec spec, _Document doc, tree.xmlNode* c_node, list issues):
        cdef object instance = _new_object(spec.cls)
        cdef dict values = instance.__dict__
        cdef tuple attribute
        cdef object text
        cdef object found
        for attribute in spec.attributes:
            text = _attribute(c_node, <bytes>attribute[0])
            if text is not None:
                if <int>attribute[2] == K_STR:
                    values[attribute[1]] = text
                elif <int>attribute[2] == K_INT:
                    values[attribute[1]] = self._int(<str>text, doc, c_node, issues)
                else:
                    values[attribute[1]] = self.convert(attribute[2], text, elementFactory(doc, c_node), issues)
        self._read_children(spec, doc, c_node, values, issues)
        for name in spec.tuple_fields:
            found = values.get(name)
            if found is not None:
                values[name] = tuple(found)
        return instance

    cdef int _read_children(self, Spec spec, _Document doc, tree.xmlNode* c_node, dict values,
                            list issues) except -1:
        cdef tree.xmlNode* c_child = c_node.children
        cdef object entry
        cdef object text
        cdef object previous
        cdef object item
        cdef int kind
        cdef dict elements = spec.elements
        while c_child is not NULL:
            # ``for child in element`` also yields comments and processing instructions; their tag is no
            # field and they have no children, so they are skipped like any unknown element.
            if c_child.type != tree.XML_ELEMENT_NODE:
                c_child = c_child.next
                continue
            entry = None
            if c_child.ns is not NULL and strcmp(<const char*>c_child.ns.href, NFE_NS) == 0:
                entry = elements.get(self._name(c_child.name))
            if entry is None:
                # A choice group (ICMS00, PISAliq...): its fields belong to the same model object. As in
                # parse.py: only when the spec has one, the element has children and no group was read.
                if spec.has_group and _has_children(c_child) and "group" not in values:
                    values["group"] = _text_of(c_child.name)
                    self._read_children(spec, doc, c_child, values, issues)
                c_child = c_child.next
                continue
            kind = <int>(<tuple>entry)[1]
            if kind == K_DEC:
                values[(<tuple>entry)[0]] = self._decimal_of(doc, c_child, issues)
            elif kind == K_STR:
                text = _collect_text(c_child.children)
                values[(<tuple>entry)[0]] = "" if text is None else text
            elif kind == K_MODEL:
                values[(<tuple>entry)[0]] = self._read(<Spec>(<tuple>entry)[2], doc, c_child, issues)
            elif kind == K_TUPLE:
                item = self._read(<Spec>(<tuple>entry)[2], doc, c_child, issues)
                previous = values.get((<tuple>entry)[0])
                if previous is None:
                    values[(<tuple>entry)[0]] = [item]
                else:
                    (<list>previous).append(item)
            elif kind == K_INT:
                text = _collect_text(c_child.children)
                values[(<tuple>entry)[0]] = self._int("" if text is None else <str>text, doc, c_child, issues)
            else:
                text = _collect_text(c_child.children)
                values[(<tuple>entry)[0]] = self.convert(
                    kind, "" if text is None else text, elementFactory(doc, c_child), issues)
            c_child = c_child.next
        return 0

    cdef str _name(self, const tree.xmlChar* c_name):
        """``c_name`` as str, from the slot of its pointer when it holds the same name."""
        cdef NameSlot* slot = &self.slots[(<uintptr_t>c_name >> 3) & (NAME_SLOTS - 1)]
        cdef str name
        if slot.c_name == c_name and strcmp(PyUnicode_AsUTF8(<object>slot.name), <const char*>c_name) == 0:
            return <str>slot.name
        name = _text_of(c_name)
        if len(self.names) >= 4 * NAME_SLOTS:  # bounded: names that lost their slot are let go now and then
            self.names = [<object>self.slots[i].name for i in range(NAME_SLOTS) if self.slots[i].name is not NULL]
        self.names.append(name)
        slot.c_name = c_name
        slot.name = <PyObject*>name
        return name

    cdef object _int(self, str text, _Document doc, tree.xmlNode* c_node, list issues):
        """parse._convert for an int: ``int(text)``, or the Python path (the issue) when it is none."""
        try:
            return int(text)
        except ValueError:
            return self.convert(K_INT, text, elementFactory(doc, c_node), issues)

    cdef object _decimal_of(self, _Document doc, tree.xmlNode* c_node, list issues):
        """The Decimal of an element's text (parse._read_children's decimal branch)."""
        cdef tree.xmlNode* c_text = c_node.children
        cdef const char* content
        cdef Py_ssize_t length
        cdef uint64_t hashed
        cdef DecimalSlot* slot
        cdef object number
        cdef object text
        if c_text is not NULL and c_text.next is NULL and c_text.type == tree.XML_TEXT_NODE:
            content = <const char*>c_text.content
            length = strlen(content)
            if 0 < length < DECIMAL_KEY:
                hashed = 1469598103934665603ULL  # FNV-1a
                for i in range(length):
                    hashed = (hashed ^ <unsigned char>content[i]) * 1099511628211ULL
                slot = &self.decimal_slots[hashed & (DECIMAL_SLOTS - 1)]
                if slot.length == length and memcmp(slot.key, content, length) == 0:
                    return <object>slot.value
                number = self._decimal(_text_of(c_text.content), doc, c_node, issues)
                if number is not None and type(number) is Decimal:
                    Py_XDECREF(slot.value)
                    Py_INCREF(number)
                    slot.value = <PyObject*>number
                    memcpy(slot.key, content, length)
                    slot.length = length
                return number
        text = _collect_text(c_node.children)
        if text is None:
            text = ""
        number = self.decimals.get(text)
        if number is None:
            number = self._decimal(<str>text, doc, c_node, issues)
        return number

    cdef object _decimal(self, str text, _Document doc, tree.xmlNode* c_node, list issues):
        """parse._decimal: a finite Decimal, cached; anything else goes to the Python path (the issue)."""
        cdef object number
        try:
            number = Decimal(text)
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            return self.decimal(text, elementFactory(doc, c_node), issues)
        if len(self.decimals) >= self.decimals_max:
            self.decimals.clear()
        self.decimals[text] = number
        return number


cdef inline str _text_of(const tree.xmlChar* c_text):
    return (<const char*>c_text).decode("utf-8")


cdef inline bint _has_children(tree.xmlNode* c_node):
    """``len(element) > 0``: lxml counts child elements, comments, processing instructions, entity refs."""
    cdef tree.xmlNode* c_child = c_node.children
    while c_child is not NULL:
        if (c_child.type == tree.XML_ELEMENT_NODE or c_child.type == tree.XML_COMMENT_NODE
                or c_child.type == tree.XML_PI_NODE or c_child.type == tree.XML_ENTITY_REF_NODE):
            return True
        c_child = c_child.next
    return False


cdef inline tree.xmlNode* _text_node_or_skip(tree.xmlNode* c_node):
    """lxml's _textNodeOrSkip: this node if text or CDATA, past XInclude markers, else NULL."""
    while c_node is not NULL:
        if c_node.type == tree.XML_TEXT_NODE or c_node.type == tree.XML_CDATA_SECTION_NODE:
            return c_node
        if c_node.type == tree.XML_XINCLUDE_START or c_node.type == tree.XML_XINCLUDE_END:
            c_node = c_node.next
        else:
            return NULL
    return NULL


cdef object _collect_text(tree.xmlNode* c_node):
    """lxml's ``.text`` (its _collectText from the first child): the leading text and CDATA, or None."""
    cdef tree.xmlNode* c_first = _text_node_or_skip(c_node)
    cdef tree.xmlNode* c_cur = c_first
    cdef const tree.xmlChar* c_text = NULL
    cdef Py_ssize_t count = 0
    while c_cur is not NULL:
        if c_cur.content[0] != 0:
            c_text = c_cur.content
        count += 1
        c_cur = _text_node_or_skip(c_cur.next)
    if c_text is NULL:
        return "" if count > 0 else None
    if count == 1:
        return _text_of(c_text)
    cdef bytes joined = b""
    c_cur = c_first
    while c_cur is not NULL:
        joined += <const char*>c_cur.content
        c_cur = _text_node_or_skip(c_cur.next)
    return joined.decode("utf-8")


cdef object _attribute(tree.xmlNode* c_node, bytes name):
    """``element.get(name)`` for a name without namespace: the attribute's text, or None when absent."""
    cdef tree.xmlAttr* c_attr = c_node.properties
    cdef const char* c_name = name
    cdef bytes joined
    cdef tree.xmlNode* c_text
    while c_attr is not NULL:
        if c_attr.ns is NULL and strcmp(<const char*>c_attr.name, c_name) == 0:
            c_text = c_attr.children
            if c_text is not NULL and c_text.next is NULL and c_text.type == tree.XML_TEXT_NODE:
                return _text_of(c_text.content)
            joined = b""
            while c_text is not NULL:
                if c_text.type == tree.XML_TEXT_NODE and c_text.content is not NULL:
                    joined += <const char*>c_text.content
                c_text = c_text.next
            return joined.decode("utf-8")
        c_attr = c_attr.next
    return None
