"""Demo data: the 内江 federation, one login per role, two campaigns and cases at every stage.

`seed(session)` builds everything through the real services (cases, tasks, notices,
payments, timers), replaying about six weeks of case work with the clock moved back
under time-machine: applications are registered, homes visited, notices posted and
left to run out (the timer worker fires them each night at 00:05), objections raised
and investigated, approvals given level by level, payments paid or refused by the bank.
Audit timestamps therefore read like real weeks of work, and each stage a case can stand
at is on screen for someone to pick up. The clock is released before `seed` returns.

Every step is placed on a working day counted back from today (`-1` is the last working
day before today), so the notices posted "yesterday" are still open whenever the demo is
seeded. The campaigns follow the day too: the 金秋助学 of the current autumn (of the last
one before August) and the 冬送温暖 of the winter the day falls in (else the nearest one),
each open from before the replay starts until a month after seeding,
so `make run` works on any day of any year, known to chinese-calendar or not. Dates in
the stories and birth dates move with the year. All demo logins share the password
`PASSWORD`.

Besides the cases shown at every stage, a few hundred workers are enrolled in the archive
(困难职工建档) through the same services, so that a 四季送 launch has people to open
cases for; 城东街道帮扶站 has a second caseworker and approver, for 转交.
"""

import json
import logging
import random
import re
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import time_machine
from sqlalchemy import select
from sqlalchemy.orm import Session
from stdnum import luhn
from stdnum.cn import ric

from workflows import cases, db, files, notices, payments, tasks, timers, users, workdays
from workflows.clock import CST, local_now
from workflows.models import (
    Campaign,
    CampaignBudget,
    HumanTask,
    Organisation,
    Payment,
    PublicNotice,
    User,
)
from workflows.processes import ROLES, latest_version

PASSWORD = "warmflow2026"  # noqa: S105 - the published password of the demo logins

# --- the federation and its people ------------------------------------------------------

CITY = ("nj", "内江市总工会")
# District federations: code, name, the region code their residents' ID numbers start with.
DISTRICTS = [
    ("szq", "市中区总工会", "511002"),
    ("dxq", "东兴区总工会", "511011"),
    ("zzx", "资中县总工会", "511025"),
]
UNIONS = {
    "szq": [("szq1", "城东街道帮扶站"), ("szq2", "内江钢铁厂工会")],
    "dxq": [("dxq1", "西林街道帮扶站"), ("dxq2", "东兴化工厂工会")],
    "zzx": [("zzx1", "水南镇帮扶站"), ("zzx2", "资中糖厂工会")],
}
ORG_NAMES = {
    CITY[0]: CITY[1],
    **{code: name for code, name, _ in DISTRICTS},
    **{code: name for units in UNIONS.values() for code, name in units},
}
REGION = {code: region for code, _, region in DISTRICTS}

# username → (display name, organisation code, role); listed top-down, as in the README.
PEOPLE: dict[str, tuple[str, str, str]] = {
    "manager.nj": ("孙立新", "nj", "manager"),
    # A district federation's manager: 单位管理 and 用户管理 of 市中区 only.
    "manager.szq": ("罗晓梅", "szq", "manager"),
    "finance.nj": ("钱晓燕", "nj", "finance"),
    "approver3.nj": ("赵国华", "nj", "approver_l3"),
    "approver2.szq": ("王海军", "szq", "approver_l2"),
    "caseworker.szq1": ("张敏", "szq1", "caseworker"),
    "caseworker.szq1b": ("刘洋", "szq1", "caseworker"),
    "approver1.szq1": ("李红", "szq1", "approver_l1"),
    "approver1.szq1b": ("何建军", "szq1", "approver_l1"),
    "caseworker.szq2": ("陈刚", "szq2", "caseworker"),
    "approver1.szq2": ("周建华", "szq2", "approver_l1"),
    "approver2.dxq": ("郑丽", "dxq", "approver_l2"),
    "caseworker.dxq1": ("林静", "dxq1", "caseworker"),
    "approver1.dxq1": ("吴德明", "dxq1", "approver_l1"),
    "caseworker.dxq2": ("蒋涛", "dxq2", "caseworker"),
    "approver1.dxq2": ("韩雪梅", "dxq2", "approver_l1"),
    "approver2.zzx": ("冯建平", "zzx", "approver_l2"),
    "caseworker.zzx1": ("朱丽萍", "zzx1", "caseworker"),
    "approver1.zzx1": ("秦勇", "zzx1", "approver_l1"),
    "caseworker.zzx2": ("许文", "zzx2", "caseworker"),
    "approver1.zzx2": ("沈志刚", "zzx2", "approver_l1"),
}
# (username, role label, organisation name) for the README and the command line.
DEMO_LOGINS: list[tuple[str, str, str]] = [
    (username, ROLES[role], ORG_NAMES[org]) for username, (_, org, role) in PEOPLE.items()
]
# The second person on each union's home visits (visits are made in pairs: a community
# grid worker or a workshop union leader).
VISIT_PARTNER = {
    "szq1": "李强",
    "szq2": "黄涛",
    "dxq1": "唐燕",
    "dxq2": "彭海",
    "zzx1": "曾德华",
    "zzx2": "邓梅",
}

# --- campaigns --------------------------------------------------------------------------
#
# Settings of the two campaigns; their year, code, name and dates follow the day the demo
# is seeded (`campaigns_for`).

