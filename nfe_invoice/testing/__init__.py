"""Test kit for users' own integration tests: build valid NF-e documents (and, in signing, sign them).

Everything here makes TEST data: documents with test identities and, for signatures, keys and
certificates labelled as test material. Never use it to issue a real NF-e.
"""

from .builder import ItemSpec, NFeSpec, build_nfe, default_spec, sample_items, wrap_nfeproc
from .signing import SigningIdentity, generate_test_key, make_test_ca, make_test_certificate, sign_nfe

__all__ = [
    "ItemSpec",
    "NFeSpec",
    "SigningIdentity",
    "build_nfe",
    "default_spec",
    "generate_test_key",
    "make_test_ca",
    "make_test_certificate",
    "sample_items",
    "sign_nfe",
    "wrap_nfeproc",
]
