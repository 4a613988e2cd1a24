"""bridge.protocol: argument validation for every command, and the JSON of results and events."""

from __future__ import annotations

import json
import os
from collections import namedtuple
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from bridge import protocol as C
from bridge.errors import InvalidArguments
from bridge.protocol import (
    AwaitTurnArgs,
    HunkSelection,
    NoArgs,
    PendingArgs,
    Position,
    PromptArgs,
    Range,
    SessionArgs,
    parse,
    single_argument,
)
from tests.support import REPO_ROOT


def parse_prompt(arg: Mapping[str, Any]) -> PromptArgs:
    return parse(C.PROMPT, arg, PromptArgs)


def parse_session(command: str, arg: Mapping[str, Any]) -> SessionArgs:
    return parse(command, arg, SessionArgs)


def parse_await_turn(arg: Mapping[str, Any]) -> AwaitTurnArgs:
    return parse(C.AWAIT_TURN, arg, AwaitTurnArgs)


def parse_empty(command: str, arg: Mapping[str, Any]) -> None:
    parse(command, arg, NoArgs)


def parse_pending(arg: Mapping[str, Any]) -> PendingArgs:
    return parse(C.PENDING, arg, PendingArgs)


def parse_selection(command: str, arg: Mapping[str, Any]) -> HunkSelection:
    return parse(command, arg, HunkSelection)


URI = "file:///repo/src/a.py"
RANGE = {"start": {"line": 1, "character": 0}, "end": {"line": 3, "character": 4}}


def rejects(parse: Callable[[Mapping[str, Any]], object], arg: Mapping[str, Any], *needles: str) -> str:
    with pytest.raises(InvalidArguments) as info:
        parse(arg)
    message = str(info.value)
    for needle in needles:
        assert needle in message, message
    return message


# single_argument


def test_single_argument_missing_counts_as_empty_object() -> None:
    assert single_argument(C.SESSIONS, None) == {}
    assert single_argument(C.SESSIONS, []) == {}


def test_single_argument_returns_the_object() -> None:
    assert single_argument(C.PROMPT, [{"text": "hi"}]) == {"text": "hi"}


def test_single_argument_more_than_one() -> None:
    with pytest.raises(InvalidArguments, match=r"agentBridge\.prompt takes one object argument, got 2 arguments"):
        single_argument(C.PROMPT, [{"text": "a"}, {"text": "b"}])


def test_an_empty_array_is_the_empty_object() -> None:
    # Lua (Neovim) encodes an empty table as []: `arguments = { {} }` must mean {}.
    assert single_argument(C.SESSIONS, [[]]) == {}


@pytest.mark.parametrize("arg", ["text", 3, ["x"], None, True])
def test_single_argument_non_object(arg: object) -> None:
    with pytest.raises(InvalidArguments, match=f"takes one object argument, got {type(arg).__name__}"):
        single_argument(C.CANCEL, [arg])


def test_single_argument_converts_namedtuples_deeply() -> None:
    Pos = namedtuple("Pos", "line character")
    Rng = namedtuple("Rng", "start end")
    Arg = namedtuple("Arg", "text uri range")
    arg = Arg("hi", URI, Rng(Pos(1, 2), Pos(3, 4)))
    plain = single_argument(C.PROMPT, [arg])
    assert plain == {
        "text": "hi",
        "uri": URI,
        "range": {"start": {"line": 1, "character": 2}, "end": {"line": 3, "character": 4}},
    }
    assert parse_prompt(plain).range == Range(Position(1, 2), Position(3, 4))


# prompt


def test_prompt_minimal() -> None:
    assert parse_prompt({"text": "fix it"}) == PromptArgs("fix it", None, None, None, None)


def test_prompt_full() -> None:
    parsed = parse_prompt({"text": "t", "agent": "qwen", "sessionId": "s1", "uri": URI, "range": RANGE})
    assert parsed == PromptArgs("t", "qwen", "s1", URI, Range(Position(1, 0), Position(3, 4)))


