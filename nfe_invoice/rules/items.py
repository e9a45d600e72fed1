"""Rules of this family (filled in by its own change)."""
