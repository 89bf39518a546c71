"""Organisations, users and roles."""

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from workflows.errors import NotFound, ValidationFailed
from workflows.models import Organisation, User
from workflows.processes import ROLES


def add_organisation(
    session: Session, code: str, name: str, parent: Organisation | None = None
) -> Organisation:
    org = Organisation(
        code=code,
        name=name,
        level=(parent.level + 1) if parent else 1,
        parent_id=parent.id if parent else None,
    )
    session.add(org)
    session.flush()
    org.path = (parent.path if parent else "/") + f"{org.id}/"
    return org


def add_user(
    session: Session,
    username: str,
    password: str,
    display_name: str,
    org: Organisation,
    roles: list[str],
) -> User:
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise ValidationFailed(f"未知角色：{'、'.join(unknown)}")
    user = User(
        username=username,
        password_hash=generate_password_hash(password),
        display_name=display_name,
        org_id=org.id,
        roles=" ".join(roles),
    )
    user.org = org
    session.add(user)
    session.flush()
    return user


def check_password(user: User, password: str) -> bool:
    return check_password_hash(user.password_hash, password)


def get_user(session: Session, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFound(f"用户“{username}”不存在")
    return user


def get_org(session: Session, code: str) -> Organisation:
    org = session.scalars(select(Organisation).where(Organisation.code == code)).first()
    if org is None:
        raise NotFound(f"组织“{code}”不存在")
    return org
