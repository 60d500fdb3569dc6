"""Analytics for supervisors: hotspots, time peaks, handling, participation and periodic reports (read-only)."""
