"""Login and logout pages; who is signed in."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from webapp.database import session
from webapp.extensions import limiter, login_manager
from workflows import auth
from workflows.errors import Forbidden
from workflows.models import User

bp = Blueprint("auth", __name__)
login_manager.login_view = "auth.login"
login_manager.login_message = "请先登录"
login_manager.localize_callback = gettext


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    user = session().get(User, int(user_id))
    return user if user is not None and user.is_active else None


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