TUITION_SETTINGS = dict(
    programme="tuition_grant",
    season="autumn",
    aid_kind="cash",
    standards={"college": 300000, "undergraduate": 500000, "postgraduate": 800000},
    city_approval_threshold_fen=500000,
    notice_days=5,
    district_budget_fen=2_000_000 * 100,
)
WINTER_SETTINGS = dict(
    programme="seasonal_aid",
    season="winter",
    aid_kind="cash",
    standards={
        "living": 100000,
        "medical": 300000,
        "schooling": 100000,
        "disaster": 200000,
        "other": 50000,
    },
    city_approval_threshold_fen=200000,
    notice_days=5,
    district_budget_fen=1_000_000 * 100,
)
# The year the stories and the birth dates below are written for.
STORY_YEAR = 2026
# A campaign stays open this long after seeding, so that new applications can be tried.
OPEN_AFTER_SEEDING = timedelta(days=30)


def tuition_year(today: date) -> int:
    """金秋助学 of this autumn from August on, of last autumn before."""
    return today.year if today.month >= 8 else today.year - 1


def winter_year(today: date) -> int:
    """冬送温暖 of the winter (November to February) the day falls in; from March to
    August, of the winter just past; in September and October, of the coming one."""
    return today.year if today.month >= 9 else today.year - 1


def campaigns_for(today: date, first_day: date) -> dict[str, dict]:
    """The demo's campaigns when seeded on `today` with the replay starting `first_day`:
    each open over its usual season, widened to the whole replay and a month beyond."""
    autumn, winter = tuition_year(today), winter_year(today)
    latest = today + OPEN_AFTER_SEEDING
    return {
        "tuition": dict(
            TUITION_SETTINGS,
            code=f"jq{autumn}",
            name=f"{autumn}年金秋助学",
            year=autumn,
            opens_on=min(date(autumn, 8, 1), first_day),
            closes_on=max(date(autumn, 12, 31), latest),
        ),
        "winter": dict(
            WINTER_SETTINGS,
            code=f"dsnw{winter}",
            name=f"{winter}年冬送温暖",
            year=winter,
            opens_on=min(date(winter, 11, 1), first_day),
            closes_on=max(date(winter + 1, 3, 1) - timedelta(days=1), latest),
        ),
    }


# --- personal numbers -------------------------------------------------------------------

_BANK_BINS = ["622202", "621700", "622848", "621661", "623668", "621799"]
_PHONE_PREFIXES = ["138", "139", "158", "187", "135", "182", "151", "177"]


def id_number(region: str, birth: str, serial: int, male: bool) -> str:
    """A valid 18-digit resident ID number; the 17th digit is odd for men, even for women."""
    sex = (serial % 5) * 2 + (1 if male else 0)
    prefix = f"{region}{birth}{serial % 100:02d}{sex}"
    return prefix + ric.calc_check_digit(prefix + "0")


def bank_card(serial: int) -> str:
    digits = (serial * 7_919_113 + 4_402_817) % 10**12
    body = f"{_BANK_BINS[serial % len(_BANK_BINS)]}{digits:012d}"
    return body + luhn.calc_check_digit(body)


def phone(serial: int) -> str:
    digits = (serial * 5_279_173 + 3_161) % 10**8
    return f"{_PHONE_PREFIXES[serial % len(_PHONE_PREFIXES)]}{digits:08d}"


# --- the demo cases ---------------------------------------------------------------------
#
# Each step is (action, working day, *arguments); the working day counts back from today
# (-1: the last working day before today). A notice runs 5 working days and the worker
# fires it at 00:05 the night after, so level-1 approval comes 6 working days after the
# visit at the earliest.


@dataclass(frozen=True)
class DemoCase:
    key: str
    union: str
    programme: str
    campaign: str | None  # "tuition" or "winter" (see campaigns_for)
    form: dict[str, Any]
    story: str  # what the home visit found
    steps: tuple[tuple, ...]

    def moved(self, years: int) -> "DemoCase":
        """The case told `years` later: birth dates in the ID numbers and the years in the
        stories move along (a student is 18 whichever year the demo is seeded)."""
        if not years:
            return self
        form = {
            key: later_id(value, years) if key.endswith("id_number") else value
            for key, value in self.form.items()
        }
        for key in ("hardship_description",):
            if key in form:
                form[key] = later_text(form[key], years)
        steps = tuple(
            tuple(later_text(a, years) if isinstance(a, str) else a for a in step)
            for step in self.steps
        )
        return replace(self, form=form, story=later_text(self.story, years), steps=steps)


_YEAR_IN_TEXT = re.compile(r"(?<!\d)(20[0-3]\d)(?=年)")


def later_text(text: str, years: int) -> str:
    return _YEAR_IN_TEXT.sub(lambda m: str(int(m.group(1)) + years), text)


def later_id(number: str, years: int) -> str:
    """The same person's ID number with the birth year `years` later (29 Feb → 28 Feb)."""
    birth = number[6:14]
    year, month, day = int(birth[:4]) + years, int(birth[4:6]), int(birth[6:8])
    if (month, day) == (2, 29) and not (year % 4 == 0 and (year % 100 or year % 400 == 0)):
        day = 28
    prefix = f"{number[:6]}{year:04d}{month:02d}{day:02d}{number[14:17]}"
    return prefix + ric.calc_check_digit(prefix + "0")


