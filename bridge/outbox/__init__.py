"""Outbound deliveries that must never be lost: the outbox table, its worker and senders, and the
hospitals' own FHIR endpoints (the first destination kind). See outbox.py for the guarantees."""
