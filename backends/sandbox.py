"""Agents in a bubblewrap sandbox: the filesystem read-only, except their worktree and their own home.

A sandboxed agent, and everything it starts (its terminals, opencode's tools), runs under `bwrap` with:

* `/` bound read-only, fresh `/dev` and `/proc` (in a PID namespace of its own, so other processes' `/proc`
  entries, `/proc/PID/root` and `/proc/PID/environ` among them, are not there to read);
* empty tmpfs over what holds other people's or other projects' data: the homes (`/home`, `/root`, the user's
  and the agent's `$HOME`), `/run/user` (where agent and bus sockets live), the bridge's state dir and the
  user's own checkout (read-only: writes there fail), and `/tmp`, `/var/tmp` (writable scratch, gone with the
  sandbox);
* the agent's home replaced by a per-agent sandbox home (seeded by `seed_home` with the files the agent
  needs to log in), writable;
* the session worktree writable; the repository's git dir, git's admin dir for the worktree included,
  read-only (git in the worktree needs its objects and refs; a writable admin dir would steer the bridge's
  own git, which runs outside the sandbox);
* back, read-only: the agent's own install (its executable's prefix, its interpreter's) and `PATH`
  directories that a tmpfs covered, plus the paths the user lists (`sandbox_paths`).

The network is not confined: the model endpoint must stay reachable (see SECURITY.md).

`sandbox_argv` is pure (a policy in, a command line out); `build_policy` reads the disk to fill a policy;
`problem` says, once per process, whether bubblewrap can run here at all.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from backends.base import AgentStartError
from backends.sandbox_home import seed_home, seed_paths

BWRAP = "bwrap"
BWRAP_ENV = "AGENT_BRIDGE_BWRAP"  # another bubblewrap than the one on PATH
# Environment a sandboxed agent does not get: a socket path that leads out of the sandbox (a read-only mount
# does not stop a connect).
UNSET_ENV = ("SSH_AUTH_SOCK", "DBUS_SESSION_BUS_ADDRESS")
# Hidden wherever they exist: homes, shared scratch space and per-user runtime sockets.
SYSTEM_HIDDEN = ("/home", "/root", "/tmp", "/var/tmp", "/run/user", "/media", "/mnt")
# Hidden places that stay writable (empty, and gone with the sandbox): programs expect scratch space there.
SCRATCH = ("/tmp", "/var/tmp")
ENABLE_HINT = (
    "install bubblewrap (Debian/Ubuntu: `sudo apt install bubblewrap`, Fedora: `sudo dnf install bubblewrap`) "
    "and allow unprivileged user namespaces (`sudo sysctl kernel.unprivileged_userns_clone=1` on older Debian; "
    "`sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0` or an AppArmor profile for bwrap on Ubuntu "
    "23.10+; `user.max_user_namespaces` must be above 0), or set `sandbox = false` for this agent"
)


@dataclass(frozen=True)
class SandboxPath:
    """A path the user lets a sandboxed agent see (read-only) or change (`write`)."""

    path: str  # absolute, or `~/...` (the agent's home)
    write: bool = False


@dataclass(frozen=True)
class SandboxPolicy:
    """What a sandboxed process sees. Later (deeper) mounts win over the ones they sit in."""

    cwd: Path
    writable: tuple[Path, ...] = ()  # bound read-write at the same path (must exist)
    readable: tuple[Path, ...] = ()  # bound read-only at the same path, skipped when missing
    hidden: tuple[Path, ...] = ()  # replaced by an empty tmpfs (must exist)
    home: Path | None = None  # where `home_source` appears, read-write
    home_source: Path | None = None
    optional_writable: tuple[Path, ...] = ()  # like `writable`, skipped when missing (the user's extras)
    unset_env: tuple[str, ...] = UNSET_ENV


def _depth(path: Path) -> int:
    return len(path.parts)


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def bwrap_program() -> str:
    return os.environ.get(BWRAP_ENV) or BWRAP


def sandbox_argv(policy: SandboxPolicy, bwrap: str = BWRAP) -> list[str]:
    """The `bwrap ... --` prefix that runs a command under `policy` (append the command)."""
    argv = [
        bwrap,
        "--die-with-parent",  # the sandbox goes when the launcher that watches the bridge goes
        "--unshare-pid",  # its own /proc: no other process's files, environment or root to reach through it
        "--unshare-ipc",
        "--new-session",  # no TIOCSTI into a terminal the bridge may have
        # Run as root, bwrap would leave the sandbox every capability: enough to unmount a hiding tmpfs or remount
        # `/` read-write. Without them (as for any other user) the mounts hold.
        "--cap-drop", "ALL",
        "--ro-bind", "/", "/",
        "--dev", "/dev",
        "--proc", "/proc",
    ]
    home = policy.home if policy.home_source is not None else None
    # A tmpfs inside a read-only one, or inside the replaced home, hides nothing more: leave it out, unless a
    # path shown again (`~/.local` in sandbox_paths, say) would show it (the state dir in ~/.local/state).
    # Inside a scratch tmpfs it still makes the place read-only.
    shown = [*policy.readable, *policy.optional_writable]
    hidden = sorted(set(policy.hidden), key=lambda p: (_depth(p), str(p)))
    kept: list[Path] = []
    for path in hidden:
        if path == home:
            continue  # replaced by the sandbox home, which must stay writable (no tmpfs, no remount under it)
        covered = any(_under(path, other) for other in kept if str(other) not in SCRATCH)
        covered = covered or (home is not None and _under(path, home))
        if covered and not any(_under(path, again) for again in shown):
            continue
        kept.append(path)
    # (path, rank, mount arguments): the shallowest first, so the most specific mount is the one that shows;
    # at one depth: tmpfs, then read-only, then read-write.
    mounts: list[tuple[int, int, str, list[str]]] = [(_depth(p), 0, str(p), ["--tmpfs", str(p)]) for p in kept]
    if home is not None and policy.home_source is not None:
        mounts.append((_depth(home), 1, str(home), ["--bind", str(policy.home_source), str(home)]))
    for path in dict.fromkeys(policy.readable):
        mounts.append((_depth(path), 2, str(path), ["--ro-bind-try", str(path), str(path)]))
    for path in dict.fromkeys(policy.optional_writable):
        mounts.append((_depth(path), 3, str(path), ["--bind-try", str(path), str(path)]))
    for path in dict.fromkeys(policy.writable):
        mounts.append((_depth(path), 3, str(path), ["--bind", str(path), str(path)]))
    for _, _, _, args in sorted(mounts, key=lambda m: (m[0], m[1], m[2])):
        argv += args
    # Last, once every mount point inside them exists: an empty place the agent cannot write to either, so a
    # write into the user's checkout or the bridge's state dir fails instead of landing in a throwaway tmpfs.
    for path in kept:
        if str(path) not in SCRATCH:
            argv += ["--remount-ro", str(path)]
    for name in policy.unset_env:
        argv += ["--unsetenv", name]
    argv += ["--chdir", str(policy.cwd), "--"]
    return argv


def hint(output: str) -> str:
    """What to add to a sandboxed process's failure when it could not find something ("" otherwise): most
    likely a place the sandbox hides (a program installed under a home that no PATH entry names)."""
    if any(sign in output for sign in ("bwrap: execvp", "not found", "No such file or directory")):
        return "; if the sandbox hides something it needs, add its directory to the agent's sandbox_paths"
    return ""


def wrap(argv: Sequence[str], policy: SandboxPolicy | None) -> list[str]:
    """`argv` as it runs under `policy` (unchanged without one)."""
    return list(argv) if policy is None else [*sandbox_argv(policy, bwrap_program()), *argv]


@functools.cache
def problem() -> str | None:
    """Why a sandbox cannot be made on this machine (with how to fix it), or None when it can.

    Probed once per process with the namespaces the sandbox uses; blocking (a few milliseconds): call it from a
    thread in async code."""
    program = bwrap_program()
    exe = shutil.which(program)
    if exe is None:
        return f"bubblewrap (`{program}`) is not installed: {ENABLE_HINT}"
    # The namespaces and mounts every sandbox uses, so what would fail for an agent fails here.
    probe = [exe, "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--new-session", "--cap-drop", "ALL",
             "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--remount-ro", "/tmp",
             "true"]
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap cannot run ({exc}): {ENABLE_HINT}"
    if done.returncode != 0:
        reason = (done.stderr or done.stdout).strip().splitlines()
        said = reason[-1] if reason else f"exit code {done.returncode}"
        return f"bubblewrap cannot create a sandbox here ({said}): {ENABLE_HINT}"
    return None


# Filling a policy from the disk


def install_root(executable: Path) -> Path:
    """The directory an executable's installation lives in: the top `node_modules` above it (an npm package and
    its dependencies), else the prefix above its `bin` directory, else its own directory."""
    modules = [parent for parent in executable.parents if parent.name == "node_modules"]
    if modules:
        return modules[-1]
    if executable.parent.name == "bin":
        return executable.parent.parent
    return executable.parent


def _interpreter(script: Path, path: str) -> Path | None:
    """The program a `#!` script runs under (`#!/usr/bin/env node` -> node on PATH), or None."""
    try:
        with script.open("rb") as handle:
            first = handle.readline(512)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    words = first[2:].decode("utf-8", "replace").split()
    if not words:
        return None
    if Path(words[0]).name == "env":
        words = [w for w in words[1:] if not w.startswith("-")]
        if not words:
            return None
        found = shutil.which(words[0], path=path)
        return Path(found) if found else None
    return Path(words[0])


def program_roots(command: str, path: str, cwd: Path) -> list[Path]:
    """What running `command` reads from its installation: its prefix (as named and as resolved) and its
    interpreter's. Symlinks are followed, so a `node_modules/.bin` entry brings its package."""
    found = shutil.which(command, path=path) if os.sep not in command else str(cwd / command)
    if not found:
        return []
    roots: list[Path] = []
    exe = Path(found).absolute()
    for candidate in (exe, Path(os.path.realpath(exe))):
        roots.append(install_root(candidate))
        interpreter = _interpreter(candidate, path)
        if interpreter is not None:
            roots.append(install_root(interpreter.absolute()))
            roots.append(install_root(Path(os.path.realpath(interpreter))))
    return list(dict.fromkeys(roots))


