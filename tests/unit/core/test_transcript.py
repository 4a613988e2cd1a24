"""core/transcript.py: a turn's record, built from the events the editor gets, and stored as JSON (pure)."""

from __future__ import annotations

import json

from bridge import protocol as wire
from bridge.core.transcript import OUTPUT_CAP, UNANSWERED, TurnDetails, TurnRecord, dump, load

HEAD = ("s1", "t1", "qwen")


def call(call_id: str, status: str, title: str = "", paths: tuple[str, ...] = (), command: str | None = None,
         output: str | None = None, kind: str = "execute") -> wire.ToolCallEvent:
    return wire.ToolCallEvent(*HEAD, call_id, title, kind, status, list(paths), command, output)


def question(call_id: str, outcome: str, reason: str = "policy") -> wire.PermissionEvent:
    return wire.PermissionEvent(*HEAD, call_id, f"Run {call_id}", "execute", [], f"make {call_id}", "/wt", outcome,
                                reason)


def plan(*steps: tuple[str, str]) -> wire.PlanEvent:
    return wire.PlanEvent(*HEAD, [wire.PlanEntry(content, status, "medium") for content, status in steps])


def test_tool_call_updates_merge_into_their_final_state_in_first_seen_order() -> None:
    record = TurnRecord()
    record.add(call("a", "pending", "Run make", command="make"))
    record.add(call("b", "pending", "Edit x.py", ("x.py",), kind="edit"))
    record.add(call("a", "in_progress", "Run make"))  # an update that leaves the command out keeps it
    record.add(call("b", "completed", "Edit x.py", ("x.py",), kind="edit"))
    record.add(call("a", "completed", "Run make", command="make", output="built\n"))
    assert record.details().tool_calls == [
        wire.ToolCallRecord("a", "Run make", "execute", "completed", [], "make", "built\n"),
        wire.ToolCallRecord("b", "Edit x.py", "edit", "completed", ["x.py"]),
    ]


def test_tool_output_is_capped() -> None:
    record = TurnRecord()
    record.add(call("a", "completed", "Run cat", output="x" * 50_000))
    [kept] = record.details().tool_calls
    assert kept.output is not None and len(kept.output) == OUTPUT_CAP and kept.output.endswith("…")
    record.add(call("b", "completed", "Run echo", output="y" * OUTPUT_CAP))
    assert record.details().tool_calls[1].output == "y" * OUTPUT_CAP  # at the cap: whole


def test_each_plan_replaces_the_one_before() -> None:
    record = TurnRecord()
    assert record.details().plan is None
    record.add(plan(("read", "in_progress"), ("edit", "pending")))
    record.add(plan(("read", "completed"), ("edit", "in_progress"), ("test", "pending")))
    assert [(e.content, e.status) for e in record.details().plan or []] == [
        ("read", "completed"), ("edit", "in_progress"), ("test", "pending"),
    ]


def test_an_asked_question_is_replaced_by_its_answer() -> None:
    record = TurnRecord()
    record.add(question("a", "allowed", "inside the worktree"))  # decided by the policy alone
    record.add(question("b", "asking", "outside the worktree"))
    assert [(p.tool_call_id, p.outcome) for p in record.details().permissions] == [("a", "allowed")]
    record.add(question("b", "allowedAlways", "answered by the user"))
    record.add(question("b", "asking"))  # the same tool call asked again later
    record.add(question("b", "rejected", "answered by the user"))
    assert [(p.tool_call_id, p.outcome, p.reason) for p in record.details().permissions] == [
        ("a", "allowed", "inside the worktree"),
        ("b", "allowedAlways", "answered by the user"),
        ("b", "rejected", "answered by the user"),
    ]
    assert record.details().permissions[1] == wire.PermissionRecord(
        "b", "Run b", "execute", [], "make b", "/wt", "allowedAlways", "answered by the user"
    )


def test_a_question_open_when_the_turn_ends_counts_as_rejected() -> None:
    record = TurnRecord()
    record.add(question("a", "asking"))
    assert record.details().permissions == []  # running: never "asking"
    [ended] = record.details(ended=True).permissions
    assert (ended.outcome, ended.reason) == ("rejected", UNANSWERED)


def test_usage_is_the_turns_own_else_the_last_usage_event() -> None:
    record = TurnRecord()
    record.add(wire.UsageEvent(*HEAD, wire.Usage(context_used=10, context_size=100)))
    record.add(wire.UsageEvent(*HEAD, wire.Usage(context_used=20, context_size=100)))
    assert record.details().usage == wire.Usage(context_used=20, context_size=100)
    final = wire.Usage(input_tokens=3, output_tokens=4)
    assert record.details(final, ended=True).usage == final


def test_other_events_are_not_recorded() -> None:
    record = TurnRecord()
    record.add(wire.TextEvent(*HEAD, "hello"))
    record.add(wire.NoticeEvent(*HEAD, "note"))
    assert record.details() == TurnDetails()


def test_stored_json_round_trips_through_the_wire_converter() -> None:
    record = TurnRecord()
    record.add(call("a", "completed", "Run make", ("Makefile",), "make", "ok"))
    record.add(plan(("build", "completed")))
    record.add(question("a", "allowed"))
    details = record.details(wire.Usage(input_tokens=1, cost=0.25, currency="USD"), ended=True)
    text = dump(details)
    assert json.loads(text)["toolCalls"][0] == {
        "toolCallId": "a", "title": "Run make", "toolKind": "execute", "status": "completed", "paths": ["Makefile"],
        "command": "make", "output": "ok",
    }
    assert load(text) == details
    assert load("{}") == TurnDetails()


def test_a_record_this_version_cannot_read_is_empty() -> None:
    assert load("not json") == TurnDetails()
    assert load('{"toolCalls": [{"toolCallId": 1}]}') == TurnDetails()
    assert load('{"somethingNewer": []}') == TurnDetails()
