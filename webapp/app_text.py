"""The app's own words that `workflows` produces in Chinese, shown in the reader's language.

`workflows` has no Flask and speaks the source language: status labels, roles, programme
names, and the audit trail's summaries, which are composed when an action happens and
stored. Stored lines are translated when they are shown, not when they are written, so
that every line ever written reads in the reader's language (and the CSV export, the
API and the database keep one language):

- a label is looked up in the catalogue as it stands (`tr`);
- a composed line is matched against the Chinese templates below, the template is
  translated and its values put back (`tr_line` for an audit action's summaries,
  `tr` for the few composed labels). Values stay as they were written: names, diagram
  labels, comments and bank answers are data. Only values named in TRANSLATED_VALUES are
  app words themselves (a programme's name, a role) and are translated in turn.

A line nobody registered here stays Chinese in English mode; tests/test_english_mode.py
walks every page of every role to catch one.
"""

import re
from datetime import date
from functools import cache

from flask import g, has_app_context
from flask_babel import format_date, get_locale, get_translations, gettext
from markupsafe import Markup


def N_(message: str) -> str:
    """Mark a template for extraction (pybabel -k N_); it is translated when shown."""
    return message


# Audit actions and the templates of their summaries (as workflows/ composes them).
LINES: dict[str, list[str]] = {
    "archive.create": [N_("建档，有效期至 %(day)s")],
    "archive.renew": [N_("回头看后继续保留档案，有效期至 %(day)s")],
    "archive.leave": [N_("解困脱困，退出档案")],
    "archive.cancel": [N_("案件撤销，档案随之注销")],
    "archive.import": [
        N_("导入档案文件“%(file)s”：共 %(total)s 行，跳过有误的 %(bad)s 行"),
        N_("导入档案文件“%(file)s”：共 %(total)s 行"),
    ],
    "archive.imported": [
        N_("档案文件“%(file)s”导入完成：导入 %(imported)s 人，跳过 %(skipped)s 行")
    ],
    "archive.export": [
        N_("导出困难职工档案 %(count)s 人（完整号码）"),
        N_("导出困难职工档案 %(count)s 人"),
    ],
    "archive.recheck_open": [N_("档案有效期届满，开始回头看：%(name)s")],
    "audit.export": [N_("导出审计日志 %(count)s 条")],
    "auth.locked": [N_("密码连续错误，账号锁定 15 分钟")],
    "auth.login": [N_("登录")],
    "auth.password_change": [N_("修改密码")],
    "auth.throttled": [N_("密码连续错误，登录需回答验证问题")],
    "auth.throttle_clear": [N_("解除%(what)s %(key)s 的登录限制（失败 %(count)s 次）")],
    "batch.build": [N_("生成发放批次 %(batch)s：%(count)s 笔，%(amount)s 元")],
    "batch.cancel": [N_("撤销发放批次 %(batch)s")],
    "batch.sent": [N_("发放批次 %(batch)s 已发送银行")],
    "batch.download": [N_("下载发放批次 %(batch)s 的银行文件（%(format)s）")],
    "batch.import": [
        N_(
            "导入批次 %(batch)s 的银行结果：成功 %(paid)s，失败 %(failed)s，"
            "已登记 %(unchanged)s，待结果 %(waiting)s"
        )
    ],
    "budget.reserve": [N_("占用%(where)s预算 %(amount)s 元，剩余 %(left)s 元")],
    "budget.release": [N_("案件未发放结案（%(outcome)s），释放预算 %(amount)s 元")],
    "budget.set": [N_("%(campaign)s %(org)s 预算 %(amount)s 元")],
    "calendar.enter_year": [
        N_("录入 %(year)s 年节假日安排：%(holidays)s 天假日，%(workdays)s 天调休上班")
    ],
    "campaign.create": [N_("活动“%(name)s”")],
    "campaign.update": [N_("活动“%(name)s”")],
    "campaign.launch": [N_("按档案发起“%(campaign)s”：在档职工 %(count)s 人")],
    "campaign.launched": [
        N_("“%(campaign)s”发起完成：新建 %(created)s，已有 %(skipped)s，未能发起 %(failed)s")
    ],
    "case.start": [N_("登记%(programme)s申请：%(name)s")],
    "case.cancel": [N_("撤销案件：%(reason)s")],
    "case.closed": [N_("结案：已撤销"), N_("结案：%(outcome)s")],
    "notice.post": [N_("发布公示（第 %(round)s 轮），公示期至 %(day)s")],
    "notice.close": [N_("公示期满无异议"), N_("异议成立，公示终止")],
    "notice.objection": [N_("收到异议（并入正在进行的调查）"), N_("收到异议，公示暂停，转入调查")],
    "org.first_run": [N_("初始设置：%(city)s（%(code)s），首位管理员 %(name)s（%(username)s）")],
    "org.create": [N_("新增单位：%(name)s（%(code)s），上级：%(parent)s")],
    "org.update": [N_("修改单位 %(name)s：%(changes)s")],
    "org.close": [N_("撤销单位：%(name)s（%(code)s）")],
    "org.reopen": [N_("恢复单位：%(name)s（%(code)s）")],
    "org.move": [N_("移动单位 %(name)s：%(before)s → %(after)s，转移审批任务 %(count)s 个")],
    "org.import": [
        N_("导入单位文件 %(file)s：新增 %(created)s，改名 %(renamed)s，未变 %(unchanged)s")
    ],
    "user.create": [N_("新增用户 %(name)s（%(username)s），%(org)s，%(roles)s")],
    "user.update": [N_("修改用户 %(name)s（%(username)s）：%(changes)s")],
    "user.deactivate": [N_("停用用户 %(name)s（%(username)s），退回已认领任务 %(count)s 个")],
    "user.reactivate": [N_("启用用户 %(name)s（%(username)s）")],
    "user.reset_password": [N_("重置用户 %(name)s（%(username)s）的密码")],
    "user.unlock": [N_("解锁用户 %(name)s（%(username)s）")],
    "user.import": [N_("导入用户文件 %(file)s：新增 %(created)s，未变 %(unchanged)s")],
    "payment.request": [
        N_("生成付款指令：%(amount)s 元，卡号 %(card)s"),
        N_("银行卡已更正（%(card)s），付款重新进入待发放"),
    ],
    "payment.result": [N_("银行发放成功"), N_("银行发放失败：%(reason)s")],
    "payment.delivery_error": [N_("银行结果未能推进案件：%(reason)s")],
    "process.deploy": [N_("部署流程“%(name)s”（%(process)s）第 %(number)s 版")],
    "task.claim": [N_("认领任务：%(task)s")],
    "task.unclaim": [N_("放弃认领：%(task)s")],
    "task.hand_over": [N_("转交任务：%(task)s → %(person)s")],
    # The step's name, then what was chosen and written (diagram labels and comments).
    "task.complete": [N_("%(task)s：%(entered)s")],
    "task.remind": [
        N_("催办：%(task)s → %(whom)s；留言：%(message)s"),
        N_("催办：%(task)s → %(whom)s"),
    ],
    "timer.fire": [N_("定时器到期，流程继续")],
    "timer.error": [N_("定时器执行失败：%(reason)s")],
}

