"""End to end: a client without our extension (no experimental `agentBridge.events`, as eglot, Helix, Zed or Kate)
follows a turn through plain LSP messages: the streamed text in `window/logMessage`, the answer and the changes
waiting for review in `window/showMessage` when the turn ends. A client that declares the capability gets the
events and no such message."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from lsprotocol import types as T

from tests.support.lsp_harness import Editor, start_editor

SCRIPT = "\n".join([
    "@say Looking at the project.",
    "@write notes.txt", "a note", "@end",
    "@say Wrote the note.",
    "@say All done.",
])


@pytest.fixture
async def plain(repo: Path, tmp_path: Path) -> AsyncIterator[Editor]:
    ed = await start_editor(repo, tmp_path / "state", tmp_path / "agent.log", plain=True)
    try:
        yield ed
    finally:
        await ed.client.shutdown_session()


async def shown(editor: Editor, count: int = 1) -> list[T.ShowMessageParams]:
    """The `window/showMessage`s from the agent, once `count` have come."""
    async with asyncio.timeout(10):
        while True:
            said = [m for m in editor.client.messages if m.message.startswith("scripted: ")]
            if len(said) >= count:
                return said
            await asyncio.sleep(0.05)


async def until(ready: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while True:
            if ready():
                return
            await asyncio.sleep(0.05)


def logged(editor: Editor) -> list[str]:
    return [m.message for m in editor.client.log_messages if m.message.startswith("scripted: ")]


async def test_a_plain_client_gets_the_answer_and_the_pending_count_as_a_message(plain: Editor) -> None:
    _, _, result = await plain.run(SCRIPT)
    assert result["status"] == "completed", result
    [message] = await shown(plain)
    assert message.type == T.MessageType.Info
    assert message.message == (
        "scripted: Looking at the project.\nWrote the note.\nAll done."
        " — 1 pending change: use code actions to apply or reject"
    )
    # The streamed text, a line or a thought at a time (never one message per delta), in order.
    text = logged(plain)
    assert "\n".join(line.removeprefix("scripted: ") for line in text).split("\n") == [
        "Looking at the project.", "Wrote the note.", "All done."
    ]
    assert len(text) <= 3
    assert plain.events == []  # no `agentBridge/event`: such a client would drop or warn about each one


async def test_a_plain_client_is_told_of_a_failed_turn_as_an_error(plain: Editor) -> None:
    _, _, result = await plain.run("@say starting\n@crash")
    assert result["status"] == "failed", result
    [message] = await shown(plain)
    assert message.type == T.MessageType.Error
    assert message.message.startswith("scripted: the turn failed: ")
    assert message.message.endswith("starting")


async def test_a_long_answer_is_cut_to_its_end_in_the_message(plain: Editor) -> None:
    words = " ".join(f"w{i}" for i in range(600))  # about 3,900 characters on one line
    await plain.run(f"@say {words}\n@say The end.")
    [message] = await shown(plain)
    assert message.message.startswith("scripted: …") and message.message.endswith("The end.")
    assert len(message.message) <= len("scripted: …") + 1_000
    assert logged(plain)[0].startswith(f"scripted: {words}\n")  # the log has it all


async def test_a_client_that_declares_events_gets_them_and_no_message(editor: Editor) -> None:
    _, tid, _ = await editor.run(SCRIPT)
    assert editor.kinds(tid)[0] == "turnStarted" and "turnEnded" in editor.kinds(tid)
    assert "All done." in editor.text_of(tid)
    await asyncio.sleep(0.2)
    assert [m for m in editor.client.messages if m.message.startswith("scripted: ")] == []
    assert logged(editor) == []


async def test_show_transcript_writes_the_conversation_and_asks_the_client_to_open_it(
    plain: Editor, tmp_path: Path
) -> None:
    sid, _, _ = await plain.run(SCRIPT)
    await plain.run("@run echo from-the-second-turn\n@say Second answer.", sessionId=sid)
    result = await plain.cmd("agentBridge.showTranscript", {"sessionId": sid})
    path = tmp_path / "state" / "transcripts" / f"{sid}.md"
    assert result == {"uri": path.as_uri()}
    text = path.read_text()
    assert text.startswith(f"# Agent session {sid}\n")
    first, second = text.split("\n## ")[1:]
    assert first.startswith("1. scripted: completed")
    assert "> @say Looking at the project." in first and "All done." in first
    assert "(edit, completed)" in first
    assert second.startswith("2. scripted: completed") and "Second answer." in second
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    await until(lambda: bool(plain.client.shown_documents))  # the command does not wait for the client
    [shown] = plain.client.shown_documents
    assert shown.uri == path.as_uri() and shown.take_focus is True


async def test_show_transcript_of_an_unknown_session_is_an_error(plain: Editor, tmp_path: Path) -> None:
    error = await plain.cmd_error("agentBridge.showTranscript", {"sessionId": "../../etc/passwd"})
    assert "passwd" in str(error)
    assert not (tmp_path / "state" / "transcripts").exists()
    assert plain.client.shown_documents == []
