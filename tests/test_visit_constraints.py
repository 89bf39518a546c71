"""The home visit's rules are constraints in the diagram's formData (a manager changes
them in the editor): the visit date neither in the future nor before the application, two
visitors by name, a household description of some length, one to twelve photos. They are
checked on the server with Chinese messages, and checked at deploy."""

import re

import pytest
from conftest import BPMN, csrf_from, cst, today_iso
from sqlalchemy import select

from workflows import cases, engine, forms, processes, tasks
from workflows.errors import ValidationFailed
from workflows.models import HumanTask, StoredFile

GOOD = dict(
    visitors="张经办、刘经办",
    household_situation="父亲下岗，母亲患病，家庭年收入低于当地低保标准",
    visit_verdict="confirmed",
)
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
CHINESE = re.compile(r"[\u4e00-\u9fff]")


def start(world):
    return cases.start_case(
        world.session,
        world.user("cw1"),
        "tuition_grant",
        world.tuition_application(),
        world.campaigns["tuition"].id,
    )


def refused(world, case, data) -> dict:
    task = world.open_task(case, "home_visit_task")
    with pytest.raises(ValidationFailed) as refusal:
        tasks.complete(world.session, world.user("cw1"), task.id, data)
    assert world.open_task(case, "home_visit_task").status == "open"
    for message in refusal.value.errors.values():
        assert CHINESE.search(message), message
    return refusal.value.errors


def test_visit_date_in_the_future_is_refused(world):
    case = start(world)
    errors = refused(
        world, case, dict(GOOD, visit_date="2026-09-08", housing_photos=[world.photo()])
    )
    assert errors == {"visit_date": "走访日期不能晚于今天（2026-09-07）"}


def test_visit_date_before_the_application_is_refused(world, clock):
    case = start(world)  # registered on 2026-09-07
    clock.move_to(cst(2026, 9, 9, 10, 0))
    errors = refused(
        world, case, dict(GOOD, visit_date="2026-09-06", housing_photos=[world.photo()])
    )
    assert errors == {"visit_date": "走访日期不能早于申请登记日期（2026-09-07）"}
    world.do("cw1", case, "home_visit_task", dict(GOOD, visit_date="2026-09-08"))
    assert world.refresh(case).status == "running"


@pytest.mark.parametrize("visitors", ["张经办", "张经办、张经办", "、 ，"])
def test_visitors_must_be_two_people_by_name(world, visitors):
    case = start(world)
    data = dict(GOOD, visit_date=today_iso(), visitors=visitors, housing_photos=[world.photo()])
    errors = refused(world, case, data)
    assert "走访人员" in errors["visitors"] and "2 人" in errors["visitors"]


@pytest.mark.parametrize("visitors", ["张经办、刘经办", "张经办，刘经办", "张经办 刘经办 王站长"])
def test_two_or_more_names_in_any_usual_separation_pass(world, visitors):
    case = start(world)
    world.do("cw1", case, "home_visit_task", dict(GOOD, visit_date=today_iso(), visitors=visitors))
    assert cases.open_tasks(world.session, case.id) == []  # on notice now


def test_household_description_needs_a_sensible_length(world):
    case = start(world)
    data = dict(
        GOOD, visit_date=today_iso(), household_situation="情况属实", housing_photos=[world.photo()]
    )
    errors = refused(world, case, data)
    assert errors == {"household_situation": "家庭情况核实至少 15 个字（现有 4 个字）"}


def test_at_least_one_photo_and_several_are_kept_in_order(world):
    case = start(world)
    errors = refused(world, case, dict(GOOD, visit_date=today_iso()))
    assert errors == {"housing_photos": "请上传住房照片"}
    errors = refused(world, case, dict(GOOD, visit_date=today_iso(), housing_photos=[]))
    assert errors == {"housing_photos": "请上传住房照片"}

    photos = [world.photo(filename=f"住房{n}.jpg") for n in range(3)]
    world.do(
        "cw1", case, "home_visit_task", dict(GOOD, visit_date=today_iso(), housing_photos=photos)
    )
    world.session.expire_all()
    assert engine.case_data(world.session, world.refresh(case))["housing_photos"] == photos
    for photo in photos:
        assert world.session.get(StoredFile, photo).case_id == case.id


def test_more_photos_than_the_diagram_allows_are_refused(world):
    case = start(world)
    photos = [world.photo() for _ in range(13)]
    errors = refused(world, case, dict(GOOD, visit_date=today_iso(), housing_photos=photos))
    assert errors == {"housing_photos": "住房照片最多上传 12 个文件"}


# --- the constraints live in the diagram ----------------------------------------------------


def _home_visit_with(world, old: str, new: str) -> None:
    xml = (BPMN / "home_visit.bpmn").read_text(encoding="utf-8")
    assert old in xml
    processes.deploy(world.session, world.users["mgr"].id, xml.replace(old, new))