def test_prompt_new_session() -> None:
    assert parse_prompt({"text": "t", "newSession": True}).new_session is True
    assert parse_prompt({"text": "t", "newSession": False, "sessionId": "s1"}).session_id == "s1"
    assert parse_prompt({"text": "t"}).new_session is None  # continues the latest session


def test_prompt_empty_range_allowed() -> None:
    rng = {"start": {"line": 2, "character": 5}, "end": {"line": 2, "character": 5}}
    assert parse_prompt({"text": "t", "uri": URI, "range": rng}).range == Range(Position(2, 5), Position(2, 5))


def test_prompt_uri_without_range_ok() -> None:
    assert parse_prompt({"text": "t", "uri": URI}).uri == URI


@pytest.mark.parametrize(
    ("arg", "needles"),
    [
        ({}, ("'text' is required",)),
        ({"text": None}, ("'text' is required",)),
        ({"agent": "qwen"}, ("'text' is required",)),
        ({"text": ""}, ("'text' must be a non-empty string",)),
        ({"text": "   "}, ("'text' must be a non-empty string",)),
        ({"text": 5}, ("'text' must be a non-empty string", "5")),
        ({"text": ["a"]}, ("'text' must be a non-empty string",)),
        ({"text": "t", "agent": ""}, ("'agent' must be a non-empty string",)),
        ({"text": "t", "agent": 1}, ("'agent' must be a non-empty string",)),
        ({"text": "t", "sessionId": 42}, ("'sessionId' must be a non-empty string",)),
        ({"text": "t", "sessionId": ""}, ("'sessionId' must be a non-empty string",)),
        ({"text": "t", "uri": ""}, ("'uri' must be a non-empty string",)),
        ({"text": "t", "uri": "https://example.com/a.py"}, ("'uri' must be a file: URI",)),
        ({"text": "t", "uri": "/repo/a.py"}, ("'uri' must be a file: URI",)),
        ({"text": "t", "range": RANGE}, ("'range' needs 'uri'",)),
        ({"text": "t", "uri": URI, "range": "1-3"}, ("'range' must be an object",)),
        ({"text": "t", "uri": URI, "range": {"end": RANGE["end"]}}, ("'range.start' must be an object",)),
        ({"text": "t", "uri": URI, "range": {"start": RANGE["start"]}}, ("'range.end' must be an object",)),
        (
            {"text": "t", "uri": URI, "range": {"start": {"line": 1}, "end": RANGE["end"]}},
            ("'range.start.character' must be a non-negative integer",),
        ),
        (
            {"text": "t", "uri": URI, "range": {"start": {"line": -1, "character": 0}, "end": RANGE["end"]}},
            ("'range.start.line' must be a non-negative integer",),
        ),
        (
            {"text": "t", "uri": URI, "range": {"start": RANGE["start"], "end": {"line": 1.5, "character": 0}}},
            ("'range.end.line' must be a non-negative integer",),
        ),
        (
            {"text": "t", "uri": URI, "range": {"start": {"line": True, "character": 0}, "end": RANGE["end"]}},
            ("'range.start.line' must be a non-negative integer",),
        ),
        (
            {"text": "t", "uri": URI, "range": {"start": {"line": 3, "character": 1},
                                                 "end": {"line": 3, "character": 0}}},
            ("'range.end' is before 'range.start'",),
        ),
        (
            {"text": "t", "uri": URI, "range": {"start": {"line": 4, "character": 0},
                                                 "end": {"line": 3, "character": 9}}},
            ("'range.end' is before 'range.start'",),
        ),
        ({"text": "t", "newSession": 1}, ("'newSession' must be true or false, got 1",)),
        ({"text": "t", "newSession": "true"}, ("'newSession' must be true or false, got 'true'",)),
        ({"text": "t", "newSession": True, "sessionId": "s1"}, ("'newSession' and 'sessionId' exclude each other",)),
        (
            {"text": "t", "prompt": "x"},
            ("unknown field(s) prompt", "expected agent, attachments, newSession, range, sessionId, text, uri"),
        ),
        ({"text": "t", "session_id": "s", "zz": 1}, ("unknown field(s) session_id, zz",)),
    ],
)
def test_prompt_rejects(arg: dict[str, Any], needles: tuple[str, ...]) -> None:
    message = rejects(parse_prompt, arg, *needles)
    assert message.startswith(f"{C.PROMPT}: ")


