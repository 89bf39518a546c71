"""统计报表 (supervisors and managers): campaign figures, charts, CSV/XLSX export.

Rules live in workflows/; these are the pages for them.
"""

from flask import Blueprint

bp = Blueprint("reports", __name__)


@bp.get("/reports")
def index():  # placeholder while the pages are being built
    return "", 204
