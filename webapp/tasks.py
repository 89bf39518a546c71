"""Pages for the tasks area (see workflows/tasks.py for the rules)."""

from flask import Blueprint

bp = Blueprint("tasks", __name__)
