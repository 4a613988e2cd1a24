"""Every error the bridge raises on purpose, in one tree.

    BridgeError                      a request the bridge cannot carry out; the message is shown as is
    ├── InvalidArguments             a command argument does not match the contract   -> InvalidParams
    ├── UnknownSession               no such session                                   -> InvalidParams
    ├── UnknownTurn                  no such turn in that session                      -> RequestFailed
    ├── GitError                     a git command failed (command, stderr, exit code) -> RequestFailed
    │   └── NotAGitRepository        the workspace is not inside a git working tree
    ├── PathEscapesWorktree          an agent named a path outside its worktree
    ├── MergeConflict                the user's text and the agent's change touch the same lines
    └── PlanConflict                 a pending change cannot be applied to what the user has now
                                     (anything else)                                   -> RequestFailed

Agents' errors are the backends' own tree (`backends.base.BackendError`): the backends translate their
transport's and SDK's errors into it where the transport starts, and the core turns them into a failed turn
or a BridgeError. The LSP layer maps this tree to JSON-RPC errors in one place (`bridge.lsp.errors`).
"""

from __future__ import annotations

from collections.abc import Sequence


class BridgeError(Exception):
    """A request the bridge cannot carry out; the message is shown to the user as is."""


class InvalidArguments(BridgeError, ValueError):
    """A command argument does not match the contract; nothing changed state."""


class UnknownSession(BridgeError):
    def __init__(self, session_id: str) -> None:
        super().__init__(f"unknown session {session_id!r} (see agentBridge.sessions for open sessions)")
        self.session_id = session_id


class UnknownTurn(BridgeError):
    def __init__(self, session_id: str, turn_id: str) -> None:
        super().__init__(f"unknown turn {turn_id!r} in session {session_id!r}")
        self.session_id = session_id
        self.turn_id = turn_id


class GitError(BridgeError):
    """A git command failed; the message names the command and carries its stderr."""

    def __init__(self, message: str, args: Sequence[str] = (), stderr: str = "", returncode: int | None = None) -> None:
        super().__init__(message)
        self.command = list(args)
        self.stderr = stderr
        self.returncode = returncode


class NotAGitRepository(GitError):
    """The path is not inside a git working tree."""


class PathEscapesWorktree(BridgeError, ValueError):
    """An agent named a path outside the session's worktree (or inside git's metadata)."""

    def __init__(self, path: str, worktree: object) -> None:
        super().__init__(f"path {path!r} is outside the session worktree {str(worktree)!r}; refused")
        self.path = path
        self.worktree = worktree


class MergeConflict(BridgeError):
    """The user's live text and the agent's change touch the same lines."""


class CannotUnreject(BridgeError):
    """A rejection cannot be taken back: unknown, already undone, or its files changed since."""


class PlanConflict(BridgeError):
    """A pending change cannot be applied to what the user has now (reported per file, not raised to editors)."""
