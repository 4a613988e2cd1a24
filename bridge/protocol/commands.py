"""Command names, and every command's argument and result as attrs classes (the JSON is camelCase)."""

from __future__ import annotations

from typing import Any, NewType

import attrs

# Command names
PROMPT = "agentBridge.prompt"
AWAIT_TURN = "agentBridge.awaitTurn"
CANCEL = "agentBridge.cancel"
SESSIONS = "agentBridge.sessions"
CLOSE_SESSION = "agentBridge.closeSession"
AGENTS = "agentBridge.agents"
PENDING = "agentBridge.pending"
APPLY = "agentBridge.apply"
REJECT = "agentBridge.reject"
UNREJECT = "agentBridge.unreject"
DIFF = "agentBridge.diff"
HISTORY = "agentBridge.history"
REWIND = "agentBridge.rewind"
AGENT_STATE = "agentBridge.agentState"
SET_MODE = "agentBridge.setMode"
SET_OPTION = "agentBridge.setOption"
SHOW_TRANSCRIPT = "agentBridge.showTranscript"

EVENT_NOTIFICATION = "agentBridge/event"

# Checked scalar types: structuring them validates instead of coercing (see convert.py).
NonEmptyStr = NewType("NonEmptyStr", str)
FileUri = NewType("FileUri", str)
NonNegativeInt = NewType("NonNegativeInt", int)
PositiveSeconds = NewType("PositiveSeconds", float)
StrictBool = NewType("StrictBool", bool)  # true or false only: no 0/1 or "yes" (checked in convert.py)
OptionValue = str | bool  # a select option's value id, or a boolean option's value (checked in convert.py)


class FieldError(ValueError):
    """A value that does not fit its field; the message completes "'<field>' ..."."""


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


# Command arguments
@attrs.frozen
class Position:
    line: NonNegativeInt
    character: NonNegativeInt


@attrs.frozen
class Range:
    start: Position
    end: Position


def _check_range(rng: Range, field: str) -> None:
    start, end = rng.start, rng.end
    if (end.line, end.character) < (start.line, start.character):
        raise FieldError(f"'{field}.end' is before '{field}.start'")


@attrs.frozen
class Attachment:
    """A file (or some lines of it, `range`) the agent gets with the prompt, as the user sees it."""

    uri: FileUri
    range: Range | None = None


@attrs.frozen
class PromptArgs:
    text: NonEmptyStr
    agent: NonEmptyStr | None = None
    session_id: NonEmptyStr | None = None
    uri: FileUri | None = None
    range: Range | None = None
    attachments: list[Attachment] | None = None
    new_session: StrictBool | None = None  # without it, a prompt with no session continues the latest one

    def __attrs_post_init__(self) -> None:
        if self.new_session and self.session_id is not None:
            raise FieldError("'newSession' and 'sessionId' exclude each other (a new session, or that one)")
        if self.range is not None:
            if self.uri is None:
                raise FieldError("'range' needs 'uri' (the document it selects in)")
            _check_range(self.range, "range")
        for index, attachment in enumerate(self.attachments or ()):
            if attachment.range is not None:
                _check_range(attachment.range, f"attachments[{index}].range")


@attrs.frozen
class SessionArgs:
    session_id: NonEmptyStr


@attrs.frozen
class AwaitTurnArgs:
    session_id: NonEmptyStr
    turn_id: NonEmptyStr | None = None
    timeout: PositiveSeconds | None = None


@attrs.frozen
class NoArgs:
    pass


@attrs.frozen
class PendingArgs:
    session_id: NonEmptyStr | None = None
    uri: FileUri | None = None


@attrs.frozen
class HunkSelection:
    session_id: NonEmptyStr
    uri: FileUri | None = None
    hunk_id: NonEmptyStr | None = None

    def __attrs_post_init__(self) -> None:
        if self.hunk_id is not None and self.uri is None:
            raise FieldError("'hunkId' needs 'uri' (the file the hunk belongs to)")


@attrs.frozen
class TurnArgs:
    session_id: NonEmptyStr
    turn_id: NonEmptyStr


@attrs.frozen
class FileArgs:
    session_id: NonEmptyStr
    uri: FileUri


@attrs.frozen
class AgentStateArgs:
    session_id: NonEmptyStr
    agent: NonEmptyStr | None = None


@attrs.frozen
class SetModeArgs:
    session_id: NonEmptyStr
    mode_id: NonEmptyStr
    agent: NonEmptyStr | None = None


@attrs.frozen
class SetOptionArgs:
    session_id: NonEmptyStr
    option_id: NonEmptyStr
    value: OptionValue
    agent: NonEmptyStr | None = None


# Command results
@attrs.frozen
class PromptResult:
    session_id: str
    turn_id: str


@attrs.frozen
class TurnStatus:
    """`agentBridge.awaitTurn`: how a turn ended."""

    status: str  # completed | failed | cancelled
    error: str | None = None
    stop_reason: str | None = None


