"""Loading a federation's existing 困难职工档案 from XLSX or CSV (no 建档 case per worker).

Two steps, as with every file in (DESIGN.md "Files in, files out"):
1. `preview`: the whole file is read and checked (ID numbers with their check digit,
   duplicates in the file and against the archive, unknown units and categories, cards
   failing their check as a warning, missing values, dates that make no sense). Only the
   `archive_import` row is written: the report, and the file itself encrypted (it holds
   ID numbers) so that the import can run, and run again after a restart, without it
   being sent twice. Nothing enters the archive.
2. `confirm` then `run_import` (in the background): the file is checked again against the
   archive as it is now and applied in chunks, one transaction each, with the progress in
   the import row. A restart goes on from the last chunk; (import, line) is unique, so no
   line is ever imported twice. The same file (sha256) a second time changes nothing.

Imported workers are archived at once: a 四季送 launch reaches them, and their 回头看
opens on their valid-until date (archive.open_due_rechecks).
"""

import json
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from workflows import access, crypto, forms, privacy, tabular
from workflows.archive import add_months, category_options
from workflows.audit import record
from workflows.clock import CST, local_now, now
from workflows.db import unit_of_work
from workflows.errors import Conflict, Forbidden, NotFound, ValidationFailed, WarmflowError
from workflows.models import ArchiveImport, ArchiveMapping, HardshipRecord, Organisation, User

log = logging.getLogger(__name__)

CHUNK = 2000
ANALYZE_AFTER = 1000  # imported records after which the statistics are gathered again
STALE_AFTER = timedelta(minutes=2)
WHAT = "档案文件"
MAX_LISTED = 200  # problem lines kept in the preview report

# field → the header names a federation's export uses for it (the first is its label).
FIELDS: dict[str, list[str]] = {
    "name": ["姓名", "职工姓名"],
    "id_number": ["身份证号", "身份证号码", "公民身份号码", "证件号码"],
    "gender": ["性别"],
    "org_code": ["单位代码", "工会代码", "组织代码"],
    "org_name": ["单位名称", "工会名称", "所在单位"],
    "category": ["困难类别", "困难类型"],
    "household_size": ["家庭人口", "家庭人口数"],
    "monthly_income": ["家庭月收入", "家庭月收入（元）", "家庭月收入(元)"],
    "cause": ["致困原因", "困难原因"],
    "bank_card": ["银行卡号", "卡号"],
    "account_name": ["开户名", "户名"],
    "bank_name": ["开户行", "开户银行"],
    "phone": ["联系电话", "电话", "手机号码"],
    "archived_on": ["建档日期", "建档时间"],
    "valid_until": ["有效期至", "有效期"],
}
REQUIRED = ("name", "id_number", "category")
FIELD_LABELS = {name: names[0] for name, names in FIELDS.items()}
# Words federations' exports use for the categories, beside the diagram's own labels.
CATEGORY_ALIASES = {
    "生活救助": "living",
    "生活困难": "living",
    "医疗": "medical",
    "大病": "medical",
    "医疗救助": "medical",
    "助学": "schooling",
    "子女就学": "schooling",
    "灾害": "disaster",
    "灾害救助": "disaster",
    "其他": "other",
}
OLDEST_DATE = date(1990, 1, 1)
LONGEST_VALIDITY_YEARS = 5


class AlreadyImported(Conflict):
    """The same file (sha256) was imported before: nothing changes."""


@dataclass
class Line:
    """One data line of the file, checked: the record it makes, or why it cannot."""

    line: int
    values: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    existing: bool = False  # already in the archive: skipped

    @property
    def ok(self) -> bool:
        return not self.errors and not self.existing


