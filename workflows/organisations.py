"""单位管理: the organisation tree administered by managers — add, rename, re-code, close,
reopen and move a unit, and import the tree from a spreadsheet.

Who administers what (`administers`): a manager at the city federation every unit, a
manager at a district federation its own subtree; nobody their own unit's place in the
tree (closing or moving the unit one administers from would change one's own rights).
Moving a unit with running cases moves the approval steps of those cases to the new
parent's approvers in the same transaction; claimed ones go back to the group queue.
"""

import re
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workflows import access, tabular
from workflows.audit import record
from workflows.clock import now
from workflows.db import unit_of_work
from workflows.errors import Conflict, Forbidden, NotFound, ValidationFailed
from workflows.models import Case, HumanTask, Organisation, User

LEVELS = {1: "市总工会", 2: "县（区）总工会", 3: "基层工会"}
# What an office writes in the 层级 column, read loosely.
LEVEL_WORDS = {
    "1": 1,
    "一级": 1,
    "市": 1,
    "市总工会": 1,
    "2": 2,
    "二级": 2,
    "县": 2,
    "区": 2,
    "县区": 2,
    "县(区)总工会": 2,
    "县（区）总工会": 2,
    "县总工会": 2,
    "区总工会": 2,
    "3": 3,
    "三级": 3,
    "基层": 3,
    "基层工会": 3,
    "帮扶站": 3,
    "乡镇(街道)帮扶站": 3,
    "乡镇（街道）帮扶站": 3,
    "企业工会": 3,
}
MAX_LEVEL = 3
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
CODE_RULE = "单位代码应为 1 至 40 位字母、数字或 _ . -，以字母或数字开头"
MAX_UNITS_IN_FILE = 20_000


# --- who administers what -----------------------------------------------------------------


def is_manager(user: User) -> bool:
    return bool(user.is_active and user.has_role("manager"))


def is_city_manager(user: User) -> bool:
    return is_manager(user) and user.org.parent_id is None


def require_manager(user: User) -> None:
    if not is_manager(user):
        raise Forbidden("只有管理员可以管理单位和用户")


def require_city_manager(user: User, what: str) -> None:
    if not is_city_manager(user):
        raise Forbidden(f"只有市总工会的管理员可以{what}")


def administers(manager: User, org: Organisation) -> bool:
    return is_manager(manager) and org.path.startswith(manager.org.path)


def require_administers(manager: User, org: Organisation) -> None:
    require_manager(manager)
    if not administers(manager, org):
        raise Forbidden("无权管理本单位及下级以外的单位")


def get_unit(session: Session, manager: User, org_id: int) -> Organisation:
    require_manager(manager)
    org = session.get(Organisation, org_id)
    if org is None:
        raise NotFound("单位不存在")
    require_administers(manager, org)
    return org


def level_name(level: int) -> str:
    return LEVELS.get(level, f"第 {level} 级")


# --- reading the tree ---------------------------------------------------------------------


@dataclass(frozen=True)
class UnitRow:
    org: Organisation
    depth: int  # 0 for the manager's own unit
    people: int  # active users of this unit itself
    open_cases: int  # running cases of this unit itself
    children: int


def tree(session: Session, manager: User) -> list[UnitRow]:
    """The manager's subtree in tree order (a parent before its children), each unit with
    its active people and running cases counted: three queries whatever its size."""
    require_manager(manager)
    base = manager.org
    orgs = list(
        session.scalars(
            select(Organisation)
            .where(Organisation.path.startswith(base.path))
            .order_by(Organisation.path)
        )
    )
    subtree = select(Organisation.id).where(Organisation.path.startswith(base.path))
    people = dict(
        session.execute(
            select(User.org_id, func.count())
            .where(User.org_id.in_(subtree), User.is_active.is_(True))
            .group_by(User.org_id)
        ).all()
    )
    cases = dict(
        session.execute(
            select(Case.org_id, func.count())
            .where(Case.org_id.in_(subtree), Case.status == "running")
            .group_by(Case.org_id)
        ).all()
    )
    children: dict[int, int] = {}
    for org in orgs:
        if org.parent_id is not None:
            children[org.parent_id] = children.get(org.parent_id, 0) + 1
    return [
        UnitRow(
            org,
            org.level - base.level,
            people.get(org.id, 0),
            cases.get(org.id, 0),
            children.get(org.id, 0),
        )
        for org in orgs
    ]


