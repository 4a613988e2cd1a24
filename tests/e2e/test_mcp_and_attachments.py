"""End to end over LSP: configured MCP servers reach the agent, MCP tools meet the permission policy, and
prompt attachments arrive as the user sees them."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types as T

from tests.support import REPO_ROOT
from tests.support.lsp_harness import Editor, start_editor

MCP_AGENT = [sys.executable, str(REPO_ROOT / "tests" / "support" / "mcp_agent.py")]
STDIO = {"name": "fs", "command": "/bin/true", "args": ["--root", "."], "env": {"TOKEN": "t"}}
STDIO_ACP = {"name": "fs", "command": "/bin/true", "args": ["--root", "."], "env": [{"name": "TOKEN", "value": "t"}]}
HTTP = {"type": "http", "name": "web", "url": "http://127.0.0.1:9/mcp"}


def logged(ed: Editor, method: str) -> list[list[dict[str, Any]]]:
    return [e["mcpServers"] for e in ed.agent_log_lines() if e["method"] == method]


async def test_mcp_servers_reach_session_new_and_load_and_a_change_restarts_the_agent(
    repo: Path, tmp_path: Path
) -> None:
    options = {"agents": {"scripted": {"mcpServers": [STDIO, HTTP]}}, "settings": {"maxLiveAgents": 1}}
    ed = await start_editor(repo, tmp_path / "state", tmp_path / "agent.log", init_options=options)
    try:
        s1, _, result = await ed.run("@say one")
        assert result["status"] == "completed"
        # The scripted agent declares no HTTP transport: that server is left out, and the user is told.
        assert logged(ed, "session/new") == [[STDIO_ACP]]
        [notice] = [e for e in ed.events if e["kind"] == "notice" and e["sessionId"] == s1]
        assert "left out: web (http)" in notice["message"]
        # Evicted by a second session, then resumed: session/load gets the servers too.
        await ed.run("@say two", newSession=True)
        _, _, result = await ed.run("@say one again", sessionId=s1)
        assert result["status"] == "completed" and logged(ed, "session/load") == [[STDIO_ACP]]
        # The user changes the servers: the warm agent restarts with them, its conversation resumed.
        other = {"name": "other", "command": "/bin/false"}
        ed.client.workspace_did_change_configuration(T.DidChangeConfigurationParams(
            settings={"agentBridge": {"agents": {"scripted": {"mcpServers": [other]}}}}
        ))
        _, _, result = await ed.run("@say with other servers", sessionId=s1)
        assert result["status"] == "completed"
        assert logged(ed, "session/load")[-1] == [{"name": "other", "command": "/bin/false", "args": [], "env": []}]
    finally:
        await ed.client.shutdown_session()


@pytest.mark.parametrize(("kind", "answer", "outcome"), [("other", "Reject", "no"), ("fetch", "Allow", "yes")])
async def test_an_mcp_tool_call_is_asked_about(
    repo: Path, tmp_path: Path, kind: str, answer: str, outcome: str
) -> None:
    log = tmp_path / "mcp.log"
    agent = {"command": MCP_AGENT, "env": {"MCP_AGENT_LOG": str(log), "MCP_AGENT_KIND": kind},
             "mcpServers": [{"name": "lookup", "command": "/bin/true"}]}
    ed = await start_editor(repo, tmp_path / "state", tmp_path / "agent.log", init_options={"agents": {"mcp": agent}})
    try:
        ed.answers = [answer]
        _, tid, result = await ed.run("look it up", agent="mcp")
        assert result["status"] == "completed"
        [question] = ed.questions
        assert "mcp__lookup__lookup" in question
        assert ed.text_of(tid) == f"mcp tool: {outcome}"
        asked, answered = [e for e in ed.events if e["kind"] == "permission"]
        assert asked["outcome"] == "asking" and asked["permissionKind"] == kind
        assert answered["outcome"] == {"yes": "allowed", "no": "rejected"}[outcome]
        assert json.loads(log.read_text().splitlines()[0])["mcpServers"][0]["name"] == "lookup"
    finally:
        await ed.client.shutdown_session()


def worktree(tmp_path: Path, sid: str) -> Path:
    return tmp_path / "state" / "worktrees" / sid


async def test_attachments_arrive_as_resources_with_the_unsaved_buffer(repo: Path, tmp_path: Path) -> None:
    ed = await start_editor(repo, tmp_path / "state", tmp_path / "agent.log")
    try:
        buffer = "line one\nline two\nline three\n"
        uri = ed.open("greet.py", buffer)  # unsaved: the file on disk says something else
        readme = ed.uri("README.md")
        selection = {"start": {"line": 1, "character": 0}, "end": {"line": 2, "character": 0}}
        sid, tid, result = await ed.run(
            "@echo-prompt", attachments=[{"uri": uri, "range": selection}, {"uri": readme}]
        )
        assert result["status"] == "completed"
        wt = worktree(tmp_path, sid)
        echoed = ed.text_of(tid)
        assert "The user attached: greet.py (line 2); README.md." in echoed
        assert f"<resource uri={(wt / 'greet.py').as_uri()}>\nline two\n\n</resource>" in echoed
        assert f"<resource uri={(wt / 'README.md').as_uri()}>\n# project\n\n</resource>" in echoed
        assert (wt / "greet.py").read_text() == buffer  # the copy the URI names holds what the user sees
    finally:
        await ed.client.shutdown_session()


async def test_bad_attachments_are_refused_and_nothing_starts(repo: Path, tmp_path: Path) -> None:
    ed = await start_editor(repo, tmp_path / "state", tmp_path / "agent.log")
    try:
        elsewhere = tmp_path / "elsewhere.txt"
        elsewhere.write_text("not yours\n")
        cases = {
            elsewhere.as_uri(): "is outside the session's repository",
            ed.uri("missing.py"): "no such file",
        }
        for uri, needle in cases.items():
            error = await ed.cmd_error("agentBridge.prompt", {"text": "@echo-prompt", "attachments": [{"uri": uri}]})
            assert needle in str(error) and "cannot attach" in str(error)
        error = await ed.cmd_error("agentBridge.prompt", {"text": "x", "attachments": [{"url": "file:///a"}]})
        assert "'attachments[0]': unknown field(s) url" in str(error)
        assert await ed.cmd("agentBridge.sessions", {}) == []  # no session was created for them
        _, tid, result = await ed.run("@say still fine")
        assert result["status"] == "completed" and ed.text_of(tid) == "still fine\n"
        assert "not yours" not in json.dumps(ed.events)
    finally:
        await ed.client.shutdown_session()


async def test_an_agent_without_embedded_context_gets_links(repo: Path, tmp_path: Path) -> None:
    env = {"SCRIPTED_AGENT_NO_EMBEDDED_CONTEXT": "1"}
    ed = await start_editor(repo, tmp_path / "state", tmp_path / "agent.log", extra_env=env)
    try:
        uri = ed.open("greet.py", "unsaved\n")
        sid, tid, result = await ed.run("@echo-prompt", attachments=[{"uri": uri}])
        assert result["status"] == "completed"
        wt = worktree(tmp_path, sid)
        echoed = ed.text_of(tid)
        assert f"<resource_link uri={(wt / 'greet.py').as_uri()}>" in echoed and "<resource uri" not in echoed
        assert (wt / "greet.py").read_text() == "unsaved\n"  # what the agent reads through the link
    finally:
        await ed.client.shutdown_session()
