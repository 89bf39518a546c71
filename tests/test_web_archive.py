"""困难职工档案 in the browser and the API: each role sees its subtree only (list, export,
worker page, API), search by whole ID number through its hash, the worker's aid history,
the import's preview and confirm, and every export audited."""

import io

import pytest
from archive_helpers import csv_bytes, worker_row
from conftest import api_token, csrf_from
from openpyxl import load_workbook
from sqlalchemy import func, select

from workflows import archive_import
from workflows.models import AuditEvent, Case, HardshipRecord


@pytest.fixture
def app(make_app):
    """Imports run before the request returns (the background thread is tested in
    test_background_jobs.py's way by the browser test)."""
    return make_app(JOBS_INLINE=True)


def load(world, rows) -> None:
    row = archive_import.preview(world.session, world.user("mgr"), "a.csv", csv_bytes(rows))
    archive_import.confirm(world.session, world.user("mgr"), row.id)
    archive_import.run_import(world.factory, row.id)
    world.session.expire_all()


def two_districts(world) -> list[dict]:
    rows = [worker_row(i, org_code="szq1") for i in range(1, 4)]
    rows += [worker_row(i, org_code="dxq1") for i in range(4, 6)]
    load(world, rows)
    return rows


def test_each_district_sees_only_its_subtree_on_the_page(world, as_user):
    rows = two_districts(world)
    page = as_user("l2").get("/archive").get_data(as_text=True)
    assert "共 3 人" in page
    assert rows[0]["身份证号"] not in page  # masked
    assert as_user("l2_d2").get("/archive").get_data(as_text=True).count("共 2 人") == 1
    assert "共 5 人" in as_user("mgr").get("/archive").get_data(as_text=True)
    other = world.session.scalar(
        select(HardshipRecord).where(HardshipRecord.org_id == world.orgs["g3"].id)
    )
    assert as_user("l2").get(f"/archive/{other.id}").status_code == 403
    assert as_user("l2_d2").get(f"/archive/{other.id}").status_code == 200
    # A unit outside the subtree as a filter is refused, not widened.
    assert as_user("l2").get(f"/archive?org={world.orgs['g3'].id}").status_code == 403


def test_search_by_whole_id_number_never_puts_the_number_in_a_url(world, as_user):
    rows = two_districts(world)
    client = as_user("mgr")
    token = csrf_from(client, "/archive")
    answer = client.post("/archive", data={"csrf_token": token, "id_number": rows[1]["身份证号"]})
    assert answer.status_code == 303 and rows[1]["身份证号"] not in answer.location
    page = client.get(answer.location).get_data(as_text=True)
    assert "共 1 人" in page
    bad = client.post("/archive", data={"csrf_token": token, "id_number": "123"})
    assert bad.status_code == 422 and "身份证号码无效" in bad.get_data(as_text=True)


def test_export_is_scoped_masked_for_approvers_and_audited(world, as_user):
    rows = two_districts(world)
    answer = as_user("l2").get("/archive/export.xlsx")
    assert answer.status_code == 200
    sheet = load_workbook(io.BytesIO(answer.data)).active
    values = [[c.value for c in r] for r in sheet.iter_rows()]
    assert len(values) == 1 + 3
    flat = " ".join(str(v) for row in values for v in row)
    assert rows[0]["身份证号"] not in flat and rows[0]["银行卡号"] not in flat
    assert "dxq1" not in flat
    # The manager who keeps the archive gets whole numbers.
    whole = load_workbook(io.BytesIO(as_user("mgr").get("/archive/export.xlsx").data)).active
    assert rows[0]["身份证号"] in " ".join(str(c.value) for r in whole.iter_rows() for c in r)
    exports = world.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "archive.export")
    ).all()
    assert len(exports) == 2 and "3 人" in exports[0].summary


