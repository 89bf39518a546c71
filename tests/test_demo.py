"""The demo data (`warmflow init-db --demo`): built once, through the real services, with a
case standing at every stage and a login for every role."""

import time
from datetime import UTC, datetime, timedelta

import pytest
from conftest import BPMN
from sqlalchemy import func, select

from workflows import access, demo, engine, processes, tasks, users, workdays
from workflows.clock import CST, now
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
    User,
)


@pytest.fixture
def seeded(session):
    processes.deploy_files(session, None, sorted(BPMN.glob("*.bpmn")))
    started = time.monotonic()
    assert demo.seed(session) is True
    seed_seconds = time.monotonic() - started
    session.expire_all()
    return seed_seconds


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


def check_federation_campaigns_and_budgets(session):
    city = users.get_org(session, "nj")
    assert city.level == 1 and city.name == "内江市总工会"
    for district in ("szq", "dxq", "zzx"):
        org = users.get_org(session, district)
        assert org.level == 2 and org.parent_id == city.id
        units = session.scalars(select(Organisation).where(Organisation.parent_id == org.id))
        assert sorted(u.code for u in units) == [district + "1", district + "2"]

    tuition = session.scalars(select(Campaign).where(Campaign.code == "jq2026")).one()
    winter = session.scalars(select(Campaign).where(Campaign.code == "dsnw2026")).one()
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


def check_every_demo_login_works(session):
    assert len(demo.DEMO_LOGINS) == 18
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
    record = session.scalars(select(HardshipRecord)).one()
    assert record.status == "archived"
    case = session.get(Case, record.case_id)
    assert case.status == "running"
    instance = session.scalars(
        select(ProcessInstance).where(ProcessInstance.case_id == case.id)
    ).one()
    # Waiting for its yearly 回头看.
    assert instance.next_timer_at > now() + timedelta(days=300)


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
    assert timedelta(days=30) < real - first < timedelta(days=60)
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
    assert seeded < 15  # "a few seconds" on SQLite; generous for slow machines
    check_federation_campaigns_and_budgets(session)
    check_every_demo_login_works(session)
    check_cases_spread_over_the_six_unions(session)
    check_history_and_clock(session)
    check_runs_once(session)


def test_every_stage_is_on_screen(session, seeded):
    check_tuition_stages(session)
    check_notices(session)
    check_winter_and_archive(session)
