"""`warmflow` command line: set up the database, deploy diagrams, run the timer worker."""

import logging
import os
from datetime import date
from pathlib import Path

import click

from workflows import db, migrate, privacy, processes, timers, workdays


def bpmn_dir() -> Path:
    return Path(os.environ.get("WARMFLOW_BPMN_DIR", Path(__file__).parent.parent / "bpmn"))


def _factory():
    return db.make_session_factory(db.make_engine())


@click.group()
def main() -> None:
    """warmflow: trade-union hardship assistance case work."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # SpiffWorkflow logs every task state change at INFO: far too much for a worker's log.
    logging.getLogger("spiff").setLevel(logging.WARNING)
    privacy.install_log_masking()


@main.command("migrate")
def migrate_command() -> None:
    """Bring the database schema up to date (Alembic)."""
    migrate.upgrade(db.make_engine())
    click.echo("数据库结构已是最新。")


@main.command("init-db")
@click.option("--demo", is_flag=True, help="Also seed the 内江 demo federation and cases.")
def init_db(demo: bool) -> None:
    """Migrate, deploy the diagrams in bpmn/, and optionally seed demo data."""
    engine = db.make_engine()
    migrate.upgrade(engine)
    factory = db.make_session_factory(engine)
    with factory() as session:
        results = processes.deploy_files(session, None, sorted(bpmn_dir().glob("*.bpmn")))
        for r in results:
            state = "新版本" if r.created else "未变化"
            click.echo(f"流程 {r.version.process_id} 第 {r.version.number} 版（{state}）")
    if demo:
        from workflows import demo as demo_data

        with factory() as session:
            created = demo_data.seed(session)
        click.echo("已生成演示数据。" if created else "演示数据已存在，未重复生成。")
        click.echo(f"演示账号（密码均为 {demo_data.PASSWORD}）：")
        for username, role, org in demo_data.DEMO_LOGINS:
            click.echo(f"  {username:<18} {role}（{org}）")


@main.command("deploy")
@click.argument("files", nargs=-1, type=click.Path(exists=True, path_type=Path))
def deploy(files: tuple[Path, ...]) -> None:
    """Deploy BPMN files as new versions (unchanged files are skipped)."""
    with _factory()() as session:
        for r in processes.deploy_files(session, None, list(files)):
            click.echo(
                f"{r.version.process_id} v{r.version.number}" + ("" if r.created else "（未变化）")
            )


@main.command("worker")
@click.option("--once", is_flag=True, help="Fire what is due now and exit (for cron/tests).")
@click.option("--interval", default=30.0, show_default=True, help="Seconds between rounds.")
def worker(once: bool, interval: float) -> None:
    """Fire due timers (notice periods, yearly re-checks)."""
    timers.run_worker(_factory(), interval=interval, once=once)


@main.command("calendar-year")
@click.argument("year", type=int)
@click.option("--holiday", "holidays", multiple=True, help="A holiday date (YYYY-MM-DD).")
@click.option("--workday", "workdays_", multiple=True, help="A 调休 working day (YYYY-MM-DD).")
def calendar_year(year: int, holidays: tuple[str, ...], workdays_: tuple[str, ...]) -> None:
    """Enter a year's official holidays and make-up working days."""
    with _factory()() as session:
        workdays.enter_year(
            session,
            None,
            year,
            [date.fromisoformat(d) for d in holidays],
            [date.fromisoformat(d) for d in workdays_],
        )
    click.echo(f"{year} 年节假日安排已录入。")


if __name__ == "__main__":
    main()


@main.command("gen-key")
def gen_key() -> None:
    """Print a new WARMFLOW_ENCRYPTION_KEY (32 random bytes, base64)."""
    from workflows import crypto

    click.echo(crypto.new_key())
