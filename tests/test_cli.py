"""`warmflow init-db --demo` and `warmflow worker --once` on a fresh SQLite file."""

from click.testing import CliRunner
from sqlalchemy import func, select

from workflows import cli, db
from workflows.models import Case, ProcessVersion


def test_init_db_with_demo_then_again_changes_nothing_and_worker_runs_once(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    monkeypatch.setenv("DATABASE_URL", url)
    runner = CliRunner()
    first = runner.invoke(cli.main, ["init-db", "--demo"])
    assert first.exit_code == 0, first.output
    assert "tuition_grant" in first.output and "warmflow2026" in first.output
    factory = db.make_session_factory(db.make_engine(url))
    with factory() as session:
        versions = session.scalar(select(func.count(ProcessVersion.id)))
        demo_cases = session.scalar(select(func.count(Case.id)))
    assert versions == 7 and demo_cases > 10

    again = runner.invoke(cli.main, ["init-db", "--demo"])
    assert again.exit_code == 0, again.output
    assert "未变化" in again.output and "未重复生成" in again.output
    with factory() as session:
        assert session.scalar(select(func.count(ProcessVersion.id))) == versions
        assert session.scalar(select(func.count(Case.id))) == demo_cases

    worker = runner.invoke(cli.main, ["worker", "--once"])
    assert worker.exit_code == 0, worker.output
