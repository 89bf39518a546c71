"""What one task completion asks of the database, counted (never timed): a few statements,
one commit, the instance row written first so that a racing client is refused before
anything else is written."""

import pytest
from conftest import valid_card
from sqlalchemy import event, func, select

from workflows import cases, tasks
from workflows.errors import Conflict
from workflows.models import AuditEvent, Case, HumanTask, Payment, User

APPROVE = {"decision": "approve"}


class Statements:
    def __init__(self, engine):
        self.engine, self.seen, self.commits = engine, [], 0

    def _statement(self, _conn, _cursor, statement, *_args):
        self.seen.append(" ".join(statement.split())[:80])

    def _commit(self, _conn):
        self.commits += 1

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._statement)
        event.listen(self.engine, "commit", self._commit)
        return self

    def __exit__(self, *_exc):
        event.remove(self.engine, "before_cursor_execute", self._statement)
        event.remove(self.engine, "commit", self._commit)

    def writes(self) -> list[str]:
        return [s for s in self.seen if is_write(s)]


def is_write(statement: str) -> bool:
    """A statement that writes: INSERT / UPDATE / DELETE, or on PostgreSQL the completion's
    folded write (WITH w_instance AS (UPDATE process_instance ...) ...)."""
    return statement.startswith(("INSERT", "UPDATE", "DELETE", "WITH w_instance"))


def is_instance_write(statement: str) -> bool:
    return statement.startswith(("UPDATE process_instance", "WITH w_instance AS (UPDATE"))


def _at_level_one(world):
    """A 冬送温暖 case: it waits at level-1 approval from its registration."""
    return cases.start_case(
        world.session,
        world.user("cw1"),
        "seasonal_aid",
        dict(
            worker_name="李大山",
            worker_id_number=world.next_id("19750612"),
            hardship_category="living",
            bank_card=valid_card(),
            account_name="李大山",
        ),
        world.campaigns["winter"].id,
    )


def test_an_approval_takes_few_statements_one_commit_and_writes_the_instance_first(world):
    case = _at_level_one(world)
    task_id = world.open_task(case, "approve_l1").id
    user = world.user("l1")
    world.session.commit()
    with Statements(world.session.get_bind()) as counted:
        tasks.complete(world.session, user, task_id, {"decision": "approve"})
    # One read (the task with its instance, case, sibling tasks, the user's four-eyes row
    # and the calendar stamp); the instance write, with the completed task row and the
    # audit row (one statement on PostgreSQL, three on SQLite); the new task row and the
    # case's approvals. It was 11 before the read was folded into one, 7 before the
    # four-eyes row joined the read and the writes the instance's.
    postgres = world.session.get_bind().dialect.name == "postgresql"
    assert len(counted.seen) <= (4 if postgres else 6), counted.seen
    assert counted.commits == 1
    writes = counted.writes()
    assert is_instance_write(writes[0]), writes


def test_a_racing_completion_is_refused_at_its_first_write_with_nothing_kept(world):
    """Two approvals of one task, both read before either writes: the one that writes
    second is refused at the instance write, before any other row of it is written."""
    case = _at_level_one(world)
    task_id = world.open_task(case, "approve_l1").id
    world.session.commit()
    engine = world.session.get_bind()
    racing = world.factory()
    seen, other_done = [], []

    def interleave(_conn, _cursor, statement, *_args):
        seen.append(" ".join(statement.split())[:80])
        if is_instance_write(" ".join(statement.split())) and not other_done:
            other_done.append(True)  # the other approval commits first, in between
            other = world.factory()
            try:
                tasks.complete(other, other.get(User, world.users["l1"].id), task_id, APPROVE)
            finally:
                other.close()
            seen.clear()  # from here on: what the racing completion still writes

    event.listen(engine, "before_cursor_execute", interleave)
    try:
        with pytest.raises(Conflict):
            tasks.complete(racing, racing.get(User, world.users["l1"].id), task_id, APPROVE)
    finally:
        event.remove(engine, "before_cursor_execute", interleave)
        racing.close()
    assert other_done
    writes = [s for s in seen if is_write(s)]
    # On PostgreSQL the refused instance write carried the task and audit rows in the
    # same statement: they hung on it and were not written either (the counts below).
    assert writes == [], writes
    world.session.expire_all()
    audits = world.session.scalar(
        select(func.count(AuditEvent.id)).where(
            AuditEvent.case_id == case.id, AuditEvent.action == "task.complete"
        )
    )
    assert audits == 1  # one approval
    assert world.session.get(HumanTask, task_id).status == "completed"