def test_api_export_takes_the_lists_filters_in_scope_masked_and_audited(world, app):
    rows = two_districts(world)
    client = app.test_client()
    answer = client.get("/api/v1/archive/export.xlsx", headers=api_token(app, "l2"))
    assert answer.status_code == 200 and answer.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(answer.data)).active
    flat = " ".join(str(c.value) for r in sheet.iter_rows() for c in r)
    assert sheet.max_row == 1 + 3 and "dxq1" not in flat
    assert rows[0]["身份证号"] not in flat and rows[0]["银行卡号"] not in flat
    one = client.get(
        "/api/v1/archive/export.xlsx",
        query_string={"id_number": rows[4]["身份证号"]},
        headers=api_token(app, "mgr"),
    )
    whole = load_workbook(io.BytesIO(one.data)).active
    assert whole.max_row == 2
    assert rows[4]["身份证号"] in " ".join(str(c.value) for r in whole.iter_rows() for c in r)
    bad = client.get(
        "/api/v1/archive/export.xlsx", query_string={"sort": "x"}, headers=api_token(app, "mgr")
    )
    assert bad.status_code == 422
    assert client.get("/api/v1/archive/export.xlsx").status_code == 401
    exports = world.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "archive.export")
    ).all()
    assert len(exports) == 2  # the refused one is not an export


def test_worker_page_shows_masked_data_provenance_and_history(world, as_user):
    rows = two_districts(world)
    record = world.session.scalar(select(HardshipRecord).where(HardshipRecord.source_line == 2))
    page = as_user("cw1").get(f"/archive/{record.id}").get_data(as_text=True)
    assert record.subject_id_masked in page and rows[0]["身份证号"] not in page
    assert "a.csv" in page and "第 2 行" in page
    assert "尚无帮扶记录" in page
    assert "为其登记四季送申请" in page


def test_archive_api_lists_in_scope_and_finds_by_id_number(world, app):
    rows = two_districts(world)
    client = app.test_client()
    headers = api_token(app, "l2_d2")
    listed = client.get("/api/v1/archive", headers=headers).get_json()
    assert listed["total"] == 2
    assert all(r["org"]["code"] == "dxq1" for r in listed["items"])
    found = client.get(
        "/api/v1/archive", query_string={"id_number": rows[4]["身份证号"]}, headers=headers
    ).get_json()
    assert found["total"] == 1 and "*" in found["items"][0]["id_number"]
    hidden = client.get(
        "/api/v1/archive", query_string={"id_number": rows[0]["身份证号"]}, headers=headers
    ).get_json()
    assert hidden["total"] == 0
    other = world.session.scalar(select(HardshipRecord).where(HardshipRecord.source_line == 2))
    assert client.get(f"/api/v1/archive/{other.id}", headers=headers).status_code == 403
    mine = listed["items"][0]["id"]
    detail = client.get(f"/api/v1/archive/{mine}", headers=headers).get_json()
    assert detail["record"]["provenance"]["line"] in (5, 6) and detail["history"] == []


