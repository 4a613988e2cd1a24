"""What the bridge adds to a user's prompt before an agent sees it (pure)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bridge.git.sync import NOTE_PATCH_LIMIT
from bridge.store import AgentNote, HunkRow

MAX_QUOTED_LINES = 12


def _quote(text: str) -> str:
    lines = text.splitlines()
    if len(lines) > MAX_QUOTED_LINES:
        lines = [*lines[:MAX_QUOTED_LINES], f"... ({len(lines) - MAX_QUOTED_LINES} more lines)"]
    return "\n".join(f"    {line}" for line in lines) if lines else "    (nothing)"


def rejection_note(rejected: Sequence[HunkRow]) -> str | None:
    """Tells an agent which of its changes the user rejected (they are already reverted in the worktree)."""
    if not rejected:
        return None
    parts = [
        "Note from the editor: the user reviewed and REJECTED the following changes you made. They have been "
        "reverted in the working tree; do not make them again unless the user asks.",
    ]
    for row in rejected:
        parts.append(f"- In {row.path}: the change from\n{_quote(row.old_text)}\n  to\n{_quote(row.new_text)}")
    return "\n".join(parts)


def selection_note(path: str, start_line: int, end_line: int) -> str:
    """Points the agent at the user's selection, attached as a resource."""
    if start_line == end_line:
        return f"The user's selection is line {start_line + 1} of {path} (attached)."
    return f"The user's selection is lines {start_line + 1}-{end_line + 1} of {path} (attached)."


def title_for(prompt: str, limit: int = 60) -> str:
    """A session title from its first prompt."""
    for line in prompt.splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"
    return "agent session"


def owed_note(notes: Sequence[AgentNote]) -> str | None:
    """What happened to the code since the agent's last turn, from the notes it is owed (oldest first)."""
    changed: dict[str, None] = {}
    collided: dict[str, None] = {}
    patches: list[str] = []
    whole_patch = True
    rewinds: list[dict[str, Any]] = []
    for note in notes:
        body = json.loads(note.body)
        if note.kind == "changes":
            changed.update(dict.fromkeys(body.get("files", [])))
            collided.update(dict.fromkeys(body.get("conflicts", [])))
            if body.get("patch"):
                patches.append(body["patch"])
            else:
                whole_patch = False
        elif note.kind == "rewind":
            rewinds.append(body)
    parts = []
    if changed:
        parts.append(
            "Note from the editor: since your last turn the user changed "
            f"{len(changed)} file{'s' * (len(changed) != 1)}: {', '.join(changed)}. Your working tree now has "
            "their changes, merged with your unreviewed ones; read these files again before editing them."
        )
        patch = "\n".join(patches)
        if whole_patch and patch and len(patch) <= NOTE_PATCH_LIMIT:
            parts.append(f"The user's changes:\n```diff\n{patch.rstrip()}\n```")
        if collided:
            parts.append(
                f"In {', '.join(collided)} you and the user changed the same lines: your version was kept there "
                "for the user to review; do not overwrite their edit."
            )
    for body in rewinds:
        files = body.get("files", [])
        named = f"Files put back: {', '.join(files)}." if files else "No file needed putting back."
        parts.append(
            f"Note from the editor: the user REWOUND {body.get('turns', 0)} turn(s) of this session, starting with "
            f"the one that asked: {_first_line(body.get('prompt', ''))!r}. Everything those turns changed has "
            f"been undone in the working tree. {named} {body.get('conversation', '')}".rstrip()
        )
    return "\n\n".join(parts) if parts else None


def _first_line(text: str) -> str:
    return title_for(text, 80)
