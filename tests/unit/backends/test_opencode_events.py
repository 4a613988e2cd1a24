"""The pure opencode mapping: event orders as real opencode 1.18 emits them, dedupe, settlement, the turn guard,
permissions, models, and the small process decisions. No I/O."""

from __future__ import annotations

from typing import Any

import pytest

from backends.base import AgentStartError, ResourcePart, TextPart
from backends.events import Plan, PlanEntry, ReasoningDelta, SessionInfo, TextDelta, ToolCall, Usage
from backends.opencode.events import (
    Mapped,
    OpencodeMapper,
    Settle,
    TurnGuard,
    error_message,
    reconcile_events,
    strip_dcp,
)
from backends.opencode.server import restart_delay, serve_argv
from backends.opencode.stream import reconnect_delay
from backends.opencode.wire import (
    ModelError,
    models_from_providers,
    new_message_id,
    permission_request,
    reply_for,
    resolve_model,
    route_session_id,
    to_opencode_parts,
)

SID = "ses_1"
CWD = "/wt"
USER = "msg_user1"
ASSISTANT = "msg_asst1"


def ev(kind: str, **props: Any) -> dict[str, Any]:
    return {"id": "evt_x", "type": kind, "properties": props}


def user_message(mid: str = USER) -> dict[str, Any]:
    return ev("message.updated", sessionID=SID, info={"id": mid, "role": "user", "sessionID": SID})


def assistant(mid: str = ASSISTANT, parent: str = USER, **info: Any) -> dict[str, Any]:
    return ev("message.updated", sessionID=SID,
              info={"id": mid, "role": "assistant", "parentID": parent, "sessionID": SID, **info})


def part(**p: Any) -> dict[str, Any]:
    return ev("message.part.updated", sessionID=SID, part={"messageID": ASSISTANT, "sessionID": SID, **p})


def delta(text: str, part_id: str = "prt_t", message: str = ASSISTANT) -> dict[str, Any]:
    return ev("message.part.delta", sessionID=SID, messageID=message, partID=part_id, field="text", delta=text)


def idle() -> dict[str, Any]:
    return ev("session.idle", sessionID=SID)


def mapper(turn: str | None = USER) -> OpencodeMapper:
    m = OpencodeMapper(SID, CWD)
    if turn:
        m.begin_turn(turn)
    return m


def feed_all(m: OpencodeMapper, events: list[dict[str, Any]]) -> list[Mapped]:
    return [m.feed(e) for e in events]


def texts(results: list[Mapped]) -> str:
    return "".join(e.text for r in results for e in r.events if isinstance(e, TextDelta))


def test_a_text_turn_in_real_order() -> None:
    """user message -> its part -> busy -> assistant -> step-start -> text "" -> deltas -> final text ->
    step-finish -> assistant finished -> status idle -> session.idle (as observed from opencode 1.18.33)."""
    m = mapper()
    results = feed_all(m, [
        ev("server.heartbeat"), ev("plugin.added", name="x"), ev("file.watcher.updated", file="/wt/a"),
        user_message(),
        ev("message.part.updated", sessionID=SID, part={"id": "prt_u", "type": "text", "text": "@say hi",
                                                          "messageID": USER, "sessionID": SID}),
        ev("session.status", sessionID=SID, status={"type": "busy"}),
        assistant(),
        part(id="prt_s", type="step-start"),
        part(id="prt_t", type="text", text="", time={"start": 1}),
        delta("fini"), delta("shed"),
        part(id="prt_t", type="text", text="finished", time={"start": 1, "end": 2}),
        part(id="prt_f", type="step-finish", reason="stop", cost=0.5,
             tokens={"input": 100, "output": 7, "reasoning": 3, "cache": {"read": 20, "write": 0}}),
        assistant(finish="stop", time={"created": 1, "completed": 2}),
    ])
    assert texts(results) == "finished"  # the final part repeats the deltas: not shown twice; no prompt echo
    assert [r.activity for r in results[:3]] == [False, False, False]  # noise
    usage = [e for r in results for e in r.events if isinstance(e, Usage)]
    assert usage == [Usage(input_tokens=120, output_tokens=10, total_tokens=130, cost=0.5)]
    assert all(r.settle is None for r in results)
    settled = m.feed(ev("session.status", sessionID=SID, status={"type": "idle"}))
    assert settled.settle == Settle("completed", stop_reason="end_turn")
    assert m.feed(idle()).settle == Settle("completed")


