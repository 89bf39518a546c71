"""JSON API for 打印文书: the same documents as the pages, as self-contained HTML (the
print stylesheet inlined) for a client that archives them; and the notice rounds as JSON.
Routes on the api blueprint, documented in openapi_documents.py."""

from flask import g, jsonify, request

from webapp import documents as pages
from webapp.api import Unauthorized, bp, org_json, token_required
from webapp.database import session
from workflows import auth, documents


def _optional_user():
    """The caller of a route open to the public: a bearer token is optional, a bad one 401."""
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    user = auth.user_for_token(session(), token) if token else None
    if user is None:
        raise Unauthorized("访问令牌无效或已过期（POST /api/v1/token 重新获取）")
    return user


@bp.get("/documents/notice-sheet")
def document_notice_sheet():
    return pages.notice_sheet_document(_optional_user(), request.args, archive=True)


@bp.get("/documents/notice-rounds")
@token_required
def document_notice_rounds():
    campaign = (request.args.get("campaign") or "").strip()[:40] or None
    rounds = documents.notice_rounds(session(), g.api_user, campaign)
    return jsonify(
        items=[
            {
                **r.key.params(),
                "title": r.title,
                "organisation": org_json(r.org),
                "count": r.count,
                "last_day": r.last_day.isoformat(),
            }
            for r in rounds
        ]
    )


@bp.get("/cases/<int:case_id>/approval-form")
@token_required
def document_approval_form(case_id: int):
    return pages.approval_form_document(g.api_user, case_id, archive=True)


@bp.get("/documents/approval-forms")
@token_required
def document_approval_forms():
    return pages.approval_batch_document(g.api_user, request.args, archive=True)


@bp.get("/batches/<int:batch_id>/roster")
@token_required
def document_roster(batch_id: int):
    return pages.roster_document(g.api_user, batch_id, request.args, archive=True)
