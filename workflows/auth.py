"""Signing in: passwords with lock-out after repeated failures, and API tokens."""

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows import engine
from workflows.audit import record
from workflows.clock import now
from workflows.errors import Forbidden
from workflows.models import ApiToken, User
from workflows.users import check_password

MAX_FAILURES = 5
LOCK_FOR = timedelta(minutes=15)
TOKEN_LIFETIME = timedelta(hours=12)
WRONG = "用户名或密码错误"


def authenticate(session: Session, username: str, password: str) -> User:
    """The user, or Forbidden with a message that does not tell which part was wrong."""
    with engine.unit_of_work(session):
        user = session.scalars(
            select(User).where(User.username == (username or "").strip())
        ).first()
        if user is None or not user.is_active:
            raise Forbidden(WRONG)
        if user.locked_until is not None and user.locked_until > now():
            minutes = max(1, int((user.locked_until - now()).total_seconds() // 60) + 1)
            raise Forbidden(f"密码错误次数过多，账号已锁定，请 {minutes} 分钟后再试")
        if not check_password(user, password or ""):
            user.failed_logins += 1
            if user.failed_logins >= MAX_FAILURES:
                user.locked_until = now() + LOCK_FOR
                user.failed_logins = 0
                record(session, user.id, None, "auth.locked", "密码连续错误，账号锁定 15 分钟")
            session.commit()
            raise Forbidden(WRONG)
        user.failed_logins = 0
        user.locked_until = None
        record(session, user.id, None, "auth.login", "登录")
    return user


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(session: Session, user: User) -> str:
    token = secrets.token_urlsafe(32)
    with engine.unit_of_work(session):
        session.add(
            ApiToken(user_id=user.id, token_hash=_hash(token), expires_at=now() + TOKEN_LIFETIME)
        )
    return token


def user_for_token(session: Session, token: str) -> User | None:
    row = session.scalars(select(ApiToken).where(ApiToken.token_hash == _hash(token))).first()
    if row is None or row.expires_at < now() or not row.user.is_active:
        return None
    return row.user