# A select of more units than this lists the upper levels only (a city of 3,000 unions
# would make every page with the choice heavy); a deeper unit is reached from its parent.
CHOICE_LIMIT = 300


def units_for_choice(
    session: Session,
    manager: User,
    open_only: bool = True,
    max_level: int | None = None,
    also: int | None = None,
) -> list[Organisation]:
    """The units a manager may put people or sub-units in (or filter by), in tree order:
    down to `max_level` if given, and the unit `also` whatever its level."""
    require_manager(manager)
    query = select(Organisation).where(Organisation.path.startswith(manager.org.path))
    if open_only:
        query = query.where(Organisation.closed_at.is_(None))
    if max_level is not None:
        condition = Organisation.level <= max_level
        query = query.where(condition | (Organisation.id == also) if also else condition)
    return list(session.scalars(query.order_by(Organisation.path)))


def units_in_scope(session: Session, manager: User) -> int:
    return (
        session.scalar(select(func.count()).where(Organisation.path.startswith(manager.org.path)))
        or 0
    )


def _subtree(session: Session, org: Organisation) -> list[Organisation]:
    return list(
        session.scalars(
            select(Organisation)
            .where(Organisation.path.startswith(org.path))
            .order_by(Organisation.path)
        )
    )


# --- checks shared by the form, the API and the import ------------------------------------


def _clean_code(code: str | None) -> str:
    text = (code or "").strip()
    if not CODE.match(text):
        raise ValidationFailed(CODE_RULE, errors={"code": CODE_RULE})
    return text


def _clean_name(name: str | None) -> str:
    text = (name or "").strip()
    if not text or len(text) > 100:
        message = "请填写单位名称（不超过 100 个字）"
        raise ValidationFailed(message, errors={"name": message})
    return text


def _clean_optional(value: str | None, limit: int, field_name: str, label: str) -> str | None:
    text = (value or "").strip()
    if len(text) > limit:
        message = f"{label}不能超过 {limit} 个字"
        raise ValidationFailed(message, errors={field_name: message})
    return text or None


def _code_taken(session: Session, code: str, but: int | None = None) -> bool:
    query = select(Organisation.id).where(func.lower(Organisation.code) == code.lower())
    if but is not None:
        query = query.where(Organisation.id != but)
    return session.scalar(query.limit(1)) is not None


def _check_version(org: Organisation, version: int | None) -> None:
    if version is not None and int(version) != org.lock_version:
        raise Conflict("该单位已被其他人修改，请刷新后重试")


def _describe(org: Organisation) -> dict:
    return {
        "单位代码": org.code,
        "单位名称": org.name,
        "地址": org.address or "",
        "电话": org.phone or "",
    }


def changes(before: dict, after: dict) -> str:
    """ "单位名称：旧 → 新；电话：— → 0832-…" for the audit line (an empty value is —)."""
    return "；".join(
        f"{k}：{before.get(k) or '—'} → {after[k] or '—'}"
        for k in after
        if before.get(k) != after[k]
    )


# --- changing the tree --------------------------------------------------------------------


