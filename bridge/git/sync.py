"""Moving a session worktree onto new ground while keeping the agent's unreviewed work (synchronous: run these
in a thread from asyncio).

Two moves use it: catching up with the user's latest code before a turn, and rewinding the agent's turns. Both
are the same three-way merge, file by file: the new ground (`theirs`) with the agent's changes (`base` ->
`ours`) carried onto it. Only the paths the agent changed are merged and only the files that differ are
rewritten, so the cost follows the size of the change, not of the repository.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bridge.git import heads
from bridge.git.merge import merge_file
from bridge.git.run import NULL_OID, Where, Worktree, decode, git, hash_object, out, temp_index
from bridge.git.worktrees import commit_all, commit_snapshot, head, snapshot_tree

# A line range [start, end) in a file's lines (0-based, git lines); empty for a pure insertion point.
Lines = tuple[int, int]

# Paths per ls-tree call: keeps command lines far below the system's limit on huge changes.
_BATCH = 500
_REGULAR = ("100644", "100755")
_HUNK_HEADER = re.compile(rb"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@", re.MULTILINE)
# Marks the worktree commits that revert what the user rejected, so a rewind can keep them rejected.
REJECTION_TRAILER = "Agent-Bridge-Rejection: yes"
# Marks a commit that took a rejection back (followed by the rejection's id, see bridge/git/rejections.py).
UNREJECTION_TRAILER = "Agent-Bridge-Unrejection:"
# A full object id: SHA-1, or SHA-256 in a repository that uses it.
SHA = r"[0-9a-f]{40}|[0-9a-f]{64}"
REJECTION_ID = re.compile(rf"^({SHA})\.\.({SHA})$")
# How much of the user's own diff is worth quoting to the agent; past this, only the file names.
NOTE_PATCH_LIMIT = 4000


@dataclass(frozen=True)
class Merged:
    """The merged tree, and where the agent's changes collided with the other side's.

    `conflicts` maps each such path to the other side's changed line ranges in the merged file's base (None:
    the whole file, e.g. one side deleted it or it is binary). There the agent's version was kept.
    """

    tree: str
    conflicts: Mapping[str, tuple[Lines, ...] | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Moved:
    """A worktree moved onto new ground: the new base, what differed, and where the agent's work collided."""

    base: str
    changed: tuple[str, ...]  # paths that differ between the old and the new ground
    conflicts: Mapping[str, tuple[Lines, ...] | None]
    patch: str | None = None  # the user's diff, when small enough to quote


_SHA = re.compile(rf"^(?:{SHA})$")


def tree_of(where: Where, rev: str) -> str:
    return out(where, "rev-parse", f"{rev}^{{tree}}")


def changed_paths(where: Where, a: str, b: str) -> list[str]:
    """Paths whose entries differ between two commits or trees (no rename pairing: each side's own path)."""
    raw = git(where, "diff-tree", "-r", "-z", "--no-renames", "--name-only", a, b).stdout
    return [decode(p) for p in raw.split(b"\0") if p]


def entries(where: Where, rev: str, paths: Sequence[str]) -> dict[str, tuple[str, str]]:
    """(mode, oid) of each of `paths` present in `rev`."""
    found: dict[str, tuple[str, str]] = {}
    for i in range(0, len(paths), _BATCH):
        raw = git(where, "ls-tree", "-r", "-z", "--full-tree", rev, "--", *paths[i : i + _BATCH]).stdout
        for record in raw.split(b"\0"):
            meta, _, name = record.partition(b"\t")
            if name:
                mode, _kind, oid = decode(meta).split()
                found[decode(name)] = (mode, oid)
    return found


def _blob(where: Where, oid: str) -> bytes:
    return git(where, "cat-file", "blob", oid).stdout


def merge_blobs(ours: bytes, base: bytes, theirs: bytes) -> tuple[bytes, bool] | None:
    """`theirs` with the changes base -> ours; where both changed the same lines, ours wins (second item True).

    None when git cannot merge them as text (binary content).
    """
    plain = merge_file(ours, base, theirs)
    if plain.returncode < 0 or plain.returncode >= 127 or b"Cannot merge binary files" in plain.stderr:
        return None
    if plain.returncode == 0:
        return plain.stdout, False
    favored = merge_file(ours, base, theirs, "--ours")
    return (favored.stdout, True) if favored.returncode == 0 else None


def changed_lines(where: Where, old_oid: str, new_oid: str) -> tuple[Lines, ...]:
    """The new side's changed line ranges of the diff between two blobs."""
    patch = git(where, "diff", "--no-color", "--no-ext-diff", "--no-textconv", "-U0", old_oid, new_oid).stdout
    ranges = []
    for match in _HUNK_HEADER.finditer(patch):
        start, count = int(match.group(1)), int(match.group(2) or b"1")
        # Git numbers a pure deletion's place as the line before it; as 0-based ranges both forms are `start`.
        first = start - 1 if count else start
        ranges.append((first, first + count))
    return tuple(ranges)


