"""Pages for the editor area (managers only; rules in workflows/processes.py)."""

from flask import Blueprint

bp = Blueprint("editor", __name__)