def expand(entry: SandboxPath, home: Path) -> Path | None:
    """An entry's absolute path (`~` is the agent's home), or None for a relative one."""
    raw = entry.path
    if raw == "~" or raw.startswith("~/"):
        return home / raw[2:] if raw != "~" else home
    path = Path(raw)
    return Path(os.path.normpath(path)) if path.is_absolute() else None


def build_policy(
    *,
    worktree: Path,
    cwd: Path,
    env: Mapping[str, str],
    command: Sequence[str],
    sandbox_home: Path,
    git_dir: Path | None = None,
    common_dir: Path | None = None,
    hide: Sequence[Path] = (),
    extra: Sequence[SandboxPath] = (),
) -> SandboxPolicy:
    """The policy of one sandboxed agent (or its server or terminal). `env` is what the process gets;
    `hide` adds what the bridge knows to be private (its state dir, the user's checkout)."""
    home = Path(env.get("HOME") or os.path.expanduser("~")).absolute()
    own_home = Path(os.path.expanduser("~")).absolute()
    hidden = [Path(p) for p in SYSTEM_HIDDEN] + [own_home, home, *map(Path, hide)]
    hidden = [p.absolute() for p in hidden if p.is_dir() and p != Path("/")]
    path = env.get("PATH", os.defpath)
    readable: list[Path] = []
    # PATH directories and the agent's own install stay readable where a tmpfs would have covered them.
    for directory in path.split(os.pathsep):
        if directory and os.path.isabs(directory):
            readable.append(Path(directory))
    readable += program_roots(command[0], path, cwd)
    readable = [p for p in readable if any(_under(p, h) for h in hidden)]
    # git in the worktree reads its repository: objects, refs and its admin dir, all read-only. The admin dir is
    # not writable: its `commondir`, `index` and `config.worktree` steer the git the bridge runs outside the
    # sandbox on this worktree (a `commondir` pointing at a repository the agent made brings that repository's
    # config, `core.fsmonitor` and all). Reading git works; `git add`/`commit` in the sandbox fail.
    readable += [p for p in (common_dir, git_dir) if p is not None]
    writable = [worktree]
    optional: list[Path] = []
    for entry in extra:
        target = expand(entry, home)
        if target is not None:
            (optional if entry.write else readable).append(target)
    sandbox_home.mkdir(parents=True, exist_ok=True, mode=0o700)
    return SandboxPolicy(
        cwd=cwd, writable=tuple(writable), readable=tuple(readable), hidden=tuple(dict.fromkeys(hidden)),
        home=home, home_source=sandbox_home, optional_writable=tuple(optional),
    )


