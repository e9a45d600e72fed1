"""The VTEX half: wire models, mapping, reconciliation, transport and the local sandbox.

Only this package imports pydantic and httpx (``tests/test_layers.py`` checks it).
"""
