"""Feedback on the platform (意见反馈): services.py (submission, triage, replies) and views.py (its blueprint)."""
