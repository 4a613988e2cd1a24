"""Snapshots and session worktrees: the base commit of what the user sees, the worktree checked out from it,
refs, commits and removal (synchronous: run them in a thread from asyncio).

The user's index, branch, HEAD and files are never written: trees are built in temporary index files.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path

from bridge.errors import GitError, NotAGitRepository
from bridge.git import heads
from bridge.git.linked import check_gitfile, locate
from bridge.git.run import (
    NULL_OID,
    Worktree,
    check_rel,
    decode,
    git,
    git_path,
    hash_object,
    head_commit,
    out,
    temp_index,
)
from bridge.git.watch import DirWatch

_SNAPSHOT_MESSAGE = (
    "agent-bridge: base snapshot\n\nThe user's checkout (HEAD, uncommitted, untracked, unsaved buffers)."
)


def find_repo_root(path: Path) -> Path:
    """Top level of the git working tree containing `path` (a file or a directory)."""
    path = Path(path).absolute()
    start = path if path.is_dir() else path.parent
    if not start.is_dir():
        raise NotAGitRepository(f"{path} is not inside a git repository (no such directory)")
    try:
        top = out(start, "rev-parse", "--show-toplevel")
    except GitError as exc:
        raise NotAGitRepository(
            f"{path} is not inside a git repository: {exc.stderr}", exc.command, exc.stderr, exc.returncode
        ) from exc
    if not top:
        raise NotAGitRepository(f"{path} is not inside a git working tree")
    return Path(top)


def snapshot_base(repo_root: Path, overlays: Mapping[str, str | bytes]) -> str:
    """Commit what the user sees (HEAD + uncommitted + untracked + unsaved overlays); returns its sha."""
    return commit_snapshot(repo_root, snapshot_tree(repo_root, overlays))


def commit_snapshot(repo_root: Path, tree: str) -> str:
    parent = head_commit(Path(repo_root))
    parents = ["-p", parent] if parent else []
    return out(Path(repo_root), "commit-tree", tree, *parents, "-m", _SNAPSHOT_MESSAGE)


def snapshot_tree(repo_root: Path, overlays: Mapping[str, str | bytes]) -> str:
    """The tree of what the user sees, written but not committed (comparing trees needs no commit).

    Remembered per checkout: while a watch of the checkout saw no change, git's own state there (the user's index,
    config and exclude files) is as it was and the unsaved buffers are the same, the tree is the same one, and no
    git process is needed (the catch-up before every turn).
    """
    repo_root = Path(repo_root)
    checkout = _checkout(repo_root)
    with checkout.lock:
        # The watch first, the snapshot second: a change in between is in the snapshot and reported next time.
        changed = checkout.watch.take()
        key = (_git_state(repo_root), tuple(sorted(overlays.items())))
        if changed is not None and not changed and checkout.tree is not None and checkout.key == key:
            return checkout.tree
        checkout.tree = None
        tree = _snapshot_tree(repo_root, overlays)
        checkout.key, checkout.tree = key, tree
        return tree


@dataclass
class _Checkout:
    """A user's checkout as last snapshotted."""

    watch: DirWatch
    lock: threading.Lock = dataclass_field(default_factory=threading.Lock)
    key: object = None  # (git's state there, the overlays) when `tree` was written
    tree: str | None = None


_CHECKOUTS_MAX = 16  # checkouts a daemon serves at once, give or take: a watch each
_checkouts: OrderedDict[str, _Checkout] = OrderedDict()
_checkouts_lock = threading.Lock()


def _checkout(repo_root: Path) -> _Checkout:
    key = str(repo_root)
    with _checkouts_lock:
        found = _checkouts.get(key)
        if found is None:
            found = _checkouts[key] = _Checkout(DirWatch(repo_root, skip=lambda: ignored_dirs(repo_root)))
        _checkouts.move_to_end(key)
        dropped = [_checkouts.popitem(last=False)[1] for _ in range(len(_checkouts) - _CHECKOUTS_MAX)]
    for old in dropped:
        old.watch.close()
    return found


