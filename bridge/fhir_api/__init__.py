"""The FHIR R4 API of the bridge: who may do what to which resource, audited, over fhir_adapter."""
