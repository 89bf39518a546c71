"""The demo data (`warmflow init-db --demo`): built once, through the real services, with a
case standing at every stage and a login for every role, on whatever day it is seeded.

How long seeding takes is measured by bench/demo.py, not asserted here."""

import re
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from conftest import BPMN
from sqlalchemy import func, select

from workflows import (
    access,
    campaigns,
    cases,
    db,
    demo,
    engine,
    files,
    forms,
    processes,
    tasks,
    users,
    workdays,
)
from workflows.clock import CST, local_now, now
from workflows.errors import NotFound
from workflows.models import (
    AuditEvent,
    Campaign,
    CampaignBudget,
    Case,
    HardshipRecord,
    HumanTask,
    Organisation,
    Payment,
    ProcessInstance,
    PublicNotice,
    StoredFile,
    User,
)

# The date-matrix tests enrol only a few workers in the archive; one test seeds it whole.
FEW = 6


def seed(session, drive: int = demo.ARCHIVE_DRIVE) -> None:
    processes.deploy_files(session, None, sorted(BPMN.glob("*.bpmn")))
    assert demo.seed(session, drive) is True
    session.expire_all()


@pytest.fixture
def seeded(session):
    seed(session, FEW)


def open_tasks(session, element_id: str, programme: str | None = None) -> list[HumanTask]:
    query = (
        select(HumanTask)
        .join(Case, Case.id == HumanTask.case_id)
        .where(HumanTask.status == "open", HumanTask.element_id == element_id)
    )
    if programme:
        query = query.where(Case.programme == programme)
    return list(session.scalars(query))


def open_tasks_for(session, case: Case) -> list[HumanTask]:
    return list(
        session.scalars(
            select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.status == "open")
        )
    )


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def check_runs_once(session):
    cases_before = count(session, Case)
    tasks_before = count(session, HumanTask)
    users_before = count(session, User)
    assert cases_before >= 25

    assert demo.seed(session) is False
    assert count(session, Case) == cases_before
    assert count(session, HumanTask) == tasks_before
    assert count(session, User) == users_before
    assert count(session, Organisation) == 1 + 3 + 6


def test_refuses_before_the_diagrams_are_deployed(session):
    with pytest.raises(NotFound, match="尚未部署"):
        demo.seed(session)
    assert count(session, Organisation) == 0


def demo_campaigns(session) -> tuple[Campaign, Campaign]:
    today = local_now().date()
    tuition = session.scalars(
        select(Campaign).where(Campaign.code == f"jq{demo.tuition_year(today)}")
    ).one()
    winter = session.scalars(
        select(Campaign).where(Campaign.code == f"dsnw{demo.winter_year(today)}")
    ).one()
    return tuition, winter


def check_federation_campaigns_and_budgets(session):
    city = users.get_org(session, "nj")
    assert city.level == 1 and city.name == "内江市总工会"
    for district in ("szq", "dxq", "zzx"):
        org = users.get_org(session, district)
        assert org.level == 2 and org.parent_id == city.id
        units = session.scalars(select(Organisation).where(Organisation.parent_id == org.id))
        assert sorted(u.code for u in units) == [district + "1", district + "2"]

    tuition, winter = demo_campaigns(session)
    assert (tuition.programme, tuition.season, tuition.aid_kind) == (
        "tuition_grant",
        "autumn",
        "cash",
    )
    assert tuition.city_approval_threshold_fen == 500000
    assert (winter.programme, winter.season, winter.city_approval_threshold_fen) == (
        "seasonal_aid",
        "winter",
        200000,
    )
    budgets = {
        (b.campaign_id, b.org_id): b.budget_fen for b in session.scalars(select(CampaignBudget))
    }
    for district in ("szq", "dxq", "zzx"):
        org_id = users.get_org(session, district).id
        assert budgets[(tuition.id, org_id)] == 200_000_000
        assert budgets[(winter.id, org_id)] == 100_000_000


