"""Pending changes of a session: the diff from its base to the worktree, accepting hunks into the base and
reverting them in the worktree (synchronous: run them in a thread from asyncio)."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Collection
from pathlib import Path

from bridge.errors import GitError
from bridge.git.diffparse import parse_diff
from bridge.git.hunks import FileChange, Hunk, apply_hunks, revert_hunks
from bridge.git.run import (
    DIFF_OPTS,
    NULL_OID,
    Where,
    Worktree,
    decode,
    git,
    git_path,
    hash_object,
    out,
    safe_path,
    temp_index,
)
from bridge.git.worktrees import commit_all


def pending_changes(
    worktree: Worktree, base: str, committed: bool = False, to: str | None = "HEAD"
) -> list[FileChange]:
    """Changes from `base` to the worktree's working tree (untracked and uncommitted included); with
    `committed`, to `to` (its HEAD, a tree it staged, or None: its index, just staged): a diff whose cost follows
    the change, with no scan of the worktree (for callers that just committed or staged it)."""
    # --raw gives modes and blob ids for every entry, pure renames included; one process prints it and the -U0
    # patch (a turn's end waits for it, and at 20k files each diff reads a 1.6 MB index).
    diff = ("diff", "--raw", "-z", "--no-abbrev", "-p", "-U0", *DIFF_OPTS)
    if committed:
        both = git(worktree, *diff, *(["--cached", base] if to is None else [base, to])).stdout
    else:
        with temp_index(git_path(worktree, "index")) as env:
            if not (Path(env["GIT_INDEX_FILE"])).exists():
                git(worktree, "read-tree", "HEAD", env=env)
            git(worktree, "add", "-A", env=env)
            both = git(worktree, *diff, "--cached", base, env=env).stdout
    raw, patch = split_raw_and_patch(both)
    changes = parse_diff(decode(raw), decode(patch))
    return [_binary_if_undecodable(change) for change in changes]


def split_raw_and_patch(output: bytes) -> tuple[bytes, bytes]:
    """`git diff --raw -z -p`'s two parts: its NUL-terminated records end with one more NUL (no record field is
    empty, so the first two NULs in a row are that end), then the patch follows as `-p` alone prints it."""
    end = output.find(b"\0\0")
    if end < 0:
        return output, b""
    return output[: end + 1], output[end + 2:]


def _binary_if_undecodable(change: FileChange) -> FileChange:
    # Text that is not UTF-8 cannot be shown or edited as text by an editor: review it as a whole file.
    for hunk in change.hunks:
        try:
            (hunk.old_text + hunk.new_text).encode("utf-8")
        except UnicodeEncodeError:
            return FileChange(
                path=change.path,
                old_path=change.old_path,
                change=change.change,
                binary=True,
                hunks=(),
                old_mode=change.old_mode,
                new_mode=change.new_mode,
                old_oid=change.old_oid,
                new_oid=change.new_oid,
            )
    return change


def _tree_entry(repo: Where, rev: str, path: str) -> tuple[str, str, str] | None:
    """(mode, type, oid) of `path` in `rev`, or None if absent."""
    out = git(repo, "ls-tree", "-z", "--full-tree", rev, "--", path).stdout
    for record in out.split(b"\0"):
        meta, _, name = record.partition(b"\t")
        if name and decode(name) == path:
            mode, kind, oid = decode(meta).split()
            return mode, kind, oid
    return None


def read_blob(repo: Where, rev: str, path: str) -> bytes | None:
    """Raw blob content of `path` at `rev`; None if there is no such file."""
    entry = _tree_entry(repo, rev, path)
    if entry is None or entry[1] != "blob":
        return None
    return git(repo, "cat-file", "blob", entry[2]).stdout


def agent_blob(repo: Where, change: FileChange) -> bytes | None:
    """The agent's side of a pending change, by the blob id its diff named (the pending list may have been read
    from a tree staged but not committed yet); None for a deletion or what is not a blob."""
    oid = change.new_oid
    if oid and oid.strip("0"):
        return read_blobs(repo, [oid]).get(oid)
    return read_blob(repo, "HEAD", change.path)


def read_blobs(repo: Where, oids: Collection[str]) -> dict[str, bytes]:
    """The content of each blob, read by one `git cat-file --batch` whatever their number (a missing one is
    left out)."""
    wanted = list(dict.fromkeys(oids))
    if not wanted:
        return {}
    raw = git(repo, "cat-file", "--batch", input="".join(f"{oid}\n" for oid in wanted).encode()).stdout
    found: dict[str, bytes] = {}
    pos = 0
    for oid in wanted:
        end = raw.index(b"\n", pos)
        header = raw[pos:end].split()
        pos = end + 1
        if len(header) != 3 or header[1] != b"blob":  # "<oid> missing", or not a blob
            continue
        size = int(header[2])
        found[oid] = raw[pos : pos + size]
        pos += size + 1  # the content, then a newline
    return found


def _select(change: FileChange, hunk_ids: Collection[str] | None) -> list[Hunk] | None:
    """Chosen hunks, or None when the whole file change is meant (explicitly or by choosing every hunk)."""
    if hunk_ids is None:
        return None
    wanted = set(hunk_ids)
    unknown = wanted - {h.hunk_id for h in change.hunks}
    if unknown:
        raise ValueError(f"unknown hunk ids for {change.path}: {', '.join(sorted(unknown))}")
    chosen = [h for h in change.hunks if h.hunk_id in wanted]
    if change.hunks and len(chosen) == len(change.hunks):
        return None
    return chosen


def _has_object(repo: Where, oid: str) -> bool:
    return git(repo, "cat-file", "-e", oid, ok=(0, 1, 128)).returncode == 0


def _disk_mode(target: Path) -> str:
    st = target.lstat()
    if stat.S_ISLNK(st.st_mode):
        return "120000"
    return "100755" if st.st_mode & stat.S_IXUSR else "100644"


def _disk_bytes(target: Path) -> bytes:
    if target.is_symlink():
        return os.fsencode(os.readlink(target))
    return target.read_bytes()


def _new_side(worktree: Worktree, change: FileChange) -> tuple[str, str]:
    """(mode, oid) of the whole new file: the reviewed blob if known, else the worktree's current file."""
    target = safe_path(worktree.path, change.path)
    mode = change.new_mode
    if change.new_oid and _has_object(worktree, change.new_oid):
        oid = change.new_oid
    else:
        if not target.exists() and not target.is_symlink():
            raise GitError(f"{change.path} is missing from the worktree {worktree.path}")
        symlink = target.is_symlink()
        oid = hash_object(worktree, _disk_bytes(target), None if symlink else change.path)
        mode = mode or _disk_mode(target)
    return mode or "100644", oid


