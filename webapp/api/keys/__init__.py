"""Open311 API keys: the admin page that issues and revokes them (views.py); the model is in api/models.py."""
