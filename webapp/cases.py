"""Pages for the cases area (see workflows/cases.py for the rules): the case page with its
diagram, case search, and downloading a case's files."""

import os
import re
from pathlib import Path
from urllib.parse import urlencode

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import get_locale, gettext
from flask_login import current_user, login_required

from webapp.database import session
from workflows import access, cases, files, progress
from workflows.clock import CST, now
from workflows.errors import Conflict, Forbidden, ValidationFailed

bp = Blueprint("cases", __name__)

PAGE_SIZE = 20
VIEWER_BUNDLE = "vendor/bpmn-js/bpmn-viewer.production.min.js"
# The criteria a search URL may carry. Never the ID number: it would land in access logs
# and browser history, so the form posts it and the redirect carries its keyed hash.
URL_CRITERIA = ("case_no", "name", "subject", "status", "programme", "org")
EXTENSIONS = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}
UNSAFE_IN_NAME = re.compile(r'[\x00-\x1f\x7f"\\/:*?<>|]')


def _waiting_texts() -> dict[str, str]:
    # gettext at render time: the catalogue's words for progress.TEXTS, {day} → %(day)s.
    return {
        "notice": gettext("公示中，至 %(day)s期满"),
        "objection": gettext("异议调查中"),
        "payable": gettext("待财务生成发放批次"),
        "in_batch": gettext("已编入发放批次，待财务发送银行"),
        "sent": gettext("已发送银行，等待回盘"),
        "bank_answered": gettext("银行已回盘，系统处理中"),
        "archived": gettext("已建档，%(day)s回头看复核"),
        "timer": gettext("等待至 %(day)s"),
        "system": gettext("系统处理中"),
    }


@bp.app_template_filter("month_day")
def month_day(day) -> str:
    """12月8日 in Chinese, 8 Dec in English (with the year when not this year)."""
    if str(get_locale()) != "en":
        return progress.month_day(day)
    shown = day.strftime("%b ") + str(day.day)
    return shown if day.year == now().astimezone(CST).year else f"{shown}, {day.year}"


@bp.app_template_filter("waiting_text")
def waiting_text(waiting: progress.Waiting | None) -> str:
    """Why a case waits on no person, in the page's language."""
    if waiting is None:
        return ""
    text = _waiting_texts().get(waiting.code)
    if text is None:
        return waiting.text
    return text % {"day": month_day(waiting.until) if waiting.until else ""}


def _viewer_installed() -> bool:
    return (Path(current_app.static_folder) / VIEWER_BUNDLE).is_file()


@bp.get("/cases/<int:case_id>")
@login_required
def show(case_id: int):
    view = cases.case_view(session(), current_user, case_id)
    return render_template(
        "cases/show.html",
        view=view,
        case=view.case,
        case_files={f.id: f for f in view.files},
        viewer_installed=_viewer_installed(),
        payment_labels=cases.PAYMENT_STATUS_LABELS,
        notice_labels=cases.NOTICE_STATUS_LABELS,
    )


@bp.route("/cases/<int:case_id>/withdraw", methods=["GET", "POST"])
@login_required
def withdraw(case_id: int):
    """撤销: the caseworker withdraws a case with a reason, after seeing what follows."""
    db = session()
    view = cases.case_view(db, current_user, case_id)
    reason, error, status = "", "", 200
    if request.method == "POST":
        reason = (request.form.get("reason") or "").strip()
        try:
            cases.cancel_case(db, current_user, case_id, reason)
        except (ValidationFailed, Conflict) as err:
            db.rollback()
            error, status = gettext(err.message), 422 if isinstance(err, ValidationFailed) else 409
        else:
            flash(gettext("案件 %(case_no)s 已撤销", case_no=view.case.case_no), "info")
            return redirect(url_for("cases.show", case_id=case_id))
    elif not view.withdrawable:
        error, status = gettext(view.withdraw_refusal), 409
    page = render_template(
        "cases/withdraw.html", view=view, case=view.case, reason=reason, error=error
    )
    return page, status


@bp.get("/cases/<int:case_id>/diagram.json")
@login_required
def diagram(case_id: int):
    answer = jsonify(cases.case_diagrams(session(), current_user, case_id))
    answer.headers["Cache-Control"] = "private, no-store"
    return answer


def _download_name(filename: str, content_type: str) -> str:
    """The stored name without path parts or characters that break a header, ending in
    the extension of what the file really is."""
    name = UNSAFE_IN_NAME.sub("_", os.path.basename(filename or "")).strip(" .") or "附件"
    extension = EXTENSIONS.get(content_type, "")
    stem, current = os.path.splitext(name)
    if extension and current.lower() not in (extension, ".jpeg" if extension == ".jpg" else ""):
        name += extension
    return name[:120]


@bp.get("/files/<int:file_id>")
@login_required
def download(file_id: int):
    return file_answer(*files.readable(session(), current_user, file_id))


