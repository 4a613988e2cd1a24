"""Git operations for session worktrees (synchronous: run them in a thread from asyncio).

The user's index, branch, HEAD and files are never written: trees are built in temporary index files.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path, PurePosixPath

from bridge.errors import GitError, NotAGitRepository
from bridge.git.hunks import FileChange, Hunk, apply_hunks, parse_diff, revert_hunks

__all__ = [
    "GitError",
    "NotAGitRepository",
    "advance_base",
    "commit_all",
    "create_worktree",
    "delete_ref",
    "find_repo_root",
    "head",
    "list_worktrees",
    "pending_changes",
    "read_blob",
    "remove_worktree",
    "revert_in_worktree",
    "set_ref",
    "snapshot_base",
]

_NAME = "agent-bridge"
_EMAIL = "agent-bridge@localhost"
_CONFIG = (
    "-c", "core.quotePath=false",
    "-c", f"user.name={_NAME}",
    "-c", f"user.email={_EMAIL}",
    "-c", "commit.gpgsign=false",
    # The user's hooks (post-checkout, post-commit, ...) must not run for the bridge's internal work.
    "-c", "core.hooksPath=/dev/null",
    # A split index would make git write shared-index files next to the user's real index.
    "-c", "core.splitIndex=false",
)  # fmt: skip
# Variables that would point git at another repository or index than the one we name.
_REPO_ENV = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
    "GIT_INDEX_VERSION",
)
_DIFF_OPTS = (
    "-M",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--no-relative",
    "--full-index",
    "--inter-hunk-context=0",
    "--src-prefix=a/",
    "--dst-prefix=b/",
    "--ignore-submodules=none",
)
_NULL_OID = "0" * 40
_SNAPSHOT_MESSAGE = (
    "agent-bridge: base snapshot\n\nThe user's checkout (HEAD, uncommitted, untracked, unsaved buffers)."
)


def _env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _REPO_ENV}
    env.update(
        GIT_AUTHOR_NAME=_NAME,
        GIT_AUTHOR_EMAIL=_EMAIL,
        GIT_COMMITTER_NAME=_NAME,
        GIT_COMMITTER_EMAIL=_EMAIL,
        GIT_LITERAL_PATHSPECS="1",
        GIT_TERMINAL_PROMPT="0",
        GIT_OPTIONAL_LOCKS="0",
    )
    if extra:
        env.update(extra)
    return env


def _git(
    cwd: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    ok: Collection[int] = (0,),
) -> subprocess.CompletedProcess[bytes]:
    cmd = ["git", *_CONFIG, *args]
    try:
        # stdin must never be inherited: the language server speaks LSP on it.
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            env=_env(env),
            input=input if input is not None else b"",
            capture_output=True,
            check=False,
        )
    except OSError as exc:
        raise GitError(f"cannot run git {' '.join(args)} in {cwd}: {exc}", args) from exc
    if proc.returncode not in ok:
        stderr = proc.stderr.decode("utf-8", "replace").strip()
        raise GitError(
            f"git {' '.join(args)} failed in {cwd} (exit {proc.returncode}): {stderr}",
            args,
            stderr,
            proc.returncode,
        )
    return proc


def _out(cwd: Path, *args: str, env: Mapping[str, str] | None = None, input: bytes | None = None) -> str:
    return _git(cwd, *args, env=env, input=input).stdout.decode("utf-8", "surrogateescape").strip()


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


@contextlib.contextmanager
def _temp_index(seed: Path | None = None) -> Iterator[dict[str, str]]:
    """Env for a throwaway index, optionally a copy of `seed` (whose stat data makes `add -A` fast)."""
    with tempfile.TemporaryDirectory(prefix="agent-bridge-index-") as tmp:
        index = Path(tmp) / "index"
        if seed is not None and seed.is_file():
            # copy2 keeps the mtime: git re-checks entries not older than the index ("racy git"); a fresh
            # mtime would make it trust stale stat data and miss same-size edits made in the same second.
            shutil.copy2(seed, index)
        yield {"GIT_INDEX_FILE": str(index)}


def _git_path(repo: Path, name: str) -> Path:
    path = Path(_out(repo, "rev-parse", "--git-path", name))
    return path if path.is_absolute() else repo / path


def _head_commit(repo: Path) -> str | None:
    proc = _git(repo, "rev-parse", "--verify", "-q", "HEAD^{commit}", ok=(0, 1))
    if proc.returncode != 0:
        return None
    return _decode(proc.stdout).strip() or None


def find_repo_root(path: Path) -> Path:
    """Top level of the git working tree containing `path` (a file or a directory)."""
    path = Path(path).absolute()
    start = path if path.is_dir() else path.parent
    if not start.is_dir():
        raise NotAGitRepository(f"{path} is not inside a git repository (no such directory)")
    try:
        top = _out(start, "rev-parse", "--show-toplevel")
    except GitError as exc:
        raise NotAGitRepository(
            f"{path} is not inside a git repository: {exc.stderr}", exc.command, exc.stderr, exc.returncode
        ) from exc
    if not top:
        raise NotAGitRepository(f"{path} is not inside a git working tree")
    return Path(top)


def snapshot_base(repo_root: Path, overlays: Mapping[str, str | bytes]) -> str:
    """Commit what the user sees (HEAD + uncommitted + untracked + unsaved overlays); returns its sha."""
    repo_root = Path(repo_root)
    parent = _head_commit(repo_root)
    with _temp_index(_git_path(repo_root, "index")) as env:
        _git(repo_root, "add", "-A", env=env)
        records: list[bytes] = []
        for rel, content in overlays.items():
            rel = _check_rel(rel)
            mode = _index_mode(repo_root, rel, env)
            if mode is None and _ignored(repo_root, rel, env):
                # An unsaved buffer of an ignored file (.env, build output) stays out, like the file itself.
                continue
            if mode in ("120000", "160000"):
                # The buffer shows the link's target, not the link; the target gets its own overlay.
                continue
            data = content.encode("utf-8") if isinstance(content, str) else content
            # --path applies the same clean filters (eol, lfs, ...) that `git add` would.
            oid = _hash(repo_root, data, rel)
            records.append(f"{mode or '100644'} {oid}\t{rel}\0".encode("utf-8", "surrogateescape"))
        if records:
            _git(repo_root, "update-index", "-z", "--index-info", env=env, input=b"".join(records))
        tree = _out(repo_root, "write-tree", env=env)
    parents = ["-p", parent] if parent else []
    return _out(repo_root, "commit-tree", tree, *parents, "-m", _SNAPSHOT_MESSAGE)


def _index_mode(repo: Path, rel: str, env: Mapping[str, str]) -> str | None:
    out = _git(repo, "ls-files", "-s", "-z", "--", rel, env=env).stdout
    for record in out.split(b"\0"):
        meta, _, name = record.partition(b"\t")
        if name and _decode(name) == rel:
            return _decode(meta).split()[0]
    return None


def _ignored(repo: Path, rel: str, env: Mapping[str, str]) -> bool:
    # check-ignore takes plain paths and rejects the literal-pathspec switch set for everything else.
    env = {**env, "GIT_LITERAL_PATHSPECS": "0"}
    return _git(repo, "check-ignore", "-q", "--", rel, env=env, ok=(0, 1)).returncode == 0


def create_worktree(repo_root: Path, worktree: Path, branch: str, base: str) -> None:
    """Check out `base` into a new worktree on a new branch."""
    repo_root, worktree = Path(repo_root), Path(worktree)
    exists = _git(repo_root, "rev-parse", "--verify", "-q", f"refs/heads/{branch}", ok=(0, 1))
    if exists.returncode == 0:
        raise GitError(f"cannot create worktree {worktree}: branch {branch!r} already exists in {repo_root}")
    worktree.parent.mkdir(parents=True, exist_ok=True)
    _git(repo_root, "worktree", "add", "-b", branch, str(worktree.absolute()), base)


def set_ref(repo_root: Path, ref: str, sha: str) -> None:
    """Point `ref` (a full ref name, e.g. refs/agent-bridge/base/<session>) at `sha`."""
    _check_ref(ref)
    _git(Path(repo_root), "update-ref", "-m", "agent-bridge", ref, sha)


def delete_ref(repo_root: Path, ref: str) -> None:
    """Delete `ref`; a missing ref is not an error."""
    _check_ref(ref)
    _git(Path(repo_root), "update-ref", "-d", ref)


def _check_ref(ref: str) -> None:
    if not ref.startswith("refs/"):
        raise ValueError(f"not a full ref name: {ref!r}")


def commit_all(worktree: Path, message: str) -> str | None:
    """Stage everything in the worktree and commit it on its branch; None if nothing changed."""
    worktree = Path(worktree)
    _git(worktree, "add", "-A")
    tree = _out(worktree, "write-tree")
    parent = _head_commit(worktree)
    if parent is not None and _out(worktree, "rev-parse", f"{parent}^{{tree}}") == tree:
        return None
    # Plumbing rather than `git commit`: no hooks, templates, auto-gc or editor, whatever the config.
    parents = ["-p", parent] if parent else []
    sha = _out(worktree, "commit-tree", tree, *parents, "-m", message)
    _git(worktree, "update-ref", "-m", "agent-bridge: commit", "HEAD", sha, parent or _NULL_OID)
    return sha


def head(worktree: Path) -> str:
    """Commit sha of the worktree's HEAD."""
    return _out(Path(worktree), "rev-parse", "--verify", "HEAD^{commit}")


