"""困难职工档案: the list with its filters and export, a worker's page (一人一档), and loading
an existing archive from a file (managers: upload, column mapping, preview, confirm, the
import's progress). Rules live in workflows/archive.py and workflows/archive_import.py.
"""

from urllib.parse import urlencode

from flask import (
    Blueprint,
    Response,
    abort,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext
from flask_login import current_user, login_required

from webapp import jobs
from webapp.database import session
from workflows import access, archive, archive_import, cases
from workflows.audit import record
from workflows.clock import local_now
from workflows.errors import Conflict, Forbidden, ValidationFailed
from workflows.models import User
from workflows.tabular import XLSX_MIMETYPE, write_xlsx

bp = Blueprint("archive", __name__)
PAGE_SIZE = 20
URL_CRITERIA = ("org", "category", "status", "due_days", "programme", "name", "subject", "sort")


def _user() -> User:
    return current_user._get_current_object()


def _criteria_from(values) -> archive.ArchiveCriteria:
    org = (values.get("org") or "").strip()
    if org and not org.isdigit():
        abort(400)
    days = (values.get("due_days") or "").strip()
    return archive.ArchiveCriteria(
        org_id=int(org) if org else None,
        category=(values.get("category") or "").strip()[:20],
        status=(values.get("status") or "").strip()[:20],
        due_days=int(days) if days.isdigit() else archive.DUE_DAYS,
        programme=(values.get("programme") or "").strip()[:40],
        name=(values.get("name") or "").strip()[:60],
        subject_key=(values.get("subject") or "").strip()[:64],
        sort=(values.get("sort") or "newest").strip()[:20],
    )


def _url(endpoint: str, criteria: dict, page: int = 1) -> str:
    params = {k: v for k, v in criteria.items() if k in URL_CRITERIA and v}
    if page > 1:
        params["page"] = page
    return url_for(endpoint) + ("?" + urlencode(params) if params else "")


def _current(criteria: archive.ArchiveCriteria) -> dict:
    return {
        "org": str(criteria.org_id) if criteria.org_id is not None else "",
        "category": criteria.category,
        "status": criteria.status,
        "due_days": str(criteria.due_days) if criteria.due_days != archive.DUE_DAYS else "",
        "programme": criteria.programme,
        "name": criteria.name,
        "subject": criteria.subject_key,
        "sort": criteria.sort if criteria.sort != "newest" else "",
    }


def status_labels() -> dict[str, str]:
    return {
        "archived": gettext("在档"),
        "due": gettext("待回头看"),
        "left": gettext("已解困脱困退出"),
        "cancelled": gettext("已注销"),
    }


def sort_labels() -> dict[str, str]:
    return {
        "newest": gettext("最近建档在前"),
        "name": gettext("按姓名"),
        "valid_until": gettext("有效期先到在前"),
        "archived_at": gettext("建档日期新在前"),
    }


@bp.route("/archive", methods=["GET", "POST"])
@login_required
def index():
    db, user = session(), _user()
    archive.require_viewer(user)
    source = request.form if request.method == "POST" else request.args
    id_number = (source.get("id_number") or "").strip()
    if request.method == "POST" or id_number:
        # Post/redirect/get: the number becomes its keyed hash before any URL holds it.
        wanted = {k: (source.get(k) or "").strip() for k in URL_CRITERIA}
        if id_number:
            try:
                wanted["subject"] = cases.id_search_key(id_number)
            except ValidationFailed as err:
                return _render(db, _criteria_from(wanted), None, err.message, 422)
        return redirect(_url("archive.index", wanted), 303)
    criteria = _criteria_from(request.args)
    page = request.args.get("page", "1")
    page = int(page) if page.isdigit() and 0 < int(page) < 100_000 else 1
    try:
        found = archive.search(db, user, criteria, PAGE_SIZE, (page - 1) * PAGE_SIZE)
    except ValidationFailed as err:
        return _render(db, criteria, None, err.message, 422)
    return _render(db, criteria, found, None, 200)


def _render(db, criteria, found, error, status):
    current = _current(criteria)
    pages = None
    if found is not None:
        count = max(1, -(-found.total // PAGE_SIZE))
        number = found.offset // PAGE_SIZE + 1
        pages = {
            "number": number,
            "count": count,
            "previous": _url("archive.index", current, number - 1) if number > 1 else None,
            "next": _url("archive.index", current, number + 1) if number < count else None,
        }
    searched_id = ""
    if criteria.subject_key and found is not None and found.records:
        searched_id = found.records[0].subject_id_masked
    return (
        render_template(
            "archive/index.html",
            criteria=current,
            found=found,
            pages=pages,
            error=error,
            searched_id=searched_id,
            without_id_url=_url("archive.index", dict(current, subject="")),
            export_url=_url("archive.export", current),
            orgs=access.orgs_in_scope(db, current_user),
            categories=archive.category_options(db),
            statuses=status_labels(),
            sorts=sort_labels(),
            programmes=cases.PROGRAMMES,
            may_import=archive_import.may_import(current_user),
            now=local_now(),
        ),
        status,
    )


def xlsx_answer(db, user, criteria: archive.ArchiveCriteria) -> Response:
    """The filtered list as an XLSX download, audited (page and API alike); raises
    ValidationFailed for a filter the list refuses."""
    columns, rows = archive.export_rows(db, user, criteria)
    record(
        db,
        user.id,
        None,
        "archive.export",
        f"导出困难职工档案 {len(rows)} 人"
        + ("（完整号码）" if archive.whole_numbers(user) else ""),
        criteria={k: v for k, v in _current(criteria).items() if v and k != "subject"},
        by_id_number=bool(criteria.subject_key),
        count=len(rows),
    )
    db.commit()
    content = write_xlsx(columns, rows, sheet_name="困难职工档案")
    stamp = local_now().strftime("%Y%m%d")
    answer = Response(content, mimetype=XLSX_MIMETYPE)
    answer.headers["Content-Disposition"] = (
        f"attachment; filename=archive-{stamp}.xlsx; "
        f"filename*=UTF-8''%E5%9B%B0%E9%9A%BE%E8%81%8C%E5%B7%A5%E6%A1%A3%E6%A1%88-{stamp}.xlsx"
    )
    answer.headers["Cache-Control"] = "private, no-store"
    return answer


@bp.get("/archive/export.xlsx")
@login_required
def export():
    db, user = session(), _user()
    criteria = _criteria_from(request.args)
    try:
        return xlsx_answer(db, user, criteria)
    except ValidationFailed as err:
        db.rollback()
        return _render(db, criteria, None, err.message, 422)


@bp.get("/archive/<int:record_id>")
@login_required
def show(record_id: int):
    db, user = session(), _user()
    view = archive.worker_view(db, user, record_id)
    return render_template(
        "archive/show.html",
        view=view,
        r=view.record,
        programmes=cases.PROGRAMMES,
        status_label=cases.status_label,
        payment_labels=cases.PAYMENT_STATUS_LABELS,
        record_status=status_labels(),
        may_apply=user.has_role("caseworker") and view.record.status == "archived",
        year=local_now().year,
    )


@bp.get("/archive/<int:record_id>/apply")
@login_required
def apply(record_id: int):
    """A new application for the worker: the caseworker's form with the known fields."""
    db, user = session(), _user()
    if not user.has_role("caseworker"):
        raise Forbidden(gettext("只有经办人可以登记申请"))
    archive.get_record(db, user, record_id)
    process_id = request.args.get("programme", "seasonal_aid")
    if process_id not in cases.PROGRAMMES:
        abort(404)
    params = {"from_archive": record_id}
    if request.args.get("campaign", "").isdigit():
        params["campaign"] = request.args["campaign"]
    return redirect(url_for("tasks.new_case", process_id=process_id, **params))


# --- loading an existing archive ---------------------------------------------------------


@bp.app_template_filter("import_status")
def import_status(status: str) -> str:
    return {
        "preview": gettext("待确认"),
        "running": gettext("导入中"),
        "done": gettext("已完成"),
        "failed": gettext("已中断"),
        "discarded": gettext("已放弃"),
    }.get(status, status)


def _require_importer(user: User) -> None:
    if not archive_import.may_import(user):
        raise Forbidden(gettext("只有管理员可以导入档案"))


def field_labels() -> dict[str, str]:
    return {name: gettext(label) for name, label in archive_import.FIELD_LABELS.items()}


def _render_import(
    db, user, error: str = "", errors: dict | None = None, values=None, status=200, headers=()
):
    mapping = archive_import.saved_mapping(db, user.org_id)
    return (
        render_template(
            "archive/import.html",
            error=error,
            errors=errors or {},
            headers=list(headers),
            values=values or {},
            mapping=mapping,
            fields=field_labels(),
            orgs=access.orgs_in_scope(db, user),
            imports=archive_import.imports(db, user),
        ),
        status,
    )


@bp.get("/archive/import")
@login_required
def import_form():
    db, user = session(), _user()
    _require_importer(user)
    return _render_import(db, user)[0]


@bp.post("/archive/import")
@login_required
def import_upload():
    db, user = session(), _user()
    _require_importer(user)
    upload = request.files.get("file")
    values = {k: (request.form.get(k) or "").strip() for k in ("org",)}
    mapping = {
        name: (request.form.get(f"map_{name}") or "").strip() for name in archive_import.FIELDS
    }
    values.update({f"map_{k}": v for k, v in mapping.items()})
    if upload is None or not upload.filename:
        return _render_import(db, user, gettext("请选择要导入的文件"), values=values, status=422)
    content = upload.read(archive_import.tabular.MAX_FILE_BYTES + 1)
    try:
        row = archive_import.preview(
            db, user, upload.filename, content, values["org"] or None, mapping
        )
    except archive_import.AlreadyImported as err:
        return _render_import(db, user, err.message, values=values, status=409)
    except ValidationFailed as err:
        headers = err.details.get("headers") or []
        return _render_import(db, user, err.message, err.errors, values, 422, headers)
    return redirect(url_for("archive.import_show", import_id=row.id), 303)


@bp.get("/archive/imports/<int:import_id>")
@login_required
def import_show(import_id: int, error: str = "", status: int = 200):
    db, user = session(), _user()
    row = archive_import.get_import(db, user, import_id)
    return (
        render_template(
            "archive/preview.html",
            row=row,
            report=archive_import.report(row),
            fields=field_labels(),
            error=error,
        ),
        status,
    )


@bp.post("/archive/imports/<int:import_id>/confirm")
@login_required
def import_confirm(import_id: int):
    db, user = session(), _user()
    skip_bad = request.form.get("skip_bad") == "yes"
    try:
        row = archive_import.confirm(db, user, import_id, skip_bad)
    except ValidationFailed as err:
        return import_show(import_id, err.message, 422)
    except Conflict as err:
        return import_show(import_id, err.message, 409)
    jobs.start("archive-import", archive_import.run_import, row.id)
    return redirect(url_for("archive.import_show", import_id=import_id), 303)


@bp.post("/archive/imports/<int:import_id>/discard")
@login_required
def import_discard(import_id: int):
    db, user = session(), _user()
    try:
        archive_import.discard(db, user, import_id)
    except Conflict as err:
        return import_show(import_id, err.message, 409)
    return redirect(url_for("archive.import_form"), 303)


@bp.get("/archive/imports/<int:import_id>.json")
@login_required
def import_progress(import_id: int):
    db, user = session(), _user()
    row = archive_import.get_import(db, user, import_id)
    data = archive_import.import_json(row)
    data.pop("report", None)
    return jsonify(data)
