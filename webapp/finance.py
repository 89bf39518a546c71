"""银行发放 (finance officers): payment batches, bank files, result import.

Rules live in workflows/; these are the pages for them.
"""

from flask import Blueprint

bp = Blueprint("finance", __name__)


@bp.get("/finance")
def index():  # placeholder while the pages are being built
    return "", 204
