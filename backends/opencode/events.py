"""Pure mapping of `opencode serve` events onto the bridge's events, and the decisions about when a turn ends.

No I/O here: the backend feeds every event of its session (already parsed from the SSE stream) to one
`OpencodeMapper`, gets back bridge events plus a candidate settlement, and lets a `TurnGuard` decide whether
that settlement belongs to the turn running now. Reconciliation after a dropped stream replays the session's
messages through the same mapper, so a part seen live and again in the replay is reported once.

Turn identity: the bridge chooses the id of each turn's user message (`messageID` in `prompt_async`), so a
message belongs to the running turn when it is that message or an assistant message whose parent it is.
Events of earlier turns (opencode finishes a message's summary after the turn, and an aborted or failed turn
sends its idle/error twice) are recognised by that and never leak into the next turn.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from backends.events import (
    AgentEvent,
    Plan,
    PlanEntry,
    PlanStatus,
    ReasoningDelta,
    SessionInfo,
    StopReason,
    TextDelta,
    ToolCall,
    ToolStatus,
    Usage,
)
from backends.opencode.wire import TOOL_KINDS, as_dict, as_list, as_str, route_session_id, tool_paths

# Server-wide chatter, never about a session.
NOISE = frozenset({
    "server.connected", "server.heartbeat", "plugin.added", "catalog.updated", "reference.updated",
    "integration.updated", "file.watcher.updated", "installation.updated", "lsp.updated", "lsp.client.diagnostics",
})
ABORTED = "MessageAbortedError"
_DCP_TAG = re.compile(r"<dcp-message-id>.*?</dcp-message-id>", re.DOTALL)
_DCP_OPEN = "<dcp-message-id>"
_TOOL_STATUS: dict[str, ToolStatus] = {
    "pending": "pending", "running": "in_progress", "completed": "completed", "error": "failed",
}
_PLAN_STATUS: dict[str, PlanStatus] = {
    "pending": "pending", "in_progress": "in_progress", "completed": "completed", "cancelled": "completed",
}
_FINISH: dict[str, StopReason] = {"length": "max_tokens", "content-filter": "refusal"}


@dataclass(frozen=True)
class Settle:
    """opencode says the session stopped working: how the turn ended, before the guard has its say."""

    outcome: Literal["completed", "cancelled", "failed"]
    error: str | None = None
    stop_reason: StopReason = "end_turn"


@dataclass(frozen=True)
class PermissionAsk:
    """A `permission.asked` to answer with `POST /permission/{request_id}/reply`."""

    request_id: str
    session_id: str
    properties: dict[str, Any]


@dataclass
class Mapped:
    """What one opencode event means for the bridge."""

    events: list[AgentEvent] = field(default_factory=list)
    settle: Settle | None = None
    permission: PermissionAsk | None = None
    activity: bool = False  # the running turn did something of its own (feeds the watchdog, heals the guard)
    stale: bool = False  # an earlier turn's answer is still being finished: its idle may follow (re-arms the guard)
    child_session: str | None = None  # a sub-agent session of ours appeared (its permissions are ours to answer)
    retry: str | None = None  # opencode is retrying the model call; the reason, for a stalled turn's error


def strip_dcp(text: str, final: bool) -> str:
    """`text` without `<dcp-message-id>…</dcp-message-id>` tags (a context-pruning plugin's markers).

    While streaming (`final` false) an unclosed tag, or a tail that may become one, is held back, so a tag
    split across deltas never shows.
    """
    text = _DCP_TAG.sub("", text)
    if final:
        return text
    start = text.find(_DCP_OPEN)
    if start >= 0:
        return text[:start]
    for size in range(min(len(_DCP_OPEN) - 1, len(text)), 0, -1):
        if _DCP_OPEN.startswith(text[-size:]):
            return text[:-size]
    return text


def error_message(error: Any) -> str:
    """A readable message from opencode's error object (`{name, data: {message}}`)."""
    if not isinstance(error, dict):
        return "opencode reported an error"
    message = str(as_dict(error.get("data")).get("message") or "").strip().splitlines()
    name = str(error.get("name") or "Error")
    return f"{name}: {message[0]}" if message else name


def settle_for_error(error: Any) -> Settle:
    if isinstance(error, dict) and error.get("name") == ABORTED:
        return Settle("cancelled", stop_reason="cancelled")
    return Settle("failed", error=f"opencode failed the turn: {error_message(error)}")


@dataclass
class _PartText:
    kind: Literal["text", "reasoning"]
    raw: str = ""
    emitted: str = ""
    resynced: bool = False  # filled from a snapshot: deltas may overlap it, so wait for the part's final text


class OpencodeMapper:
    """Maps one opencode session's events; keeps what dedupe and turn identity need."""

    def __init__(self, session_id: str, cwd: str) -> None:
        self.session_id = session_id
        self.cwd = cwd
        self.turn_message: str | None = None
        self.children: set[str] = set()
        self._roles: dict[str, str] = {}
        self._parents: dict[str, str | None] = {}
        self._texts: dict[str, _PartText] = {}
        self._tools: dict[str, ToolCall] = {}
        self._steps: set[str] = set()
        self._title: str | None = None
        self.usage = Usage()
        self.finish: str | None = None
        self.last_error: Any = None

    def begin_turn(self, message_id: str) -> None:
        self.turn_message = message_id
        self.usage = Usage(input_tokens=0, output_tokens=0, total_tokens=0, cost=0.0)
        self.finish = None
        self.last_error = None

    def belongs(self, message_id: Any) -> bool:
        """Whether a message is the running turn's user message or one of its answers."""
        if self.turn_message is None or not isinstance(message_id, str):
            return False
        return message_id == self.turn_message or self._parents.get(message_id) == self.turn_message

    def feed(self, event: dict[str, Any], resync: bool = False) -> Mapped:
        kind = event.get("type")
        props = as_dict(event.get("properties"))
        if kind in NOISE or not isinstance(kind, str):
            return Mapped()
        sid = route_session_id(event)
        if kind == "session.created":
            info = as_dict(props.get("info"))
            child = as_str(info.get("id"))
            if info.get("parentID") == self.session_id and child is not None:
                self.children.add(child)
                return Mapped(child_session=child)
            return Mapped()
        if kind == "permission.asked" and (sid == self.session_id or sid in self.children):
            return Mapped(permission=PermissionAsk(str(props.get("id")), str(sid), props), activity=True)
        if sid != self.session_id:
            return Mapped()
        handler = _HANDLERS.get(kind)
        return handler(self, props, resync) if handler else Mapped()

    # Handlers, one per event type
    def _message_updated(self, props: dict[str, Any], resync: bool) -> Mapped:
        info = as_dict(props.get("info"))
        mid = as_str(info.get("id"))
        if mid is None:
            return Mapped()
        self._roles[mid] = str(info.get("role"))
        self._parents[mid] = info.get("parentID")
        if not self.belongs(mid):
            return Mapped(stale=info.get("role") == "assistant" and self.turn_message is not None)
        if info.get("role") == "assistant":
            if info.get("finish"):
                self.finish = str(info["finish"])
            if info.get("error"):
                self.last_error = info["error"]
        return Mapped(activity=True)

    def _part_updated(self, props: dict[str, Any], resync: bool) -> Mapped:
        part = as_dict(props.get("part"))
        if not self.belongs(part.get("messageID")):
            known = self._roles.get(str(part.get("messageID")))
            return Mapped(stale=known == "assistant" and self.turn_message is not None)
        if self._roles.get(str(part.get("messageID"))) == "user":
            return Mapped(activity=True)  # the echo of the bridge's own prompt
        ptype = part.get("type")
        if ptype in ("text", "reasoning"):
            return Mapped(self._full_text(part, resync), activity=True)
        if ptype == "tool":
            return Mapped(self._tool(part), activity=True)
        if ptype == "step-finish":
            return Mapped(self._step_finish(part), activity=True)
        return Mapped(activity=True)

    def _part_delta(self, props: dict[str, Any], resync: bool) -> Mapped:
        if not self.belongs(props.get("messageID")):
            return Mapped()
        delta = props.get("delta")
        if props.get("field") != "text" or not isinstance(delta, str):
            return Mapped(activity=True)
        key = str(props.get("partID") or props.get("messageID"))
        state = self._texts.setdefault(key, _PartText("text"))
        if state.resynced:
            return Mapped(activity=True)
        state.raw += delta
        return Mapped(self._emit(state, final=False), activity=True)

    def _status(self, props: dict[str, Any], resync: bool) -> Mapped:
        status = as_dict(props.get("status"))
        if status.get("type") == "idle":
            return Mapped(settle=self._completed())
        if status.get("type") == "retry":
            return Mapped(retry=str(status.get("message") or "retrying the model call"))
        return Mapped()

    def _idle(self, props: dict[str, Any], resync: bool) -> Mapped:
        return Mapped(settle=self._completed())

    def _error(self, props: dict[str, Any], resync: bool) -> Mapped:
        return Mapped(settle=settle_for_error(props.get("error")))

    def _session_updated(self, props: dict[str, Any], resync: bool) -> Mapped:
        title = as_dict(props.get("info")).get("title")
        # opencode names a new session "New session - <date>" until its title model has answered.
        if not isinstance(title, str) or title == self._title or title.startswith("New session - "):
            return Mapped()
        self._title = title
        return Mapped([SessionInfo(title=title)])

    def _todos(self, props: dict[str, Any], resync: bool) -> Mapped:
        todos = [as_dict(t) for t in as_list(props.get("todos"))]
        entries = tuple(
            PlanEntry(str(t.get("content", "")), _PLAN_STATUS.get(str(t.get("status")), "pending"),
                      str(t.get("priority") or "medium"))
            for t in todos
        )
        return Mapped([Plan(entries)])

    # Pieces
    def _completed(self) -> Settle:
        if self.last_error is not None:
            return settle_for_error(self.last_error)
        return Settle("completed", stop_reason=_FINISH.get(self.finish or "", "end_turn"))

    def _full_text(self, part: dict[str, Any], resync: bool) -> list[AgentEvent]:
        if part.get("synthetic") or part.get("ignored"):
            return []  # opencode's own injected context, not the model's answer
        key = str(part.get("id") or part.get("messageID"))
        kind: Literal["text", "reasoning"] = "reasoning" if part.get("type") == "reasoning" else "text"
        state = self._texts.setdefault(key, _PartText(kind))
        state.kind = kind
        text = str(part.get("text") or "")
        ended = as_dict(part.get("time")).get("end") is not None
        if len(text) >= len(state.raw) or ended:
            state.raw = text
        if resync and not ended:
            state.resynced = True
        return self._emit(state, final=ended)

    def _emit(self, state: _PartText, final: bool) -> list[AgentEvent]:
        visible = strip_dcp(state.raw, final)
        if not visible.startswith(state.emitted):
            return []  # opencode rewrote text it had streamed; what the user saw stays
        new = visible[len(state.emitted):]
        if not new:
            return []
        state.emitted = visible
        return [ReasoningDelta(new) if state.kind == "reasoning" else TextDelta(new)]

    def _tool(self, part: dict[str, Any]) -> list[AgentEvent]:
        state = as_dict(part.get("state"))
        tool = str(part.get("tool") or "tool")
        call_id = str(part.get("callID") or part.get("id"))
        raw_input = as_dict(state.get("input"))
        previous = self._tools.get(call_id)
        command = as_str(raw_input.get("command"))
        output = state.get("output") if isinstance(state.get("output"), str) else None
        if state.get("status") == "error":
            output = str(state.get("error") or output or "failed")
        paths = tool_paths(raw_input, self.cwd)
        title = as_str(state.get("title"))
        call = ToolCall(
            tool_call_id=call_id,
            title=title or _default_title(tool, raw_input, command) or (previous.title if previous else tool),
            kind=TOOL_KINDS.get(tool, "other"),
            status=_TOOL_STATUS.get(str(state.get("status")), previous.status if previous else "pending"),
            paths=paths or (previous.paths if previous else ()),
            command=command or (previous.command if previous else None),
            output=output if output is not None else (previous.output if previous else None),
            raw_input=raw_input or (previous.raw_input if previous else None),
        )
        if call == previous:
            return []
        self._tools[call_id] = call
        return [call]

    def _step_finish(self, part: dict[str, Any]) -> list[AgentEvent]:
        key = str(part.get("id") or "")
        if not key or key in self._steps:
            return []
        self._steps.add(key)
        tokens = as_dict(part.get("tokens"))
        u = self.usage
        inp = _int(tokens.get("input")) + _int(as_dict(tokens.get("cache")).get("read"))
        out = _int(tokens.get("output")) + _int(tokens.get("reasoning"))
        cost = part.get("cost")
        self.usage = Usage(
            input_tokens=(u.input_tokens or 0) + inp,
            output_tokens=(u.output_tokens or 0) + out,
            total_tokens=(u.total_tokens or 0) + inp + out,
            cost=(u.cost or 0.0) + (float(cost) if isinstance(cost, int | float) else 0.0),
        )
        return [self.usage]


_HANDLERS = {
    "message.updated": OpencodeMapper._message_updated,
    "message.part.updated": OpencodeMapper._part_updated,
    "message.part.delta": OpencodeMapper._part_delta,
    "session.status": OpencodeMapper._status,
    "session.idle": OpencodeMapper._idle,
    "session.error": OpencodeMapper._error,
    "session.updated": OpencodeMapper._session_updated,
    "todo.updated": OpencodeMapper._todos,
}


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _default_title(tool: str, raw_input: dict[str, Any], command: str | None) -> str | None:
    if command:
        return command
    for key in ("filePath", "path", "pattern", "url", "description"):
        if isinstance(raw_input.get(key), str):
            return f"{tool} {raw_input[key]}"
    return None


class TurnGuard:
    """Decides whether an idle/error settles the running turn: arm on abort, swallow orphans, heal on activity.

    opencode's `session.idle` and `session.error` carry only the session id. After an abort the aborted turn
    still sends its trailing idle/error (opencode 1.18: error, idle, idle at once, then about 0.1 s later the
    aborted answer's final `message.updated` and idle once more; a failed turn sends its error twice), and one
    arriving after the next prompt was posted would settle that new turn before it even started. So the guard
    arms on abort, when a turn begins and when an earlier turn's answer shows up again (its idle follows),
    swallows the idle/error events that come while armed, and heals on the next activity of the running
    turn's own messages: an idle or error after that is the running turn's.
    """

    def __init__(self) -> None:
        self.armed = False
        self.swallowed = 0

    def arm(self) -> None:
        self.armed = True

    def heal(self) -> None:
        self.armed = False

    def admit(self) -> bool:
        """True when a settle event belongs to the running turn; False for an orphan (swallowed)."""
        if self.armed:
            self.swallowed += 1
            return False
        return True


def reconcile_events(
    mapper: OpencodeMapper, messages: list[dict[str, Any]], busy: bool
) -> tuple[list[Mapped], Settle | None, bool]:
    """Replay a session's messages (`GET /session/{id}/message`) through the mapper.

    Returns what the replay adds (only what the live stream had not delivered), how the turn ended if the
    messages say it did, and whether the running turn's user message is there at all. A turn counts as ended
    only when the session is idle and an answer to the turn's message is finished or failed: right after
    `prompt_async` the user message exists before opencode is busy, and that is not an end.
    """
    out: list[Mapped] = []
    seen = False
    answers: list[dict[str, Any]] = []
    for message in messages:
        info = as_dict(as_dict(message).get("info"))
        if not info:
            continue
        out.append(mapper.feed({"type": "message.updated", "properties": {"sessionID": mapper.session_id,
                                                                          "info": info}}, resync=True))
        if not mapper.belongs(info.get("id")):
            continue
        seen = True
        if info.get("role") == "assistant":
            answers.append(info)
        for part in as_list(message.get("parts")):
            if isinstance(part, dict):
                out.append(mapper.feed({"type": "message.part.updated",
                                        "properties": {"sessionID": mapper.session_id, "part": part}}, resync=True))
    if busy or not answers:
        return out, None, seen
    last = answers[-1]
    if last.get("error"):
        return out, settle_for_error(last["error"]), seen
    if as_dict(last.get("time")).get("completed"):
        return out, Settle("completed", stop_reason=_FINISH.get(str(last.get("finish") or ""), "end_turn")), seen
    return out, None, seen
