"""Advice down: a doctor's advice about a resident to the home, with follow-up tasks the nurses carry out."""
