"""FHIR R4 library of the bridge: validation, versioned storage and search indexing.

It knows FHIR and nothing of nursing homes; it never imports ``bridge`` or ``portal``. It lives in
``fhir/fhir_adapter`` because ``fhir`` itself belongs to the ``fhir.resources`` wheel.
"""
