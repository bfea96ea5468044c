"""Versioned storage of FHIR resources: current and historical JSON plus search-index rows."""
