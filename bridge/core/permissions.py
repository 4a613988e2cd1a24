"""The one permission policy for every agent, as pure decisions.

Reads and edits inside the session worktree are allowed without asking: they are reviewed at apply time.
Anything naming a path outside the worktree is refused. Commands are asked, showing the command and its
working directory; an "always" answer is remembered per agent and normalized command.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from backends.base import OptionKind, PermissionRequest, normalize_command
from bridge.core.paths import is_inside

Verdict = Literal["allow", "reject", "ask"]

# Kinds that only touch files: safe inside the worktree because every change is reviewed before it lands.
FILE_KINDS = frozenset({"read", "edit", "delete", "move", "search"})
# Kinds that do nothing outside the agent's own head.
HARMLESS_KINDS = frozenset({"think", "switch_mode"})


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str


def decide(
    request: PermissionRequest,
    worktree: Path,
    cwd: Path,
    remembered_commands: frozenset[str] = frozenset(),
) -> Decision:
    """What the policy says about one request, before any human is asked."""
    outside = [p for p in request.paths if not is_inside(p, worktree, cwd)]
    if outside:
        return Decision("reject", f"{outside[0]} is outside the session worktree")
    if request.cwd is not None and not is_inside(request.cwd, worktree, cwd):
        return Decision("reject", f"working directory {request.cwd} is outside the session worktree")
    if request.kind == "execute" or request.command is not None:
        if request.command and normalize_command(request.command) in remembered_commands:
            return Decision("allow", "command allowed always earlier")
        return Decision("ask", "commands need the user's consent")
    if request.kind in FILE_KINDS and request.paths:
        return Decision("allow", "inside the session worktree; reviewed before it lands")
    if request.kind in HARMLESS_KINDS:
        return Decision("allow", "no side effects")
    return Decision("ask", f"the policy has no rule for a {request.kind!r} request")


# The buttons shown in the editor, and the option kind each one stands for.
ASK_ACTIONS: tuple[tuple[str, OptionKind], ...] = (
    ("Allow", "allow_once"),
    ("Always allow", "allow_always"),
    ("Reject", "reject_once"),
)


def describe(request: PermissionRequest, agent: str) -> str:
    """The question put to the user."""
    if request.command:
        where = f" in {request.cwd}" if request.cwd else ""
        return f"{agent} wants to run: {request.command}{where}"
    target = f" ({', '.join(request.paths)})" if request.paths else ""
    return f"{agent} asks permission: {request.title}{target}"


def answer_for_title(title: str | None) -> OptionKind | None:
    for label, kind in ASK_ACTIONS:
        if title == label:
            return kind
    return None
