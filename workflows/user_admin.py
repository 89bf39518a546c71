"""用户管理: managers list, create, edit, deactivate, reactivate and import users, reset a
password to a one-time one and lift a sign-in throttle — within their own subtree.

Rules: a manager administers the people of the units they administer
(workflows/organisations.py); nobody changes their own roles or unit, or deactivates
themselves (a manager cannot raise their own rights); a role must fit the level of the
person's unit (a 经办人 works at a grassroots union, a 县（区）审批人 at a district
federation). Deactivating ends every login session and API token and returns the
tasks the person had claimed to their group queue; users are never deleted, so the
history keeps their names.

One-time passwords (a new user, a reset) are random, 12 characters from 55 (about 69
bits), shown to the manager once and stored only as a hash; the person must choose
their own at the next sign-in. Because they are random and not chosen by a person, they
are hashed with PBKDF2-SHA256 at a low iteration count (`ONE_TIME_HASH`): stretching
protects guessable passwords, and guessing 2^69 is out of reach at any count. That is
what makes importing ten thousand users a matter of seconds.
"""

import re
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from workflows import logins, tabular
from workflows.audit import record
from workflows.db import unit_of_work
from workflows.errors import Conflict, Forbidden, NotFound, ValidationFailed
from workflows.models import HumanTask, LoginThrottle, Organisation, User
from workflows.organisations import administers, changes, require_administers, require_manager
from workflows.processes import ROLES

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{2,59}$")
USERNAME_RULE = "用户名应为 3 至 60 位字母、数字或 _ . @ -，以字母或数字开头"
PHONE = re.compile(r"^1\d{10}$|^0\d{2,3}-?\d{7,8}$")
PHONE_RULE = "手机号应为 11 位数字（或区号加座机号码）"
# Where each role acts (organisation level); a manager may sit at the city or a district.
ROLE_LEVELS = {
    "caseworker": {3},
    "approver_l1": {3},
    "approver_l2": {2},
    "approver_l3": {1},
    "finance": {1},
    "manager": {1, 2},
}
ROLE_WORDS = (
    {label: code for code, label in ROLES.items()}
    | {code: code for code in ROLES}
    | {
        "基层审批人": "approver_l1",
        "基层工会审批人": "approver_l1",
        "县区审批人": "approver_l2",
        "县(区)总工会审批人": "approver_l2",
        "区县审批人": "approver_l2",
        "市审批人": "approver_l3",
        "市总审批人": "approver_l3",
        "帮扶站工作人员": "caseworker",
    }
)
ONE_TIME_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"  # no 0/O, 1/l/I
ONE_TIME_LENGTH = 12
ONE_TIME_HASH = "pbkdf2:sha256:600"
PAGE_SIZE = 50
MAX_USERS_IN_FILE = 50_000


def one_time_password() -> str:
    """Random, with a lower case letter, an upper case letter and a digit (the policy)."""
    while True:
        text = "".join(secrets.choice(ONE_TIME_ALPHABET) for _ in range(ONE_TIME_LENGTH))
        if (
            any(c.islower() for c in text)
            and any(c.isupper() for c in text)
            and any(c.isdigit() for c in text)
        ):
            return text


def hash_one_time(password: str) -> str:
    return generate_password_hash(password, ONE_TIME_HASH)


def role_label(role: str) -> str:
    return ROLES.get(role, role)


def parse_roles(text: str | list[str] | None) -> list[str]:
    """Role codes from codes or Chinese names, separated by 、，, spaces or ;."""
    items = text if isinstance(text, list) else re.split(r"[、，,;；/\s]+", text or "")
    roles, unknown = [], []
    for item in items:
        item = str(item).strip()
        if not item:
            continue
        key = item.replace("(", "（").replace(")", "）")
        code = ROLE_WORDS.get(item) or ROLE_WORDS.get(key)
        if code is None:
            unknown.append(item[:20])
        elif code not in roles:
            roles.append(code)
    if unknown:
        message = f"未知角色：{'、'.join(unknown)}"
        raise ValidationFailed(message, errors={"roles": message})
    if not roles:
        message = "请至少选择一个角色"
        raise ValidationFailed(message, errors={"roles": message})
    return roles


