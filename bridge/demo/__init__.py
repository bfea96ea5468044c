"""Demo data for showing and testing the bridge: clinical records of two nursing homes."""
