"""Benchmarks of the bridge (run by hand; a smoke test keeps them working)."""
