"""End to end over stdio: prompt, stream, review (apply/reject) with the scripted ACP agent."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lsprotocol import types as T
from pygls.exceptions import JsonRpcException

from tests.conftest import SAMPLE
from tests.support.lsp_harness import Editor, git

NEW_GREET = SAMPLE.replace("def greet(name):", "def greet(name: str) -> None:").replace(
    "print('bye ' + name)", "print(f'goodbye {name}')"
)


def write_directive(path: str, text: str) -> str:
    return "\n".join([f"@write {path}", *text.splitlines(), "@end"])


async def test_prompt_streams_events_and_edit_becomes_pending_hunks(editor: Editor, repo: Path) -> None:
    uri = editor.open("greet.py")
    prompt = "\n".join([
        "@think planning two edits",
        "@plan Read | Edit | Report",
        "@say one two three four five six seven",
        write_directive("greet.py", NEW_GREET),
        "@say done",
    ])
    sid, tid, result = await editor.run(prompt)
    assert result == {"status": "completed", "stopReason": "end_turn"}

    kinds = editor.kinds(tid)
    assert kinds[0] == "turnStarted" and kinds[-1] == "turnEnded"
    for kind in ("reasoning", "plan", "text", "toolCall", "permission", "pendingChanged"):
        assert kind in kinds, kind
    assert editor.text_of(tid) == "one two three four five six seven\ndone\n"
    # The agent sent the first sentence as 7 word chunks; coalescing sends far fewer notifications.
    assert kinds.count("text") < 7
    plan = next(e for e in editor.events if e["kind"] == "plan" and e["turnId"] == tid)
    assert [entry["content"] for entry in plan["entries"]] == ["Read", "Edit", "Report"]
    permission = next(e for e in editor.events if e["kind"] == "permission" and e["turnId"] == tid)
    assert permission["outcome"] == "allowed"  # an edit inside the worktree is reviewed later, not asked

    # The user's checkout is untouched; the change is pending.
    assert (repo / "greet.py").read_text() == SAMPLE
    pending = await editor.pending(sid)
    assert len(pending) == 1 and pending[0]["uri"] == uri and pending[0]["change"] == "modify"
    hunks = pending[0]["hunks"]
    assert len(hunks) == 2
    assert {h["agent"] for h in hunks} == {"scripted"} and {h["turnId"] for h in hunks} == {tid}
    assert hunks[0]["oldText"] == "def greet(name):\n"
    assert hunks[0]["newText"] == "def greet(name: str) -> None:\n"
    assert hunks[0]["range"] == {"start": {"line": 0, "character": 0}, "end": {"line": 1, "character": 0}}

    sessions = await editor.cmd("agentBridge.sessions", {})
    assert sessions[0]["sessionId"] == sid and sessions[0]["pendingHunks"] == 2
    assert sessions[0]["agents"][0]["agent"] == "scripted"


async def test_apply_through_code_action_edits_buffer_and_rebaselines(editor: Editor, repo: Path) -> None:
    uri = editor.open("greet.py")
    sid, _, _ = await editor.run(write_directive("greet.py", NEW_GREET))
    hunks = (await editor.pending(sid))[0]["hunks"]

    # A hint diagnostic marks each hunk in the open document.
    await asyncio.sleep(0.2)
    diags = editor.client.diagnostics.get(uri, [])
    assert {d.code for d in diags} == {h["hunkId"] for h in hunks}
    assert all(d.severity == T.DiagnosticSeverity.Hint for d in diags)
    lenses = await editor.client.text_document_code_lens_async(T.CodeLensParams(T.TextDocumentIdentifier(uri)))
    assert lenses and any(lens.command and lens.command.command == "agentBridge.apply" for lens in lenses)

    actions = await editor.code_actions(uri, 0)
    titles = [a.title for a in actions]
    assert any(t.startswith("Apply agent change (scripted") for t in titles), titles
    assert any(t.startswith("Reject agent change (scripted") for t in titles), titles
    apply = next(a for a in actions if a.title.startswith("Apply"))
    assert apply.kind == T.CodeActionKind.QuickFix and apply.edit is not None
    doc_edit = apply.edit.document_changes[0]  # type: ignore[index]
    assert isinstance(doc_edit, T.TextDocumentEdit) and doc_edit.text_document.version == 1

    changed = asyncio.ensure_future(editor.wait_event(lambda e: e["kind"] == "pendingChanged" and e["hunks"] == 1))
    ok, _ = editor.apply_workspace_edit(apply.edit)
    assert ok
    await asyncio.wait_for(changed, 10)
    assert editor.text(uri) == SAMPLE.replace("def greet(name):", "def greet(name: str) -> None:")
    left = (await editor.pending(sid))[0]["hunks"]
    assert [h["hunkId"] for h in left] == [hunks[1]["hunkId"]]  # the other keeps its id
    assert (repo / "greet.py").read_text() == SAMPLE  # saved only when the user saves

    # The last hunk through the command: workspace/applyEdit, then nothing pending.
    result = await editor.cmd("agentBridge.apply", {"sessionId": sid, "uri": uri, "hunkId": hunks[1]["hunkId"]})
    assert result == {"applied": 1, "conflicts": []}
    assert editor.text(uri) == NEW_GREET
    assert await editor.pending(sid) == []


async def test_apply_reanchors_after_user_edits_and_reports_conflicts(editor: Editor) -> None:
    uri = editor.open("greet.py")
    sid, _, _ = await editor.run(write_directive("greet.py", NEW_GREET))
    hunks = (await editor.pending(sid))[0]["hunks"]
    # The user inserts lines above, shifting everything, and rewrites the second function's body.
    edited = "# header\n# more\n" + SAMPLE.replace("print('bye ' + name)", "print('see you ' + name)")
    editor.change(uri, edited)
    result = await editor.cmd("agentBridge.apply", {"sessionId": sid, "uri": uri})
    assert result["applied"] == 0
    assert len(result["conflicts"]) == 1 and "conflict" in result["conflicts"][0]["reason"]
    # One hunk at a time: the first merges cleanly at its new place.
    result = await editor.cmd("agentBridge.apply", {"sessionId": sid, "uri": uri, "hunkId": hunks[0]["hunkId"]})
    assert result == {"applied": 1, "conflicts": []}
    assert editor.text(uri).startswith("# header\n# more\ndef greet(name: str) -> None:\n")
    assert "print('see you ' + name)" in editor.text(uri)
    # The conflicting one is offered as a disabled action with the reason.
    actions = await editor.code_actions(uri, 7)
    disabled = [a for a in actions if a.disabled is not None]
    assert disabled and "conflict" in disabled[0].disabled.reason  # type: ignore[union-attr]


async def test_reject_reverts_worktree_and_tells_the_agent(editor: Editor, repo: Path) -> None:
    editor.open("greet.py")
    sid, _, _ = await editor.run(write_directive("greet.py", NEW_GREET))
    session = (await editor.cmd("agentBridge.sessions", {}))[0]
    worktree = Path(session["worktree"])
    hunks = (await editor.pending(sid))[0]["hunks"]
    uri = editor.uri("greet.py")
    rejected = await editor.cmd("agentBridge.reject", {"sessionId": sid, "uri": uri, "hunkId": hunks[1]["hunkId"]})
    assert rejected["rejected"] == 1 and rejected["rejectionId"]
    assert "print('bye ' + name)" in (worktree / "greet.py").read_text()
    assert "def greet(name: str) -> None:" in (worktree / "greet.py").read_text()
    assert [h["hunkId"] for h in (await editor.pending(sid))[0]["hunks"]] == [hunks[0]["hunkId"]]

    _, tid, _ = await editor.run("@echo-prompt", sessionId=sid)
    echoed = editor.text_of(tid)
    assert "REJECTED" in echoed and "print(f'goodbye {name}')" in echoed
    # Told once: the next prompt no longer carries it.
    _, tid2, _ = await editor.run("@echo-prompt", sessionId=sid)
    assert "REJECTED" not in editor.text_of(tid2)


async def test_a_reject_is_taken_back_with_unreject(editor: Editor, repo: Path) -> None:
    editor.open("greet.py")
    sid, _, _ = await editor.run(write_directive("greet.py", NEW_GREET))
    worktree = Path((await editor.cmd("agentBridge.sessions", {}))[0]["worktree"])
    hunks = (await editor.pending(sid))[0]["hunks"]
    uri = editor.uri("greet.py")
    rejected = await editor.cmd("agentBridge.reject", {"sessionId": sid, "uri": uri})
    assert rejected["rejected"] == 2 and await editor.pending(sid) == []
    editor.events.clear()
    restored = await editor.cmd("agentBridge.unreject", {"sessionId": sid, "rejectionId": rejected["rejectionId"]})
    assert restored == {"restored": 2}
    assert (worktree / "greet.py").read_text() == NEW_GREET
    again = (await editor.pending(sid))[0]["hunks"]
    assert [(h["hunkId"], h["agent"]) for h in again] == [(h["hunkId"], h["agent"]) for h in hunks]
    await editor.wait_event(lambda e: e["kind"] == "pendingChanged")
    # Taken back once only; a bad id is a clear error and the server goes on.
    with pytest.raises(JsonRpcException, match="already undone"):
        await editor.cmd("agentBridge.unreject", {"sessionId": sid, "rejectionId": rejected["rejectionId"]})
    with pytest.raises(JsonRpcException, match="rejectionId"):
        await editor.cmd("agentBridge.unreject", {"sessionId": sid})
    _, tid, _ = await editor.run("@echo-prompt", sessionId=sid)
    assert "REJECTED" not in editor.text_of(tid)


async def test_new_and_deleted_files_apply_as_resource_operations(editor: Editor, repo: Path) -> None:
    prompt = "\n".join([write_directive("pkg/new_module.py", "VALUE = 1\n"), "@delete README.md"])
    sid, _, _ = await editor.run(prompt)
    pending = {p["uri"]: p for p in await editor.pending(sid)}
    assert pending[editor.uri("pkg/new_module.py")]["change"] == "create"
    assert pending[editor.uri("README.md")]["change"] == "delete"
    result = await editor.cmd("agentBridge.apply", {"sessionId": sid})
    assert result == {"applied": 2, "conflicts": []}
    assert editor.text(editor.uri("pkg/new_module.py")) == "VALUE = 1\n"
    assert not (repo / "README.md").exists()
    assert await editor.pending(sid) == []


async def test_refused_edit_changes_nothing(editor: Editor) -> None:
    uri = editor.open("greet.py")
    sid, _, _ = await editor.run(write_directive("greet.py", NEW_GREET))
    editor.refuse_edits = True
    result = await editor.cmd("agentBridge.apply", {"sessionId": sid, "uri": uri})
    assert result["applied"] == 0 and "refused by the test editor" in result["conflicts"][0]["reason"]
    assert len((await editor.pending(sid))[0]["hunks"]) == 2
    assert editor.text(uri) == SAMPLE


async def test_unsaved_buffer_is_part_of_the_base(editor: Editor) -> None:
    uri = editor.open("greet.py", SAMPLE + "# unsaved line\n")
    sid, tid, _ = await editor.run("@read greet.py")
    assert "read 7 lines of greet.py" in editor.text_of(tid)
    assert await editor.pending(sid) == []
    assert editor.text(uri).endswith("# unsaved line\n")


async def test_close_session_removes_worktree_and_keeps_unreviewed_work(editor: Editor, repo: Path) -> None:
    sid, _, _ = await editor.run(write_directive("greet.py", NEW_GREET))
    worktree = Path((await editor.cmd("agentBridge.sessions", {}))[0]["worktree"])
    assert worktree.is_dir()
    assert await editor.cmd("agentBridge.closeSession", {"sessionId": sid}) == {"closed": True}
    assert not worktree.exists()
    assert await editor.cmd("agentBridge.sessions", {}) == []
    archived = git(repo, "show", f"refs/agent-bridge/archive/{sid}:greet.py")
    assert archived == NEW_GREET
    assert f"agent-bridge/{sid}" not in git(repo, "branch", "--list")
    assert git(repo, "status", "--porcelain") == ""


async def test_binary_and_renamed_files_apply(editor: Editor, repo: Path) -> None:
    sid, _, _ = await editor.run("@say setup")
    worktree = Path((await editor.cmd("agentBridge.sessions", {}))[0]["worktree"])
    png = bytes(range(256)) * 4
    (worktree / "logo.bin").write_bytes(png)
    (worktree / "greet.py").rename(worktree / "hello.py")
    await editor.run("@say moved things", sessionId=sid)
    pending = {p["uri"]: p for p in await editor.pending(sid)}
    binary = pending[editor.uri("logo.bin")]
    assert binary["change"] == "create" and binary["binary"] is True and len(binary["hunks"]) == 1
    renamed = pending[editor.uri("hello.py")]
    assert renamed["change"] == "rename" and renamed["oldUri"] == editor.uri("greet.py")

    result = await editor.cmd("agentBridge.apply", {"sessionId": sid})
    assert result == {"applied": 2, "conflicts": []}
    assert (repo / "logo.bin").read_bytes() == png  # binary content goes straight to disk
    assert (repo / "hello.py").read_text() == SAMPLE and not (repo / "greet.py").exists()
    assert await editor.pending(sid) == []


async def test_undo_in_the_editor_makes_applied_hunks_pending_again(editor: Editor) -> None:
    uri = editor.open("greet.py")
    sid, _, _ = await editor.run(write_directive("greet.py", NEW_GREET))
    hunks = (await editor.pending(sid))[0]["hunks"]
    ids = [h["hunkId"] for h in hunks]

    # Through the code action's edit, then undo (the editor goes back to the text it had).
    apply = next(a for a in await editor.code_actions(uri, 0) if a.title.startswith("Apply"))
    changed = asyncio.ensure_future(editor.wait_event(lambda e: e["kind"] == "pendingChanged" and e["hunks"] == 1))
    editor.apply_workspace_edit(apply.edit)  # type: ignore[arg-type]
    await asyncio.wait_for(changed, 10)
    editor.events.clear()
    editor.change(uri, SAMPLE)
    await editor.wait_event(lambda e: e["kind"] == "pendingChanged" and e["hunks"] == 2, timeout=10)
    assert [h["hunkId"] for h in (await editor.pending(sid))[0]["hunks"]] == ids

    # Through the command, then undo.
    result = await editor.cmd("agentBridge.apply", {"sessionId": sid, "uri": uri})
    assert result["applied"] == 2 and await editor.pending(sid) == []
    editor.events.clear()
    editor.change(uri, SAMPLE)
    await editor.wait_event(lambda e: e["kind"] == "pendingChanged" and e["hunks"] == 2, timeout=10)
    assert [h["hunkId"] for h in (await editor.pending(sid))[0]["hunks"]] == ids
    # And it applies again.
    result = await editor.cmd("agentBridge.apply", {"sessionId": sid, "uri": uri})
    assert result == {"applied": 2, "conflicts": []} and editor.text(uri) == NEW_GREET


async def test_diff_gives_base_and_agent_versions(editor: Editor) -> None:
    sid, _, _ = await editor.run(write_directive("greet.py", NEW_GREET) + "\n" + write_directive("new.txt", "n\n"))
    versions = await editor.cmd("agentBridge.diff", {"sessionId": sid, "uri": editor.uri("greet.py")})
    assert versions["baseText"] == SAMPLE and versions["agentText"] == NEW_GREET
    assert versions["change"] == "modify" and versions["binary"] is False
    created = await editor.cmd("agentBridge.diff", {"sessionId": sid, "uri": editor.uri("new.txt")})
    assert created["baseText"] is None and created["agentText"] == "n\n" and created["change"] == "create"
    # Editors escape URIs differently; the same file is found either way.
    escaped = editor.uri("greet.py").replace("/greet.py", "/%67reet.py")
    assert (await editor.cmd("agentBridge.diff", {"sessionId": sid, "uri": escaped}))["agentText"] == NEW_GREET
    error = await editor.cmd_error("agentBridge.diff", {"sessionId": sid})
    assert "'uri' is required" in str(error)
    error = await editor.cmd_error("agentBridge.diff", {"sessionId": sid, "uri": editor.uri("README.md")})
    assert "no pending change for" in str(error)


async def test_pending_gives_live_ranges_for_open_documents(editor: Editor) -> None:
    uri = editor.open("greet.py")
    sid, _, _ = await editor.run(write_directive("greet.py", NEW_GREET))
    editor.change(uri, "# one\n# two\n# three\n" + SAMPLE)
    hunks = (await editor.pending(sid))[0]["hunks"]
    assert [h["range"]["start"]["line"] for h in hunks] == [0, 5]
    assert [h["liveRange"]["start"]["line"] for h in hunks] == [3, 8]


async def test_hunk_appended_at_end_of_file_is_offered_from_the_last_line(editor: Editor) -> None:
    # The insertion point is the line after the last one, where most editors' cursors cannot go.
    uri = editor.open("greet.py")
    sid, _, _ = await editor.run(write_directive("greet.py", SAMPLE + "farewell('you')\n"))
    [hunk] = (await editor.pending(sid))[0]["hunks"]
    last = len(SAMPLE.splitlines()) - 1
    assert hunk["range"]["start"]["line"] == last + 1

    titles = [a.title for a in await editor.code_actions(uri, last)]
    assert any(t.startswith("Apply agent change (scripted: add 1 line)") for t in titles), titles
    assert any(t.startswith("Reject agent change") for t in titles), titles
    assert not any(t.startswith("Apply") for t in [a.title for a in await editor.code_actions(uri, last - 1)])
