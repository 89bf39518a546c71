"""单位管理 (managers): the organisation tree with people and running cases counted; add,
edit, close, reopen and move a unit; import the tree from a spreadsheet. The rules and
the scope of a district manager are in workflows/organisations.py."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required

from webapp.database import session
from workflows import organisations
from workflows.errors import ValidationFailed

bp = Blueprint("organisations", __name__)


def _user():
    return current_user._get_current_object()


def _int(value: str | None) -> int | None:
    text = (value or "").strip()
    return int(text) if text.isdigit() and len(text) < 10 else None


def _index(errors: dict | None = None, message: str | None = None, status: int = 200):
    db = session()
    user = _user()
    rows = organisations.tree(db, user)
    return (
        render_template(
            "organisations/index.html",
            rows=rows,
            parents=[
                r.org for r in rows if r.org.level < organisations.MAX_LEVEL and not r.org.closed_at
            ],
            level_name=organisations.level_name,
            errors=errors or {},
            message=message,
            form=request.form if request.method == "POST" else {},
        ),
        status,
    )


@bp.get("/organisations")
@login_required
def index():
    organisations.require_manager(_user())
    return _index()


@bp.post("/organisations")
@login_required
def create():
    user = _user()
    organisations.require_manager(user)
    form = request.form
    try:
        org = organisations.add_unit(
            session(),
            user,
            _int(form.get("parent_id")) or 0,
            form.get("code", ""),
            form.get("name", ""),
            form.get("address"),
            form.get("phone"),
        )
    except ValidationFailed as err:
        return _index(err.errors, err.message, 422)
    flash(gettext("已新增单位：%(name)s", name=org.name), "info")
    return redirect(url_for("organisations.index") + f"#org-{org.id}")


@bp.post("/organisations/import")
@login_required
def import_tree():
    user = _user()
    organisations.require_manager(user)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _index({"file": gettext("请选择要导入的文件")}, None, 422)
    try:
        result = organisations.import_tree(session(), user, upload.filename, upload.read())
    except ValidationFailed as err:
        return _index({"import": err.errors}, err.message, 422)
    if result.created or result.renamed:
        flash(
            gettext(
                "导入完成：新增 %(created)s 个单位，改名 %(renamed)s 个，未变 %(unchanged)s 个",
                created=result.created,
                renamed=result.renamed,
                unchanged=result.unchanged,
            ),
            "info",
        )
    else:
        flash(gettext("文件中的单位都已存在，没有变化"), "info")
    return redirect(url_for("organisations.index"))


def _show(
    org_id: int,
    errors: dict | None = None,
    message: str | None = None,
    status: int = 200,
    preview=None,
):
    db = session()
    user = _user()
    org = organisations.get_unit(db, user, org_id)
    parents = [
        o
        for o in organisations.units_for_choice(db, user)
        if o.level == org.level - 1 and o.id != org.parent_id
    ]
    return (
        render_template(
            "organisations/show.html",
            org=org,
            parents=parents,
            level_name=organisations.level_name,
            own=org.id == user.org_id or user.org.path.startswith(org.path),
            errors=errors or {},
            message=message,
            form=request.form if request.method == "POST" else {},
            preview=preview,
        ),
        status,
    )


@bp.get("/organisations/<int:org_id>")
@login_required
def show(org_id: int):
    return _show(org_id)


@bp.post("/organisations/<int:org_id>")
@login_required
def update(org_id: int):
    form = request.form
    try:
        organisations.update_unit(
            session(),
            _user(),
            org_id,
            version=_int(form.get("version")),
            code=form.get("code"),
            name=form.get("name"),
            address=form.get("address"),
            phone=form.get("phone"),
        )
    except ValidationFailed as err:
        return _show(org_id, err.errors, err.message, 422)
    flash(gettext("已保存"), "info")
    return redirect(url_for("organisations.show", org_id=org_id))


@bp.post("/organisations/<int:org_id>/close")
@login_required
def close(org_id: int):
    try:
        organisations.close_unit(session(), _user(), org_id, _int(request.form.get("version")))
    except ValidationFailed as err:
        return _show(org_id, err.errors, err.message, 422)
    flash(gettext("单位已撤销"), "info")
    return redirect(url_for("organisations.show", org_id=org_id))


@bp.post("/organisations/<int:org_id>/reopen")
@login_required
def reopen(org_id: int):
    try:
        organisations.reopen_unit(session(), _user(), org_id, _int(request.form.get("version")))
    except ValidationFailed as err:
        return _show(org_id, err.errors, err.message, 422)
    flash(gettext("单位已恢复"), "info")
    return redirect(url_for("organisations.show", org_id=org_id))


@bp.post("/organisations/<int:org_id>/move")
@login_required
def move(org_id: int):
    """Moving a unit with running cases shows what changes and asks to confirm."""
    db, user, form = session(), _user(), request.form
    parent_id = _int(form.get("parent_id"))
    if parent_id is None:
        return _show(org_id, {"parent": gettext("请选择新的上级单位")}, None, 422)
    confirm = form.get("confirm") == "yes"
    try:
        preview = organisations.move_preview(db, user, org_id, parent_id)
        if preview.needs_confirmation and not confirm:
            return _show(org_id, preview=preview)
        organisations.move_unit(
            db, user, org_id, parent_id, version=_int(form.get("version")), confirm=confirm
        )
    except ValidationFailed as err:
        db.rollback()
        return _show(org_id, err.errors, err.message, 422)
    flash(gettext("单位已移动"), "info")
    return redirect(url_for("organisations.show", org_id=org_id))