def _roles_fit(roles: list[str], org: Organisation) -> str | None:
    wrong = [r for r in roles if org.level not in ROLE_LEVELS.get(r, {org.level})]
    if wrong:
        return f"{'、'.join(role_label(r) for r in wrong)}不能设在{org.name}这一级单位"
    return None


def _check_roles(manager: User, roles: list[str], org: Organisation) -> None:
    problem = _roles_fit(roles, org)
    if problem:
        raise ValidationFailed(problem, errors={"roles": problem})


def _clean_username(username: str | None) -> str:
    text = (username or "").strip()
    if not USERNAME.match(text):
        raise ValidationFailed(USERNAME_RULE, errors={"username": USERNAME_RULE})
    return text


def _clean_display(name: str | None) -> str:
    text = (name or "").strip()
    if not text or len(text) > 60:
        message = "请填写姓名（不超过 60 个字）"
        raise ValidationFailed(message, errors={"display_name": message})
    return text


def _clean_phone(phone: str | None) -> str | None:
    text = (phone or "").strip()
    if text and not PHONE.match(text):
        raise ValidationFailed(PHONE_RULE, errors={"phone": PHONE_RULE})
    return text or None


def _username_taken(session: Session, username: str, but: int | None = None) -> bool:
    query = select(User.id).where(func.lower(User.username) == username.lower())
    if but is not None:
        query = query.where(User.id != but)
    return session.scalar(query.limit(1)) is not None


def _unit(session: Session, manager: User, org_id: int | None) -> Organisation:
    org = session.get(Organisation, org_id) if org_id else None
    if org is None:
        message = "请选择单位"
        raise ValidationFailed(message, errors={"org_id": message})
    require_administers(manager, org)
    if org.closed_at is not None:
        message = f"{org.name}已撤销，不能再添加或调入用户"
        raise ValidationFailed(message, errors={"org_id": message})
    return org


def get_person(session: Session, manager: User, user_id: int) -> User:
    require_manager(manager)
    person = session.get(User, user_id)
    if person is None:
        raise NotFound("用户不存在")
    if not administers(manager, person.org):
        raise Forbidden("无权管理本单位及下级以外的用户")
    return person


def _check_version(person: User, version: int | None) -> None:
    if version is not None and int(version) != person.lock_version:
        raise Conflict("该用户已被其他人修改，请刷新后重试")


def _describe(person: User) -> dict:
    return {
        "姓名": person.display_name,
        "单位": person.org.name,
        "角色": "、".join(role_label(r) for r in person.roles.split()),
        "手机号": person.phone or "",
    }


# --- the list -----------------------------------------------------------------------------


@dataclass(frozen=True)
class UserPage:
    rows: list[User]
    total: int
    offset: int
    limit: int


def list_users(
    session: Session,
    manager: User,
    q: str | None = None,
    org_id: int | None = None,
    role: str | None = None,
    status: str | None = None,
    offset: int = 0,
    limit: int = PAGE_SIZE,
) -> UserPage:
    """The people of the manager's subtree: `q` a part of a name or username, `org_id` a
    unit with everything below it, `role` a role code, `status` active / inactive."""
    require_manager(manager)
    scope = manager.org
    if org_id:
        org = session.get(Organisation, org_id)
        if org is None:
            raise NotFound("单位不存在")
        require_administers(manager, org)
        scope = org
    query = select(User)
    if scope.parent_id is not None:  # the city's whole tree needs no condition
        units = select(Organisation.id).where(Organisation.path.startswith(scope.path))
        query = query.where(User.org_id.in_(units))
    if q and q.strip():
        text = q.strip()[:60]
        query = query.where(
            or_(
                User.username.contains(text, autoescape=True),
                User.display_name.contains(text, autoescape=True),
            )
        )
    if role:
        if role not in ROLES:
            raise ValidationFailed("未知角色", errors={"role": "未知角色"})
        # Roles are space separated: pad both sides so "approver_l1" never matches part.
        padded = " " + User.roles + " "
        query = query.where(padded.contains(f" {role} ", autoescape=True))
    if status == "active":
        query = query.where(User.is_active.is_(True))
    elif status == "inactive":
        query = query.where(User.is_active.is_(False))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    offset, limit = max(0, offset), max(1, min(limit, 500))
    rows = list(session.scalars(query.order_by(User.username).offset(offset).limit(limit)))
    return UserPage(rows, total, offset, limit)


