"""End to end: the session worktree follows the user's code before each turn, collisions stay reviewable, the
agent is told what changed, and turns can be rewound (real server over LSP, scripted ACP agent, real git)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from lsprotocol import types as T

from tests.conftest import SAMPLE
from tests.support.lsp_harness import Editor, git, start_editor


def write(path: str, text: str) -> str:
    return "\n".join([f"@write {path}", *text.splitlines(), "@end"])


def worktree(editor_sessions: list[dict[str, Any]], sid: str) -> Path:
    return Path(next(s for s in editor_sessions if s["sessionId"] == sid)["worktree"])


async def session_worktree(editor: Editor, sid: str) -> Path:
    return worktree(await editor.cmd("agentBridge.sessions", {}), sid)


async def test_the_users_buffer_disk_and_commit_edits_reach_the_agents_next_turn(editor: Editor, repo: Path) -> None:
    sid, _, _ = await editor.run(write("notes.md", "agent notes\n"))
    # Three kinds of change: an unsaved buffer, a file on disk, a new commit.
    uri = editor.open("greet.py")
    editor.change(uri, SAMPLE.replace("hello", "HELLO-FROM-BUFFER"))
    (repo / "README.md").write_text("# project\nDISK-EDIT\n")
    (repo / "new.txt").write_text("committed\n")
    git(repo, "add", "new.txt")
    git(repo, "commit", "-q", "-m", "user commit")
    _, tid, result = await editor.run(
        "@echo-prompt\n@cat greet.py\n@cat README.md\n@cat new.txt", sessionId=sid
    )
    assert result["status"] == "completed", result
    said = editor.text_of(tid)
    assert "HELLO-FROM-BUFFER" in said and "DISK-EDIT" in said and "committed" in said
    # The note names the files the user changed, with the user's diff (small here).
    assert "since your last turn the user changed 3 files" in said
    for name in ("greet.py", "README.md", "new.txt"):
        assert name in said.split("The user's changes")[0]
    assert "+DISK-EDIT" in said
    synced = next(e for e in editor.events if e["kind"] == "synced" and e["turnId"] == tid)
    assert sorted(Path(u).name for u in synced["files"]) == ["README.md", "greet.py", "new.txt"]
    assert synced["conflicts"] == 0
    # The agent's own unreviewed file survived, still attributed to it, and only its change is pending.
    [pending] = await editor.pending(sid)
    assert pending["uri"].endswith("notes.md") and pending["hunks"][0]["agent"] == "scripted"
    # The user's checkout was never touched by any of this.
    assert (repo / "greet.py").read_text() == SAMPLE
    # The note is said once: the turn after that has nothing new to tell.
    _, t3, _ = await editor.run("@echo-prompt", sessionId=sid)
    assert "since your last turn" not in editor.text_of(t3)


async def test_pending_hunks_survive_the_catch_up_and_move_with_the_users_lines(editor: Editor, repo: Path) -> None:
    sid, t1, _ = await editor.run(write("greet.py", SAMPLE.replace("print('bye ' + name)", "print('ciao ' + name)")))
    [before] = (await editor.pending(sid))[0]["hunks"]
    # The user inserts lines above the agent's hunk.
    (repo / "greet.py").write_text("import os\nimport sys\n" + SAMPLE)
    _, t2, _ = await editor.run("@say ok", sessionId=sid)
    [after] = (await editor.pending(sid))[0]["hunks"]
    assert after["hunkId"] == before["hunkId"] and after["turnId"] == t1 and after["conflict"] is False
    assert after["range"]["start"]["line"] == before["range"]["start"]["line"] + 2
    wt = await session_worktree(editor, sid)
    assert (wt / "greet.py").read_text().startswith("import os\nimport sys\n")
    assert "ciao" in (wt / "greet.py").read_text()
    # Applying it now lands on the user's current text.
    uri = editor.open("greet.py")
    result = await editor.cmd("agentBridge.apply", {"sessionId": sid, "uri": uri})
    assert result["applied"] == 1 and not result["conflicts"]
    assert editor.text(uri) == "import os\nimport sys\n" + SAMPLE.replace("bye", "ciao")
    assert t2


async def test_a_same_line_collision_keeps_both_versions(editor: Editor, repo: Path) -> None:
    sid, t1, _ = await editor.run(write("greet.py", SAMPLE.replace("hello", "hi there")))
    uri = editor.open("greet.py")
    editor.change(uri, SAMPLE.replace("hello", "good day"))  # the user edits the same line, unsaved
    _, t2, _ = await editor.run("@cat greet.py", sessionId=sid)
    assert "hi there" in editor.text_of(t2)  # the agent's version is what it works on
    synced = next(e for e in editor.events if e["kind"] == "synced" and e["turnId"] == t2)
    assert synced["conflicts"] == 1
    [hunk] = (await editor.pending(sid))[0]["hunks"]
    assert hunk["conflict"] is True and "both changed" in hunk["conflictReason"]
    assert "good day" in hunk["oldText"] and "hi there" in hunk["newText"] and hunk["turnId"] == t1
    # The editor shows it as a collision: its actions say so and its diagnostic is a warning.
    titles = [a.title for a in await editor.code_actions(uri, 1)]
    assert any(t.startswith("Apply agent change") and "conflict with your edit" in t for t in titles), titles
    for _ in range(100):
        warnings = [d for d in editor.client.diagnostics.get(uri, []) if d.severity == T.DiagnosticSeverity.Warning]
        if warnings:
            break
        await asyncio.sleep(0.05)
    assert warnings and "collides with your edit" in warnings[0].message
    # A whole-file apply leaves it out and says why; naming the hunk applies it on purpose.
    result = await editor.cmd("agentBridge.apply", {"sessionId": sid, "uri": uri})
    assert result["applied"] == 0 and result["conflicts"][0]["hunkIds"] == [hunk["hunkId"]]
    assert "good day" in editor.text(uri)
    result = await editor.cmd("agentBridge.apply", {"sessionId": sid, "uri": uri, "hunkId": hunk["hunkId"]})
    assert result["applied"] == 1, result
    assert "hi there" in editor.text(uri) and "good day" not in editor.text(uri)
    assert await editor.pending(sid) == []


async def test_rewind_one_turn(editor: Editor, repo: Path) -> None:
    sid, t1, _ = await editor.run(write("greet.py", SAMPLE.replace("hello", "hi")))
    _, t2, _ = await editor.run(write("extra.py", "x = 1\n"), sessionId=sid)
    result = await editor.cmd("agentBridge.rewind", {"sessionId": sid, "turnId": t2})
    assert result["turnsUndone"] == 1 and [Path(u).name for u in result["files"]] == ["extra.py"]
    wt = await session_worktree(editor, sid)
    assert not (wt / "extra.py").exists() and "hi" in (wt / "greet.py").read_text()
    assert [Path(f["uri"]).name for f in await editor.pending(sid)] == ["greet.py"]
    history = await editor.cmd("agentBridge.history", {"sessionId": sid})
    assert [h["rewound"] for h in history] == [False, True]
    rewound = next(e for e in editor.events if e["kind"] == "rewound")
    assert rewound["turnIds"] == [t2] and rewound["turnId"] == t2
    # Nothing left to rewind from there on.
    again = await editor.cmd("agentBridge.rewind", {"sessionId": sid, "turnId": t2})
    assert again == {"turnsUndone": 0, "files": []}
    # The agent is told, once, with the files put back and what became of its conversation.
    _, t3, _ = await editor.run("@echo-prompt", sessionId=sid)
    said = editor.text_of(t3)
    assert "REWOUND 1 turn(s)" in said and "extra.py" in said and "conversation itself was not rewound" in said
    _, t4, _ = await editor.run("@echo-prompt", sessionId=sid)
    assert "REWOUND" not in editor.text_of(t4)
    assert t1


async def test_rewind_several_turns_keeps_what_the_user_applied_and_wrote(editor: Editor, repo: Path) -> None:
    sid, _t1, _ = await editor.run(write("a.py", "one\n"))
    _, t2, _ = await editor.run(write("greet.py", SAMPLE.replace("hello", "hi")), sessionId=sid)
    uri = editor.open("greet.py")
    applied = await editor.cmd("agentBridge.apply", {"sessionId": sid, "uri": uri})
    assert applied["applied"] == 1
    editor.save(uri)
    (repo / "README.md").write_text("# mine\n")  # the user's own edit
    _, _t3, _ = await editor.run(
        write("greet.py", SAMPLE.replace("hello", "hi").replace("bye", "ciao")) + "\n" + write("b.py", "two\n"),
        sessionId=sid,
    )
    result = await editor.cmd("agentBridge.rewind", {"sessionId": sid, "turnId": t2})
    assert result["turnsUndone"] == 2
    wt = await session_worktree(editor, sid)
    # Turn 1's unreviewed file stays; turn 3's changes are gone; what the user applied and wrote stays.
    assert (wt / "a.py").read_text() == "one\n" and not (wt / "b.py").exists()
    assert (wt / "greet.py").read_text() == SAMPLE.replace("hello", "hi")
    assert (wt / "README.md").read_text() == "# mine\n"
    assert [Path(f["uri"]).name for f in await editor.pending(sid)] == ["a.py"]
    assert [h["rewound"] for h in await editor.cmd("agentBridge.history", {"sessionId": sid})] == [False, True, True]


async def test_rewind_refuses_while_a_turn_runs_and_bad_turns(editor: Editor) -> None:
    sid, tid = await editor.prompt("@sleep 30")
    await editor.wait_event(lambda e: e.get("turnId") == tid and e["kind"] == "turnStarted")
    error = await editor.cmd_error("agentBridge.rewind", {"sessionId": sid, "turnId": tid})
    assert "cancel it" in str(error)
    await editor.cmd("agentBridge.cancel", {"sessionId": sid})
    await editor.cmd("agentBridge.awaitTurn", {"sessionId": sid, "turnId": tid})
    error = await editor.cmd_error("agentBridge.rewind", {"sessionId": sid, "turnId": "nope"})
    assert "nope" in str(error)
    error = await editor.cmd_error("agentBridge.rewind", {"sessionId": sid})
    assert "turnId" in str(error)
    # The server is still fine.
    _, _, result = await editor.run("@say still here", sessionId=sid)
    assert result["status"] == "completed"


async def test_rewound_turns_and_collisions_survive_a_restart(repo: Path, tmp_path: Path) -> None:
    state, log = tmp_path / "state", tmp_path / "agent.log"
    first = await start_editor(repo, state, log, daemon=False)
    try:
        sid, _t1, _ = await first.run(write("greet.py", SAMPLE.replace("hello", "hi there")))
        (repo / "greet.py").write_text(SAMPLE.replace("hello", "good day"))
        _, t2, _ = await first.run(write("c.py", "c\n"), sessionId=sid)
        await first.cmd("agentBridge.rewind", {"sessionId": sid, "turnId": t2})
    finally:
        await first.client.shutdown_session()
    second = await start_editor(repo, state, log, daemon=False)
    try:
        history = await second.cmd("agentBridge.history", {"sessionId": sid})
        assert [h["rewound"] for h in history] == [False, True]
        [pending] = await second.pending(sid)
        assert [h["conflict"] for h in pending["hunks"]] == [True]
        # The note about the rewind is still owed after the restart.
        _, t3, _ = await second.run("@echo-prompt", sessionId=sid)
        assert "REWOUND 1 turn(s)" in second.text_of(t3)
    finally:
        await second.client.shutdown_session()