def _person(union: str, birth: str, male: bool, serial: int) -> str:
    return id_number(REGION[union[:3]], birth, serial, male)


def _tuition(
    serial: int,
    key: str,
    union: str,
    student: tuple[str, str, bool],
    parent: tuple[str, str, bool],
    university: str,
    major: str,
    level: str,
    tuition_yuan: int,
    story: str,
    *steps: tuple,
) -> DemoCase:
    form = dict(
        student_name=student[0],
        student_id_number=_person(union, student[1], student[2], serial),
        parent_name=parent[0],
        parent_id_number=_person(union, parent[1], parent[2], serial + 50),
        university=university,
        major=major,
        education_level=level,
        tuition_fen=tuition_yuan * 100,
        bank_card=bank_card(serial),
        account_name=parent[0],
        phone=phone(serial),
    )
    return DemoCase(key, union, "tuition_grant", "tuition", form, story, steps)


def _winter(
    serial: int,
    key: str,
    union: str,
    worker: tuple[str, str, bool],
    category: str,
    *steps: tuple,
    person: int | None = None,  # the serial of the worker's ID number, if already in the demo
) -> DemoCase:
    form = dict(
        worker_name=worker[0],
        worker_id_number=_person(union, worker[1], worker[2], person or serial),
        hardship_category=category,
        bank_card=bank_card(serial),
        account_name=worker[0],
        phone=phone(serial),
    )
    return DemoCase(key, union, "seasonal_aid", "winter", form, "", steps)


def _archive(
    serial: int,
    key: str,
    union: str,
    worker: tuple[str, str, bool],
    employer: str,
    category: str,
    household: int,
    income_yuan: int,
    description: str,
    story: str,
    *steps: tuple,
) -> DemoCase:
    form = dict(
        worker_name=worker[0],
        worker_id_number=_person(union, worker[1], worker[2], serial),
        employer=employer,
        phone=phone(serial),
        hardship_category=category,
        household_size=household,
        household_income_fen=income_yuan * 100,
        hardship_description=description,
        bank_card=bank_card(serial),
        account_name=worker[0],
    )
    return DemoCase(key, union, "hardship_archive", None, form, story, steps)


OK_L1 = "经审核，家庭困难情况属实，公示无异议，同意上报。"
OK_L2 = "材料齐全，符合资助条件，同意。"
OK_L3 = "同意资助。"
NO_CAR = "该户家中去年购置小轿车一辆，经济条件不像困难家庭，请核实。"
# One 刘建军 (内江钢铁厂) is an archived hardship worker who also gets 冬送温暖.
LIU_JIANJUN = ("刘建军", "19720506", True)

