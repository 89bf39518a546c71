"""`warmflow` command line: set up the database, deploy diagrams, run the timer worker.

Administrators read it in Chinese like the rest of warmflow: a wrong command, option or
value ends with a Chinese message and exit status 2, never with a traceback.
"""

import logging
import os
import sys
from datetime import date
from pathlib import Path

import click
from sqlalchemy.exc import SQLAlchemyError

from workflows import db, migrate, paths, privacy, processes, runtime, timers, workdays
from workflows.errors import WarmflowError

log = logging.getLogger(__name__)
USAGE_ERROR = 2  # click's own status for bad usage; bad values get it too


def bpmn_dir() -> Path:
    """The diagrams `init-db` deploys: WARMFLOW_BPMN_DIR, else the copy an installed
    package carries (workflows/bpmn, added at build time), else the source tree's bpmn/."""
    if os.environ.get("WARMFLOW_BPMN_DIR"):
        return Path(os.environ["WARMFLOW_BPMN_DIR"])
    packaged = Path(__file__).parent / "bpmn"
    if packaged.is_dir():
        return packaged
    return Path(__file__).parent.parent / "bpmn"


def _factory():
    return db.make_session_factory(db.make_engine())


# --- Chinese for click's own errors -------------------------------------------------------


def _name(err: click.ClickException) -> str:
    param = getattr(err, "param", None)
    if param is not None:
        if isinstance(param, click.Option):
            return "/".join(param.opts)
        return param.metavar or (param.name or "").upper()
    hint = getattr(err, "param_hint", None)
    if isinstance(hint, list | tuple):
        return "/".join(hint)
    return str(hint or "")


def chinese_message(err: click.ClickException) -> str:
    """What went wrong, in Chinese (click's messages are English)."""
    if isinstance(err, click.exceptions.NoSuchOption):
        return f"没有 {err.option_name} 这个选项（warmflow --help 列出全部命令和选项）"
    if isinstance(err, click.exceptions.BadOptionUsage):
        return f"选项 {err.option_name} 后面需要一个值"
    if isinstance(err, click.exceptions.MissingParameter):
        return f"缺少参数 {_name(err)}"
    if isinstance(err, click.BadParameter):
        message = err.message if _is_chinese(err.message) else "格式不对"
        return f"参数 {_name(err)} 的值无效：{message}"
    if _is_chinese(err.message):
        return err.message
    if "unexpected extra argument" in err.message:
        return "多余的参数：" + err.message.split("(", 1)[-1].rstrip(")")
    return f"命令行有误（{err.message}）"


def _is_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text or "")


class Commands(click.Group):
    """The `warmflow` group: paths resolved before any command, errors in Chinese."""

    def resolve_command(self, ctx: click.Context, args: list[str]):
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            known = "、".join(sorted(self.list_commands(ctx)))
            raise click.UsageError(f"没有“{name}”这个命令。可用的命令：{known}", ctx)
        return super().resolve_command(ctx, args)

    def main(self, args=None, prog_name=None, **extra):  # noqa: ANN001 - click's signature
        extra.pop("standalone_mode", None)
        try:
            result = super().main(args, prog_name or "warmflow", standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as err:
            click.echo(err.ctx.get_help() if err.ctx else str(err))
            sys.exit(USAGE_ERROR)
        except click.ClickException as err:
            click.echo(f"错误：{chinese_message(err)}", err=True)
            sys.exit(USAGE_ERROR if isinstance(err, click.UsageError) else err.exit_code)
        except click.exceptions.Abort:
            click.echo("已取消。", err=True)
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


def _refuse(message: str) -> None:
    """Bad input found by the command itself: a Chinese message, exit status 2."""
    raise click.UsageError(message)


def _run(work):
    """A command's work: a service's refusal is bad input (exit 2); a database that cannot
    be reached is said so plainly (exit 1). Either way no traceback reaches the screen."""
    try:
        return work()
    except WarmflowError as err:
        found = getattr(err, "errors", None) or {}
        lines = [err.message, *(f"  {key}：{text}" for key, text in found.items())]
        _refuse("\n".join(lines))
    except SQLAlchemyError as err:
        log.debug("database error", exc_info=True)
        reason = str(getattr(err, "orig", None) or err).splitlines()[0][:200]
        click.echo(f"错误：数据库操作失败（DATABASE_URL）：{reason}", err=True)
        sys.exit(1)


class Year(click.ParamType):
    name = "年份"

    def convert(self, value, param, ctx):  # noqa: ANN001 - click's signature
        if isinstance(value, int):
            year = value
        elif str(value).strip().isdigit():
            year = int(str(value).strip())
        else:
            self.fail(f"“{value}”不是年份，请写四位数字，如 2027", param, ctx)
        if not 2000 <= year <= 2100:
            self.fail(f"年份应在 2000 至 2100 之间（收到 {value}）", param, ctx)
        return year


class Day(click.ParamType):
    name = "日期"

    def convert(self, value, param, ctx):  # noqa: ANN001 - click's signature
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(f"“{value}”不是日期，请按 2027-01-01 的格式填写", param, ctx)


class Seconds(click.ParamType):
    name = "秒数"

    def convert(self, value, param, ctx):  # noqa: ANN001 - click's signature
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"“{value}”不是秒数", param, ctx)
        if not 0.1 <= seconds <= 86400:
            self.fail("间隔应在 0.1 秒至 1 天之间", param, ctx)
        return seconds


