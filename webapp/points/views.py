"""Residents' points pages: balance and history, the points store, orders, households, honour rolls."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("points", __name__)
