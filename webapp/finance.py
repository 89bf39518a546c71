"""银行发放 (finance officers): payment batches, bank files, result import.

Rules live in workflows/batches.py; these are the pages for them. Every page asks the
services, which refuse anyone but finance (403); the blueprint refuses them first too, so
that a refused user never reaches a form's own checks.
"""

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext
from flask_login import current_user, login_required
from sqlalchemy import select

from webapp import jobs
from webapp.api import scrub
from webapp.database import session
from webapp.errors import N_
from workflows import batches, privacy
from workflows.errors import Conflict, Forbidden, ValidationFailed
from workflows.models import Campaign, Organisation, PaymentBatch, User

bp = Blueprint("finance", __name__)

PER_PAGE = 50
# The line filter on the batch page and in the API: its word → the stored result.
RESULT_FILTERS = {"waiting": "", "paid": "paid", "failed": "failed"}


def _user() -> User:
    return current_user._get_current_object()


def require_finance(user: User) -> None:
    if not user.has_role("finance"):
        raise Forbidden(N_("只有财务人员可以办理银行发放"))


@bp.before_request
@login_required
def _finance_only():
    require_finance(_user())


def deliver(factory) -> None:
    """Background job after an import: move each case on (paid → closed, failed →
    更正银行卡), one case per transaction, in a session of its own."""
    with factory() as db:
        batches.deliver_results(db)


def bank_file_response(bank: batches.BankFile) -> Response:
    """The bank file as a download. Its name is the batch reference only."""
    answer = Response(bank.content, mimetype=bank.mimetype)
    answer.headers["Content-Disposition"] = f'attachment; filename="{bank.filename}"'
    answer.headers["X-Content-Type-Options"] = "nosniff"
    answer.headers["Cache-Control"] = "private, no-store"
    return answer


def safe_reason(text: str | None) -> str:
    """A bank's free-text reason, with any card-like number in it masked."""
    return scrub(text or "")


def names_for(db, rows: list[PaymentBatch]) -> tuple[dict, dict]:
    """Campaigns and organisations of some batches, by id (one query each)."""
    campaign_ids = {b.campaign_id for b in rows if b.campaign_id}
    org_ids = {b.org_id for b in rows if b.org_id}
    campaigns = {c.id: c for c in db.scalars(select(Campaign).where(Campaign.id.in_(campaign_ids)))}
    orgs = {o.id: o for o in db.scalars(select(Organisation).where(Organisation.id.in_(org_ids)))}
    return campaigns, orgs


# --- 待发放 and the batches ----------------------------------------------------------------


@bp.get("/finance")
def index():
    db, user = session(), _user()
    groups = batches.payable_groups(db, user)
    rows = batches.list_batches(db, user)
    campaigns, orgs = names_for(db, rows)
    return render_template(
        "finance/index.html",
        groups=groups,
        rows=rows,
        campaigns=campaigns,
        orgs=orgs,
        status_labels=batches.BATCH_STATUS_LABELS,
    )


def _form_id(name: str) -> int | None:
    raw = (request.form.get(name) or "").strip()
    return int(raw) if raw.isdigit() and 0 < int(raw) < 2**31 else None


@bp.post("/finance/batches")
def build():
    campaign_id, org_id = _form_id("campaign_id"), _form_id("org_id")
    db = session()
    try:
        if campaign_id is None or org_id is None:
            raise ValidationFailed(gettext("请选择要发放的活动和单位"))
        batch = batches.build_batch(db, _user(), campaign_id, org_id)
    except (ValidationFailed, Conflict) as err:
        db.rollback()
        flash(err.message, "error")
        return redirect(url_for("finance.index"), 303)
    flash(
        gettext(
            "已生成批次 %(reference)s：%(count)s 笔，共 %(total)s 元",
            reference=batch.reference,
            count=batch.line_count,
            total=batches.yuan(batch.total_fen),
        ),
        "info",
    )
    return redirect(url_for("finance.batch", batch_id=batch.id), 303)


# --- one batch -----------------------------------------------------------------------------


def _page_arg() -> int:
    raw = (request.args.get("page") or "").strip()
    return int(raw) if raw.isdigit() and 0 < int(raw) < 10**6 else 1


