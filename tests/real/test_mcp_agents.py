"""End to end with real agents: an MCP server configured once for an agent (its `mcpServers`) reaches it.

claude-agent-acp and qwen-code get it through ACP session/new, opencode through its own config (`mcp`). The
server is ``tests/support/mcp_probe.py`` (one tool, `probe_ping`); the agents' model is the scripted LLM. Each
test checks that the agent started the server and offered its tool to the model, then has the model call the
tool: the bridge's permission policy asks the user (answered Allow) and the server's answer reaches the model.

A missing agent skips, unless ``AGENT_BRIDGE_REQUIRE_REAL_AGENTS`` is set (CI sets it): then it fails.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.real.test_acp_agents import (
    AGENTS,
    TURN_TIMEOUT,
    diagnostics,
    real_editor,
    require_agent,
    script,
    tool_results,
)
from tests.support import REPO_ROOT
from tests.support.lsp_harness import Editor, make_repo, start_editor
from tests.support.real_agents import OPENCODE_MODEL, agent_env
from tests.support.scripted_llm import ScriptedLLM

pytestmark = [pytest.mark.real_agent, pytest.mark.timeout(120)]

PROBE = REPO_ROOT / "tests" / "support" / "mcp_probe.py"
PONG = "pong-from-probe"
def probe_servers(log: Path) -> list[dict[str, Any]]:
    return [{"name": "probe", "command": sys.executable, "args": [str(PROBE), "--log", str(log)]}]


def probe_methods(log: Path) -> list[str]:
    """What the agent asked the probe server (empty when it never started it)."""
    lines = log.read_text().splitlines() if log.exists() else []
    return [json.loads(line).get("method", "") for line in lines]


def offered_tool(llm: ScriptedLLM) -> tuple[str | None, bool]:
    """The probe's tool as the agent offered it to the model: (its name, whether it was deferred).

    A deferred tool is named in the system prompt (qwen-code lists MCP tools under "Deferred Tools") without a
    schema; the model loads it with the agent's `tool_search` tool before it can call it.
    """
    conversations = [r.conversation for r in llm.model_requests() if r.conversation and r.conversation.tools]
    for conv in conversations:
        for name in conv.tools:
            if "probe_ping" in name:
                return name, False
    for conv in conversations:
        deferred = conv.system.partition("## Deferred Tools")[2]
        if found := re.search(r'^- "([^"]*probe_ping[^"]*)"', deferred, re.MULTILINE):
            return found.group(1), True
    return None, False


async def offer_then_call(editor: Editor, llm: ScriptedLLM, agent: str, log: Path) -> None:
    """Turn 1: the model is offered the probe's tool. Turn 2: the model calls it; the user is asked and allows;
    the server's answer comes back to the model."""
    sid, tid, result = await editor.run(script("@say listed"), timeout=TURN_TIMEOUT, agent=agent)
    assert result["status"] == "completed", f"{result}\n{diagnostics(editor)}"
    tool, deferred = offered_tool(llm)
    offered = {name for r in llm.model_requests() if r.conversation for name in r.conversation.tools}
    assert tool, (
        f"{agent} offered no probe tool; the probe was asked {probe_methods(log)}; tools: {sorted(offered)}"
        f"\n{diagnostics(editor)}"
    )
    assert {"initialize", "tools/list"} <= set(probe_methods(log)), probe_methods(log)
    print(f"{agent}: the MCP tool is offered as {tool}{' (deferred)' if deferred else ''}")

    llm.clear()
    editor.answers = ["Allow"]
    load = [f"@tool tool_search {json.dumps({'query': f'select:{tool}'})}"] if deferred else []
    _, tid, result = await editor.run(
        script(*load, f"@tool {tool} {{}}", "@say pinged"), timeout=TURN_TIMEOUT, agent=agent, sessionId=sid
    )
    assert result["status"] == "completed", f"{result}\n{diagnostics(editor)}"
    assert "pinged" in editor.text_of(tid)
    assert "tools/call" in probe_methods(log), (probe_methods(log), diagnostics(editor))
    results = [t for r in llm.model_requests() for t in tool_results(r.body)]
    assert any(PONG in t for t in results), (results, diagnostics(editor))
    # An MCP tool goes through the bridge's permission policy: the user was asked, and allowed it.
    assert len(editor.questions) == 1, editor.questions
    # qwen-code titles the request with the call's arguments only ("{}"); the question then names the tool through
    # the agent's own option names.
    assert "probe_ping" in editor.questions[0], editor.questions
    asked = [e for e in editor.events if e["kind"] == "permission" and e.get("turnId") == tid]
    assert [e["outcome"] for e in asked] == ["asking", "allowed"], asked


@pytest.mark.parametrize("name", sorted(AGENTS))
async def test_real_acp_agent_gets_the_configured_mcp_server(name: str, tmp_path: Path) -> None:
    log = tmp_path / "probe.log"
    async with real_editor(name, tmp_path, {"mcpServers": probe_servers(log)}) as (editor, llm, _, _):
        await offer_then_call(editor, llm, name, log)


async def test_real_opencode_gets_the_configured_mcp_server(tmp_path: Path) -> None:
    cmd = require_agent("opencode")
    repo = make_repo(tmp_path / "project", {"README.md": "# project\n"})
    log = tmp_path / "probe.log"
    with ScriptedLLM() as llm:
        agent = {
            "protocol": "opencode",
            "command": cmd,
            "model": OPENCODE_MODEL,
            "env": agent_env("opencode", llm.base_url, tmp_path / "agent-home"),
            "mcpServers": probe_servers(log),
        }
        options = {"agents": {"opencode": agent}, "defaultAgent": "opencode"}
        editor = await start_editor(repo, tmp_path / "state", tmp_path / "agent.log", init_options=options)
        try:
            await offer_then_call(editor, llm, "opencode", log)
        finally:
            await editor.client.shutdown_session()
