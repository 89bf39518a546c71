"""The start page and the health check."""

from flask import Blueprint, jsonify, render_template
from sqlalchemy import func, select, text

from webapp.database import session
from workflows.cases import PROGRAMMES
from workflows.models import ProcessVersion

bp = Blueprint("main", __name__)


@bp.get("/healthz")
def healthz():
    session().execute(text("SELECT 1"))
    return jsonify(status="ok", database="ok")


@bp.get("/")
def index():
    newest = (
        select(
            ProcessVersion.process_id,
            ProcessVersion.name,
            func.max(ProcessVersion.number).label("number"),
        )
        .group_by(ProcessVersion.process_id, ProcessVersion.name)
        .order_by(ProcessVersion.process_id)
    )
    versions = session().execute(newest).all()
    return render_template("index.html", versions=versions, programmes=PROGRAMMES)
