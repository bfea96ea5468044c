"""Authentication: SMART scopes, bearer tokens, browser sessions, CSRF, and who is calling."""
