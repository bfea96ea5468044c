"""Consent-gated recording of video consults: who may be recorded (consent), the recorder worker,
the DocumentReference of each recording, and deleting recordings whose retention has passed."""

# The table's model joins BridgeBase's metadata with the package, so that Alembic and the schema
# test see it wherever any part of recording is imported.
from bridge.recording import tables as tables
