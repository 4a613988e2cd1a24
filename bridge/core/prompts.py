"""What the bridge adds to a user's prompt before an agent sees it (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from bridge.store import HunkRow

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
