"""Payments to the worker's bank card: exactly one per (case, purpose), paid never twice.

The diagram asks for a payment (`request_payment()`); finance sends it in a batch and
records the bank's answer. A failure opens "更正银行卡" for the caseworker, whose fix
makes the same payment payable again for a later batch.
"""

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.camunda.specs.event_definitions import MessageEventDefinition
from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows import access, audit, engine, scripting
from workflows.audit import record
from workflows.clock import now
from workflows.errors import Conflict, Forbidden, NotFound, ValidationFailed
from workflows.forms import normalise_bank_card
from workflows.models import (
    AuditEvent,
    Case,
    HumanTask,
    Payment,
    PaymentLine,
    ProcessInstance,
    User,
)
from workflows.privacy import mask_card

RESULT_MESSAGE = "payment_result"
RESULT_VAR = "payment_result"  # where the diagram finds the answer
RESULTS = ("paid", "failed")


@scripting.register(
    "request_payment",
    "终审通过后，按案件核准的金额和银行卡生成（或在更正银行卡后重新生成）付款指令",
    moves_money=True,
)
def request_payment() -> None:
    data = engine.current_data()
    # The amount is not taken from task data (a script could put anything there): the
    # handler pays what the final approval approved.
    engine.ask(
        "request_payment",
        bank_card=str(data.get("bank_card") or ""),
        account_name=str(data.get("account_name") or ""),
    )


def require_final_approval(case: Case, what: str) -> int:
    """The amount approved at the case's final approval (tasks.record_approval); a
    ProcessError if it has none: money never moves before it, whatever the diagram."""
    if case.approved_at is None or case.approved_fen is None:
        raise engine.ProcessError(f"案件尚未终审通过，不能{what}（只有终审通过后才能动用资金）")
    return int(case.approved_fen)


@engine.effect_handler("request_payment")
def _request(session: Session, loaded: engine.Loaded, payload: dict) -> None:
    case = loaded.case
    amount = require_final_approval(case, "生成付款指令")
    if amount <= 0:
        raise engine.ProcessError("付款金额必须大于零")
    try:
        card = normalise_bank_card(payload["bank_card"])
    except ValueError as err:
        raise engine.ProcessError(f"银行卡号无效：{err}") from None
    if not payload["account_name"]:
        raise engine.ProcessError("缺少开户名，无法生成付款")
    # One this action already asked for is still pending in the session (not flushed).
    pending = (
        p
        for p in session.new
        if isinstance(p, Payment) and p.case_id == case.id and p.purpose == case.programme
    )
    payment = (
        next(pending, None)
        or session.scalars(
            select(Payment).where(Payment.case_id == case.id, Payment.purpose == case.programme)
        ).first()
    )
    if payment is None:
        payment = Payment(
            case_id=case.id,
            purpose=case.programme,
            org_id=case.org_id,
            campaign_id=case.campaign_id,
            amount_fen=amount,
            account_name=payload["account_name"],
            bank_card=card,
        )
        session.add(payment)
        record(
            session,
            None,
            case.id,
            "payment.request",
            f"生成付款指令：{amount / 100:.2f} 元，卡号 {mask_card(card)}",
        )
        return
    if payment.status == "paid":
        raise engine.ProcessError("该案件已发放成功，不能重复付款")
    if payment.status != "failed":
        # Once: only a failed payment is asked for again (after 更正银行卡).
        raise engine.ProcessError("该案件已生成付款指令，不能重复生成")
    if (
        payment.status == "failed"
        and card == payment.bank_card
        and payload["account_name"] == payment.account_name
    ):
        # The bank refused exactly this card and name: sending them again fails again.
        message = "银行卡号和开户名与发放失败时相同，请按银行退回原因更正后再提交"
        raise ValidationFailed(
            message,
            errors={"bank_card": message, "account_name": "开户名也与发放失败时相同"},
        )
    payment.bank_card = card
    payment.account_name = payload["account_name"]
    payment.status = "payable"
    payment.batch_id = None
    record(
        session,
        None,
        case.id,
        "payment.request",
        f"银行卡已更正（{mask_card(card)}），付款重新进入待发放",
    )