# Composed labels that are not audit lines.
LABELS: list[str] = [
    # workflows/organisations.py: the levels of the tree.
    N_("市总工会"),
    N_("县（区）总工会"),
    N_("基层工会"),
    N_("已结案（%(outcome)s）"),
    N_("%(role)s（未认领）"),
    # workflows/documents.py: the printed papers' titles and remarks.
    N_("%(what)s拟资助对象"),
    N_("%(what)s拟慰问对象"),
    N_("%(what)s拟纳入困难职工档案人员"),
    N_("%(what)s拟帮扶对象"),
    N_("第 %(n)s 次公示"),  # before the next: it would match this too
    N_("%(subject)s公示"),
    N_("%(what)s审批表"),
    # workflows/archive_import.py: why a line of an archive file cannot be imported.
    N_("身份证号与第 %(line)s 行重复"),
    N_("单位代码“%(code)s”不存在或不在本单位范围内"),
    N_("单位“%(name)s”不存在或不在本单位范围内"),
    N_("未知的困难类别“%(value)s”"),
    N_("性别应为“男”或“女”，而不是“%(value)s”"),
    N_("建档日期“%(value)s”无法识别"),
    N_("有效期至“%(value)s”无法识别"),
    N_("有效期至超过 %(n)s 年以后"),
    # workflows/workdays.py: a period running into a year nobody has entered yet.
    N_("%(years)s的法定节假日安排尚未录入，期限暂按周一至周五计算，录入后以实际安排为准。"),
]


def _years(value: str) -> str:
    """ "2027年、2028年" → "2027, 2028"."""
    return gettext("、").join(part.removesuffix("年") for part in value.split("、"))


def _role_list(value: str) -> str:
    """ "经办人、基层工会审批人" → each role's name in the reader's language."""
    return gettext("、").join(tr(part) for part in value.split("、"))


# The field names a user or unit change lists (workflows/user_admin.py, organisations.py).
CHANGE_FIELDS = [
    N_("姓名"),
    N_("单位"),
    N_("角色"),
    N_("手机号"),
    N_("单位代码"),
    N_("单位名称"),
    N_("地址"),
    N_("电话"),
]