@dataclass
class Checked:
    table: tabular.Table
    lines: list[Line]

    def report(self) -> dict:
        problems = [ln for ln in self.lines if ln.errors or ln.warnings or ln.existing]
        listed = []
        for ln in problems[:MAX_LISTED]:
            texts = ln.errors + ln.warnings + (["已在档案中，将跳过"] if ln.existing else [])
            listed.append(
                {
                    "line": ln.line,
                    "level": "error" if ln.errors else "warning",
                    "name": privacy.mask_name(ln.values.get("worker_name", "")),
                    "text": "；".join(texts),
                    "texts": texts,
                }
            )
        return {
            "total": len(self.lines),
            "ok": sum(1 for ln in self.lines if ln.ok),
            "bad": sum(1 for ln in self.lines if ln.errors),
            "warned": sum(1 for ln in self.lines if ln.warnings and not ln.errors),
            "existing": sum(1 for ln in self.lines if ln.existing and not ln.errors),
            "lines": listed,
            "more": max(0, len(problems) - MAX_LISTED),
            "columns": {
                name: self.table.header[index]
                for name, index in self.table.columns.items()
                if index < len(self.table.header)
            },
        }


# --- who may ------------------------------------------------------------------------------


def may_import(user: User) -> bool:
    return user.is_active and user.has_role("manager")


def _require_manager(user: User) -> None:
    if not may_import(user):
        raise Forbidden("只有管理员可以导入档案")


def target_org(session: Session, user: User, org_code: str | None) -> Organisation:
    """The organisation whose subtree the file's units must lie in: the user's own unless
    a unit of their subtree is named."""
    if not org_code:
        return user.org
    org = session.scalar(select(Organisation).where(Organisation.code == org_code.strip()))
    if org is None:
        raise ValidationFailed(f"单位代码“{org_code}”不存在", errors={"org": "单位不存在"})
    if not access.in_subtree(user, org):
        raise Forbidden("无权向该单位导入档案")
    return org


# --- the column mapping ------------------------------------------------------------------


def saved_mapping(session: Session, org_id: int) -> dict[str, str]:
    row = session.scalar(select(ArchiveMapping).where(ArchiveMapping.org_id == org_id))
    return json.loads(row.mapping_json) if row else {}


def _clean_mapping(mapping: dict[str, str] | None) -> dict[str, str]:
    cleaned: dict[str, str] = {}
    for name, header in (mapping or {}).items():
        if name not in FIELDS:
            raise ValidationFailed(f"没有名为“{name}”的字段", errors={name: "未知字段"})
        header = str(header or "").strip()[:100]
        if header:
            cleaned[name] = header
    return cleaned


def _save_mapping(session: Session, user: User, org_id: int, mapping: dict[str, str]) -> None:
    row = session.scalar(select(ArchiveMapping).where(ArchiveMapping.org_id == org_id))
    if row is None:
        row = ArchiveMapping(org_id=org_id)
        session.add(row)
    row.mapping_json = json.dumps(mapping, ensure_ascii=False)
    row.saved_by_id = user.id
    row.saved_at = now()


def _fields(mapping: dict[str, str]) -> dict[str, list[str]]:
    # A mapped header first, the usual names still accepted after it.
    return {
        name: ([mapping[name]] if name in mapping else []) + names for name, names in FIELDS.items()
    }


# --- checking a file -----------------------------------------------------------------------


def _categories(session: Session) -> dict[str, str]:
    """Accepted words (id, label, alias) → category id."""
    known: dict[str, str] = {}
    for key, label in category_options(session):
        known[tabular.header_key(key)] = key
        known[tabular.header_key(label)] = key
        known[tabular.header_key(label.split("（")[0])] = key
    for word, key in CATEGORY_ALIASES.items():
        if any(k == key for k in known.values()):
            known.setdefault(tabular.header_key(word), key)
    return known


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), CST)