def check_campaigns_follow_the_day(session):
    """Both campaigns are of the season the day belongs to, were open for every step of
    the replay and still take applications today (a caseworker can try one)."""
    today = local_now().date()
    tuition, winter = demo_campaigns(session)
    assert tuition.name == f"{tuition.year}年金秋助学" and tuition.code == f"jq{tuition.year}"
    assert winter.name == f"{winter.year}年冬送温暖" and winter.code == f"dsnw{winter.year}"
    assert tuition.year == (today.year if today.month >= 8 else today.year - 1)
    assert winter.year in (today.year, today.year - 1)
    if today.month in (11, 12, 1, 2):  # the winter the day is in
        assert date(winter.year, 11, 1) <= today < date(winter.year + 1, 3, 1)
    first = session.scalar(select(func.min(Case.created_at))).astimezone(CST).date()
    for campaign in (tuition, winter):
        assert campaign.opens_on <= first and campaign.closes_on >= today + timedelta(days=28)
        assert campaign.year - 1 <= today.year <= campaign.year + 1
    for programme, campaign in (("tuition_grant", tuition), ("seasonal_aid", winter)):
        assert campaign in cases.open_campaigns(session, programme)
    # Case numbers carry the campaign's year; birth dates moved with it (students are
    # 17 to 23 whatever year it is).
    for case in session.scalars(select(Case).where(Case.campaign_id == tuition.id)):
        assert case.case_no.startswith(f"JQ{tuition.year}")
    students = session.scalars(
        select(Case).where(Case.programme == "tuition_grant", Case.campaign_id == tuition.id)
    ).all()
    for case in students:
        born = int(engine.case_data(session, case)["student_id_number"][6:10])
        assert 17 <= tuition.year - born <= 23, case.case_no


def check_every_demo_login_works(session):
    assert len(demo.DEMO_LOGINS) == 21
    roles_seen = set()
    for username, role_label, org_name in demo.DEMO_LOGINS:
        user = users.get_user(session, username)
        assert users.check_password(user, demo.PASSWORD), username
        assert user.org.name == org_name
        (role,) = user.role_set
        assert processes.ROLES[role] == role_label
        roles_seen.add(role)
    assert roles_seen == set(processes.ROLES)
    for code in ("szq1", "szq2", "dxq1", "dxq2", "zzx1", "zzx2"):
        assert users.get_user(session, f"caseworker.{code}").has_role("caseworker")
        assert users.get_user(session, f"approver1.{code}").has_role("approver_l1")
    # 城东街道帮扶站 has two of each, so that a task can be handed over (转交).
    for username in ("caseworker.szq1b", "approver1.szq1b"):
        assert users.get_user(session, username).org.code == "szq1"


def check_tuition_stages(session):
    assert open_tasks(session, "home_visit_task", "tuition_grant")
    assert open_tasks(session, "investigate_objection", "tuition_grant")
    assert open_tasks(session, "approve_l1", "tuition_grant")
    assert open_tasks(session, "approve_l2", "tuition_grant")

    level3 = open_tasks(session, "approve_l3", "tuition_grant")
    assert level3 and all(t.case.amount_fen == 800000 for t in level3)  # postgraduate
    assert all(t.org_id == users.get_org(session, "nj").id for t in level3)

    rework = open_tasks(session, "rework", "tuition_grant")
    assert rework
    data = engine.case_data(session, rework[0].case)
    assert data["return_level"] == 2 and data["return_reason"]

    fix_card = open_tasks(session, "correct_bank_card", "tuition_grant")
    assert fix_card
    failed = session.scalars(select(Payment).where(Payment.case_id == fix_card[0].case_id)).one()
    assert failed.status == "failed" and failed.last_failure_reason

    def closed(outcome: str) -> list[Case]:
        return list(
            session.scalars(
                select(Case).where(
                    Case.programme == "tuition_grant",
                    Case.status == "completed",
                    Case.outcome == outcome,
                )
            )
        )

    assert closed("end_rejected")
    paid = closed("end_paid")
    assert paid
    assert all(
        session.scalars(select(Payment).where(Payment.case_id == c.id)).one().status == "paid"
        for c in paid
    )
    payable = session.scalars(
        select(Payment).where(Payment.status == "payable", Payment.purpose == "tuition_grant")
    ).all()
    assert payable
    for payment in payable:  # approved, waiting for finance's next batch
        case = session.get(Case, payment.case_id)
        assert case.status == "running"
        assert not open_tasks_for(session, case)


