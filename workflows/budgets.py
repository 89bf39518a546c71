"""Campaign budgets: the final approval reserves the case's amount from its district
federation's budget (DESIGN.md "Money"), in the same transaction, or is refused.

The diagram asks for it (`reserve_budget()` in approval_by_level's `approved` step); the
handler locks the budget row, so concurrent final approvals queue on it and never
overspend. A case that ends without being paid (rejected later, cancelled, objection
upheld) gives its reservation back; a paid case keeps it.
"""

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from workflows import access, engine, scripting
from workflows.audit import record
from workflows.models import (
    BudgetReservation,
    Campaign,
    CampaignBudget,
    Organisation,
    Payment,
)
from workflows.payments import require_final_approval

# Outcomes after which the money is spent and the reservation stays.
KEPT_ON = frozenset({"end_paid", "end_goods"})


def yuan(fen: int) -> str:
    """Integer fen as yuan with two decimals, without floating point."""
    sign = "-" if fen < 0 else ""
    fen = abs(int(fen))
    return f"{sign}{fen // 100}.{fen % 100:02d}"


@scripting.register(
    "reserve_budget",
    "终审通过时从本区（县）总工会的活动预算中占用案件核准的金额",
    moves_money=True,
)
def reserve_budget() -> None:
    # Campaign and amount come from the case itself, never from task data.
    engine.ask("reserve_budget")


def _sqlite_write_lock(session: Session, *where) -> None:
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            update(CampaignBudget).where(*where).values(reserved_fen=CampaignBudget.reserved_fen)
        )


def _locked_budget(session: Session, *where) -> CampaignBudget | None:
    """The budget row, locked until commit and read fresh. SQLite has no row locks and
    ignores FOR UPDATE: a no-op write first takes its database write lock, so concurrent
    approvals queue there instead of failing on the row's version at commit."""
    _sqlite_write_lock(session, *where)
    return session.scalars(
        select(CampaignBudget)
        .where(*where)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def _named_budget(
    session: Session, campaign_id: int, org_id: int
) -> tuple[CampaignBudget | None, str]:
    """The district's budget of the campaign, locked as `_locked_budget` locks it, and
    "unit campaign" for the messages, read in the same statement."""
    where = (CampaignBudget.campaign_id == campaign_id, CampaignBudget.org_id == org_id)
    _sqlite_write_lock(session, *where)
    found = session.execute(
        select(CampaignBudget, Organisation.name, Campaign.name)
        .join(Organisation, Organisation.id == CampaignBudget.org_id)
        .join(Campaign, Campaign.id == CampaignBudget.campaign_id)
        .where(*where)
        .with_for_update(of=CampaignBudget)
        .execution_options(populate_existing=True)
    ).first()
    if found is not None:
        return found[0], f"{found[1]} {found[2]}"
    names = session.execute(
        select(
            select(Organisation.name).where(Organisation.id == org_id).scalar_subquery(),
            select(Campaign.name).where(Campaign.id == campaign_id).scalar_subquery(),
        )
    ).one()
    return None, " ".join(name or "" for name in names)


@engine.effect_handler("reserve_budget")
def _reserve(session: Session, loaded: engine.Loaded, payload: dict) -> None:
    case = loaded.case
    amount = require_final_approval(case, "占用预算")
    campaign_id = case.campaign_id
    if campaign_id is None or amount <= 0:
        return  # an archive case (no campaign) or goods (no money): nothing to reserve
    existing = session.scalars(
        select(BudgetReservation).where(BudgetReservation.case_id == case.id)
    ).first()
    if existing is not None:
        return  # approved once already: the reservation stands
    org_id = access.org_at_level(loaded.unit or case.org, 2)
    budget, where = _named_budget(session, campaign_id, org_id)
    if budget is None:
        raise engine.ProcessError(f"{where} 未设置预算，不能审批通过，请联系市总工会设置预算")
    remaining = budget.budget_fen - budget.reserved_fen
    if amount > remaining:
        raise engine.ProcessError(
            f"{where} 预算不足：剩余 {yuan(remaining)} 元，本案需 {yuan(amount)} 元"
        )
    budget.reserved_fen += amount
    session.add(BudgetReservation(case_id=case.id, budget_id=budget.id, amount_fen=amount))
    record(
        session,
        None,
        case.id,
        "budget.reserve",
        f"占用{where}预算 {yuan(amount)} 元，剩余 {yuan(remaining - amount)} 元",
        budget_id=budget.id,
        amount_fen=amount,
    )


def _release(session: Session, loaded: engine.Loaded) -> None:
    """A case that closes unpaid gives its reservation back."""
    case = loaded.case
    if case.outcome in KEPT_ON:
        return
    reservation = session.scalars(
        select(BudgetReservation).where(BudgetReservation.case_id == case.id)
    ).first()
    if reservation is None:
        return
    paid = session.scalars(
        select(Payment.id).where(Payment.case_id == case.id, Payment.status == "paid")
    ).first()
    if paid is not None:
        return  # the money went out: it stays spent whatever the outcome says
    budget = _locked_budget(session, CampaignBudget.id == reservation.budget_id)
    budget.reserved_fen -= reservation.amount_fen
    session.delete(reservation)
    record(
        session,
        None,
        case.id,
        "budget.release",
        f"案件未发放结案（{case.outcome_label}），释放预算 {yuan(reservation.amount_fen)} 元",
        budget_id=budget.id,
        amount_fen=reservation.amount_fen,
    )


engine.CLOSE_HOOKS.append(_release)


@dataclass(frozen=True)
class BudgetStatus:
    budget_fen: int
    reserved_fen: int

    @property
    def remaining_fen(self) -> int:
        return self.budget_fen - self.reserved_fen


def budget_status(session: Session, campaign_id: int, org_id: int) -> BudgetStatus | None:
    """A district's budget for a campaign: budget, reserved and remaining fen (None when
    the campaign has no budget for that organisation)."""
    row = session.scalars(
        select(CampaignBudget).where(
            CampaignBudget.campaign_id == campaign_id, CampaignBudget.org_id == org_id
        )
    ).first()
    if row is None:
        return None
    return BudgetStatus(row.budget_fen, row.reserved_fen)
