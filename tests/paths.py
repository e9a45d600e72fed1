"""Where test data lives: the project's fixtures, and ../shared (beside the checkout, as in CI)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
SHARED = ROOT.parent / "shared"
REALWORLD = SHARED / "realworld"
