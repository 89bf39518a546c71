"""Before the final approval of any case the approver sees what the same person (by ID
hash) already received this year, across programmes and units; not at a level that is not
final, and last year's aid does not count."""

from conftest import cst
from sqlalchemy import select
from test_approval_page import at_level_one, page_of

from workflows import privacy
from workflows.models import Case


def earlier_aid(
    world, id_number: str, approved_at, fen: int = 100000, org="g3", status="completed"
):
    """A 冬送温暖 case of the same person, finally approved at `approved_at` (another unit)."""
    case = Case(
        case_no=f"SJ2026{fen:06d}",
        programme="seasonal_aid",
        campaign_id=world.campaigns["winter"].id,
        org_id=world.orgs[org].id,
        applicant_name="王大力",
        subject_key=privacy.subject_key(id_number),
        subject_id_masked=privacy.mask_id(id_number),
        amount_fen=fen,
        approved_fen=fen,
        approved_at=approved_at,
        status=status,
        outcome="end_paid",
    )
    world.session.add(case)
    world.session.commit()
    return case


def test_the_final_approval_shows_this_years_aid_of_the_same_person(world, clock, as_user):
    number = world.next_id()
    earlier_aid(world, number, cst(2026, 1, 20, 10, 0), 100000)
    earlier_aid(world, number, cst(2025, 12, 20, 10, 0), 70000)  # last year: not counted
    earlier_aid(world, number, cst(2026, 2, 1, 10, 0), 30000, status="cancelled")
    case = at_level_one(world, clock, student_id_number=number)
    client = as_user("l1")
    _, first = page_of(client, world, case, "approve_l1")
    assert 'id="received-this-year"' not in first  # level one is not final
    world.do("l1", case, "approve_l1", {"decision": "approve"})
    _, page = page_of(as_user("l2"), world, case, "approve_l2")
    assert "本人（按身份证号）2026 年已获帮扶 1 次，共 1,000.00 元" in page
    assert "2026年冬送温暖" in page and "700.00" not in page and "300.00" not in page


def test_a_person_without_aid_this_year_is_said_so(world, clock, as_user):
    case = at_level_one(world, clock)
    world.do("l1", case, "approve_l1", {"decision": "approve"})
    _, page = page_of(as_user("l2"), world, case, "approve_l2")
    assert "本人（按身份证号）2026 年尚未获得其他帮扶。" in page
    assert world.session.scalar(select(Case.id).where(Case.id == case.id))


def test_the_api_gives_the_same_line_before_the_final_approval(world, clock, app):
    from conftest import api_token

    number = world.next_id()
    earlier_aid(world, number, cst(2026, 1, 20, 10, 0), 100000)
    case = at_level_one(world, clock, student_id_number=number)
    client = app.test_client()
    first = world.open_task(case, "approve_l1")
    body = client.get(f"/api/v1/tasks/{first.id}", headers=api_token(app, "l1")).get_json()
    assert "received_this_year" not in body
    world.do("l1", case, "approve_l1", {"decision": "approve"})
    task = world.open_task(case, "approve_l2")
    body = client.get(f"/api/v1/tasks/{task.id}", headers=api_token(app, "l2")).get_json()
    line = body["received_this_year"]
    assert line["year"] == 2026 and line["total_fen"] == 100000
    assert line["cases"][0]["programme"] == "seasonal_aid"


def test_a_batch_approval_lists_what_each_person_already_received(world, clock, as_user):
    from conftest import csrf_from

    number = world.next_id()
    earlier_aid(world, number, cst(2026, 1, 20, 10, 0), 100000)
    helped = at_level_one(world, clock, student_id_number=number)
    other = at_level_one(world, clock)
    client = as_user("l1")
    ids = [world.open_task(c, "approve_l1").id for c in (helped, other)]
    page = client.post(
        "/tasks/batch/confirm",
        data={"task_ids": ids, "csrf_token": csrf_from(client, "/tasks/group")},
    ).get_data(as_text=True)
    assert "本人本年已获（元）" in page
    assert page.count("1 次，1,000.00") == 1
