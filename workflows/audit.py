"""The audit trail: one append-only row per state change, in the action's transaction;
and reading it back (managers only): search with filters, and a CSV export."""

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Row, Select, func, or_, select
from sqlalchemy.orm import Session, aliased

from workflows import tabular
from workflows.clock import CST, as_utc, local_now
from workflows.db import unit_of_work
from workflows.errors import Forbidden, ValidationFailed
from workflows.models import AuditEvent, Case, Organisation, User
from workflows.privacy import mask_numbers


def record(
    session: Session,
    actor_id: int | None,
    case_id: int | None,
    action: str,
    summary: str = "",
    **detail: Any,
) -> AuditEvent:
    event = AuditEvent(**row(actor_id, case_id, action, summary, **detail))
    session.add(event)
    return event


def row(
    actor_id: int | None, case_id: int | None, action: str, summary: str = "", **detail: Any
) -> dict[str, Any]:
    """An audit row's values, as `record` adds them (for a caller that inserts many)."""
    return dict(
        actor_id=actor_id,
        case_id=case_id,
        action=action,
        summary=summary[:500],
        detail=json.dumps(detail, ensure_ascii=False, default=str),
    )


# --- what the actions are called --------------------------------------------------------

# Every action the services record, by area, with its name as people say it. An action
# missing here is still shown and filtered, by its code.
ACTION_GROUPS: dict[str, tuple[str, dict[str, str]]] = {
    "auth.": (
        "登录与账号",
        {
            "auth.login": "登录",
            "auth.locked": "账号锁定",
            "auth.throttled": "登录需验证",
            "auth.throttle_clear": "解除登录限制",
            "auth.password_change": "修改密码",
        },
    ),
    "case.": (
        "案件",
        {"case.start": "登记申请", "case.cancel": "撤销案件", "case.closed": "结案"},
    ),
    "task.": (
        "任务办理",
        {
            "task.claim": "认领任务",
            "task.unclaim": "放弃认领",
            "task.hand_over": "转交任务",
            "task.complete": "办理任务",
            "task.remind": "催办",
        },
    ),
    "notice.": (
        "公示",
        {"notice.post": "发布公示", "notice.objection": "收到异议", "notice.close": "公示结束"},
    ),
    "archive.": (
        "困难职工档案",
        {
            "archive.create": "建档",
            "archive.renew": "回头看后续档",
            "archive.leave": "退出档案",
            "archive.cancel": "注销档案",
            "archive.import": "导入已有档案",
            "archive.imported": "档案导入完成",
            "archive.export": "导出档案",
            "archive.recheck_open": "导入档案开始回头看",
        },
    ),
    "campaign.": (
        "活动",
        {
            "campaign.create": "新建活动",
            "campaign.update": "修改活动",
            "campaign.launch": "按档案发起活动",
            "campaign.launched": "活动发起完成",
        },
    ),
    "budget.": (
        "预算",
        {"budget.set": "设置预算", "budget.reserve": "占用预算", "budget.release": "释放预算"},
    ),
    "batch.": (
        "银行发放批次",
        {
            "batch.build": "生成发放批次",
            "batch.download": "下载银行文件",
            "batch.sent": "标记已发送银行",
            "batch.import": "导入银行结果",
            "batch.cancel": "撤销发放批次",
        },
    ),
    "payment.": (
        "发放",
        {
            "payment.request": "生成付款指令",
            "payment.result": "银行发放结果",
            "payment.delivery_error": "银行结果未能推进案件",
        },
    ),
    "org.": (
        "单位管理",
        {
            "org.first_run": "初始设置",
            "org.create": "新增单位",
            "org.update": "修改单位",
            "org.close": "撤销单位",
            "org.reopen": "恢复单位",
            "org.move": "移动单位",
            "org.import": "导入单位",
        },
    ),
    "user.": (
        "用户管理",
        {
            "user.create": "新增用户",
            "user.update": "修改用户",
            "user.deactivate": "停用用户",
            "user.reactivate": "启用用户",
            "user.reset_password": "重置密码",
            "user.unlock": "解锁账号",
            "user.import": "导入用户",
        },
    ),
    "process.": ("流程部署", {"process.deploy": "部署流程"}),
    "calendar.": ("节假日安排", {"calendar.enter_year": "录入节假日安排"}),
    "timer.": ("定时任务", {"timer.fire": "定时器到期", "timer.error": "定时器出错"}),
    "audit.": ("审计日志导出", {"audit.export": "导出审计日志"}),
}
ACTION_LABELS: dict[str, str] = {
    code: label for _, actions in ACTION_GROUPS.values() for code, label in actions.items()
}


