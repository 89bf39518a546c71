"""SpiffWorkflow (de)serialization with the spec kept apart from the state.

A version's spec is serialized once at deploy; an instance stores only its running
state (zlib-compressed JSON). Restoring hands the cached spec objects to the workflow
instead of re-reading them from every instance row.
"""

import json
import zlib
from typing import Any
from uuid import UUID

import orjson
from SpiffWorkflow.bpmn.serializer.default.workflow import (
    BpmnWorkflowConverter,
    WorkflowConverter,
)
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG

from workflows import crypto
from workflows.scripting import script_engine

STATE_FORMAT = 1

# JSON for states is orjson's: about 3x faster to read and 5x to write than the standard
# library's on a 16 KB state, and the same text for what a state holds (compact, UTF-8,
# control characters escaped alike; datetimes and dataclasses go through `default` as
# before). What orjson refuses to write (integers past 64 bits, nesting past 254) is
# written by the standard library instead. One difference is kept: NaN and infinities,
# which are not JSON, are written as null (the standard library wrote NaN).
_ORJSON_OPTIONS = (
    orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)
# orjson reads an integer past 64 bits as a float; such a number (20 or more digits, a
# sign counted as one) is read by the standard library instead. Found by mapping digits
# and '-' to '0' and everything else to ' ' (a 16 KB state: ~30 µs).
_DIGITS = bytes(48 if (48 <= c <= 57 or c == 45) else 32 for c in range(256))
_LONG_NUMBER = b"0" * 20


def dumps(obj: Any) -> str:
    """Compact JSON text (see above)."""
    try:
        return orjson.dumps(obj, default=str, option=_ORJSON_OPTIONS).decode("utf-8")
    except orjson.JSONEncodeError:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str)


def loads(data: bytes | str) -> Any:
    """What `dumps` (or the standard library, for states written before) wrote."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if _LONG_NUMBER not in raw.translate(_DIGITS):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # NaN, a lone surrogate, ...: the standard library reads those
    return json.loads(raw)


class StateOnlyWorkflowConverter(BpmnWorkflowConverter):
    """Like SpiffWorkflow's converter, minus the specs (they live in process_version)."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict:
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict, spec=None, subprocess_specs=None) -> BpmnWorkflow:
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


REGISTRY = BpmnWorkflowSerializer.configure(CAMUNDA_CONFIG)
_STATE = StateOnlyWorkflowConverter(BpmnWorkflow, REGISTRY)
# The plain serializer (spec included) is what the raw benchmark uses.
FULL_REGISTRY = BpmnWorkflowSerializer.configure(CAMUNDA_CONFIG)
full_serializer = BpmnWorkflowSerializer(FULL_REGISTRY)


def spec_to_json(spec) -> str:
    return json.dumps(REGISTRY.convert(spec), ensure_ascii=False, separators=(",", ":"))


def spec_from_json(text: str):
    return REGISTRY.restore(json.loads(text))


class StateTooLarge(ValueError):
    def __init__(self, size: int):
        super().__init__(size)
        self.size = size


def state_to_bytes(workflow: BpmnWorkflow, limit: int | None = None) -> bytes:
    """The state, compressed and encrypted; StateTooLarge past `limit` JSON characters."""
    text = state_text(workflow)
    if limit is not None and len(text) > limit:
        raise StateTooLarge(len(text))
    return compress(text)


def state_from_text(text: str, spec, subprocess_specs: dict) -> BpmnWorkflow:
    dct = loads(text)["workflow"]
    workflow = _STATE.from_dict(dct, spec=spec, subprocess_specs=subprocess_specs)
    workflow.script_engine = script_engine
    return workflow


def state_text(workflow: BpmnWorkflow) -> str:
    """The state as the JSON text `state_to_bytes` compresses (a campaign launch copies
    one case's text for many)."""
    return dumps({"format": STATE_FORMAT, "workflow": _STATE.to_dict(workflow)})


def compress(text: str, level: int = 6) -> bytes:
    """Compressed, then encrypted (workflows/crypto.py): a state holds ID and card numbers.
    A campaign launch's copies take level 1 (twice as fast, 9 % larger): each is written
    again at level 6 by its case's first step."""
    return crypto.encrypt_bytes(zlib.compress(text.encode("utf-8"), level))


def state_from_bytes(blob: bytes, spec, subprocess_specs: dict) -> BpmnWorkflow:
    dct = unpack(blob)["workflow"]
    workflow = _STATE.from_dict(dct, spec=spec, subprocess_specs=subprocess_specs)
    workflow.script_engine = script_engine
    return workflow


def pack(obj: Any) -> bytes:
    return compress(dumps(obj))


def unpack(blob: bytes) -> dict:
    return loads(zlib.decompress(crypto.decrypt_bytes(blob)))