# session commands (cancel, closeSession)


@pytest.mark.parametrize("command", [C.CANCEL, C.CLOSE_SESSION])
def test_session_ok(command: str) -> None:
    assert parse_session(command, {"sessionId": "abc"}) == SessionArgs("abc")


@pytest.mark.parametrize("command", [C.CANCEL, C.CLOSE_SESSION])
@pytest.mark.parametrize(
    ("arg", "needle"),
    [
        ({}, "'sessionId' is required"),
        ({"sessionId": ""}, "'sessionId' must be a non-empty string"),
        ({"sessionId": 7}, "'sessionId' must be a non-empty string"),
        ({"sessionId": "s", "turnId": "t"}, "unknown field(s) turnId"),
        ({"session": "s"}, "unknown field(s) session"),
    ],
)
def test_session_rejects(command: str, arg: dict[str, Any], needle: str) -> None:
    message = rejects(lambda a: parse_session(command, a), arg, needle)
    assert message.startswith(f"{command}: ")


# awaitTurn


def test_await_turn_ok() -> None:
    assert parse_await_turn({"sessionId": "s"}) == AwaitTurnArgs("s", None, None)
    assert parse_await_turn({"sessionId": "s", "turnId": "t", "timeout": 5}) == AwaitTurnArgs("s", "t", 5.0)
    parsed = parse_await_turn({"sessionId": "s", "timeout": 0.5})
    assert parsed.timeout == 0.5 and isinstance(parsed.timeout, float)


@pytest.mark.parametrize(
    ("arg", "needle"),
    [
        ({}, "'sessionId' is required"),
        ({"turnId": "t"}, "'sessionId' is required"),
        ({"sessionId": "s", "turnId": ""}, "'turnId' must be a non-empty string"),
        ({"sessionId": "s", "turnId": 3}, "'turnId' must be a non-empty string"),
        ({"sessionId": "s", "timeout": 0}, "'timeout' must be a positive number"),
        ({"sessionId": "s", "timeout": -1}, "'timeout' must be a positive number"),
        ({"sessionId": "s", "timeout": "10"}, "'timeout' must be a positive number"),
        ({"sessionId": "s", "timeout": True}, "'timeout' must be a positive number"),
        ({"sessionId": "s", "wait": 1}, "unknown field(s) wait"),
    ],
)
def test_await_turn_rejects(arg: dict[str, Any], needle: str) -> None:
    assert rejects(parse_await_turn, arg, needle).startswith(f"{C.AWAIT_TURN}: ")


# sessions, agents: no fields


@pytest.mark.parametrize("command", [C.SESSIONS, C.AGENTS])
def test_empty_ok_and_rejects_any_field(command: str) -> None:
    parse_empty(command, {})
    message = rejects(lambda a: parse_empty(command, a), {"sessionId": "s"}, "unknown field(s) sessionId")
    assert message.startswith(f"{command}: ")


# pending


def test_pending_ok() -> None:
    assert parse_pending({}) == PendingArgs(None, None)
    assert parse_pending({"sessionId": "s"}) == PendingArgs("s", None)
    assert parse_pending({"uri": URI}) == PendingArgs(None, URI)
    assert parse_pending({"sessionId": "s", "uri": URI}) == PendingArgs("s", URI)


