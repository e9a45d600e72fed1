"""Where test data lives: the project's own fixtures (real documents are copied there with provenance)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
REALWORLD = FIXTURES / "realworld"
SEFAZ = FIXTURES / "sefaz"
