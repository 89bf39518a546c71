"""Organisations, users and roles; the password policy and changing one's password.

Password policy (`check_password_policy`): at least 10 characters with three of the four
kinds (lower case, upper case, digits, other characters), or at least 16 characters of
any kind; not containing the username; not one of the well-known passwords below (also
not such a word with digits or symbols stuck on, e.g. "Password2026!"). `add_user`
applies it unless the caller passes `check_policy=False`, which only seeding code does
(the demo's documented shared password, the tests' and benchmarks' throwaway accounts);
every password a person sets goes through the policy.
"""

import re

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from workflows import logins
from workflows.audit import record
from workflows.db import unit_of_work
from workflows.errors import NotFound, ValidationFailed
from workflows.models import Organisation, User
from workflows.processes import ROLES

MIN_LENGTH = 10
ANY_KIND_LENGTH = 16
MAX_LENGTH = 128
# Short on purpose: the passwords every guesser tries first, and this system's own name.
COMMON_PASSWORDS = frozenset(
    {
        "12345678",
        "123456789",
        "1234567890",
        "12345678910",
        "11111111",
        "1111111111",
        "00000000",
        "0000000000",
        "88888888",
        "66666666",
        "123456789a",
        "a123456789",
        "abc123456",
        "abcd1234",
        "1qaz2wsx",
        "1q2w3e4r",
        "1q2w3e4r5t",
        "qwertyuiop",
        "qwerty",
        "qwerty123",
        "asdfghjkl",
        "iloveyou",
        "password",
        "passw0rd",
        "p@ssw0rd",
        "p@ssword",
        "admin",
        "administrator",
        "welcome",
        "woaini1314",
        "warmflow",
        "changeme",
    }
)
# The kinds of characters counted for the "three of four" rule.
_KINDS = (str.islower, str.isupper, str.isdigit)


def _kinds(password: str) -> int:
    found = {i for ch in password for i, test in enumerate(_KINDS) if test(ch)}
    if any(not (ch.islower() or ch.isupper() or ch.isdigit()) for ch in password):
        found.add(len(_KINDS))
    return len(found)


def check_password_policy(password: str, username: str) -> None:
    """Nothing if the password is acceptable, else ValidationFailed with the reason in
    Chinese (the field error is under "password")."""
    message = _policy_problem(password or "", (username or "").strip())
    if message:
        raise ValidationFailed(message, errors={"password": message})


def _policy_problem(password: str, username: str) -> str | None:
    if len(password) < MIN_LENGTH:
        return f"密码至少需要 {MIN_LENGTH} 个字符"
    if len(password) > MAX_LENGTH:
        return f"密码不能超过 {MAX_LENGTH} 个字符"
    if len(password) < ANY_KIND_LENGTH and _kinds(password) < 3:
        return (
            "密码需包含大写字母、小写字母、数字、其他符号中的至少三类，"
            f"或长度不少于 {ANY_KIND_LENGTH} 个字符"
        )
    lower = password.lower()
    if len(username) >= 3 and username.lower() in lower:
        return "密码不能包含用户名"
    core = re.sub(r"^[\d\W_]+|[\d\W_]+$", "", lower)
    if lower in COMMON_PASSWORDS or core in COMMON_PASSWORDS:
        return "密码过于常见，请换一个不易猜到的密码"
    if len(set(password)) < 4:
        return "密码过于简单，请勿使用重复的字符"
    return None


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
    *,
    check_policy: bool = True,
    password_hash: str | None = None,
) -> User:
    """A new user. The password must meet the policy unless `check_policy=False`
    (seeding code only: see the module docstring). Seeding many users with one password
    may pass its hash, made once (a hash takes a tenth of a second by design)."""
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise ValidationFailed(f"未知角色：{'、'.join(unknown)}")
    if check_policy:
        check_password_policy(password, username)
    user = User(
        username=username,
        password_hash=password_hash or generate_password_hash(password),
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


def change_password(session: Session, user: User, current: str, new: str, repeat: str) -> None:
    """The user's own password change: the current password, then the new one twice.
    Every API token and every other login session the user holds stops working (the
    browser that made the change, `user.login_token`, stays signed in); the change is
    audited (never the passwords). ValidationFailed has field errors under current, new
    and repeat."""
    with unit_of_work(session):
        if not check_password(user, current or ""):
            message = "当前密码不正确"
            raise ValidationFailed(message, errors={"current": message})
        if (new or "") != (repeat or ""):
            message = "两次输入的新密码不一致"
            raise ValidationFailed(message, errors={"repeat": message})
        if new == current:
            message = "新密码不能与当前密码相同"
            raise ValidationFailed(message, errors={"new": message})
        problem = _policy_problem(new or "", user.username)
        if problem:
            raise ValidationFailed(problem, errors={"new": problem})
        user.password_hash = generate_password_hash(new)
        user.must_change_password = False
        logins.end_all(session, user.id, keep_token=user.login_token or None)
        record(session, user.id, None, "auth.password_change", "修改密码")


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
