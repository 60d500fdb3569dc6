"""The baseline of bench/http_load.py: a Flask hello-world, served by gunicorn with the same settings as the app."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "Hello, World!"