def check_notices(session):
    current = session.scalars(select(PublicNotice).where(PublicNotice.status == "open")).all()
    assert current
    calendar = workdays.load(session)
    today = datetime.now(UTC).astimezone(CST).date()
    day, back = today, 0
    while back < 2:
        day -= timedelta(days=1)
        back += calendar.is_workday(day)
    two_working_days_ago = day
    for notice in current:
        assert notice.ends_at > now()
        assert notice.posted_at.astimezone(CST).date() >= two_working_days_ago
        instance = session.scalars(
            select(ProcessInstance).where(ProcessInstance.case_id == notice.case_id)
        ).one()
        assert instance.next_timer_at == notice.ends_at

    assert session.scalars(select(PublicNotice).where(PublicNotice.status == "objection")).all()
    assert session.scalars(
        select(PublicNotice).where(PublicNotice.round == 2, PublicNotice.status == "passed")
    ).all()


def check_winter_and_archive(session):
    assert open_tasks(session, "approve_l1", "seasonal_aid")
    assert open_tasks(session, "approve_l2", "seasonal_aid")
    assert session.scalars(
        select(Case).where(Case.programme == "seasonal_aid", Case.outcome == "end_paid")
    ).all()

    assert open_tasks(session, "home_visit_task", "hardship_archive")
    records = session.scalars(select(HardshipRecord)).all()
    assert records and all(r.status == "archived" for r in records)
    for record in records:
        case = session.get(Case, record.case_id)
        assert case.status == "running"
        instance = session.scalars(
            select(ProcessInstance).where(ProcessInstance.case_id == case.id)
        ).one()
        # Waiting for its yearly 回头看.
        assert instance.next_timer_at > now() + timedelta(days=300)


def check_visits_hold_up(session):
    """What every demo home visit recorded would pass a strict form: two visitors by name,
    a description of 30 characters or more, a real photo that can be opened."""
    visits = session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "task.complete", AuditEvent.summary.contains("入户")
        )
    ).all()
    assert visits
    for case in session.scalars(select(Case)):
        data = engine.case_data(session, case)
        if "visitors" not in data:
            continue
        names = re.split(r"[、，,\s]+", data["visitors"].strip())
        assert len(names) == 2 and all(2 <= len(n) <= 4 for n in names), data["visitors"]
        assert len(data["household_situation"]) >= 30, case.case_no
        visited = date.fromisoformat(data["visit_date"])
        assert case.created_at.astimezone(CST).date() <= visited <= local_now().date()
        photos = forms.as_file_list(data["housing_photos"])
        assert photos, case.case_no
        creator = session.get(User, case.created_by_id)
        for photo_id in photos:
            photo = session.get(StoredFile, photo_id)
            assert photo.content_type == "image/jpeg" and photo.case_id == case.id
            stored, path = files.readable(session, creator, photo.id)
            assert path.read_bytes().startswith(b"\xff\xd8\xff") and path.stat().st_size > 1000


def check_cases_spread_over_the_six_unions(session):
    codes = set(
        session.scalars(select(Organisation.code).join(Case, Case.org_id == Organisation.id))
    )
    assert codes == {"szq1", "szq2", "dxq1", "dxq2", "zzx1", "zzx2"}


def check_history_and_clock(session):
    real = datetime.fromtimestamp(time.time(), UTC)
    assert abs((now() - real).total_seconds()) < 5  # time-machine released
    first = session.scalar(select(func.min(Case.created_at)))
    last = session.scalar(select(func.max(AuditEvent.at)).where(AuditEvent.case_id.is_not(None)))
    assert timedelta(days=30) < real - first < timedelta(days=65)
    assert last < real
    # Every timer that was due has fired; nothing is stuck.
    assert not session.scalars(
        select(ProcessInstance).where(
            ProcessInstance.status == "running", ProcessInstance.next_timer_at <= real
        )
    ).all()
    assert not session.scalars(select(ProcessInstance).where(ProcessInstance.error != "")).all()
    fired = session.scalars(select(AuditEvent).where(AuditEvent.action == "timer.fire")).all()
    assert fired and all(e.at.astimezone(CST).hour == 0 for e in fired)


