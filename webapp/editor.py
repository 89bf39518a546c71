"""The in-browser process editor (managers only; rules in workflows/processes.py).

A page with the bpmn-js Modeler and its properties panel (Camunda 7 provider), and the
JSON calls it makes: load the draft or newest version, save a draft (a stale
lock_version is a 409 conflict), validate (findings keyed by element id, for the page to
mark on the diagram) and deploy (validated first: 422 with the findings, or 201 with
the new version). The calls send the CSRF token in the X-CSRFToken header.

Deploying from the editor is POST /processes/<id>/deploy.json: the plain .../deploy is the
processes page's file upload (a form post, answered with a page).
"""

import functools
from pathlib import Path

from flask import Blueprint, current_app, jsonify, render_template, request
from flask_login import current_user, login_required

from webapp.database import session
from webapp.errors import STATUS
from workflows import processes
from workflows.errors import ValidationFailed, WarmflowError

bp = Blueprint("editor", __name__)

EDITOR_BUNDLE = "vendor/editor/editor.js"
MAX_COMMENT = 500


def _editor_installed() -> bool:
    return (Path(current_app.static_folder) / EDITOR_BUNDLE).is_file()


def _json_errors(view):
    """The editor's calls answer errors as JSON {code, message} (the page shows them)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except WarmflowError as err:
            status = next((s for cls, s in STATUS.items() if isinstance(err, cls)), 400)
            body = {"code": err.code, "message": err.message}
            if isinstance(err, ValidationFailed):
                body["findings"] = err.details.get("findings") or [
                    {"element": "", "message": err.message}
                ]
            return jsonify(body), status

    return wrapper


def _no_store(answer):
    answer.headers["Cache-Control"] = "private, no-store"
    return answer


def _posted() -> dict:
    """The JSON body of an editor call; it always carries the diagram as `xml`."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not isinstance(data.get("xml"), str) or not data["xml"]:
        raise ValidationFailed("请求中缺少流程图（xml）")
    return data


def _findings(process_id: str, xml: str) -> list[dict]:
    """Everything wrong with the diagram, including being another process's file."""
    db = session()
    found = processes.findings_for(db, current_user, xml)
    if not found:
        diagram = processes.read_diagram(processes.parse_xml(xml))
        if diagram.process_id != process_id:
            found = [
                processes.Finding(
                    "", f"流程标识是“{diagram.process_id}”，应为“{process_id}”（不可修改）"
                )
            ]
    return [{"element": f.element, "message": f.message} for f in found]


@bp.get("/processes/<process_id>/edit")
@login_required
def edit(process_id: str):
    summary = processes.get_process(session(), current_user, process_id)
    return render_template(
        "processes/editor.html",
        summary=summary,
        editor_installed=_editor_installed(),
    )


@bp.get("/processes/<process_id>/source.json")
@login_required
@_json_errors
def source(process_id: str):
    summary = processes.get_process(session(), current_user, process_id)
    latest = summary.latest
    if summary.draft is not None:
        body = {
            "xml": summary.draft.bpmn_xml,
            "lock_version": summary.draft.lock_version,
            "from": "draft",
            "number": latest.number,
        }
    else:
        # lock_version 0: "no draft yet", so a draft someone saved meanwhile is a conflict.
        body = {
            "xml": latest.bpmn_xml,
            "lock_version": 0,
            "from": "version",
            "number": latest.number,
        }
    return _no_store(jsonify(body))


@bp.post("/processes/<process_id>/draft")
@login_required
@_json_errors
def draft(process_id: str):
    db = session()
    processes.get_process(db, current_user, process_id)  # managers only; the process exists
    data = _posted()
    lock_version = data.get("lock_version")
    if lock_version is not None and (
        not isinstance(lock_version, int) or isinstance(lock_version, bool)
    ):
        raise ValidationFailed("lock_version 应为整数")
    saved = processes.save_draft(db, current_user, process_id, data["xml"], lock_version)
    return _no_store(jsonify(lock_version=saved.lock_version))


@bp.post("/processes/<process_id>/validate")
@login_required
@_json_errors
def validate(process_id: str):
    processes.get_process(session(), current_user, process_id)
    return _no_store(jsonify(findings=_findings(process_id, _posted()["xml"])))


@bp.post("/processes/<process_id>/deploy.json")
@login_required
@_json_errors
def deploy(process_id: str):
    db = session()
    processes.get_process(db, current_user, process_id)
    data = _posted()
    xml, comment = data["xml"], data.get("comment") or ""
    if not isinstance(comment, str):
        raise ValidationFailed("部署说明应为文字")
    found = _findings(process_id, xml)
    if found:
        return _no_store(
            jsonify(code="invalid", message=f"未通过校验，共 {len(found)} 个问题", findings=found)
        ), 422
    result = processes.deploy_xml(db, current_user, process_id, xml, comment.strip()[:MAX_COMMENT])
    return _no_store(jsonify(number=result.version.number, created=result.created)), (
        201 if result.created else 200
    )