def file_answer(stored, path: Path):
    """A stored file as a download (the page and the API alike): its real type, a safe
    name, never cached, never sniffed."""
    answer = send_file(
        path,
        mimetype=stored.content_type,
        as_attachment=True,
        download_name=_download_name(stored.filename, stored.content_type),
        conditional=True,
        etag=False,
        max_age=0,
    )
    answer.headers["X-Content-Type-Options"] = "nosniff"
    answer.headers["Cache-Control"] = "private, no-store"
    return answer


# What a file shown in the browser may load: nothing but itself. Uploads are only ever
# PDF, JPEG or PNG (recognised by their bytes in workflows/files.py). The pages' policy
# would stop the browser's PDF viewer (`object-src 'none'`), so a file has its own.
VIEW_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'"


@bp.get("/files/<int:file_id>/view")
@login_required
def view_file(file_id: int):
    """A case's image or PDF shown in the browser (thumbnails, preview, 在浏览器中打开)."""
    stored, path = files.readable(session(), current_user, file_id)
    answer = send_file(
        path,
        mimetype=stored.content_type,
        as_attachment=False,
        download_name=_download_name(stored.filename, stored.content_type),
        conditional=True,
        etag=False,
        max_age=0,
    )
    answer.headers["Content-Security-Policy"] = VIEW_CSP
    answer.headers["X-Content-Type-Options"] = "nosniff"
    answer.headers["Cache-Control"] = "private, no-store"
    return answer


def _criteria_from(values) -> cases.CaseCriteria:
    org = (values.get("org") or "").strip()
    if org and not org.isdigit():
        abort(400)
    return cases.CaseCriteria(
        case_no=(values.get("case_no") or "").strip()[:30],
        name=(values.get("name") or "").strip()[:60],
        subject_key=(values.get("subject") or "").strip()[:64],
        status=(values.get("status") or "").strip(),
        programme=(values.get("programme") or "").strip(),
        org_id=int(org) if org else None,
    )


def _search_url(criteria: dict, page: int = 1) -> str:
    params = {k: v for k, v in criteria.items() if k in URL_CRITERIA and v}
    if page > 1:
        params["page"] = page
    return url_for("cases.search") + ("?" + urlencode(params) if params else "")


@bp.route("/cases", methods=["GET", "POST"])
@login_required
def search():
    db = session()
    if not cases.may_search(current_user):
        raise Forbidden(gettext("无权查询案件"))
    source = request.form if request.method == "POST" else request.args
    id_number = (source.get("id_number") or "").strip()
    if request.method == "POST" or id_number:
        # Post/redirect/get: the number becomes its keyed hash before any URL holds it.
        wanted = {k: (source.get(k) or "").strip() for k in URL_CRITERIA}
        if id_number:
            try:
                wanted["subject"] = cases.id_search_key(id_number)
            except ValidationFailed as err:
                return _render_search(db, _criteria_from(wanted), None, err.message, 422)
        return redirect(_search_url(wanted), 303)

    criteria = _criteria_from(request.args)
    page = request.args.get("page", "1")
    page = int(page) if page.isdigit() and int(page) > 0 else 1
    try:
        found = cases.search(db, current_user, criteria, PAGE_SIZE, (page - 1) * PAGE_SIZE)
    except ValidationFailed as err:
        return _render_search(db, criteria, None, err.message, 422)
    return _render_search(db, criteria, found, None, 200)


def _render_search(db, criteria: cases.CaseCriteria, found, error: str | None, status: int):
    current = {
        "case_no": criteria.case_no,
        "name": criteria.name,
        "subject": criteria.subject_key,
        "status": criteria.status,
        "programme": criteria.programme,
        "org": str(criteria.org_id) if criteria.org_id is not None else "",
    }
    pages = None
    if found is not None:
        count = max(1, -(-found.total // PAGE_SIZE))
        number = found.offset // PAGE_SIZE + 1
        pages = {
            "number": number,
            "count": count,
            "previous": _search_url(current, number - 1) if number > 1 else None,
            "next": _search_url(current, number + 1) if number < count else None,
        }
    # The masked number of an ID search, to show what was searched for without the number.
    searched_id = ""
    if criteria.subject_key and found is not None and found.cases:
        searched_id = found.cases[0].subject_id_masked
    return (
        render_template(
            "cases/search.html",
            criteria=current,
            found=found,
            pages=pages,
            error=error,
            searched_id=searched_id,
            without_id_url=_search_url(dict(current, subject="")),
            orgs=access.orgs_in_scope(db, current_user),
            programmes=cases.PROGRAMMES,
            statuses=cases.STATUS_LABELS,
            status_label=cases.status_label,
            waiting=progress.waiting_for(db, found.cases) if found is not None else {},
        ),
        status,
    )
