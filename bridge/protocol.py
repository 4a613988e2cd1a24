"""The wire: every command's argument and result and every `agentBridge/event` kind, as attrs classes.

One cattrs converter turns them into camelCase JSON and back (as jedi-language-server does for its
initialization options). Fields defaulting to None are left out of the JSON when None; fields without a
default are always sent (as null when None). Structuring never coerces: a wrong type is an error whose
message names the field (`'range.start.line' must be a non-negative integer`), prefixed with the command.
Names and payloads are documented in docs/protocol.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, NewType, TypeVar

import attrs
import cattrs
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from bridge.errors import InvalidArguments

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
DIFF = "agentBridge.diff"
HISTORY = "agentBridge.history"

EVENT_NOTIFICATION = "agentBridge/event"

# Checked scalar types: structuring them validates instead of coercing.
NonEmptyStr = NewType("NonEmptyStr", str)
FileUri = NewType("FileUri", str)
NonNegativeInt = NewType("NonNegativeInt", int)
PositiveSeconds = NewType("PositiveSeconds", float)


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


@attrs.frozen
class PromptArgs:
    text: NonEmptyStr
    agent: NonEmptyStr | None = None
    session_id: NonEmptyStr | None = None
    uri: FileUri | None = None
    range: Range | None = None

    def __attrs_post_init__(self) -> None:
        if self.range is not None:
            if self.uri is None:
                raise FieldError("'range' needs 'uri' (the document it selects in)")
            start, end = self.range.start, self.range.end
            if (end.line, end.character) < (start.line, start.character):
                raise FieldError("'range.end' is before 'range.start'")


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
class FileArgs:
    session_id: NonEmptyStr
    uri: FileUri


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
class RejectResult:
    rejected: int


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


@attrs.frozen
class PendingHunk:
    hunk_id: str
    agent: str
    turn_id: str | None
    range: Range  # where the hunk is in the base (what the user had when the agent started)
    old_text: str
    new_text: str
    live_range: Range | None = None  # where it is now in an open document, after the user's edits


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


# Events: `agentBridge/event` notifications. Each carries sessionId, turnId and its kind.
@attrs.frozen
class Event:
    kind: ClassVar[str] = ""
    session_id: str
    turn_id: str | None


@attrs.frozen
class TurnContext:
    uri: str
    start_line: int
    end_line: int


@attrs.frozen
class TurnStarted(Event):
    kind: ClassVar[str] = "turnStarted"
    agent: str
    prompt: str
    context: TurnContext | None = None


@attrs.frozen
class TurnEnded(Event):
    kind: ClassVar[str] = "turnEnded"
    agent: str
    status: str
    stop_reason: str | None = None
    error: str | None = None
    usage: Usage | None = None


@attrs.frozen
class PendingChanged(Event):
    kind: ClassVar[str] = "pendingChanged"
    files: int
    hunks: int


@attrs.frozen
class AgentEvent(Event):
    """An event from one agent's turn."""

    agent: str


@attrs.frozen
class TextEvent(AgentEvent):
    kind: ClassVar[str] = "text"
    text: str


@attrs.frozen
class ReasoningEvent(AgentEvent):
    kind: ClassVar[str] = "reasoning"
    text: str


@attrs.frozen
class ToolCallEvent(AgentEvent):
    kind: ClassVar[str] = "toolCall"
    tool_call_id: str
    title: str
    tool_kind: str
    status: str
    paths: list[str]
    command: str | None = None
    output: str | None = None


@attrs.frozen
class PlanEntry:
    content: str
    status: str
    priority: str


@attrs.frozen
class PlanEvent(AgentEvent):
    kind: ClassVar[str] = "plan"
    entries: list[PlanEntry]


@attrs.frozen
class UsageEvent(AgentEvent):
    kind: ClassVar[str] = "usage"
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    context_used: int | None = None
    context_size: int | None = None
    cost: float | None = None
    currency: str | None = None


@attrs.frozen
class PermissionEvent(AgentEvent):
    kind: ClassVar[str] = "permission"
    tool_call_id: str
    title: str
    permission_kind: str
    paths: list[str]
    command: str | None
    cwd: str | None
    outcome: str  # allowed | rejected | asking | allowedAlways
    reason: str


@attrs.frozen
class AvailableCommandsEvent(AgentEvent):
    kind: ClassVar[str] = "availableCommands"
    commands: list[dict[str, Any]]


@attrs.frozen
class ModeChangedEvent(AgentEvent):
    kind: ClassVar[str] = "modeChanged"
    mode_id: str


@attrs.frozen
class ConfigChangedEvent(AgentEvent):
    kind: ClassVar[str] = "configChanged"
    options: list[dict[str, Any]]


@attrs.frozen
class SessionInfoEvent(AgentEvent):
    kind: ClassVar[str] = "sessionInfo"
    title: str | None = None


@attrs.frozen
class NoticeEvent(AgentEvent):
    kind: ClassVar[str] = "notice"
    message: str


# The converter
def _checked(type_: Any, check: Any, message: str, convert: Any = None) -> None:
    def structure(value: Any, _: Any) -> Any:
        if value is None:
            raise FieldError(MISSING.get(type_, "is required"))
        if not check(value):
            raise FieldError(message.format(value=value))
        return convert(value) if convert else value

    converter.register_structure_hook(type_, structure)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


MISSING: dict[Any, str] = {
    NonEmptyStr: "is required",
    FileUri: "is required",
    NonNegativeInt: "must be a non-negative integer",
    Position: "must be an object {line, character}",
    Range: "must be an object {start, end}",
}

converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
_checked(NonEmptyStr, lambda v: isinstance(v, str) and v.strip(), "must be a non-empty string, got {value!r}")
_checked(NonNegativeInt, lambda v: _is_int(v) and v >= 0, "must be a non-negative integer")
_checked(
    PositiveSeconds,
    lambda v: (_is_int(v) or isinstance(v, float)) and v > 0,
    "must be a positive number of seconds",
    float,
)


def _structure_uri(value: Any, _: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FieldError(f"must be a non-empty string, got {value!r}")
    if not value.startswith("file:"):
        raise FieldError(f"must be a file: URI, got {value!r}")
    return value


converter.register_structure_hook(FileUri, _structure_uri)


def _object_hook(cls: type, shape: str) -> None:
    inner: Any = make_dict_structure_fn(cls, converter, _cattrs_forbid_extra_keys=False)

    def structure(value: Any, _: Any) -> Any:
        if not isinstance(value, Mapping):
            raise FieldError(f"must be an object {shape}")
        return inner(value, cls)

    converter.register_structure_hook(cls, structure)


_object_hook(Position, "{line, character}")
_object_hook(Range, "{start, end}")


def _unstructure_hook(cls: type) -> Any:
    fields = attrs.fields(cls)
    overrides = {
        f.name: override(rename=camel(f.name), omit_if_default=f.default is None) for f in fields
    }
    inner: Any = make_dict_unstructure_fn(cls, converter, **overrides)  # type: ignore[arg-type]
    kind = getattr(cls, "kind", "")

    def unstructure(value: Any) -> dict[str, Any]:
        data: dict[str, Any] = inner(value)
        if kind:
            data["kind"] = kind
        return data

    return unstructure


def _structure_hook(cls: type) -> Any:
    overrides = {f.name: override(rename=camel(f.name)) for f in attrs.fields(cls)}
    return make_dict_structure_fn(cls, converter, _cattrs_forbid_extra_keys=True, **overrides)  # type: ignore[arg-type]


converter.register_unstructure_hook_factory(attrs.has, _unstructure_hook)
converter.register_structure_hook_factory(
    lambda t: attrs.has(t) and t not in (Position, Range), _structure_hook
)


def single_argument(command: str, arguments: list[Any] | None) -> Mapping[str, Any]:
    """The one object argument every command takes (a missing argument counts as `{}`)."""
    if not arguments:
        return {}
    if len(arguments) != 1:
        raise InvalidArguments(f"{command} takes one object argument, got {len(arguments)} arguments")
    arg = arguments[0]
    if hasattr(arg, "_asdict"):  # pygls hands unknown structures over as namedtuples
        arg = plain(arg)
    if not isinstance(arg, Mapping):
        raise InvalidArguments(f"{command} takes one object argument, got {type(arg).__name__}")
    return arg


def plain(value: Any) -> Any:
    """JSON as dicts and lists: pygls gives structures it has no type for as (nested) namedtuples."""
    if hasattr(value, "_asdict"):
        value = value._asdict()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def to_json(value: Any) -> Any:
    """A result or event as the JSON the editor gets."""
    return converter.unstructure(value)


T = TypeVar("T")


def parse(command: str, value: Mapping[str, Any], cls: type[T]) -> T:
    """One command argument as its typed class, or InvalidArguments saying exactly what was wrong."""
    try:
        return converter.structure(dict(value), cls)
    except FieldError as exc:  # raised by a class's own cross-field check
        raise InvalidArguments(f"{command}: {exc}") from None
    except ClassValidationError as exc:
        raise InvalidArguments(f"{command}: {_explain(exc, cls)}") from None


def _json_names(cls: type) -> list[str]:
    return sorted(camel(f.name) for f in attrs.fields(cls))


def _leaves(exc: BaseException, path: tuple[str, ...], cls: Any) -> list[tuple[tuple[str, ...], Any, BaseException]]:
    if isinstance(exc, ClassValidationError):
        found = []
        for sub in exc.exceptions:
            notes = [n for n in getattr(sub, "__notes__", []) if hasattr(n, "name")]
            if notes:
                found.extend(_leaves(sub, (*path, camel(notes[0].name)), notes[0].type))
            else:
                found.extend(_leaves(sub, path, cls))
        return found
    return [(path, cls, exc)]


def _explain(exc: ClassValidationError, cls: type) -> str:
    leaves = _leaves(exc, (), cls)
    # Unknown fields first: a misspelt name explains the "missing" field that follows from it.
    leaves.sort(key=lambda leaf: not isinstance(leaf[2], ForbiddenExtraKeysError))
    path, type_, error = leaves[0]
    where = ".".join(path)
    if isinstance(error, ForbiddenExtraKeysError):
        unknown = ", ".join(sorted(error.extra_fields))
        expected = ", ".join(_json_names(error.cl)) if attrs.has(error.cl) else ""
        message = f"unknown field(s) {unknown}; expected {expected}" if expected else f"unknown field(s) {unknown}"
        return f"'{where}': {message}" if where else message
    if isinstance(error, FieldError):
        return f"'{where}' {error}" if where else str(error)
    if isinstance(error, KeyError):
        return f"'{where}' {MISSING.get(_base(type_), 'is required')}"
    return f"'{where}' has the wrong type ({error})"


def _base(type_: Any) -> Any:
    """The checked type inside `X | None`."""
    args = [a for a in getattr(type_, "__args__", ()) if a is not type(None)]
    return args[0] if len(args) == 1 else type_
