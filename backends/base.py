"""The one small async interface every agent transport implements, and what the bridge offers it back."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from backends.events import AgentEvent, TurnOutcome

OptionKind = Literal["allow_once", "allow_always", "reject_once", "reject_always"]


class BackendError(Exception):
    """An agent backend could not do what was asked."""


class AgentStartError(BackendError):
    """The agent process could not be started or did not complete its handshake."""


class AgentCrashed(BackendError):
    """The agent process exited or its connection broke while the bridge needed it."""


class PathRefused(BackendError):
    """The bridge refused a path an agent named (outside its worktree, or git's metadata)."""


@dataclass(frozen=True)
class TextPart:
    text: str


@dataclass(frozen=True)
class ResourcePart:
    """A file (or a selection of one) given to the agent as context."""

    uri: str
    text: str
    mime_type: str = "text/plain"


@dataclass(frozen=True)
class ResourceLinkPart:
    """A file given as a link only, for agents that cannot take embedded resources (they read it themselves)."""

    uri: str
    name: str
    mime_type: str | None = None


PromptPart = TextPart | ResourcePart | ResourceLinkPart


@dataclass(frozen=True)
class McpStdioServer:
    """An MCP server the agent starts itself and talks to over stdio (ACP's `McpServerStdio`)."""

    name: str
    command: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class McpRemoteServer:
    """An MCP server the agent reaches over HTTP (`http`: streamable HTTP, `sse`: the older SSE transport)."""

    name: str
    url: str
    transport: Literal["http", "sse"] = "http"
    headers: tuple[tuple[str, str], ...] = ()


McpServer = McpStdioServer | McpRemoteServer


class SteeringError(BackendError):
    """A mode or option the agent does not offer, or an agent that offers no way to set it."""


@dataclass(frozen=True)
class ModeInfo:
    id: str
    name: str
    description: str | None = None


@dataclass(frozen=True)
class AgentState:
    """What an agent session offers to steer it, as it last reported (its session/new or load answer, then its
    updates). `config_options` are ACP's SessionConfigOption objects as JSON with camelCase keys."""

    modes: tuple[ModeInfo, ...] = ()
    current_mode_id: str | None = None
    config_options: tuple[dict[str, Any], ...] = ()
    commands: tuple[dict[str, Any], ...] = ()  # {name, description, input?}
    embedded_context: bool = False  # prompts may embed resources; else files go as resource links


@dataclass(frozen=True)
class PermissionOption:
    option_id: str
    name: str
    kind: OptionKind


@dataclass(frozen=True)
class PermissionRequest:
    """An agent asking to do something, normalized across transports."""

    tool_call_id: str
    title: str
    kind: str  # read | edit | delete | move | search | execute | fetch | think | other
    paths: tuple[str, ...]
    command: str | None
    cwd: str | None
    options: tuple[PermissionOption, ...]


@dataclass(frozen=True)
class StartInfo:
    """What a backend reports once it is ready to take prompts."""

    agent_session_id: str
    resumed: bool
    note: str | None = None  # e.g. why an earlier session could not be resumed
    pid: int | None = None


class BackendHost(Protocol):
    """What the bridge gives a backend: the worktree, an event sink and the permission policy."""

    @property
    def worktree(self) -> Path: ...

    @property
    def cwd(self) -> Path:
        """Where the agent works: the worktree, or the workspace's sub-folder inside it."""
        ...

    def resolve_path(self, path: str) -> Path:
        """Where `path` (relative to `cwd`, or absolute) really is inside the worktree; PathRefused if not."""
        ...

    async def on_event(self, event: AgentEvent) -> None: ...

    async def ask_permission(self, request: PermissionRequest) -> OptionKind | None:
        """The kind of option to pick, or None to answer `cancelled`."""
        ...

    async def confirm_run(self, command: str, cwd: Path) -> bool:
        """Just before `command` runs on an allow given earlier: False if what it names changed since (the agent
        rewrote a file it runs after the answer), and the backend asks `ask_permission` again."""
        ...


class AgentBackend(Protocol):
    """One warm agent session: started once, prompted many times, closed at the end."""

    @property
    def pid(self) -> int | None: ...

    @property
    def alive(self) -> bool: ...

    async def start(self, resume_id: str | None = None) -> StartInfo:
        """Spawn (or attach to) the agent and open or resume its session."""
        ...

    async def prompt(self, parts: list[PromptPart]) -> TurnOutcome:
        """Run one turn to its end. Raises AgentCrashed if the agent dies meanwhile."""
        ...

    async def cancel(self) -> None:
        """Ask the running turn to stop; the agent itself stays warm."""
        ...

    def state(self) -> AgentState:
        """Modes, config options and commands the started session offers now."""
        ...

    async def set_mode(self, mode_id: str) -> None:
        """Switch the session's mode (ACP session/set_mode). SteeringError if it is not offered."""
        ...

    async def set_option(self, option_id: str, value: str | bool) -> None:
        """Set one config option (ACP session/set_config_option). SteeringError if it is not offered."""
        ...

    async def close(self) -> None:
        """End the agent session and stop the process it owns."""
        ...


def choose_option(options: Sequence[PermissionOption], want: OptionKind) -> str | None:
    """The option id to answer with, chosen by kind (agents list options in surprising orders).

    An allow is never widened to "always" unless that is all the agent offers; a reject falls back to any
    reject. None means no fitting option: answer `cancelled`.
    """
    fallbacks: dict[OptionKind, tuple[OptionKind, ...]] = {
        "allow_once": ("allow_once", "allow_always"),
        "allow_always": ("allow_always", "allow_once"),
        "reject_once": ("reject_once", "reject_always"),
        "reject_always": ("reject_always", "reject_once"),
    }
    for kind in fallbacks[want]:
        for option in options:
            if option.kind == kind:
                return option.option_id
    return None


def normalize_command(command: str) -> str:
    """One spelling per command, so `ls  -la` and `ls -la` share a remembered answer."""
    try:
        return shlex.join(shlex.split(command))
    except ValueError:
        return " ".join(command.split())


SHELLS = frozenset({"sh", "bash", "zsh", "dash", "/bin/sh", "/bin/bash", "/usr/bin/bash", "/bin/zsh", "/bin/dash"})


def command_line(command: str, args: Sequence[str]) -> str:
    """The command a terminal runs, as a user reads it: `sh -c "id > x"` is `id > x` (the shell's line, as
    is); anything else is the argv quoted for a shell."""
    if command in SHELLS and len(args) == 2 and args[0] in ("-c", "-lc"):
        return args[1]
    return shlex.join([command, *args])