def test_dedupe_by_part_id_with_message_id_fallback() -> None:
    m = mapper()
    feed_all(m, [user_message(), assistant()])
    first = feed_all(m, [delta("ab", part_id=""), delta("c", part_id="")])
    assert texts(first) == "abc"
    # A part without an id is matched to its deltas by message id.
    again = m.feed(part(type="text", text="abcd", time={"start": 1, "end": 2}))
    assert texts([again]) == "d"
    # The same final part delivered twice (reconnect, replay) adds nothing.
    assert texts([m.feed(part(type="text", text="abcd", time={"start": 1, "end": 2}))]) == ""


def test_reasoning_and_text_parts_stay_apart() -> None:
    m = mapper()
    feed_all(m, [user_message(), assistant(), part(id="prt_r", type="reasoning", text="", time={"start": 1})])
    results = feed_all(m, [delta("hmm", part_id="prt_r"), part(id="prt_t", type="text", text="yes",
                                                                 time={"start": 1, "end": 2})])
    events = [e for r in results for e in r.events]
    assert events == [ReasoningDelta("hmm"), TextDelta("yes")]


def test_dcp_tags_are_stripped_even_when_split_across_deltas() -> None:
    assert strip_dcp("a<dcp-message-id>m1</dcp-message-id>b", final=True) == "ab"
    assert strip_dcp("a<dcp-mes", final=False) == "a"
    assert strip_dcp("a<dcp-message-id>m1", final=False) == "a"
    assert strip_dcp("a<b", final=False) == "a<b"
    m = mapper()
    feed_all(m, [user_message(), assistant()])
    results = feed_all(m, [delta("Hi <dcp-"), delta("message-id>msg_9</dcp-mess"), delta("age-id> there"),
                           part(id="prt_t", type="text", text="Hi <dcp-message-id>msg_9</dcp-message-id> there",
                                time={"start": 1, "end": 2})])
    assert texts(results) == "Hi  there"


def test_synthetic_parts_and_user_parts_are_not_answers() -> None:
    m = mapper()
    feed_all(m, [user_message(), assistant()])
    assert m.feed(part(id="p1", type="text", text="injected", synthetic=True, time={"end": 1})).events == []
    echo = ev("message.part.updated", sessionID=SID, part={"id": "p2", "type": "text", "text": "prompt",
                                                            "messageID": USER, "sessionID": SID})
    assert m.feed(echo).events == [] and m.feed(echo).activity


def test_tool_part_states_map_to_merged_tool_calls() -> None:
    m = mapper()
    feed_all(m, [user_message(), assistant()])
    base = {"id": "prt_tool", "type": "tool", "tool": "write", "callID": "call_1"}
    results = feed_all(m, [
        part(**base, state={"status": "pending", "input": {}}),
        part(**base, state={"status": "running", "input": {"filePath": "src/a.py", "content": "x"}}),
        part(**base, state={"status": "running", "input": {"filePath": "src/a.py", "content": "x"}}),  # repeat
        part(**base, state={"status": "completed", "input": {"filePath": "src/a.py", "content": "x"},
                            "output": "Wrote file successfully.", "title": "src/a.py"}),
    ])
    calls = [e for r in results for e in r.events if isinstance(e, ToolCall)]
    assert [c.status for c in calls] == ["pending", "in_progress", "completed"]
    assert calls[1].paths == ("/wt/src/a.py",) and calls[1].kind == "edit"
    assert calls[-1].title == "src/a.py" and calls[-1].output == "Wrote file successfully."
    bash = {"id": "prt_b", "type": "tool", "tool": "bash", "callID": "call_2"}
    failed = m.feed(part(**bash, state={"status": "error", "input": {"command": "make"}, "error": "exit 2"}))
    call = failed.events[0]
    assert isinstance(call, ToolCall)
    assert (call.kind, call.status, call.command, call.output, call.title) == (
        "execute", "failed", "make", "exit 2", "make")


