"""backends.acp.mapping: real `acp.schema` payloads mapped onto the bridge's normalized events."""

from __future__ import annotations

import acp
import pytest
from acp import schema

from backends.acp.mapping import (
    ToolCallMerger,
    command_of,
    content_text,
    map_update,
    map_usage,
    permission_request,
)
from backends.base import PermissionOption
from backends.events import (
    AvailableCommands,
    ModeChanged,
    Plan,
    PlanEntry,
    ReasoningDelta,
    SessionInfo,
    TextDelta,
    ToolCall,
    Usage,
    event_kind,
)
from bridge.core.turns import turn_status


def one(update: object, tools: ToolCallMerger | None = None) -> object:
    events = map_update(update, tools or ToolCallMerger())
    assert len(events) == 1
    return events[0]


# Message chunks


def test_agent_message_chunk_maps_to_text_delta() -> None:
    event = one(acp.update_agent_message_text("hello "))
    assert event == TextDelta("hello ")
    assert event_kind(event) == "text"  # type: ignore[arg-type]


def test_agent_thought_chunk_maps_to_reasoning_delta() -> None:
    event = one(acp.update_agent_thought_text("hmm"))
    assert event == ReasoningDelta("hmm")
    assert event_kind(event) == "reasoning"  # type: ignore[arg-type]


def test_empty_chunk_maps_to_nothing() -> None:
    assert map_update(acp.update_agent_message_text(""), ToolCallMerger()) == []
    assert map_update(acp.update_agent_thought_text(""), ToolCallMerger()) == []


def test_image_chunk_maps_to_nothing() -> None:
    update = schema.AgentMessageChunk(
        session_update="agent_message_chunk", content=acp.image_block("aGk=", "image/png")
    )
    assert map_update(update, ToolCallMerger()) == []


def test_content_text_of_resources_and_links() -> None:
    assert content_text(acp.text_block("t")) == "t"
    assert content_text(acp.resource_block(acp.embedded_text_resource("file:///a.py", "code"))) == "code"
    assert content_text(acp.resource_link_block("a.py", "file:///a.py")) == "file:///a.py"
    assert content_text(acp.image_block("aGk=", "image/png")) == ""
    assert content_text(None) == ""


def test_user_message_chunk_is_ignored() -> None:
    assert map_update(acp.update_user_message_text("replayed"), ToolCallMerger()) == []


def test_unknown_update_maps_to_nothing() -> None:
    assert map_update(object(), ToolCallMerger()) == []


# Plans, usage, commands, modes, session info


def test_plan_update() -> None:
    update = acp.update_plan([
        acp.plan_entry("read the code", status="completed", priority="high"),
        acp.plan_entry("write tests"),
    ])
    event = one(update)
    assert event == Plan((
        PlanEntry("read the code", "completed", "high"),
        PlanEntry("write tests", "pending", "medium"),
    ))


def test_usage_update_with_and_without_cost() -> None:
    with_cost = schema.UsageUpdate(
        session_update="usage_update", used=1200, size=200000, cost=schema.Cost(amount=0.25, currency="USD")
    )
    assert one(with_cost) == Usage(context_used=1200, context_size=200000, cost=0.25, currency="USD")
    without = schema.UsageUpdate(session_update="usage_update", used=5, size=10)
    assert one(without) == Usage(context_used=5, context_size=10)


def test_available_commands_update() -> None:
    update = schema.AvailableCommandsUpdate(
        session_update="available_commands_update",
        available_commands=[
            schema.AvailableCommand(name="init", description="Create AGENTS.md"),
            schema.AvailableCommand(name="review", description="Review changes"),
        ],
    )
    assert one(update) == AvailableCommands((
        {"name": "init", "description": "Create AGENTS.md"},
        {"name": "review", "description": "Review changes"},
    ))


def test_current_mode_update() -> None:
    update = schema.CurrentModeUpdate(session_update="current_mode_update", current_mode_id="plan")
    assert one(update) == ModeChanged("plan")


def test_session_info_update() -> None:
    update = schema.SessionInfoUpdate(session_update="session_info_update", title="Fix the parser")
    assert one(update) == SessionInfo(title="Fix the parser")
    assert one(schema.SessionInfoUpdate(session_update="session_info_update")) == SessionInfo(title=None)


def test_map_usage() -> None:
    assert map_usage(None) is None
    usage = schema.Usage(input_tokens=10, output_tokens=4, total_tokens=14)
    assert map_usage(usage) == Usage(input_tokens=10, output_tokens=4, total_tokens=14)


# Tool calls


def test_tool_call_start_maps_to_tool_call() -> None:
    event = one(acp.start_edit_tool_call("t1", "Edit a.py", "src/a.py", "new text"))
    assert isinstance(event, ToolCall)
    assert event.tool_call_id == "t1"
    assert event.title == "Edit a.py"
    assert event.kind == "edit"
    assert event.status == "pending"
    assert event.paths == ("src/a.py",)
    assert event.command is None
    assert event.output is None
    assert event.raw_input == {"path": "src/a.py", "content": "new text"}