# --- the commands -------------------------------------------------------------------------


@click.group(cls=Commands, help="warmflow：困难职工帮扶业务系统的命令行。")
def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # SpiffWorkflow logs every task state change at INFO: far too much for a worker's log.
    logging.getLogger("spiff").setLevel(logging.WARNING)
    privacy.install_log_masking()
    paths.configure()  # DATABASE_URL and WARMFLOW_FILES_DIR made absolute, once
    runtime.tune_gc()


@main.command("migrate", help="把数据库结构升级到最新版本（Alembic）。")
def migrate_command() -> None:
    _run(lambda: migrate.upgrade(db.make_engine()))
    click.echo("数据库结构已是最新。")


@main.command("init-db", help="升级数据库结构，部署 bpmn/ 中的流程；加 --demo 生成演示数据。")
@click.option("--demo", is_flag=True, help="同时生成内江演示单位、账号和案件。")
def init_db(demo: bool) -> None:
    def work() -> None:
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
        else:
            from workflows import first_run

            with factory() as session:
                if first_run.needed(session):
                    click.echo(
                        "还没有任何用户：运行 warmflow create-federation，"
                        "或启动后在浏览器打开 /setup，创建市总工会和第一位管理员。"
                    )

    _run(work)


@main.command(
    "create-federation",
    help="首次启动（无演示数据）：创建市总工会和第一位管理员；已有用户时拒绝。",
)
@click.option("--code", required=True, help="市总工会的单位代码，如 nj。")
@click.option("--name", required=True, help="市总工会名称，如 内江市总工会。")
@click.option("--username", required=True, help="第一位管理员的用户名。")
@click.option("--display-name", required=True, help="第一位管理员的姓名。")
@click.option(
    "--password",
    envvar="WARMFLOW_FIRST_PASSWORD",
    prompt="管理员密码",
    hide_input=True,
    confirmation_prompt="再次输入密码",
    help="不给出时提示输入（或取环境变量 WARMFLOW_FIRST_PASSWORD）。",
)
def create_federation(code: str, name: str, username: str, display_name: str, password: str):
    from workflows import first_run

    def work() -> None:
        with _factory()() as session:
            manager = first_run.create_federation(
                session, code, name, username, display_name, password
            )
            click.echo(
                f"已创建 {manager.org.name}（{manager.org.code}）和管理员 {manager.username}。"
            )
            click.echo("请用该账号登录，在“单位管理”“用户管理”中添加或导入单位和用户。")

    _run(work)


@main.command("deploy", help="把 BPMN 文件部署为新版本（未变化的文件跳过）。")
@click.argument(
    "files", nargs=-1, required=True, metavar="BPMN文件", type=click.Path(path_type=Path)
)
def deploy(files: tuple[Path, ...]) -> None:
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        _refuse(f"找不到文件：{'、'.join(missing)}")

    def work() -> None:
        with _factory()() as session:
            for r in processes.deploy_files(session, None, list(files)):
                suffix = "" if r.created else "（未变化）"
                click.echo(f"{r.version.process_id} v{r.version.number}{suffix}")

    _run(work)


@main.command("worker", help="定时任务：公示期满、回头看到期，以及银行回盘后推进案件。")
@click.option("--once", is_flag=True, help="只运行一轮就退出（供 cron 和测试使用）。")
@click.option(
    "--interval", type=Seconds(), default=30.0, show_default=True, help="两轮之间的秒数。"
)
def worker(once: bool, interval: float) -> None:
    if not _run(lambda: timers.run_worker(_factory(), interval=interval, once=once)):
        # Only --once returns; a cron job's mail then says the round failed.
        click.echo("错误：本轮定时任务出错，详见上面的日志。", err=True)
        sys.exit(1)


