"""Pages for the processes area (managers only; rules in workflows/processes.py): every
process with its versions and their cases, download, compare, roll back, and deploying
an uploaded .bpmn file. Every page asks the services, which refuse non-managers (403)."""

from pathlib import Path

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext
from flask_login import current_user, login_required

from webapp.database import session
from workflows import processes
from workflows.errors import ValidationFailed
from workflows.models import User

bp = Blueprint("processes", __name__)

VIEWER_BUNDLE = "vendor/bpmn-js/bpmn-viewer.production.min.js"


def _user() -> User:
    return current_user._get_current_object()


@bp.before_request
@login_required
def _managers_only():
    """Refuse anyone but a manager before a page reads anything (the services check too)."""
    processes.require_manager(_user())


def _viewer_installed() -> bool:
    return (Path(current_app.static_folder) / VIEWER_BUNDLE).is_file()


def refusal(err: ValidationFailed) -> list[dict]:
    """The findings of a refused diagram: element id and Chinese message for each."""
    found = err.details.get("findings")
    if found:
        return list(found)
    return [{"element": "", "message": err.message}]


def element_names(*xmls: str) -> dict[str, str]:
    """Element id → its name (or id), over the given diagrams; newer names win."""
    names: dict[str, str] = {}
    for xml in xmls:
        root = processes.parse_xml(xml).getroot()
        for node in root.iter():
            if isinstance(node.tag, str) and node.get("id") and "}" in node.tag:
                if node.tag.startswith("{" + processes.BPMN_NS):
                    names[node.get("id")] = node.get("name") or node.get("id")
    return names


def change_list(diff: processes.Comparison) -> list[dict]:
    """The changes of a comparison as rows: element, name, kind and what changed."""
    names = element_names(diff.older.bpmn_xml, diff.newer.bpmn_xml)
    rows = [
        {"element": e, "name": names.get(e, e), "kind": "added", "change": "新增"}
        for e in diff.added
    ]
    rows += [
        {"element": e, "name": names.get(e, e), "kind": "removed", "change": "删除"}
        for e in diff.removed
    ]
    rows += [
        {"element": e, "name": names.get(e, e), "kind": "changed", "change": text}
        for e, text in diff.changed.items()
    ]
    return rows


def _render_index(refused: dict | None = None, status: int = 200):
    summaries = processes.list_processes(session(), _user())
    return (
        render_template(
            "processes/index.html",
            summaries=summaries,
            refused=refused,
            max_mb=processes.MAX_BPMN_BYTES // 1024 // 1024,
        ),
        status,
    )


@bp.get("/processes")
def index():
    return _render_index()


@bp.get("/processes/<process_id>/versions/<int:number>.bpmn")
def download(process_id: str, number: int):
    version = processes.get_version(session(), _user(), process_id, number)
    answer = Response(version.bpmn_xml, mimetype="application/xml")
    answer.headers["Content-Disposition"] = (
        f'attachment; filename="{version.process_id}-v{version.number}.bpmn"'
    )
    answer.headers["X-Content-Type-Options"] = "nosniff"
    answer.headers["Cache-Control"] = "private, no-store"
    return answer


@bp.get("/processes/<process_id>/versions/<int:number>.json")
def version_json(process_id: str, number: int):
    version = processes.get_version(session(), _user(), process_id, number)
    answer = jsonify(
        process_id=version.process_id,
        number=version.number,
        name=version.name,
        xml=version.bpmn_xml,
    )
    answer.headers["Cache-Control"] = "private, no-store"
    return answer


def _version_arg(name: str) -> int:
    raw = (request.args.get(name) or "").strip()
    if not raw.isdigit() or not 0 < int(raw) < 10**9:
        raise ValidationFailed(gettext("请选择要比较的两个版本"))
    return int(raw)


@bp.get("/processes/<process_id>/compare")
def compare(process_id: str):
    a, b = _version_arg("a"), _version_arg("b")
    older, newer = min(a, b), max(a, b)
    diff = processes.compare(session(), _user(), process_id, older, newer)
    rows = change_list(diff)
    return render_template(
        "processes/compare.html",
        process_id=process_id,
        diff=diff,
        rows=rows,
        added=[r["element"] for r in rows if r["kind"] == "added"],
        removed=[r["element"] for r in rows if r["kind"] == "removed"],
        changed=[r["element"] for r in rows if r["kind"] == "changed"],
        viewer_installed=_viewer_installed(),
    )


@bp.get("/processes/<process_id>/versions/<int:number>/rollback")
def rollback_confirm(process_id: str, number: int):
    summary = processes.get_process(session(), _user(), process_id)
    version = processes.get_version(session(), _user(), process_id, number)
    return render_template(
        "processes/rollback.html", summary=summary, version=version, current=summary.latest
    )


@bp.post("/processes/<process_id>/versions/<int:number>/rollback")
def rollback(process_id: str, number: int):
    try:
        result = processes.rollback(session(), _user(), process_id, number)
    except ValidationFailed as err:
        flash(err.message, "error")
        return redirect(url_for("processes.index"), 303)
    flash(
        gettext(
            "已回滚：新部署第 %(new)s 版，内容与第 %(old)s 版相同；运行中的案件不受影响",
            new=result.version.number,
            old=number,
        ),
        "info",
    )
    return redirect(url_for("processes.index", _anchor=f"p-{process_id}"), 303)


@bp.post("/processes/<process_id>/deploy")
def deploy(process_id: str):
    db, user = session(), _user()
    processes.get_process(db, user, process_id)  # 404 for an unknown process
    upload = request.files.get("file")
    comment = (request.form.get("comment") or "").strip()[:500]
    try:
        if upload is None or not upload.filename:
            raise ValidationFailed(gettext("请选择要上传的 .bpmn 文件"))
        data = upload.read(processes.MAX_BPMN_BYTES + 1)
        processes.parse_xml(data)  # size, DOCTYPE/entities and well-formedness first
        try:
            xml = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationFailed(gettext("文件应以 UTF-8 编码保存")) from None
        result = processes.deploy_xml(db, user, process_id, xml, comment=comment)
    except ValidationFailed as err:
        db.rollback()
        refused = {"process_id": process_id, "message": err.message, "findings": refusal(err)}
        return _render_index(refused, 422)
    if result.created:
        flash(
            gettext(
                "已部署“%(name)s”第 %(n)s 版；新登记的案件将使用该版本",
                name=result.version.name,
                n=result.version.number,
            ),
            "info",
        )
    else:
        flash(gettext("文件与当前第 %(n)s 版相同，未产生新版本", n=result.version.number), "info")
    return redirect(url_for("processes.index", _anchor=f"p-{process_id}"), 303)