# --- changing people ----------------------------------------------------------------------


def create_user(
    session: Session,
    manager: User,
    username: str,
    display_name: str,
    org_id: int,
    roles: list[str] | str,
    phone: str | None = None,
) -> tuple[User, str]:
    """A new user with a one-time password; (user, the password, to be shown once)."""
    with unit_of_work(session):
        require_manager(manager)
        username = _clean_username(username)
        display_name = _clean_display(display_name)
        org = _unit(session, manager, org_id)
        role_list = parse_roles(roles)
        _check_roles(manager, role_list, org)
        phone = _clean_phone(phone)
        if _username_taken(session, username):
            message = f"用户名“{username}”已被使用"
            raise ValidationFailed(message, errors={"username": message})
        password = one_time_password()
        person = User(
            username=username,
            password_hash=hash_one_time(password),
            display_name=display_name,
            org_id=org.id,
            roles=" ".join(role_list),
            phone=phone,
            must_change_password=True,
        )
        person.org = org
        session.add(person)
        session.flush()
        record(
            session,
            manager.id,
            None,
            "user.create",
            f"新增用户 {display_name}（{username}），{org.name}，"
            f"{'、'.join(role_label(r) for r in role_list)}",
            user_id=person.id,
            after=_describe(person),
        )
    return person, password


def update_user(
    session: Session,
    manager: User,
    user_id: int,
    *,
    version: int | None,
    display_name: str | None = None,
    org_id: int | None = None,
    roles: list[str] | str | None = None,
    phone: str | None = None,
) -> User:
    """Change a person's name, unit, roles or phone. Moving to another unit or losing a
    role returns the tasks they had claimed to the group queue."""
    with unit_of_work(session):
        person = get_person(session, manager, user_id)
        _check_version(person, version)
        before = _describe(person)
        org = person.org
        if org_id is not None and int(org_id) != person.org_id:
            if person.id == manager.id:
                raise Forbidden("不能修改自己的单位")
            org = _unit(session, manager, int(org_id))
        role_list = person.roles.split() if roles is None else parse_roles(roles)
        if person.id == manager.id and set(role_list) != set(person.roles.split()):
            raise Forbidden("不能修改自己的角色")
        _check_roles(manager, role_list, org)
        if display_name is not None:
            person.display_name = _clean_display(display_name)
        if phone is not None:
            person.phone = _clean_phone(phone)
        moved = org.id != person.org_id
        person.org_id, person.org = org.id, org
        person.roles = " ".join(role_list)
        after = _describe(person)
        if after == before:
            return person
        person.lock_version += 1
        returned = _return_claimed(session, person, all_tasks=moved, keep=set(role_list))
        changed = changes(before, after)
        record(
            session,
            manager.id,
            None,
            "user.update",
            f"修改用户 {person.display_name}（{person.username}）：{changed}",
            user_id=person.id,
            before=before,
            after=after,
            tasks_returned=returned,
        )
    return person


def _return_claimed(session: Session, person: User, all_tasks: bool, keep: set[str]) -> int:
    """Tasks `person` had claimed go back to their group's queue: all of them, or those
    of groups they no longer belong to."""
    claimed = session.scalars(
        select(HumanTask).where(HumanTask.assignee_id == person.id, HumanTask.status == "open")
    ).all()
    count = 0
    for task in claimed:
        if all_tasks or task.candidate_group not in keep:
            task.assignee_id = None
            count += 1
    return count