def _git_state(repo_root: Path) -> tuple[object, ...]:
    """What of git's own files, outside the watched tree, shapes a snapshot: their identity and size (each is
    replaced or rewritten when it changes)."""
    git_dir = _user_index(str(repo_root)).parent
    common = git_dir
    with contextlib.suppress(OSError, ValueError):
        common = git_dir / (git_dir / "commondir").read_text().strip()
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    files = [
        git_dir / "index", git_dir / "config.worktree", common / "config", common / "info" / "exclude",
        common / "info" / "attributes", Path.home() / ".gitconfig", config_home / "git" / "config",
        config_home / "git" / "ignore", config_home / "git" / "attributes", Path("/etc/gitconfig"),
    ]
    if os.environ.get("GIT_CONFIG_GLOBAL"):
        files.append(Path(os.environ["GIT_CONFIG_GLOBAL"]))
    state: list[object] = []
    for file in files:
        try:
            st = file.stat()
            state.append((st.st_ino, st.st_mtime_ns, st.st_size))
        except OSError:
            state.append(None)
    return tuple(state)


def _snapshot_tree(repo_root: Path, overlays: Mapping[str, str | bytes]) -> str:
    with temp_index(_user_index(str(repo_root))) as env:
        git(repo_root, "add", "-A", env=env)
        records: list[bytes] = []
        for rel, content in overlays.items():
            try:
                rel = check_rel(rel)
            except ValueError:
                # Not a project file: a buffer under .git/ (COMMIT_EDITMSG) is git's own, never snapshotted.
                continue
            mode = _index_mode(repo_root, rel, env)
            if mode is None and _ignored(repo_root, rel, env):
                # An unsaved buffer of an ignored file (.env, build output) stays out, like the file itself.
                continue
            if mode in ("120000", "160000"):
                # The buffer shows the link's target, not the link; the target gets its own overlay.
                continue
            data = content.encode("utf-8") if isinstance(content, str) else content
            if _same_on_disk(repo_root / rel, data):
                continue  # saved: `add -A` took it from the disk already (each overlay costs two git processes)
            # --path applies the same clean filters (eol, lfs, ...) that `git add` would.
            oid = hash_object(repo_root, data, rel)
            records.append(f"{mode or '100644'} {oid}\t{rel}\0".encode("utf-8", "surrogateescape"))
        if records:
            git(repo_root, "update-index", "-z", "--index-info", env=env, input=b"".join(records))
        return out(repo_root, "write-tree", env=env)


@functools.lru_cache(maxsize=64)
def _user_index(repo_root: str) -> Path:
    """Where the user's index is: fixed for a checkout, asked of git once (every turn snapshots the checkout)."""
    return git_path(Path(repo_root), "index")


def _same_on_disk(path: Path, data: bytes) -> bool:
    """Whether a regular file (not a link) holds exactly `data`."""
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size != len(data):
            return False
        return path.read_bytes() == data
    except OSError:
        return False


def _index_mode(repo: Path, rel: str, env: Mapping[str, str]) -> str | None:
    out = git(repo, "ls-files", "-s", "-z", "--", rel, env=env).stdout
    for record in out.split(b"\0"):
        meta, _, name = record.partition(b"\t")
        if name and decode(name) == rel:
            return decode(meta).split()[0]
    return None


def _ignored(repo: Path, rel: str, env: Mapping[str, str]) -> bool:
    # check-ignore takes plain paths and rejects the literal-pathspec switch set for everything else.
    env = {**env, "GIT_LITERAL_PATHSPECS": "0"}
    return git(repo, "check-ignore", "-q", "--", rel, env=env, ok=(0, 1)).returncode == 0