@main.command("calendar-year", help="录入某年的法定节假日和调休上班日。")
@click.argument("year", type=Year(), metavar="年份")
@click.option("--holiday", "holidays", multiple=True, type=Day(), help="放假日期（YYYY-MM-DD）。")
@click.option("--workday", "workdays_", multiple=True, type=Day(), help="调休上班日期。")
def calendar_year(year: int, holidays: tuple[date, ...], workdays_: tuple[date, ...]) -> None:
    outside = [d.isoformat() for d in (*holidays, *workdays_) if d.year != year]
    if outside:
        _refuse(f"{'、'.join(outside)} 不属于 {year} 年")
    both = sorted(set(holidays) & set(workdays_))
    if both:
        _refuse(f"{'、'.join(d.isoformat() for d in both)} 不能既是假日又是上班日")

    def work() -> None:
        with _factory()() as session:
            workdays.enter_year(session, None, year, sorted(holidays), sorted(workdays_))

    _run(work)
    click.echo(f"{year} 年节假日安排已录入：{len(holidays)} 天假日，{len(workdays_)} 天调休上班。")


@main.command(
    "import-archive", help="导入已有的困难职工档案（XLSX 或 CSV）：先检查整份文件，无误才导入。"
)
@click.argument("file", metavar="文件", type=click.Path(path_type=Path))
@click.option("--org", "org_code", required=True, help="导入到的单位代码（文件中的单位须在其下）。")
@click.option(
    "--user",
    "username",
    default="",
    help="以哪位管理员的名义导入（默认：该单位或上级单位的第一位管理员）。",
)
@click.option("--skip-bad", is_flag=True, help="跳过有误的行，只导入其余的行。")
@click.option("--check-only", is_flag=True, help="只检查并列出有误的行，不导入。")
def import_archive(
    file: Path, org_code: str, username: str, skip_bad: bool, check_only: bool
) -> None:
    if not file.is_file():
        _refuse(f"找不到文件：{file}")
    content = file.read_bytes()

    def work() -> None:
        from sqlalchemy import select

        from workflows import archive_import
        from workflows.models import Organisation, User

        factory = _factory()
        with factory() as session:
            org = session.scalar(select(Organisation).where(Organisation.code == org_code))
            if org is None:
                _refuse(f"单位代码“{org_code}”不存在")
            query = select(User).where(User.is_active.is_(True)).order_by(User.id)
            if username:
                query = query.where(User.username == username)
            user = next(
                (
                    u
                    for u in session.scalars(query)
                    if u.has_role("manager") and org.path.startswith(u.org.path)
                ),
                None,
            )
            if user is None:
                _refuse(
                    f"没有可导入到“{org.name}”的管理员账号" + (f"“{username}”" if username else "")
                )
            try:
                row = archive_import.preview(session, user, file.name, content, org_code)
            except archive_import.AlreadyImported as err:
                click.echo(err.message)
                return
            report = archive_import.report(row)
            click.echo(
                f"共 {report['total']} 行：可导入 {report['ok']}，有误 {report['bad']}，"
                f"提醒 {report['warned']}，已在档案中 {report['existing']}"
            )
            for item in report["lines"]:
                kind = "错误" if item["level"] == "error" else "提醒"
                click.echo(f"  第 {item['line']} 行（{kind}）：{item['text']}")
            if report["more"]:
                click.echo(f"  另有 {report['more']} 行未列出")
            if check_only or (report["bad"] and not skip_bad):
                archive_import.discard(session, user, row.id)
                if report["bad"] and not check_only:
                    _refuse(
                        "文件有误，未导入任何一行：请修改后重新导入，或加 --skip-bad 跳过有误的行"
                    )
                click.echo("只检查，未导入。")
                return
            archive_import.confirm(session, user, row.id, skip_bad)
            import_id = row.id
        archive_import.run_import(factory, import_id)
        with factory() as session:
            done = session.get(archive_import.ArchiveImport, import_id)
            if done.status != "done":
                click.echo(f"错误：{done.message}", err=True)
                sys.exit(1)
            click.echo(f"已导入 {done.imported} 人，跳过 {done.skipped} 行（导入批次 {done.id}）。")

    _run(work)


@main.command("gen-key", help="生成一个新的 WARMFLOW_ENCRYPTION_KEY（32 字节随机数，base64）。")
def gen_key() -> None:
    from workflows import crypto

    click.echo(crypto.new_key())


if __name__ == "__main__":  # `python -m workflows.cli`: every command is defined by now
    main()