def deactivate_user(session: Session, manager: User, user_id: int, version: int | None) -> User:
    """停用: cannot sign in; every session and API token ends; claimed tasks go back to
    their group queue. Never deleted: the history keeps the name."""
    with unit_of_work(session):
        person = get_person(session, manager, user_id)
        _check_version(person, version)
        if person.id == manager.id:
            raise Forbidden("不能停用自己的账号")
        if not person.is_active:
            return person
        person.is_active = False
        person.lock_version += 1
        sessions = logins.end_all(session, person.id)
        returned = _return_claimed(session, person, all_tasks=True, keep=set())
        record(
            session,
            manager.id,
            None,
            "user.deactivate",
            f"停用用户 {person.display_name}（{person.username}），退回已认领任务 {returned} 个",
            user_id=person.id,
            sessions_ended=sessions,
        )
    return person


def reactivate_user(session: Session, manager: User, user_id: int, version: int | None) -> User:
    with unit_of_work(session):
        person = get_person(session, manager, user_id)
        _check_version(person, version)
        if person.is_active:
            return person
        if person.org.closed_at is not None:
            raise ValidationFailed(f"{person.org.name}已撤销，请先把该用户调到其他单位")
        person.is_active = True
        person.lock_version += 1
        record(
            session,
            manager.id,
            None,
            "user.reactivate",
            f"启用用户 {person.display_name}（{person.username}）",
            user_id=person.id,
        )
    return person


def reset_password(session: Session, manager: User, user_id: int) -> tuple[User, str]:
    """A one-time password (shown once) that must be changed at the next sign-in; every
    session and token of the person ends."""
    with unit_of_work(session):
        person = get_person(session, manager, user_id)
        if person.id == manager.id:
            raise Forbidden("请在“修改密码”中修改自己的密码")
        password = one_time_password()
        person.password_hash = hash_one_time(password)
        person.must_change_password = True
        person.lock_version += 1
        logins.end_all(session, person.id)
        _unlock(session, person)
        record(
            session,
            manager.id,
            None,
            "user.reset_password",
            f"重置用户 {person.display_name}（{person.username}）的密码",
            user_id=person.id,
        )
    return person, password


def _unlock(session: Session, person: User) -> int:
    key = person.username.strip().lower()[:100]
    return session.execute(
        delete(LoginThrottle).where(LoginThrottle.kind == "account", LoginThrottle.key == key)
    ).rowcount


def is_locked(session: Session, person: User) -> bool:
    """The account is asked for the challenge or made to wait after failed sign-ins."""
    key = person.username.strip().lower()[:100]
    row = session.scalars(
        select(LoginThrottle).where(LoginThrottle.kind == "account", LoginThrottle.key == key)
    ).first()
    return row is not None and row.failures >= logins.CHALLENGE_AFTER


def unlock_user(session: Session, manager: User, user_id: int) -> User:
    """解锁: forget the account's failed sign-ins (no challenge, no wait)."""
    with unit_of_work(session):
        person = get_person(session, manager, user_id)
        cleared = _unlock(session, person)
        if cleared:
            record(
                session,
                manager.id,
                None,
                "user.unlock",
                f"解锁用户 {person.display_name}（{person.username}）",
                user_id=person.id,
            )
    return person


# --- importing people ---------------------------------------------------------------------

IMPORT_FIELDS = {
    "username": ["用户名", "账号", "登录名"],
    "display_name": ["姓名", "名字"],
    "org": ["单位代码", "单位编码"],
    "roles": ["角色"],
    "phone": ["手机号", "手机", "手机号码", "电话"],
}
IMPORT_WHAT = "用户文件"


@dataclass
class NewLogin:
    username: str
    display_name: str
    org_name: str
    password: str


@dataclass
class ImportResult:
    created: list[NewLogin]
    unchanged: int
    sha256: str