def create_worktree(repo_root: Path, worktree: Path, branch: str, base: str) -> None:
    """Check out `base` into a new worktree on a new branch."""
    repo_root, worktree = Path(repo_root), Path(worktree)
    exists = git(repo_root, "rev-parse", "--verify", "-q", f"refs/heads/{branch}", ok=(0, 1))
    if exists.returncode == 0:
        raise GitError(f"cannot create worktree {worktree}: branch {branch!r} already exists in {repo_root}")
    worktree.parent.mkdir(parents=True, exist_ok=True)
    # The record first (quick: other worktrees' commands wait for it), then the checkout, as `worktree add` does it.
    git(repo_root, "worktree", "add", "--no-checkout", "-b", branch, str(worktree.absolute()), base)
    git(locate(repo_root, worktree), "reset", "--hard", "-q", "--no-recurse-submodules")


def set_ref(repo_root: Path, ref: str, sha: str) -> None:
    """Point `ref` (a full ref name, e.g. refs/agent-bridge/base/<session>) at `sha`."""
    _check_ref(ref)
    git(Path(repo_root), "update-ref", "-m", "agent-bridge", ref, sha)


def delete_ref(repo_root: Path, ref: str) -> None:
    """Delete `ref`; a missing ref is not an error."""
    _check_ref(ref)
    git(Path(repo_root), "update-ref", "-d", ref)


def _check_ref(ref: str) -> None:
    if not ref.startswith("refs/"):
        raise ValueError(f"not a full ref name: {ref!r}")


def commit_all(tree: Worktree, message: str) -> str | None:
    """Stage everything in the worktree and commit it on its branch; None if nothing changed."""
    staged = stage_all(tree)
    return commit_staged(tree, staged, message) if staged.changed else None


def commit_index(tree: Worktree, message: str) -> str | None:
    """Commit what the worktree's index holds (staged already) on its branch; None if nothing changed."""
    staged = write_staged(tree)
    return commit_staged(tree, staged, message) if staged.changed else None


@dataclass(frozen=True)
class Staged:
    """The worktree's files staged as a tree, not committed yet."""

    tree: str
    parent: str | None  # the HEAD it would be committed onto
    changed: bool  # whether the tree differs from the parent's


def stage_all(tree: Worktree, changed: Collection[str] | None = None) -> Staged:
    """Stage everything in the worktree (the index then holds what the agent left) and write it as a tree.

    `changed`: the only paths that may differ from the index (a `DirWatch`'s answer), staged without git looking
    at the rest of the worktree; None: any may.
    """
    stage_files(tree, changed)
    return write_staged(tree)


def stage_files(tree: Worktree, changed: Collection[str] | None = None) -> None:
    """The index part of `stage_all`: the worktree's files into its index."""
    if changed is None or not _stage_paths(tree, changed):
        git(tree, "add", "-A")


def write_staged(tree: Worktree) -> Staged:
    """The worktree's index written as a tree (the tree part of `stage_all`)."""
    tree_sha = out(tree, "write-tree")
    parent = heads.head(tree)
    return Staged(tree_sha, parent, parent is None or heads.commit_tree(tree, parent) != tree_sha)


_STAGE_PATHS_MAX = 2000  # past this many, one `add -A` of everything costs less than matching them all