@attrs.frozen
class CancelResult:
    cancelled: bool


@attrs.frozen
class CloseResult:
    closed: bool


@attrs.frozen
class TranscriptResult:
    uri: str  # the Markdown file written (the client is asked to open it with window/showDocument)


@attrs.frozen
class RejectResult:
    rejected: int
    rejection_id: str | None  # pass to agentBridge.unreject to take it back; None when nothing was rejected


@attrs.frozen
class UnrejectArgs:
    session_id: NonEmptyStr
    rejection_id: NonEmptyStr


@attrs.frozen
class UnrejectResult:
    restored: int


@attrs.frozen
class Conflict:
    uri: str
    hunk_ids: list[str]
    reason: str


@attrs.frozen
class ApplyResult:
    applied: int
    conflicts: list[Conflict]


@attrs.frozen
class Usage:
    """Token and cost figures; those the agent does not report are left out."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    context_used: int | None = None
    context_size: int | None = None
    cost: float | None = None
    currency: str | None = None


@attrs.frozen
class AgentUsage:
    input_tokens: int
    output_tokens: int
    cost: float


@attrs.frozen
class AgentStatus:
    agent: str
    status: str  # busy | active | idle | stopped | crashed
    usage: AgentUsage
    mode: str | None = None  # the current mode's id
    model: str | None = None  # the current value of the agent's model option


@attrs.frozen
class ModeInfo:
    id: str
    name: str
    description: str | None = None


@attrs.frozen
class Modes:
    current_mode_id: str | None
    available_modes: list[ModeInfo]


@attrs.frozen
class AgentStateResult:
    """`agentBridge.agentState`, `setMode`, `setOption`: what the agent offers to steer it, and its choices now."""

    agent: str
    modes: Modes | None  # null: the agent offers no modes
    config_options: list[dict[str, Any]]  # ACP SessionConfigOption objects as the agent sent them (camelCase)
    commands: list[dict[str, Any]]  # {name, description, input?}


@attrs.frozen
class SessionSummary:
    session_id: str
    title: str
    agents: list[AgentStatus]
    pending_hunks: int
    created_at: str
    workspace: str
    worktree: str
    busy: bool
    queued_turns: int
    preparing: bool = False  # its worktree is still being made; its turns start once it exists


@attrs.frozen
class PlanEntry:
    content: str
    status: str
    priority: str


@attrs.frozen
class ToolCallRecord:
    """A tool call as its last `toolCall` event left it (in `agentBridge.history`)."""

    tool_call_id: str
    title: str
    tool_kind: str
    status: str
    paths: list[str]
    command: str | None = None
    output: str | None = None


@attrs.frozen
class PermissionRecord:
    """A permission question and how it was settled (in `agentBridge.history`)."""

    tool_call_id: str
    title: str
    permission_kind: str
    paths: list[str]
    command: str | None
    cwd: str | None
    outcome: str  # allowed | rejected | allowedAlways
    reason: str


@attrs.frozen
class HistoryEntry:
    turn_id: str
    agent: str
    prompt: str
    status: str
    stop_reason: str | None
    error: str | None
    answer: str | None
    queued_at: str
    started_at: str | None
    ended_at: str | None
    rewound: bool
    tool_calls: list[ToolCallRecord]
    plan: list[PlanEntry] | None
    usage: Usage | None
    permissions: list[PermissionRecord]


@attrs.frozen
class RewindResult:
    turns_undone: int
    files: list[str]  # file URIs put back


@attrs.frozen
class AgentInfo:
    name: str
    protocol: str
    available: bool
    detail: str
    command: list[str]
    default: bool
    models: list[str] | None = None  # opencode agents, once their server has listed them
    model: str | None = None
    # Set when the repository's untrusted configuration file defines or changes this agent (ignored meanwhile).
    warning: str | None = None
    sandbox: bool = False  # runs in a bubblewrap sandbox (see SECURITY.md)
    # Why no sandbox can be made on this machine, with how to enable it (None: sandboxes work here). Given for
    # every agent: a sandboxed agent refuses to start while it is set.
    sandbox_problem: str | None = None


@attrs.frozen
class PendingHunk:
    hunk_id: str
    agent: str
    turn_id: str | None
    range: Range  # where the hunk is in the base (what the user had when the agent started)
    old_text: str
    new_text: str
    live_range: Range | None = None  # where it is now in an open document, after the user's edits
    # Both the user and the agent changed these lines: new_text is the agent's version, old_text the user's.
    conflict: bool = False
    conflict_reason: str | None = None


@attrs.frozen
class PendingFile:
    session_id: str
    uri: str
    change: str  # modify | create | delete | rename
    binary: bool
    hunks: list[PendingHunk]
    old_uri: str | None = None


@attrs.frozen
class FileVersions:
    """`agentBridge.diff`: both sides of one pending file (texts are null for binary files)."""

    session_id: str
    uri: str
    change: str
    binary: bool
    base_text: str | None
    agent_text: str | None
    old_uri: str | None = None


