"""Every `warmflow` command, on a fresh SQLite file: what it does, and that bad input ends
with a Chinese message and exit status 2, never a traceback. (`init-db --demo` runs as a
real process in tests/test_make_run.py.)"""

import base64
import subprocess
import sys
from datetime import date

import pytest
from click.testing import CliRunner
from conftest import BPMN
from sqlalchemy import func, select

from workflows import cli, crypto, db, workdays
from workflows.models import CalendarDay, CalendarYear, ProcessVersion


@pytest.fixture
def run(tmp_path, monkeypatch):
    """run("init-db") → the command's result, on a SQLite file of this test's own."""
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    monkeypatch.setenv("DATABASE_URL", url)
    runner = CliRunner()

    def invoke(*args: str):
        result = runner.invoke(cli.main, list(args))
        assert "Traceback" not in result.output
        return result

    invoke.factory = lambda: db.make_session_factory(db.make_engine(url))
    return invoke


def refused(result, *words: str) -> None:
    """Exit status 2 and a Chinese message naming what was wrong."""
    assert result.exit_code == 2, result.output
    assert result.output.startswith("错误：") or "\n错误：" in result.output, result.output
    for word in words:
        assert word in result.output, result.output


def versions(run) -> int:
    with run.factory()() as session:
        return session.scalar(select(func.count(ProcessVersion.id)))


def test_migrate_builds_the_schema_and_init_db_deploys_the_diagrams_once(run):
    migrated = run("migrate")
    assert migrated.exit_code == 0 and "数据库结构已是最新" in migrated.output
    assert versions(run) == 0

    first = run("init-db")
    assert first.exit_code == 0, first.output
    assert first.output.count("（新版本）") == 8 and "tuition_grant" in first.output
    again = run("init-db")
    assert again.exit_code == 0 and again.output.count("（未变化）") == 8
    assert versions(run) == 8


def test_deploy_adds_a_version_only_when_the_file_changed(run, tmp_path):
    run("migrate")
    source = BPMN / "home_visit.bpmn"
    first = run("deploy", str(source))
    assert first.exit_code == 0 and first.output.strip() == "home_visit v1"
    assert run("deploy", str(source)).output.strip() == "home_visit v1（未变化）"
    changed = tmp_path / "home_visit.bpmn"
    changed.write_text(source.read_text().replace('name="入户核查"', 'name="入户走访"', 1))
    assert run("deploy", str(changed)).output.strip() == "home_visit v2"


def test_deploy_refuses_a_bad_diagram_or_a_missing_file_in_chinese(run, tmp_path):
    run("migrate")
    broken = tmp_path / "broken.bpmn"
    broken.write_text("<definitions>不是 BPMN")
    refused(run("deploy", str(broken)))
    refused(run("deploy", str(tmp_path / "nowhere.bpmn")), "找不到文件", "nowhere.bpmn")
    refused(run("deploy"), "缺少参数")
    assert versions(run) == 0


def test_worker_once_runs_a_round_and_a_bad_interval_is_refused(run):
    run("init-db")
    once = run("worker", "--once")
    assert once.exit_code == 0, once.output
    refused(run("worker", "--interval", "soon"), "--interval", "不是秒数")
    refused(run("worker", "--interval", "0"), "间隔")


def test_calendar_year_enters_holidays_and_refuses_bad_dates_in_chinese(run):
    run("migrate")
    entered = run("calendar-year", "2027", "--holiday", "2027-01-01", "--workday", "2027-02-07")
    assert entered.exit_code == 0 and "2027 年节假日安排已录入" in entered.output
    with run.factory()() as session:
        calendar = workdays.load(session)
        assert session.get(CalendarYear, 2027) is not None
    assert not calendar.is_workday(date(2027, 1, 1)) and calendar.is_workday(date(2027, 2, 7))

    refused(run("calendar-year", "2027", "--holiday", "2027-13-01"), "2027-13-01", "不是日期")
    refused(run("calendar-year", "2027", "--holiday", "2028-01-01"), "不属于 2027 年")
    refused(
        run("calendar-year", "2027", "--holiday", "2027-05-01", "--workday", "2027-05-01"),
        "不能既是假日又是上班日",
    )
    refused(run("calendar-year", "明年"), "不是年份")
    refused(run("calendar-year", "1999"), "2000 至 2100")
    refused(run("calendar-year", "2027", "--holiday"), "--holiday", "需要一个值")
    with run.factory()() as session:  # nothing changed by the refusals
        days = session.scalars(select(CalendarDay.day).order_by(CalendarDay.day)).all()
    assert days == [date(2027, 1, 1), date(2027, 2, 7)]


def test_unknown_commands_options_and_extra_arguments_are_refused_in_chinese(run):
    refused(run("serve"), "没有“serve”这个命令", "init-db")
    refused(run("init-db", "--fast"), "没有 --fast 这个选项")
    refused(run("gen-key", "now"), "多余的参数")
    bare = run()
    assert bare.exit_code == 2 and "warmflow：困难职工帮扶业务系统的命令行" in bare.output


def test_an_unreachable_database_is_said_plainly(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:9/none?connect_timeout=2")
    result = CliRunner().invoke(cli.main, ["migrate"])
    assert result.exit_code == 1 and "错误：数据库操作失败" in result.output
    assert "Traceback" not in result.output


def test_gen_key_prints_a_usable_encryption_key(run, monkeypatch):
    result = run("gen-key")
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


@pytest.mark.parametrize(
    "command", [["-m", "workflows.cli"], ["-c", "from workflows.cli import main; main()"]]
)
def test_every_way_of_starting_the_command_line_knows_every_command(command, tmp_path):
    listed = subprocess.run(
        [sys.executable, *command, "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    for name in ("migrate", "init-db", "deploy", "worker", "calendar-year", "gen-key"):
        assert name in listed.stdout
    key = subprocess.run(
        [sys.executable, *command, "gen-key"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert key.returncode == 0, key.stderr
    assert len(base64.b64decode(key.stdout.strip())) == 32


def test_create_federation_once_after_init_db_without_the_demo(run, monkeypatch):
    """A real federation's first start: init-db says how to go on, create-federation makes
    the city federation and its first manager (password policy enforced) once only."""
    first = run("init-db")
    assert "create-federation" in first.output and "/setup" in first.output
    args = ["create-federation", "--code", "lz", "--name", "泸州市总工会"]
    args += ["--username", "admin.lz", "--display-name", "赵管理"]
    monkeypatch.setenv("WARMFLOW_FIRST_PASSWORD", "password1")
    refused(run(*args), "密码")
    monkeypatch.setenv("WARMFLOW_FIRST_PASSWORD", "Luzhou-Gonghui-2026")
    made = run(*args)
    assert made.exit_code == 0, made.output
    assert "泸州市总工会" in made.output and "admin.lz" in made.output
    refused(run(*args), "已完成初始设置")
    assert "create-federation" not in run("init-db").output
