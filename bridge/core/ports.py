"""What the core needs from outside it, as protocols: the editor it reports to and the factory of agent
backends. The LSP layer implements the first, the composition root passes a concrete second; tests pass
their own of either, so the core runs in-process without a server or an agent."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from backends.base import AgentBackend, BackendHost
from bridge.config import AgentConfig
from bridge.protocol import Event


class Editor(Protocol):
    """The editor as the core sees it. The LSP server implements it; tests and the demo can too."""

    def notify_event(self, event: Event) -> None:
        """Send one `agentBridge/event` notification."""
        ...

    async def progress_begin(self, turn_id: str, title: str) -> None: ...

    def progress_report(self, turn_id: str, message: str) -> None: ...

    def progress_end(self, turn_id: str, message: str) -> None: ...

    async def ask(self, message: str, actions: list[str]) -> str | None:
        """Ask the user; the chosen action's title, or None if dismissed."""
        ...

    def pending_changed(self, session_id: str) -> None:
        """Pending hunks changed: refresh diagnostics, code lenses and the like."""
        ...

    def unsaved_texts(self, repo_root: Path) -> dict[str, str]:
        """Texts of open documents under `repo_root` (repo-relative path -> text), saved or not."""
        ...

    def log(self, message: str, error: bool = False) -> None: ...


class BackendFactory(Protocol):
    """Builds one warm backend per (session, agent) and owns what backends share (e.g. opencode servers)."""

    def create(
        self, agent: AgentConfig, host: BackendHost, session_id: str, git_dir: Path | None = None,
        repo_root: Path | None = None,
    ) -> AgentBackend:
        """`git_dir` (git's admin dir for the session worktree) and `repo_root` (the user's checkout) say what a
        sandboxed agent may read (git's records of its worktree) and what it must not see."""
        ...

    def kind(self, agent: AgentConfig) -> str:
        """The backend kind recorded with the agent session (`acp`, `opencode`)."""
        ...

    def prewarm(self, agent: AgentConfig) -> None:
        """Start, in the background, what the agent's first turn would otherwise wait for (opencode: its shared
        server); a failure is left for that turn to report."""
        ...

    def describe(self, agent: AgentConfig) -> dict[str, Any]:
        """Extra fields for `agentBridge.agents` (e.g. an opencode agent's models)."""
        ...

    async def close(self) -> None:
        """Stop everything shared, once, at shutdown."""
        ...