def test_an_approval_posted_from_its_page_reads_only_what_the_form_needs(world, app, as_user):
    """The page's POST reads the task for its fields, then completes: no workflow restored
    for the page's read-only values, no rework report or failed payment looked up, and
    the four-eyes row asked for once."""
    from conftest import csrf_from

    case = _at_level_one(world)
    task_id = world.open_task(case, "approve_l1").id
    client = as_user("l1")
    token = csrf_from(client, f"/tasks/{task_id}")
    world.session.commit()
    with Statements(app.extensions["warmflow.sessions"].kw["bind"]) as counted:
        answer = client.post(f"/tasks/{task_id}", data={**APPROVE, "csrf_token": token})
    assert answer.status_code == 302
    assert counted.commits == 1
    reads = [s for s in counted.seen if s.startswith("SELECT")]
    assert not [s for s in reads if s.startswith(("SELECT payment", "SELECT audit_event"))]
    assert sum(s.startswith("SELECT case_actor") for s in reads) <= 1, reads
    assert world.open_task(case, "approve_l2") is not None


def test_an_application_reads_the_versions_once_and_claims_without_a_savepoint(world):
    """Registering a case: the newest version of its process and of every process it calls
    in one read of ids (the diagrams come from the cache, not from the rows), the grant's
    claim inserted with no savepoint around it, and no read of task rows or of who worked
    on a case that did not exist a moment ago."""
    _at_level_one(world)  # the versions loaded, as in a running server
    world.user("cw1")
    world.session.commit()
    with Statements(world.session.get_bind()) as counted:
        case = _at_level_one(world)
    assert case.case_no and world.open_task(case, "approve_l1") is not None
    versions = [s for s in counted.seen if "FROM process_version" in s]
    assert len(versions) == 1 and "bpmn_xml" not in versions[0], versions
    assert not [s for s in counted.seen if "SAVEPOINT" in s], counted.seen
    assert not [s for s in counted.seen if "FROM human_task" in s], counted.seen
    assert not [s for s in counted.seen if "FROM case_actor" in s], counted.seen
    # The case's number goes out with the instance's state (in one statement with it on
    # PostgreSQL, right after it on SQLite), not in an UPDATE before the claim.
    numbered = [i for i, s in enumerate(counted.seen) if s.startswith('UPDATE "case"')]
    first_state = next(i for i, s in enumerate(counted.seen) if is_instance_write(s))
    assert all(i > first_state for i in numbered), counted.seen
    postgres = world.session.get_bind().dialect.name == "postgresql"
    assert len(counted.seen) <= (9 if postgres else 11), counted.seen
    assert counted.commits == 1


def test_a_final_approval_reads_the_budget_with_its_names_and_writes_the_payment_once(world):
    """The final approval reserves the budget and asks for the payment: the district's
    budget is read, locked, with the unit's and the campaign's names for the audit row in
    one statement (the case's unit is not loaded for it), and the payment goes out with
    the action's other rows at its commit, not in a flush of its own before them."""
    case = _at_level_one(world)
    world.do("l1", case, "approve_l1", APPROVE)
    task_id = world.open_task(case, "approve_l2").id
    user = world.user("l2")
    world.session.commit()
    world.session.expunge_all()  # a new request: nothing of the case in the session
    user = world.session.get(User, user.id)
    world.session.commit()
    with Statements(world.session.get_bind()) as counted:
        tasks.complete(world.session, user, task_id, APPROVE)
    assert not [s for s in counted.seen if "FROM organisation" in s], counted.seen
    assert not [s for s in counted.seen if "FROM campaign " in s or "FROM campaign\n" in s]
    budget_reads = [s for s in counted.seen if s.startswith("SELECT campaign_budget")]
    assert len(budget_reads) == 1, counted.seen
    payment = world.session.scalars(select(Payment).where(Payment.case_id == case.id)).one()
    approved = world.session.scalar(select(Case.approved_fen).where(Case.id == case.id))
    assert payment.status == "payable" and payment.amount_fen == approved > 0
    reserved = world.session.scalars(
        select(AuditEvent.summary).where(
            AuditEvent.case_id == case.id, AuditEvent.action == "budget.reserve"
        )
    ).one()
    assert reserved.startswith("占用") and "冬送温暖" in reserved, reserved
    postgres = world.session.get_bind().dialect.name == "postgresql"
    assert len(counted.seen) <= (9 if postgres else 14), counted.seen
    assert counted.commits == 1
