"""JSON API under /api/v1: bearer tokens, the same service functions as the pages.

Errors are JSON {code, message} (see webapp.errors): 401, 403 outside your scope,
404 unknown, 409 conflict or already done, 422 invalid data with field errors.
Datetimes are ISO 8601 with the China offset; money is integer fen; names and ID or
card numbers are masked in every answer. The document is webapp/openapi.py.
"""

import json
import re
from datetime import datetime
from functools import wraps
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy import select

from webapp import casework, openapi
from webapp.cases import file_answer
from webapp.database import session
from webapp.extensions import limiter
from webapp.processes import change_list, refusal
from workflows import (
    auth,
    cases,
    engine,
    files,
    logins,
    notices,
    privacy,
    processes,
    progress,
    tasks,
    workdays,
)
from workflows.clock import CST
from workflows.errors import Conflict, ValidationFailed, WarmflowError
from workflows.models import (
    AuditEvent,
    Campaign,
    Case,
    HumanTask,
    Organisation,
    ProcessInstance,
    ProcessVersion,
    PublicNotice,
    User,
)
from workflows.processes import loaded_version

bp = Blueprint("api", __name__, url_prefix="/api/v1")


class Unauthorized(WarmflowError):
    code = "unauthorized"


# Ids are 32-bit integers in PostgreSQL: a larger one matches no row (paths are checked
# for the whole app in webapp/__init__.py).
MAX_ID = 2**31 - 1


def token_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        user = auth.user_for_token(session(), token) if token else None
        if user is None:
            raise Unauthorized("请先获取有效的访问令牌（POST /api/v1/token）")
        g.api_user = user
        return view(*args, **kwargs)

    return wrapper


def body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValidationFailed("请求体应为 JSON 对象")
    return data


@bp.post("/token")
@limiter.limit("20 per minute")
def token():
    data = body()
    secret = current_app.secret_key.encode("utf-8")
    answer = data.get("challenge_answer")
    try:
        user = auth.authenticate(
            session(),
            str(data.get("username", "")),
            str(data.get("password", "")),
            address=request.remote_addr or "",
            secret=secret,
            challenge_token=str(data.get("challenge_token") or "") or None,
            challenge_answer=None if answer is None else str(answer),
        )
    except auth.SignInRefused as err:
        # As the login page: the same answer for an unknown name and a wrong password;
        # a challenge to answer (send back its token with the answer), or a wait.
        refusal = {"code": "unauthorized", "message": err.message}
        if err.challenge:
            challenge = logins.new_challenge(secret)
            refusal["challenge"] = {"question": challenge.question, "token": challenge.token}
        if err.wait_seconds:
            refusal["code"] = "too_many_attempts"
            answer = jsonify(refusal), 429, {"Retry-After": str(err.wait_seconds)}
            return answer
        return jsonify(refusal), 401
    if user.must_change_password:
        return jsonify(
            code="password_change_required",
            message="该账号使用的是一次性密码，请先登录网页设置自己的密码",
        ), 403
    kind = "Bearer"
    return jsonify(token=auth.issue_token(session(), user), token_type=kind)  # noqa: S106


@bp.get("/openapi.json")
def openapi_document():
    return jsonify(openapi.document())


# --- how things look in an answer ---------------------------------------------------------

MAX_LIMIT = 100
# The public notice page's limit (webapp/notices.py), counted together with it.
OBJECTION_LIMIT, OBJECTION_SCOPE = "5 per hour; 20 per day", "objection"
SENSITIVE_TYPES = {"id_number": privacy.mask_id, "bank_card": privacy.mask_card}
# A long run of digits in free text (a comment quoting an ID or card number).


def iso(value: datetime | None) -> str | None:
    return value.astimezone(CST).isoformat() if value else None


def scrub(value: Any) -> Any:
    """Mask any ID- or card-like number left in free text, anywhere in a structure."""
    if isinstance(value, str):
        return privacy.mask_numbers(value)
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    if isinstance(value, bool | int | float) or value is None:
        return value
    return scrub(str(value))


def _mask_value(kind: str | None, key: str, value: Any) -> Any:
    if value in (None, ""):
        return value
    if kind == "bank_card" or key == "bank_card":
        return privacy.mask_card(str(value))
    if kind == "id_number" or key.endswith("_id_number"):
        return privacy.mask_id(str(value))
    return scrub(value)


