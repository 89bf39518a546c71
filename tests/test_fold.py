"""Bank answers moved on many at once from one engine run (workflows/fold.py): every
folded case ends exactly as the engine would have ended it, and anything unusual goes
one by one."""

import pytest
from campaign_helpers import archive_workers, result_file
from sqlalchemy import func, select, update
from test_campaign_money import correct_cards

from workflows import batches, campaigns, engine, fold, payments, serialization, tasks
from workflows.models import (
    AuditEvent,
    Case,
    GrantClaim,
    HumanTask,
    Payment,
    ProcessInstance,
    PublicNotice,
)
from workflows.processes import loaded_version


def _launch_and_approve(world, count: int, comments: bool = True) -> None:
    """`count` launched winter cases, approved level by level; each approver writes a
    comment of its own into each case (values differ from case to case)."""
    archive_workers(world.session, [world.orgs["g1"].id, world.orgs["g3"].id], count)
    row = campaigns.start_launch(world.session, world.user("mgr"), world.campaigns["winter"].id)
    campaigns.run_launch(world.factory, row.id, chunk=50)
    world.session.expire_all()
    for name in ("l1", "l1_g3", "l2", "l2_d2", "l3"):
        user = world.user(name)
        for row in tasks.list_tasks(world.session, user, "all", limit=100000):
            data = {"decision": "approve"}
            if comments:
                data["comment"] = f"同意，{name} 意见 {row.case_id}"
            tasks.complete(world.session, user, row.id, data)


def _send_batches(world, fail_every=None) -> list[int]:
    fin = world.user("fin")
    built = []
    for group in batches.payable_groups(world.session, fin):
        batch = batches.build_batch(world.session, fin, group.campaign.id, group.org.id)
        batches.mark_sent(world.session, fin, batch.id)
        content = result_file(world.session, batch.id, fail_every)
        batches.import_results(world.session, fin, batch.id, "result.csv", content)
        built.append(batch.id)
    return built


def _snapshot(world) -> dict[int, bytes]:
    return {
        i.case_id: i.state
        for i in world.session.scalars(
            select(ProcessInstance).where(ProcessInstance.status == "running")
        )
    }


def _engine_would(world, case_id: int, state: bytes, payment: Payment) -> tuple:
    """What the engine alone makes of the case's saved state and its answer, in memory."""
    instance = world.session.scalars(
        select(ProcessInstance).where(ProcessInstance.case_id == case_id)
    ).one()
    version = loaded_version(world.session, instance.version_id)
    called = engine._called_versions(world.session, instance)
    workflow = serialization.state_from_bytes(
        state, version.spec, {pid: v.spec for pid, v in called.items()}
    )
    loaded = engine.Loaded(instance, instance.case, version, called, workflow)
    event = payments.result_event(payment.status, payments.failure_reason(payment), payment.id)
    engine.run(world.session, loaded, lambda wf: wf.send_event(event))
    closed = serialization.unpack(serialization.pack(engine.closed_state(workflow)))
    return closed, engine.outcome_of(workflow)


def _outcomes(world) -> list[str]:
    winter = world.campaigns["winter"].id
    return world.session.scalars(select(Case.outcome).where(Case.campaign_id == winter)).all()


def _count_one_by_one(monkeypatch) -> list[int]:
    calls: list[int] = []
    notify = payments.notify_case

    def counted(session, payment, actor_id, *read):
        calls.append(payment.id)
        notify(session, payment, actor_id, *read)

    monkeypatch.setattr(payments, "notify_case", counted)
    return calls


def test_folded_cases_end_exactly_as_the_engine_would_end_them(world, monkeypatch):
    _launch_and_approve(world, 40)
    _send_batches(world, fail_every=10)
    before = _snapshot(world)
    one_by_one = _count_one_by_one(monkeypatch)
    assert batches.deliver_results(world.session) == 40
    s = world.session
    s.expire_all()
    paid = s.scalars(select(Payment).where(Payment.status == "paid")).all()
    failed = s.scalars(select(Payment).where(Payment.status == "failed")).all()
    assert (len(paid), len(failed)) == (36, 4)
    # Most paid cases were closed from the template, not run one by one.
    assert len(set(one_by_one) & {p.id for p in paid}) <= 2 * fold.WITNESSES
    assert {p.id for p in failed} <= set(one_by_one)  # a failure opens a task: the engine's
    for payment in paid:
        stored = s.scalars(
            select(ProcessInstance).where(ProcessInstance.case_id == payment.case_id)
        ).one()
        case = s.get(Case, payment.case_id)
        expected, outcome = _engine_would(world, payment.case_id, before[payment.case_id], payment)
        assert serialization.unpack(stored.state) == expected
        assert (case.outcome, case.outcome_label) == outcome == ("end_paid", "慰问金已发放")
        assert stored.status == "completed" and stored.next_timer_at is None
        assert case.status == "completed" and case.closed_at is not None
        # Its own values came back, not another case's.
        data = expected["data"]
        assert data["payment_result"]["payment_id"] == payment.id
        assert data["bank_card"] == payment.bank_card
        actions = s.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.case_id == case.id)
            .order_by(AuditEvent.id.desc())
            .limit(2)
        ).all()
        assert actions == ["case.closed", "payment.result"]
        assert payment.delivery == ""
    # What closing does besides (the close hooks): notices closed, claims kept for the
    # year, no task left open on a paid case.
    paid_cases = [p.case_id for p in paid]
    assert (
        s.scalar(
            select(func.count(HumanTask.id)).where(
                HumanTask.case_id.in_(paid_cases), HumanTask.status == "open"
            )
        )
        == 0
    )
    assert s.scalar(
        select(func.count(GrantClaim.id)).where(GrantClaim.case_id.in_(paid_cases))
    ) == len(paid_cases)
    assert not s.scalars(
        select(PublicNotice.status).where(
            PublicNotice.case_id.in_(paid_cases), PublicNotice.status.in_(("open", "objection"))
        )
    ).all()
    corrections = s.scalars(
        select(HumanTask).where(HumanTask.element_id == "correct_bank_card")
    ).all()
    assert sorted(t.case_id for t in corrections) == sorted(p.case_id for p in failed)