def pending_changes(worktree: Path, base: str) -> list[FileChange]:
    """Changes from `base` to the worktree's working tree (untracked and uncommitted included)."""
    worktree = Path(worktree)
    with _temp_index(_git_path(worktree, "index")) as env:
        if not (Path(env["GIT_INDEX_FILE"])).exists():
            _git(worktree, "read-tree", "HEAD", env=env)
        _git(worktree, "add", "-A", env=env)
        # --raw gives modes and blob ids for every entry, pure renames included.
        raw = _git(worktree, "diff", "--cached", "--raw", "-z", "--no-abbrev", *_DIFF_OPTS, base, env=env)
        patch = _git(worktree, "diff", "--cached", "-U0", *_DIFF_OPTS, base, env=env)
    changes = parse_diff(_decode(raw.stdout), _decode(patch.stdout))
    return [_binary_if_undecodable(change) for change in changes]


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


def _tree_entry(repo: Path, rev: str, path: str) -> tuple[str, str, str] | None:
    """(mode, type, oid) of `path` in `rev`, or None if absent."""
    out = _git(repo, "ls-tree", "-z", "--full-tree", rev, "--", path).stdout
    for record in out.split(b"\0"):
        meta, _, name = record.partition(b"\t")
        if name and _decode(name) == path:
            mode, kind, oid = _decode(meta).split()
            return mode, kind, oid
    return None


