"""End to end: agentBridge.history carries what each turn did (tool calls, plan, usage, permission questions), from
the real server over LSP with the scripted agent, and still does after the bridge restarted."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.support.lsp_harness import Editor, start_editor

SCRIPT = "\n".join([
    "@plan read the code | run the build",
    "@write notes.txt", "first note", "@end",
    "@run echo hi-from-history",
    "@plan read the code | run the build | write it up",
    "@usage 1200 340",
    "@say done",
])


async def run_the_turn(editor: Editor) -> tuple[str, str]:
    editor.answers = ["Allow"]  # the command is asked about; the edit inside the worktree is not
    sid, tid, result = await editor.run(SCRIPT)
    assert result["status"] == "completed", result
    return sid, tid


def check_the_turn(entry: dict[str, Any], tid: str) -> None:
    assert entry["turnId"] == tid and entry["status"] == "completed" and entry["answer"].endswith("done\n")
    assert entry["rewound"] is False
    write, run = entry["toolCalls"]  # first-seen order, each in its final state
    assert (write["toolKind"], write["status"]) == ("edit", "completed")
    assert write["paths"] and write["paths"][0].endswith("notes.txt")
    assert run["toolKind"] == "execute" and run["status"] == "completed"
    assert run["command"] == "echo hi-from-history" and "hi-from-history" in run["output"]
    assert set(run) == {"toolCallId", "title", "toolKind", "status", "paths", "command", "output"}
    assert entry["plan"] == [
        {"content": "read the code", "status": "in_progress", "priority": "medium"},
        {"content": "run the build", "status": "pending", "priority": "medium"},
        {"content": "write it up", "status": "pending", "priority": "medium"},
    ]
    assert entry["usage"]["inputTokens"] == 1200 and entry["usage"]["outputTokens"] == 340
    outcomes = [(p["permissionKind"], p["outcome"]) for p in entry["permissions"]]
    assert outcomes == [("edit", "allowed"), ("execute", "allowed")], entry["permissions"]
    asked = entry["permissions"][1]
    assert asked["toolCallId"] == run["toolCallId"] and asked["reason"] == "answered by the user"
    assert asked["command"] == "echo hi-from-history" and "cwd" in asked


async def test_history_carries_each_turns_tool_calls_plan_usage_and_permissions(editor: Editor) -> None:
    sid, tid = await run_the_turn(editor)
    # What the editor was sent as it happened, for comparison.
    sent = [e for e in editor.events if e.get("turnId") == tid]
    assert any(e["kind"] == "permission" and e["outcome"] == "asking" for e in sent)
    _, t2, _ = await editor.run("@say plain", sessionId=sid)
    first, second = await editor.cmd("agentBridge.history", {"sessionId": sid})
    check_the_turn(first, tid)
    assert second["turnId"] == t2
    assert (second["toolCalls"], second["plan"], second["usage"], second["permissions"]) == ([], None, None, [])


async def test_a_running_turns_entry_has_what_it_did_so_far(editor: Editor) -> None:
    sid, tid = await editor.prompt("@plan look around | change things\n@read greet.py\n@sleep 30")
    await editor.wait_event(lambda e: e.get("turnId") == tid and e["kind"] == "text")  # the read is done
    [running] = await editor.cmd("agentBridge.history", {"sessionId": sid})
    assert running["status"] == "running" and running["endedAt"] is None
    assert [p["content"] for p in running["plan"]] == ["look around", "change things"]
    assert [(c["toolKind"], c["status"]) for c in running["toolCalls"]] == [("read", "completed")]
    assert running["usage"] is None
    await editor.cmd("agentBridge.cancel", {"sessionId": sid})
    result = await asyncio.wait_for(editor.cmd("agentBridge.awaitTurn", {"sessionId": sid, "turnId": tid}), 30)
    assert result["status"] == "cancelled"
    [ended] = await editor.cmd("agentBridge.history", {"sessionId": sid})
    assert [(c["toolKind"], c["status"]) for c in ended["toolCalls"]] == [("read", "completed")]


async def test_history_survives_a_restart_of_the_bridge(repo: Path, tmp_path: Path) -> None:
    state, log = tmp_path / "state", tmp_path / "agent.log"
    first = await start_editor(repo, state, log, daemon=False)
    try:
        sid, tid = await run_the_turn(first)
        before = await first.cmd("agentBridge.history", {"sessionId": sid})
    finally:
        await first.client.shutdown_session()
    second = await start_editor(repo, state, log, daemon=False)  # a new server on the same state dir
    try:
        after = await second.cmd("agentBridge.history", {"sessionId": sid})
        assert after == before
        check_the_turn(after[0], tid)
    finally:
        await second.client.shutdown_session()