def _stage_paths(tree: Worktree, changed: Collection[str]) -> bool:
    """`add -A` of just these paths (False when git refused, so the caller stages everything instead).

    Each path's directory is staged one level deep (`:(glob)dir/*`): its new files as `add -A` would take them,
    ignored ones left out without complaint (naming an ignored file outright is an error), deleted ones removed
    from the index. A directory that is new is named, so staged whole. A directory whose files all came and went
    matches nothing, which git refuses: the full `add -A` then.
    """
    if not changed:
        return True
    if len(changed) > _STAGE_PATHS_MAX:
        return False
    specs: set[str] = set()
    for rel in changed:
        path = tree.path / rel
        if path.is_dir() and not path.is_symlink():
            specs.add(f":(literal){rel}")
        parent = rel.rpartition("/")[0]
        specs.add(f":(glob){_glob_escape(parent)}/*" if parent else ":(glob)*")
    listed = "\0".join(sorted(specs)).encode("utf-8", "surrogateescape")
    try:
        # Exit code 1 is git naming the new directories it ignores (a build's output, say), having staged the
        # rest; anything worse dies with 128.
        git(tree, "add", "-A", "--pathspec-from-file=-", "--pathspec-file-nul",
            env={"GIT_LITERAL_PATHSPECS": "0"}, input=listed, ok=(0, 1))
    except GitError:
        return False
    return True


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def ignored_dirs(where: Worktree | Path) -> set[str]:
    """The directories git ignores there as a whole (relative, no trailing slash): nothing in them is staged."""
    listed = git(where, "ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory").stdout
    return {
        entry[:-1] for entry in (e.decode("utf-8", "surrogateescape") for e in listed.split(b"\0"))
        if entry.endswith("/")
    }


def commit_staged(tree: Worktree, staged: Staged, message: str) -> str:
    """Commit a staged tree onto its parent and move the branch there."""
    # Plumbing rather than `git commit`: no hooks, templates, auto-gc or editor, whatever the config.
    parents = ["-p", staged.parent] if staged.parent else []
    sha = out(tree, "commit-tree", staged.tree, *parents, "-m", message)
    # With the old value given, git refuses the update if HEAD moved since it was read (a stale file read).
    git(tree, "update-ref", "-m", "agent-bridge: commit", "HEAD", sha, staged.parent or NULL_OID)
    heads.remember(tree, sha, staged.tree)
    return sha


def head(tree: Worktree) -> str:
    """Commit sha of the worktree's HEAD."""
    return heads.head(tree) or out(tree, "rev-parse", "--verify", "HEAD^{commit}")


def remove_worktree(repo_root: Path, tree: Worktree, branch: str, archive_ref: str | None) -> str | None:
    """Remove a worktree and its branch, first saving its work under `archive_ref` if given.

    Returns what was wrong with the worktree's `.git` file (put back before anything else), or None.
    """
    repo_root = Path(repo_root)
    present = tree.path.is_dir()
    # `git worktree remove` goes by the `.git` file (and refuses a wrong one): put it back first.
    problem = check_gitfile(tree) if present else None
    if archive_ref is not None:
        _check_ref(archive_ref)
        if present:
            commit_all(tree, "agent-bridge: archive before removing the worktree")
        tip = git(repo_root, "rev-parse", "--verify", "-q", f"refs/heads/{branch}^{{commit}}", ok=(0, 1))
        if tip.returncode == 0:
            set_ref(repo_root, archive_ref, decode(tip.stdout).strip())
    if present:
        git(repo_root, "worktree", "remove", "--force", str(tree.path))
    # Prune before deleting the branch: git refuses to delete a branch a stale worktree entry claims.
    git(repo_root, "worktree", "prune")
    exists = git(repo_root, "rev-parse", "--verify", "-q", f"refs/heads/{branch}", ok=(0, 1))
    if exists.returncode == 0:
        git(repo_root, "branch", "-D", branch)
    return problem


def list_worktrees(repo_root: Path) -> list[tuple[Path, str | None]]:
    """(path, short branch name or None when detached/bare) for every worktree, the main one first."""
    out = git(Path(repo_root), "worktree", "list", "--porcelain", "-z").stdout
    result: list[tuple[Path, str | None]] = []
    path: Path | None = None
    branch: str | None = None
    for field in [*out.split(b"\0"), b""]:
        text = decode(field)
        if not text:
            if path is not None:
                result.append((path, branch))
            path, branch = None, None
        elif text.startswith("worktree "):
            path = Path(text[len("worktree ") :])
        elif text.startswith("branch "):
            ref = text[len("branch ") :]
            branch = ref.removeprefix("refs/heads/")
    return result
