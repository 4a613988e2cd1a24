"""End to end over stdio, as an editor with nothing but an LSP client: a prompt without `sessionId` continues
the workspace's latest session (its agent still warm)."""

from __future__ import annotations

from tests.support.lsp_harness import Editor


def methods(editor: Editor, method: str) -> list[dict[str, object]]:
    return [e for e in editor.agent_log_lines() if e["method"] == method]


async def test_prompts_without_a_session_continue_the_latest_one_with_its_warm_agent(editor: Editor) -> None:
    sid, _, first = await editor.run("@write notes.txt\nfirst\n@end")
    again, tid, second = await editor.run("@cat notes.txt")
    assert again == sid and first["status"] == second["status"] == "completed"
    assert "<<<first\n>>>" in editor.text_of(tid)  # the second turn works in the first one's worktree
    assert len(methods(editor, "session/new")) == 1
    prompts = methods(editor, "session/prompt")
    assert len(prompts) == 2 and prompts[0]["pid"] == prompts[1]["pid"]

    other, _, _ = await editor.run("@say a fresh start", newSession=True)
    assert other != sid and len(methods(editor, "session/new")) == 2
    # The latest session is now the new one; naming the older one makes it the latest again.
    assert (await editor.run("@say still here"))[0] == other
    await editor.run("@say back to the first", sessionId=sid)
    assert (await editor.run("@say and on"))[0] == sid
    assert len(methods(editor, "session/new")) == 2


async def test_a_prompt_after_closing_the_session_starts_a_new_one(editor: Editor) -> None:
    sid, _, _ = await editor.run("@say one")
    assert await editor.cmd("agentBridge.closeSession", {"sessionId": sid}) == {"closed": True}
    after, _, result = await editor.run("@say two")
    assert after != sid and result["status"] == "completed"
    assert [s["sessionId"] for s in await editor.cmd("agentBridge.sessions", {})] == [after]
    assert len(methods(editor, "session/new")) == 2


async def test_new_session_with_a_session_id_is_a_clear_error(editor: Editor) -> None:
    sid, _, _ = await editor.run("@say one")
    error = await editor.cmd_error("agentBridge.prompt", {"text": "x", "sessionId": sid, "newSession": True})
    assert "'newSession' and 'sessionId' exclude each other" in str(error)
    assert (await editor.run("@say still serving"))[0] == sid
