"""The tables. Specs live in `process_version`, running state in `process_instance`
(as SpiffWorkflow keeps specs apart from tasks); task lists read `human_task`.
Money is integer fen everywhere.
"""

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from workflows.clock import now
from workflows.crypto import EncryptedString
from workflows.db import Base, UTCDateTime


class Organisation(Base):
    """市总工会 (level 1) → 县(区)总工会 (2) → 基层工会/帮扶站 (3)."""

    __tablename__ = "organisation"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[int] = mapped_column(Integer)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"))
    # Materialised path "/1/4/9/": subtree checks are one prefix comparison.
    path: Mapped[str] = mapped_column(String(200), index=True, default="")
    # Where the public objects to a notice (公示表): optional, printed as blank lines to
    # fill by hand when missing.
    address: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    # 撤销: no new cases or users from then on; its history stays and is shown.
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Checked by hand in workflows/organisations.py (two managers editing one unit).
    lock_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    parent: Mapped["Organisation | None"] = relationship(remote_side=[id])

    def ancestor_ids(self) -> list[int]:
        return path_ids(self.path)


def path_ids(path: str) -> list[int]:
    """The ids on a unit's path ("/1/4/9/"), from the top down to the unit."""
    return [int(p) for p in path.strip("/").split("/") if p]


@dataclass(frozen=True)
class UnitPath:
    """A unit known by its path alone (read as a column with a completion, not loaded):
    enough to place new tasks at the levels above it."""

    path: str

    def ancestor_ids(self) -> list[int]:
        return path_ids(self.path)


class User(Base):
    __tablename__ = "app_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(60), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(60))
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    # Space-separated role names, e.g. "caseworker approver_l1".
    roles: Mapped[str] = mapped_column(String(200), default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    # A one-time password (new user, reset by a manager) is replaced at the next sign-in.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    phone: Mapped[str | None] = mapped_column(String(20))
    # Checked by hand in workflows/user_admin.py (two managers editing one person).
    lock_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # The login session this object was loaded for (workflows/logins.py); not a column.
    login_token = ""

    org: Mapped[Organisation] = relationship(lazy="joined")

    @property
    def role_set(self) -> frozenset[str]:
        return frozenset(self.roles.split())

    def has_role(self, role: str) -> bool:
        return role in self.role_set

    # The user-session protocol Flask-Login expects, without importing it here.
    is_authenticated = True
    is_anonymous = False

    def get_id(self) -> str:
        # What the session cookie carries: the login session's token, never the user id.
        return self.login_token


class ProcessVersion(Base):
    __tablename__ = "process_version"
    __table_args__ = (UniqueConstraint("process_id", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(100), index=True)
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200), default="")
    bpmn_xml: Mapped[str] = mapped_column(Text)
    checksum: Mapped[str] = mapped_column(String(64))
    # SpiffWorkflow's serialized spec (parsed once, at deploy) and warmflow's own
    # reading of the Camunda extensions: candidate groups, due dates, form fields.
    spec_json: Mapped[str] = mapped_column(Text)
    meta_json: Mapped[str] = mapped_column(Text)
    called_processes: Mapped[str] = mapped_column(String(500), default="")
    deployed_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    comment: Mapped[str] = mapped_column(String(500), default="")


class ProcessDraft(Base):
    """A manager's unsaved-to-production edit of a process: one draft per process."""

    __tablename__ = "process_draft"
    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(100), unique=True)
    bpmn_xml: Mapped[str] = mapped_column(Text)
    saved_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    lock_version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": lock_version}


class Campaign(Base):
    """A 金秋助学 or 四季送 campaign: year, standard amounts, budgets, notice period."""

    __tablename__ = "campaign"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    programme: Mapped[str] = mapped_column(String(40))  # process id it starts
    season: Mapped[str] = mapped_column(String(20), default="")  # spring/summer/autumn/winter
    year: Mapped[int] = mapped_column(Integer)
    aid_kind: Mapped[str] = mapped_column(String(10), default="cash")  # cash | goods
    # JSON {category or education level: fen}
    standards_json: Mapped[str] = mapped_column(Text, default="{}")
    city_approval_threshold_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    notice_days: Mapped[int] = mapped_column(Integer, default=5)
    opens_on: Mapped[date | None] = mapped_column(Date)
    closes_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="open")
    owner_org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    # Goods campaigns (夏送清凉): what is handed out; standards are then its value in fen.
    goods_name: Mapped[str] = mapped_column(String(100), default="")
    lock_version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": lock_version}


