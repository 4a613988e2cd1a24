"""The user's selection sent with a prompt: which lines of which file, read as the user sees them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bridge.core.plans import LiveDoc
from bridge.errors import BridgeError, NotAGitRepository
from bridge.git import worktrees
from bridge.protocol import Range
from bridge.textlines import split_lines


@dataclass(frozen=True)
class Selection:
    path: str  # repo-relative
    text: str
    first_line: int  # zero-based, inclusive
    last_line: int


def selected_lines(text: str, rng: Range) -> tuple[str, int, int]:
    """The whole lines `rng` touches, and its first and last line (zero-based). A range ending at the start of
    a line does not include that line."""
    lines = split_lines(text)
    end_line = rng.end.line if rng.end.character > 0 or rng.end.line == rng.start.line else rng.end.line - 1
    return "".join(lines[rng.start.line : end_line + 1]), rng.start.line, end_line


def read_selection(doc: LiveDoc | None, repo_root: Path | None, path: Path, rng: Range) -> Selection:
    """The selected whole lines of `path` (the open buffer `doc` if any, else the file); blocking.

    A selection ending at the start of a line does not include that line. `repo_root` None: the repository
    `path` is in.
    """
    if doc is None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BridgeError(f"cannot read {path}: {exc}") from None
    else:
        text = doc.text
    selected, _, end_line = selected_lines(text, rng)
    if repo_root is None:
        try:
            repo_root = worktrees.find_repo_root(path)
        except NotAGitRepository:
            raise BridgeError(f"{path} is not inside a git repository") from None
    try:
        rel = path.resolve().relative_to(repo_root.resolve()).as_posix()
    except ValueError:
        raise BridgeError(f"{path} is outside the session's repository {repo_root}") from None
    return Selection(rel, selected, rng.start.line, max(end_line, rng.start.line))