def action_label(action: str) -> str:
    return ACTION_LABELS.get(action, action)


def action_codes(chosen: str) -> tuple[str, ...] | None:
    """The actions a filter names by their Chinese name (an action's or an area's), or
    None when it is a code or a code prefix ("task.", "auth.login")."""
    text = chosen.strip()
    named = tuple(code for code, label in ACTION_LABELS.items() if label == text)
    if named:
        return named
    for prefix, (label, actions) in ACTION_GROUPS.items():
        if label == text:
            return tuple(actions) + (prefix,)
    return None


# --- reading the trail (managers) ---------------------------------------------------------

PAGE_SIZE = 50
MAX_EXPORT_ROWS = 100_000
# Dates outside these years are typing mistakes (and would overflow at the day's ends).
FIRST_YEAR, LAST_YEAR = 2000, 2999


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime  # China time
    actor_username: str | None
    actor_name: str | None
    case_id: int | None
    case_no: str | None
    action: str
    summary: str  # masked

    @property
    def action_label(self) -> str:
        return action_label(self.action)


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    total: int
    offset: int
    limit: int


def require_manager(user: User) -> None:
    if not (user.is_active and user.has_role("manager")):
        raise Forbidden("只有管理员可以查看审计日志")


def parse_day(value: date | str | None, field: str) -> date | None:
    """A China-time calendar day from YYYY-MM-DD; ValidationFailed (under `field`) else."""
    if value is None or isinstance(value, date):
        return value
    text = value.strip()
    if not text:
        return None
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError(text)
        day = date.fromisoformat(text)
    except ValueError:
        message = f"日期“{text[:20]}”格式不正确，应为 YYYY-MM-DD，如 2026-09-07"
        raise ValidationFailed(message, errors={field: message}) from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        message = f"日期应在 {FIRST_YEAR} 年至 {LAST_YEAR} 年之间"
        raise ValidationFailed(message, errors={field: message})
    return day


def _filtered(
    user: User,
    actor_username: str | None,
    case_no: str | None,
    date_from: date | str | None,
    date_to: date | str | None,
    action: str | None,
) -> Select:
    day_from, day_to = parse_day(date_from, "from"), parse_day(date_to, "to")
    if day_from and day_to and day_from > day_to:
        message = "开始日期不能晚于结束日期"
        raise ValidationFailed(message, errors={"from": message})
    # Aliases, so that the filters' subqueries on users and cases are not correlated.
    actor, case = aliased(User), aliased(Case)
    query = (
        select(
            AuditEvent.id,
            AuditEvent.at,
            actor.username,
            actor.display_name,
            AuditEvent.case_id,
            case.case_no,
            AuditEvent.action,
            AuditEvent.summary,
        )
        .outerjoin(actor, actor.id == AuditEvent.actor_id)
        .outerjoin(case, case.id == AuditEvent.case_id)
    )
    if user.org.parent_id is not None:
        # A manager below the city federation sees what happened in their own subtree:
        # events on its cases and events by its people.
        subtree = select(Organisation.id).where(Organisation.path.startswith(user.org.path))
        query = query.where(
            or_(
                AuditEvent.case_id.in_(select(Case.id).where(Case.org_id.in_(subtree))),
                AuditEvent.actor_id.in_(select(User.id).where(User.org_id.in_(subtree))),
            )
        )
    if actor_username and actor_username.strip():
        name = actor_username.strip()
        actors = select(User.id).where(or_(User.username == name, User.display_name == name))
        query = query.where(AuditEvent.actor_id.in_(actors))
    if case_no and case_no.strip():
        cases = select(Case.id).where(Case.case_no == case_no.strip().upper())
        query = query.where(AuditEvent.case_id.in_(cases))
    if day_from:
        start = datetime.combine(day_from, time.min, tzinfo=CST).astimezone(UTC)
        query = query.where(AuditEvent.at >= start)
    if day_to:
        end = datetime.combine(day_to + timedelta(days=1), time.min, tzinfo=CST).astimezone(UTC)
        query = query.where(AuditEvent.at < end)
    if action and action.strip():
        codes = action_codes(action)
        if codes is None:
            query = query.where(AuditEvent.action.startswith(action.strip(), autoescape=True))
        else:  # an area by name: its actions and any newer one under its prefix
            query = query.where(
                or_(
                    AuditEvent.action.in_([c for c in codes if not c.endswith(".")]),
                    *[
                        AuditEvent.action.startswith(c, autoescape=True)
                        for c in codes
                        if c.endswith(".")
                    ],
                )
            )
    return query