def add_unit(
    session: Session,
    manager: User,
    parent_id: int,
    code: str,
    name: str,
    address: str | None = None,
    phone: str | None = None,
) -> Organisation:
    """A new unit one level below `parent_id` (the city federation is made once, at the
    first start: workflows/first_run.py)."""
    with unit_of_work(session):
        parent = get_unit(session, manager, parent_id)
        if parent.closed_at is not None:
            raise ValidationFailed("上级单位已撤销，不能再添加下级单位")
        if parent.level >= MAX_LEVEL:
            message = "基层工会之下不能再设下级单位"
            raise ValidationFailed(message, errors={"parent": message})
        code, name = _clean_code(code), _clean_name(name)
        if _code_taken(session, code):
            message = f"单位代码“{code}”已被使用"
            raise ValidationFailed(message, errors={"code": message})
        org = Organisation(
            code=code,
            name=name,
            level=parent.level + 1,
            parent_id=parent.id,
            address=_clean_optional(address, 200, "address", "地址"),
            phone=_clean_optional(phone, 40, "phone", "电话"),
        )
        session.add(org)
        session.flush()
        org.path = f"{parent.path}{org.id}/"
        record(
            session,
            manager.id,
            None,
            "org.create",
            f"新增单位：{name}（{code}），上级：{parent.name}",
            org_id=org.id,
            after=_describe(org),
        )
    return org


def update_unit(
    session: Session,
    manager: User,
    org_id: int,
    *,
    version: int | None,
    code: str | None = None,
    name: str | None = None,
    address: str | None = None,
    phone: str | None = None,
) -> Organisation:
    """Rename, re-code (codes stay unique) or change a unit's address and phone; a field
    given as None keeps its value."""
    with unit_of_work(session):
        org = get_unit(session, manager, org_id)
        _check_version(org, version)
        before = _describe(org)
        if code is not None:
            code = _clean_code(code)
            if code != org.code and _code_taken(session, code, but=org.id):
                message = f"单位代码“{code}”已被使用"
                raise ValidationFailed(message, errors={"code": message})
            org.code = code
        if name is not None:
            org.name = _clean_name(name)
        if address is not None:
            org.address = _clean_optional(address, 200, "address", "地址")
        if phone is not None:
            org.phone = _clean_optional(phone, 40, "phone", "电话")
        after = _describe(org)
        if after != before:
            org.lock_version += 1
            record(
                session,
                manager.id,
                None,
                "org.update",
                f"修改单位 {org.name}：{changes(before, after)}",
                org_id=org.id,
                before=before,
                after=after,
            )
    return org


def close_unit(session: Session, manager: User, org_id: int, version: int | None) -> Organisation:
    """撤销: no new cases or users from now on; running cases finish, history stays."""
    with unit_of_work(session):
        org = get_unit(session, manager, org_id)
        _check_version(org, version)
        if org.id == manager.org_id:
            raise Forbidden("不能撤销自己所在的单位")
        if org.closed_at is not None:
            return org
        open_children = session.scalar(
            select(func.count()).where(
                Organisation.parent_id == org.id, Organisation.closed_at.is_(None)
            )
        )
        if open_children:
            raise ValidationFailed(f"该单位还有 {open_children} 个未撤销的下级单位，请先撤销或移走")
        org.closed_at = now()
        org.lock_version += 1
        record(
            session,
            manager.id,
            None,
            "org.close",
            f"撤销单位：{org.name}（{org.code}）",
            org_id=org.id,
        )
    return org


def reopen_unit(session: Session, manager: User, org_id: int, version: int | None) -> Organisation:
    with unit_of_work(session):
        org = get_unit(session, manager, org_id)
        _check_version(org, version)
        if org.closed_at is None:
            return org
        if org.parent is not None and org.parent.closed_at is not None:
            raise ValidationFailed("上级单位已撤销，请先恢复上级单位")
        org.closed_at = None
        org.lock_version += 1
        record(
            session,
            manager.id,
            None,
            "org.reopen",
            f"恢复单位：{org.name}（{org.code}）",
            org_id=org.id,
        )
    return org


@dataclass
class MovePreview:
    """What moving a unit changes: its running cases, the approval steps that move, and
    who sees them before and after (by group)."""

    org: Organisation
    new_parent: Organisation
    open_cases: int
    moving_tasks: int
    claimed_tasks: int
    approvers_before: list[str] = field(default_factory=list)
    approvers_after: list[str] = field(default_factory=list)

    @property
    def needs_confirmation(self) -> bool:
        return self.open_cases > 0