def test_api_import_previews_then_confirms(world, app):
    client = app.test_client()
    headers = api_token(app, "mgr")
    rows = [worker_row(i) for i in range(1, 4)]
    rows[2]["困难类别"] = "不知道"
    content = csv_bytes(rows)
    answer = client.post(
        "/api/v1/archive/imports",
        data={"file": (io.BytesIO(content), "a.csv")},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert answer.status_code == 201, answer.get_json()
    preview = answer.get_json()
    assert preview["status"] == "preview" and preview["bad"] == 1
    assert preview["report"]["lines"][0]["line"] == 4
    assert world.session.scalar(select(func.count(HardshipRecord.id))) == 0
    refused = client.post(
        f"/api/v1/archive/imports/{preview['id']}/confirm", json={}, headers=headers
    )
    assert refused.status_code == 422
    done = client.post(
        f"/api/v1/archive/imports/{preview['id']}/confirm",
        json={"skip_bad": True},
        headers=headers,
    )
    assert done.status_code == 202 and done.get_json()["status"] == "done"
    assert done.get_json()["imported"] == 2
    again = client.post(
        "/api/v1/archive/imports",
        data={"file": (io.BytesIO(content), "b.csv")},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert again.status_code == 409
    caseworker = api_token(app, "cw1")
    assert (
        client.post(
            "/api/v1/archive/imports",
            data={"file": (io.BytesIO(content), "c.csv")},
            headers=caseworker,
            content_type="multipart/form-data",
        ).status_code
        == 403
    )


def test_import_page_previews_then_confirms_in_the_background(world, as_user):
    client = as_user("mgr")
    token = csrf_from(client, "/archive/import")
    rows = [worker_row(i) for i in range(1, 5)]
    rows[1]["身份证号"] = "511002198001011234"
    answer = client.post(
        "/archive/import",
        data={"csrf_token": token, "file": (io.BytesIO(csv_bytes(rows)), "档案.csv"), "org": "nj"},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 303
    page = client.get(answer.location).get_data(as_text=True)
    assert "第 3 行" in page and "身份证号无效" in page and "跳过有误的行" in page
    assert "<h1>导入预览 · 档案.csv</h1>" in page
    confirm_url = answer.location + "/confirm"
    refused = client.post(confirm_url, data={"csrf_token": token})
    assert refused.status_code == 422
    assert world.session.scalar(select(func.count(HardshipRecord.id))) == 0
    done = client.post(confirm_url, data={"csrf_token": token, "skip_bad": "yes"})
    assert done.status_code == 303
    result = client.get(done.location).get_data(as_text=True)
    assert "已完成" in result and "<h1>档案导入 · 档案.csv</h1>" in result  # no longer a preview
    world.session.expire_all()
    assert world.session.scalar(select(func.count(HardshipRecord.id))) == 3
    # Without a CSRF token nothing happens.
    assert client.post(confirm_url, data={}).status_code == 400
    # Caseworkers may not import.
    assert as_user("cw1").get("/archive/import").status_code == 403


def test_one_click_from_the_worker_page_registers_an_application_with_known_fields(world, as_user):
    rows = two_districts(world)
    record = world.session.scalar(select(HardshipRecord).where(HardshipRecord.source_line == 2))
    client = as_user("cw1")
    answer = client.get(f"/archive/{record.id}/apply?programme=seasonal_aid")
    assert answer.status_code == 302
    url = answer.location
    form = client.get(url).get_data(as_text=True)
    assert rows[0]["姓名"] in form and rows[0]["身份证号"] not in form
    assert "不修改请留空" in form and record.subject_id_masked in form
    token = csrf_from(client, url)
    created = client.post(
        url,
        data={
            "csrf_token": token,
            "campaign": str(world.campaigns["winter"].id),
            "worker_name": rows[0]["姓名"],
            "worker_id_number": "",
            "hardship_category": record.category,
            "bank_card": "",
            "account_name": rows[0]["开户名"],
            "phone": rows[0]["联系电话"],
        },
    )
    assert created.status_code == 302, created.get_data(as_text=True)[:3000]
    case = world.session.scalar(select(Case).where(Case.programme == "seasonal_aid"))
    assert case.subject_key == record.subject_key
    page = client.get(f"/archive/{record.id}").get_data(as_text=True)
    assert case.case_no in page and "2026年冬送温暖" in page


def test_the_mapping_step_shows_the_files_columns_and_is_remembered(world, as_user):
    client = as_user("mgr")
    token = csrf_from(client, "/archive/import")
    header = ["职工名字", "证件", "基层工会编码", "类别"]
    row = {"职工名字": "王大", "证件": worker_row(1)["身份证号"], "基层工会编码": "szq1"}
    row["类别"] = "生活困难"
    content = csv_bytes([row], header=header)
    first = client.post(
        "/archive/import",
        data={"csrf_token": token, "file": (io.BytesIO(content), "a.csv")},
        content_type="multipart/form-data",
    )
    page = first.get_data(as_text=True)
    assert first.status_code == 422 and "列对应" in page
    assert 'id="file-headers"' in page and "<code>基层工会编码</code>" in page
    mapped = client.post(
        "/archive/import",
        data={
            "csrf_token": token,
            "file": (io.BytesIO(content), "a.csv"),
            "map_name": "职工名字",
            "map_id_number": "证件",
            "map_org_code": "基层工会编码",
            "map_category": "类别",
        },
        content_type="multipart/form-data",
    )
    assert mapped.status_code == 303
    assert 'value="基层工会编码"' in client.get("/archive/import").get_data(as_text=True)


def test_a_worker_archived_by_a_case_shows_the_visit_photos_and_the_case(world, clock, as_user):
    from test_hardship_archive import at_approval

    case = at_approval(world, clock)
    world.do("l1", case, "approve_l1", {"decision": "approve"})
    world.do("l2", case, "approve_l2", {"decision": "approve"})
    world.session.expire_all()
    record = world.session.scalar(select(HardshipRecord).where(HardshipRecord.case_id == case.id))
    assert record.household_size == 4 and record.monthly_income_fen == 150000
    assert record.id_number and record.subject_key == case.subject_key
    page = as_user("l2").get(f"/archive/{record.id}").get_data(as_text=True)
    assert "家中四口人，本人透析" in page  # what the home visit found
    assert case.case_no in page and "1,500.00 元" in page
    assert "/files/" in page and "/view" in page  # the visit's housing photo
    assert record.id_number not in page
