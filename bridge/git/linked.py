"""A session worktree's git dir, found from the repository's own records, and its `.git` file kept honest.

Git keeps one admin dir per linked worktree, `<common dir>/worktrees/<name>`, whose `gitdir` file names the
worktree's `.git`. That record lives in the user's repository, outside the agent's worktree. The worktree's
`.git` file (`gitdir: <admin dir>`) is inside it, so the agent can point it anywhere, the user's own
repository included. The bridge therefore finds the git dir from the record, names it on every git command
(`run.Worktree`), and treats the `.git` file only as something to check and put back for the agent's sake.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from pathlib import Path

from bridge.errors import GitError
from bridge.git.run import Worktree, out

# A gitdir line is one path; anything longer is not what git wrote.
_MAX_GITFILE = 4096
_PREFIX = "gitdir: "


def common_dir(repo_root: Path) -> Path:
    """The repository's common git dir (`.git` of the main worktree), as an absolute path."""
    return Path(out(Path(repo_root), "rev-parse", "--path-format=absolute", "--git-common-dir"))


def _read_small(path: Path) -> bytes | None:
    """A regular file's bytes if it is one and small; None otherwise (never follows a symlink, never blocks)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        data = handle.read(_MAX_GITFILE + 1)
    return data if len(data) <= _MAX_GITFILE else None


def _one_path(data: bytes | None, prefix: str, relative_to: Path) -> Path | None:
    """The single path a git pointer file holds (`prefix` + path), made absolute; None if it is not one."""
    if data is None:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    text = text.rstrip("\r\n")
    if not text.startswith(prefix) or "\n" in text or "\0" in text or len(text) == len(prefix):
        return None
    path = Path(text[len(prefix) :])
    return path if path.is_absolute() else relative_to / path


def _registers(admin: Path, worktree: Path) -> bool:
    """Whether git's admin dir `admin` records `worktree` as its work tree."""
    recorded = _one_path(_read_small(admin / "gitdir"), "", admin)
    if recorded is None or recorded.name != ".git":
        return False
    return os.path.realpath(recorded.parent) == os.path.realpath(worktree)


def admin_dir(common: Path, worktree: Path) -> Path | None:
    """The admin dir under `common` that registers `worktree`, or None if the repository has no record of it."""
    root = common / "worktrees"
    # git names the admin dir after the worktree's directory unless that name was taken.
    guess = root / worktree.name
    if _registers(guess, worktree):
        return guess
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return None
    return next((entry for entry in entries if entry != guess and _registers(entry, worktree)), None)


def locate(repo_root: Path, worktree: Path) -> Worktree:
    """The worktree the repository at `repo_root` registered at `worktree` (never read from its `.git`)."""
    worktree = Path(worktree).absolute()
    admin = admin_dir(common_dir(repo_root), worktree)
    if admin is None:
        raise GitError(f"{worktree} is not a worktree of the repository {repo_root} (git has no record of it)")
    return Worktree(worktree, admin)


def suggested_common_dir(worktree: Path) -> Path | None:
    """The common git dir the worktree's `.git` file leads to: a hint only, to be checked with admin_dir."""
    target = _one_path(_read_small(Path(worktree) / ".git"), _PREFIX, Path(worktree))
    if target is None:
        return None
    common = _one_path(_read_small(target / "commondir"), "", target)
    # commondir is usually relative ("../.."): resolved, so that the repository is its parent.
    return Path(os.path.realpath(common if common is not None else target))


def gitfile_problem(tree: Worktree) -> str | None:
    """What is wrong with the worktree's `.git` (None: a regular file pointing git at the worktree's git dir)."""
    dot_git = tree.path / ".git"
    try:
        st = os.lstat(dot_git)
    except FileNotFoundError:
        return "it was deleted"
    except OSError as exc:
        return f"it cannot be read ({exc.strerror})"
    if stat.S_ISLNK(st.st_mode):
        with contextlib.suppress(OSError):
            return f"it is a symlink to {_shown(os.readlink(dot_git))}"
        return "it is a symlink"
    if stat.S_ISDIR(st.st_mode):
        return "it is a directory (a repository of its own)"
    data = _read_small(dot_git)
    target = _one_path(data, _PREFIX, tree.path)
    if target is None:
        return "it is not a gitdir line" if data is not None else "it is not a regular file"
    if os.path.realpath(target) != os.path.realpath(tree.git_dir):
        return f"it points git at {_shown(str(target))}"
    return None


def _shown(path: str) -> str:
    # The agent chose it: keep a long one from burying the message it appears in.
    return path if len(path) <= 200 else path[:200] + "..."


def restore_gitfile(tree: Worktree) -> None:
    """Write the `.git` file git wrote when it created the worktree, over whatever is there now."""
    dot_git = tree.path / ".git"
    try:
        if stat.S_ISDIR(os.lstat(dot_git).st_mode):
            shutil.rmtree(dot_git)  # a directory the agent made; a symlink is replaced below, never followed
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise GitError(f"cannot remove the planted {dot_git}: {exc}") from exc
    fd, tmp = tempfile.mkstemp(dir=tree.path, prefix=".agent-bridge-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o644)
            handle.write(f"{_PREFIX}{tree.git_dir}\n")
        os.replace(tmp, dot_git)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise GitError(f"cannot restore {dot_git}: {exc}") from exc


def check_gitfile(tree: Worktree) -> str | None:
    """Put the worktree's `.git` back if it was tampered with; what was wrong with it, or None."""
    problem = gitfile_problem(tree)
    if problem is not None:
        restore_gitfile(tree)
    return problem


def repair_report(tree: Worktree) -> str | None:
    """check_gitfile, told as the reason a turn fails (None: the `.git` file is as git wrote it)."""
    problem = gitfile_problem(tree)
    if problem is None:
        return None
    try:
        restore_gitfile(tree)
        done = "put it back"
    except GitError as exc:
        done = f"could not put it back: {exc}"
    return (
        f"the agent tampered with the worktree's .git file, which tells git where the repository is ({problem}); "
        f"agent-bridge never used it and {done}. Your repository was not touched; review this turn's changes "
        "with care."
    )
