"""The ``bridge`` command."""