DEMO_CASES: list[DemoCase] = [
    # ---- 金秋助学 ----
    _tuition(
        1,
        "jq_paid",
        "szq1",
        ("王雨桐", "20070312", False),
        ("王建国", "19760821", True),
        "四川大学",
        "临床医学",
        "undergraduate",
        6200,
        "父亲王建国原为内江钢铁厂轧钢工，2024年企业改制后下岗，现打零工；母亲患类风湿性"
        "关节炎常年服药。家庭人均月收入约900元，住房为单位老旧宿舍，情况属实。",
        ("apply", -28),
        ("visit", -26),
        ("approve", -20, 1, "approve", OK_L1),
        ("approve", -18, 2, "approve", OK_L2),
        ("pay", -14),
    ),
    _tuition(
        2,
        "jq_paid_after_fix",
        "dxq2",
        ("陈思远", "20080125", True),
        ("陈国强", "19780302", True),
        "西南交通大学",
        "土木工程",
        "undergraduate",
        5800,
        "父亲陈国强为东兴化工厂倒班操作工，2025年因工伤致右手残疾，调岗后收入减半；"
        "母亲无固定工作。另有一妹妹读初中。入户核实属实。",
        ("apply", -27),
        ("visit", -25),
        ("approve", -19, 1, "approve", OK_L1),
        ("approve", -17, 2, "approve", ""),
        ("fail", -13, "户名与账号不符"),
        ("card", -12, bank_card(102)),
        ("pay", -8),
    ),
    _tuition(
        3,
        "jq_rejected",
        "zzx1",
        ("李欣怡", "20070908", False),
        ("李志勇", "19750615", True),
        "成都理工大学",
        "地质工程",
        "undergraduate",
        5300,
        "父亲李志勇在水南镇经营小型农资店，母亲在家务农，自述经营亏损。住房为自建两层砖房。",
        ("apply", -27),
        ("visit", -24),
        ("approve", -18, 1, "approve", "经营状况一般，同意上报。"),
        (
            "approve",
            -16,
            2,
            "reject",
            "经复核工商及社保信息，家长经营收入较稳定，家庭人均收入高于当地最低生活保障标准"
            "2倍，不符合金秋助学资助条件。",
        ),
    ),
    _tuition(
        4,
        "jq_visit_not_confirmed",
        "szq2",
        ("张浩然", "20080517", True),
        ("张德明", "19770128", True),
        "内江师范学院",
        "汉语言文学",
        "undergraduate",
        4500,
        "入户走访发现，申请人父亲张德明已于2025年调入企业管理岗，月工资约6500元，母亲在"
        "超市上班，家中新购商品房一套，与申请材料所述“父亲下岗”不符。",
        ("apply", -24),
        ("visit", -22, "not_confirmed"),
    ),
    _tuition(
        5,
        "jq_payment_failed",
        "dxq1",
        ("刘子涵", "20071130", False),
        ("刘红梅", "19790410", False),
        "西南财经大学",
        "会计学",
        "undergraduate",
        6000,
        "单亲家庭，母亲刘红梅为西林街道保洁员，月收入约2100元，外婆随住需照料。租住"
        "街道公租房，情况属实。",
        ("apply", -25),
        ("visit", -23),
        ("approve", -17, 1, "approve", OK_L1),
        ("approve", -14, 2, "approve", OK_L2),
        ("fail", -3, "账户已销户"),
    ),
    _tuition(
        6,
        "jq_payable",
        "zzx2",
        ("杨俊杰", "20080214", True),
        ("杨光华", "19740907", True),
        "四川农业大学",
        "动物医学",
        "undergraduate",
        5100,
        "父亲杨光华为资中糖厂季节工，榨季外无稳定收入；母亲患糖尿病并发症。家有年迈"
        "祖父母两人，情况属实。",
        ("apply", -23),
        ("visit", -21),
        ("approve", -15, 1, "approve", OK_L1),
        ("approve", -12, 2, "approve", OK_L2),
    ),
    _tuition(
        7,
        "jq_payable_after_objection",
        "szq1",
        ("黄佳怡", "20080603", False),
        ("黄秀英", "19800112", False),
        "内江职业技术学院",
        "护理",
        "college",
        4800,
        "母亲黄秀英在城东街道从事家政服务，父亲2023年因病去世，留有医疗欠款约8万元。"
        "与外公外婆同住老旧平房，情况属实。",
        ("apply", -22),
        ("visit", -19),
        ("object", -17, "匿名群众 13908321782", NO_CAR),
        (
            "investigate",
            -15,
            "dismissed",
            "经再次入户并查询车辆登记，该车登记在其舅舅名下，系借用跑网约车，与申请人家庭"
            "无关；家庭困难情况属实，异议不成立，重新公示。",
        ),
        ("approve", -9, 1, "approve", "异议已查明不成立，同意上报。"),
        ("approve", -6, 2, "approve", OK_L2),
    ),
    _tuition(
        8,
        "jq_objection_upheld",
        "zzx2",
        ("周宇航", "20070821", True),
        ("周永福", "19730519", True),
        "西南石油大学",
        "石油工程",
        "undergraduate",
        5600,
        "父亲周永福自述为资中糖厂下岗职工，目前无业；母亲务农。住房为农村自建房。",
        ("apply", -26),
        ("visit", -24),
        (
            "object",
            -22,
            "资中糖厂职工 蔡先生 15883620362",
            "周永福近两年在成都承包装修工程，收入不低，不应享受助学金。",
        ),
        (
            "investigate",
            -19,
            "upheld",
            "经向其所在装修公司及邻居核实，周永福2025年起承包装修工程，年收入约15万元，"
            "家庭经济状况不属困难，异议成立，终止公示。",
        ),
    ),
    _tuition(
        9,
        "jq_awaiting_l3",
        "szq2",
        ("赵一鸣", "20030409", True),
        ("赵长林", "19710716", True),
        "四川大学",
        "计算机科学与技术（硕士研究生）",
        "postgraduate",
        9000,
        "父亲赵长林为内江钢铁厂退休前内退职工，患尘肺病二期；母亲无业。家庭收入仅父亲"
        "内退生活费约1800元/月，情况属实。",
        ("apply", -20),
        ("visit", -18),
        ("approve", -12, 1, "approve", OK_L1),
        ("approve", -3, 2, "approve", "研究生资助标准8000元，超过区级审批权限，报市总审批。"),
    ),
    _tuition(
        10,
        "jq_returned_by_l2",
        "dxq1",
        ("吴诗琪", "20080319", False),
        ("吴大伟", "19770224", True),
        "电子科技大学",
        "电子信息工程",
        "undergraduate",
        5900,
        "父亲吴大伟为西林街道环卫工，母亲患乳腺癌正在化疗，家庭医疗支出大，情况属实。",
        ("apply", -19),
        ("visit", -17),
        ("approve", -10, 1, "approve", OK_L1),
        (
            "approve",
            -1,
            2,
            "return",
            "请补充母亲近半年的住院费用清单和医保报销单据，并说明家庭人均收入的计算依据。",
        ),
    ),
    _tuition(
        11,
        "jq_awaiting_l2",
        "zzx1",
        ("孙梓萱", "20071205", False),
        ("孙明", "19760330", True),
        "四川师范大学",
        "学前教育",
        "undergraduate",
        4700,
        "父亲孙明在水南镇砖厂打工，2025年腰椎骨折后无法从事重体力劳动；母亲照顾患"
        "阿尔茨海默病的奶奶。情况属实。",
        ("apply", -13),
        ("visit", -11),
        ("approve", -3, 1, "approve", OK_L1),
    ),
    _tuition(
        12,
        "jq_awaiting_l1",
        "dxq2",
        ("徐博文", "20080711", True),
        ("徐春梅", "19810926", False),
        "成都航空职业技术学院",
        "飞行器数字化制造技术",
        "college",
        5200,
        "母亲徐春梅为东兴化工厂包装工，离异独自抚养两个孩子，月收入约2800元，情况属实。",
        ("apply", -14),
        ("visit", -10),
    ),
    _tuition(
        13,
        "jq_awaiting_l1_b",
        "zzx2",
        ("马晨曦", "20080426", False),
        ("马国平", "19751103", True),
        "西南科技大学",
        "材料科学与工程",
        "undergraduate",
        5400,
        "父亲马国平为资中糖厂锅炉工，2025年确诊肝硬化；家中两个孩子同时上学，情况属实。",
        ("apply", -15),
        ("visit", -11),
    ),
    _tuition(
        14,
        "jq_objection_open",
        "szq1",
        ("胡俊豪", "20071002", True),
        ("胡建华", "19740418", True),
        "重庆大学",
        "机械工程",
        "undergraduate",
        6400,
        "父亲胡建华为城东街道灵活就业人员（送外卖），母亲残疾（肢体三级），情况属实。",
        ("apply", -12),
        ("visit", -8),
        (
            "object",
            -6,
            "邻居 袁女士 18781255530",
            "胡建华家在城东还有一套门面出租，每月租金好几千，家庭并不困难。",
        ),
        ("claim", -5, "caseworker.szq1", "investigate_objection"),
    ),
    _tuition(
        15,
        "jq_notice_open",
        "dxq1",
        ("郭雅琪", "20080815", False),
        ("郭正平", "19780705", True),
        "西南医科大学",
        "药学",
        "undergraduate",
        5600,
        "父亲郭正平为西林街道保安，母亲下岗后在菜市场摆摊，家有患病爷爷需长期用药，情况属实。",
        ("apply", -5),
        ("visit", -1),
    ),
    _tuition(
        16,
        "jq_notice_open_b",
        "zzx1",
        ("何宇轩", "20080109", True),
        ("何丽", "19800227", False),
        "四川工程职业技术学院",
        "机电一体化技术",
        "college",
        4500,
        "母亲何丽在水南镇敬老院做护工，父亲2022年车祸去世，家庭仅靠母亲收入维持，情况属实。",
        ("apply", -6),
        ("visit", -2),
    ),
    _tuition(
        17,
        "jq_awaiting_visit",
        "szq2",
        ("罗欣然", "20080922", False),
        ("罗文斌", "19761212", True),
        "成都理工大学",
        "环境工程",
        "undergraduate",
        5000,
        "",
        ("apply", -2),
    ),
    _tuition(
        18,
        "jq_awaiting_visit_b",
        "zzx2",
        ("梁家豪", "20040618", True),
        ("梁忠", "19720801", True),
        "西南交通大学",
        "交通运输工程（硕士研究生）",
        "postgraduate",
        8800,
        "",
        ("apply", -1),
    ),
    _tuition(
        19,
        "jq_awaiting_l1_claimed",
        "szq1",
        ("钱思雨", "20080408", False),
        ("钱卫东", "19760915", True),
        "西华大学",
        "车辆工程",
        "undergraduate",
        5300,
        "父亲钱卫东原为城东汽修厂钣金工，2025年企业停业后失业在家，母亲在社区做保洁，"
        "月收入约1900元；奶奶中风卧床需人照料，情况属实。",
        ("apply", -16),
        ("visit", -14),
        ("claim", -2, "approver1.szq1", "approve_l1"),  # 李红 may hand it to 何建军 (转交)
    ),
    # ---- 困难职工建档 ----
    _archive(
        31,
        "da_archived",
        "szq2",
        LIU_JIANJUN,
        "内江钢铁厂",
        "medical",
        3,
        28000,
        "妻子患尿毒症，每周透析三次，年自付医疗费用约3万元；儿子在读高中。",
        "入户核实：妻子尿毒症透析病历、医疗费票据齐全；家庭收入为本人工资约2300元/月，"
        "住单位老宿舍，情况属实。",
        ("apply", -28),
        ("visit", -26),
        ("approve", -19, 1, "approve", OK_L1),
        ("approve", -17, 2, "approve", "同意建档，纳入困难职工帮扶。"),
    ),
    _archive(
        32,
        "da_awaiting_visit",
        "dxq2",
        ("钟玉兰", "19740305", False),
        "东兴化工厂",
        "living",
        2,
        26000,
        "离异后独自抚养女儿，本人患腰椎间盘突出长期病休，仅领取基本生活费。",
        "",
        ("apply", -3),
    ),
    # ---- 冬送温暖 ----
    _winter(
        41,
        "sj_paid",
        "szq2",
        LIU_JIANJUN,
        "medical",
        ("apply", -14),
        ("approve", -13, 1, "approve", "已建档困难职工，妻子透析，同意。"),
        ("approve", -12, 2, "approve", OK_L2),
        ("approve", -10, 3, "approve", OK_L3),
        ("pay", -7),
        person=31,  # the same 刘建军 as da_archived
    ),
    _winter(42, "sj_awaiting_l1", "dxq1", ("谢桂芳", "19710923", False), "living", ("apply", -3)),
    _winter(43, "sj_awaiting_l1_b", "zzx1", ("邓志强", "19790217", True), "other", ("apply", -2)),
    _winter(44, "sj_awaiting_l1_c", "szq2", ("杜文华", "19820611", True), "living", ("apply", -1)),
    _winter(
        45,
        "sj_awaiting_l2",
        "szq1",
        ("曾丽华", "19750730", False),
        "medical",
        ("apply", -5),
        ("approve", -3, 1, "approve", "本人乳腺癌术后化疗中，同意。"),
    ),
    _winter(
        46,
        "sj_awaiting_l2_overdue",
        "zzx2",
        ("彭德贵", "19701201", True),
        "disaster",
        ("apply", -10),
        ("approve", -8, 1, "approve", "今年夏季暴雨致住房受损，同意。"),
    ),
    _winter(
        47,
        "sj_awaiting_l2_b",
        "dxq2",
        ("唐秀兰", "19770414", False),
        "schooling",
        ("apply", -6),
        ("approve", -2, 1, "approve", "两个孩子分别读高中、初中，同意。"),
    ),
]

