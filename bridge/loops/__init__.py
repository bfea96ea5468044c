"""The loop tracker: every step from data up to drug received, the deadlines between them, and overdue alerts."""
