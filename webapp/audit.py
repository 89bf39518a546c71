"""审计日志 (managers): the audit trail with filters, 50 a page, and a CSV export.

The rules (who may read it, the filters, masking) are in workflows/audit.py; this is the
page for them. Summaries are shown masked: ID and card numbers never appear whole.
"""

from flask import Blueprint, Response, render_template, request, url_for
from flask_login import current_user, login_required

from webapp.database import session
from workflows import audit
from workflows.errors import ValidationFailed

bp = Blueprint("audit", __name__)

# Query parameter → search_events argument; the API takes the same names.
FILTERS = {
    "user": "actor_username",
    "case": "case_no",
    "from": "date_from",
    "to": "date_to",
    "action": "action",
}


def chosen_filters() -> dict[str, str]:
    """The filters given in the query string, by query name (length-capped)."""
    return {name: (request.args.get(name) or "").strip()[:60] for name in FILTERS}


def service_filters(chosen: dict[str, str]) -> dict[str, str | None]:
    return {FILTERS[name]: (value or None) for name, value in chosen.items()}


def _page(chosen: dict[str, str], page: int) -> audit.AuditPage:
    return audit.search_events(
        session(),
        current_user,
        **service_filters(chosen),
        offset=(page - 1) * audit.PAGE_SIZE,
        limit=audit.PAGE_SIZE,
    )


@bp.get("/audit")
@login_required
def index():
    audit.require_manager(current_user)
    chosen = chosen_filters()
    page = max(1, request.args.get("page", 1, type=int))
    errors: dict[str, str] = {}
    found, status = None, 200
    try:
        found = _page(chosen, page)
        pages = max(1, -(-found.total // audit.PAGE_SIZE))
        if page > pages:  # an old link past the end: the last page
            page, found = pages, _page(chosen, pages)
    except ValidationFailed as err:
        errors, status = err.errors or {"": err.message}, 422
    pages = max(1, -(-found.total // audit.PAGE_SIZE)) if found else 1

    def page_url(**changes) -> str:
        query = {k: v for k, v in chosen.items() if v}
        query.update(changes)
        return url_for("audit.index", **query)

    return render_template(
        "audit/index.html",
        chosen=chosen,
        found=found,
        errors=errors,
        page=page,
        pages=pages,
        page_url=page_url,
        export_url=url_for("audit.export", **{k: v for k, v in chosen.items() if v}),
        action_groups=audit.ACTION_GROUPS,
    ), status


@bp.get("/audit/export.csv")
@login_required
def export():
    audit.require_manager(current_user)
    filename, content = audit.export_csv(
        session(), current_user, **service_filters(chosen_filters())
    )
    answer = Response(content, content_type="text/csv; charset=utf-8")
    answer.headers.set("Content-Disposition", "attachment", filename=filename)
    answer.headers["Cache-Control"] = "private, no-store"
    return answer