class CampaignLaunch(Base):
    """One "launch for every archived worker in scope" run, with its progress: the page
    polls it while a background thread opens the cases."""

    __tablename__ = "campaign_launch"
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    status: Mapped[str] = mapped_column(String(20), default="running")  # running|done|failed
    total: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)  # already had a case
    failed: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(String(500), default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CampaignBudget(Base):
    __tablename__ = "campaign_budget"
    __table_args__ = (UniqueConstraint("campaign_id", "org_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"))
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    budget_fen: Mapped[int] = mapped_column(BigInteger)
    reserved_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    lock_version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": lock_version}


class BudgetReservation(Base):
    """The amount a finally approved case holds of its district's campaign budget; released
    (deleted, with `campaign_budget.reserved_fen` lowered) when the case ends unpaid."""

    __tablename__ = "budget_reservation"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), unique=True)
    budget_id: Mapped[int] = mapped_column(ForeignKey("campaign_budget.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class Case(Base):
    """The business side of one application; its workflow is `process_instance`."""

    __tablename__ = "case"
    # 我发起的: the cases one caseworker registered, newest first.
    __table_args__ = (
        # The unit last: the list keeps a person's cases still in their subtree, and the
        # count (up to worklists.COUNT_CAP) then reads the index alone, never the cases.
        Index("ix_case_started", "created_by_id", "created_at", "id", "org_id"),
        Index("ix_case_started_status", "created_by_id", "status", "created_at", "id", "org_id"),
        Index(
            "ix_case_started_programme", "created_by_id", "programme", "created_at", "id", "org_id"
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_no: Mapped[str | None] = mapped_column(String(30), unique=True)
    programme: Mapped[str] = mapped_column(String(40), index=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaign.id"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    applicant_name: Mapped[str] = mapped_column(String(60))
    # Keyed hash of the subject's ID number: exact-match search without the number.
    subject_key: Mapped[str] = mapped_column(String(64), index=True)
    subject_id_masked: Mapped[str] = mapped_column(String(30))
    amount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    # The programme's rule for this case (cases.approval_levels_needed), fixed when it is
    # opened; the approval at that level is the final one, after which money may move,
    # for the amount approved then (tasks.complete records it; payments, budgets check).
    approval_levels: Mapped[int] = mapped_column(Integer, default=2)
    approvals: Mapped[int] = mapped_column(Integer, default=0)  # a bit per level approved
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_fen: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20), default="running", index=True)
    outcome: Mapped[str] = mapped_column(String(60), default="")
    outcome_label: Mapped[str] = mapped_column(String(100), default="")
    cancel_reason: Mapped[str] = mapped_column(String(500), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Goods cases: the quantity signed for (物资签收), copied from the task when it closes.
    goods_quantity: Mapped[int] = mapped_column(Integer, default=0)
    category: Mapped[str] = mapped_column(String(40), default="")

    org: Mapped[Organisation] = relationship(lazy="joined")


class ProcessInstance(Base):
    __tablename__ = "process_instance"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), unique=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("process_version.id"), index=True)
    # {"approval_by_level": version id, ...}: called processes pinned at start.
    subprocess_versions: Mapped[str] = mapped_column(String(500), default="{}")
    state: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(20), default="running")
    error: Mapped[str] = mapped_column(Text, default="")
    next_timer_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    calendar_warning: Mapped[str] = mapped_column(String(300), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    lock_version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": lock_version}

    case: Mapped[Case] = relationship()


class HumanTask(Base):
    """One row per ready user task: task lists are index-backed queries on this table."""

    __tablename__ = "human_task"
    __table_args__ = (
        # A task list: open tasks of a group at an organisation, claimed by one person
        # (mine) or unclaimed (the queue, group), newest or soonest due first. The counts
        # and the pages are read from these indexes alone, in order (bench/tasklist.py).
        # Partial: open tasks are a few per cent of the table, so the indexes stay small
        # however long the history grows. The queue has its own (assignee_id IS NULL is
        # no equality to PostgreSQL: past it an index gives no order, the list was
        # sorted). Queries must say `status = 'open'` as a literal (tasks.OPEN) for the
        # planners to use them.
        Index(
            "ix_human_task_open",
            "candidate_group",
            "org_id",
            "assignee_id",
            "created_at",
            "id",
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),
        Index(
            "ix_human_task_open_due",
            "candidate_group",
            "org_id",
            "assignee_id",
            "due_at",
            "id",
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),
        Index(
            "ix_human_task_queue_open",
            "candidate_group",
            "org_id",
            "created_at",
            "id",
            postgresql_where=text("status = 'open' AND assignee_id IS NULL"),
            sqlite_where=text("status = 'open' AND assignee_id IS NULL"),
        ),
        Index(
            "ix_human_task_queue_due",
            "candidate_group",
            "org_id",
            "due_at",
            "id",
            postgresql_where=text("status = 'open' AND assignee_id IS NULL"),
            sqlite_where=text("status = 'open' AND assignee_id IS NULL"),
        ),
        Index("ix_human_task_assignee", "assignee_id", "status"),
        # 已办: the tasks one person completed, newest first; and those of one programme.
        Index("ix_human_task_done", "completed_by_id", "completed_at", "id"),
        Index("ix_human_task_done_programme", "completed_by_id", "programme", "completed_at", "id"),
        # 督办: the open tasks of a supervisor's units, longest overdue first (read per unit:
        # a district's few thousand open tasks, not the city's overdue ones).
        Index(
            "ix_human_task_open_unit_due",
            "org_id",
            "due_at",
            "id",
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    task_uuid: Mapped[str] = mapped_column(String(36))
    process_id: Mapped[str] = mapped_column(String(100))
    # The case's programme (Case.programme, which never changes), copied so that a list
    # filtered by programme reads one index instead of joining a case per task.
    programme: Mapped[str] = mapped_column(String(40))
    element_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    candidate_group: Mapped[str] = mapped_column(String(40))
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    status: Mapped[str] = mapped_column(String(20), default="open")
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    lock_version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": lock_version}

    case: Mapped[Case] = relationship(lazy="joined")


class AuditEvent(Base):
    """Append-only: who did what, when, before → after."""

    __tablename__ = "audit_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id"), index=True)
    action: Mapped[str] = mapped_column(String(60))
    summary: Mapped[str] = mapped_column(String(500), default="")
    detail: Mapped[str] = mapped_column(Text, default="{}")


class GrantClaim(Base):
    """One grant per subject per programme and year (金秋助学: per student per year)."""

    __tablename__ = "grant_claim"
    __table_args__ = (UniqueConstraint("programme", "year", "subject_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    programme: Mapped[str] = mapped_column(String(40))
    year: Mapped[int] = mapped_column(Integer)
    subject_key: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"))


class HardshipRecord(Base):
    """困难职工档案: created when an archive case is approved, or loaded from a federation's
    existing archive (`archive_import`, no case until its first 回头看); re-checked yearly."""

    __tablename__ = "hardship_record"
    __table_args__ = (
        # The archive list (archive.search, bench/archive.py): a scope's records by status,
        # newest first; by category; 待回头看 soonest first; by name, and a name searched
        # for (a scan of this index, not of the table).
        Index("ix_hardship_record_list", "org_id", "status", "id"),
        Index("ix_hardship_record_category", "category", "org_id", "status"),
        Index("ix_hardship_record_valid", "status", "valid_until", "id", "org_id"),
        Index("ix_hardship_record_name", "worker_name", "id", "org_id"),
        UniqueConstraint("import_id", "source_line"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    # The archive case, or for an imported worker the 回头看 case once one is opened.
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id"), unique=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    subject_key: Mapped[str] = mapped_column(String(64), index=True)
    worker_name: Mapped[str] = mapped_column(String(60))
    category: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="archived")  # archived|left|cancelled
    archived_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What a campaign launch needs to open a case for the worker without asking again.
    subject_id_masked: Mapped[str] = mapped_column(String(30), default="")
    bank_card: Mapped[str] = mapped_column(EncryptedString(120), default="")
    account_name: Mapped[str] = mapped_column(String(60), default="")
    phone: Mapped[str] = mapped_column(String(30), default="")
    # The whole ID number, encrypted (a new application for the worker is prefilled with
    # it); searches go by subject_key.
    id_number: Mapped[str] = mapped_column(EncryptedString(120), default="")
    gender: Mapped[str] = mapped_column(String(4), default="")
    household_size: Mapped[int | None] = mapped_column(Integer)
    monthly_income_fen: Mapped[int | None] = mapped_column(BigInteger)
    cause: Mapped[str] = mapped_column(String(200), default="")
    bank_name: Mapped[str] = mapped_column(String(100), default="")
    # Where an imported record came from: the import (file name, sha256, who, when) and
    # the file's line.
    import_id: Mapped[int | None] = mapped_column(ForeignKey("archive_import.id"), index=True)
    source_line: Mapped[int | None] = mapped_column(Integer)


class ArchiveImport(Base):
    """One file of an existing archive: previewed (nothing written), then confirmed and
    applied in chunks by a background job that records its progress. The file is kept
    encrypted until the import is done (a restart reads it again); its sha256 makes the
    same file a second time change nothing."""

    __tablename__ = "archive_import"
    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    # preview | running | done | failed | discarded
    status: Mapped[str] = mapped_column(String(20), default="preview", index=True)
    mapping_json: Mapped[str] = mapped_column(Text, default="{}")
    report_json: Mapped[str] = mapped_column(Text, default="{}")
    skip_bad: Mapped[bool] = mapped_column(Boolean, default=False)
    total: Mapped[int] = mapped_column(Integer, default=0)
    bad: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(String(500), default="")
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Two managers confirming the same preview at once: one wins, the other gets 409.
    lock_version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": lock_version}


class ArchiveMapping(Base):
    """The header names an organisation's files use for the archive's fields, saved at
    the column-mapping step and offered again next time."""

    __tablename__ = "archive_mapping"
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), unique=True)
    mapping_json: Mapped[str] = mapped_column(Text, default="{}")
    saved_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class PublicNotice(Base):
    """公示: shown to the public (masked) while the case waits out the notice period."""

    __tablename__ = "public_notice"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), unique=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    programme: Mapped[str] = mapped_column(String(40))
    masked_name: Mapped[str] = mapped_column(String(60))
    masked_id: Mapped[str] = mapped_column(String(30))
    amount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # open | objection (under investigation) | passed | upheld | withdrawn
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    round: Mapped[int] = mapped_column(Integer, default=1)
    calendar_warning: Mapped[str] = mapped_column(String(300), default="")


class Objection(Base):
    __tablename__ = "objection"
    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("public_notice.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    contact: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    round: Mapped[int] = mapped_column(Integer, default=1)
    # The number the objector is given to look up the outcome (random: it must not lead
    # to anyone else's objection); null for objections received before it existed.
    reference: Mapped[str | None] = mapped_column(String(20), unique=True)
    # "" under investigation | upheld | dismissed | closed (the case ended otherwise)
    outcome: Mapped[str] = mapped_column(String(20), default="")
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CaseActor(Base):
    """Who registered a case or did one of its caseworker steps (home visit, rework): they
    may not sign it off at an approval level (four eyes, workflows/access.py). The primary
    key serves "the cases this user worked on" as an index-only lookup."""

    __tablename__ = "case_actor"
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), primary_key=True)
    what: Mapped[str] = mapped_column(String(40), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class PaymentBatch(Base):
    """A bank file: payable payments of one campaign and organisation subtree.
    draft → sent → reconciled (every line has the bank's answer)."""

    __tablename__ = "payment_batch"
    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="draft")  # draft|sent|reconciled
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaign.id"), index=True)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"))
    line_count: Mapped[int] = mapped_column(Integer, default=0)
    total_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    reconciled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # sha256 of each result file imported, space-separated: a repeat changes nothing.
    imported_files: Mapped[str] = mapped_column(Text, default="")
    lock_version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": lock_version}


