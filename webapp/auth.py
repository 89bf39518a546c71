"""Login and logout pages; who is signed in; changing one's own password."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from webapp.database import session
from webapp.extensions import limiter, login_manager
from workflows import auth, users
from workflows.errors import Forbidden, ValidationFailed
from workflows.models import User

bp = Blueprint("auth", __name__)
login_manager.login_view = "auth.login"
login_manager.login_message = "请先登录"
login_manager.localize_callback = gettext


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The session carries "id.epoch": a password change raises the epoch, so sessions
    opened before it (and ids without an epoch) no longer load."""
    ident, _, epoch = user_id.partition(".")
    if not ident.isdigit() or not epoch.isdigit() or int(ident) > 2**31 - 1:
        return None
    user = session().get(User, int(ident))
    if user is None or not user.is_active or int(epoch) != (user.session_epoch or 0):
        return None
    return user


class LoginForm(FlaskForm):
    username = StringField(
        lazy_gettext("用户名"),
        validators=[DataRequired(lazy_gettext("请输入用户名")), Length(max=60)],
    )
    password = PasswordField(
        lazy_gettext("密码"), validators=[DataRequired(lazy_gettext("请输入密码")), Length(max=200)]
    )


def _safe_next(target: str | None) -> str:
    # Only paths on this site: never an open redirect.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("main.index")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("20 per minute", methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = auth.authenticate(session(), form.username.data, form.password.data)
        except Forbidden as err:
            flash(err.message, "error")
        else:
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", form=form), 200 if request.method == "GET" else 200


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    flash(gettext("已退出登录"), "info")
    return redirect(url_for("auth.login"))


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
            # The epoch moved: this browser signs in again, every other session ends.
            login_user(current_user._get_current_object())
            flash(gettext("密码已修改，下次登录请使用新密码。"), "info")
            return redirect(url_for("main.index"))
    elif request.method == "POST":
        status = 422
    return render_template("account/password.html", form=form), status