# --- the archive drive -----------------------------------------------------------------
#
# 困难职工建档 for a few hundred more workers across the six unions, applied for over two
# weeks and archived a week and a half later, as a yearly enrolment drive would: people
# for a 四季送 launch to open cases for.

ARCHIVE_DRIVE = 200
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董袁潘蒋蔡余"
    "杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙"
    "史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_GIVEN_MALE = ["建国", "志强", "国平", "德明", "海涛", "永红", "文军", "小兵", "大勇", "春生"]
_GIVEN_MALE += ["明华", "建军", "学文", "光荣", "世伟", "长江", "玉林", "家富", "庆余", "红兵"]
_GIVEN_FEMALE = ["秀英", "桂兰", "丽华", "春梅", "玉珍", "淑芬", "红霞", "小琴", "慧敏", "晓燕"]
_GIVEN_FEMALE += ["素芳", "建华", "冬梅", "雪莲", "丽萍", "金凤", "月娥", "翠兰", "美玲", "彩霞"]
_EMPLOYERS = {
    "szq1": ["城东农贸市场", "城东物业公司", "灵活就业（送外卖）", "城东街道环卫所"],
    "szq2": ["内江钢铁厂"],
    "dxq1": ["西林街道保洁公司", "灵活就业（家政）", "西林建材市场"],
    "dxq2": ["东兴化工厂"],
    "zzx1": ["水南镇砖厂", "水南镇敬老院", "灵活就业（建筑零工）"],
    "zzx2": ["资中糖厂"],
}
# (category, household size, yearly income in 元, what the worker says, what the visit found)
_HARDSHIPS = [
    (
        "medical",
        3,
        26000,
        "本人患慢性肾病需长期服药，每月自付药费约一千二百元，收入难以维持家庭开支。",
        "入户核实：病历和近半年购药票据齐全，本人仍在岗但常病休，家庭收入以工资为主，"
        "住房为老旧单位宿舍，情况属实。",
    ),
    (
        "living",
        2,
        21000,
        "离异后独自抚养孩子，本人工资较低，无其他收入来源，房租占去收入的一半。",
        "入户核实：租住城区老旧小区一室户，家具简陋，本人月工资约一千八百元，孩子读初中，"
        "无其他收入来源，情况属实。",
    ),
    (
        "schooling",
        4,
        36000,
        "两个孩子同时上学，配偶无固定工作，家庭收入仅靠本人工资，学费负担重。",
        "入户核实：两个孩子分别读高中和小学，配偶在家照顾老人打零工，家庭人均月收入约"
        "七百五十元，住房为自建旧房，情况属实。",
    ),
    (
        "disaster",
        3,
        30000,
        "今年汛期暴雨致住房屋顶和墙体受损，修缮需要数万元，家中积蓄不足。",
        "入户核实：房屋屋顶有明显渗漏、墙体开裂，村（社区）出具受灾证明，修缮费用估算"
        "约三万元，家庭无力承担，情况属实。",
    ),
    (
        "other",
        3,
        28000,
        "配偶因工伤致残丧失劳动能力，家庭收入锐减，还需照顾年迈父母。",
        "入户核实：配偶工伤伤残鉴定书齐全，长期在家休养，本人收入为家庭唯一来源，"
        "赡养两位老人，居住条件较差，情况属实。",
    ),
]


