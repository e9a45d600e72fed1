"""Dependencies point one way: identifiers <- xml/model <- parse <- schema/signature/rules <- validate <- vtex
<- journal <- pipeline <- server/watch <- cli.

Each module's imports are read with ``ast``; a test fails if an arrow points the wrong way, or if a
library that belongs to one boundary (lxml, httpx, pydantic) leaks into another layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nfe_invoice"

# Layer of each module (lower may not import higher). Modules not listed default to their package's layer.
LAYERS: dict[str, int] = {
    "errors": 0,
    "identifiers": 1,
    "findings": 1,
    "xml": 2,
    "model": 2,
    "parse": 3,
    "_reader": 3,  # the compiled model reader parse uses (the test reads .py files; _reader.pyx is C)
    "schema": 4,
    "signature": 4,
    "rules": 4,
    "events": 4,
    "validate": 5,
    "vtex": 6,
    "journal": 7,
    "pipeline": 8,
    "config": 8,
    "testing": 8,
    "server": 9,
    "watch": 9,
    "hooks": 9,
    "cli": 10,
    "samples": 0,
    "data": 0,
    "schemas": 0,
    "__init__": 10,
}
# Third-party libraries and the only top-level modules allowed to import them.
BOUNDARIES = {
    "lxml": {"xml", "parse", "schema", "signature", "events", "testing", "validate"},
    "signxml": {"signature", "testing"},
    "cryptography": {"signature", "testing"},
    "xmlschema": {"schema"},
    "httpx": {"vtex", "cli"},
    "pydantic": {"vtex", "server"},
    "psycopg": {"journal"},
    "psycopg_pool": {"journal"},
    "fastapi": {"server"},
    "uvicorn": {"server", "cli"},
    "watchfiles": {"watch"},
    "rich": {"cli"},
}


def _modules() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py"))


def violations(parts: tuple[str, ...], source: str) -> list[str]:
    """Wrong-way imports of the module at ``parts`` (its path inside the package) with this source."""
    here = parts[0].removesuffix(".py")
    depth = len(parts) - 1
    problems = []
    for node in ast.walk(ast.parse(source)):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top in BOUNDARIES and here not in BOUNDARIES[top]:
                    problems.append(f"{here} imports {top}, which only {sorted(BOUNDARIES[top])} may")
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                top = (node.module or "").split(".")[0]
                if top in BOUNDARIES and here not in BOUNDARIES[top]:
                    problems.append(f"{here} imports {top}, which only {sorted(BOUNDARIES[top])} may")
                continue
            if node.level - 1 < depth:  # a relative import inside the same sub-package
                continue
            if node.module:
                targets.append(node.module.split(".")[0])
            else:
                targets.extend(alias.name for alias in node.names)
        for target in targets:
            layer = LAYERS.get(target, LAYERS["__init__"])  # `from . import __version__` reads the package
            if layer > LAYERS[here]:
                problems.append(f"{here} (layer {LAYERS[here]}) imports {target} (layer {layer})")
    return problems


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down_the_layers(path: Path) -> None:
    parts = path.relative_to(PACKAGE).parts
    assert violations(parts, path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("parts", "source"),
    [
        (("model.py",), "from .validate import validate\n"),
        (("rules", "keys.py"), "from ..cli import main\n"),
        (("parse.py",), "import httpx\n"),
        (("model.py",), "from lxml import etree\n"),
    ],
)
def test_the_check_catches_wrong_arrows(parts: tuple[str, ...], source: str) -> None:
    assert violations(parts, source)


def test_starting_the_command_line_loads_nothing_only_the_vtex_half_needs() -> None:
    """`nfe-invoice validate` runs thousands of times a day from ERP hooks: its start-up must not pay for
    the libraries only other commands use (each command imports them inside its handler)."""
    import subprocess
    import sys

    heavy = {"asyncio", "pydantic", "httpx", "anyio", "rich", "fastapi", "uvicorn", "psycopg", "watchfiles"}
    code = (
        "import sys\n"
        "from nfe_invoice.cli import build_parser\n"
        "build_parser().parse_args(['validate', 'x.xml'])\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({sorted(heavy)!r})))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout
