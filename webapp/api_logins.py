"""JSON API for 登录保护 (managers): throttled accounts and addresses, and clearing one.
Routes on the api blueprint, documented in openapi_logins.py; the same service as the
page (workflows/logins.py)."""

from flask import g, jsonify

from webapp.api import bp, iso, token_required
from webapp.database import session
from workflows import logins


def throttle_json(row: logins.ThrottledRow) -> dict:
    return {
        "id": row.id,
        "kind": row.kind,
        "key": row.key,
        "display_name": row.display_name or None,
        "failures": row.failures,
        "last_failed_at": iso(row.last_failed_at),
        "wait_until": iso(row.wait_until),
        "challenge": row.challenge,
    }


@bp.get("/login-throttles")
@token_required
def login_throttles():
    rows = logins.list_throttled(session(), g.api_user)
    return jsonify(items=[throttle_json(r) for r in rows])


@bp.delete("/login-throttles/<int:throttle_id>")
@token_required
def clear_login_throttle(throttle_id: int):
    logins.clear(session(), g.api_user, throttle_id)
    return "", 204
