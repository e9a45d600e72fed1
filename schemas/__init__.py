"""The official NF-e 4.00 XSD set (PL_010f), shipped verbatim; see README.md in this folder."""