def _check_move(session: Session, manager: User, org_id: int, new_parent_id: int):
    org = get_unit(session, manager, org_id)
    if org.id == manager.org_id or manager.org.path.startswith(org.path):
        raise Forbidden("不能移动自己所在的单位")
    new_parent = session.get(Organisation, new_parent_id)
    if new_parent is None:
        raise NotFound("新的上级单位不存在")
    require_administers(manager, new_parent)
    if new_parent.path.startswith(org.path):
        message = "不能把单位移到它自己或它的下级单位之下"
        raise ValidationFailed(message, errors={"parent": message})
    if new_parent.level != org.level - 1:
        message = f"{level_name(org.level)}的上级应为{level_name(org.level - 1)}"
        raise ValidationFailed(message, errors={"parent": message})
    if new_parent.closed_at is not None:
        message = "新的上级单位已撤销"
        raise ValidationFailed(message, errors={"parent": message})
    return org, new_parent


def _open_tasks(session: Session, org: Organisation) -> list[HumanTask]:
    subtree = select(Organisation.id).where(Organisation.path.startswith(org.path))
    return list(
        session.scalars(
            select(HumanTask)
            .join(Case, Case.id == HumanTask.case_id)
            .where(HumanTask.status == "open", Case.org_id.in_(subtree))
            .order_by(HumanTask.id)
        )
    )


def _approvers_at(session: Session, org_ids: set[int]) -> list[str]:
    if not org_ids:
        return []
    people = session.scalars(
        select(User)
        .where(User.org_id.in_(org_ids), User.is_active.is_(True))
        .order_by(User.username)
    )
    groups = access.APPROVAL_GROUPS
    return [f"{u.display_name}（{u.username}）" for u in people if groups & u.role_set]


def _acting_after(case_path: str, old_prefix: str, new_prefix: str, group: str) -> int:
    path = (
        new_prefix + case_path[len(old_prefix) :] if case_path.startswith(old_prefix) else case_path
    )
    ids = [int(p) for p in path.strip("/").split("/") if p]
    return ids[min(access.GROUP_LEVEL.get(group, 3), len(ids)) - 1]


def move_preview(session: Session, manager: User, org_id: int, new_parent_id: int) -> MovePreview:
    org, new_parent = _check_move(session, manager, org_id, new_parent_id)
    old_prefix, new_prefix = org.path, f"{new_parent.path}{org.id}/"
    subtree = select(Organisation.id).where(Organisation.path.startswith(org.path))
    open_cases = session.scalar(
        select(func.count()).where(Case.org_id.in_(subtree), Case.status == "running")
    )
    moving, before, after = [], set(), set()
    for task in _open_tasks(session, org):
        case_org = session.get(Organisation, task.case.org_id)
        acting = _acting_after(case_org.path, old_prefix, new_prefix, task.candidate_group)
        if acting != task.org_id:
            moving.append(task)
            before.add(task.org_id)
            after.add(acting)
    return MovePreview(
        org,
        new_parent,
        open_cases or 0,
        len(moving),
        sum(1 for t in moving if t.assignee_id is not None),
        _approvers_at(session, before),
        _approvers_at(session, after),
    )


def _ids_in(session: Session, org: Organisation) -> list[int]:
    return list(
        session.scalars(select(Organisation.id).where(Organisation.path.startswith(org.path)))
    )