@dataclass(frozen=True)
class SandboxSpec:
    """How the bridge sandboxes one agent of one session; `prepare` makes the policy when it starts."""

    home: Path  # the agent's sandbox home (replaces its $HOME)
    git_dir: Path | None = None  # git's admin dir for the session worktree (read-only)
    common_dir: Path | None = None  # the repository's git dir (read-only)
    hide: tuple[Path, ...] = ()  # the bridge's state dir, the user's checkout
    extra: tuple[SandboxPath, ...] = ()

    def prepare(self, command: Sequence[str], env: Mapping[str, str], worktree: Path, cwd: Path) -> SandboxPolicy:
        """The policy for `command` run with `env` in `worktree` (blocking: run it in a thread).

        Raises AgentStartError, saying how to enable bubblewrap, where no sandbox can be made: a sandboxed
        agent never runs unsandboxed instead."""
        reason = problem()
        if reason is not None:
            raise AgentStartError(f"{command[0]} is set to run sandboxed, and {reason}")
        real_home = Path(env.get("HOME") or os.path.expanduser("~")).absolute()
        try:
            seed_home(self.home, real_home, seed_paths(command, env, real_home))
            return build_policy(
                worktree=worktree, cwd=cwd, env=env, command=command, sandbox_home=self.home,
                git_dir=self.git_dir, common_dir=self.common_dir, hide=self.hide, extra=self.extra,
            )
        except OSError as exc:
            raise AgentStartError(f"{command[0]}: cannot prepare its sandbox ({exc})") from exc
