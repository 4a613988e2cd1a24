"""An ACP agent (on the SDK) that uses the MCP servers it is given the way real agents do.

At session/new and session/load it starts every stdio MCP server it was handed (its command, args and env, as
claude-agent-acp or gemini would) and records the servers in ``MCP_AGENT_LOG`` (one JSON line per session).
Each prompt then calls one tool of the first server: it asks the client's permission for a tool call of kind
``MCP_AGENT_KIND`` (default ``other``) titled ``mcp__<server>__lookup``, and answers with the outcome. So a
bridge that passes a server it should not have runs that server's command; one that lets an MCP tool past its
permission policy is seen in the outcome.

Run as ``python tests/support/mcp_agent.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from typing import Any, cast

import acp
from acp.schema import (
    AgentCapabilities,
    InitializeResponse,
    LoadSessionResponse,
    McpCapabilities,
    McpServerStdio,
    NewSessionResponse,
    PermissionOption,
    PromptResponse,
    ToolCallUpdate,
)


class McpAgent:
    def __init__(self) -> None:
        self._conn: acp.Client | None = None
        self._servers: dict[str, list[Any]] = {}
        self._children: list[asyncio.subprocess.Process] = []

    def on_connect(self, conn: acp.Client) -> None:
        self._conn = conn

    async def initialize(self, protocol_version: int, **kwargs: Any) -> InitializeResponse:
        return InitializeResponse(
            protocol_version=acp.PROTOCOL_VERSION,
            agent_capabilities=AgentCapabilities(load_session=True, mcp_capabilities=McpCapabilities(http=True)),
        )

    async def _use(self, session_id: str, method: str, servers: list[Any]) -> None:
        self._servers[session_id] = servers
        record = {"method": method, "mcpServers": [s.model_dump(by_alias=True, exclude_none=True) for s in servers]}
        with open(os.environ["MCP_AGENT_LOG"], "a", encoding="utf-8") as log:
            log.write(json.dumps(record) + "\n")
        for server in servers:
            if isinstance(server, McpServerStdio):
                env = {**os.environ, **{e.name: e.value for e in server.env}}
                child = await asyncio.create_subprocess_exec(server.command, *server.args, env=env)
                await child.wait()  # a real MCP server would stay; these tests' servers do their thing and exit
                self._children.append(child)

    async def new_session(self, cwd: str, mcp_servers: list[Any] | None = None, **kwargs: Any) -> NewSessionResponse:
        session_id = f"mcp-{uuid.uuid4().hex[:8]}"
        await self._use(session_id, "session/new", mcp_servers or [])
        return NewSessionResponse(session_id=session_id)

    async def load_session(
        self, cwd: str, session_id: str, mcp_servers: list[Any] | None = None, **kwargs: Any
    ) -> LoadSessionResponse:
        await self._use(session_id, "session/load", mcp_servers or [])
        return LoadSessionResponse()

    async def prompt(self, session_id: str, prompt: list[Any], **kwargs: Any) -> PromptResponse:
        assert self._conn is not None
        servers = self._servers.get(session_id) or []
        name = servers[0].name if servers else "none"
        call = ToolCallUpdate(
            tool_call_id="mcp-1", title=f"mcp__{name}__lookup", kind=os.environ.get("MCP_AGENT_KIND", "other"),
            status="pending", raw_input={"query": "the user's secrets"},
        )
        options = [PermissionOption(option_id="yes", name="Allow", kind="allow_once"),
                   PermissionOption(option_id="no", name="Reject", kind="reject_once")]
        answer = await self._conn.request_permission(session_id=session_id, tool_call=call, options=options)
        chosen = getattr(answer.outcome, "option_id", None) or answer.outcome.outcome
        await self._conn.session_update(session_id, acp.update_agent_message_text(f"mcp tool: {chosen}"))
        return PromptResponse(stop_reason="end_turn")


if __name__ == "__main__":
    asyncio.run(acp.run_agent(cast(acp.Agent, McpAgent())))