def move_unit(
    session: Session,
    manager: User,
    org_id: int,
    new_parent_id: int,
    *,
    version: int | None,
    confirm: bool = False,
) -> MovePreview:
    """Move a unit (with everything below it) under another parent of the level above.
    With running cases it needs `confirm` (ValidationFailed under "confirm" says what
    changes); their open steps at the old parent's levels move to the new one's and a
    claimed one goes back to the group queue, in this one transaction."""
    with unit_of_work(session):
        preview = move_preview(session, manager, org_id, new_parent_id)
        org, new_parent = preview.org, preview.new_parent
        _check_version(org, version)
        if org.parent_id == new_parent.id:
            return preview
        if preview.needs_confirmation and not confirm:
            message = (
                f"{org.name}有 {preview.open_cases} 件办理中的案件，其中 {preview.moving_tasks} "
                f"个审批任务将转由{new_parent.name}方面办理，请确认后再移动"
            )
            raise ValidationFailed(message, errors={"confirm": message})
        old_parent = org.parent
        old_prefix, new_prefix = org.path, f"{new_parent.path}{org.id}/"
        for unit in _subtree(session, org):
            unit.path = new_prefix + unit.path[len(old_prefix) :]
        org.parent_id = new_parent.id
        org.parent = new_parent
        org.lock_version += 1
        session.flush()
        moved = returned = 0
        for task in _open_tasks(session, org):
            case_org = session.get(Organisation, task.case.org_id)
            acting = access.task_org_id(case_org, task.candidate_group)
            if acting != task.org_id:
                task.org_id = acting
                moved += 1
                if task.assignee_id is not None:
                    task.assignee_id = None
                    returned += 1
        record(
            session,
            manager.id,
            None,
            "org.move",
            f"移动单位 {org.name}：{old_parent.name if old_parent else '—'} → "
            f"{new_parent.name}，转移审批任务 {moved} 个",
            org_id=org.id,
            before={"parent": old_parent.code if old_parent else None},
            after={"parent": new_parent.code},
            tasks_moved=moved,
            tasks_returned=returned,
        )
    return preview


# --- importing the tree -------------------------------------------------------------------

IMPORT_FIELDS = {
    "parent": ["上级单位代码", "上级代码", "上级单位编码"],
    "code": ["单位代码", "单位编码", "代码"],
    "name": ["单位名称", "名称"],
    "level": ["层级", "级别"],
}
IMPORT_WHAT = "单位文件"


@dataclass
class ImportResult:
    created: int = 0
    renamed: int = 0
    unchanged: int = 0
    sha256: str = ""


def _level(text: str) -> int | None:
    key = tabular.header_key(text).replace("(", "（").replace(")", "）")
    return LEVEL_WORDS.get(key) or LEVEL_WORDS.get(tabular.header_key(text))


