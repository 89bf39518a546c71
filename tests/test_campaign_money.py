"""A whole cash campaign through the services: launch from the archive, approve within
budget, pay by bank file, fix the failed cards, pay again; every fen accounted for."""

from uuid import UUID

import pytest
from campaign_helpers import approve_all, archive_workers, card, result_file
from sqlalchemy import event, func, select
from sqlalchemy import text as sql_text

from workflows import batches, campaigns, payments, reports, tasks, worklists
from workflows.engine import ProcessError
from workflows.errors import Conflict, ValidationFailed
from workflows.models import (
    AuditEvent,
    BudgetReservation,
    Campaign,
    CampaignBudget,
    CampaignLaunch,
    Case,
    GrantClaim,
    HumanTask,
    Payment,
    PaymentBatch,
    PaymentLine,
)
from workflows.tasks import TaskFilter


def launch(world, user="mgr"):
    row = campaigns.start_launch(world.session, world.user(user), world.campaigns["winter"].id)
    campaigns.run_launch(world.factory, row.id, chunk=7)
    world.session.expire_all()
    return world.session.get(CampaignLaunch, row.id)


def approvers(world):
    return [world.user(u) for u in ("l1", "l1_g3", "l2", "l2_d2", "l3")]


def correct_cards(world) -> int:
    fixed = 0
    for name in ("cw1", "cw3"):
        user = world.user(name)
        for row in tasks.list_tasks(world.session, user, "all", limit=100000):
            if row.element_id != "correct_bank_card":
                continue
            tasks.complete(
                world.session,
                user,
                row.id,
                {"bank_card": card(500000 + row.id), "account_name": "改正后户名"},
            )
            fixed += 1
    return fixed


def pay_round(world, fail_every):
    fin = world.user("fin")
    built = []
    for group in batches.payable_groups(world.session, fin):
        batch = batches.build_batch(world.session, fin, group.campaign.id, group.org.id)
        batches.bank_file(world.session, fin, batch.id, "csv")
        batches.mark_sent(world.session, fin, batch.id)
        content = result_file(world.session, batch.id, fail_every)
        report = batches.import_results(world.session, fin, batch.id, "result.csv", content)
        assert report.waiting == 0
        built.append(batch)
    batches.deliver_results(world.session)
    return built


def test_launch_opens_one_case_per_archived_worker_and_never_twice(world):
    archive_workers(world.session, [world.orgs["g1"].id, world.orgs["g3"].id], 30)
    first = launch(world)
    assert (first.status, first.total, first.created, first.skipped, first.failed) == (
        "done",
        30,
        30,
        0,
        0,
    )
    again = launch(world)
    assert (again.created, again.skipped) == (0, 30)
    winter = world.campaigns["winter"].id
    assert world.session.scalar(select(func.count(Case.id)).where(Case.campaign_id == winter)) == 30
    # Each launched case waits for its union's level-1 approver, amount by category.
    opened = world.session.scalars(select(Case).where(Case.campaign_id == winter)).all()
    assert {c.amount_fen for c in opened if c.category == "medical"} == {300000}
    assert (
        world.session.scalar(
            select(func.count(HumanTask.id)).where(
                HumanTask.element_id == "approve_l1", HumanTask.status == "open"
            )
        )
        == 30
    )


def test_a_launch_writes_each_chunk_in_a_few_statements_whatever_its_size(world):
    """The copies of a chunk go in with their ids drawn first (a sequence's values on
    PostgreSQL, the next ids under the write lock on SQLite): one statement per table,
    not one per case, and the case numbers go in with the rows."""
    archive_workers(world.session, [world.orgs["g1"].id, world.orgs["g3"].id], 40)
    row = campaigns.start_launch(world.session, world.user("mgr"), world.campaigns["winter"].id)
    seen = []

    def count(_conn, _cursor, statement, *_args):
        seen.append(statement.split(None, 3)[:3])

    bind = world.session.get_bind()
    event.listen(bind, "before_cursor_execute", count)
    try:
        campaigns.run_launch(world.factory, row.id, chunk=40)
    finally:
        event.remove(bind, "before_cursor_execute", count)
    inserts = [s for s in seen if s[:2] == ["INSERT", "INTO"]]
    assert len(inserts) <= 6, inserts  # case, claim, instance, task, audit, the launch's
    assert len(seen) < 40, seen  # not one statement per case (it was three on SQLite)
    winter = world.session.scalars(
        select(Case).where(Case.campaign_id == world.campaigns["winter"].id)
    ).all()
    assert len(winter) == 40
    assert all(c.case_no == f"SJ2026{c.id:06d}" for c in winter), [c.case_no for c in winter]


