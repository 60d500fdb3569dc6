"""Production entry point: ``gunicorn webapp.wsgi:app`` (``make serve``, configured by gunicorn.conf.py).

Started this way the app refuses to boot while a demo default is in force (see webapp.production). The demo is
``make run`` (``flask run``); tests and tools use ``webapp.create_app()``.
"""

from __future__ import annotations

from webapp.production import create_production_app

app = create_production_app()
