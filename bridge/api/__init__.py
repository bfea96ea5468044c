"""HTTP routes: they translate requests into service calls and results into responses, nothing more."""
