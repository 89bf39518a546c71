"""Migration 0013 on a database that already has cases: who registered a case or did one
of its caseworker steps is recorded (four eyes hold for running cases too; a campaign
launch is no registration), and objections already investigated get their outcome."""

from sqlalchemy import text

from workflows import db, migrate

ROWS = [
    "INSERT INTO organisation (id, code, name, level, path) VALUES (1, 'g1', '帮扶站', 3, '/1/')",
    "INSERT INTO app_user (id, username, password_hash, display_name, org_id, roles, is_active,"
    " failed_logins, session_epoch, created_at) VALUES"
    " (1, 'both', 'x', '杨兼职', 1, 'caseworker approver_l1', 1, 0, 0, '2026-09-07 02:00:00'),"
    " (2, 'cw', 'x', '张经办', 1, 'caseworker', 1, 0, 0, '2026-09-07 02:00:00'),"
    " (3, 'mgr', 'x', '孙管理', 1, 'manager', 1, 0, 0, '2026-09-07 02:00:00')",
    'INSERT INTO "case" (id, case_no, programme, org_id, applicant_name, subject_key,'
    " subject_id_masked, amount_fen, status, outcome, outcome_label, cancel_reason, created_at,"
    " goods_quantity, category) VALUES"
    " (1, 'JQ2026000001', 'tuition_grant', 1, '王小明', 'k1', 'x', 1, 'running', '', '', '',"
    " '2026-09-07 02:00:00', 0, ''),"
    " (2, 'SJ2026000002', 'seasonal_aid', 1, '李四', 'k2', 'x', 1, 'running', '', '', '',"
    " '2026-09-07 02:00:00', 0, '')",
    "INSERT INTO audit_event (id, at, actor_id, case_id, action, summary, detail) VALUES"
    " (1, '2026-09-07 02:00:00', 1, 1, 'case.start', '', '{\"programme\": \"tuition_grant\"}'),"
    " (2, '2026-09-07 02:00:00', 3, 2, 'case.start', '',"
    ' \'{"programme": "seasonal_aid", "version": 1, "launch": true}\')',
    "INSERT INTO human_task (id, instance_id, case_id, task_uuid, process_id, element_id, name,"
    " candidate_group, org_id, assignee_id, status, created_at, completed_at, completed_by_id,"
    " lock_version) VALUES"
    " (1, 1, 1, 'u1', 'home_visit', 'home_visit_task', '入户核查', 'caseworker', 1, 2,"
    " 'completed', '2026-09-07 02:00:00', '2026-09-07 03:00:00', 2, 2),"
    " (2, 1, 1, 'u2', 'approval_by_level', 'approve_l1', '基层工会审批', 'approver_l1', 1,"
    " NULL, 'open', '2026-09-07 04:00:00', NULL, NULL, 1)",
    "INSERT INTO public_notice (id, case_id, org_id, programme, masked_name, masked_id,"
    " amount_fen, posted_at, ends_at, status, round, calendar_warning) VALUES"
    " (1, 1, 1, 'tuition_grant', '王*明', 'x', 1, '2026-09-07 03:00:00',"
    " '2026-09-15 16:00:00', 'passed', 2, '')",
    "INSERT INTO objection (id, notice_id, case_id, contact, reason, received_at, round) VALUES"
    " (1, 1, 1, '139', '收入不实', '2026-09-08 02:00:00', 1)",
]


def test_existing_cases_get_their_actors_and_objections_their_outcome(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    migrate.upgrade(engine, "0008")
    with engine.begin() as conn:
        conn.execute(text("PRAGMA foreign_keys=OFF"))
        for statement in ROWS:
            conn.execute(text(statement))
    migrate.upgrade(engine)
    with engine.connect() as conn:
        actors = conn.execute(
            text("SELECT user_id, case_id, what FROM case_actor ORDER BY user_id")
        ).all()
        objection = conn.execute(text("SELECT reference, outcome FROM objection")).one()
    assert [tuple(a) for a in actors] == [(1, 1, "registered"), (2, 1, "home_visit_task")]
    assert tuple(objection) == (None, "dismissed")  # the notice ran a second round
    engine.dispose()