def test_level_2_approvers_see_only_their_own_district(session, seeded):
    seen: dict[str, set[int]] = {}
    for district in ("szq", "dxq", "zzx"):
        approver = users.get_user(session, f"approver2.{district}")
        rows = tasks.list_tasks(session, approver, "all", limit=500)
        assert rows, district
        for row in rows:
            assert row.candidate_group == "approver_l2"
            assert access.in_subtree(approver, row.case.org)
            assert row.case.org.code.startswith(district)
        seen[district] = {row.id for row in rows}
    assert not (seen["szq"] & seen["dxq"]) and not (seen["dxq"] & seen["zzx"])
    assert not (seen["szq"] & seen["zzx"])


# The seed takes a few seconds, so each test below seeds once and checks a group of things.


def test_seed_builds_the_demo_once(session, seeded):
    check_federation_campaigns_and_budgets(session)
    check_campaigns_follow_the_day(session)
    check_every_demo_login_works(session)
    check_cases_spread_over_the_six_unions(session)
    check_history_and_clock(session)
    check_runs_once(session)


def test_every_stage_is_on_screen(session, seeded):
    check_tuition_stages(session)
    check_notices(session)
    check_winter_and_archive(session)
    check_visits_hold_up(session)


@pytest.mark.parametrize(
    "day",
    [
        datetime(2027, 1, 18, 9, 30, tzinfo=CST),  # a year chinese-calendar does not know
        datetime(2027, 4, 15, 9, 30, tzinfo=CST),
        datetime(2027, 7, 15, 9, 30, tzinfo=CST),
        datetime(2027, 10, 15, 9, 30, tzinfo=CST),  # right after the National Day holiday
        datetime(2027, 12, 20, 9, 30, tzinfo=CST),
        datetime(2028, 2, 29, 9, 30, tzinfo=CST),  # nor this one; a leap day
        datetime(2026, 11, 5, 9, 30, tzinfo=CST),  # seeding failed before ~12 Nov 2026
        datetime(2027, 1, 5, 9, 30, tzinfo=CST),  # and after ~4 Jan 2027
    ],
    ids=lambda d: d.date().isoformat(),
)
def test_the_demo_seeds_and_shows_every_stage_on_any_day(session, time_machine, day):
    time_machine.move_to(day, tick=False)
    seed(session, FEW)
    check_federation_campaigns_and_budgets(session)
    check_campaigns_follow_the_day(session)
    check_tuition_stages(session)
    check_notices(session)
    check_winter_and_archive(session)
    check_visits_hold_up(session)
    check_history_and_clock(session)


def test_the_archive_drive_gives_a_launch_a_few_hundred_workers(session):
    seed(session)  # the whole demo, as `make run` seeds it
    check_every_demo_login_works(session)
    check_winter_and_archive(session)
    archived = session.scalars(
        select(HardshipRecord).where(HardshipRecord.status == "archived")
    ).all()
    assert len(archived) >= 200
    per_union = {
        code: sum(1 for r in archived if session.get(Organisation, r.org_id).code == code)
        for code in ("szq1", "szq2", "dxq1", "dxq2", "zzx1", "zzx2")
    }
    assert min(per_union.values()) >= 30, per_union

    manager = users.get_user(session, "manager.nj")
    _, winter = demo_campaigns(session)
    launch = campaigns.start_launch(session, manager, winter.id)
    assert launch.total == len(archived)
    campaigns.run_launch(db.make_session_factory(session.bind), launch.id)
    session.expire_all()
    done = session.get(type(launch), launch.id)
    # 刘建军 already has his 冬送温暖 case; everyone else gets one now.
    assert (done.status, done.created, done.skipped, done.failed) == (
        "done",
        len(archived) - 1,
        1,
        0,
    )


def test_a_claimed_task_can_be_handed_to_the_second_approver(session, seeded):
    li_hong = users.get_user(session, "approver1.szq1")
    mine = tasks.list_tasks(session, li_hong, "mine", limit=50)
    assert mine, "李红 has claimed a task in the demo"
    colleagues = tasks.colleagues(session, li_hong, mine[0].id)
    assert [u.username for u in colleagues] == ["approver1.szq1b"]
    handed = tasks.hand_over(session, li_hong, mine[0].id, "approver1.szq1b")
    assert handed.assignee_id == users.get_user(session, "approver1.szq1b").id
    caseworker = users.get_user(session, "caseworker.szq1")
    assert tasks.list_tasks(session, caseworker, "mine", limit=50)  # the claimed objection
