"""The first start of a real federation (no demo): the city federation and its first
manager, made once — from the `/setup` page or `warmflow create-federation` — while the
database has no user at all. Once anyone exists, both refuse for good."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows import users
from workflows.audit import record
from workflows.db import unit_of_work
from workflows.errors import Forbidden, ValidationFailed
from workflows.models import Organisation, User
from workflows.organisations import CODE, CODE_RULE
from workflows.user_admin import USERNAME, USERNAME_RULE


def needed(session: Session) -> bool:
    """True while nobody can sign in: the database has no user yet."""
    return session.scalar(select(User.id).limit(1)) is None


def create_federation(
    session: Session,
    code: str,
    name: str,
    username: str,
    display_name: str,
    password: str,
    repeat: str | None = None,
) -> User:
    """The city federation (level 1) and its first manager, whose password must meet the
    policy. Refused (Forbidden) once any user exists; bad input is ValidationFailed with
    field errors."""
    with unit_of_work(session):
        if not needed(session):
            raise Forbidden("系统已完成初始设置，请登录")
        errors: dict[str, str] = {}
        code, name = (code or "").strip(), (name or "").strip()
        username, display_name = (username or "").strip(), (display_name or "").strip()
        if not CODE.match(code):
            errors["code"] = CODE_RULE
        if not name or len(name) > 100:
            errors["name"] = "请填写市总工会名称（不超过 100 个字）"
        if not USERNAME.match(username):
            errors["username"] = USERNAME_RULE
        if not display_name or len(display_name) > 60:
            errors["display_name"] = "请填写管理员姓名（不超过 60 个字）"
        if repeat is not None and password != repeat:
            errors["repeat"] = "两次输入的密码不一致"
        if "username" not in errors:
            try:
                users.check_password_policy(password or "", username)
            except ValidationFailed as err:
                errors["password"] = err.message
        if errors:
            raise ValidationFailed(next(iter(errors.values())), errors=errors)
        city = session.scalars(select(Organisation).where(Organisation.parent_id.is_(None))).first()
        if city is None:
            city = users.add_organisation(session, code, name)
        manager = users.add_user(session, username, password, display_name, city, ["manager"])
        record(
            session,
            manager.id,
            None,
            "org.first_run",
            f"初始设置：{city.name}（{city.code}），首位管理员 {display_name}（{username}）",
            org_id=city.id,
        )
    return manager
