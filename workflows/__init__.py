"""Deterministic Temporal workflows: one per notification, children for later stages."""
