"""`warmflow init-db --demo` and `warmflow worker --once` on a fresh SQLite file."""

import pytest
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


def test_gen_key_prints_a_usable_encryption_key(monkeypatch):
    import base64

    from workflows import crypto

    result = CliRunner().invoke(cli.main, ["gen-key"])
    assert result.exit_code == 0
    key = result.output.strip()
    assert len(base64.b64decode(key)) == 32
    monkeypatch.setenv("WARMFLOW_ENCRYPTION_KEY", key)
    sealed = crypto.encrypt_text("6222020200112233446")
    assert "6222020200112233446" not in sealed
    assert crypto.decrypt_text(sealed) == "6222020200112233446"
    monkeypatch.setenv("WARMFLOW_ENCRYPTION_KEY", crypto.new_key())
    with pytest.raises(crypto.KeyError_):
        crypto.decrypt_text(sealed)  # another key cannot read it
    monkeypatch.setenv("WARMFLOW_ENCRYPTION_KEY", "not base64!")
    with pytest.raises(crypto.KeyError_):
        crypto.encrypt_text("x")
