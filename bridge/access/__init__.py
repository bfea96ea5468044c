"""Who may see and do what: the one place every route asks."""
