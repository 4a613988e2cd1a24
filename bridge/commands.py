"""The `workspace/executeCommand` contract: names and argument validation, kept pure.

Each command takes ONE JSON object. Validation turns it into a typed value or raises InvalidArguments with a
message that says exactly what was wrong, before anything changes state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bridge.errors import InvalidArguments

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


@dataclass(frozen=True)
class Position:
    line: int
    character: int


@dataclass(frozen=True)
class Range:
    start: Position
    end: Position


@dataclass(frozen=True)
class PromptArgs:
    text: str
    agent: str | None
    session_id: str | None
    uri: str | None
    range: Range | None


@dataclass(frozen=True)
class SessionArgs:
    session_id: str


@dataclass(frozen=True)
class AwaitTurnArgs:
    session_id: str
    turn_id: str | None
    timeout: float | None


@dataclass(frozen=True)
class PendingArgs:
    session_id: str | None
    uri: str | None


@dataclass(frozen=True)
class HunkSelection:
    session_id: str
    uri: str | None
    hunk_id: str | None


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


def _check_keys(command: str, arg: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(arg) - allowed)
    if unknown:
        raise InvalidArguments(
            f"{command}: unknown field(s) {', '.join(unknown)}; expected {', '.join(sorted(allowed))}"
        )


def _string(command: str, arg: Mapping[str, Any], key: str, required: bool = False) -> str | None:
    value = arg.get(key)
    if value is None:
        if required:
            raise InvalidArguments(f"{command}: '{key}' is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidArguments(f"{command}: '{key}' must be a non-empty string, got {value!r}")
    return value


def _required(command: str, arg: Mapping[str, Any], key: str) -> str:
    value = _string(command, arg, key, required=True)
    assert value is not None
    return value


def _uri(command: str, arg: Mapping[str, Any]) -> str | None:
    uri = _string(command, arg, "uri")
    if uri is not None and not uri.startswith("file:"):
        raise InvalidArguments(f"{command}: 'uri' must be a file: URI, got {uri!r}")
    return uri


def _position(command: str, value: Any, where: str) -> Position:
    if not isinstance(value, Mapping):
        raise InvalidArguments(f"{command}: '{where}' must be an object {{line, character}}")
    line, character = value.get("line"), value.get("character")
    for name, number in (("line", line), ("character", character)):
        if not isinstance(number, int) or isinstance(number, bool) or number < 0:
            raise InvalidArguments(f"{command}: '{where}.{name}' must be a non-negative integer")
    assert isinstance(line, int) and isinstance(character, int)
    return Position(line, character)


def _range(command: str, value: Any) -> Range | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidArguments(f"{command}: 'range' must be an object {{start, end}}")
    start = _position(command, value.get("start"), "range.start")
    end = _position(command, value.get("end"), "range.end")
    if (end.line, end.character) < (start.line, start.character):
        raise InvalidArguments(f"{command}: 'range.end' is before 'range.start'")
    return Range(start, end)


def parse_prompt(arg: Mapping[str, Any]) -> PromptArgs:
    _check_keys(PROMPT, arg, {"text", "agent", "sessionId", "uri", "range"})
    text = _required(PROMPT, arg, "text")
    rng = _range(PROMPT, arg.get("range"))
    uri = _uri(PROMPT, arg)
    if rng is not None and uri is None:
        raise InvalidArguments(f"{PROMPT}: 'range' needs 'uri' (the document it selects in)")
    return PromptArgs(
        text=text,
        agent=_string(PROMPT, arg, "agent"),
        session_id=_string(PROMPT, arg, "sessionId"),
        uri=uri,
        range=rng,
    )


def parse_session(command: str, arg: Mapping[str, Any]) -> SessionArgs:
    _check_keys(command, arg, {"sessionId"})
    return SessionArgs(_required(command, arg, "sessionId"))


def parse_await_turn(arg: Mapping[str, Any]) -> AwaitTurnArgs:
    _check_keys(AWAIT_TURN, arg, {"sessionId", "turnId", "timeout"})
    timeout = arg.get("timeout")
    if timeout is not None and (
        not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0
    ):
        raise InvalidArguments(f"{AWAIT_TURN}: 'timeout' must be a positive number of seconds")
    return AwaitTurnArgs(
        _required(AWAIT_TURN, arg, "sessionId"),
        _string(AWAIT_TURN, arg, "turnId"),
        float(timeout) if timeout is not None else None,
    )


def parse_empty(command: str, arg: Mapping[str, Any]) -> None:
    _check_keys(command, arg, set())


def parse_pending(arg: Mapping[str, Any]) -> PendingArgs:
    _check_keys(PENDING, arg, {"sessionId", "uri"})
    return PendingArgs(_string(PENDING, arg, "sessionId"), _uri(PENDING, arg))


def parse_selection(command: str, arg: Mapping[str, Any]) -> HunkSelection:
    _check_keys(command, arg, {"sessionId", "uri", "hunkId"})
    uri = _uri(command, arg)
    hunk_id = _string(command, arg, "hunkId")
    if hunk_id is not None and uri is None:
        raise InvalidArguments(f"{command}: 'hunkId' needs 'uri' (the file the hunk belongs to)")
    return HunkSelection(_required(command, arg, "sessionId"), uri, hunk_id)


@dataclass(frozen=True)
class FileArgs:
    session_id: str
    uri: str


def parse_file(command: str, arg: Mapping[str, Any]) -> FileArgs:
    _check_keys(command, arg, {"sessionId", "uri"})
    uri = _uri(command, arg)
    if uri is None:
        raise InvalidArguments(f"{command}: 'uri' is required")
    return FileArgs(_required(command, arg, "sessionId"), uri)
