"""Feedback: residents' ratings of handled reports (回访) and, later, feedback on the platform (意见反馈)."""
