"""Handling: the department inbox and volunteers fixing simple problems themselves."""