def read_blob(repo: Path, rev: str, path: str) -> bytes | None:
    """Raw blob content of `path` at `rev`; None if there is no such file."""
    entry = _tree_entry(Path(repo), rev, path)
    if entry is None or entry[1] != "blob":
        return None
    return _git(Path(repo), "cat-file", "blob", entry[2]).stdout


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


def _hash(repo: Path, data: bytes, path: str | None = None) -> str:
    args = ["hash-object", "-w", "--stdin"]
    if path is not None:
        args.append(f"--path={path}")
    return _out(repo, *args, input=data)


def _has_object(repo: Path, oid: str) -> bool:
    return _git(repo, "cat-file", "-e", oid, ok=(0, 1, 128)).returncode == 0


def _disk_mode(target: Path) -> str:
    st = target.lstat()
    if stat.S_ISLNK(st.st_mode):
        return "120000"
    return "100755" if st.st_mode & stat.S_IXUSR else "100644"


def _disk_bytes(target: Path) -> bytes:
    if target.is_symlink():
        return os.fsencode(os.readlink(target))
    return target.read_bytes()


def _new_side(worktree: Path, change: FileChange) -> tuple[str, str]:
    """(mode, oid) of the whole new file: the reviewed blob if known, else the worktree's current file."""
    target = _safe_path(worktree, change.path)
    mode = change.new_mode
    if change.new_oid and _has_object(worktree, change.new_oid):
        oid = change.new_oid
    else:
        if not target.exists() and not target.is_symlink():
            raise GitError(f"{change.path} is missing from the worktree {worktree}")
        symlink = target.is_symlink()
        oid = _hash(worktree, _disk_bytes(target), None if symlink else change.path)
        mode = mode or _disk_mode(target)
    return mode or "100644", oid


