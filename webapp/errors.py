"""Every error reaches the user as a clear message in Chinese; never a stack trace.

Pages get an HTML page, /api/ calls JSON {code, message}.
"""

import logging

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from workflows.errors import (
    AlreadyDone,
    Conflict,
    Forbidden,
    NotFound,
    ValidationFailed,
    WarmflowError,
)

log = logging.getLogger(__name__)


def N_(message: str) -> str:
    """Mark a message for extraction; pages translate it when shown, the API keeps it."""
    return message


STATUS = {NotFound: 404, Forbidden: 403, AlreadyDone: 409, Conflict: 409, ValidationFailed: 422}
UNAUTHORIZED = "unauthorized"
HTTP_MESSAGES = {
    400: N_("请求格式不正确"),
    401: N_("请先登录"),
    403: N_("无权访问"),
    404: N_("页面不存在"),
    405: N_("不支持该操作"),
    413: N_("上传内容过大"),
    429: N_("操作过于频繁，请稍后再试"),
}


def _answer(status: int, code: str, message: str, errors: dict | None = None):
    if request.path.startswith("/api/"):
        body = {"code": code, "message": message}
        if errors:
            body["errors"] = errors
        return jsonify(body), status
    return render_template("error.html", status=status, message=gettext(message)), status


def init_app(app: Flask) -> None:
    @app.errorhandler(WarmflowError)
    def warmflow_error(err: WarmflowError):
        status = next((s for cls, s in STATUS.items() if isinstance(err, cls)), 400)
        if err.code == UNAUTHORIZED:
            status = 401
        return _answer(status, err.code, err.message, getattr(err, "errors", None))

    @app.errorhandler(CSRFError)
    def csrf_error(err: CSRFError):
        return _answer(400, "csrf", N_("页面已过期或请求来源不明，请刷新页面后重试"))

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException):
        if err.response is not None:  # a page of its own (the objection form when limited)
            return err.response
        message = HTTP_MESSAGES.get(err.code or 500, N_("请求无法处理"))
        return _answer(err.code or 500, "http_error", message)

    @app.errorhandler(OperationalError)
    def database_down(err: OperationalError):
        log.error("database unavailable: %s", err.__class__.__name__)
        return _answer(
            503, "database_unavailable", N_("数据库暂时不可用，请稍后重试；您的操作未被保存。")
        )

    @app.errorhandler(Exception)
    def unexpected(err: Exception):
        log.exception("unexpected error on %s", request.path)
        return _answer(
            500, "internal_error", N_("系统出现错误，操作未完成，请稍后重试或联系管理员。")
        )
