"""Pages for the cases area (see workflows/cases.py for the rules)."""

from flask import Blueprint

bp = Blueprint("cases", __name__)
