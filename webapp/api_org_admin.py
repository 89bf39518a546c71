"""JSON API for 单位管理 and 用户管理 (managers): /api/v1/organisations and /api/v1/users,
the same services and rules as the pages (workflows/organisations.py, user_admin.py).
Documented in openapi_org_admin.py."""

from flask import g, jsonify, request

from webapp.api import body, bp, iso, token_required
from webapp.database import session
from workflows import organisations, user_admin
from workflows.errors import ValidationFailed
from workflows.models import Organisation, User


def org_json(org: Organisation, people: int | None = None, open_cases: int | None = None) -> dict:
    answer = {
        "id": org.id,
        "code": org.code,
        "name": org.name,
        "level": org.level,
        "parent_id": org.parent_id,
        "address": org.address,
        "phone": org.phone,
        "closed": org.closed_at is not None,
        "closed_at": iso(org.closed_at),
        "version": org.lock_version,
    }
    if people is not None:
        answer |= {"people": people, "open_cases": open_cases}
    return answer


def user_json(person: User) -> dict:
    return {
        "id": person.id,
        "username": person.username,
        "display_name": person.display_name,
        "org_id": person.org_id,
        "org_name": person.org.name,
        "roles": sorted(person.role_set),
        "phone": person.phone,
        "active": person.is_active,
        "must_change_password": person.must_change_password,
        "version": person.lock_version,
    }


def _int_arg(name: str) -> int | None:
    text = (request.args.get(name) or "").strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 9:
        raise ValidationFailed(f"{name} 应为整数", errors={name: "应为整数"})
    return int(text)


def _version(data: dict) -> int | None:
    value = data.get("version")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationFailed("version 应为整数", errors={"version": "应为整数"})
    return value


def _text(data: dict, name: str) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise ValidationFailed(f"{name} 应为字符串", errors={name: "应为字符串"})
    return value


def _id(data: dict, name: str) -> int:
    value = data.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2**31:
        raise ValidationFailed(f"{name} 应为单位的 id", errors={name: "应为整数 id"})
    return value


def _optional_body() -> dict:
    """A JSON object, or nothing at all (an action whose version is optional)."""
    data = request.get_json(silent=True)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValidationFailed("请求体应为 JSON 对象")
    return data


def _upload() -> tuple[str, bytes]:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationFailed(
            "请以 multipart/form-data 上传字段 file", errors={"file": "请选择文件"}
        )
    return upload.filename, upload.read()


# --- organisations -----------------------------------------------------------------------


@bp.get("/organisations")
@token_required
def organisation_tree():
    rows = organisations.tree(session(), g.api_user)
    return jsonify(items=[org_json(r.org, r.people, r.open_cases) for r in rows])


@bp.post("/organisations")
@token_required
def organisation_create():
    data = body()
    org = organisations.add_unit(
        session(),
        g.api_user,
        _id(data, "parent_id"),
        _text(data, "code") or "",
        _text(data, "name") or "",
        _text(data, "address"),
        _text(data, "phone"),
    )
    return jsonify(organisation=org_json(org)), 201


@bp.get("/organisations/<int:org_id>")
@token_required
def organisation_detail(org_id: int):
    return jsonify(organisation=org_json(organisations.get_unit(session(), g.api_user, org_id)))


@bp.patch("/organisations/<int:org_id>")
@token_required
def organisation_update(org_id: int):
    data = body()
    org = organisations.update_unit(
        session(),
        g.api_user,
        org_id,
        version=_version(data),
        code=_text(data, "code"),
        name=_text(data, "name"),
        address=_text(data, "address"),
        phone=_text(data, "phone"),
    )
    return jsonify(organisation=org_json(org))


@bp.post("/organisations/<int:org_id>/close")
@token_required
def organisation_close(org_id: int):
    data = _optional_body()
    org = organisations.close_unit(session(), g.api_user, org_id, _version(data))
    return jsonify(organisation=org_json(org))


@bp.post("/organisations/<int:org_id>/reopen")
@token_required
def organisation_reopen(org_id: int):
    data = _optional_body()
    org = organisations.reopen_unit(session(), g.api_user, org_id, _version(data))
    return jsonify(organisation=org_json(org))


