"""JSON API for the audit trail (managers): routes on the api blueprint, documented in
openapi_audit.py. The same service as the 审计日志 page (workflows/audit.py)."""

from flask import g, jsonify

from webapp.api import MAX_LIMIT, _int_arg, bp, iso, token_required
from webapp.audit import chosen_filters, service_filters
from webapp.database import session
from workflows import audit


def event_json(row: audit.AuditRow) -> dict:
    return {
        "id": row.id,
        "at": iso(row.at),
        "actor": (
            {"username": row.actor_username, "display_name": row.actor_name}
            if row.actor_username
            else None
        ),
        "case": {"id": row.case_id, "case_no": row.case_no} if row.case_id else None,
        "action": row.action,
        "action_label": row.action_label,
        "summary": row.summary,
    }


@bp.get("/audit")
@token_required
def audit_events():
    audit.require_manager(g.api_user)
    offset = _int_arg("offset", 0, 0)
    limit = _int_arg("limit", audit.PAGE_SIZE, 1, MAX_LIMIT)
    found = audit.search_events(
        session(), g.api_user, **service_filters(chosen_filters()), offset=offset, limit=limit
    )
    return jsonify(
        items=[event_json(r) for r in found.rows],
        total=found.total,
        offset=found.offset,
        limit=found.limit,
    )
