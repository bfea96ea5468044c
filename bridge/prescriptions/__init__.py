"""E-prescriptions: the drug catalogue, safety checks, doctors' signatures and the pharmacy workflow."""
