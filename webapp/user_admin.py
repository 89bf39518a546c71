"""用户管理 (managers): search people, create and edit them, deactivate and reactivate,
reset a password (a one-time password shown once), unlock, and import from a file (the
new users' one-time passwords come back once, as a downloadable list). The rules are in
workflows/user_admin.py."""

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required
from sqlalchemy import func, select

from webapp.database import session
from workflows import organisations, user_admin
from workflows.clock import local_now
from workflows.errors import ValidationFailed
from workflows.models import Organisation
from workflows.processes import ROLES

bp = Blueprint("user_admin", __name__)


def _user():
    return current_user._get_current_object()


def _int(value: str | None) -> int | None:
    text = (value or "").strip()
    return int(text) if text.isdigit() and len(text) < 10 else None


def _filter_units(db, user, chosen: int | None):
    """Every unit of a small subtree; of a large one the upper levels and the chosen unit
    (the tree's people counts link to any unit's list)."""
    if organisations.units_in_scope(db, user) <= organisations.CHOICE_LIMIT:
        return organisations.units_for_choice(db, user, open_only=False)
    return organisations.units_for_choice(
        db, user, open_only=False, max_level=user.org.level + 1, also=chosen
    )


def _index(errors: dict | None = None, message: str | None = None, status: int = 200):
    db, user, args = session(), _user(), request.args
    offset = _int(args.get("offset")) or 0
    page = user_admin.list_users(
        db,
        user,
        q=args.get("q"),
        org_id=_int(args.get("org_id")),
        role=args.get("role") or None,
        status=args.get("status") or None,
        offset=offset,
    )
    return (
        render_template(
            "user_admin/index.html",
            page=page,
            units=_filter_units(db, user, _int(args.get("org_id"))),
            roles=ROLES,
            args=args,
            errors=errors or {},
            message=message,
        ),
        status,
    )


@bp.get("/users")
@login_required
def index():
    organisations.require_manager(_user())
    return _index()


def _form_page(person=None, errors=None, message=None, status=200):
    db, user = session(), _user()
    # A large tree (a city of thousands of unions) is chosen from by unit code instead.
    large = organisations.units_in_scope(db, user) > organisations.CHOICE_LIMIT
    return (
        render_template(
            "user_admin/form.html",
            person=person,
            units=None if large else organisations.units_for_choice(db, user),
            roles=ROLES,
            form=request.form if request.method == "POST" else {},
            errors=errors or {},
            message=message,
            locked=user_admin.is_locked(db, person) if person is not None else False,
            own=person is not None and person.id == user.id,
        ),
        status,
    )


def _password_page(person, password: str, created: bool):
    """The one-time password, shown in this answer only (never stored in clear)."""
    return (
        render_template(
            "user_admin/password.html", person=person, password=password, created=created
        ),
        200,
        {"Cache-Control": "no-store"},
    )


def _chosen_unit(form) -> int | None:
    """The unit picked from the list, or typed as its code (large trees)."""
    chosen = _int(form.get("org_id"))
    code = (form.get("org_code") or "").strip()
    if chosen is None and code:
        org = (
            session()
            .scalars(select(Organisation).where(func.lower(Organisation.code) == code.lower()[:40]))
            .first()
        )
        if org is None:
            message = gettext("单位代码“%(code)s”不存在", code=code[:40])
            raise ValidationFailed(message, errors={"org_id": message})
        chosen = org.id
    return chosen


@bp.route("/users/new", methods=["GET", "POST"])
@login_required
def create():
    organisations.require_manager(_user())
    if request.method == "GET":
        return _form_page()
    form = request.form
    try:
        person, password = user_admin.create_user(
            session(),
            _user(),
            form.get("username", ""),
            form.get("display_name", ""),
            _chosen_unit(form) or 0,
            form.getlist("roles"),
            form.get("phone"),
        )
    except ValidationFailed as err:
        return _form_page(None, err.errors, err.message, 422)
    return _password_page(person, password, created=True)


@bp.get("/users/<int:user_id>")
@login_required
def show(user_id: int):
    return _form_page(user_admin.get_person(session(), _user(), user_id))


@bp.post("/users/<int:user_id>")
@login_required
def update(user_id: int):
    db, form = session(), request.form
    try:
        user_admin.update_user(
            db,
            _user(),
            user_id,
            version=_int(form.get("version")),
            display_name=form.get("display_name"),
            org_id=_chosen_unit(form),
            roles=form.getlist("roles"),
            phone=form.get("phone"),
        )
    except ValidationFailed as err:
        return _form_page(user_admin.get_person(db, _user(), user_id), err.errors, err.message, 422)
    flash(gettext("已保存"), "info")
    return redirect(url_for("user_admin.show", user_id=user_id))


@bp.post("/users/<int:user_id>/deactivate")
@login_required
def deactivate(user_id: int):
    user_admin.deactivate_user(session(), _user(), user_id, _int(request.form.get("version")))
    flash(gettext("已停用该用户：登录和接口令牌已失效，已认领的任务退回待认领"), "info")
    return redirect(url_for("user_admin.show", user_id=user_id))


@bp.post("/users/<int:user_id>/reactivate")
@login_required
def reactivate(user_id: int):
    db = session()
    try:
        user_admin.reactivate_user(db, _user(), user_id, _int(request.form.get("version")))
    except ValidationFailed as err:
        return _form_page(user_admin.get_person(db, _user(), user_id), {}, err.message, 422)
    flash(gettext("已启用该用户"), "info")
    return redirect(url_for("user_admin.show", user_id=user_id))


@bp.post("/users/<int:user_id>/reset-password")
@login_required
def reset_password(user_id: int):
    person, password = user_admin.reset_password(session(), _user(), user_id)
    return _password_page(person, password, created=False)


@bp.post("/users/<int:user_id>/unlock")
@login_required
def unlock(user_id: int):
    user_admin.unlock_user(session(), _user(), user_id)
    flash(gettext("已解锁该账号"), "info")
    return redirect(url_for("user_admin.show", user_id=user_id))


@bp.post("/users/import")
@login_required
def import_users():
    """A good file answers with the new users' one-time passwords as a CSV download: the
    only time they are shown."""
    user = _user()
    organisations.require_manager(user)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _index({"file": gettext("请选择要导入的文件")}, None, 422)
    try:
        result = user_admin.import_users(session(), user, upload.filename, upload.read())
    except ValidationFailed as err:
        return _index({"import": err.errors}, err.message, 422)
    if not result.created:
        flash(gettext("文件中的用户都已存在，没有变化"), "info")
        return redirect(url_for("user_admin.index"))
    name = f"one-time-passwords-{local_now():%Y%m%d-%H%M%S}.csv"
    return Response(
        user_admin.login_list(result.created),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )
