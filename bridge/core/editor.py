"""What the core needs from the editor side, so sessions and turns never import the LSP server."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol


class BridgeError(Exception):
    """A request the bridge cannot carry out; the message is shown to the user as is."""


class UnknownSession(BridgeError):
    def __init__(self, session_id: str) -> None:
        super().__init__(f"unknown session {session_id!r} (see agentBridge.sessions for open sessions)")


class UnknownTurn(BridgeError):
    def __init__(self, session_id: str, turn_id: str) -> None:
        super().__init__(f"unknown turn {turn_id!r} in session {session_id!r}")


class Editor(Protocol):
    """The editor as the core sees it. The LSP server implements it; tests and the demo can too."""

    def notify_event(self, payload: dict[str, Any]) -> None:
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
