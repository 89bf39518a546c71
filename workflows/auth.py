"""Signing in: passwords checked in equal time whether or not the account exists,
failures slowed down and challenged (workflows/logins.py), and API tokens."""

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from workflows import engine, logins
from workflows.audit import record
from workflows.clock import now
from workflows.errors import Forbidden
from workflows.models import ApiToken, User
from workflows.users import check_password

TOKEN_LIFETIME = timedelta(hours=12)
WRONG = "用户名或密码错误"
CHALLENGE = "登录失败次数较多，请先回答验证问题"
# Checked against for a name nobody has, so that an unknown name costs the same hashing
# work as a wrong password (no timing tells them apart). Same method as real hashes.
_DUMMY = User(password_hash=generate_password_hash(secrets.token_hex(16)))


class SignInRefused(Forbidden):
    """A refused sign-in: wrong credentials, a challenge to answer first, or a wait."""

    def __init__(self, message: str, challenge: bool = False, wait_seconds: int = 0):
        super().__init__(message)
        self.challenge = challenge
        self.wait_seconds = wait_seconds


def authenticate(
    session: Session,
    username: str,
    password: str,
    address: str = "",
    secret: bytes = b"",
    challenge_token: str | None = None,
    challenge_answer: str | None = None,
    open_session: bool = False,
) -> User:
    """The user, or SignInRefused with a message that does not tell which part was
    wrong. An unknown name and a wrong password answer alike, after the same work.
    `open_session`: also start a login session (the browser's sign-in); its token is
    then `user.login_token`."""
    name = (username or "").strip()[:60]
    with engine.unit_of_work(session):
        throttle = logins.state(session, name, address)
        if throttle.wait_seconds:
            raise SignInRefused(
                f"登录失败次数过多，请 {throttle.wait_seconds} 秒后再试",
                challenge=throttle.challenge,
                wait_seconds=throttle.wait_seconds,
            )
        if throttle.challenge and not logins.challenge_passed(
            secret, challenge_token, challenge_answer
        ):
            message = CHALLENGE if challenge_answer is None else "验证问题回答错误，请重新回答"
            after = logins.record_failure(session, name, address, account=False)
            session.commit()
            raise SignInRefused(message, challenge=True, wait_seconds=after.wait_seconds)
        user = session.scalars(select(User).where(User.username == name)).first()
        # One hash check on every path: the real one, or the dummy for an unknown name.
        matches = check_password(user or _DUMMY, password or "")
        if user is None or not user.is_active or not matches:
            after = logins.record_failure(session, name, address)
            if user is not None and after.challenge and not throttle.challenge:
                record(session, user.id, None, "auth.throttled", "密码连续错误，登录需回答验证问题")
            session.commit()
            raise SignInRefused(WRONG, challenge=after.challenge)
        logins.record_success(session, name)
        if open_session:
            logins.start_session(session, user, address)
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
