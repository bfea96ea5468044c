"""FHIR R4 Subscriptions in the style of the Subscriptions Backport: topics, events, notifications."""