def _row(found: Row) -> AuditRow:
    return AuditRow(
        id=found.id,
        at=as_utc(found.at).astimezone(CST),
        actor_username=found.username,
        actor_name=found.display_name,
        case_id=found.case_id,
        case_no=found.case_no,
        action=found.action,
        # Summaries are written masked; this is the safety net for an old or careless one.
        summary=mask_numbers(found.summary or ""),
    )


def _count(session: Session, query: Select) -> int:
    return session.scalar(select(func.count()).select_from(query.subquery())) or 0


def _newest_first(query: Select) -> Select:
    return query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())


def search_events(
    session: Session,
    user: User,
    actor_username: str | None = None,
    case_no: str | None = None,
    date_from: date | str | None = None,
    date_to: date | str | None = None,
    action: str | None = None,
    offset: int = 0,
    limit: int = PAGE_SIZE,
) -> AuditPage:
    """Managers only: the events matching every given filter, newest first.

    `actor_username` matches a username or a display name exactly, `case_no` a case
    number, `action` the start of the action code ("auth." finds logins and lock-outs)
    or an action's or area's Chinese name ("认领任务", "登录与账号");
    `date_from` and `date_to` are China-time days, both included."""
    require_manager(user)
    query = _filtered(user, actor_username, case_no, date_from, date_to, action)
    offset, limit = max(0, offset), max(1, min(limit, MAX_EXPORT_ROWS))
    total = _count(session, query)
    rows = session.execute(_newest_first(query).offset(offset).limit(limit)).all()
    return AuditPage([_row(r) for r in rows], total, offset, limit)


EXPORT_COLUMNS = [
    tabular.Column("时间", tabular.DATETIME),
    tabular.Column("操作人"),
    tabular.Column("用户名"),
    tabular.Column("案件编号"),
    tabular.Column("操作"),
    tabular.Column("摘要"),
    tabular.Column("操作代码"),
]
EXPORT_HEADER = [c.title for c in EXPORT_COLUMNS]


def export_csv(
    session: Session,
    user: User,
    actor_username: str | None = None,
    case_no: str | None = None,
    date_from: date | str | None = None,
    date_to: date | str | None = None,
    action: str | None = None,
) -> tuple[str, bytes]:
    """(file name, UTF-8 CSV with BOM) of the filtered events, newest first. More than
    MAX_EXPORT_ROWS is refused (ValidationFailed), never cut short silently. The export
    itself is audited."""
    require_manager(user)
    query = _filtered(user, actor_username, case_no, date_from, date_to, action)
    total = _count(session, query)
    if total > MAX_EXPORT_ROWS:
        raise ValidationFailed(
            f"符合条件的记录有 {total} 条，超过单次导出上限 {MAX_EXPORT_ROWS} 条，"
            "请缩小日期范围或增加筛选条件"
        )
    rows = (
        [
            row.at.replace(tzinfo=None),
            row.actor_name or "",
            row.actor_username or "",
            row.case_no or "",
            row.action_label,
            row.summary,
            row.action,
        ]
        for row in map(_row, session.execute(_newest_first(query).limit(MAX_EXPORT_ROWS)))
    )
    content = tabular.write_csv(EXPORT_COLUMNS, rows)
    with unit_of_work(session):
        record(session, user.id, None, "audit.export", f"导出审计日志 {total} 条")
    name = f"audit-{local_now():%Y%m%d-%H%M%S}.csv"
    return name, content