@pytest.mark.parametrize(
    ("arg", "needle"),
    [
        ({"sessionId": ""}, "'sessionId' must be a non-empty string"),
        ({"sessionId": 1}, "'sessionId' must be a non-empty string"),
        ({"uri": "untitled:Untitled-1"}, "'uri' must be a file: URI"),
        ({"uri": 5}, "'uri' must be a non-empty string"),
        ({"hunkId": "h1"}, "unknown field(s) hunkId"),
    ],
)
def test_pending_rejects(arg: dict[str, Any], needle: str) -> None:
    assert rejects(parse_pending, arg, needle).startswith(f"{C.PENDING}: ")


# apply / reject


@pytest.mark.parametrize("command", [C.APPLY, C.REJECT])
def test_selection_ok(command: str) -> None:
    assert parse_selection(command, {"sessionId": "s"}) == HunkSelection("s", None, None)
    assert parse_selection(command, {"sessionId": "s", "uri": URI}) == HunkSelection("s", URI, None)
    assert parse_selection(command, {"sessionId": "s", "uri": URI, "hunkId": "h1"}) == HunkSelection("s", URI, "h1")


@pytest.mark.parametrize("command", [C.APPLY, C.REJECT])
@pytest.mark.parametrize(
    ("arg", "needle"),
    [
        ({}, "'sessionId' is required"),
        ({"uri": URI}, "'sessionId' is required"),
        ({"sessionId": ""}, "'sessionId' must be a non-empty string"),
        ({"sessionId": "s", "hunkId": "h1"}, "'hunkId' needs 'uri'"),
        ({"sessionId": "s", "uri": URI, "hunkId": ""}, "'hunkId' must be a non-empty string"),
        ({"sessionId": "s", "uri": URI, "hunkId": 12}, "'hunkId' must be a non-empty string"),
        ({"sessionId": "s", "uri": "vscode-notebook-cell:/x"}, "'uri' must be a file: URI"),
        ({"sessionId": "s", "uri": URI, "range": RANGE}, "unknown field(s) range"),
    ],
)
def test_selection_rejects(command: str, arg: dict[str, Any], needle: str) -> None:
    assert rejects(lambda a: parse_selection(command, a), arg, needle).startswith(f"{command}: ")


def test_invalid_arguments_is_a_value_error() -> None:
    assert issubclass(InvalidArguments, ValueError)


def test_command_names_are_the_contract() -> None:
    assert [C.PROMPT, C.AWAIT_TURN, C.CANCEL, C.SESSIONS, C.CLOSE_SESSION, C.AGENTS, C.PENDING, C.APPLY,
            C.REJECT] == [
        "agentBridge.prompt", "agentBridge.awaitTurn", "agentBridge.cancel", "agentBridge.sessions",
        "agentBridge.closeSession", "agentBridge.agents", "agentBridge.pending", "agentBridge.apply",
        "agentBridge.reject",
    ]
    assert C.EVENT_NOTIFICATION == "agentBridge/event"


# results and events: camelCase, None defaults left out, required nullable fields sent as null


def test_event_json_carries_kind_and_camel_case() -> None:
    event = C.TurnEnded("s1", "t1", "qwen", "completed", usage=C.Usage(input_tokens=3, output_tokens=4))
    assert C.to_json(event) == {
        "sessionId": "s1", "turnId": "t1", "kind": "turnEnded", "agent": "qwen", "status": "completed",
        "usage": {"inputTokens": 3, "outputTokens": 4},
    }


def test_required_nullable_fields_are_sent_as_null() -> None:
    assert C.to_json(C.PendingChanged("s1", None, 1, 2)) == {
        "sessionId": "s1", "turnId": None, "kind": "pendingChanged", "files": 1, "hunks": 2,
    }
    permission = C.PermissionEvent("s", "t", "qwen", "c1", "Run", "execute", ["a"], None, None, "asking", "why")
    data = C.to_json(permission)
    assert data["command"] is None and data["cwd"] is None and data["permissionKind"] == "execute"