def test_merger_merges_partial_updates_by_id() -> None:
    tools = ToolCallMerger()
    map_update(acp.start_edit_tool_call("t1", "Edit a.py", "a.py", "x"), tools)
    progress = one(acp.update_tool_call("t1", status="in_progress"), tools)
    assert isinstance(progress, ToolCall)
    assert (progress.title, progress.kind, progress.status, progress.paths) == (
        "Edit a.py", "edit", "in_progress", ("a.py",)
    )
    assert progress.raw_input == {"path": "a.py", "content": "x"}

    done = one(
        acp.update_tool_call(
            "t1",
            status="completed",
            locations=[schema.ToolCallLocation(path="b.py")],
            content=[
                acp.tool_diff_content("c.py", "new", "old"),
                acp.tool_diff_content("a.py", "again"),
                acp.tool_content(acp.text_block("wrote 3 files")),
                acp.tool_content(acp.text_block("ok")),
            ],
        ),
        tools,
    )
    assert isinstance(done, ToolCall)
    assert done.title == "Edit a.py"
    assert done.kind == "edit"
    assert done.status == "completed"
    assert done.paths == ("a.py", "b.py", "c.py")  # accumulated, no duplicates, first-seen order
    assert done.output == "wrote 3 files\nok"
    assert tools.get("t1") == done


def test_output_kept_when_later_update_has_none() -> None:
    tools = ToolCallMerger()
    tools.merge(acp.start_tool_call("t1", "Run", kind="execute"))
    tools.merge(acp.update_tool_call("t1", content=[acp.tool_content(acp.text_block("line 1"))]))
    after = tools.merge(acp.update_tool_call("t1", status="completed"))
    assert after.output == "line 1"
    assert after.status == "completed"


def test_title_and_kind_updated_when_update_carries_them() -> None:
    tools = ToolCallMerger()
    tools.merge(acp.start_tool_call("t1", "Working", kind="other"))
    after = tools.merge(acp.update_tool_call("t1", title="Read a.py", kind="read"))
    assert (after.title, after.kind, after.status) == ("Read a.py", "read", "pending")


def test_duplicate_tool_call_with_same_id_merges() -> None:
    tools = ToolCallMerger()
    first = tools.merge(acp.start_edit_tool_call("dup", "Edit a.py", "a.py", "x"))
    second = tools.merge(
        acp.start_tool_call("dup", "Edit a.py and b.py", status="in_progress",
                            locations=[schema.ToolCallLocation(path="b.py")])
    )
    assert first.paths == ("a.py",)
    assert second.title == "Edit a.py and b.py"
    assert second.kind == "edit"  # the duplicate did not say, the first did
    assert second.status == "in_progress"
    assert second.paths == ("a.py", "b.py")
    assert second.raw_input == {"path": "a.py", "content": "x"}


def test_separate_ids_do_not_mix() -> None:
    tools = ToolCallMerger()
    tools.merge(acp.start_edit_tool_call("a", "Edit a", "a.py", "x"))
    b = tools.merge(acp.update_tool_call("b", status="completed"))
    assert b.paths == ()
    assert b.title == "tool call"
    assert tools.get("a") is not None and tools.get("a").paths == ("a.py",)  # type: ignore[union-attr]
    assert tools.get("zzz") is None


def test_update_without_prior_start_gets_defaults() -> None:
    event = one(acp.update_tool_call("orphan", locations=[schema.ToolCallLocation(path="x.py")]))
    assert event == ToolCall(
        tool_call_id="orphan", title="tool call", kind="other", status="pending", paths=("x.py",)
    )


def test_permission_only_tool_call_update_is_merged() -> None:
    # Some agents announce an edit only inside session/request_permission (a ToolCallUpdate, no start).
    tools = ToolCallMerger()
    announced = schema.ToolCallUpdate(
        tool_call_id="perm1", title="Write b.py", kind="edit",
        content=[acp.tool_diff_content("b.py", "new")],
    )
    merged = tools.merge(announced)
    assert (merged.title, merged.kind, merged.status, merged.paths) == ("Write b.py", "edit", "pending", ("b.py",))
    later = one(acp.update_tool_call("perm1", status="completed"), tools)
    assert isinstance(later, ToolCall)
    assert (later.title, later.paths, later.status) == ("Write b.py", ("b.py",), "completed")


def test_execute_tool_call_command_from_raw_input() -> None:
    tools = ToolCallMerger()
    start = tools.merge(acp.start_tool_call("x", "Run tests", kind="execute",
                                             raw_input={"command": ["pytest", "-q"], "cwd": "/wt"}))
    assert start.command == "pytest -q"
    later = tools.merge(acp.update_tool_call("x", status="completed"))
    assert later.command == "pytest -q"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"command": "ls -la", "cwd": "/wt"}, ("ls -la", "/wt")),
        ({"cmd": "make", "workdir": "sub"}, ("make", "sub")),
        ({"command": ["git", "status"], "directory": "d"}, ("git status", "d")),
        ({"command": "npm", "args": ["run", "build"]}, ("npm run build", None)),
        ({"command": "npm", "args": []}, ("npm", None)),
        ({"path": "a.py"}, (None, None)),
        ({"command": 5, "cwd": 7}, (None, None)),
        ("ls", (None, None)),
        (None, (None, None)),
    ],
)
def test_command_of(raw: object, expected: tuple[str | None, str | None]) -> None:
    assert command_of(raw) == expected


