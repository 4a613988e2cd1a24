"""Running git for the bridge: never the user's hooks, index or environment; errors as GitError."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bridge.errors import GitError

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


DIFF_OPTS = (
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


NULL_OID = "0" * 40


@dataclass(frozen=True)
class Worktree:
    """A session worktree as the bridge created it: its files and its git dir in the user's repository.

    Git is always told both. Left to find its repository itself, git would follow the worktree's `.git` file,
    which the agent can rewrite to point at the user's own repository.
    """

    path: Path  # the work tree
    git_dir: Path  # <common dir>/worktrees/<name>, found from the repository's records


# Where a git command runs: a repository found from a directory the bridge trusts, or a session worktree.
Where = Path | Worktree


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


def git(
    where: Where,
    *args: str,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    ok: Collection[int] = (0,),
) -> subprocess.CompletedProcess[bytes]:
    cwd, cmd = _command(where, args)
    try:
        with _admin_lock(where, args):
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
    return _checked(proc, args, cwd, ok)


# Commands that write a repository's worktree records, or read every worktree's (a branch checked out elsewhere
# may not be made or deleted). Git makes a worktree's record one file at a time, and a command reading the records
# at that moment dies ("failed to read .git/worktrees/<id>/commondir"): sessions made at once collided so. They
# take turns per repository; a whole checkout is never made under the lock (`worktree add --no-checkout`, then
# `reset --hard` in the worktree).
_ADMIN_COMMANDS = frozenset({"worktree", "branch"})
_admin_locks: dict[str, threading.Lock] = {}
_admin_locks_guard = threading.Lock()


def _admin_lock(where: Where, args: Sequence[str]) -> contextlib.AbstractContextManager[object]:
    if isinstance(where, Worktree) or not args or args[0] not in _ADMIN_COMMANDS:
        return contextlib.nullcontext()
    # One lock per repository, whether it is named by its checkout or its git dir (both are).
    dot_git = os.path.join(where, ".git")
    key = os.path.realpath(dot_git if os.path.isdir(dot_git) else where)
    with _admin_locks_guard:
        lock = _admin_locks.setdefault(key, threading.Lock())
    return lock


def _command(where: Where, args: Sequence[str]) -> tuple[Path, list[str]]:
    if isinstance(where, Worktree):
        return where.path, ["git", f"--git-dir={where.git_dir}", f"--work-tree={where.path}", *_CONFIG, *args]
    return where, ["git", *_CONFIG, *args]


def git_cancellable(where: Where, *args: str, cancel: threading.Event) -> subprocess.CompletedProcess[bytes]:
    """`git` for long background work (a whole checkout): killed as soon as `cancel` is set (GitError then)."""
    cwd, cmd = _command(where, args)
    if cancel.is_set():
        raise GitError(f"git {' '.join(args)} was stopped in {cwd}", args)
    try:
        # A group of its own, so that stopping it stops what it started too (filters such as git-lfs).
        child = subprocess.Popen(
            cmd, cwd=cwd, env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise GitError(f"cannot run git {' '.join(args)} in {cwd}: {exc}", args) from exc
    with child:
        while True:
            try:
                stdout, stderr = child.communicate(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                if cancel.is_set():
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(child.pid, signal.SIGKILL)
                    child.communicate()
                    raise GitError(f"git {' '.join(args)} was stopped in {cwd}", args) from None
    return _checked(subprocess.CompletedProcess(cmd, child.returncode, stdout, stderr), args, cwd, (0,))


def _checked(
    proc: subprocess.CompletedProcess[bytes], args: Sequence[str], cwd: Path, ok: Collection[int]
) -> subprocess.CompletedProcess[bytes]:
    if proc.returncode not in ok:
        stderr = proc.stderr.decode("utf-8", "replace").strip()
        raise GitError(
            f"git {' '.join(args)} failed in {cwd} (exit {proc.returncode}): {stderr}",
            args,
            stderr,
            proc.returncode,
        )
    return proc


def out(where: Where, *args: str, env: Mapping[str, str] | None = None, input: bytes | None = None) -> str:
    return git(where, *args, env=env, input=input).stdout.decode("utf-8", "surrogateescape").strip()


def decode(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


@contextlib.contextmanager
def temp_index(seed: Path | None = None) -> Iterator[dict[str, str]]:
    """Env for a throwaway index, optionally a copy of `seed` (whose stat data makes `add -A` fast)."""
    with tempfile.TemporaryDirectory(prefix="agent-bridge-index-") as tmp:
        index = Path(tmp) / "index"
        if seed is not None and seed.is_file():
            # copy2 keeps the mtime: git re-checks entries not older than the index ("racy git"); a fresh
            # mtime would make it trust stale stat data and miss same-size edits made in the same second.
            shutil.copy2(seed, index)
        yield {"GIT_INDEX_FILE": str(index)}


def git_path(repo: Where, name: str) -> Path:
    path = Path(out(repo, "rev-parse", "--git-path", name))
    cwd = repo.path if isinstance(repo, Worktree) else repo
    return path if path.is_absolute() else cwd / path


def head_commit(repo: Where) -> str | None:
    proc = git(repo, "rev-parse", "--verify", "-q", "HEAD^{commit}", ok=(0, 1))
    if proc.returncode != 0:
        return None
    return decode(proc.stdout).strip() or None


def check_rel(rel: str) -> str:
    parts = rel.split("/")
    if (
        not rel
        or PurePosixPath(rel).is_absolute()
        or "\0" in rel
        or any(part in ("", ".", "..") or part.lower() == ".git" for part in parts)
    ):
        raise ValueError(f"unsafe repository path {rel!r}")
    return rel


def safe_path(root: Path, rel: str) -> Path:
    """`rel` joined under `root`, refusing anything (.., symlinked directories) that leads outside."""
    check_rel(rel)
    root = root.absolute()
    target = root.joinpath(*rel.split("/"))
    real_root = root.resolve()
    real_parent = target.parent.resolve()
    if real_parent != real_root and real_root not in real_parent.parents:
        raise ValueError(f"path {rel!r} leads outside {root}")
    return target


def hash_object(repo: Where, data: bytes, path: str | None = None) -> str:
    args = ["hash-object", "-w", "--stdin"]
    if path is not None:
        args.append(f"--path={path}")
    return out(repo, *args, input=data)