def advance_base(worktree: Path, base: str, change: FileChange, hunk_ids: Collection[str] | None = None) -> str:
    """New base commit (parent `base`) with these hunks of `change` applied (None = the whole change)."""
    worktree = Path(worktree)
    chosen = _select(change, hunk_ids)
    if chosen is not None and not chosen:
        return base
    records: list[tuple[str, str, str]] = []
    old_path = change.base_path
    if chosen is None:
        if change.change in ("delete", "rename"):
            records.append(("0", _NULL_OID, old_path))
        if change.change != "delete":
            mode, oid = _new_side(worktree, change)
            records.append((mode, oid, change.path))
    else:
        entry = _tree_entry(worktree, base, old_path)
        if entry is None or entry[1] != "blob":
            raise GitError(f"{old_path} is not a file in the base {base}")
        base_text = _text(worktree, entry[2])
        # Already normalized blob text: hash without filters.
        oid = _hash(worktree, apply_hunks(base_text, chosen).encode("utf-8", "surrogateescape"))
        if change.change == "rename":
            # Accepting an edit of a renamed file accepts the rename too: the edit lives at the new path.
            records.append(("0", _NULL_OID, old_path))
        records.append((entry[0], oid, change.path))
    with _temp_index() as env:
        _git(worktree, "read-tree", base, env=env)
        info = b"".join(f"{m} {o}\t{p}\0".encode("utf-8", "surrogateescape") for m, o, p in records)
        _git(worktree, "update-index", "-z", "--index-info", env=env, input=info)
        tree = _out(worktree, "write-tree", env=env)
    if tree == _out(worktree, "rev-parse", f"{base}^{{tree}}"):
        return base
    return _out(worktree, "commit-tree", tree, "-p", base, "-m", f"agent-bridge: apply {change.path}")


def reset_base_path(worktree: Path, base: str, source: str, path: str) -> str:
    """New base commit (parent `base`) whose `path` is as it is in `source` (absent there: removed).

    Undoes the re-baselining of one file when the user undoes an applied change in the editor.
    """
    worktree = Path(worktree)
    entry = _tree_entry(worktree, source, path)
    record = (entry[0], entry[2], path) if entry is not None else ("0", _NULL_OID, path)
    with _temp_index() as env:
        _git(worktree, "read-tree", base, env=env)
        info = f"{record[0]} {record[1]}\t{record[2]}\0".encode("utf-8", "surrogateescape")
        _git(worktree, "update-index", "-z", "--index-info", env=env, input=info)
        tree = _out(worktree, "write-tree", env=env)
    if tree == _out(worktree, "rev-parse", f"{base}^{{tree}}"):
        return base
    return _out(worktree, "commit-tree", tree, "-p", base, "-m", f"agent-bridge: unapply {path}")


def _text(repo: Path, oid: str) -> str:
    # surrogateescape keeps stray non-UTF-8 bytes outside the hunks byte-identical on the way back.
    return _decode(_git(repo, "cat-file", "blob", oid).stdout)


def revert_in_worktree(
    worktree: Path,
    base: str,
    change: FileChange,
    hunk_ids: Collection[str] | None = None,
    message: str = "agent-bridge: revert rejected changes",
) -> str | None:
    """Undo these hunks of `change` (None = the whole change) in the worktree's files, then commit_all."""
    worktree = Path(worktree)
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
        target = _safe_path(worktree, change.path)
        if not target.exists() and not target.is_symlink():
            raise GitError(f"{change.path} is missing from the worktree {worktree}")
        symlink = target.is_symlink()
        # Hunks are relative to the normalized blob, not to the bytes on disk (eol, filters).
        current = _hash(worktree, _disk_bytes(target), None if symlink else change.path)
        reverted = revert_hunks(_text(worktree, current), chosen)
        oid = _hash(worktree, reverted.encode("utf-8", "surrogateescape"))
        _restore(worktree, change.path, _disk_mode(target), oid)
    return commit_all(worktree, message)