def archive_drive(count: int) -> list[DemoCase]:
    """`count` workers enrolled in the archive, spread over the six unions and the weeks."""
    rng = random.Random(2027)
    units = [code for district in UNIONS.values() for code, _ in district]
    plans = []
    for n in range(count):
        union = units[n % len(units)]
        male = rng.random() < 0.55
        given = rng.choice(_GIVEN_MALE if male else _GIVEN_FEMALE)
        name = _SURNAMES[(n * 7 + n // 97) % len(_SURNAMES)] + given
        birth = date(1966, 1, 1) + timedelta(days=(n * 37) % 9000 + n // 3)  # 1966 to 1991
        category, household, income, description, story = _HARDSHIPS[n % len(_HARDSHIPS)]
        applied = -29 + (n * 7) % 11  # -29 … -19: archived by -10
        plans.append(
            _archive(
                1000 + n,
                f"da_drive_{n:03d}",
                union,
                (name, birth.strftime("%Y%m%d"), male),
                rng.choice(_EMPLOYERS[union]),
                category,
                household,
                income + (n % 7) * 600,
                description,
                story,
                ("apply", applied),
                ("visit", applied + 1),
                ("approve", applied + 8, 1, "approve", OK_L1),
                ("approve", applied + 9, 2, "approve", "同意建档，纳入困难职工帮扶。"),
            )
        )
    return plans


# The hour ranges (China time) in which each kind of step is done.
_HOURS = {
    "apply": (9, 11),
    "visit": (14, 16),
    "object": (10, 20),
    "investigate": (15, 16),
    "approve": (9, 16),
    "pay": (15, 16),
    "fail": (15, 16),
    "card": (9, 11),
    "claim": (8, 9),
}


# --- seeding ----------------------------------------------------------------------------


def seed(session: Session, archive_drive_size: int = ARCHIVE_DRIVE) -> bool:
    """Create the demo federation, logins, campaigns and cases as of today; False if
    already there. `archive_drive_size` workers are enrolled in the archive besides the
    cases on show (tests that only look at the stages take a few)."""
    if session.scalars(select(Organisation).where(Organisation.code == CITY[0])).first():
        return False
    for process_id in cases.PROGRAMMES:
        latest_version(session, process_id)  # refuse before writing anything if undeployed
    # Replaying weeks of work runs the engine thousands of steps; SpiffWorkflow logs each
    # state change at INFO, which would bury the command's own output.
    spiff = logging.getLogger("spiff")
    level = spiff.level
    if spiff.getEffectiveLevel() < logging.WARNING:
        spiff.setLevel(logging.WARNING)
    try:
        _Seeder(session, [*DEMO_CASES, *archive_drive(archive_drive_size)]).run()
    finally:
        spiff.setLevel(level)
    return True


def demo_file(name: str) -> bytes:
    """A real file the demo uploads (a housing photo, an admission letter)."""
    return (DEMO_FILES / name).read_bytes()


DEMO_FILES = Path(__file__).parent / "demo_files"


class _Seeder:
    def __init__(self, session: Session, plans: list[DemoCase]) -> None:
        self.session = session
        self.plans = plans
        self.factory = db.make_session_factory(session.bind)
        self.rng = random.Random(2026)  # the same demo on every run
        self.orgs: dict[str, Organisation] = {}
        self.user_ids: dict[str, int] = {}
        self.campaign_ids: dict[str, int] = {}
        self.case_ids: dict[str, int] = {}

    # -- time --

    def run(self) -> None:
        calendar = workdays.load(self.session)
        today = local_now().date()
        earliest = min(step[1] for plan in self.plans for step in plan.steps)
        self.workdays = self._days_back(calendar, today, -earliest + 2)
        first = self.workdays[-1]  # two working days before the first application
        self.campaigns = campaigns_for(today, first)
        years = self.campaigns["tuition"]["year"] - STORY_YEAR
        real_now = local_now()
        events: list[tuple[datetime, int, Any]] = []
        for plan in self.plans:
            days = [step[1] for step in plan.steps]
            if days != sorted(set(days)):
                raise ValueError(f"演示案件 {plan.key} 的步骤日期应逐步后移")
            plan = plan.moved(years)
            for step in plan.steps:
                events.append(
                    (
                        self._moment(step[1], step[0]),
                        len(events),
                        lambda plan=plan, step=step: self._do(plan, step),
                    )
                )
        day = first + timedelta(days=1)
        while day <= today:
            sweep = datetime.combine(day, time(0, 5, self.rng.randint(0, 59)), CST)
            if sweep < real_now:
                events.append((sweep, len(events), self._fire_timers))
            day += timedelta(days=1)
        events.sort(key=lambda e: (e[0], e[1]))

        start = datetime.combine(first, time(8, 40), CST)
        with time_machine.travel(start, tick=False) as traveller:
            self._federation()
            for moment, _, action in events:
                traveller.move_to(moment)
                action()
        self.session.commit()
        self.session.expire_all()

    @staticmethod
    def _days_back(calendar: workdays.WorkCalendar, today: date, count: int) -> list[date]:
        days, day = [], today
        while len(days) < count:
            day -= timedelta(days=1)
            if calendar.is_workday(day):
                days.append(day)
        return days

    def _moment(self, offset: int, action: str) -> datetime:
        first, last = _HOURS[action]
        clock = time(
            self.rng.randint(first, last), self.rng.randint(0, 59), self.rng.randint(0, 59)
        )
        return datetime.combine(self.workdays[-offset - 1], clock, CST)

    def _fire_timers(self) -> None:
        self.session.commit()
        timers.fire_due_timers(self.factory)
        self.session.expire_all()

    # -- the federation, logins and campaigns --

    def _federation(self) -> None:
        s = self.session
        city = users.add_organisation(s, CITY[0], CITY[1])
        self.orgs[city.code] = city
        for code, name, _ in DISTRICTS:
            district = users.add_organisation(s, code, name, city)
            self.orgs[code] = district
            for unit_code, unit_name in UNIONS[code]:
                self.orgs[unit_code] = users.add_organisation(s, unit_code, unit_name, district)
        # Where the public objects to a notice (printed on the 公示表). One union is left
        # without, as many are: its sheet has blank lines to fill in by hand.
        contacts = {
            "szq1": ("内江市市中区城东街道新华路 12 号 城东街道帮扶站", "0832-2201234"),
            "szq2": ("内江市市中区玉溪路 1 号 内江钢铁厂工会办公室", "0832-2316688"),
            "dxq1": ("内江市东兴区西林街道汉安大道 88 号 西林街道帮扶站", "0832-2105566"),
            "dxq2": ("内江市东兴区化工路 3 号 东兴化工厂工会", "0832-2137788"),
            "zzx1": ("资中县水南镇滨江路 6 号 水南镇帮扶站", "0832-5601122"),
        }
        for unit_code, (address, phone) in contacts.items():
            self.orgs[unit_code].address, self.orgs[unit_code].phone = address, phone
        # The demo's one published password predates the policy; seeding only. It is
        # hashed once for every login (hashing is slow on purpose).
        hashed = users.generate_password_hash(PASSWORD)
        for username, (display, org, role) in PEOPLE.items():
            user = users.add_user(
                s,
                username,
                PASSWORD,
                display,
                self.orgs[org],
                [role],
                check_policy=False,
                password_hash=hashed,
            )
            self.user_ids[username] = user.id
        for key, spec in self.campaigns.items():
            campaign = Campaign(
                code=spec["code"],
                name=spec["name"],
                programme=spec["programme"],
                season=spec["season"],
                year=spec["year"],
                aid_kind=spec["aid_kind"],
                standards_json=json.dumps(spec["standards"]),
                city_approval_threshold_fen=spec["city_approval_threshold_fen"],
                notice_days=spec["notice_days"],
                opens_on=spec["opens_on"],
                closes_on=spec["closes_on"],
                status="open",
                owner_org_id=city.id,
            )
            s.add(campaign)
            s.flush()
            self.campaign_ids[key] = campaign.id
            for code, _, _ in DISTRICTS:
                s.add(
                    CampaignBudget(
                        campaign_id=campaign.id,
                        org_id=self.orgs[code].id,
                        budget_fen=spec["district_budget_fen"],
                    )
                )
        s.commit()

    # -- case steps --

    def _user(self, username: str) -> User:
        return self.session.get(User, self.user_ids[username])

    def _upload(self, user: User, filename: str, demo_name: str) -> int:
        """Upload a real file (bytes on disk, as a caseworker's upload would be)."""
        return files.store(self.session, user, filename, demo_file(demo_name)).id

    def _task(self, plan: DemoCase, element_id: str) -> HumanTask:
        row = self.session.scalars(
            select(HumanTask).where(
                HumanTask.case_id == self.case_ids[plan.key],
                HumanTask.status == "open",
                HumanTask.element_id == element_id,
            )
        ).first()
        if row is None:
            raise RuntimeError(f"演示案件 {plan.key}：没有待办的 {element_id}（演示时间表有误）")
        return row

    def _complete(self, plan: DemoCase, username: str, element_id: str, data: dict) -> None:
        tasks.complete(self.session, self._user(username), self._task(plan, element_id).id, data)

    def _payment(self, plan: DemoCase) -> Payment:
        return self.session.scalars(
            select(Payment).where(Payment.case_id == self.case_ids[plan.key])
        ).one()

    def _do(self, plan: DemoCase, step: tuple) -> None:
        action, _, *args = step
        caseworker = f"caseworker.{plan.union}"
        if action == "apply":
            user = self._user(caseworker)
            data = dict(plan.form)
            if plan.programme == "tuition_grant":
                data["admission_letter"] = self._upload(
                    user, f"{data['student_name']}录取通知书.pdf", "admission_letter.pdf"
                )
            campaign_id = self.campaign_ids[plan.campaign] if plan.campaign else None
            case = cases.start_case(self.session, user, plan.programme, data, campaign_id)
            self.case_ids[plan.key] = case.id
        elif action == "visit":
            verdict = args[0] if args else "confirmed"
            user = self._user(caseworker)
            photo = self._upload(user, "住房照片.jpg", "housing_outside.jpg")
            self._complete(
                plan,
                caseworker,
                "home_visit_task",
                dict(
                    visit_date=local_now().date().isoformat(),
                    visitors=f"{user.display_name}、{VISIT_PARTNER[plan.union]}",
                    household_situation=plan.story,
                    housing_photos=photo,
                    visit_verdict=verdict,
                ),
            )
        elif action == "object":
            notice = self.session.scalars(
                select(PublicNotice).where(PublicNotice.case_id == self.case_ids[plan.key])
            ).one()
            notices.raise_objection(self.session, notice.id, args[0], args[1])
        elif action == "investigate":
            self._complete(
                plan,
                caseworker,
                "investigate_objection",
                dict(objection_finding=args[0], investigation_report=args[1]),
            )
        elif action == "approve":
            level, decision, comment = args
            approver = {
                1: f"approver1.{plan.union}",
                2: f"approver2.{plan.union[:3]}",
                3: "approver3.nj",
            }[level]
            self._complete(
                plan, approver, f"approve_l{level}", dict(decision=decision, comment=comment)
            )
        elif action in ("pay", "fail"):
            reason = args[0] if args else ""
            payments.record_result(
                self.session,
                self._user("finance.nj"),
                self._payment(plan).id,
                "paid" if action == "pay" else "failed",
                reason,
            )
        elif action == "claim":
            username, element_id = args
            tasks.claim(self.session, self._user(username), self._task(plan, element_id).id)
        elif action == "card":
            self._complete(
                plan,
                caseworker,
                "correct_bank_card",
                dict(bank_card=args[0], account_name=plan.form["account_name"]),
            )
        else:  # pragma: no cover - a typo in the table above
            raise ValueError(f"unknown demo step {action}")
