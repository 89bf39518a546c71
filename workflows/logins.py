"""Signed-in sessions kept on the server, and failed sign-ins slowed down and challenged.

Sessions: a sign-in opens a `login_session` row; the session cookie carries its random
token (only the hash is stored) and every request looks the token up with its user in
one indexed query. Signing out deletes the row, so a copied cookie is worth nothing
afterwards; `end_all` ends every session and API token of a user (a password change
keeps only the browser that made it; deactivating a user keeps none).

Throttling: failures are counted per account name (as typed: an unknown name counts
like a real one, so the answers never tell them apart) and per address, in the
database so that every web worker sees the same counts. Nobody is ever locked out by
someone else's failures: after a few failures on an account, a sign-in must also answer
a small arithmetic challenge and waits a few seconds (at most ACCOUNT_MAX_WAIT); an
address that keeps failing waits longer and longer (at most ADDRESS_MAX_WAIT). The
owner, from their own address, answers the challenge and is in. Managers see the
throttled accounts and addresses and can clear them.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from workflows.audit import record
from workflows.clock import now
from workflows.db import unit_of_work
from workflows.errors import Forbidden, NotFound
from workflows.models import ApiToken, LoginSession, LoginThrottle, Organisation, User

SESSION_IDLE = timedelta(hours=12)
SESSION_LIFETIME = timedelta(days=7)
TOUCH_EVERY = timedelta(minutes=5)  # last_seen_at is written at most this often

WINDOW = timedelta(minutes=15)  # failures older than this are forgotten
CHALLENGE_AFTER = 3  # account failures before a sign-in must answer a challenge
ACCOUNT_SLOW_AFTER = 5  # account failures before each attempt waits
ACCOUNT_MAX_WAIT = 30  # seconds
ADDRESS_SLOW_AFTER = 20
ADDRESS_MAX_WAIT = 15 * 60
CHALLENGE_LIFETIME = 600  # seconds a challenge may be answered in


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# --- sessions ----------------------------------------------------------------------------


def start_session(session: Session, user: User, address: str = "") -> str:
    """A new login session for `user` (in the caller's transaction); its token, which
    the session cookie carries. The token is also set on `user` for Flask-Login."""
    token = secrets.token_urlsafe(32)
    session.add(LoginSession(token_hash=_hash(token), user_id=user.id, address=address[:45]))
    user.login_token = token
    return token


def user_for_session(session: Session, token: str) -> User | None:
    """The active user a session token belongs to (one indexed query), or None when the
    session ended, expired or never existed."""
    if not token or len(token) > 100:
        return None
    found = session.execute(
        select(User, LoginSession)
        .join(LoginSession, LoginSession.user_id == User.id)
        .where(LoginSession.token_hash == _hash(token))
    ).first()
    if found is None:
        return None
    user, login = found
    at = now()
    if (
        not user.is_active
        or login.last_seen_at < at - SESSION_IDLE
        or login.created_at < at - SESSION_LIFETIME
    ):
        return None
    if login.last_seen_at < at - TOUCH_EVERY:
        session.execute(
            update(LoginSession).where(LoginSession.id == login.id).values(last_seen_at=at)
        )
        session.commit()
    user.login_token = token
    return user


def end_session(session: Session, token: str) -> None:
    """Sign out: the session's row goes, and with it every copy of its cookie."""
    with unit_of_work(session):
        session.execute(delete(LoginSession).where(LoginSession.token_hash == _hash(token)))


def end_all(session: Session, user_id: int, keep_token: str | None = None) -> int:
    """End every login session (but `keep_token`'s) and every API token of a user, in
    the caller's transaction. For a password change, and for deactivating a user."""
    query = delete(LoginSession).where(LoginSession.user_id == user_id)
    if keep_token:
        query = query.where(LoginSession.token_hash != _hash(keep_token))
    ended = session.execute(query).rowcount
    session.execute(delete(ApiToken).where(ApiToken.user_id == user_id))
    return ended


# --- throttling --------------------------------------------------------------------------


@dataclass(frozen=True)
class Throttle:
    challenge: bool  # the account asks for the challenge
    wait_seconds: int  # before this address or account may try again


def _key(kind: str, value: str) -> str:
    value = (value or "").strip()
    return (value.lower() if kind == "account" else value)[:100]


def _rows(session: Session, username: str, address: str) -> dict[str, LoginThrottle]:
    keys = [("account", _key("account", username)), ("address", _key("address", address))]
    wanted = [(LoginThrottle.kind == k) & (LoginThrottle.key == v) for k, v in keys if v]
    if not wanted:
        return {}
    rows = session.scalars(select(LoginThrottle).where(or_(*wanted))).all()
    cutoff = now() - WINDOW
    return {r.kind: r for r in rows if r.last_failed_at >= cutoff or _waiting(r)}


def _waiting(row: LoginThrottle) -> bool:
    return row.wait_until is not None and row.wait_until > now()


def state(session: Session, username: str, address: str) -> Throttle:
    """What a sign-in for `username` from `address` must do first."""
    rows = _rows(session, username, address)
    account, place = rows.get("account"), rows.get("address")
    waits = [
        (r.wait_until - now()).total_seconds()
        for r in (account, place)
        if r is not None and _waiting(r)
    ]
    wait = int(max(waits, default=0) + 0.999)
    return Throttle(account is not None and account.failures >= CHALLENGE_AFTER, wait)


def _wait_for(failures: int, after: int, cap: int) -> timedelta | None:
    if failures < after:
        return None
    return timedelta(seconds=min(cap, 2 ** min(failures - after, 20)))


def record_failure(session: Session, username: str, address: str, account: bool = True) -> Throttle:
    """Count a failed sign-in against the address and (unless `account` is False: a
    challenge left unanswered counts against the address only, or the account's owner
    would be slowed down for not knowing it was asked) the account name, in the caller's
    transaction; what the next attempt will have to do."""
    at = now()
    counted = [("address", address, ADDRESS_SLOW_AFTER, ADDRESS_MAX_WAIT)]
    if account:
        counted.insert(0, ("account", username, ACCOUNT_SLOW_AFTER, ACCOUNT_MAX_WAIT))
    for kind, value, after, cap in counted:
        key = _key(kind, value)
        if not key:
            continue
        row = session.scalars(
            select(LoginThrottle).where(LoginThrottle.kind == kind, LoginThrottle.key == key)
        ).first()
        if row is None:
            try:
                with session.begin_nested():
                    row = LoginThrottle(
                        kind=kind, key=key, failures=0, first_failed_at=at, last_failed_at=at
                    )
                    session.add(row)
            except IntegrityError:  # another worker counted the first failure meanwhile
                row = session.scalars(
                    select(LoginThrottle).where(
                        LoginThrottle.kind == kind, LoginThrottle.key == key
                    )
                ).one()
        if row.last_failed_at < at - WINDOW and not _waiting(row):
            row.failures, row.first_failed_at = 0, at
        row.failures += 1
        row.last_failed_at = at
        wait = _wait_for(row.failures, after, cap)
        row.wait_until = at + wait if wait else None
    session.flush()
    return state(session, username, address)


def record_success(session: Session, username: str) -> None:
    """The account's owner got in: its failures are forgotten (the address's are not)."""
    session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.kind == "account", LoginThrottle.key == _key("account", username)
        )
    )