def _restore(worktree: Path, rel: str, mode: str, oid: str) -> None:
    """Write blob `oid` to `rel` in the worktree as a checkout would (smudge filters, mode)."""
    target = _safe_path(worktree, rel)
    if target.is_dir() and not target.is_symlink():
        raise GitError(f"cannot restore {rel}: a directory is in the way in {worktree}")
    target.parent.mkdir(parents=True, exist_ok=True)
    _safe_path(worktree, rel)  # re-check now that the parents exist
    if mode == "120000":
        link = _git(worktree, "cat-file", "blob", oid).stdout
        if target.exists() or target.is_symlink():
            target.unlink()
        os.symlink(os.fsdecode(link), target)
        return
    data = _git(worktree, "cat-file", "--filters", f"--path={rel}", oid).stdout
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


def _remove_file(worktree: Path, rel: str) -> None:
    target = _safe_path(worktree, rel)
    if target.is_dir() and not target.is_symlink():
        raise GitError(f"cannot remove {rel}: it is a directory in {worktree}")
    if target.exists() or target.is_symlink():
        target.unlink()
    # Like git, drop directories the removal left empty (never the worktree itself).
    root = worktree.absolute()
    parent = target.parent
    while parent != root and root in parent.parents:
        try:
            parent.rmdir()
        except OSError:
            break
        parent = parent.parent


def _check_rel(rel: str) -> str:
    parts = rel.split("/")
    if (
        not rel
        or PurePosixPath(rel).is_absolute()
        or "\0" in rel
        or any(part in ("", ".", "..") or part.lower() == ".git" for part in parts)
    ):
        raise ValueError(f"unsafe repository path {rel!r}")
    return rel


def _safe_path(root: Path, rel: str) -> Path:
    """`rel` joined under `root`, refusing anything (.., symlinked directories) that leads outside."""
    _check_rel(rel)
    root = root.absolute()
    target = root.joinpath(*rel.split("/"))
    real_root = root.resolve()
    real_parent = target.parent.resolve()
    if real_parent != real_root and real_root not in real_parent.parents:
        raise ValueError(f"path {rel!r} leads outside {root}")
    return target


def remove_worktree(repo_root: Path, worktree: Path, branch: str, archive_ref: str | None) -> None:
    """Remove a worktree and its branch, first saving its work under `archive_ref` if given."""
    repo_root, worktree = Path(repo_root), Path(worktree).absolute()
    present = (worktree / ".git").exists()
    if archive_ref is not None:
        _check_ref(archive_ref)
        if present:
            commit_all(worktree, "agent-bridge: archive before removing the worktree")
        tip = _git(repo_root, "rev-parse", "--verify", "-q", f"refs/heads/{branch}^{{commit}}", ok=(0, 1))
        if tip.returncode == 0:
            set_ref(repo_root, archive_ref, _decode(tip.stdout).strip())
    if present:
        _git(repo_root, "worktree", "remove", "--force", str(worktree))
    # Prune before deleting the branch: git refuses to delete a branch a stale worktree entry claims.
    _git(repo_root, "worktree", "prune")
    exists = _git(repo_root, "rev-parse", "--verify", "-q", f"refs/heads/{branch}", ok=(0, 1))
    if exists.returncode == 0:
        _git(repo_root, "branch", "-D", branch)


def list_worktrees(repo_root: Path) -> list[tuple[Path, str | None]]:
    """(path, short branch name or None when detached/bare) for every worktree, the main one first."""
    out = _git(Path(repo_root), "worktree", "list", "--porcelain", "-z").stdout
    result: list[tuple[Path, str | None]] = []
    path: Path | None = None
    branch: str | None = None
    for field in [*out.split(b"\0"), b""]:
        text = _decode(field)
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
