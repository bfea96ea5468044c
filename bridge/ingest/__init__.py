"""Results coming in: HL7 v2 laboratory messages (HTTP and MLLP), ECG files, and the quarantine that
keeps whatever cannot be processed, with its reason, until it is fixed and replayed."""

from bridge.ingest import tables as tables
