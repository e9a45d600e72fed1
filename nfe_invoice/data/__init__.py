"""Data shipped with nfe-invoice (see README.md here for where each file came from)."""