def test_a_corrected_card_paid_later_closes_its_case_too(world, monkeypatch):
    _launch_and_approve(world, 12, comments=False)
    _send_batches(world, fail_every=3)
    assert batches.deliver_results(world.session) == 12
    assert correct_cards(world) == 4
    _send_batches(world)
    assert batches.deliver_results(world.session) == 4
    world.session.expire_all()
    outcomes = _outcomes(world)
    assert outcomes.count("end_paid") == 12
    corrected = world.session.scalars(select(Payment).where(Payment.attempts == 2)).all()
    for payment in corrected:
        state = serialization.unpack(
            world.session.scalars(
                select(ProcessInstance.state).where(ProcessInstance.case_id == payment.case_id)
            ).one()
        )
        assert state["data"]["bank_card"] == payment.bank_card
        assert state["data"]["payment_result"]["payment_id"] == payment.id


def test_a_template_that_differs_from_the_engine_folds_nothing(world, monkeypatch):
    _launch_and_approve(world, 10, comments=False)
    _send_batches(world)
    monkeypatch.setattr(fold, "matches", lambda *args: False)
    one_by_one = _count_one_by_one(monkeypatch)
    assert batches.deliver_results(world.session) == 10
    assert len(one_by_one) == 10
    world.session.expire_all()
    assert _outcomes(world) == ["end_paid"] * 10


def test_a_folded_set_that_fails_goes_one_by_one(world, monkeypatch):
    """One case of the folded set cannot be closed (say another worker moved it on): the
    set's savepoint is undone and its cases run one by one; nothing is lost or doubled."""
    _launch_and_approve(world, 10, comments=False)
    _send_batches(world)
    close = fold.close
    seen = []

    def flaky(session, template, shape, instance, payment):
        seen.append(payment.id)
        if len(seen) == 3:
            raise RuntimeError("the third folded case breaks")
        return close(session, template, shape, instance, payment)

    monkeypatch.setattr(fold, "close", flaky)
    one_by_one = _count_one_by_one(monkeypatch)
    assert batches.deliver_results(world.session) == 10
    assert len(one_by_one) == 10  # 2 witnesses, then the 8 of the failed set
    world.session.expire_all()
    s = world.session
    assert _outcomes(world) == ["end_paid"] * 10
    assert (
        s.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "payment.result"))
        == 10
    )
    assert (
        s.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "case.closed")) == 10
    )


def test_a_stale_case_in_a_folded_set_is_not_overwritten(world, monkeypatch):
    """The instance's lock version is checked when folded cases are written: a case whose
    row moved on after it was read makes the whole set go one by one, each case then
    closed once."""
    _launch_and_approve(world, 8, comments=False)
    _send_batches(world)
    close = fold.close
    moved = []

    def racing(session, template, shape, instance, payment):
        if not moved:
            # Someone else's write to this instance after it was read here.
            session.execute(
                update(ProcessInstance)
                .where(ProcessInstance.id == instance.id)
                .values(lock_version=ProcessInstance.lock_version + 1)
                .execution_options(synchronize_session=False)
            )
            moved.append(instance.id)
        return close(session, template, shape, instance, payment)

    monkeypatch.setattr(fold, "close", racing)
    one_by_one = _count_one_by_one(monkeypatch)
    assert batches.deliver_results(world.session) == 8
    assert len(one_by_one) == 8  # the witnesses, then the set that failed its check
    world.session.expire_all()
    s = world.session
    assert _outcomes(world) == ["end_paid"] * 8
    assert (
        s.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "payment.result"))
        == 8
    )


@pytest.mark.parametrize(
    "source, reads_id",
    [
        ("payment_result['status'] == 'paid'", False),
        ("reason = payment_result['reason']", False),
        ("x = payment_result['payment_id']", True),
        ("x = payment_result.get('payment_id')", True),
        ("x = payment_result", True),
        ("k = 'payment_id'\nx = payment_result[k]", True),
    ],
)
def test_the_answer_s_payment_id_stands_in_only_where_no_expression_reads_it(
    source, reads_id, monkeypatch
):
    monkeypatch.setattr(engine, "expression_sources", lambda versions, only=None: [source])
    assert fold._reads([]).payment_id_read is reads_id


def test_a_diagram_expression_that_does_not_parse_folds_nothing(monkeypatch):
    monkeypatch.setattr(engine, "expression_sources", lambda versions, only=None: ["a = ("])
    assert fold._reads([]) is None