def test_step_finish_is_counted_once_per_part() -> None:
    m = mapper()
    feed_all(m, [user_message(), assistant()])
    step = part(id="prt_f", type="step-finish", cost=0.25, tokens={"input": 10, "output": 2})
    assert m.feed(step).events == [Usage(input_tokens=10, output_tokens=2, total_tokens=12, cost=0.25)]
    assert m.feed(step).events == []
    m.feed(part(id="prt_g", type="step-finish", cost=0.25, tokens={"input": 5, "output": 1}))
    assert m.usage == Usage(input_tokens=15, output_tokens=3, total_tokens=18, cost=0.5)
    m.begin_turn("msg_user2")
    assert m.usage.total_tokens == 0  # each turn reports its own usage


def test_errors_settle_turns() -> None:
    m = mapper()
    aborted = m.feed(ev("session.error", sessionID=SID, error={"name": "MessageAbortedError",
                                                              "data": {"message": "Aborted"}}))
    assert aborted.settle == Settle("cancelled", stop_reason="cancelled")
    failed = m.feed(ev("session.error", sessionID=SID, error={"name": "UnknownError", "data": {
        "message": "Model not found: nope/x.\n    at stack (chunk.js:1)"}}))
    assert failed.settle == Settle("failed", error="opencode failed the turn: UnknownError: Model not found: nope/x.")
    assert error_message(None) == "opencode reported an error"
    # An assistant message that failed makes the idle a failure too; a length stop is max_tokens.
    m2 = mapper()
    feed_all(m2, [user_message(), assistant(error={"name": "ProviderAuthError", "data": {"message": "bad key"}})])
    assert m2.feed(idle()).settle == Settle("failed", error="opencode failed the turn: ProviderAuthError: bad key")
    m3 = mapper()
    feed_all(m3, [user_message(), assistant(finish="length")])
    assert m3.feed(idle()).settle == Settle("completed", stop_reason="max_tokens")


def test_events_of_other_sessions_and_earlier_turns_are_not_this_turns() -> None:
    m = mapper()
    assert m.feed(ev("session.idle", sessionID="ses_other")).settle is None
    assert m.feed(ev("message.part.delta", sessionID="ses_other", messageID="m", partID="p", field="text",
                     delta="x")).events == []
    feed_all(m, [user_message(), assistant()])
    m.begin_turn("msg_user2")
    # The first turn's answer finishing late is stale, not activity of the new turn; its text is not shown.
    late = m.feed(assistant(finish="stop"))
    assert late.stale and not late.activity
    late_part = m.feed(part(id="prt_late", type="text", text="old", time={"end": 1}))
    assert late_part.stale and late_part.events == []
    # The earlier user message's summary update is neither.
    summary = m.feed(user_message())
    assert not summary.stale and not summary.activity
    assert m.feed(user_message("msg_user2")).activity


def test_session_title_plan_and_child_sessions() -> None:
    m = mapper()
    assert m.feed(ev("session.updated", sessionID=SID, info={"title": "New session - 2026-11-22"})).events == []
    assert m.feed(ev("session.updated", sessionID=SID, info={"title": "Fix it"})).events == [SessionInfo("Fix it")]
    assert m.feed(ev("session.updated", sessionID=SID, info={"title": "Fix it"})).events == []
    plan = m.feed(ev("todo.updated", sessionID=SID, todos=[
        {"content": "a", "status": "completed", "priority": "high"}, {"content": "b", "status": "cancelled"}]))
    assert plan.events == [Plan((PlanEntry("a", "completed", "high"), PlanEntry("b", "completed", "medium")))]
    child = m.feed(ev("session.created", sessionID="ses_child", info={"id": "ses_child", "parentID": SID}))
    assert child.child_session == "ses_child"
    asked = m.feed(ev("permission.asked", id="per_1", sessionID="ses_child", permission="bash"))
    assert asked.permission is not None and asked.permission.session_id == "ses_child"
    # A sub-agent's idle is not the parent turn's end.
    assert m.feed(ev("session.idle", sessionID="ses_child")).settle is None


def test_retry_status_is_reported_but_not_activity() -> None:
    m = mapper()
    result = m.feed(ev("session.status", sessionID=SID, status={"type": "retry", "attempt": 2,
                                                                 "message": "connection refused"}))
    assert result.retry == "connection refused" and not result.activity and result.settle is None


# The turn guard