def _check_line(row: tabular.Row, orgs_by_code, orgs_by_name, categories, today) -> Line:
    ln = Line(row.line)
    v = ln.values
    name = row["name"]
    if not name:
        ln.errors.append("缺少姓名")
    elif len(name) > 60:
        ln.errors.append("姓名过长")
    v["worker_name"] = name[:60]
    number = row["id_number"]
    if not number:
        ln.errors.append("缺少身份证号")
    else:
        try:
            number = forms.normalise_id_number(number)
            v["id_number"] = number
        except ValueError:
            ln.errors.append("身份证号无效（位数、校验位或出生日期不对）")
    code, org_name = row["org_code"], row["org_name"]
    org = None
    if code:
        org = orgs_by_code.get(code)
        if org is None:
            ln.errors.append(f"单位代码“{code}”不存在或不在本单位范围内")
    elif org_name:
        org = orgs_by_name.get(org_name)
        if org is None:
            ln.errors.append(f"单位“{org_name}”不存在或不在本单位范围内")
    else:
        ln.errors.append("缺少单位代码或单位名称")
    if org is not None and org.closed_at is not None:
        ln.errors.append(f"单位“{org.name}”已撤销，不能再纳入档案")
        org = None
    v["org_id"] = org.id if org is not None else None
    category = row["category"]
    if not category:
        ln.errors.append("缺少困难类别")
    else:
        key = categories.get(tabular.header_key(category))
        if key is None:
            ln.errors.append(f"未知的困难类别“{category}”")
        v["category"] = key or ""
    gender = row["gender"]
    if gender and gender not in ("男", "女"):
        ln.errors.append(f"性别应为“男”或“女”，而不是“{gender}”")
    elif gender and "id_number" in v:
        by_id = "男" if int(v["id_number"][16]) % 2 else "女"
        if by_id != gender:
            ln.warnings.append("性别与身份证号不符")
    v["gender"] = gender if gender in ("男", "女") else ""
    size_text = row["household_size"]
    size = tabular.parse_int(size_text) if size_text else None
    if size_text and (size is None or not 1 <= size <= 30):
        ln.errors.append("家庭人口应为 1 至 30 的整数")
        size = None
    v["household_size"] = size
    income_text = row["monthly_income"]
    income = tabular.parse_money_fen(income_text) if income_text else None
    if income_text and (income is None or income < 0):
        ln.errors.append("家庭月收入应为不小于 0 的金额")
        income = None
    v["monthly_income_fen"] = income
    card = row["bank_card"]
    v["bank_card"] = ""
    if card:
        digits = "".join(ch for ch in card if ch not in " -")
        if not digits.isdigit() or not 12 <= len(digits) <= 19:
            ln.errors.append("银行卡号应为 12 至 19 位数字")
        else:
            v["bank_card"] = digits
            try:
                forms.normalise_bank_card(digits)
            except ValueError:
                ln.warnings.append("银行卡号未通过校验（部分卡无校验位，请核对）")
    v["account_name"] = (row["account_name"] or (name if card else ""))[:60]
    v["bank_name"] = row["bank_name"][:100]
    v["phone"] = row["phone"][:30]
    v["cause"] = row["cause"][:200]
    archived_text, until_text = row["archived_on"], row["valid_until"]
    archived_on = tabular.parse_date(archived_text) if archived_text else today
    if archived_on is None:
        ln.errors.append(f"建档日期“{archived_text}”无法识别")
    elif archived_on > today:
        ln.errors.append("建档日期晚于今天")
    elif archived_on < OLDEST_DATE:
        ln.errors.append("建档日期早于 1990 年")
    until = tabular.parse_date(until_text) if until_text else None
    if until_text and until is None:
        ln.errors.append(f"有效期至“{until_text}”无法识别")
    elif until is None and archived_on is not None:
        until = add_months(_local_midnight(archived_on), 12).date()
    if until is not None and archived_on is not None:
        if until <= archived_on:
            ln.errors.append("有效期至应晚于建档日期")
        elif until > today.replace(year=today.year + LONGEST_VALIDITY_YEARS):
            ln.errors.append(f"有效期至超过 {LONGEST_VALIDITY_YEARS} 年以后")
        elif until <= today:
            ln.warnings.append("有效期已过，导入后即进入回头看")
    v["archived_at"] = _local_midnight(archived_on) if archived_on else None
    v["valid_until"] = _local_midnight(until) if until else None
    return ln


