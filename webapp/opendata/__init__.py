"""Open data for residents: a public map and list of reports, headline statistics and downloads (JSON, CSV)."""