def advance_base(
    worktree: Worktree, base: str, change: FileChange, hunk_ids: Collection[str] | None = None
) -> str:
    """New base commit (parent `base`) with these hunks of `change` applied (None = the whole change)."""
    chosen = _select(change, hunk_ids)
    if chosen is not None and not chosen:
        return base
    records: list[tuple[str, str, str]] = []
    old_path = change.base_path
    if chosen is None:
        if change.change in ("delete", "rename"):
            records.append(("0", NULL_OID, old_path))
        if change.change != "delete":
            mode, oid = _new_side(worktree, change)
            records.append((mode, oid, change.path))
    else:
        entry = _tree_entry(worktree, base, old_path)
        if entry is None or entry[1] != "blob":
            raise GitError(f"{old_path} is not a file in the base {base}")
        base_text = _text(worktree, entry[2])
        # Already normalized blob text: hash without filters.
        oid = hash_object(worktree, apply_hunks(base_text, chosen).encode("utf-8", "surrogateescape"))
        if change.change == "rename":
            # Accepting an edit of a renamed file accepts the rename too: the edit lives at the new path.
            records.append(("0", NULL_OID, old_path))
        records.append((entry[0], oid, change.path))
    with temp_index() as env:
        git(worktree, "read-tree", base, env=env)
        info = b"".join(f"{m} {o}\t{p}\0".encode("utf-8", "surrogateescape") for m, o, p in records)
        git(worktree, "update-index", "-z", "--index-info", env=env, input=info)
        tree = out(worktree, "write-tree", env=env)
    if tree == out(worktree, "rev-parse", f"{base}^{{tree}}"):
        return base
    return out(worktree, "commit-tree", tree, "-p", base, "-m", f"agent-bridge: apply {change.path}")