def read(filename: str, content: bytes, mapping: dict[str, str] | None = None) -> tabular.Table:
    try:
        table = tabular.read_table(
            filename, content, _fields(mapping or {}), required=("name", "id_number"), what=WHAT
        )
    except ValidationFailed as err:
        if "缺少表头" not in err.message:
            raise
        raise ValidationFailed(
            f"{err.message}，可在“列对应”中指定文件里的列名",
            errors={"mapping": err.message},
            headers=tabular.header_cells(filename, content, WHAT),
        ) from None
    missing = [FIELD_LABELS[n] for n in REQUIRED if not table.has(n)]
    if not (table.has("org_code") or table.has("org_name")):
        missing.append("单位代码（或单位名称）")
    if missing:
        names = "”“".join(missing)
        raise ValidationFailed(
            f"{WHAT}缺少表头“{names}”列，可在“列对应”中指定文件里的列名",
            errors={"mapping": names},
            headers=[h for h in table.header if h],
        )
    return table


def check(session: Session, org: Organisation, table: tabular.Table) -> Checked:
    """Every line checked, against the file itself and the archive as it is now."""
    in_scope = list(
        session.scalars(select(Organisation).where(Organisation.path.startswith(org.path)))
    )
    by_code = {o.code: o for o in in_scope}
    by_name = {o.name: o for o in in_scope}
    categories = _categories(session)
    today = local_now().date()
    lines = [_check_line(row, by_code, by_name, categories, today) for row in table.rows]
    first_seen: dict[str, int] = {}
    for ln in lines:
        number = ln.values.get("id_number")
        if not number:
            continue
        key = privacy.subject_key(number)
        ln.values["subject_key"] = key
        if key in first_seen:
            ln.errors.append(f"身份证号与第 {first_seen[key]} 行重复")
        else:
            first_seen[key] = ln.line
    keys = list(first_seen)
    archived: set[str] = set()
    for start in range(0, len(keys), 900):
        archived.update(
            session.scalars(
                select(HardshipRecord.subject_key).where(
                    HardshipRecord.subject_key.in_(keys[start : start + 900]),
                    HardshipRecord.status == "archived",
                )
            )
        )
    for ln in lines:
        if ln.values.get("subject_key") in archived:
            ln.existing = True
    return Checked(table, lines)


# --- preview, confirm, run -----------------------------------------------------------------


def _previous(session: Session, sha: str) -> ArchiveImport | None:
    return session.scalars(
        select(ArchiveImport)
        .where(ArchiveImport.sha256 == sha, ArchiveImport.status.in_(("running", "done")))
        .order_by(ArchiveImport.id)
    ).first()


def preview(
    session: Session,
    user: User,
    filename: str,
    content: bytes,
    org_code: str | None = None,
    mapping: dict[str, str] | None = None,
) -> ArchiveImport:
    """Check the whole file and keep the report; nothing enters the archive."""
    _require_manager(user)
    org = target_org(session, user, org_code)
    mapping = _clean_mapping(mapping)
    sha = tabular.sha256(content)
    before = _previous(session, sha)
    if before is not None:
        when = before.created_at.astimezone(CST).strftime("%Y-%m-%d %H:%M")
        raise AlreadyImported(
            f"该文件已于 {when} 导入（导入批次 {before.id}），再次导入不会有任何改变",
            import_id=before.id,
        )
    use = dict(saved_mapping(session, org.id))
    use.update(mapping)
    checked = check(session, org, read(filename, content, use))
    if not checked.lines:
        raise ValidationFailed(f"{WHAT}没有数据行")
    report = checked.report()
    with unit_of_work(session):
        if mapping:
            _save_mapping(session, user, org.id, use)
        row = ArchiveImport(
            filename=(filename or "archive")[:200],
            sha256=sha,
            org_id=org.id,
            created_by_id=user.id,
            status="preview",
            mapping_json=json.dumps(use, ensure_ascii=False),
            report_json=json.dumps(report, ensure_ascii=False),
            total=report["total"],
            bad=report["bad"],
            content=crypto.encrypt_bytes(content),
        )
        session.add(row)
        session.flush()
    return row