def import_tree(session: Session, manager: User, filename: str, content: bytes) -> ImportResult:
    """The tree from a CSV or XLSX (上级单位代码, 单位代码, 单位名称, 层级). The whole file is
    checked first — an unknown parent, a duplicate code, a cycle, a level that does not
    fit its parent, a unit outside the manager's subtree — and refused with every bad
    line listed; a good file is applied at once. A unit already there with the same
    parent is renamed if its name differs, else left alone, so the same file again
    changes nothing."""
    require_manager(manager)
    table = tabular.read_table(
        filename,
        content,
        IMPORT_FIELDS,
        required=["parent", "code", "name", "level"],
        what=IMPORT_WHAT,
        max_rows=MAX_UNITS_IN_FILE,
        max_columns=20,
    )
    bad = tabular.BadLines(IMPORT_WHAT)
    existing = {
        o.code.lower(): o
        for o in session.scalars(select(Organisation))  # codes are unique across the tree
    }
    rows: dict[str, tuple[int, str, str, str, int]] = {}  # code → (line, code, parent, name, level)
    for row in table.rows:
        code, parent, name = row["code"], row["parent"], row["name"]
        level = _level(row["level"])
        problems = []
        if not CODE.match(code):
            problems.append(CODE_RULE)
        if parent and not CODE.match(parent):
            problems.append(f"上级单位代码“{parent[:40]}”格式不正确")
        if not name or len(name) > 100:
            problems.append("单位名称应为 1 至 100 个字")
        if level is None:
            problems.append(
                f"层级“{row['level'][:20]}”无法识别，"
                "应为 1、2、3 或 市总工会、县（区）总工会、基层工会"
            )
        if code.lower() in rows:
            problems.append(f"单位代码“{code}”在文件中重复（另见第 {rows[code.lower()][0]} 行）")
        for problem in problems:
            bad.add(row.line, problem)
        if not problems:
            rows[code.lower()] = (row.line, code, parent, name, level)
    # Parents, levels, cycles and scope, now that every line's code is known.
    for key, (line, code, parent, _name, level) in rows.items():
        known = existing.get(key)
        if not parent:
            if level != 1:
                bad.add(line, "只有市总工会（层级 1）可以没有上级单位")
            elif known is None or known.parent_id is not None:
                bad.add(line, "系统中已有市总工会，新单位须填写上级单位代码")
            elif not administers(manager, known):
                bad.add(line, f"无权修改本单位及下级以外的单位“{code}”")
            continue
        parent_row = rows.get(parent.lower())
        parent_org = existing.get(parent.lower())
        if parent_row is None and parent_org is None:
            bad.add(line, f"上级单位代码“{parent}”不存在（文件和系统中都没有）")
            continue
        parent_level = parent_row[4] if parent_row else parent_org.level
        if level != parent_level + 1:
            bad.add(
                line,
                f"层级{level_name(level)}与上级单位的层级{level_name(parent_level)}不相符",
            )
        if known is not None:
            current_parent = session.get(Organisation, known.parent_id) if known.parent_id else None
            if current_parent is None or current_parent.code.lower() != parent.lower():
                bad.add(line, f"单位“{code}”已在其他上级单位之下，请在单位管理中移动")
            elif known.level != level:
                bad.add(line, f"单位“{code}”的层级与系统中不同")
            elif not administers(manager, known):
                bad.add(line, f"无权修改本单位及下级以外的单位“{code}”")
        elif parent_org is not None:
            if not administers(manager, parent_org):
                bad.add(line, f"上级单位“{parent}”不在您管理的范围内")
            elif parent_org.closed_at is not None:
                bad.add(line, f"上级单位“{parent}”已撤销")
    for key, (line, *_rest) in rows.items():
        seen, current = set(), key
        while current in rows and current not in seen:
            seen.add(current)
            current = rows[current][2].lower()
        if current == key:
            bad.add(line, "上级关系形成循环")
    bad.raise_if_any()

    result = ImportResult(sha256=table.sha256)
    with unit_of_work(session):
        by_code = dict(existing)
        pending = [r for k, r in rows.items() if k not in existing]
        for key, (_line, _code, _parent, name, _lvl) in rows.items():
            known = existing.get(key)
            if known is None:
                continue
            if known.name != name:
                before = known.name
                known.name = name
                known.lock_version += 1
                result.renamed += 1
                record(
                    session,
                    manager.id,
                    None,
                    "org.update",
                    f"修改单位 {name}：单位名称：{before} → {name}",
                    org_id=known.id,
                )
            else:
                result.unchanged += 1
        # Level by level, so every parent has its id and path before its children.
        for level in range(1, MAX_LEVEL + 1):
            batch = [r for r in pending if r[4] == level]
            if not batch:
                continue
            units = []
            for _line, code, parent, name, lvl in batch:
                parent_org = by_code[parent.lower()]
                unit = Organisation(
                    code=code, name=name, level=lvl, parent_id=parent_org.id, path=""
                )
                units.append((unit, parent_org))
            session.add_all([u for u, _ in units])
            session.flush()
            for unit, parent_org in units:
                unit.path = f"{parent_org.path}{unit.id}/"
                by_code[unit.code.lower()] = unit
            result.created += len(units)
        if result.created or result.renamed:
            record(
                session,
                manager.id,
                None,
                "org.import",
                f"导入单位文件 {filename[:80]}：新增 {result.created}，改名 {result.renamed}，"
                f"未变 {result.unchanged}",
                sha256=table.sha256,
            )
    return result