def test_turn_guard_arms_swallows_and_heals() -> None:
    guard = TurnGuard()
    assert guard.admit()  # nothing armed: an idle settles the running turn
    guard.arm()  # abort (or a new turn begins)
    assert not guard.admit() and not guard.admit()  # the aborted turn's trailing error and idle
    guard.heal()  # the new turn's own activity
    assert guard.admit()
    assert guard.swallowed == 2


def test_guard_and_mapper_together_after_an_abort() -> None:
    """The orphan regression, as pure decisions: abort, next prompt, late idle, then the new turn's own end."""
    m, guard = mapper(), TurnGuard()
    feed_all(m, [user_message(), assistant(), part(id="prt_t", type="text", text="", time={"start": 1})])
    guard.arm()  # abort
    m.begin_turn("msg_user2")
    guard.arm()  # the next turn begins

    def settles(event: dict[str, Any]) -> bool:
        result = m.feed(event)
        if result.stale:
            guard.arm()
        if result.activity:
            guard.heal()
        return result.settle is not None and guard.admit()

    assert not settles(ev("session.error", sessionID=SID, error={"name": "MessageAbortedError"}))
    assert not settles(idle())
    assert not settles(user_message("msg_user2"))  # heals...
    assert not settles(assistant(error={"name": "MessageAbortedError"}))  # ...the old answer re-arms
    assert not settles(idle())  # so its late idle is swallowed
    assert not settles(assistant("msg_asst2", parent="msg_user2"))
    assert settles(idle())


# Reconciliation


def _history() -> list[dict[str, Any]]:
    return [
        {"info": {"id": "msg_old", "role": "user"}, "parts": []},
        {"info": {"id": USER, "role": "user"}, "parts": [{"id": "prt_u", "type": "text", "text": "do it",
                                                           "messageID": USER}]},
        {"info": {"id": ASSISTANT, "role": "assistant", "parentID": USER, "finish": "stop",
                  "time": {"created": 1, "completed": 2}},
         "parts": [{"id": "prt_t", "type": "text", "text": "all done", "messageID": ASSISTANT,
                    "time": {"start": 1, "end": 2}},
                   {"id": "prt_f", "type": "step-finish", "messageID": ASSISTANT, "tokens": {"input": 1}}]},
    ]


def test_reconcile_replays_only_what_was_missed_and_settles_when_idle() -> None:
    m = mapper()
    feed_all(m, [user_message(), assistant(), delta("all ")])
    replayed, settle, seen = reconcile_events(m, _history(), busy=False)
    assert seen and texts(replayed) == "done"
    assert settle == Settle("completed", stop_reason="end_turn")
    # Busy: caught up but not ended.
    m2 = mapper()
    assert reconcile_events(m2, _history(), busy=True)[1] is None
    # Only the user message so far (prompt posted, opencode not busy yet): not an end.
    m3 = mapper()
    assert reconcile_events(m3, _history()[:2], busy=False)[1:] == (None, True)
    # A different turn's history says nothing about this one.
    m4 = mapper("msg_unknown")
    assert reconcile_events(m4, _history(), busy=False)[1:] == (None, False)


def test_reconcile_of_a_part_still_streaming_waits_for_its_final_text() -> None:
    m = mapper()
    feed_all(m, [user_message(), assistant(), delta("ab")])
    history = [{"info": {"id": USER, "role": "user"}, "parts": []},
               {"info": {"id": ASSISTANT, "role": "assistant", "parentID": USER},
                "parts": [{"id": "prt_t", "type": "text", "text": "abcd", "messageID": ASSISTANT,
                           "time": {"start": 1}}]}]
    replayed, settle, _ = reconcile_events(m, history, busy=True)
    assert texts(replayed) == "cd" and settle is None
    # Deltas already contained in the snapshot must not repeat; the final text brings the rest.
    assert texts([m.feed(delta("cd")), m.feed(delta("ef"))]) == ""
    assert texts([m.feed(part(id="prt_t", type="text", text="abcdef", time={"start": 1, "end": 2}))]) == "ef"


def test_reconcile_reports_an_aborted_or_failed_answer() -> None:
    history = _history()
    history[2]["info"] = {"id": ASSISTANT, "role": "assistant", "parentID": USER,
                          "error": {"name": "MessageAbortedError"}}
    assert reconcile_events(mapper(), history, busy=False)[1] == Settle("cancelled", stop_reason="cancelled")


# Wire helpers