def reset_base_path(worktree: Worktree, base: str, source: str, path: str) -> str:
    """New base commit (parent `base`) whose `path` is as it is in `source` (absent there: removed).

    Undoes the re-baselining of one file when the user undoes an applied change in the editor.
    """
    entry = _tree_entry(worktree, source, path)
    record = (entry[0], entry[2], path) if entry is not None else ("0", NULL_OID, path)
    with temp_index() as env:
        git(worktree, "read-tree", base, env=env)
        info = f"{record[0]} {record[1]}\t{record[2]}\0".encode("utf-8", "surrogateescape")
        git(worktree, "update-index", "-z", "--index-info", env=env, input=info)
        tree = out(worktree, "write-tree", env=env)
    if tree == out(worktree, "rev-parse", f"{base}^{{tree}}"):
        return base
    return out(worktree, "commit-tree", tree, "-p", base, "-m", f"agent-bridge: unapply {path}")


def _text(repo: Where, oid: str) -> str:
    # surrogateescape keeps stray non-UTF-8 bytes outside the hunks byte-identical on the way back.
    return decode(git(repo, "cat-file", "blob", oid).stdout)


def revert_in_worktree(
    worktree: Worktree,
    base: str,
    change: FileChange,
    hunk_ids: Collection[str] | None = None,
    message: str = "agent-bridge: revert rejected changes",
) -> str | None:
    """Undo these hunks of `change` (None = the whole change) in the worktree's files, then commit_all."""
    chosen = _select(change, hunk_ids)
    if chosen is not None and not chosen:
        return None
    if chosen is None:
        if change.change in ("create", "rename"):
            _remove_file(worktree, change.path)
        if change.change != "create":
            entry = _tree_entry(worktree, base, change.base_path)
            if entry is None or entry[1] != "blob":
                raise GitError(f"{change.base_path} is not a file in the base {base}")
            _restore(worktree, change.base_path, entry[0], entry[2])
    else:
        target = safe_path(worktree.path, change.path)
        if not target.exists() and not target.is_symlink():
            raise GitError(f"{change.path} is missing from the worktree {worktree.path}")
        symlink = target.is_symlink()
        # Hunks are relative to the normalized blob, not to the bytes on disk (eol, filters).
        current = hash_object(worktree, _disk_bytes(target), None if symlink else change.path)
        reverted = revert_hunks(_text(worktree, current), chosen)
        oid = hash_object(worktree, reverted.encode("utf-8", "surrogateescape"))
        _restore(worktree, change.path, _disk_mode(target), oid)
    return commit_all(worktree, message)


def _restore(worktree: Worktree, rel: str, mode: str, oid: str) -> None:
    """Write blob `oid` to `rel` in the worktree as a checkout would (smudge filters, mode)."""
    target = safe_path(worktree.path, rel)
    if target.is_dir() and not target.is_symlink():
        raise GitError(f"cannot restore {rel}: a directory is in the way in {worktree.path}")
    target.parent.mkdir(parents=True, exist_ok=True)
    safe_path(worktree.path, rel)  # re-check now that the parents exist
    if mode == "120000":
        link = git(worktree, "cat-file", "blob", oid).stdout
        if target.exists() or target.is_symlink():
            target.unlink()
        os.symlink(os.fsdecode(link), target)
        return
    data = git(worktree, "cat-file", "--filters", f"--path={rel}", oid).stdout
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".agent-bridge-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o755 if mode == "100755" else 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _remove_file(worktree: Worktree, rel: str) -> None:
    target = safe_path(worktree.path, rel)
    if target.is_dir() and not target.is_symlink():
        raise GitError(f"cannot remove {rel}: it is a directory in {worktree.path}")
    if target.exists() or target.is_symlink():
        target.unlink()
    # Like git, drop directories the removal left empty (never the worktree itself).
    root = worktree.path.absolute()
    parent = target.parent
    while parent != root and root in parent.parents:
        try:
            parent.rmdir()
        except OSError:
            break
        parent = parent.parent