def test_nested_results() -> None:
    result = C.ApplyResult(1, [C.Conflict("file:///a", ["h1"], "you changed it")])
    assert C.to_json(result) == {
        "applied": 1, "conflicts": [{"uri": "file:///a", "hunkIds": ["h1"], "reason": "you changed it"}],
    }
    rng = Range(Position(C.NonNegativeInt(1), C.NonNegativeInt(0)), Position(C.NonNegativeInt(2), C.NonNegativeInt(0)))
    assert C.to_json(C.PendingHunk("h1", "qwen", None, rng, "a\n", "b\n")) == {
        "hunkId": "h1", "agent": "qwen", "turnId": None, "oldText": "a\n", "newText": "b\n", "conflict": False,
        "range": {"start": {"line": 1, "character": 0}, "end": {"line": 2, "character": 0}},
    }


def _subclasses(cls: type) -> list[type]:
    out: list[type] = []
    for sub in cls.__subclasses__():
        out.extend([sub, *_subclasses(sub)])
    return out


def test_every_event_kind_is_distinct_and_documented() -> None:
    kinds = [cls.kind for cls in _subclasses(C.Event) if getattr(cls, "kind", "")]
    assert len(kinds) == len(set(kinds))
    assert {"turnStarted", "text", "reasoning", "toolCall", "plan", "usage", "permission", "pendingChanged",
            "turnEnded", "notice"} <= set(kinds)
    doc = (REPO_ROOT / "docs" / "protocol.md").read_text()
    for kind in kinds:
        assert f"| `{kind}` |" in doc, kind


def test_texts_that_are_not_utf8_reach_the_editor_escaped() -> None:
    """A file name that is not UTF-8 (surrogate escapes in Python) or a lone surrogate from an agent's JSON would
    make invalid JSON text for some editors; they are sent escaped."""
    event = C.ToolCallEvent("s", "t", "a", "c", os.fsdecode(b"edit caf\xe9.txt"), "edit", "completed",
                               [os.fsdecode(b"caf\xe9.txt"), "lone \ud800 surrogate", "plain é"])
    sent = C.to_json(event)
    assert sent["title"] == "edit caf\\xe9.txt"
    assert sent["paths"] == ["caf\\xe9.txt", "lone \\ud800 surrogate", "plain é"]
    json.dumps(sent, ensure_ascii=False).encode("utf-8")  # encodable as the wire's UTF-8


def test_prompt_attachments() -> None:
    parsed = parse_prompt({"text": "t", "attachments": [{"uri": URI}, {"uri": URI, "range": RANGE}]})
    assert parsed.attachments == [C.Attachment(URI), C.Attachment(URI, Range(Position(1, 0), Position(3, 4)))]
    assert parse_prompt({"text": "t", "attachments": []}).attachments == []


@pytest.mark.parametrize(
    ("attachments", "needle"),
    [
        (URI, "'attachments' must be a list of objects {uri, range?}"),
        ([URI], "'attachments[0]' must be an object {uri, range?}"),
        ([{"uri": URI}, {}], "'attachments[1].uri' is required"),
        ([{"uri": "https://x/a.py"}], "'attachments[0].uri' must be a file: URI"),
        ([{"url": URI}], "'attachments[0]': unknown field(s) url; expected range, uri"),
        ([{"uri": URI, "range": {"start": {"line": 0, "character": 0}}}], "'attachments[0].range.end' must be"),
        (
            [{"uri": URI, "range": {"start": RANGE["end"], "end": RANGE["start"]}}],
            "'attachments[0].range.end' is before 'attachments[0].range.start'",
        ),
    ],
)
def test_prompt_bad_attachments(attachments: object, needle: str) -> None:
    rejects(parse_prompt, {"text": "t", "attachments": attachments}, "agentBridge.prompt: ", needle)
