"""JSON API for 困难职工档案: the list with the page's filters, a worker with the whole aid
history, and loading an existing archive (preview, then confirm; the progress). Routes on
the api blueprint, documented in openapi_archive.py; the same services as the pages."""

import json

from flask import g, jsonify, request

from webapp import jobs
from webapp.api import _int_arg, bp, iso, token_required
from webapp.database import session
from workflows import archive, archive_import, cases, privacy
from workflows.errors import ValidationFailed
from workflows.models import HardshipRecord, Organisation


def record_json(row: HardshipRecord, org: Organisation | None) -> dict:
    return {
        "id": row.id,
        "worker_name": privacy.mask_name(row.worker_name),
        "id_number": row.subject_id_masked,
        "gender": row.gender or None,
        "org": {"id": org.id, "code": org.code, "name": org.name} if org else None,
        "category": row.category,
        "status": row.status,
        "archived_at": iso(row.archived_at),
        "valid_until": iso(row.valid_until),
        "case_id": row.case_id,
        "import_id": row.import_id,
        "source_line": row.source_line,
    }


def _criteria() -> archive.ArchiveCriteria:
    args = request.args
    org = args.get("org_id", "")
    if org and (not org.isdigit() or int(org) > 2**31 - 1):
        raise ValidationFailed("单位 id 应为正整数", errors={"org_id": "应为正整数"})
    return archive.ArchiveCriteria(
        org_id=int(org) if org else None,
        category=args.get("category", "")[:20],
        status=args.get("status", "")[:20],
        due_days=_int_arg("due_days", archive.DUE_DAYS, 0, 366),
        programme=args.get("programme", "")[:40],
        name=args.get("name", "")[:60],
        id_number=args.get("id_number", "")[:30],
        sort=args.get("sort", "newest")[:20],
    )


@bp.get("/archive")
@token_required
def archive_list():
    db, user = session(), g.api_user
    limit = _int_arg("limit", 50, 1, 100)
    offset = _int_arg("offset", 0, 0, 10_000_000)
    found = archive.search(db, user, _criteria(), limit, offset)
    return jsonify(
        items=[record_json(r, found.orgs.get(r.org_id)) for r in found.records],
        total=found.total,
        limit=found.limit,
        offset=found.offset,
    )


@bp.get("/archive/export.xlsx")
@token_required
def archive_export():
    """The list with the same filters as an XLSX file, audited as the page's export."""
    from webapp.archive import xlsx_answer

    return xlsx_answer(session(), g.api_user, _criteria())


@bp.get("/archive/<int:record_id>")
@token_required
def archive_worker(record_id: int):
    db, user = session(), g.api_user
    view = archive.worker_view(db, user, record_id)
    r = view.record
    return jsonify(
        record=record_json(r, view.org)
        | {
            "household_size": r.household_size,
            "monthly_income_fen": r.monthly_income_fen,
            "cause": r.cause,
            "bank_card": ("*" * max(0, len(r.bank_card) - 4) + r.bank_card[-4:])
            if r.bank_card
            else None,
            "next_recheck": iso(view.next_recheck),
            "provenance": {
                "filename": view.provenance.filename,
                "sha256": view.provenance.sha256,
                "line": r.source_line,
                "imported_by": view.provenance.confirmed_by_id,
                "imported_at": iso(view.provenance.confirmed_at),
            }
            if view.provenance
            else None,
        },
        history=[
            {
                "case_id": e.case.id,
                "case_no": e.case.case_no,
                "programme": e.case.programme,
                "programme_label": cases.PROGRAMMES[e.case.programme].label
                if e.case.programme in cases.PROGRAMMES
                else e.case.programme,
                "campaign": e.campaign.name if e.campaign else None,
                "amount_fen": e.amount_fen,
                "status": e.case.status,
                "outcome": e.case.outcome or None,
                "payment_status": e.payment_status or None,
                "received": e.received,
                "created_at": iso(e.case.created_at),
            }
            for e in view.history
        ],
        totals=[{"year": y, "received_fen": fen} for y, fen in view.totals],
    )


def _import_answer(row) -> dict:
    data = archive_import.import_json(row)
    data["created_at"] = iso(row.created_at)
    data["finished_at"] = iso(row.finished_at)
    return data


@bp.post("/archive/imports")
@token_required
def archive_import_preview():
    """Check a whole file and keep its preview; nothing enters the archive yet."""
    db, user = session(), g.api_user
    upload = request.files.get("file")
    if upload is None:
        raise ValidationFailed(
            "请以 multipart/form-data 上传字段 file", errors={"file": "请选择文件"}
        )
    mapping_text = request.form.get("mapping", "")
    mapping = {}
    if mapping_text:
        try:
            mapping = json.loads(mapping_text)
        except ValueError:
            mapping = None
        if not isinstance(mapping, dict):
            raise ValidationFailed("mapping 应为 JSON 对象", errors={"mapping": "格式不对"})
    content = upload.read(archive_import.tabular.MAX_FILE_BYTES + 1)
    row = archive_import.preview(
        db, user, upload.filename or "", content, request.form.get("org_code") or None, mapping
    )
    return jsonify(_import_answer(row)), 201


@bp.get("/archive/imports/<int:import_id>")
@token_required
def archive_import_detail(import_id: int):
    row = archive_import.get_import(session(), g.api_user, import_id)
    return jsonify(_import_answer(row))


@bp.post("/archive/imports/<int:import_id>/confirm")
@token_required
def archive_import_confirm(import_id: int):
    data = request.get_json(silent=True)
    skip_bad = bool(data.get("skip_bad")) if isinstance(data, dict) else False
    db = session()
    row = archive_import.confirm(db, g.api_user, import_id, skip_bad)
    jobs.start("archive-import", archive_import.run_import, row.id)
    db.expire_all()
    return jsonify(_import_answer(archive_import.get_import(db, g.api_user, import_id))), 202
