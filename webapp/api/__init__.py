"""JSON API (/api/v1) and, later, Open311 GeoReport v2."""
