"""The shared item sums are cached per document without keeping any document alive."""

from __future__ import annotations

import weakref

from nfe_invoice import parse
from nfe_invoice.rules import _sums
from nfe_invoice.rules._sums import compute_sums, sums_of
from nfe_invoice.testing import build_nfe, default_spec


def test_a_validated_document_is_freed_with_its_cache_entry() -> None:
    document = parse(build_nfe(default_spec(3)))
    key = id(document)
    sums = sums_of(document)
    assert sums_of(document) is sums
    alive = weakref.ref(document)
    del document
    assert alive() is None  # the cache did not keep the model (a 990-item one is about 5 MB)
    assert key not in _sums._cache


def test_a_new_document_at_a_reused_address_gets_its_own_sums() -> None:
    """Even when the new document lands where an evicted one lived, its sums are its own."""
    for items in (1, 2, 3, 1, 2, 3):
        document = parse(build_nfe(default_spec(items)))
        assert sums_of(document).every == compute_sums(document).every
        del document


def test_live_documents_keep_the_cache_bounded() -> None:
    documents = [parse(build_nfe(default_spec(1, number=number))) for number in range(1, 20)]
    for document in documents:
        sums_of(document)
    assert len(_sums._cache) <= _sums._CACHE_SIZE
    first = documents[0]
    assert sums_of(first) is not None and sums_of(first) is sums_of(first)  # evicted, then computed again
