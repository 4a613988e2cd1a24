"""What a turn did besides answering (its tool calls, plan, usage and permission questions), gathered from the
events the editor gets while the turn runs, so `agentBridge.history` can draw the turn again later (pure)."""

from __future__ import annotations

import json

import attrs
from cattrs.errors import BaseValidationError

from bridge import protocol as wire
from bridge.protocol.convert import converter

# A command's output can be megabytes; the history keeps what a transcript shows of it.
OUTPUT_CAP = 2000
CUT = "…"
UNANSWERED = "not answered before the turn ended"


@attrs.frozen
class TurnDetails:
    """A turn's record as stored (the turns table's `details`, JSON through the wire converter)."""

    tool_calls: list[wire.ToolCallRecord] = attrs.field(factory=list)
    plan: list[wire.PlanEntry] | None = None
    usage: wire.Usage | None = None
    permissions: list[wire.PermissionRecord] = attrs.field(factory=list)


def cap(text: str | None) -> str | None:
    if text is None or len(text) <= OUTPUT_CAP:
        return text
    return text[: OUTPUT_CAP - len(CUT)] + CUT


class TurnRecord:
    """Fed every event of one turn (`add`); `details` is what the turn did so far, or in the end."""

    def __init__(self) -> None:
        self._calls: dict[str, wire.ToolCallRecord] = {}  # insertion order: the order calls were first seen
        self._plan: list[wire.PlanEntry] | None = None
        self._usage: wire.Usage | None = None
        self._permissions: list[wire.PermissionRecord] = []

    def add(self, event: wire.Event) -> None:
        match event:
            case wire.ToolCallEvent():
                self._tool_call(event)
            case wire.PlanEvent():
                self._plan = list(event.entries)  # each plan replaces the one before
            case wire.UsageEvent():
                self._usage = event.usage
            case wire.PermissionEvent():
                self._permission(event)

    def _tool_call(self, event: wire.ToolCallEvent) -> None:
        # Backends send the whole merged state each time; what an update leaves out is kept from before all the
        # same, so a transport that sends only what changed loses nothing either.
        before = self._calls.get(event.tool_call_id)
        self._calls[event.tool_call_id] = wire.ToolCallRecord(
            event.tool_call_id,
            event.title or (before.title if before else ""),
            event.tool_kind,
            event.status,
            list(event.paths) or (list(before.paths) if before else []),
            event.command if event.command is not None else (before.command if before else None),
            cap(event.output) if event.output is not None else (before.output if before else None),
        )

    def _permission(self, event: wire.PermissionEvent) -> None:
        record = wire.PermissionRecord(
            event.tool_call_id, event.title, event.permission_kind, list(event.paths), event.command, event.cwd,
            event.outcome, event.reason,
        )
        if event.outcome != "asking":
            # The answer to the question asked last for this tool call replaces it; a decision the policy took
            # alone was never "asking" and comes on its own.
            for i in range(len(self._permissions) - 1, -1, -1):
                held = self._permissions[i]
                if held.tool_call_id == event.tool_call_id and held.outcome == "asking":
                    self._permissions[i] = record
                    return
        self._permissions.append(record)

    def details(self, usage: wire.Usage | None = None, *, ended: bool = False) -> TurnDetails:
        """What the turn did. `usage` is the turn's own as the agent reported it at its end (else the last usage
        event's). A question still open is left out while the turn runs; once it ended, it counts as rejected:
        the agent was not allowed."""
        permissions = [
            attrs.evolve(p, outcome="rejected", reason=UNANSWERED) if p.outcome == "asking" else p
            for p in self._permissions
            if ended or p.outcome != "asking"
        ]
        return TurnDetails(list(self._calls.values()), self._plan, usage if usage is not None else self._usage,
                           permissions)


def dump(details: TurnDetails) -> str:
    return json.dumps(converter.unstructure(details))


def load(text: str) -> TurnDetails:
    """A stored record; one this version cannot read (e.g. written by a newer one) reads as empty, so the rest of
    the history still shows."""
    try:
        return converter.structure(json.loads(text), TurnDetails)
    except (ValueError, BaseValidationError):
        return TurnDetails()
