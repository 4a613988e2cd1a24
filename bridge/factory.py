"""Which backend serves an agent, and the resources backends share across sessions."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from backends.acp.backend import AcpBackend
from backends.base import AgentBackend, BackendHost, McpServer
from backends.opencode.backend import OpencodeBackend
from backends.opencode.server import OpencodeServer
from bridge import __version__
from bridge.config import AgentConfig, BridgeSettings

ServerKey = tuple[tuple[str, ...], tuple[tuple[str, str], ...], tuple[McpServer, ...]]


def server_key(agent: AgentConfig) -> ServerKey:
    """Agents share an opencode server when they run the same command with the same environment.

    opencode reads its providers, credentials and config from the environment once, at start; two agents whose
    environments differ (say, different OPENCODE_CONFIG_CONTENT) need two servers. The model is not part of
    the key: it is chosen per prompt. The MCP servers are: opencode reads them from its config at start too.
    """
    return agent.command, tuple(sorted(agent.env.items())), agent.mcp_servers


class BackendFactory:
    """Builds one backend per (session, agent); owns what they share: the opencode servers."""

    def __init__(self, state_dir: Path, settings: BridgeSettings | None = None) -> None:
        self.state_dir = state_dir
        self.settings = settings or BridgeSettings()
        self.servers: dict[ServerKey, OpencodeServer] = {}

    def create(self, agent: AgentConfig, host: BackendHost, session_id: str) -> AgentBackend:
        if agent.protocol == "opencode":
            return OpencodeBackend(
                self.server_for(agent), host, model=agent.model, stall_timeout=self.settings.opencode_watchdog
            )
        stderr_path = self.state_dir / "logs" / f"{session_id}-{agent.name}.stderr.log"
        return AcpBackend(
            agent.command, agent.env, host, stderr_path, __version__, self.settings.max_agent_log, agent.mcp_servers
        )

    def server_for(self, agent: AgentConfig) -> OpencodeServer:
        """The (lazily started) opencode server an agent's sessions share."""
        key = server_key(agent)
        server = self.servers.get(key)
        if server is None:
            basis = key if key[2] else key[:2]  # without MCP servers: the directory an earlier version used
            digest = hashlib.sha1(json.dumps(basis, default=repr).encode()).hexdigest()[:8]
            server = OpencodeServer(
                agent.command, agent.env, self.state_dir / "opencode" / digest,
                self.state_dir / "logs" / f"opencode-server-{digest}.log",
                log_cap=self.settings.max_agent_log, mcp_servers=agent.mcp_servers,
            )
            self.servers[key] = server
        return server

    def kind(self, agent: AgentConfig) -> str:
        """The backend kind recorded with the agent session (`acp`, `opencode`)."""
        return agent.protocol

    def describe(self, agent: AgentConfig) -> dict[str, Any]:
        """Extra fields for `agentBridge.agents`: an opencode agent's models, once its server has listed them."""
        if agent.protocol != "opencode":
            return {}
        server = self.servers.get(server_key(agent))
        if server is None or not server.running or server.models is None:
            return {}
        return {"models": list(server.models), "model": agent.model or server.default_model}

    async def close(self) -> None:
        """Stop everything shared (called once at shutdown): every opencode server, TERM then KILL."""
        servers, self.servers = list(self.servers.values()), {}
        for server in servers:
            await server.close()