def get_import(session: Session, user: User, import_id: int) -> ArchiveImport:
    _require_manager(user)
    row = session.get(ArchiveImport, import_id)
    if row is None:
        raise NotFound("导入批次不存在")
    org = session.get(Organisation, row.org_id)
    if not access.in_subtree(user, org):
        raise Forbidden("无权查看该导入批次")
    if row.status == "running" and row.heartbeat_at and now() - row.heartbeat_at > STALE_AFTER:
        row.message = "导入中断（服务重启？），可继续导入，已导入的行不会重复"
    return row


def report(row: ArchiveImport) -> dict:
    return json.loads(row.report_json or "{}")


def confirm(session: Session, user: User, import_id: int, skip_bad: bool = False) -> ArchiveImport:
    """The manager's go-ahead after the preview; `run_import` does the work."""
    row = get_import(session, user, import_id)
    if row.status == "failed" or (row.status == "running" and row.message):
        # Interrupted or failed: go on where it stopped (done lines are never repeated).
        with unit_of_work(session):
            row.status = "running"
            row.heartbeat_at = now()
            row.finished_at = None
            row.message = ""
        return row
    if row.status != "preview":
        raise Conflict("该导入批次已确认过，不能再次确认")
    if row.bad and not skip_bad:
        raise ValidationFailed(
            f"文件有 {row.bad} 行有误：请修改后重新上传，或明确选择“跳过有误的行导入”",
            errors={"skip_bad": "有误的行"},
        )
    before = _previous(session, row.sha256)
    if before is not None:
        raise AlreadyImported("该文件已导入，再次导入不会有任何改变", import_id=before.id)
    with unit_of_work(session):
        row.status = "running"
        row.skip_bad = bool(skip_bad)
        row.confirmed_by_id = user.id
        row.confirmed_at = now()
        row.heartbeat_at = now()
        record(
            session,
            user.id,
            None,
            "archive.import",
            f"导入档案文件“{row.filename}”：共 {row.total} 行"
            + (f"，跳过有误的 {row.bad} 行" if row.bad else ""),
            import_id=row.id,
            sha256=row.sha256,
        )
    return row


def discard(session: Session, user: User, import_id: int) -> None:
    row = get_import(session, user, import_id)
    if row.status != "preview":
        raise Conflict("该导入批次已确认，不能放弃")
    with unit_of_work(session):
        row.status = "discarded"
        row.content = None


def _record_values(ln: Line, row: ArchiveImport) -> dict:
    v = ln.values
    return {
        "case_id": None,
        "org_id": v["org_id"],
        "subject_key": v["subject_key"],
        "subject_id_masked": privacy.mask_id(v["id_number"]),
        "id_number": v["id_number"],
        "worker_name": v["worker_name"],
        "category": v["category"],
        "status": "archived",
        "archived_at": v["archived_at"],
        "valid_until": v["valid_until"],
        "left_at": None,
        "bank_card": v["bank_card"],
        "account_name": v["account_name"],
        "bank_name": v["bank_name"],
        "phone": v["phone"],
        "gender": v["gender"],
        "household_size": v["household_size"],
        "monthly_income_fen": v["monthly_income_fen"],
        "cause": v["cause"],
        "import_id": row.id,
        "source_line": ln.line,
    }


def run_import(factory: sessionmaker, import_id: int, chunk: int = CHUNK) -> None:
    """Apply a confirmed import, `chunk` lines per transaction. Never raises: a failure
    ends up in the import row for the page to show."""
    with factory() as session:
        try:
            _run(session, session.get(ArchiveImport, import_id), chunk)
        except Exception as err:  # noqa: BLE001 - the page shows it; the log keeps the trace
            log.exception("archive import %s failed", import_id)
            session.rollback()
            message = err.message if isinstance(err, WarmflowError) else "导入失败，请联系管理员"
            row = session.get(ArchiveImport, import_id)
            row.status = "failed"
            row.message = f"{message}（已导入的行保留）"[:500]
            row.finished_at = now()
            session.commit()


