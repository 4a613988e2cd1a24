"""Turning a pending change into an edit of the user's live text without clobbering what they typed.

The live text is merged three ways (live, base, agent's version): if the user has not touched the region
the result is the agent's change re-anchored wherever the lines now are; if they have, it is a conflict.
"""

from __future__ import annotations

import hashlib
import itertools
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bridge.errors import MergeConflict
from bridge.git.hunks import Hunk
from bridge.textlines import split_lines


@dataclass(frozen=True)
class LineEdit:
    """Replace lines [start, end) of the live text with `new_text` (which ends on a line boundary)."""

    start: int
    end: int
    new_text: str


def text_sha(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def merge_file(ours: bytes, base: bytes, theirs: bytes, *flags: str) -> subprocess.CompletedProcess[bytes]:
    """`git merge-file -p` of three texts: the merge on stdout, the number of conflicting regions as exit code
    (negative when git cannot merge them, e.g. binary content)."""
    with tempfile.TemporaryDirectory(prefix="agent-bridge-merge-") as tmp:
        paths = []
        for name, data in (("ours", ours), ("base", base), ("theirs", theirs)):
            path = Path(tmp) / name
            path.write_bytes(data)
            paths.append(str(path))
        # Run outside any repository: merge-file needs none, and no repository's config should steer it.
        return subprocess.run(
            ["git", "merge-file", "-p", "-q", *flags, *paths],
            capture_output=True, check=False, cwd=tmp, stdin=subprocess.DEVNULL,
        )


def merge3(live: str, base: str, target: str) -> str:
    """`target`'s changes from `base` carried onto `live`; MergeConflict when they overlap."""
    if live == base:
        return target
    if target == base:
        return live
    proc = merge_file(live.encode("utf-8"), base.encode("utf-8"), target.encode("utf-8"))
    if proc.returncode != 0:
        if proc.returncode > 0:
            raise MergeConflict(f"{proc.returncode} conflicting region(s) with your unsaved or local edits")
        raise MergeConflict(f"git merge-file failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout.decode("utf-8")


def _find(lines: list[str], needle: list[str]) -> list[int]:
    if not needle:
        return []
    n = len(needle)
    return [i for i in range(len(lines) - n + 1) if lines[i : i + n] == needle]


def reanchor(live: str, base: str, hunks: Sequence[Hunk]) -> str:
    """Apply hunks to `live` by finding the lines they replace, wherever the user's edits moved them.

    Used when a three-way merge calls adjacent edits a conflict: each hunk's old lines (with the base lines
    around them, for insertions) must still be in the live text exactly once, else MergeConflict.
    """
    lines = split_lines(live)
    base_lines = split_lines(base)
    edits: list[tuple[int, int, list[str]]] = []
    for hunk in hunks:
        start = hunk.old_start
        end = start + len(hunk.old_lines)
        before = base_lines[start - 1 : start] if start > 0 else []
        after = base_lines[end : end + 1]
        candidates = [
            (before + list(hunk.old_lines) + after, len(before)),
            (before + list(hunk.old_lines), len(before)),
            (list(hunk.old_lines) + after, 0),
            (list(hunk.old_lines), 0),
        ]
        for needle, skip in candidates:
            found = _find(lines, needle)
            if len(found) == 1:
                at = found[0] + skip
                edits.append((at, at + len(hunk.old_lines), list(hunk.new_lines)))
                break
            if len(found) > 1:
                raise MergeConflict("the lines this change replaces occur more than once in your text")
        else:
            raise MergeConflict("you changed the lines this change replaces")
    edits.sort()
    for (_, end, _), (start, _, _) in itertools.pairwise(edits):
        if start < end:
            raise MergeConflict("changes overlap in your text")
    for start, end, new in reversed(edits):
        lines[start:end] = new
    return "".join(lines)


def line_edit(old: str, new: str) -> LineEdit | None:
    """The smallest whole-line replacement turning `old` into `new` (None when equal)."""
    if old == new:
        return None
    a, b = split_lines(old), split_lines(new)
    prefix = 0
    while prefix < len(a) and prefix < len(b) and a[prefix] == b[prefix]:
        prefix += 1
    suffix = 0
    while (
        suffix < len(a) - prefix
        and suffix < len(b) - prefix
        and a[len(a) - 1 - suffix] == b[len(b) - 1 - suffix]
    ):
        suffix += 1
    return LineEdit(prefix, len(a) - suffix, "".join(b[prefix : len(b) - suffix]))
