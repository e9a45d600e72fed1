"""The optional compiled model reader (``nfe_invoice/_reader.pyx``); everything else is in pyproject.toml.

Optional: where it cannot be built (no C compiler, no Cython), the package installs without it and
``nfe_invoice.parse`` reads with its Python reader, which gives the same model (the tests compare them).
It is compiled against lxml's public C API and the libxml2 headers lxml ships (``lxml.get_include()``).
"""

from __future__ import annotations

import sys

from setuptools import Extension, setup

try:
    import lxml
    from Cython.Build import cythonize
except ImportError as exc:  # pyproject.toml's build requirements bring both; a bare setup.py run may not
    print(f"nfe-invoice: building without the compiled reader ({exc})", file=sys.stderr)
    extensions = []
else:
    reader = Extension("nfe_invoice._reader", ["nfe_invoice/_reader.pyx"], include_dirs=lxml.get_include())
    extensions = list(cythonize([reader], compiler_directives={"language_level": "3"}, quiet=True))
    for extension in extensions:
        extension.optional = True  # a compiler that fails is a warning (cythonize drops this if given above)

setup(ext_modules=extensions)