# --- the challenge -----------------------------------------------------------------------


@dataclass(frozen=True)
class Challenge:
    question: str  # "7 + 5 = ?"
    token: str  # sent back with the answer; signed, so the server keeps nothing


def _mac(secret: bytes, body: str) -> str:
    return hmac.new(secret, body.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def new_challenge(secret: bytes) -> Challenge:
    a, b = secrets.randbelow(9) + 1, secrets.randbelow(9) + 1
    expires = int(now().timestamp()) + CHALLENGE_LIFETIME
    nonce = secrets.token_hex(8)
    body = f"{expires}.{nonce}"
    return Challenge(f"{a} + {b} = ?", f"{body}.{_mac(secret, f'{body}.{a + b}')}")


def challenge_passed(secret: bytes, token: str | None, answer: str | None) -> bool:
    expires, _, rest = (token or "").partition(".")
    nonce, _, mac = rest.partition(".")
    given = (answer or "").strip()
    if not (expires.isdigit() and nonce and mac and given.isdigit() and len(given) <= 3):
        return False
    if int(expires) < now().timestamp():
        return False
    return hmac.compare_digest(mac, _mac(secret, f"{expires}.{nonce}.{int(given)}"))


# --- what managers see -------------------------------------------------------------------


@dataclass(frozen=True)
class ThrottledRow:
    id: int
    kind: str  # "account" | "address"
    key: str
    display_name: str  # the account's user, when the name is a real one
    failures: int
    last_failed_at: datetime
    wait_until: datetime | None
    challenge: bool


def _require_manager(user: User) -> None:
    if not (user.is_active and user.has_role("manager")):
        raise Forbidden("只有管理员可以查看和解除登录限制")


def list_throttled(session: Session, user: User) -> list[ThrottledRow]:
    """Accounts asked for the challenge and addresses slowed down, newest first. A
    manager below the city federation sees the accounts of their own subtree only."""
    _require_manager(user)
    cutoff = now() - WINDOW
    rows = session.scalars(
        select(LoginThrottle)
        .where(
            or_(LoginThrottle.last_failed_at >= cutoff, LoginThrottle.wait_until > now()),
            or_(
                (LoginThrottle.kind == "account") & (LoginThrottle.failures >= CHALLENGE_AFTER),
                (LoginThrottle.kind == "address") & (LoginThrottle.failures >= ADDRESS_SLOW_AFTER),
            ),
        )
        .order_by(LoginThrottle.last_failed_at.desc(), LoginThrottle.id.desc())
    ).all()
    names = [r.key for r in rows if r.kind == "account"]
    people = {
        u.username.lower(): u
        for u in session.scalars(select(User).where(func.lower(User.username).in_(names)))
    }
    city = user.org.parent_id is None
    shown = []
    for row in rows:
        person = people.get(row.key) if row.kind == "account" else None
        if not city and (person is None or not _in_subtree(session, user, person)):
            continue
        shown.append(
            ThrottledRow(
                row.id,
                row.kind,
                row.key,
                person.display_name if person else "",
                row.failures,
                row.last_failed_at,
                row.wait_until if _waiting(row) else None,
                row.kind == "account" and row.failures >= CHALLENGE_AFTER,
            )
        )
    return shown


def _in_subtree(session: Session, manager: User, person: User) -> bool:
    org = session.get(Organisation, person.org_id)
    return org is not None and org.path.startswith(manager.org.path)


def clear(session: Session, user: User, throttle_id: int) -> None:
    """Forget the failures of one account or address (audited)."""
    _require_manager(user)
    with unit_of_work(session):
        visible = {r.id: r for r in list_throttled(session, user)}
        row = session.get(LoginThrottle, throttle_id)
        if row is None:
            raise NotFound("该登录限制不存在或已解除")
        if throttle_id not in visible:
            if row.kind == "address" or user.org.parent_id is None:
                raise NotFound("该登录限制不存在或已解除")
            raise Forbidden("无权解除该账号的登录限制")
        what = "账号" if row.kind == "account" else "地址"
        record(
            session,
            user.id,
            None,
            "auth.throttle_clear",
            f"解除{what} {row.key} 的登录限制（失败 {row.failures} 次）",
        )
        session.delete(row)
