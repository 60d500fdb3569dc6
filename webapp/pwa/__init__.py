"""The installable web app: service worker, manifest, offline and outbox pages."""