def org_json(org: Organisation | None) -> dict | None:
    if org is None:
        return None
    return {"id": org.id, "code": org.code, "name": org.name}


def user_json(user_id: int | None) -> dict | None:
    user = session().get(User, user_id) if user_id else None
    if user is None:
        return None
    return {"id": user.id, "username": user.username, "display_name": user.display_name}


def task_json(row: HumanTask) -> dict:
    case = row.case
    return {
        "id": row.id,
        "case_id": case.id,
        "case_no": case.case_no,
        "programme": case.programme,
        "step": row.element_id,
        "name": row.name,
        "candidate_group": row.candidate_group,
        "organisation": org_json(case.org),
        "assignee": user_json(row.assignee_id),
        "status": row.status,
        "created_at": iso(row.created_at),
        "due_at": iso(row.due_at),
        "overdue": tasks.is_overdue(row),
        "applicant": privacy.mask_name(case.applicant_name),
    }


def _number(value: Any) -> Any:
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def field_json(field: dict) -> dict:
    answer = {
        "id": field["id"],
        "label": field["label"],
        "type": field["type"],
        "required": bool(field.get("required")),
        "readonly": bool(field.get("readonly")),
        "options": [{"value": o[0], "label": o[1]} for o in field.get("options") or []],
        "min": _number(field.get("min")),
        "max": _number(field.get("max")),
    }
    if field.get("required_when"):
        answer["required_when"] = field["required_when"]
    for name in ("minlength", "maxlength", "min_names", "min_files", "max_files"):
        if field.get(name):
            answer[name] = _number(field[name])
    if field.get("multiple"):
        answer["multiple"] = True
    return answer


def case_json(case: Case) -> dict:
    prog = cases.PROGRAMMES.get(case.programme)
    return {
        "id": case.id,
        "case_no": case.case_no,
        "programme": case.programme,
        "programme_label": prog.label if prog else case.programme,
        "status": case.status,
        "outcome": case.outcome or None,
        "outcome_label": case.outcome_label or None,
        "organisation": org_json(case.org),
        "amount_fen": case.amount_fen,
        "applicant": privacy.mask_name(case.applicant_name),
        "id_number": case.subject_id_masked,
        "created_at": iso(case.created_at),
        "closed_at": iso(case.closed_at),
    }


def history_json(event: AuditEvent) -> dict:
    actor = user_json(event.actor_id)
    return {
        "at": iso(event.at),
        "actor": actor["display_name"] if actor else None,
        "action": event.action,
        "summary": scrub(event.summary),
    }


def _field_types(db, case: Case) -> dict[str, str]:
    """Field id → type over every form of the versions the case runs on."""
    instance = db.scalars(select(ProcessInstance).where(ProcessInstance.case_id == case.id)).first()
    if instance is None:
        return {}
    version_ids = [instance.version_id, *json.loads(instance.subprocess_versions or "{}").values()]
    types: dict[str, str] = {}
    for version_id in version_ids:
        meta = loaded_version(db, version_id).meta
        forms = [meta.get("start_form", [])]
        forms += [t.get("fields", []) for t in meta.get("user_tasks", {}).values()]
        for fields in forms:
            for field in fields:
                if field["type"] in SENSITIVE_TYPES or field["id"] not in types:
                    types[field["id"]] = field["type"]
    return types


def masked_case_data(db, case: Case) -> dict:
    try:
        data = engine.case_data(db, case)
    except Conflict:  # neither running nor closed with its final data
        return {}
    types = _field_types(db, case)
    return {key: _mask_value(types.get(key), key, value) for key, value in data.items()}


def notice_json(notice: PublicNotice) -> dict:
    prog = cases.PROGRAMMES.get(notice.programme)
    org = session().get(Organisation, notice.org_id)
    return {
        "id": notice.id,
        "programme": notice.programme,
        "programme_label": prog.label if prog else notice.programme,
        "organisation": org_json(org),
        "applicant": notice.masked_name,
        "id_number": notice.masked_id,
        "amount_fen": notice.amount_fen,
        "round": notice.round,
        "posted_at": iso(notice.posted_at),
        "ends_at": iso(notice.ends_at),
        "last_day": notices.last_day(notice.ends_at).isoformat(),
    }