# Permission requests


def perm_options() -> list[schema.PermissionOption]:
    return [
        schema.PermissionOption(option_id="aa", name="Always", kind="allow_always"),
        schema.PermissionOption(option_id="ao", name="Once", kind="allow_once"),
        schema.PermissionOption(option_id="ro", name="No", kind="reject_once"),
    ]


def test_permission_request_from_full_tool_call() -> None:
    tool_call = schema.ToolCallUpdate(
        tool_call_id="p1", title="Run make", kind="execute", raw_input={"command": "make", "cwd": "/wt/sub"}
    )
    request = permission_request(tool_call, perm_options(), None)
    assert request.tool_call_id == "p1"
    assert request.title == "Run make"
    assert request.kind == "execute"
    assert request.paths == ()
    assert request.command == "make"
    assert request.cwd == "/wt/sub"
    assert request.options == (
        PermissionOption("aa", "Always", "allow_always"),
        PermissionOption("ao", "Once", "allow_once"),
        PermissionOption("ro", "No", "reject_once"),
    )


def test_permission_request_fills_gaps_from_known_tool_call() -> None:
    tools = ToolCallMerger()
    known = tools.merge(acp.start_edit_tool_call("p2", "Edit a.py", "a.py", "x"))
    request = permission_request(schema.ToolCallUpdate(tool_call_id="p2"), perm_options(), known)
    assert request.title == "Edit a.py"
    assert request.kind == "edit"
    assert request.paths == ("a.py",)
    assert request.command is None


def test_permission_request_own_fields_win_over_known() -> None:
    known = ToolCallMerger().merge(acp.start_edit_tool_call("p3", "Edit a.py", "a.py", "x"))
    tool_call = schema.ToolCallUpdate(
        tool_call_id="p3", title="Edit b.py", kind="delete", locations=[schema.ToolCallLocation(path="b.py")]
    )
    request = permission_request(tool_call, [], known)
    assert (request.title, request.kind, request.paths) == ("Edit b.py", "delete", ("b.py",))
    assert request.options == ()


def test_permission_request_command_and_cwd_from_known_raw_input() -> None:
    # The command and its working directory were announced in the tool_call; the permission request only
    # names the id. Both must survive, or the policy could not refuse a cwd outside the worktree.
    known = ToolCallMerger().merge(
        acp.start_tool_call("p4", "Run", kind="execute", raw_input={"command": "rm -rf x", "cwd": "/etc"})
    )
    request = permission_request(schema.ToolCallUpdate(tool_call_id="p4"), perm_options(), known)
    assert request.command == "rm -rf x"
    assert request.cwd == "/etc"
    assert request.kind == "execute"


def test_permission_request_infers_execute_from_command() -> None:
    tool_call = schema.ToolCallUpdate(tool_call_id="p5", raw_input={"cmd": "ls"})
    request = permission_request(tool_call, perm_options(), None)
    assert request.kind == "execute"
    assert request.title == "execute"
    assert request.command == "ls"


def test_permission_request_with_nothing_known() -> None:
    request = permission_request(schema.ToolCallUpdate(tool_call_id="p6"), perm_options(), None)
    assert (request.kind, request.title, request.paths, request.command, request.cwd) == (
        "other", "other", (), None, None
    )


def test_permission_request_paths_from_diff_content() -> None:
    tool_call = schema.ToolCallUpdate(
        tool_call_id="p7", kind="edit", content=[acp.tool_diff_content("/abs/outside.py", "x")]
    )
    assert permission_request(tool_call, perm_options(), None).paths == ("/abs/outside.py",)


# Stop reasons


@pytest.mark.parametrize(
    ("reason", "status", "has_message"),
    [
        ("end_turn", "completed", False),
        ("max_tokens", "completed", False),
        ("max_turn_requests", "completed", False),
        ("cancelled", "cancelled", True),
        ("refusal", "failed", True),
        ("something_new", "failed", True),
    ],
)
def test_turn_status(reason: str, status: str, has_message: bool) -> None:
    got_status, message = turn_status(reason)
    assert got_status == status
    assert (message is not None) == has_message


def test_turn_status_messages() -> None:
    assert turn_status("refusal")[1] == "the agent refused to continue"
    assert turn_status("cancelled")[1] == "the turn was cancelled"
    assert "'weird'" in (turn_status("weird")[1] or "")


def test_every_schema_stop_reason_is_mapped_deliberately() -> None:
    from typing import get_args

    reasons = set(get_args(schema.PromptResponse.model_fields["stop_reason"].annotation))
    assert reasons == {"end_turn", "max_tokens", "max_turn_requests", "refusal", "cancelled"}
    for reason in reasons:
        assert "unknown reason" not in (turn_status(reason)[1] or "")
