"""Staff accounts and system clients: creation, password hashing, sign-in with lockout."""