def test_a_manager_raising_the_minimum_length_in_the_diagram_changes_the_rule(world):
    _home_visit_with(
        world,
        '<camunda:constraint name="minlength" config="15" />',
        '<camunda:constraint name="minlength" config="30" />',
    )
    case = start(world)  # pins the new home_visit version
    errors = refused(
        world, case, dict(GOOD, visit_date=today_iso(), housing_photos=[world.photo()])
    )
    assert errors["household_situation"].startswith("家庭情况核实至少 30 个字")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            '<camunda:constraint name="min_names" config="2" />',
            '<camunda:constraint name="min_people" config="2" />',
            "约束“min_people”无法识别",
        ),
        (
            '<camunda:constraint name="max" config="today" />',
            '<camunda:constraint name="max" config="tomorrow" />',
            "max 应为日期（如 2026-09-01）、today、today-7 或 application_date",
        ),
        (
            '<camunda:constraint name="min_names" config="2" />',
            '<camunda:constraint name="min_names" config="two" />',
            "min_names 应为正整数",
        ),
        (
            '<camunda:constraint name="multiple" />',
            '<camunda:constraint name="min_names" config="2" />',
            "不能使用约束“min_names”",
        ),
    ],
)
def test_a_bad_constraint_is_refused_at_deploy_in_chinese(world, old, new, message):
    with pytest.raises(ValidationFailed) as refusal:
        _home_visit_with(world, old, new)
    assert message in refusal.value.message
    assert processes.latest_version(world.session, "home_visit").number == 1


def test_date_bounds_relative_to_today_and_the_application():
    from datetime import date

    context = forms.FormContext(date(2026, 9, 7), date(2026, 9, 1))
    field = {"id": "d", "label": "日期", "type": "date", "min": "today-3", "max": "today+2"}
    assert forms.date_bounds(field, context) == (date(2026, 9, 4), date(2026, 9, 9))
    clean, errors = forms.validate([field], {"d": "2026-09-03"}, context)
    assert errors == {"d": "日期不能早于今天前 3 天（2026-09-04）"}
    field = dict(field, min="application_date", max="2026-12-31")
    assert forms.validate([field], {"d": "2026-09-01"}, context) == ({"d": "2026-09-01"}, {})


# --- the web form -----------------------------------------------------------------------------


def test_the_visit_page_limits_the_date_picker_and_takes_several_photos(world, as_user):
    case = start(world)
    task = world.open_task(case, "home_visit_task")
    page = as_user("cw1").get(f"/tasks/{task.id}").get_data(as_text=True)
    date_input = re.search(r'<input[^>]*id="visit_date"[^>]*>', page).group(0)
    assert 'max="2026-09-07"' in date_input and 'min="2026-09-07"' in date_input
    photos = re.search(r'<input[^>]*id="housing_photos"[^>]*>', page).group(0)
    assert "multiple" in photos and 'data-max-bytes="10485760"' in photos
    assert "至少 15 个字" in page and "至少 2 人" in page


def test_several_photos_uploaded_at_once_show_as_thumbnails_when_the_form_comes_back(
    world, as_user
):
    from io import BytesIO

    case = start(world)
    task = world.open_task(case, "home_visit_task")
    client = as_user("cw1")
    token = csrf_from(client, f"/tasks/{task.id}")
    answer = client.post(
        f"/tasks/{task.id}",
        data={
            **GOOD,
            "visit_date": "2026-09-08",  # in the future: the form comes back
            "csrf_token": token,
            "housing_photos": [(BytesIO(PNG), "客厅.png"), (BytesIO(PNG + b"1"), "厨房.png")],
        },
        content_type="multipart/form-data",
    )
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert "走访日期不能晚于今天" in page
    assert page.count('class="file-preview thumb"') == 2 and "客厅.png" in page
    kept = re.search(r'name="housing_photos__kept" type="hidden" value="([\d,]+)"', page).group(1)

    # Fixed and sent again without choosing the photos again; one is taken out.
    first, second = kept.split(",")
    fixed = client.post(
        f"/tasks/{task.id}",
        data={
            **GOOD,
            "visit_date": "2026-09-07",
            "csrf_token": token,
            "housing_photos__kept": kept,
            "housing_photos__remove": second,
        },
        content_type="multipart/form-data",
    )
    assert fixed.status_code == 302
    world.session.expire_all()
    assert engine.case_data(world.session, world.refresh(case))["housing_photos"] == [int(first)]
    assert (
        world.session.scalars(select(HumanTask).where(HumanTask.id == task.id)).one().status
        == "completed"
    )


def test_a_thirty_megabyte_photo_returns_the_filled_form_with_a_message(world, as_user):
    from io import BytesIO

    case = start(world)
    task = world.open_task(case, "home_visit_task")
    client = as_user("cw1")
    token = csrf_from(client, f"/tasks/{task.id}")
    big = b"\xff\xd8\xff" + b"\0" * (30 * 1024 * 1024)
    answer = client.post(
        f"/tasks/{task.id}",
        data={
            **GOOD,
            "visit_date": "2026-09-07",
            "csrf_token": token,
            "housing_photos": (BytesIO(big), "客厅.jpg"),
        },
        content_type="multipart/form-data",
    )
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert "“客厅.jpg”有 30.0 MB，超过 10 MB 的上限" in page and "其他内容已保留" in page
    assert 'value="张经办、刘经办"' in page and "家庭年收入低于当地低保标准</textarea>" in page
    assert world.open_task(case, "home_visit_task").status == "open"
    assert (
        world.session.scalars(select(StoredFile).where(StoredFile.filename == "客厅.jpg")).first()
        is None
    )


def test_an_api_call_keeps_the_ordinary_request_limit(app, world):
    from io import BytesIO

    from conftest import api_token

    answer = app.test_client().post(
        "/api/v1/files",
        headers=api_token(app, "cw1"),
        data={"file": (BytesIO(b"%PDF-" + b"0" * (22 * 1024 * 1024)), "big.pdf")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 413
