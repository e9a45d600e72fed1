"""Sample NF-e documents shipped with the package for ``nfe-invoice demo`` (see README.md here)."""