def test_permission_requests_are_normalized_for_the_policy() -> None:
    bash = permission_request({"id": "per_1", "sessionID": SID, "permission": "bash", "patterns": ["make test"],
                               "metadata": {"command": "make test"}, "always": ["make *"],
                               "tool": {"messageID": "m", "callID": "call_9"}}, CWD)
    assert (bash.kind, bash.command, bash.cwd, bash.paths, bash.tool_call_id) == (
        "execute", "make test", CWD, (), "call_9")
    edit = permission_request({"id": "per_2", "permission": "edit", "patterns": ["src/a.py"],
                               "metadata": {"filepath": "/wt/src/a.py", "diff": "..."}}, CWD)
    assert (edit.kind, edit.paths, edit.command) == ("edit", ("/wt/src/a.py",), None)
    outside = permission_request({"id": "per_3", "permission": "external_directory", "patterns": ["/etc/*"],
                                  "metadata": {}}, CWD)
    assert (outside.kind, outside.paths) == ("read", ("/etc",))
    search = permission_request({"id": "per_4", "permission": "grep", "patterns": ["TODO"]}, CWD)
    assert (search.kind, search.paths) == ("search", (CWD,))
    fetch = permission_request({"id": "per_5", "permission": "webfetch", "patterns": ["https://x"]}, CWD)
    assert (fetch.kind, fetch.title) == ("fetch", "webfetch https://x")
    assert [o.kind for o in bash.options] == ["allow_once", "allow_always", "reject_once"]
    assert [reply_for(k) for k in ("allow_once", "allow_always", "reject_once", "reject_always", None)] == [
        "once", "always", "reject", "reject", "reject"]


def test_models_and_their_resolution() -> None:
    data = {"providers": [{"id": "fake", "models": {"fake-model": {}, "b": {}}}, {"id": "alt", "models": {"b": {}}}],
            "default": {"fake": "fake-model"}}
    models = models_from_providers(data)
    assert models == ["alt/b", "fake/b", "fake/fake-model"]
    assert models_from_providers(None) == []
    assert resolve_model("openrouter/anthropic/claude", None, models) == ("openrouter", "anthropic/claude")
    assert resolve_model("x", "fake/fake-model", models) == ("fake", "x")  # the configured provider
    assert resolve_model("fake-model", None, models) == ("fake", "fake-model")
    with pytest.raises(ModelError, match="alt, fake"):
        resolve_model("b", None, models)
    with pytest.raises(ModelError, match="no configured provider"):
        resolve_model("zzz", None, models)
    with pytest.raises(ModelError):
        resolve_model("fake/", None, models)


def test_prompt_parts_routing_and_ids() -> None:
    parts = to_opencode_parts([TextPart("hi"), ResourcePart("file:///wt/a.py", "x = 1")])
    assert parts[0] == {"type": "text", "text": "hi"}
    assert parts[1]["type"] == "text" and "file:///wt/a.py" in parts[1]["text"] and "x = 1" in parts[1]["text"]
    assert route_session_id(ev("session.idle", sessionID="s")) == "s"
    assert route_session_id(ev("message.part.updated", part={"sessionID": "p"})) == "p"
    assert route_session_id(ev("message.updated", info={"sessionID": "i"})) == "i"
    assert route_session_id(ev("server.heartbeat")) is None
    a, b = new_message_id(1_795_315_724_338), new_message_id(1_795_315_724_339)
    assert a.startswith("msg_") and len(a) == 30 and a < b
    assert new_message_id(1_795_315_724_338)[:16] == "msg_20127f032000"  # opencode's own layout


def test_process_decisions() -> None:
    assert serve_argv(("opencode",), 5) == ["opencode", "serve", "--hostname", "127.0.0.1", "--port", "5"]
    assert serve_argv(("opencode", "serve"), 5)[:2] == ["opencode", "serve"]
    with pytest.raises(AgentStartError, match="protocol"):
        serve_argv(("opencode", "acp"), 5)
    assert [restart_delay(n, 0.5) for n in range(5)] == [0.0, 0.5, 1.0, 2.0, 4.0]
    assert restart_delay(50, 0.5) == 30.0
    assert [reconnect_delay(n) for n in (1, 2, 3)] == [0.1, 0.2, 0.4] and reconnect_delay(99) == 5.0
