"""Consent-gated recording of video consults."""
