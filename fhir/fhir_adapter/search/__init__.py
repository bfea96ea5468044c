"""FHIR search: parameters parsed into an immutable query (``query``), values read by type (``values``).

Running a query against the store is ``fhir_adapter.store.searching``.
"""
