"""Monitoring for admins: system health, error counts and participation over time."""
