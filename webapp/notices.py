"""Pages for the notices area (see workflows/notices.py for the rules)."""

from flask import Blueprint

bp = Blueprint("notices", __name__)
