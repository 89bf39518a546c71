"""Pages for the processes area (managers only; rules in workflows/processes.py)."""

from flask import Blueprint

bp = Blueprint("processes", __name__)