def _analyses(session, tables) -> dict:
    """How often each table was analysed by hand, as the server counts it now."""
    session.execute(sql_text("SELECT pg_stat_clear_snapshot()"))
    return dict(
        session.execute(
            sql_text(
                "SELECT relname, analyze_count FROM pg_stat_user_tables "
                "WHERE relname = ANY(CAST(:tables AS name[]))"
            ),
            {"tables": list(tables)},
        ).all()
    )


def test_a_large_launch_leaves_the_planner_fresh_statistics(world, monkeypatch):
    """Plans made while the tables were small stay in each connection's cache until the
    tables are analysed: foreign-key checks then scanned the whole case table for every
    audit row of the next bank import. A launch of many cases analyses what it grew."""
    if world.session.get_bind().dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite keeps no statistics unless asked")
    grown = ("case", "process_instance", "human_task")
    archive_workers(world.session, [world.orgs["g1"].id], 12)
    world.session.commit()
    monkeypatch.setattr(campaigns, "ANALYZE_AFTER", 13)  # one case more than this launch
    before = _analyses(world.session, grown)
    world.session.commit()
    assert launch(world).created == 12
    assert _analyses(world.session, grown) == before  # a small launch leaves it to autovacuum
    world.session.commit()

    archive_workers(world.session, [world.orgs["g3"].id], 13, start=100)
    world.session.commit()
    assert launch(world).created == 13
    after = _analyses(world.session, grown)
    assert after == {table: before.get(table, 0) + 1 for table in grown}, (before, after)


def test_a_worker_who_applied_meanwhile_costs_only_their_own_case(world, monkeypatch):
    """Someone registers one of the chunk's workers between the launch's claim check and
    its bulk write (COPY on PostgreSQL): the chunk's write is undone to its savepoint and
    the chunk goes one by one; that worker keeps their one case, the others get theirs."""
    archive_workers(world.session, [world.orgs["g1"].id], 7)
    write = campaigns._write_copies
    taken = []

    def meanwhile(session, actor, orgs, opening, campaign, fast):
        if not taken:
            worker = fast[3][0]
            other = world.factory()
            try:
                scope = campaigns._claim_scope(opening.prog, campaign)
                case = Case(
                    programme="seasonal_aid",
                    campaign_id=campaign.id,
                    org_id=worker.org_id,
                    applicant_name=worker.worker_name,
                    subject_key=worker.subject_key,
                    subject_id_masked=worker.subject_id_masked,
                )
                other.add(case)
                other.flush()
                other.add(
                    GrantClaim(
                        programme=scope[0],
                        year=scope[1],
                        subject_key=worker.subject_key,
                        case_id=case.id,
                    )
                )
                other.commit()
            finally:
                other.close()
            taken.append(worker.subject_key)
        return write(session, actor, orgs, opening, campaign, fast)

    monkeypatch.setattr(campaigns, "_write_copies", meanwhile)
    done = launch(world)
    assert done.status == "done"
    assert (done.created, done.failed) == (6, 1)
    winter = world.campaigns["winter"].id
    keys = world.session.scalars(select(Case.subject_key).where(Case.campaign_id == winter)).all()
    assert len(keys) == 7 and keys.count(taken[0]) == 1
    assert (
        world.session.scalar(
            select(func.count(HumanTask.id)).where(
                HumanTask.element_id == "approve_l1", HumanTask.status == "open"
            )
        )
        == 6
    )


def test_launch_is_for_managers_and_seasonal_campaigns_only(world):
    from workflows.errors import Forbidden

    with pytest.raises(Forbidden):
        campaigns.start_launch(world.session, world.user("cw1"), world.campaigns["winter"].id)
    with pytest.raises(ValidationFailed, match="本人申请"):
        campaigns.start_launch(world.session, world.user("mgr"), world.campaigns["tuition"].id)