class PaymentLine(Base):
    """One line of a bank file: what was sent for a payment in a batch, and the bank's
    answer. A payment that failed and was corrected gets a new line in a later batch."""

    __tablename__ = "payment_line"
    __table_args__ = (UniqueConstraint("batch_id", "payment_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("payment_batch.id"), index=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payment.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    account_name: Mapped[str] = mapped_column(String(60))
    bank_card: Mapped[str] = mapped_column(EncryptedString(120))
    result: Mapped[str] = mapped_column(String(10), default="")  # "" | paid | failed
    reason: Mapped[str] = mapped_column(String(200), default="")
    result_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Payment(Base):
    """Exactly one per (case, purpose); a failed one is corrected and paid again."""

    __tablename__ = "payment"
    __table_args__ = (UniqueConstraint("case_id", "purpose"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"))
    purpose: Mapped[str] = mapped_column(String(40))
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaign.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    account_name: Mapped[str] = mapped_column(String(60))
    bank_card: Mapped[str] = mapped_column(EncryptedString(120))
    # payable → in_batch → paid | failed → (card corrected) payable → ...
    status: Mapped[str] = mapped_column(String(20), default="payable", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_reason: Mapped[str] = mapped_column(String(200), default="")
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("payment_batch.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The bank's answer is recorded at import; telling the case's workflow happens after,
    # one case per transaction (payments.deliver_results): "pending" until then.
    delivery: Mapped[str] = mapped_column(String(10), default="", index=True)
    lock_version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": lock_version}


class StoredFile(Base):
    """An upload (admission letter, housing photos); bytes on disk, named by their hash."""

    __tablename__ = "stored_file"
    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id"), index=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class CalendarDay(Base):
    """A manager's entry for one day: a holiday on a weekday or a 调休 working weekend."""

    __tablename__ = "calendar_day"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    is_workday: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(String(100), default="")


class CalendarYear(Base):
    """A year whose official holiday arrangement a manager has entered completely."""

    __tablename__ = "calendar_year"
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class ApiToken(Base):
    """A bearer token for the JSON API; only its hash is stored."""

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(lazy="joined")


class TaskReminder(Base):
    """催办: a supervisor's reminder about an overdue task, to its assignee (or its group
    while unclaimed). Shown until the task is done; one per task per China day."""

    __tablename__ = "task_reminder"
    __table_args__ = (
        UniqueConstraint("task_id", "sent_on"),
        Index("ix_task_reminder_task", "task_id", "sent_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("human_task.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    sent_by_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    # Whom it was for when sent: the assignee, or nobody (the task's candidate group).
    to_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    to_group: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(String(200), default="")
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    sent_on: Mapped[date] = mapped_column(Date)  # China date: the once-a-day rule


class WorkerHeartbeat(Base):
    """When the timer worker (`warmflow worker`) last finished a round, and its last error:
    read by /healthz and the managers' start page, so that timers that stopped firing are
    seen. One row per kind of work ("timers"); every worker process writes the same row."""

    __tablename__ = "worker_heartbeat"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_ok_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    interval_seconds: Mapped[int] = mapped_column(Integer, default=30)
    worker: Mapped[str] = mapped_column(String(100), default="")  # host and process id


class ChangeStamp(Base):
    """A version number per kind of shared setting (the holiday calendar): each process
    caches the setting with the version it read, and reloads as soon as it moved."""

    __tablename__ = "change_stamp"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class LoginSession(Base):
    """One signed-in browser. The session cookie carries its token (only the hash is
    kept); signing out, a password change or deactivation deletes the row, and a cookie
    copied before that no longer signs anyone in."""

    __tablename__ = "login_session"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    address: Mapped[str] = mapped_column(String(45), default="")


class LoginThrottle(Base):
    """Failed sign-ins counted per account name and per address, in the database so that
    every web worker sees the same counts (workflows/logins.py)."""

    __tablename__ = "login_throttle"
    __table_args__ = (UniqueConstraint("kind", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # "account" | "address"
    key: Mapped[str] = mapped_column(String(100))  # the typed user name, or the address
    failures: Mapped[int] = mapped_column(Integer, default=0)
    first_failed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    last_failed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    wait_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
