"""Security headers on every answer, and the Secure flag of the cookies.

Headers (`add_headers`, an after_request):

- Content-Security-Policy, the same on every page: scripts and style sheets only from
  this site (no inline <script>, no inline event handlers, no eval, no CDN, no <style>
  elements). Inline `style="…"` attributes are allowed (`style-src-attr 'unsafe-inline'`):
  bpmn-js, the properties panel and Chart.js write them into the markup they build.
  Images and fonts may also be data: URIs (bpmn-js.css draws markers with data: SVGs; the
  BPMN icon font has a data: variant). The editor bundle also holds CodeMirror, which
  would mount its styles in a <style> element, but only for FEEL expression fields, which
  the Camunda 7 panel warmflow uses does not show: tests/e2e/test_csp_browser.py selects
  an element of every kind in the shipped diagrams, opens every panel group, and finds no
  violation. Should a later bundle need it, allow `style-src-elem 'self' 'unsafe-inline'`
  on the editor page only, never more.
- X-Frame-Options DENY and frame-ancestors 'none' (no framing), X-Content-Type-Options
  nosniff, Referrer-Policy same-origin, a Permissions-Policy that turns off the sensors
  and payment APIs nobody here uses, Cross-Origin-Opener-Policy same-origin, and
  Strict-Transport-Security when the request came over HTTPS.
- Cache-Control no-store on API answers and on every page served to a signed-in user;
  /static keeps Flask's own caching, and public pages (login, 公示) are left alone.

Cookies (`configure_cookies`, in the app factory): the session and remember-me cookies
are HttpOnly, SameSite=Lax and Secure. Secure is left off only when the app runs in
debug or testing mode, or with WARMFLOW_INSECURE_COOKIES set (config key or environment
variable, e.g. `WARMFLOW_INSECURE_COOKIES=1`): a browser would not send a Secure cookie
back over plain http, and `make run` serves http://127.0.0.1 (the Makefile sets it).
A SESSION_COOKIE_SECURE or REMEMBER_COOKIE_SECURE given explicitly wins.
"""

import os

from flask import Flask, Response, abort, request
from flask_login import current_user

CSP_DIRECTIVES = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "style-src-attr": "'unsafe-inline'",
    "img-src": "'self' data:",
    "font-src": "'self' data:",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def _policy(directives: dict[str, str]) -> str:
    return "; ".join(f"{name} {value}" for name, value in directives.items())


CSP = _policy(CSP_DIRECTIVES)
PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), "
    "accelerometer=(), gyroscope=(), magnetometer=()"
)
STATIC_PREFIX = "/static/"


def add_headers(answer: Response) -> Response:
    headers = answer.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if not request.path.startswith(STATIC_PREFIX) and (
        request.path.startswith("/api/") or _signed_in()
    ):
        cache = headers.get("Cache-Control", "")
        if "no-store" not in cache:
            headers["Cache-Control"] = "no-store"
        headers.pop("Expires", None)
    return answer


def _signed_in() -> bool:
    try:
        return bool(current_user and current_user.is_authenticated)
    except Exception:  # noqa: BLE001 - e.g. the database is down: err on no-store
        return True


def _flag(value: object) -> bool:
    return str(value or "").strip().lower() not in ("", "0", "false", "no", "off")


def insecure_cookies_allowed(app: Flask) -> bool:
    return (
        app.debug
        or app.testing
        or _flag(app.config.get("WARMFLOW_INSECURE_COOKIES"))
        or _flag(os.environ.get("WARMFLOW_INSECURE_COOKIES"))
    )


def configure_cookies(app: Flask, explicit: dict | None = None) -> None:
    """Set the cookie flags; keys the caller gave explicitly (`explicit`) are kept."""
    explicit = explicit or {}
    secure = not insecure_cookies_allowed(app)
    settings = {
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": secure,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": secure,
    }
    for key, value in settings.items():
        if key not in explicit:
            app.config[key] = value


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _every(fields) -> list[str]:
    """Every name and every value of a MultiDict (a name may repeat)."""
    return [text for name, values in fields.lists() for text in (name, *values)]


def refuse_nul_characters() -> None:
    """A NUL character is never meaningful in what a person types, and PostgreSQL refuses
    it in text (a 500 deep in a query otherwise): refuse it at the door, for every page and
    API call, in the query string, the form fields and a JSON body. Uploaded files are
    bytes and may hold anything."""
    if _has_nul(request.path) or _has_nul(_every(request.args)):
        abort(400)
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        if request.is_json:
            body = request.get_json(silent=True)
            if _has_nul(body):
                abort(400)
        elif request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            if _has_nul(_every(request.form)):
                abort(400)


def init_app(app: Flask, explicit: dict | None = None) -> None:
    configure_cookies(app, explicit)
    app.after_request(add_headers)