def merge_onto(where: Where, base: str, ours: str, theirs: str) -> Merged:
    """`theirs` with `ours`' changes since `base` merged in, file by file (blocking).

    Where both sides changed the same lines, or a file one side deleted, binary content or a mode clash, the
    agent's side (`ours`) is kept whole and the path is listed in `conflicts`: its work is never dropped.
    """
    paths = changed_paths(where, base, ours)
    if not paths:
        return Merged(tree_of(where, theirs))
    b, o, t = entries(where, base, paths), entries(where, ours, paths), entries(where, theirs, paths)
    records: list[tuple[str, str, str]] = []
    conflicts: dict[str, tuple[Lines, ...] | None] = {}
    for path in paths:
        eb, eo, et = b.get(path), o.get(path), t.get(path)
        if eo == et:
            continue
        if et == eb:  # only the agent changed it
            records.append((*(eo or ("0", NULL_OID)), path))
            continue
        merged = None
        if eb and eo and et and {eb[0], eo[0], et[0]} <= set(_REGULAR):
            merged = merge_blobs(_blob(where, eo[1]), _blob(where, eb[1]), _blob(where, et[1]))
        if merged is None:
            records.append((*(eo or ("0", NULL_OID)), path))
            conflicts[path] = None
            continue
        data, clashed = merged
        assert eb and eo and et
        mode = eo[0] if eo[0] != eb[0] else et[0]
        records.append((mode, hash_object(where, data), path))
        if clashed:
            conflicts[path] = changed_lines(where, eb[1], et[1])
    return Merged(_write_tree(where, theirs, records), conflicts)


def _write_tree(where: Where, start: str, records: Iterable[tuple[str, str, str]]) -> str:
    info = b"".join(f"{mode} {oid}\t{path}\0".encode("utf-8", "surrogateescape") for mode, oid, path in records)
    with temp_index() as env:
        git(where, "read-tree", start, env=env)
        if info:
            git(where, "update-index", "-z", "--index-info", env=env, input=info)
        return out(where, "write-tree", env=env)


def move_worktree(tree: Worktree, target: str, message: str) -> str | None:
    """Make the worktree's files and branch hold tree `target`, touching only the files that differ.

    The worktree must be committed (commit_all) first: git then switches it as a checkout would, refusing to
    follow symlinked directories or to overwrite anything it does not track. Returns the new commit, if any.
    """
    current = head(tree)
    if heads.commit_tree(tree, current) == target:
        return None
    git(tree, "read-tree", "-m", "-u", current, target)
    sha = out(tree, "commit-tree", target, "-p", current, "-m", message)
    git(tree, "update-ref", "-m", "agent-bridge: move", "HEAD", sha, current)
    heads.remember(tree, sha, target)
    return sha


def user_patch(where: Where, old: str, new: str, paths: Sequence[str]) -> str | None:
    """The diff old -> new of these paths when it is short enough to quote; None otherwise."""
    if not paths or len(paths) > 20:
        return None
    patch = decode(git(
        where, "diff", "--no-color", "--no-ext-diff", "--no-textconv", "-U1", old, new, "--", *paths
    ).stdout)
    return patch if len(patch) <= NOTE_PATCH_LIMIT else None


def catch_up(repo_root: Path, tree: Worktree, base: str, overlays: Mapping[str, str | bytes]) -> Moved | None:
    """Bring the worktree up to what the user sees now (blocking); None when nothing changed since `base`.

    The new base is a fresh snapshot of the user's code; the agent's unreviewed changes are merged onto it.
    """
    seen = snapshot_tree(repo_root, overlays)
    base_tree = heads.commit_tree(repo_root, base) if _SHA.match(base) else tree_of(repo_root, base)
    if seen == base_tree:
        return None  # the user changed nothing: no commit, nothing to move
    snapshot = commit_snapshot(repo_root, seen)
    changed = tuple(changed_paths(repo_root, base, snapshot))
    commit_all(tree, "agent-bridge: the agent's work before catching up")
    merged = merge_onto(tree, base, head(tree), snapshot)
    move_worktree(tree, merged.tree, "agent-bridge: catch up with the user's code")
    return Moved(snapshot, changed, merged.conflicts, user_patch(repo_root, base, snapshot, changed))


def rewind(tree: Worktree, base: str, base_before: str, head_before: str) -> Moved:
    """Undo everything the agents did since a turn started (blocking): the worktree becomes the current base
    (what the user applied or wrote since) with only the changes that were unreviewed then merged onto it."""
    commit_all(tree, "agent-bridge: the agent's work before rewinding")
    current = head(tree)
    merged = merge_onto(tree, base_before, head_before, base)
    target, conflicts = merged.tree, dict(merged.conflicts)
    # What the user rejected since then stays rejected: those reverts are carried onto the result.
    for rejection in live_rejections(tree, head_before, current):
        carried = merge_onto(tree, f"{rejection}^", rejection, target)
        target = carried.tree
        conflicts.update(carried.conflicts)
    changed = tuple(changed_paths(tree, current, target))
    move_worktree(tree, target, "agent-bridge: rewind the agent's turns")
    return Moved(base, changed, conflicts)


def undone(tree: Worktree, since: str, until: str) -> set[str]:
    """Rejection commits that an unrejection between `since` and `until` took back."""
    taken: set[str] = set()
    listed = out(tree, "rev-list", "--fixed-strings", f"--grep={UNREJECTION_TRAILER}", f"{since}..{until}")
    for commit in listed.split():
        for value in trailer_values(commit_message(tree, commit), UNREJECTION_TRAILER):
            match = REJECTION_ID.match(value)
            if match:
                taken.update(out(tree, "rev-list", f"{match[1]}..{match[2]}").split())
    return taken


def commit_message(tree: Worktree, commit: str) -> str:
    return out(tree, "log", "-1", "--format=%B", commit)


def trailer_values(message: str, key: str) -> list[str]:
    """What follows `key` on each of the message's lines that start with it."""
    return [line.removeprefix(key).strip() for line in message.splitlines() if line.startswith(key)]


def live_rejections(tree: Worktree, since: str, until: str) -> list[str]:
    """The rejection commits between two commits that no later unrejection took back, oldest first."""
    listed = out(tree, "rev-list", "--reverse", "--fixed-strings", f"--grep={REJECTION_TRAILER}", f"{since}..{until}")
    taken = undone(tree, since, until)
    return [c for c in listed.split() if c not in taken]
