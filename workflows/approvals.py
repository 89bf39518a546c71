"""What an approval decision leads to, read from the diagram the case runs on.

The approval page says before the approver decides whether this level is the last
("本级为终审") or where the case goes next ("金额超过 5,000 元，将报市总工会审批"), and the
confirmation of 退回修改 / 不予通过 says what follows. Both come from following the
diagram from the task with the decision taken: conditions are evaluated in the restricted
environment on the case's data, script tasks are passed without running them, and the
walk stops at the next user task or at the end of the called process. A diagram the walk
cannot follow (a parallel or event gateway, a condition that fails) gives no prediction
rather than a wrong one.
"""

from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn.specs.defaults import EndEvent, ExclusiveGateway, ScriptTask
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask
from sqlalchemy.orm import Session

from workflows import engine, scripting
from workflows.models import HumanTask, ProcessInstance
from workflows.processes import ROLES

# A diagram's path from one user task to the next is a few gateways and scripts long.
MAX_HOPS = 25


@dataclass(frozen=True)
class Outcome:
    """Where a decision leads: the next user task (`final` False) or the end of the
    approval process (`final` True), with the end event's name."""

    decision: str
    final: bool
    name: str
    group: str = ""
    group_label: str = ""
    # The campaign's city-approval line and the case's amount, when the diagram has them:
    # the reason a case goes to (or skips) the city federation.
    threshold_fen: int | None = None
    amount_fen: int | None = None

    @property
    def over_threshold(self) -> bool:
        return (
            self.threshold_fen is not None
            and self.amount_fen is not None
            and self.amount_fen > self.threshold_fen
        )


def _follow(spec: Any, data: dict) -> tuple[str, Any] | None:
    for _ in range(MAX_HOPS):
        outputs = spec.outputs
        if isinstance(spec, ExclusiveGateway):
            target = spec.default_task_spec
            for condition, name in spec.cond_task_specs:
                if condition is None:
                    continue
                try:
                    taken = scripting.evaluate(condition.args[0], dict(data))
                except Exception:  # noqa: BLE001 - no prediction rather than a wrong one
                    return None
                if taken:
                    target = name
                    break
            if target is None:
                return None
            spec = spec._wf_spec.task_specs[target]
            continue
        if isinstance(spec, UserTask):
            return "task", spec
        if isinstance(spec, EndEvent):
            return "end", spec
        if len(outputs) != 1 or not isinstance(spec, ScriptTask):
            return None
        spec = outputs[0]
    return None


def _outcome(loaded: engine.Loaded, task: Any, decision: str) -> Outcome | None:
    data = dict(task.data, decision=decision)
    outputs = task.task_spec.outputs
    if len(outputs) != 1:
        return None
    found = _follow(outputs[0], data)
    if found is None:
        return None
    kind, spec = found
    threshold, amount = data.get("city_approval_threshold_fen"), data.get("amount_fen")
    numbers = dict(
        threshold_fen=threshold if isinstance(threshold, int) else None,
        amount_fen=amount if isinstance(amount, int) else None,
    )
    if kind == "end":
        return Outcome(decision, True, spec.bpmn_name or spec.name, **numbers)
    meta = loaded.meta_for(task).get("user_tasks", {}).get(spec.name, {})
    group = meta.get("group", "")
    return Outcome(
        decision,
        False,
        meta.get("name") or spec.bpmn_name or spec.name,
        group,
        ROLES.get(group, group),
        **numbers,
    )


def outcomes(session: Session, row: HumanTask, decisions: list[str]) -> dict[str, Outcome]:
    """Where each decision on the open task `row` leads; a decision the diagram does not
    say anything certain about is left out."""
    loaded = engine.load(session, session.get(ProcessInstance, row.instance_id))
    task = engine.require_ready(loaded, row.task_uuid)
    found = {}
    for decision in decisions:
        result = _outcome(loaded, task, decision)
        if result is not None:
            found[decision] = result
    return found


def outcome(session: Session, row: HumanTask, decision: str) -> Outcome | None:
    return outcomes(session, row, [decision]).get(decision)