# --- reading the query string ---------------------------------------------------------------


def _int_arg(name: str, default: int, low: int, high: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    bound = f"{low} 至 {high}" if high is not None else f"不小于 {low}"
    message = f"{name} 应为{bound}的整数"
    if not re.fullmatch(r"-?\d{1,9}", raw.strip()):
        raise ValidationFailed(message, errors={name: message})
    value = int(raw)
    if value < low or (high is not None and value > high):
        raise ValidationFailed(message, errors={name: message})
    return value


def _bool_arg(name: str) -> bool:
    raw = (request.args.get(name) or "").strip().lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    message = f"{name} 应为 true 或 false"
    raise ValidationFailed(message, errors={name: message})


def _text(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return ""
    return str(value) if isinstance(value, str | int) else ""


# --- tasks -------------------------------------------------------------------------------------


@bp.get("/tasks")
@token_required
def task_list():
    scope = request.args.get("scope") or "mine"
    from webapp import api_worklists  # it imports this module

    if scope in api_worklists.SCOPES:
        return api_worklists.task_list(scope)
    programme = request.args.get("programme") or None
    if programme:
        cases.programme(programme)  # 422 for an unknown one
    flt = tasks.TaskFilter(
        programme=programme,
        element_id=request.args.get("step") or None,
        overdue=_bool_arg("overdue"),
    )
    limit = _int_arg("limit", 50, 1, MAX_LIMIT)
    offset = _int_arg("offset", 0, 0)
    after = _int_arg("after", 0, 1) if request.args.get("after") else None
    db, user = session(), g.api_user
    rows = tasks.list_tasks(db, user, scope, flt, limit=limit, offset=offset, after=after)
    total = tasks.count_tasks(db, user, scope, flt)
    return jsonify(
        items=[task_json(r) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
        next_after=rows[-1].id if len(rows) == limit else None,
    )


@bp.get("/tasks/<int:task_id>")
@token_required
def task_detail(task_id: int):
    view = tasks.get_task(session(), g.api_user, task_id)
    types = {f["id"]: f["type"] for f in view.fields}
    values = {k: _mask_value(types.get(k), k, v) for k, v in view.values.items()}
    answer = task_json(view.task)
    answer["form"] = {"fields": [field_json(f) for f in view.fields], "values": values}
    from webapp.api_worklists import task_reminders

    answer["reminders"] = task_reminders(view.task)
    answer.update(casework.task_extras(view))
    return jsonify(answer)


@bp.post("/tasks/<int:task_id>/claim")
@token_required
def task_claim(task_id: int):
    return jsonify(task_json(tasks.claim(session(), g.api_user, task_id)))


@bp.post("/tasks/<int:task_id>/unclaim")
@token_required
def task_unclaim(task_id: int):
    return jsonify(task_json(tasks.unclaim(session(), g.api_user, task_id)))


@bp.post("/tasks/<int:task_id>/complete")
@token_required
def task_complete(task_id: int):
    data = body().get("data", {})
    if not isinstance(data, dict):
        raise ValidationFailed("data 应为 JSON 对象", errors={"data": "data 应为 JSON 对象"})
    row = tasks.complete(session(), g.api_user, task_id, data)
    case = row.case
    return jsonify(task=task_json(row), case={"id": case.id, "status": case.status})


# --- cases -------------------------------------------------------------------------------------


def _campaign_id(value: Any) -> int | None:
    """A campaign by id, or by its code ("jq2026")."""
    if isinstance(value, bool) or value in (None, ""):
        return None
    if isinstance(value, str):
        found = session().scalars(select(Campaign.id).where(Campaign.code == value)).first()
        if found is not None or not re.fullmatch(r"[0-9]{1,10}", value):
            return found
        value = int(value)
    if isinstance(value, int):
        return value if 0 < value <= MAX_ID else 0  # 0: no such campaign (never a valid id)
    return None


@bp.post("/cases")
@token_required
def case_start():
    payload = body()
    process = payload.get("process")
    if not isinstance(process, str) or not process:
        message = "请指定业务类型（process）"
        raise ValidationFailed(message, errors={"process": message})
    data = payload.get("data")
    if not isinstance(data, dict):
        raise ValidationFailed("data 应为 JSON 对象", errors={"data": "data 应为 JSON 对象"})
    case = cases.start_case(
        session(), g.api_user, process, data, _campaign_id(payload.get("campaign"))
    )
    return jsonify(case=case_json(case)), 201


@bp.post("/files")
@token_required
def file_upload():
    """Upload an attachment (PDF, JPG, PNG, at most 10 MB) for a form's file field."""
    upload = request.files.get("file")
    if upload is None:
        raise ValidationFailed(
            "请以 multipart/form-data 上传字段 file", errors={"file": "请选择文件"}
        )
    stored = files.store(session(), g.api_user, upload.filename or "", upload.read())
    return jsonify(
        id=stored.id, filename=stored.filename, content_type=stored.content_type, size=stored.size
    ), 201


@bp.get("/files/<int:file_id>")
@token_required
def file_download(file_id: int):
    """A file's content: one's own upload, or a file of a case in one's scope (as /files)."""
    return file_answer(*files.readable(session(), g.api_user, file_id))


@bp.get("/cases/<int:case_id>")
@token_required
def case_detail(case_id: int):
    db, user = session(), g.api_user
    case = cases.get_case(db, user, case_id)
    return jsonify(
        case=case_json(case) | {"waiting": casework.waiting_json(progress.waiting(db, case))},
        open_tasks=[task_json(t) for t in cases.open_tasks(db, case.id)],
        history=[history_json(e) for e in cases.history(db, user, case.id)],
        data=masked_case_data(db, case),
    )


# --- notices (public) --------------------------------------------------------------------------


@bp.get("/notices")
def notice_list():
    rows = notices.current_notices(session(), request.args.get("org") or None)
    return jsonify(items=[notice_json(n) for n in rows])


@bp.post("/notices/<int:notice_id>/objections")
@limiter.shared_limit(
    OBJECTION_LIMIT, scope=OBJECTION_SCOPE, on_breach=lambda limit: casework.too_often(limit)
)
def notice_objection(notice_id: int):
    data = body()
    objection = notices.raise_objection(
        session(), notice_id, _text(data.get("contact")), _text(data.get("reason"))
    )
    return (
        jsonify(
            id=objection.id,
            notice_id=objection.notice_id,
            received_at=iso(objection.received_at),
            reference=objection.reference,
            message="异议已受理，公示暂停，工会将调查核实；凭异议编号可查询调查结果",
        ),
        201,
    )


# --- processes (managers only) -----------------------------------------------------------------


def version_json(version: ProcessVersion, summary: processes.VersionSummary | None = None) -> dict:
    """A deployed version; with its summary, the cases running and finished on it."""
    deployer = user_json(version.deployed_by_id)
    answer = {
        "process_id": version.process_id,
        "number": version.number,
        "name": version.name,
        "deployed_at": iso(version.deployed_at),
        "deployed_by": deployer["display_name"] if deployer else "系统",
        "comment": version.comment,
        "checksum": version.checksum,
    }
    if summary is not None:
        answer["running"], answer["finished"] = summary.running, summary.finished
    return answer


def _xml_from_body() -> str:
    xml = body().get("xml")
    if not isinstance(xml, str) or not xml.strip():
        message = "请提供流程图 XML（xml）"
        raise ValidationFailed(message, errors={"xml": message})
    return xml


def _refused(err: ValidationFailed):
    found = refusal(err)
    answer = {"code": err.code, "message": err.message, "findings": found}
    answer["errors"] = err.errors or {f["element"] or "xml": f["message"] for f in found}
    return jsonify(answer), 422


def _arrangement_json(shown) -> dict:
    def periods(found) -> list[dict]:
        return [
            {"name": p.name, "first": p.first.isoformat(), "last": p.last.isoformat()}
            for p in found
        ]

    return {
        "year": shown.year,
        "library_knows": shown.library_knows,
        "entered": shown.entered,
        "holidays": [d.isoformat() for d in shown.holidays],
        "workdays": [d.isoformat() for d in shown.workdays],
        "builtin_holidays": periods(shown.builtin_holidays),
        "builtin_workdays": periods(shown.builtin_workdays),
    }


@bp.get("/calendar/<int:year>")
@token_required
def calendar_year(year: int):
    workdays.require_manager(g.api_user)
    if not 2000 <= year <= 2100:  # as when entering a year; dates stop at 9999
        raise ValidationFailed("年份应在 2000 至 2100 之间", errors={"year": "年份无效"})
    return jsonify(_arrangement_json(workdays.arrangement(session(), year)))


@bp.put("/calendar/<int:year>")
@token_required
def calendar_enter(year: int):
    data = body()
    lists = {k: data.get(k, []) for k in ("holidays", "workdays")}
    for key, value in lists.items():
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValidationFailed(f"{key} 应为日期字符串列表", errors={key: "应为日期列表"})
    # One date a line: a bad one is reported as 第 N 行, N its place in the list.
    shown = workdays.enter_year_as(
        session(), g.api_user, year, "\n".join(lists["holidays"]), "\n".join(lists["workdays"])
    )
    return jsonify(_arrangement_json(shown))


@bp.get("/processes")
@token_required
def process_list():
    summaries = processes.list_processes(session(), g.api_user)
    return jsonify(
        [
            {
                "process_id": p.process_id,
                "name": p.name,
                "versions": [version_json(v.version, v) for v in p.versions],
                "draft": {
                    "saved_at": iso(p.draft.saved_at),
                    "saved_by": (user_json(p.draft.saved_by_id) or {}).get("display_name"),
                    "lock_version": p.draft.lock_version,
                }
                if p.draft
                else None,
            }
            for p in summaries
        ]
    )


@bp.get("/processes/<process_id>/versions/<int:number>")
@token_required
def process_version(process_id: str, number: int):
    version = processes.get_version(session(), g.api_user, process_id, number)
    return jsonify(version_json(version) | {"xml": version.bpmn_xml})


@bp.post("/processes/<process_id>/validate")
@token_required
def process_validate(process_id: str):
    processes.require_manager(g.api_user)
    xml = _xml_from_body()
    found = processes.findings_for(session(), g.api_user, xml)
    if not found:
        diagram = processes.read_diagram(processes.parse_xml(xml))
        if diagram.process_id != process_id:
            found.append(
                processes.Finding(
                    diagram.process_id, f"流程标识是“{diagram.process_id}”，应为“{process_id}”"
                )
            )
    return jsonify(findings=[{"element": f.element, "message": f.message} for f in found])


@bp.post("/processes/<process_id>/versions")
@token_required
def process_deploy(process_id: str):
    db, user = session(), g.api_user
    processes.require_manager(user)
    processes.get_process(db, user, process_id)  # 404 for an unknown process
    payload = body()
    xml = _xml_from_body()
    comment = _text(payload.get("comment"))[:500]
    try:
        result = processes.deploy_xml(db, user, process_id, xml, comment=comment)
    except ValidationFailed as err:
        db.rollback()
        return _refused(err)
    return jsonify(version=version_json(result.version), created=result.created), (
        201 if result.created else 200
    )


@bp.post("/processes/<process_id>/versions/<int:number>/rollback")
@token_required
def process_rollback(process_id: str, number: int):
    result = processes.rollback(session(), g.api_user, process_id, number)
    return jsonify(version=version_json(result.version)), 201


@bp.get("/processes/<process_id>/compare")
@token_required
def process_compare(process_id: str):
    processes.require_manager(g.api_user)
    a, b = _int_arg("a", 0, 1), _int_arg("b", 0, 1)
    if not a or not b:
        message = "请用 a、b 指定要比较的两个版本号"
        raise ValidationFailed(message, errors={"a" if not a else "b": message})
    diff = processes.compare(session(), g.api_user, process_id, min(a, b), max(a, b))
    rows = change_list(diff)

    def pick(kind: str, with_change: bool = False) -> list[dict]:
        keys = ("element", "name", "change") if with_change else ("element", "name")
        return [{k: r[k] for k in keys} for r in rows if r["kind"] == kind]

    return jsonify(
        older=diff.older.number,
        newer=diff.newer.number,
        added=pick("added"),
        removed=pick("removed"),
        changed=pick("changed", True),
    )
