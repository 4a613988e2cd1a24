"""The one permission policy for every agent, as pure decisions.

Reads and edits inside the session worktree are allowed without asking: they are reviewed at apply time.
Anything naming a path outside the worktree is refused. Commands are asked, showing the command and its
working directory; an "always" answer is remembered per agent, workspace and normalized command, and never
covers a command naming a file the agent changed that the user has not reviewed: the same words would then
run something the user never saw.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from backends.base import OptionKind, PermissionRequest, normalize_command
from bridge.core.paths import is_inside, resolve_in_worktree
from bridge.errors import PathEscapesWorktree

Verdict = Literal["allow", "reject", "ask"]

# Kinds that only touch files: safe inside the worktree because every change is reviewed before it lands.
FILE_KINDS = frozenset({"read", "edit", "delete", "move", "search"})
# Kinds that do nothing outside the agent's own head.
HARMLESS_KINDS = frozenset({"think", "switch_mode"})


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str
    # Files the command names that the agent changed and the user has not reviewed (worktree-relative).
    unreviewed: tuple[str, ...] = ()


def command_words(command: str) -> list[str]:
    """The words of a shell command line, split at shell operators too (`sh x.sh&&y` names `x.sh`)."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:  # unbalanced quotes: the shell would refuse it too; read it word by word
        return command.split()


def named_unreviewed(
    command: str, command_cwd: Path, worktree: Path, unreviewed: Collection[str]
) -> tuple[str, ...]:
    """The unreviewed files (worktree-relative, `/`-separated) that a word of `command` names, directly or as
    a directory holding them. Words are taken as paths relative to the command's working directory; `--opt=x`
    counts as `x`. Only what is written on the command line is seen (not what `make` reads by itself)."""
    if not unreviewed:
        return ()
    pending = set(unreviewed)
    root = Path(os.path.realpath(worktree))
    found: list[str] = []
    for word in command_words(command):
        if word.startswith("-"):
            word = word.partition("=")[2]
        if not word or word.startswith("~"):
            continue
        for rel in _worktree_relatives(word, command_cwd, worktree, root):
            hits = sorted(p for p in pending if p == rel or rel == "" or p.startswith(rel + "/"))
            found.extend(h for h in hits if h not in found)
    return tuple(found)


def _worktree_relatives(word: str, cwd: Path, worktree: Path, root: Path) -> set[str]:
    """Where `word` lands in the worktree: as written (a symlink by its own name) and with links resolved."""
    out: set[str] = set()
    lexical = Path(os.path.normpath(cwd / word))
    for base in (Path(os.path.normpath(worktree)), root):
        if lexical == base or base in lexical.parents:
            out.add(_posix(lexical.relative_to(base)))
    try:
        real = resolve_in_worktree(word, worktree, cwd)
    except PathEscapesWorktree:
        return out
    out.add(_posix(real.relative_to(root)))
    return out


def _posix(relative: Path) -> str:
    text = relative.as_posix()
    return "" if text == "." else text


def decide(
    request: PermissionRequest,
    worktree: Path,
    cwd: Path,
    remembered_commands: frozenset[str] = frozenset(),
    unreviewed: Collection[str] = (),
) -> Decision:
    """What the policy says about one request, before any human is asked.

    `remembered_commands` are the "Always allow" answers for this agent and workspace; `unreviewed` the
    worktree-relative paths the agent changed that the user has not reviewed (the session's pending files).
    """
    outside = [p for p in request.paths if not is_inside(p, worktree, cwd)]
    if outside:
        return Decision("reject", f"{outside[0]} is outside the session worktree")
    if request.cwd is not None and not is_inside(request.cwd, worktree, cwd):
        return Decision("reject", f"working directory {request.cwd} is outside the session worktree")
    if request.kind == "execute" or request.command is not None:
        if not request.command:
            return Decision("ask", "commands need the user's consent")
        command_cwd = resolve_in_worktree(request.cwd, worktree, cwd) if request.cwd else cwd
        changed = named_unreviewed(request.command, command_cwd, worktree, unreviewed)
        if changed:
            # Whatever was allowed before, the file it runs is no longer the one the user saw.
            return Decision("ask", f"{unreviewed_note(changed)}; commands need the user's consent", changed)
        if normalize_command(request.command) in remembered_commands:
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


def unreviewed_note(paths: tuple[str, ...]) -> str:
    shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
    verb = "was" if len(paths) == 1 else "were"
    return f"{shown} {verb} changed by the agent and not reviewed"


def describe(
    request: PermissionRequest, agent: str, unreviewed: tuple[str, ...] = (), cwd: Path | None = None
) -> str:
    """The question put to the user; `cwd` is where a command without its own working directory runs."""
    if request.command:
        run_in = request.cwd or (str(cwd) if cwd is not None else None)
        where = f" in {run_in}" if run_in else ""
        note = f" ({unreviewed_note(unreviewed)})" if unreviewed else ""
        return f"{agent} wants to run: {request.command}{where}{note}"
    target = f" ({', '.join(request.paths)})" if request.paths else ""
    return f"{agent} asks permission: {_subject(request)}{target}"


def _subject(request: PermissionRequest) -> str:
    """What the question is about: the agent's title, unless that names nothing (some agents, qwen-code for MCP
    tools, title a request with the call's arguments only); then the agent's own options, which name the tool."""
    title = request.title.strip()
    if title and title[0] not in "{[":
        return title
    named = [option.name for option in request.options if option.name]
    if not named:
        return title or "an unnamed tool call"
    return f"{title + ' ' if title else ''}(the agent offers: {'; '.join(named)})"


def answer_for_title(title: str | None) -> OptionKind | None:
    for label, kind in ASK_ACTIONS:
        if title == label:
            return kind
    return None
