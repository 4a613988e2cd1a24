"""End to end over stdio, as an editor with nothing but an LSP client: a prompt without `sessionId` continues
the workspace's latest session (its agent still warm), and the notifications such clients always send
(`workspace/didChangeConfiguration`, `textDocument/didSave`) are handled without a warning."""

from __future__ import annotations

from lsprotocol import types as T

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


async def test_did_save_and_did_change_configuration_log_no_warning(editor: Editor) -> None:
    uri = editor.open("greet.py")
    await editor.run("@say warm")
    # What eglot sends: its default settings ({}) or none at all, and didSave after every save.
    for settings in ({}, None):
        editor.client.workspace_did_change_configuration(T.DidChangeConfigurationParams(settings=settings))
    editor.change(uri, "def greet(name):\n    return name\n")
    editor.save(uri)
    editor.client.text_document_did_save(T.DidSaveTextDocumentParams(T.TextDocumentIdentifier(uri)))
    editor.client.text_document_did_save(
        T.DidSaveTextDocumentParams(T.TextDocumentIdentifier(uri), text=editor.text(uri))
    )
    assert len(await editor.cmd("agentBridge.sessions", {})) == 1  # answered after the notifications
    _, tid, result = await editor.run("@cat greet.py")
    assert result["status"] == "completed" and "<<<def greet(name):\n    return name\n>>>" in editor.text_of(tid)
    logged = (editor.state_dir / "bridge.log").read_text()
    warnings = [line for line in logged.splitlines() if " WARNING " in line or " ERROR " in line]
    assert warnings == [], warnings


async def test_the_server_advertises_save_without_text(editor: Editor) -> None:
    assert editor.server_capabilities is not None
    sync = editor.server_capabilities.text_document_sync
    assert isinstance(sync, T.TextDocumentSyncOptions), sync
    assert isinstance(sync.save, T.SaveOptions) and not sync.save.include_text
