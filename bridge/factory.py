"""Which backend serves an agent, and the resources backends share across sessions."""

from __future__ import annotations

from pathlib import Path

from backends.acp_backend import AcpBackend
from backends.base import AgentBackend, BackendHost
from bridge.config import AgentConfig
from bridge.editor import BridgeError


class BackendFactory:
    """Builds one backend per (session, agent); owns what they share (none yet for ACP: a process each)."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    def create(self, agent: AgentConfig, host: BackendHost, session_id: str) -> AgentBackend:
        if agent.protocol == "acp":
            stderr_path = self.state_dir / "logs" / f"{session_id}-{agent.name}.stderr.log"
            return AcpBackend(agent.command, agent.env, host, stderr_path)
        raise BridgeError(f"agent {agent.name!r}: the {agent.protocol!r} transport is not available yet")

    def kind(self, agent: AgentConfig) -> str:
        """The backend kind recorded with the agent session (`acp`, `opencode`)."""
        return agent.protocol

    async def close(self) -> None:
        """Stop anything shared (called once at shutdown)."""
        return None
