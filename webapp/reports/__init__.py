"""Reports: citizen capture, photos, public report pages, "my reports" and the category taxonomy."""
