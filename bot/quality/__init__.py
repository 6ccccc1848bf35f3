"""Measuring answers against questions with gold quotes (scripts/eval)."""