def _run(session: Session, row: ArchiveImport, chunk: int) -> None:
    if row.status != "running":
        return
    content = crypto.decrypt_bytes(row.content or b"")
    org = session.get(Organisation, row.org_id)
    table = read(row.filename, content, json.loads(row.mapping_json or "{}"))
    checked = check(session, org, table)
    done_lines = set(
        session.scalars(
            select(HardshipRecord.source_line).where(HardshipRecord.import_id == row.id)
        )
    )
    lines = checked.lines
    bad = sum(1 for ln in lines if ln.errors)
    if bad and not row.skip_bad:
        raise ValidationFailed(f"文件有 {bad} 行有误，未导入")
    actor_id = row.confirmed_by_id
    for start in range(row.processed, len(lines), chunk):
        part = lines[start : start + chunk]
        values = [
            _record_values(ln, row)
            for ln in part
            if not ln.errors and not (ln.existing or ln.line in done_lines)
        ]
        if values:
            session.execute(insert(HardshipRecord), values)
        row.imported += len(values)
        row.skipped += len(part) - len(values)
        row.processed = start + len(part)
        row.heartbeat_at = now()
        session.commit()
    row.status = "done"
    row.finished_at = now()
    row.content = None  # the numbers now live encrypted in the records only
    if row.imported >= ANALYZE_AFTER:
        # The planner's statistics, from before the archive grew by thousands, would
        # send the list to the wrong index (SQLite never gathers them by itself).
        session.execute(text("ANALYZE hardship_record"))
    record(
        session,
        actor_id,
        None,
        "archive.imported",
        f"档案文件“{row.filename}”导入完成：导入 {row.imported} 人，跳过 {row.skipped} 行",
        import_id=row.id,
    )
    session.commit()


def resume_stale(factory: sessionmaker) -> int:
    """Go on with confirmed imports whose job stopped reporting (the server restarted):
    what `warmflow worker` does each round. Taking one bumps its version, so two workers
    never run the same import."""
    resumed = 0
    with factory() as session:
        stale = list(
            session.scalars(
                select(ArchiveImport.id).where(
                    ArchiveImport.status == "running",
                    ArchiveImport.heartbeat_at < now() - STALE_AFTER,
                )
            )
        )
    for import_id in stale:
        try:
            with factory() as session, unit_of_work(session):
                row = session.get(ArchiveImport, import_id)
                if row.status != "running" or row.heartbeat_at >= now() - STALE_AFTER:
                    continue
                row.heartbeat_at = now()
                row.message = ""
        except Conflict:
            continue  # another worker took it
        log.info("resuming archive import %s", import_id)
        run_import(factory, import_id)
        resumed += 1
    return resumed


def import_json(row: ArchiveImport) -> dict:
    """An import's progress and report, for the page's poll, the API and the CLI."""
    return {
        "id": row.id,
        "filename": row.filename,
        "sha256": row.sha256,
        "org_id": row.org_id,
        "status": row.status,
        "total": row.total,
        "bad": row.bad,
        "processed": row.processed,
        "imported": row.imported,
        "skipped": row.skipped,
        "skip_bad": row.skip_bad,
        "message": row.message,
        "report": report(row),
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
    }


def imports(session: Session, user: User, limit: int = 20) -> list[ArchiveImport]:
    _require_manager(user)
    subtree = select(Organisation.id).where(Organisation.path.startswith(user.org.path))
    return list(
        session.scalars(
            select(ArchiveImport)
            .where(ArchiveImport.org_id.in_(subtree), ArchiveImport.status != "discarded")
            .order_by(ArchiveImport.id.desc())
            .limit(limit)
        )
    )
