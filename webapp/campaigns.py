"""活动管理 (managers): campaigns, standards, budgets, launch from the archive.

Rules live in workflows/; these are the pages for them.
"""

from flask import Blueprint

bp = Blueprint("campaigns", __name__)


@bp.get("/campaigns")
def index():  # placeholder while the pages are being built
    return "", 204