def _changes(value: str) -> str:
    """ "角色：经办人 → 经办人、基层工会审批人；手机号：— → 138…" with its field names and
    roles translated; the other values are data."""
    parts = []
    for part in value.split("；"):
        name, sep, rest = part.partition("：")
        if not sep:
            parts.append(part)
            continue
        if name == "角色":
            rest = " → ".join(_role_list(v) for v in rest.split(" → "))
        parts.append(gettext("%(field)s: %(change)s", field=gettext(name), change=rest))
    return gettext("；").join(parts)


# Values that are app words themselves, translated in turn.
TRANSLATED_VALUES = {
    "roles": _role_list,
    "changes": _changes,
    "programme": lambda v: tr(v),
    "role": lambda v: tr(v),
    "whom": lambda v: tr(v),
    "years": _years,
    "subject": lambda v: tr(v),
    # A campaign's name is data and stays; "2026年" or a programme's name is the app's.
    "what": lambda v: _years(v) if v.endswith("年") else tr(v),
}

_FIELD = re.compile(r"%\((\w+)\)s")


def _regex(template: str) -> re.Pattern:
    parts, last = [], 0
    for found in _FIELD.finditer(template):
        parts.append(re.escape(template[last : found.start()]))
        parts.append(f"(?P<{found.group(1)}>.+?)")
        last = found.end()
    parts.append(re.escape(template[last:]))
    return re.compile("".join(parts), re.DOTALL)


@cache
def _compiled(templates: tuple[str, ...]) -> list[tuple[re.Pattern, str]]:
    return [(_regex(t), t) for t in templates]


def english() -> bool:
    locale = get_locale()
    return locale is not None and locale.language == "en"


def _looked_up(text: str) -> str | None:
    translated = gettext(text)
    return translated if translated != text else None


def _matched(text: str, templates: tuple[str, ...]) -> str | None:
    for regex, template in _compiled(templates):
        found = regex.fullmatch(text)
        if found is None:
            continue
        values = {
            name: TRANSLATED_VALUES[name](value) if name in TRANSLATED_VALUES else value
            for name, value in found.groupdict().items()
        }
        return gettext(template, **values)
    return None


def tr(text: str | None) -> str:
    """An app word or composed label from `workflows`, in the reader's language."""
    if not text or not english() or isinstance(text, Markup):
        return text or ""
    text = str(text)
    return _looked_up(text) or _matched(text, tuple(LABELS)) or text


def tr_line(action: str, summary: str | None) -> str:
    """An audit or history line, in the reader's language."""
    if not summary or not english():
        return summary or ""
    return _looked_up(summary) or _matched(summary, tuple(LINES.get(action, ()))) or summary


def short_day(day: date) -> str:
    """ "12月8日" / "8 Dec"."""
    if english():
        return format_date(day, "d MMM")
    return f"{day.month}月{day.day}日"


def standing(found) -> str:
    """Where a case stands (workflows.worklists.Standing): its open steps as the diagram
    names them, or why it waits on no one, or how it ended."""
    if found is None:
        return ""
    if found.steps:
        return gettext("、").join(found.steps)
    if found.waiting is not None:
        from webapp.cases import waiting_text  # the case page's words for the same reason

        return waiting_text(found.waiting)
    values = {k: short_day(v) if isinstance(v, date) else v for k, v in found.values.items()}
    return gettext(found.label, **values) if values else tr(found.label)


def _translations():
    """The translations of this request, looked up once: Flask-Babel's template `_` looks
    them up again for every string (a task list page has some 200), a fifth of the page's
    time. The language is settled before a page renders (`remember_language`)."""
    if not has_app_context():
        return get_translations()
    found = g.get("_warmflow_translations")
    if found is None:
        found = g._warmflow_translations = get_translations()
    return found


def install_template_gettext(app) -> None:
    """Templates' `_`, `gettext`, `ngettext`, ... read `_translations()`, with Jinja's
    newstyle behaviour as Flask-Babel installs it (the translated text is autoescaped
    before its %(name)s values are put in)."""
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: _translations().ugettext(s),
        ngettext=lambda s, p, n: _translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: _translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: _translations().unpgettext(c, s, p, n),
    )


def init_app(app) -> None:
    from workflows.cases import SYSTEM_ACTOR

    app.jinja_env.globals["system_actor"] = SYSTEM_ACTOR
    app.add_template_filter(tr, "tr")
    app.add_template_filter(lambda summary, action: tr_line(action, summary), "tr_line")
    app.add_template_filter(standing, "standing")