def import_users(session: Session, manager: User, filename: str, content: bytes) -> ImportResult:
    """Users from a CSV or XLSX (用户名, 姓名, 单位代码, 角色, 手机号), checked whole first:
    every bad line is listed and nothing is written. A user already there with the same
    name and unit is left alone (the same file again changes nothing); another person
    under a taken username is a bad line. Each new user gets a one-time password,
    returned once (for the manager's downloadable list)."""
    require_manager(manager)
    table = tabular.read_table(
        filename,
        content,
        IMPORT_FIELDS,
        required=["username", "display_name", "org", "roles"],
        what=IMPORT_WHAT,
        max_rows=MAX_USERS_IN_FILE,
        max_columns=20,
    )
    bad = tabular.BadLines(IMPORT_WHAT)
    codes = {r["org"].lower() for r in table.rows if r["org"]}
    orgs = (
        {
            o.code.lower(): o
            for o in session.scalars(
                select(Organisation).where(func.lower(Organisation.code).in_(codes))
            )
        }
        if len(codes) < 1000
        else {o.code.lower(): o for o in session.scalars(select(Organisation))}
    )
    names = {r["username"].lower() for r in table.rows if r["username"]}
    taken: dict[str, tuple[str, int]] = {}
    listed = list(names)
    for start in range(0, len(listed), 1000):
        for name, display, org_id in session.execute(
            select(User.username, User.display_name, User.org_id).where(
                func.lower(User.username).in_(listed[start : start + 1000])
            )
        ):
            taken[name.lower()] = (display, org_id)
    seen: dict[str, int] = {}
    fresh: list[tuple[str, str, Organisation, list[str], str | None]] = []
    unchanged = 0
    for row in table.rows:
        username, display, code = row["username"], row["display_name"], row["org"]
        problems = []
        if not USERNAME.match(username):
            problems.append(USERNAME_RULE)
        elif username.lower() in seen:
            problems.append(f"用户名“{username}”在文件中重复（另见第 {seen[username.lower()]} 行）")
        else:
            seen[username.lower()] = row.line
        if not display or len(display) > 60:
            problems.append("姓名应为 1 至 60 个字")
        org = orgs.get(code.lower())
        if org is None:
            problems.append(f"单位代码“{code[:40]}”不存在")
        elif not administers(manager, org):
            problems.append(f"单位“{org.name}”不在您管理的范围内")
        elif org.closed_at is not None:
            problems.append(f"单位“{org.name}”已撤销")
        try:
            roles = parse_roles(row["roles"])
        except ValidationFailed as err:
            problems.append(err.message)
            roles = []
        if org is not None and roles:
            fit = _roles_fit(roles, org)
            if fit:
                problems.append(fit)
        phone = row["phone"].replace(" ", "")
        if phone and not PHONE.match(phone):
            problems.append(PHONE_RULE)
        existing = taken.get(username.lower())
        if existing is not None and not problems:
            if existing[0] == display and org is not None and existing[1] == org.id:
                unchanged += 1
                continue
            problems.append(f"用户名“{username}”已被其他人使用")
        for problem in problems:
            bad.add(row.line, problem)
        if not problems:
            fresh.append((username, display, org, roles, phone or None))
    bad.raise_if_any()
    created: list[NewLogin] = []
    with unit_of_work(session):
        rows = []
        for username, display, org, roles, phone in fresh:
            password = one_time_password()
            rows.append(
                {
                    "username": username,
                    "password_hash": hash_one_time(password),
                    "display_name": display,
                    "org_id": org.id,
                    "roles": " ".join(roles),
                    "phone": phone,
                    "must_change_password": True,
                    "is_active": True,
                    "lock_version": 1,
                }
            )
            created.append(NewLogin(username, display, org.name, password))
        for start in range(0, len(rows), 2000):
            session.execute(User.__table__.insert(), rows[start : start + 2000])
        if created:
            record(
                session,
                manager.id,
                None,
                "user.import",
                f"导入用户文件 {filename[:80]}：新增 {len(created)}，未变 {unchanged}",
                sha256=table.sha256,
                usernames=[c.username for c in created[:200]],
            )
    return ImportResult(created, unchanged, table.sha256)


LOGIN_LIST_COLUMNS = [
    tabular.Column("用户名"),
    tabular.Column("姓名"),
    tabular.Column("单位"),
    tabular.Column("一次性密码"),
]


def login_list(created: list[NewLogin]) -> bytes:
    """The new users' one-time passwords as a CSV (UTF-8 with BOM, opens in Excel)."""
    return tabular.write_csv(
        LOGIN_LIST_COLUMNS, ([c.username, c.display_name, c.org_name, c.password] for c in created)
    )
