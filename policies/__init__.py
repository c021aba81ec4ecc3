"""Tollgate's policy engine: YAML bundles of rules, evaluated against one image at a time.

``model`` is the document schema, ``loader`` reads YAML with line numbers, ``engine``
evaluates, ``decision`` is the auditable result; rule checks live in ``rules``.
"""