def test_a_worker_without_a_valid_card_is_reported_not_launched(world):
    archive_workers(world.session, [world.orgs["g1"].id], 3)
    from workflows.models import HardshipRecord

    record = world.session.scalars(select(HardshipRecord)).first()
    record.bank_card = "123"
    world.session.commit()
    row = launch(world)
    assert (row.created, row.failed) == (2, 1)
    assert "银行卡号无效" in row.message


def test_thousand_cases_five_percent_failed_reconcile_to_the_fen(world):
    archive_workers(world.session, [world.orgs["g1"].id, world.orgs["g3"].id], 1000)
    assert launch(world).created == 1000
    assert approve_all(world.session, approvers(world)) >= 2000

    first = pay_round(world, fail_every=20)
    failed_first = world.session.scalar(
        select(func.count(PaymentLine.id)).where(PaymentLine.result == "failed")
    )
    assert failed_first == sum(b.line_count // 20 for b in first)
    assert 45 <= failed_first <= 55
    assert correct_cards(world) == failed_first
    second = pay_round(world, fail_every=None)
    assert sum(b.line_count for b in second) == failed_first

    s = world.session
    s.expire_all()
    winter = world.campaigns["winter"].id
    payments = s.scalars(select(Payment).where(Payment.campaign_id == winter)).all()
    assert len(payments) == 1000 and {p.status for p in payments} == {"paid"}
    # Paid exactly once: one successful bank line per payment.
    paid_lines = s.execute(
        select(PaymentLine.payment_id, func.count())
        .where(PaymentLine.result == "paid")
        .group_by(PaymentLine.payment_id)
    ).all()
    assert len(paid_lines) == 1000 and {n for _, n in paid_lines} == {1}
    assert {c.outcome for c in s.scalars(select(Case).where(Case.campaign_id == winter))} == {
        "end_paid"
    }
    paid_fen = sum(p.amount_fen for p in payments)
    assert paid_fen == s.scalar(
        select(func.sum(PaymentLine.amount_fen)).where(PaymentLine.result == "paid")
    )
    budgets = s.scalars(select(CampaignBudget).where(CampaignBudget.campaign_id == winter)).all()
    assert sum(b.reserved_fen for b in budgets) == paid_fen
    assert s.scalar(select(func.sum(BudgetReservation.amount_fen))) == paid_fen
    assert (
        s.scalar(select(func.count(PaymentBatch.id)).where(PaymentBatch.status != "reconciled"))
        == 0
    )

    report = reports.campaign_report(s, world.user("mgr"), winter)
    assert report.total.paid_fen == paid_fen
    assert report.total.paid_count == 1000 and report.total.helped == 1000
    assert report.total.pending_fen == report.total.failed_fen == 0
    assert sum(f.paid_fen for f in report.by_category) == paid_fen
    by_district = {f.label: f for f in report.by_district}
    for budget in budgets:
        district = s.get(type(world.orgs["d1"]), budget.org_id)
        assert by_district[district.name].paid_fen == budget.reserved_fen
        assert by_district[district.name].budget_fen == budget.budget_fen


def _sent_batch(world, n=4):
    archive_workers(world.session, [world.orgs["g1"].id], n)
    launch(world)
    approve_all(world.session, approvers(world))
    fin = world.user("fin")
    batch = batches.build_batch(
        world.session, fin, world.campaigns["winter"].id, world.orgs["d1"].id
    )
    batches.mark_sent(world.session, fin, batch.id)
    return fin, batch


def test_the_same_result_file_twice_changes_nothing(world):
    fin, batch = _sent_batch(world)
    content = result_file(world.session, batch.id, fail_every=2)
    first = batches.import_results(world.session, fin, batch.id, "r.csv", content)
    assert (first.paid, first.failed) == (2, 2)
    again = batches.import_results(world.session, fin, batch.id, "r.csv", content)
    assert again.repeated and again.paid == again.failed == 0
    # The same answers in another file (an XLSX this time) change nothing either.
    xlsx = result_file(world.session, batch.id, fail_every=2, fmt="xlsx")
    third = batches.import_results(world.session, fin, batch.id, "r.xlsx", xlsx)
    assert (third.paid, third.failed, third.unchanged) == (0, 0, 4)
    statuses = [p.status for p in world.session.scalars(select(Payment).order_by(Payment.id))]
    assert sorted(statuses) == ["failed", "failed", "paid", "paid"]


def test_cases_move_on_many_per_transaction_and_a_failing_one_is_set_aside(world, monkeypatch):
    """Moving cases on after an import groups several cases in one transaction; a case
    that fails is rolled back alone: a conflict or an unexpected error leaves its answer
    pending for the next round, a refusal by the diagram marks it. The others move on."""
    monkeypatch.setattr(batches, "DELIVER_GROUP", 3)
    fin, batch = _sent_batch(world, n=6)
    content = result_file(world.session, batch.id)
    batches.import_results(world.session, fin, batch.id, "r.csv", content)
    ids = [p.id for p in world.session.scalars(select(Payment).order_by(Payment.id))]
    conflict, broken, refused = ids[0], ids[1], ids[4]
    notify = payments.notify_case

    def flaky(session, payment, actor_id, *read):
        if payment.id == refused:
            notify(session, payment, actor_id, *read)  # the case moved on (rows written) ...
            raise ProcessError("流程无法继续：测试")  # ... then refused: all of it undone
        if payment.id == conflict:
            raise Conflict("其他人已办理了此任务，请刷新后重试")
        if payment.id == broken:
            raise RuntimeError("a bug in one case")
        notify(session, payment, actor_id, *read)

    monkeypatch.setattr(payments, "notify_case", flaky)
    assert batches.deliver_results(world.session) == 3
    world.session.expire_all()
    by_id = {p.id: p for p in world.session.scalars(select(Payment))}
    assert {i for i, p in by_id.items() if p.delivery == ""} == set(ids) - {
        conflict,
        broken,
        refused,
    }
    assert (by_id[conflict].delivery, by_id[broken].delivery) == ("pending", "pending")
    assert by_id[refused].delivery == "error"
    refused_case = world.session.get(Case, by_id[refused].case_id)
    assert refused_case.status == "running"  # its move was undone with its savepoint
    assert (
        world.session.scalar(
            select(func.count(AuditEvent.id)).where(
                AuditEvent.case_id == refused_case.id, AuditEvent.action == "payment.result"
            )
        )
        == 0
    )
    paid = world.session.scalars(select(Case).where(Case.outcome == "end_paid")).all()
    assert len(paid) == 3
    # The next round delivers what was set aside for a retry.
    monkeypatch.setattr(payments, "notify_case", notify)
    assert batches.deliver_results(world.session) == 2
    world.session.expire_all()
    assert len(world.session.scalars(select(Case).where(Case.outcome == "end_paid")).all()) == 5


def _refused(world, fin, batch, content, *messages):
    before = [
        (p.id, p.status, p.lock_version)
        for p in world.session.scalars(select(Payment).order_by(Payment.id))
    ]
    with pytest.raises(ValidationFailed) as caught:
        batches.import_results(world.session, fin, batch.id, "r.csv", content)
    text = " ".join(caught.value.errors.values())
    for message in messages:
        assert message in text
    world.session.expire_all()
    after = [
        (p.id, p.status, p.lock_version)
        for p in world.session.scalars(select(Payment).order_by(Payment.id))
    ]
    assert after == before
    assert world.session.get(PaymentBatch, batch.id).status == "sent"


def test_a_bad_line_refuses_the_whole_file(world):
    fin, batch = _sent_batch(world)
    good = result_file(world.session, batch.id).decode()
    lines = good.splitlines()
    ref = lines[1].split(",")[0]
    unknown = "\n".join([*lines, "PF20990101-9999-000001,1000.00,成功,"]).encode()
    _refused(world, fin, batch, unknown, "未知的参考号")
    changed = "\n".join([lines[0], lines[1].replace("1000.00", "1000.01"), *lines[2:]]).encode()
    _refused(world, fin, batch, changed, "不符")
    no_reason = "\n".join([lines[0], f"{ref},1000.00,失败,", *lines[2:]]).encode()
    _refused(world, fin, batch, no_reason, "原因")
    duplicate = "\n".join([*lines, lines[1]]).encode()
    _refused(world, fin, batch, duplicate, "重复")


def test_another_batchs_line_is_refused(world):
    fin, batch = _sent_batch(world)
    archive_workers(world.session, [world.orgs["g3"].id], 2, start=100)
    launch(world)
    approve_all(world.session, approvers(world))
    other = batches.build_batch(
        world.session, fin, world.campaigns["winter"].id, world.orgs["d2"].id
    )
    batches.mark_sent(world.session, fin, other.id)
    mine = result_file(world.session, batch.id).decode().splitlines()
    theirs = result_file(world.session, other.id).decode().splitlines()
    _refused(world, fin, batch, "\n".join([*mine, theirs[1]]).encode(), "属于批次")


def test_batches_are_for_finance_in_scope_and_never_take_a_payment_twice(world):
    fin, batch = _sent_batch(world)
    with pytest.raises(ValidationFailed, match="没有待发放"):
        batches.build_batch(world.session, fin, world.campaigns["winter"].id, world.orgs["d1"].id)
    from workflows.errors import Forbidden

    with pytest.raises(Forbidden):
        batches.build_batch(
            world.session, world.user("l2"), world.campaigns["winter"].id, world.orgs["d1"].id
        )
    with pytest.raises(Conflict):
        batches.mark_sent(world.session, fin, batch.id)
    # Card numbers leave whole in the bank file only; its name carries the reference.
    bank = batches.bank_file(world.session, fin, batch.id, "csv")
    assert bank.filename == f"{batch.reference}.csv"
    assert card(0) in bank.content.decode("utf-8-sig")
    xlsx = batches.bank_file(world.session, fin, batch.id, "xlsx")
    assert xlsx.content[:2] == b"PK"


def test_a_draft_batch_can_be_undone(world):
    archive_workers(world.session, [world.orgs["g1"].id], 2)
    launch(world)
    approve_all(world.session, approvers(world))
    fin = world.user("fin")
    batch = batches.build_batch(
        world.session, fin, world.campaigns["winter"].id, world.orgs["d1"].id
    )
    batches.cancel_batch(world.session, fin, batch.id)
    world.session.expire_all()
    assert {p.status for p in world.session.scalars(select(Payment))} == {"payable"}
    assert world.session.scalar(select(func.count(PaymentLine.id))) == 0


def test_campaign_settings_are_validated_and_versioned(world):
    mgr = world.user("mgr")
    data = dict(
        code="xsql2027",
        name="2027年夏送清凉",
        programme="seasonal_aid",
        season="summer",
        year=2027,
        aid_kind="goods",
        goods_name="防暑降温物资",
        notice_days=5,
        city_approval_threshold_fen=0,
        opens_on="2027-06-01",
        closes_on="2027-08-31",
        standards={k: 5000 for k in ("living", "medical", "schooling", "disaster", "other")},
    )
    campaign = campaigns.save_campaign(world.session, mgr, data)
    assert campaign.aid_kind == "goods" and campaign.lock_version == 1
    with pytest.raises(ValidationFailed) as caught:
        campaigns.save_campaign(
            world.session, mgr, dict(data, code="x2", closes_on="2027-05-01", standards={})
        )
    assert {"closes_on", "standards.living"} <= set(caught.value.errors)
    with pytest.raises(ValidationFailed) as caught:
        campaigns.save_campaign(world.session, mgr, dict(data, name="重复的代码"))
    assert "已被" in caught.value.errors["code"]
    campaigns.save_campaign(world.session, mgr, dict(data, name="改名"), campaign.id, 1)
    with pytest.raises(Conflict):
        campaigns.save_campaign(world.session, mgr, dict(data, name="旧页面"), campaign.id, 1)
    assert world.session.get(Campaign, campaign.id).name == "改名"


def test_budget_never_below_what_is_reserved(world):
    fin, batch = _sent_batch(world, n=2)
    mgr = world.user("mgr")
    winter = world.campaigns["winter"].id
    with pytest.raises(ValidationFailed) as caught:
        campaigns.set_budgets(world.session, mgr, winter, {world.orgs["d1"].id: 100})
    assert "不能低于" in caught.value.errors[str(world.orgs["d1"].id)]
    reserved = 100000 + 300000  # a living and a medical case
    rows = campaigns.set_budgets(world.session, mgr, winter, {world.orgs["d1"].id: reserved})
    d1 = next(r for r in rows if r.org.id == world.orgs["d1"].id)
    assert (d1.budget_fen, d1.reserved_fen, d1.remaining_fen) == (reserved, reserved, 0)


def test_launched_cases_carry_their_own_data_and_task_ids(world):
    from workflows import engine

    archive_workers(world.session, [world.orgs["g1"].id, world.orgs["g3"].id], 12)
    assert launch(world).created == 12
    s = world.session
    opened = s.scalars(select(Case).where(Case.campaign_id == world.campaigns["winter"].id)).all()
    seen_uuids = set()
    for case in opened:
        data = engine.case_data(s, case)
        assert data["worker_name"] == case.applicant_name
        assert data["case_no"] == case.case_no
        assert data["amount_fen"] == case.amount_fen
        assert data["account_name"] == case.applicant_name and len(data["bank_card"]) == 19
        task = s.scalars(select(HumanTask).where(HumanTask.case_id == case.id)).one()
        assert task.task_uuid not in seen_uuids
        seen_uuids.add(task.task_uuid)
        assert task.org_id == case.org_id  # level-1 approval at the worker's own union
        assert engine.load_case(s, case.id).workflow.get_task_from_id(UUID(task.task_uuid))
        # Inside the called approval process, the task still carries the case's programme
        # (the lists filter on it without joining the case).
        assert (task.process_id, task.programme) == ("approval_by_level", "seasonal_aid")


def test_every_task_carries_its_cases_programme_through_approval_and_payment(world):
    archive_workers(world.session, [world.orgs["g1"].id, world.orgs["g3"].id], 6)
    assert launch(world).created == 6
    approve_all(world.session, approvers(world))
    pay_round(world, fail_every=2)  # failed payments open 更正银行卡 in the case's process
    rows = world.session.execute(
        select(HumanTask.process_id, HumanTask.programme, Case.programme).join(
            Case, Case.id == HumanTask.case_id
        )
    ).all()
    assert {process for process, _mine, _case in rows} >= {"approval_by_level"}
    assert len({process for process, _mine, _case in rows}) >= 2
    assert all(mine == case for _process, mine, case in rows)
    l1 = world.user("l1")
    assert worklists.count_done(world.session, l1, TaskFilter(programme="seasonal_aid")) >= 3
    assert worklists.count_done(world.session, l1, TaskFilter(programme="tuition_grant")) == 0


def test_a_diagram_that_reads_personal_fields_is_run_case_by_case(world):
    from conftest import BPMN

    from workflows import engine, processes

    xml = (BPMN / "seasonal_aid.bpmn").read_text(encoding="utf-8")
    script = "approval_levels = 3 if amount_fen &gt; city_approval_threshold_fen else 2"
    assert script in xml
    xml = xml.replace(script, script + "\nname_length = len(worker_name)")
    processes.deploy_xml(world.session, world.user("mgr"), "seasonal_aid", xml)
    archive_workers(world.session, [world.orgs["g1"].id], 3)
    assert launch(world).created == 3
    for case in world.session.scalars(select(Case).where(Case.campaign_id.is_not(None))):
        assert engine.case_data(world.session, case)["name_length"] == len(case.applicant_name)


def test_goods_campaign_ends_in_signed_receipts_with_quantities_reported(world):
    archive_workers(world.session, [world.orgs["g1"].id], 3)
    summer = world.campaigns["summer"].id
    row = campaigns.start_launch(world.session, world.user("mgr"), summer)
    campaigns.run_launch(world.factory, row.id)
    approve_all(world.session, approvers(world))
    cw1 = world.user("cw1")
    receipts = [
        t for t in tasks.list_tasks(world.session, cw1, "all") if t.element_id == "sign_receipt"
    ]
    assert len(receipts) == 3
    for quantity, task in enumerate(receipts, start=2):
        tasks.complete(
            world.session,
            cw1,
            task.id,
            dict(
                goods_quantity=quantity,
                receipt_signed=True,
                signed_by="本人",
                sign_date="2026-09-08",
            ),
        )
    world.session.expire_all()
    closed = world.session.scalars(select(Case).where(Case.campaign_id == summer)).all()
    assert {c.outcome for c in closed} == {"end_goods"}
    assert sorted(c.goods_quantity for c in closed) == [2, 3, 4]
    assert world.session.scalar(select(func.count(Payment.id))) == 0
    report = reports.campaign_report(world.session, world.user("mgr"), summer)
    assert (report.total.helped, report.total.goods_quantity, report.total.paid_fen) == (3, 9, 0)


def test_log_lines_never_carry_a_whole_card_or_id_number(caplog):
    import logging

    from workflows import privacy

    privacy.install_log_masking()
    log = logging.getLogger("warmflow.test")
    number, id_number = card(7), "51100219800101001X"
    try:
        raise ValueError(f"INSERT ... [parameters: ('{number}', '{id_number}')]")
    except ValueError:
        log.exception("payment for %s failed", number)
    assert caplog.records
    text = caplog.text
    assert number not in text and id_number not in text
    assert number[-4:] in text and "Traceback" in text


def test_card_numbers_and_states_are_encrypted_at_rest(world):
    from sqlalchemy import text

    fin, batch = _sent_batch(world, n=2)
    s = world.session
    for table in ("payment", "payment_line", "hardship_record"):
        stored = s.execute(text(f"SELECT bank_card FROM {table}")).scalars().all()  # noqa: S608
        assert stored and all(v.startswith("enc1:") for v in stored), table
        assert not any(card(n) in v for v in stored for n in range(2))
    states = s.execute(text("SELECT state FROM process_instance")).scalars().all()
    assert states and all(bytes(v).startswith(b"WFE1") for v in states)
    # Read back through the models, the numbers are whole again (for the bank file).
    assert sorted(p.bank_card for p in s.scalars(select(Payment))) == sorted([card(0), card(1)])


def test_launch_copies_draw_distinct_version_4_task_ids():
    drawn = campaigns.fresh_uuids(5000)
    assert len(set(drawn)) == 5000
    for text in drawn[:200]:
        parsed = UUID(text)
        assert (
            str(parsed) == text
            and parsed.version == 4
            and parsed.variant == "specified in RFC 4122"
        )


def test_a_delivery_reuses_what_its_group_read(world):
    """Each case of a group is moved on from the instance, open tasks and calendar stamp
    the group read together: no case reads them again (a failed one took nine statements,
    three of them those reads)."""
    from test_round_trips import Statements

    fin, batch = _sent_batch(world, n=4)
    content = result_file(world.session, batch.id, fail_every=2)
    batches.import_results(world.session, fin, batch.id, "r.csv", content)
    with Statements(world.session.get_bind()) as counted:
        assert batches.deliver_results(world.session) == 4
    assert sum(s.startswith("SELECT process_instance") for s in counted.seen) == 1
    # Each case is moved on in a savepoint of its own: there, no read of what the group
    # read (a closing case's hooks still read their own rows).
    again = ("SELECT process_instance", "SELECT human_task.id", "SELECT change_stamp")
    cases_seen, inside = 0, False
    for statement in counted.seen:
        if statement.startswith("SAVEPOINT"):
            cases_seen, inside = cases_seen + 1, True
        elif statement.startswith("RELEASE"):
            inside = False
        elif inside:
            assert not statement.startswith(again), statement
    assert cases_seen >= 3  # the failed two and a paid one at least run one by one
    world.session.expire_all()
    corrections = world.session.scalars(
        select(HumanTask).where(HumanTask.element_id == "correct_bank_card")
    ).all()
    assert len(corrections) == 2 and {t.status for t in corrections} == {"open"}
    assert len(world.session.scalars(select(Case).where(Case.outcome == "end_paid")).all()) == 2
