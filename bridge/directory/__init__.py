"""The directory: organisations, contracts between them, residents with their beds, clinicians.
All of it is stored as FHIR resources."""