def before_cancel(session: Session, case: Case) -> None:
    """A case whose payment is with the bank (or paid) cannot simply be cancelled."""
    payment = session.scalars(select(Payment).where(Payment.case_id == case.id)).first()
    if payment is None:
        return
    if payment.status in ("in_batch", "paid"):
        raise Conflict("该案件的付款已提交银行或已发放，不能撤销")
    payment.status = "cancelled"


def payments_for_case(session: Session, case_id: int) -> list[Payment]:
    return list(session.scalars(select(Payment).where(Payment.case_id == case_id)))


def record_result(
    session: Session, user: User | None, payment_id: int, result: str, reason: str = ""
) -> Payment:
    """Apply the bank's answer for one payment. Repeating the same answer changes nothing."""
    if result not in RESULTS:
        raise ValidationFailed("付款结果应为 paid（成功）或 failed（失败）")
    if result == "failed" and not (reason or "").strip():
        raise ValidationFailed("请填写失败原因", errors={"reason": "请填写失败原因"})
    with engine.unit_of_work(session):
        payment = session.get(Payment, payment_id)
        if payment is None:
            raise NotFound("付款记录不存在")
        case = session.get(Case, payment.case_id)
        if user is not None:
            if not user.has_role("finance"):
                raise Forbidden("只有财务人员可以登记银行结果")
            if not access.in_subtree(user, case.org):
                raise Forbidden("无权处理该付款")
        if payment.status == result or (payment.status == "paid"):
            if payment.status != result:
                raise Conflict("该笔付款已发放成功，不能改为失败")
            return payment  # the same answer again: nothing to do
        if payment.status not in ("payable", "in_batch"):
            raise Conflict("该笔付款当前不在待发放状态")
        payment.status = result
        payment.attempts += 1
        if result == "paid":
            payment.paid_at = now()
        else:
            payment.last_failure_reason = reason.strip()[:200]
        line = session.scalars(
            select(PaymentLine).where(
                PaymentLine.payment_id == payment.id, PaymentLine.batch_id == payment.batch_id
            )
        ).first()
        if line is not None and not line.result:
            line.result, line.reason, line.result_at = result, payment.last_failure_reason, now()
        notify_case(session, payment, user.id if user else None)
    return payment


def notify_case(
    session: Session,
    payment: Payment,
    actor_id: int | None,
    instance: ProcessInstance | None = None,
    open_rows: list[HumanTask] | None = None,
) -> None:
    """Move the case on with the payment's recorded answer (caller's transaction): a paid
    case finishes, a failed one opens 更正银行卡. A caller that read the case's instance
    and open tasks in this transaction passes them (bank results, many cases at a time);
    a change since is refused by the instance's version check as before."""
    if instance is None:
        loaded = engine.load_case(session, payment.case_id)
    else:
        loaded = engine.load(session, instance)
        loaded.open_rows = open_rows
    event = result_event(payment.status, failure_reason(payment), payment.id)
    record_delivery(session, payment, actor_id)
    engine.advance(session, loaded, actor_id, lambda wf: wf.send_event(event))


def failure_reason(payment: Payment) -> str:
    return payment.last_failure_reason if payment.status == "failed" else ""


def result_event(status: str, reason: str, payment_id) -> BpmnEvent:
    """The `payment_result` message a case waits for at 等待银行回盘."""
    return BpmnEvent(
        MessageEventDefinition(RESULT_MESSAGE),
        {
            "payload": {"status": status, "reason": reason, "payment_id": payment_id},
            "result_var": RESULT_VAR,
        },
    )


def record_delivery(session: Session, payment: Payment, actor_id: int | None) -> None:
    """The case's history line for the bank's answer reaching it."""
    session.add(AuditEvent(**delivery_event(payment, actor_id)))


def delivery_event(payment: Payment, actor_id: int | None) -> dict:
    """The audit row of the bank's answer reaching the case."""
    reason = failure_reason(payment)
    summary = "银行发放成功" if payment.status == "paid" else f"银行发放失败：{reason}"
    return audit.row(actor_id, payment.case_id, "payment.result", summary, payment_id=payment.id)