def _render_batch(
    batch_id: int,
    report: batches.ImportReport | None = None,
    refused: dict | None = None,
    status: int = 200,
):
    db, user = session(), _user()
    batch = batches.get_batch(db, user, batch_id)
    counts = batches.batch_counts(db, batch)
    shown = request.args.get("result") or "all"
    if shown not in RESULT_FILTERS:
        shown = "all"
    page = _page_arg()
    lines, total = batches.batch_lines(
        db,
        user,
        batch_id,
        result=RESULT_FILTERS.get(shown),
        offset=(page - 1) * PER_PAGE,
        limit=PER_PAGE,
    )
    pages = max(1, -(-total // PER_PAGE))

    def page_url(**changes) -> str:
        merged = {"result": shown, "page": page, **changes}
        args = {k: v for k, v in merged.items() if v not in ("", None, "all", 1)}
        return url_for("finance.batch", batch_id=batch_id, **args)

    return (
        render_template(
            "finance/batch.html",
            batch=batch,
            campaign=db.get(Campaign, batch.campaign_id) if batch.campaign_id else None,
            org=db.get(Organisation, batch.org_id) if batch.org_id else None,
            counts=counts,
            waiting_fen=batch.total_fen - counts.paid_fen - counts.failed_fen,
            lines=lines,
            total=total,
            page=page,
            pages=pages,
            page_url=page_url,
            shown=shown,
            status_labels=batches.BATCH_STATUS_LABELS,
            result_labels=batches.LINE_RESULT_LABELS,
            report=report,
            refused=refused,
            mask_card=privacy.mask_card,
            safe_reason=safe_reason,
        ),
        status,
    )


@bp.get("/finance/batches/<int:batch_id>")
def batch(batch_id: int):
    return _render_batch(batch_id)


@bp.get("/finance/batches/<int:batch_id>/bank-file.<fmt>")
def bank_file(batch_id: int, fmt: str):
    if fmt not in ("csv", "xlsx"):
        raise ValidationFailed(gettext("文件格式应为 CSV 或 XLSX"))
    return bank_file_response(batches.bank_file(session(), _user(), batch_id, fmt))


@bp.post("/finance/batches/<int:batch_id>/sent")
def sent(batch_id: int):
    db = session()
    try:
        row = batches.mark_sent(db, _user(), batch_id)
    except Conflict as err:
        db.rollback()
        flash(err.message, "error")
    else:
        flash(gettext("批次 %(reference)s 已标记为已发送银行", reference=row.reference), "info")
    return redirect(url_for("finance.batch", batch_id=batch_id), 303)


@bp.get("/finance/batches/<int:batch_id>/cancel")
def cancel_confirm(batch_id: int):
    db = session()
    row = batches.get_batch(db, _user(), batch_id)
    if row.status != "draft":
        flash(gettext("批次已发送银行，不能撤销"), "error")
        return redirect(url_for("finance.batch", batch_id=batch_id), 303)
    return render_template("finance/cancel.html", batch=row)


@bp.post("/finance/batches/<int:batch_id>/cancel")
def cancel(batch_id: int):
    db = session()
    reference = batches.get_batch(db, _user(), batch_id).reference
    try:
        batches.cancel_batch(db, _user(), batch_id)
    except Conflict as err:
        db.rollback()
        flash(err.message, "error")
        return redirect(url_for("finance.batch", batch_id=batch_id), 303)
    flash(gettext("已撤销批次 %(reference)s，其中的付款已回到待发放", reference=reference), "info")
    return redirect(url_for("finance.index"), 303)


@bp.post("/finance/batches/<int:batch_id>/results")
def results(batch_id: int):
    db, user = session(), _user()
    batches.get_batch(db, user, batch_id)  # 403/404 before reading the upload
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise ValidationFailed(gettext("请选择银行返回的结果文件（CSV 或 XLSX）"))
        content = upload.read(batches.MAX_RESULT_FILE + 1)
        report = batches.import_results(db, user, batch_id, upload.filename, content)
    except ValidationFailed as err:
        db.rollback()
        refused = {"message": err.message, "errors": err.errors or {}}
        return _render_batch(batch_id, refused=refused, status=422)
    except Conflict as err:
        db.rollback()
        return _render_batch(batch_id, refused={"message": err.message, "errors": {}}, status=409)
    if not report.repeated and (report.paid or report.failed):
        jobs.start("deliver", deliver)
    return _render_batch(batch_id, report=report)
