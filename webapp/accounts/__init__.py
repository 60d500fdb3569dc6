"""Accounts: residents and staff, roles, log-in by mobile number, profile preferences."""
