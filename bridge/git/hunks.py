"""Pending hunks and file changes, and applying or reverting chosen hunks (pure, no I/O)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bridge.textlines import split_lines

ChangeKind = Literal["modify", "create", "delete", "rename"]



@dataclass(frozen=True)
class Hunk:
    """One zero-context hunk; lines keep their endings."""

    hunk_id: str
    old_start: int
    old_lines: tuple[str, ...]
    new_start: int
    new_lines: tuple[str, ...]

    @property
    def old_text(self) -> str:
        return "".join(self.old_lines)

    @property
    def new_text(self) -> str:
        return "".join(self.new_lines)


@dataclass(frozen=True)
class FileChange:
    """One file's change between the base and the worktree."""

    path: str
    old_path: str | None
    change: ChangeKind
    binary: bool
    hunks: tuple[Hunk, ...]
    old_mode: str | None = None
    new_mode: str | None = None
    # Full blob ids from the diff, so a whole-file apply can use exactly the content that was reviewed.
    old_oid: str | None = None
    new_oid: str | None = None

    @property
    def base_path(self) -> str:
        """Path of the file on the base side."""
        return self.old_path or self.path


def whole_file_hunk(change: FileChange) -> Hunk:
    """A stand-in hunk for changes without text hunks (binary files, pure renames, empty files)."""
    marker = f"{change.change}:{change.old_path or ''}:{change.old_oid or ''}:{change.new_oid or ''}"
    return Hunk(hunk_id(change.path, marker, "", 0), 0, (), 0, ())


def hunks_of(change: FileChange) -> list[Hunk]:
    return list(change.hunks) or [whole_file_hunk(change)]


def hunk_id(path: str, old_text: str, new_text: str, occurrence: int) -> str:
    """Content-derived id, so it survives other hunks of the file being applied or rejected."""
    digest = hashlib.sha1(usedforsecurity=False)
    for part in (path, old_text, new_text, str(occurrence)):
        digest.update(part.encode("utf-8", "surrogateescape"))
        digest.update(b"\0")
    return "h" + digest.hexdigest()[:12]


def apply_hunks(base_text: str, hunks: Sequence[Hunk]) -> str:
    """Return base_text with exactly these hunks applied; raises ValueError if they do not fit it."""
    return _splice(base_text, [(h.old_start, h.old_lines, h.new_lines, h.hunk_id) for h in hunks])


def revert_hunks(new_text: str, hunks: Sequence[Hunk]) -> str:
    """Return new_text with these hunks undone; raises ValueError if they do not fit it."""
    return _splice(new_text, [(h.new_start, h.new_lines, h.old_lines, h.hunk_id) for h in hunks])


def _splice(text: str, edits: list[tuple[int, tuple[str, ...], tuple[str, ...], str]]) -> str:
    lines = split_lines(text)
    out: list[str] = []
    pos = 0
    for start, expected, replacement, ident in sorted(edits, key=lambda e: (e[0], len(e[1]))):
        end = start + len(expected)
        if start < pos:
            raise ValueError(f"hunk {ident} overlaps another hunk")
        if end > len(lines) or tuple(lines[start:end]) != expected:
            raise ValueError(f"hunk {ident} does not match the text at line {start + 1}")
        out.extend(lines[pos:start])
        out.extend(replacement)
        pos = end
    out.extend(lines[pos:])
    return "".join(out)