@bp.post("/organisations/<int:org_id>/move")
@token_required
def organisation_move(org_id: int):
    """Without `confirm: true` a unit with running cases is not moved: the 422 answer's
    `preview` says what would change."""
    data = body()
    db = session()
    parent_id = _id(data, "parent_id")
    preview = organisations.move_preview(db, g.api_user, org_id, parent_id)
    preview_json = {
        "open_cases": preview.open_cases,
        "moving_tasks": preview.moving_tasks,
        "claimed_tasks": preview.claimed_tasks,
        "approvers_before": preview.approvers_before,
        "approvers_after": preview.approvers_after,
    }
    if preview.needs_confirmation and data.get("confirm") is not True:
        db.rollback()
        message = (
            f"{preview.org.name}有 {preview.open_cases} 件办理中的案件，"
            f"{preview.moving_tasks} 个审批任务将改由新上级方面办理；确认请传 confirm: true"
        )
        return jsonify(code="confirmation_required", message=message, preview=preview_json), 422
    organisations.move_unit(db, g.api_user, org_id, parent_id, version=_version(data), confirm=True)
    org = db.get(Organisation, org_id)
    return jsonify(organisation=org_json(org), moved=preview_json)


@bp.post("/organisations/import")
@token_required
def organisation_import():
    name, content = _upload()
    result = organisations.import_tree(session(), g.api_user, name, content)
    return jsonify(
        created=result.created,
        renamed=result.renamed,
        unchanged=result.unchanged,
        sha256=result.sha256,
    )


# --- users -------------------------------------------------------------------------------


@bp.get("/users")
@token_required
def user_list():
    page = user_admin.list_users(
        session(),
        g.api_user,
        q=request.args.get("q"),
        org_id=_int_arg("org_id"),
        role=request.args.get("role") or None,
        status=request.args.get("status") or None,
        offset=_int_arg("offset") or 0,
        limit=_int_arg("limit") or user_admin.PAGE_SIZE,
    )
    return jsonify(
        items=[user_json(u) for u in page.rows],
        total=page.total,
        offset=page.offset,
        limit=page.limit,
    )


def _roles(data: dict) -> list[str] | None:
    value = data.get("roles")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
        raise ValidationFailed("roles 应为角色代码的数组", errors={"roles": "应为字符串数组"})
    return value


@bp.post("/users")
@token_required
def user_create():
    data = body()
    person, password = user_admin.create_user(
        session(),
        g.api_user,
        _text(data, "username") or "",
        _text(data, "display_name") or "",
        _id(data, "org_id"),
        _roles(data) or [],
        _text(data, "phone"),
    )
    return jsonify(user=user_json(person), one_time_password=password), 201


@bp.get("/users/<int:user_id>")
@token_required
def user_detail(user_id: int):
    return jsonify(user=user_json(user_admin.get_person(session(), g.api_user, user_id)))


@bp.patch("/users/<int:user_id>")
@token_required
def user_update(user_id: int):
    data = body()
    org_id = _id(data, "org_id") if data.get("org_id") is not None else None
    person = user_admin.update_user(
        session(),
        g.api_user,
        user_id,
        version=_version(data),
        display_name=_text(data, "display_name"),
        org_id=org_id,
        roles=_roles(data),
        phone=_text(data, "phone"),
    )
    return jsonify(user=user_json(person))


@bp.post("/users/<int:user_id>/deactivate")
@token_required
def user_deactivate(user_id: int):
    data = _optional_body()
    person = user_admin.deactivate_user(session(), g.api_user, user_id, _version(data))
    return jsonify(user=user_json(person))


@bp.post("/users/<int:user_id>/reactivate")
@token_required
def user_reactivate(user_id: int):
    data = _optional_body()
    person = user_admin.reactivate_user(session(), g.api_user, user_id, _version(data))
    return jsonify(user=user_json(person))


@bp.post("/users/<int:user_id>/reset-password")
@token_required
def user_reset_password(user_id: int):
    person, password = user_admin.reset_password(session(), g.api_user, user_id)
    return jsonify(user=user_json(person), one_time_password=password)


@bp.post("/users/<int:user_id>/unlock")
@token_required
def user_unlock(user_id: int):
    person = user_admin.unlock_user(session(), g.api_user, user_id)
    return jsonify(user=user_json(person))


@bp.post("/users/import")
@token_required
def user_import():
    name, content = _upload()
    result = user_admin.import_users(session(), g.api_user, name, content)
    return jsonify(
        created=[
            {
                "username": c.username,
                "display_name": c.display_name,
                "org_name": c.org_name,
                "one_time_password": c.password,
            }
            for c in result.created
        ],
        unchanged=result.unchanged,
        sha256=result.sha256,
    )
