"""End to end over stdio: a `# ... AI!` comment offers a code action whose command prompts the default agent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from lsprotocol import types as T

from tests.conftest import SAMPLE
from tests.support.lsp_harness import Editor, start_editor


@pytest.fixture
async def plain_editor(repo: Path, tmp_path: Path) -> AsyncIterator[Editor]:
    """An editor that only knows LSP: it names no agent, so the configured default answers."""
    options = {"defaultAgent": "scripted"}
    ed = await start_editor(repo, tmp_path / "state", tmp_path / "agent.log", init_options=options)
    try:
        yield ed
    finally:
        await ed.client.shutdown_session()


async def test_comment_prompt_runs_through_code_action_and_execute_command(plain_editor: Editor) -> None:
    editor = plain_editor
    # The instruction is the scripted agent's directive, so its answer shows the prompt it received.
    text = SAMPLE.replace("def farewell(name):\n", "def farewell(name):\n    # @echo-prompt AI!\n")
    uri = editor.open("greet.py", text)
    line = text.splitlines().index("    # @echo-prompt AI!")

    actions = await editor.code_actions(uri, line)
    ask = [a for a in actions if a.title.startswith("Ask agent")]
    assert [a.title for a in ask] == ["Ask agent: @echo-prompt"]
    assert ask[0].kind == T.CodeActionKind.QuickFix
    command = ask[0].command
    assert command is not None and command.command == "agentBridge.prompt"
    assert await editor.code_actions(uri, line - 1) == []  # the line above holds no prompt

    started = await editor.cmd(command.command, raw_args=list(command.arguments or []))
    result = await asyncio.wait_for(editor.cmd("agentBridge.awaitTurn", started), 60)
    assert result["status"] == "completed", result
    echoed = editor.text_of(started["turnId"])
    assert "@echo-prompt" in echoed
    assert f"comment in greet.py line {line + 1}; remove that comment as part of your change" in echoed
    # The lines around the comment are the selection (the whole short file, unsaved comment included).
    assert "lines 1-7 of greet.py" in echoed
    assert "def greet(name):" in echoed and "    # @echo-prompt AI!" in echoed
