"""The tickets blueprint object: the route modules (``pages``, ``api``) register on it,
the package ``__init__`` hands it to the application."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("tickets", __name__)
