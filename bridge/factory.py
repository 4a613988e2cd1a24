"""Which backend serves an agent, and the resources backends share across sessions."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from backends import sandbox
from backends.acp.backend import AcpBackend
from backends.base import AgentBackend, BackendHost, McpServer
from backends.opencode.backend import OpencodeBackend
from backends.opencode.server import OpencodeServer
from bridge import __version__
from bridge.config import AgentConfig, BridgeSettings

ServerKey = tuple[tuple[str, ...], tuple[tuple[str, str], ...], tuple[McpServer, ...]]

log = logging.getLogger(__name__)


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
        self._warming: set[asyncio.Task[None]] = set()
        self._probe: asyncio.Task[str | None] | None = None

    def create(
        self, agent: AgentConfig, host: BackendHost, session_id: str, git_dir: Path | None = None,
        repo_root: Path | None = None,
    ) -> AgentBackend:
        spec = self.sandbox_spec(agent, git_dir, repo_root) if agent.sandboxed else None
        if agent.protocol == "opencode":
            if spec is not None:
                # opencode's tools write into whichever `?directory=` a request names: a server shared by
                # sessions would have to see every one of their worktrees. Sandboxed, each session gets a
                # server of its own that sees its worktree only, and stops with it.
                server = OpencodeServer(
                    agent.command, agent.env, host.worktree,
                    self.state_dir / "logs" / f"{session_id}-{agent.name}.opencode.log",
                    log_cap=self.settings.max_agent_log, mcp_servers=agent.mcp_servers, sandbox=spec,
                )
                return OpencodeBackend(
                    server, host, model=agent.model, stall_timeout=self.settings.opencode_watchdog, owns_server=True
                )
            return OpencodeBackend(
                self.server_for(agent), host, model=agent.model, stall_timeout=self.settings.opencode_watchdog
            )
        stderr_path = self.state_dir / "logs" / f"{session_id}-{agent.name}.stderr.log"
        return AcpBackend(
            agent.command, agent.env, host, stderr_path, __version__, self.settings.max_agent_log, agent.mcp_servers,
            sandbox=spec,
        )

    def sandbox_spec(self, agent: AgentConfig, git_dir: Path | None, repo_root: Path | None) -> sandbox.SandboxSpec:
        """What a sandboxed agent of one session may see: its worktree (the host says which) writable, the
        repository's git dir (git's admin dir for the worktree included) read-only; never the bridge's state dir
        or the user's checkout."""
        # git's admin dir is <common dir>/worktrees/<name>, found from the repository's records by the session.
        common = git_dir.parent.parent if git_dir is not None and git_dir.parent.name == "worktrees" else None
        hide = [self.state_dir.absolute()] + ([repo_root.absolute()] if repo_root is not None else [])
        return sandbox.SandboxSpec(
            home=(self.state_dir / "sandbox" / agent.name / "home").absolute(), git_dir=git_dir, common_dir=common,
            hide=tuple(hide), extra=agent.sandbox_paths,
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

    def prewarm(self, agent: AgentConfig) -> None:
        """opencode's server takes seconds to start: started when an editor attaches, the first prompt finds it
        ready. An ACP agent's process belongs to one session's worktree, so it starts with that session."""
        if self._probe is None:  # whether sandboxes can be made here, found off the event loop (then cached)
            self._probe = asyncio.create_task(asyncio.to_thread(sandbox.problem))
        if agent.protocol != "opencode" or agent.sandboxed:  # a sandboxed opencode's server is its session's
            return
        server = self.server_for(agent)
        if server.running:
            return
        task = asyncio.create_task(server.ensure())
        self._warming.add(task)

        def done(task: asyncio.Task[None]) -> None:
            self._warming.discard(task)
            if not task.cancelled() and task.exception() is not None:
                # The first turn starts it again and reports why it cannot.
                log.info("starting opencode ahead of the first prompt failed: %s", task.exception())

        task.add_done_callback(done)

    def kind(self, agent: AgentConfig) -> str:
        """The backend kind recorded with the agent session (`acp`, `opencode`)."""
        return agent.protocol

    def describe(self, agent: AgentConfig) -> dict[str, Any]:
        """Extra fields for `agentBridge.agents`: whether it is sandboxed and whether sandboxes can be made here
        (probed once per process), and an opencode agent's models, once its server has listed them."""
        fields: dict[str, Any] = {"sandbox": agent.sandboxed, "sandbox_problem": sandbox.problem()}
        if agent.protocol != "opencode":
            return fields
        server = self.servers.get(server_key(agent))
        if server is None or not server.running or server.models is None:
            return fields
        return {**fields, "models": list(server.models), "model": agent.model or server.default_model}

    async def close(self) -> None:
        """Stop everything shared (called once at shutdown): every opencode server, TERM then KILL."""
        for task in list(self._warming):
            task.cancel()
        servers, self.servers = list(self.servers.values()), {}
        for server in servers:
            await server.close()
