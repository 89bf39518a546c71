"""`warmflow import-archive FILE --org CODE`: the same checks and import as the page, on a
fresh SQLite file; a file with errors imports nothing unless --skip-bad, and the same file
again changes nothing."""

import pytest
from archive_helpers import csv_bytes, worker_row
from click.testing import CliRunner
from sqlalchemy import func, select

from workflows import cli, db, users
from workflows.models import ArchiveImport, HardshipRecord


@pytest.fixture
def run(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    monkeypatch.setenv("DATABASE_URL", url)
    runner = CliRunner()

    def invoke(*args: str):
        result = runner.invoke(cli.main, list(args))
        assert "Traceback" not in result.output
        return result

    invoke.factory = lambda: db.make_session_factory(db.make_engine(url))
    assert invoke("init-db").exit_code == 0
    with invoke.factory()() as session:
        city = users.add_organisation(session, "nj", "内江市总工会")
        district = users.add_organisation(session, "szq", "市中区总工会", city)
        users.add_organisation(session, "szq1", "城东街道帮扶站", district)
        users.add_user(session, "mgr", "pw-mgr", "孙管理", city, ["manager"], check_policy=False)
        session.commit()
    return invoke


def records(run) -> int:
    with run.factory()() as session:
        return session.scalar(select(func.count(HardshipRecord.id)))


def test_import_archive_checks_then_imports_once(run, tmp_path):
    rows = [worker_row(i) for i in range(1, 6)]
    rows[2]["身份证号"] = "51100219800101123X"
    path = tmp_path / "档案.csv"
    path.write_bytes(csv_bytes(rows))
    refused = run("import-archive", str(path), "--org", "nj")
    assert refused.exit_code == 2 and "第 4 行" in refused.output and "--skip-bad" in refused.output
    assert records(run) == 0
    done = run("import-archive", str(path), "--org", "nj", "--skip-bad")
    assert done.exit_code == 0 and "已导入 4 人" in done.output, done.output
    again = run("import-archive", str(path), "--org", "nj", "--skip-bad")
    assert again.exit_code == 0 and "不会有任何改变" in again.output
    assert records(run) == 4
    with run.factory()() as session:
        row = session.scalar(select(ArchiveImport).where(ArchiveImport.status == "done"))
        assert row.filename == "档案.csv" and row.confirmed_by_id is not None


def test_import_archive_refuses_unknown_units_and_files_in_chinese(run, tmp_path):
    missing = run("import-archive", str(tmp_path / "nope.csv"), "--org", "nj")
    assert missing.exit_code == 2 and "找不到文件" in missing.output
    path = tmp_path / "a.csv"
    path.write_bytes(csv_bytes([worker_row(1)]))
    unknown = run("import-archive", str(path), "--org", "nowhere")
    assert unknown.exit_code == 2 and "不存在" in unknown.output
