"""Login and logout pages; who is signed in; changing one's own password."""

import re
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, Optional

from webapp.database import session
from webapp.extensions import limiter, login_manager
from workflows import auth, logins, users
from workflows.errors import ValidationFailed
from workflows.models import User

bp = Blueprint("auth", __name__)
login_manager.login_view = "auth.login"
login_manager.login_message = "请先登录"
login_manager.localize_callback = gettext


@login_manager.user_loader
def load_user(token: str) -> User | None:
    """The session cookie carries a login session's token: a session ended on the server
    (signed out, password changed, user deactivated) no longer loads anyone."""
    return logins.user_for_session(session(), token)


class LoginForm(FlaskForm):
    username = StringField(
        lazy_gettext("用户名"),
        validators=[DataRequired(lazy_gettext("请输入用户名")), Length(max=60)],
    )
    password = PasswordField(
        lazy_gettext("密码"), validators=[DataRequired(lazy_gettext("请输入密码")), Length(max=200)]
    )
    challenge_token = HiddenField(validators=[Optional(), Length(max=200)])
    challenge_answer = StringField(
        lazy_gettext("验证问题"), validators=[Optional(), Length(max=10)]
    )


# What a browser drops from a URL before reading it (WHATWG URL: tab and newlines
# anywhere, C0 controls and spaces at the ends), so "/%09/evil.example" is "//evil…".
_URL_DROPPED = re.compile(r"[\t\n\r]")
_C0_AND_SPACE = "".join(chr(code) for code in range(0x21))


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only, read the way the browser
    will read it, never another site."""
    fallback = url_for("main.index")
    if not target:
        return fallback
    cleaned = _URL_DROPPED.sub("", target).strip(_C0_AND_SPACE)
    cleaned = cleaned.replace("\\", "/")  # browsers read a backslash as a slash
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in cleaned):
        return fallback
    parts = urlsplit(cleaned)
    if parts.scheme or parts.netloc or not cleaned.startswith("/") or cleaned.startswith("//"):
        return fallback
    return cleaned


def _address() -> str:
    return request.remote_addr or ""


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("20 per minute", methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    challenge = None
    status = 200
    if form.validate_on_submit():
        secret = current_app.secret_key.encode("utf-8")
        try:
            user = auth.authenticate(
                session(),
                form.username.data,
                form.password.data,
                address=_address(),
                secret=secret,
                challenge_token=form.challenge_token.data or None,
                challenge_answer=form.challenge_answer.data if form.challenge_token.data else None,
                open_session=True,
            )
        except auth.SignInRefused as err:
            flash(err.message, "error")
            status = 429 if err.wait_seconds else 200
            if err.challenge:
                challenge = logins.new_challenge(secret)
                form.challenge_token.data = challenge.token
            form.challenge_answer.data = ""
        else:
            login_user(user)
            if user.must_change_password:
                flash(gettext("您使用的是一次性密码，请先设置自己的新密码。"), "info")
                return redirect(url_for("auth.change_password"))
            return redirect(safe_next(request.args.get("next")))
    return render_template("login.html", form=form, challenge=challenge), status


@bp.post("/logout")
@login_required
def logout():
    logins.end_session(session(), current_user.login_token)
    logout_user()
    flash(gettext("已退出登录"), "info")
    return redirect(url_for("auth.login"))


# What a user with a one-time password may still reach before choosing their own.
_BEFORE_CHANGE = {"auth.change_password", "auth.logout", "auth.login", "static", "main.favicon"}


@bp.before_app_request
def one_time_password_first():
    """A one-time password (new user, reset by a manager) opens nothing but the page that
    replaces it."""
    if (
        current_user.is_authenticated
        and current_user.must_change_password
        and request.endpoint not in _BEFORE_CHANGE
        and request.blueprint != "api"
    ):
        return redirect(url_for("auth.change_password"))
    return None


class PasswordForm(FlaskForm):
    current = PasswordField(
        lazy_gettext("当前密码"),
        validators=[DataRequired(lazy_gettext("请输入当前密码")), Length(max=200)],
    )
    new = PasswordField(
        lazy_gettext("新密码"),
        validators=[DataRequired(lazy_gettext("请输入新密码")), Length(max=200)],
    )
    repeat = PasswordField(
        lazy_gettext("再次输入新密码"),
        validators=[DataRequired(lazy_gettext("请再次输入新密码")), Length(max=200)],
    )


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
@limiter.limit("10 per minute", methods=["POST"])
def change_password():
    """The signed-in user's own password: the current one, then the new one twice. The
    policy (workflows/users.py) is checked there; the change is audited."""
    form = PasswordForm()
    status = 200
    if form.validate_on_submit():
        try:
            users.change_password(
                session(), current_user, form.current.data, form.new.data, form.repeat.data
            )
        except ValidationFailed as err:
            for name, message in (err.errors or {"new": err.message}).items():
                getattr(form, name, form.new).errors.append(message)
            status = 422
        else:
            # This browser stays signed in; every other session and API token has ended.
            flash(gettext("密码已修改，下次登录请使用新密码。"), "info")
            return redirect(url_for("main.index"))
    elif request.method == "POST":
        status = 422
    return render_template("account/password.html", form=form), status
