"""QR posters and stickers that open the report form for a place: services.py and views.py (its blueprint)."""
