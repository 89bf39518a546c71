"""Helpers for the 打印文书 tests: 金秋助学 cases taken through the real services (home
visit, notice, approvals, bank payment), with names and numbers that tell each case apart
on paper, and reading printed PDFs back with poppler-utils."""

import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

from campaign_helpers import approve_all, card, result_file
from sqlalchemy import select

from workflows import batches, cases, timers
from workflows.clock import local_now
from workflows.models import Case, PublicNotice

SURNAMES = "赵钱孙李周吴郑王冯陈"
LASTS = "一二三四五"
VISIT = dict(
    visit_date="2026-09-07",
    visitors="张经办、刘经办",
    household_situation="父亲下岗，母亲患病，家庭收入低",
    visit_verdict="confirmed",
)


def student_name(n: int) -> str:
    """Fifty names whose masked forms (赵*一) differ too."""
    return SURNAMES[n % 10] + "思" + LASTS[n // 10 % 5]


def masked(name: str) -> str:
    return name[0] + "*" * (len(name) - 2) + name[-1]


def start_tuition_cases(world, count: int, username: str = "cw1", first: int = 0) -> list[Case]:
    started = []
    for n in range(first, first + count):
        data = world.tuition_application(
            student_name=student_name(n),
            bank_card=card(n),
            account_name=SURNAMES[n % 10] + "大" + LASTS[n // 10 % 5],
            parent_name=SURNAMES[n % 10] + "大" + LASTS[n // 10 % 5],
            admission_letter=world.upload(username),
        )
        started.append(
            cases.start_case(
                world.session,
                world.user(username),
                "tuition_grant",
                data,
                world.campaigns["tuition"].id,
            )
        )
    return started


def visit_all(world, started: list[Case], username: str = "cw1") -> None:
    """Visit each case today (a visit may not precede its application)."""
    visit = dict(VISIT, visit_date=local_now().date().isoformat())
    for case in started:
        world.do(username, case, "home_visit_task", visit)


def pass_notices(world, clock) -> None:
    """Move the clock past every open notice's period and let the timers fire."""
    world.session.expire_all()
    ends = [n.ends_at for n in world.session.scalars(select(PublicNotice))]
    clock.move_to(max(ends) + timedelta(minutes=1))
    timers.fire_due_timers(world.factory)
    world.session.expire_all()


def approve_everything(world) -> None:
    approve_all(world.session, [world.user(u) for u in ("l1", "l1_g3", "l2", "l2_d2", "l3")])


def pay_batch(world, org_key: str = "d1", fail_every: int | None = None):
    """Finance builds the batch of the 金秋助学 payables of a district, sends it and imports
    the bank's answer; the cases move on."""
    fin = world.user("fin")
    batch = batches.build_batch(
        world.session, fin, world.campaigns["tuition"].id, world.orgs[org_key].id
    )
    batches.mark_sent(world.session, fin, batch.id)
    answer = result_file(world.session, batch.id, fail_every=fail_every)
    batches.import_results(world.session, fin, batch.id, "result.csv", answer)
    batches.deliver_results(world.session)
    world.session.expire_all()
    return world.refresh(batch)


def paid_tuition_cases(world, clock, count: int) -> list[Case]:
    started = start_tuition_cases(world, count)
    visit_all(world, started)
    pass_notices(world, clock)
    approve_everything(world)
    return started


# --- reading printed PDFs back ----------------------------------------------------------


def poppler(tool: str) -> str:
    """poppler-utils must be there (.ci/run installs it beside Chromium): a missing tool
    fails the test rather than skipping it."""
    path = shutil.which(tool)
    assert path, f"{tool} not found: apt-get install poppler-utils (.ci/run does it)"
    return path


def pdf_text(pdf: Path, layout: bool = True) -> str:
    """The PDF's text: with `layout`, lines as they stand on the page (columns side by
    side); without, in reading order, a table cell's wrapped lines kept together."""
    options = ["-layout"] if layout else []
    done = subprocess.run(
        [poppler("pdftotext"), *options, str(pdf), "-"],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


class Printed:
    """A printed document read back: its pages (layout text) and whether a phrase is on
    paper anywhere, whatever the line breaks and spacing (compared without whitespace)."""

    def __init__(self, pdf: Path) -> None:
        self.pdf = pdf
        self.pages = pdf_pages(pdf_text(pdf))
        self.flat = "".join(pdf_text(pdf, layout=False).split())

    def has(self, phrase: str) -> bool:
        return "".join(phrase.split()) in self.flat

    def __contains__(self, phrase: str) -> bool:
        return self.has(phrase)


# Font families that carry Chinese glyphs (the CI image has 文泉驿微米黑).
CJK_FONT = re.compile(r"WenQuanYi|wqy|Noto\w*CJK|SourceHan|SimSun|SimHei|Song|Hei|Kai|Ming", re.I)


def embedded_cjk_fonts(pdf: Path) -> list[str]:
    """Names of the embedded fonts that can draw Chinese: printed Chinese is real glyphs,
    not empty boxes from a font without them."""
    done = subprocess.run(
        [poppler("pdffonts"), str(pdf)], check=True, capture_output=True, text=True
    )
    names = [line.split()[0] for line in done.stdout.splitlines()[2:] if line.strip()]
    return [name for name in names if CJK_FONT.search(name)]


def pdf_pages(text: str) -> list[str]:
    """pdftotext separates pages with form feeds."""
    pages = text.split("\f")
    return pages[:-1] if pages and not pages[-1].strip() else pages


def pdf_to_png(pdf: Path, first_pages: int = 2) -> list[Path]:
    """The first pages as PNGs next to the PDF (kept as test artifacts, looked at before
    an issue is resolved)."""
    prefix = pdf.with_suffix("")
    subprocess.run(
        [
            poppler("pdftoppm"),
            "-png",
            "-r",
            "70",
            "-f",
            "1",
            "-l",
            str(first_pages),
            str(pdf),
            str(prefix),
        ],
        check=True,
        capture_output=True,
    )
    return sorted(pdf.parent.glob(prefix.name + "-*.png"))
