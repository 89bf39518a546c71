"""JSON API under /api/v1: bearer tokens, the same service functions as the pages.

Errors are JSON {code, message} (see webapp.errors): 401, 403 outside your scope,
404 unknown, 409 conflict or already done, 422 invalid data with field errors.
"""

from functools import wraps

from flask import Blueprint, g, jsonify, request

from webapp.database import session
from webapp.extensions import limiter
from workflows import auth
from workflows.errors import Forbidden, ValidationFailed, WarmflowError

bp = Blueprint("api", __name__, url_prefix="/api/v1")


class Unauthorized(WarmflowError):
    code = "unauthorized"


def token_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        user = auth.user_for_token(session(), token) if token else None
        if user is None:
            raise Unauthorized("请先获取有效的访问令牌（POST /api/v1/token）")
        g.api_user = user
        return view(*args, **kwargs)

    return wrapper


def body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValidationFailed("请求体应为 JSON 对象")
    return data


@bp.post("/token")
@limiter.limit("20 per minute")
def token():
    data = body()
    try:
        user = auth.authenticate(
            session(), str(data.get("username", "")), str(data.get("password", ""))
        )
    except Forbidden as err:
        raise Unauthorized(err.message) from None
    kind = "Bearer"
    return jsonify(token=auth.issue_token(session(), user), token_type=kind)  # noqa: S106
