"""Everything the bridge starts dies with the bridge, however the bridge dies (even by SIGKILL).

The bridge runs every agent, terminal command and opencode server through this launcher:
`python -I -S lifeline.py --parent PID --grace S -- CMD...` (see `wrap`). The launcher:

* watches the bridge, its parent, as a process: a pidfd on Linux (woken the moment it exits), `getppid()`
  changing everywhere. Not PR_SET_PDEATHSIG on itself: that fires when the parent *thread* that forked
  exits, and the bridge may spawn from any thread;
* is a child subreaper on Linux, so what CMD starts and orphans (a double fork, a `setsid` daemon) re-parents
  to it instead of to init, where it can still be found and killed;
* runs CMD in its own process group (the launcher's) with stdio inherited untouched: it never reads or buffers them
  (ACP speaks over them) and drops its own copies, so EOF comes when CMD's side closes. CMD gets
  PR_SET_PDEATHSIG=SIGKILL, safe here because the launcher is single-threaded: if the launcher itself is
  SIGKILLed, CMD goes too;
* when the bridge is gone, or on SIGTERM/SIGINT/SIGHUP, TERMs its group and every descendant, waits
  `grace` seconds (a second stop signal cuts that short), KILLs whatever is left, and exits;
* when CMD exits by itself, kills what CMD left behind and exits as CMD did (same code, or same signal).

It runs from its file with `-I -S`, so it imports the standard library only (and starts in milliseconds).
Without a subreaper (macOS), orphans that left CMD's process group escape; the group and the direct child
still go.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import select
import shutil
import signal
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
POLL_S = 0.5  # how often the parent is checked where no pidfd wakes the launcher
KILL_DEADLINE_S = 5.0  # bound on the KILL sweep: a tree that keeps forking faster than it dies is left


# The bridge's side


def wrap(
    argv: Sequence[str], grace: float, env: Mapping[str, str] | None = None, cwd: str | Path | None = None
) -> list[str]:
    """The command line that runs `argv` under a lifeline tied to this process.

    Raises FileNotFoundError / PermissionError for a command that cannot run, as starting it directly would,
    so callers keep reporting a missing agent or terminal command the same way.
    """
    check_runnable(argv[0], (env or os.environ).get("PATH", os.defpath), cwd)
    return [sys.executable, "-I", "-S", str(Path(__file__).resolve()),
            "--parent", str(os.getpid()), "--grace", f"{grace:g}", "--", *argv]


def check_runnable(command: str, path: str, cwd: str | Path | None) -> None:
    """FileNotFoundError / PermissionError when `command` cannot run (as exec would fail), else nothing."""
    if os.sep in command:
        target = Path(command) if os.path.isabs(command) else Path(cwd or ".") / command
        if not target.exists():
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), command)
        if target.is_dir() or not os.access(target, os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), command)
    elif shutil.which(command, path=path) is None:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), command)


async def stop(process: asyncio.subprocess.Process, grace: float) -> None:
    """Stop a process started under a lifeline, and with it everything it started.

    TERM asks the launcher to TERM its tree; after `grace` a second TERM makes it KILL the tree at once. A
    launcher that still does not exit is KILLed, and its process group with it.
    """
    if process.returncode is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGTERM, 2.0), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), wait)
            break
    sweep(process)


def sweep(process: asyncio.subprocess.Process) -> None:
    """Call right after seeing a launcher exit: if it died by SIGKILL (it may not have cleaned up), KILL what
    is left in its process group. Only right after: later its pid, the group's id, may be someone else's."""
    if process.returncode == -signal.SIGKILL:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


# The launcher's side


def _libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True)
    except (ImportError, OSError):
        return None


class _Parent:
    """The bridge, watched as a process (not a thread)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.fd: int | None = None
        with contextlib.suppress(AttributeError, OSError):
            self.fd = os.pidfd_open(pid)

    def gone(self) -> bool:
        # The launcher is the bridge's child: once the bridge exits it is re-parented, so this is exact even
        # when the pidfd is missing or (opened too late) names a reused pid.
        if os.getppid() != self.pid:
            return True
        return self.fd is not None and bool(select.select([self.fd], [], [], 0)[0])


def _processes() -> Iterable[tuple[int, int, int]]:
    """(pid, parent pid, process group) of every live process (zombies left out: they only await reaping)."""
    if os.path.isdir("/proc/self"):
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat", "rb") as fh:
                    fields = fh.read().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if fields[0] != b"Z":
                yield int(name), int(fields[1]), int(fields[2])
        return
    import subprocess

    try:
        out = subprocess.run(["ps", "-A", "-o", "pid=", "-o", "ppid=", "-o", "pgid=", "-o", "stat="],
                             capture_output=True, text=True, check=False).stdout
    except OSError:
        return
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4 and not parts[3].startswith("Z"):
            yield int(parts[0]), int(parts[1]), int(parts[2])


def _tree(root: int) -> list[int]:
    """Every descendant of `root`, and every other member of its process group (without a subreaper, an
    orphan that stayed in the group is found only that way)."""
    children: dict[int, list[int]] = {}
    found: set[int] = set()
    for pid, ppid, pgid in _processes():
        children.setdefault(ppid, []).append(pid)
        if pgid == root and pid != root:
            found.add(pid)
    todo = list(children.get(root, ()))
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo.extend(children.get(pid, ()))
    return sorted(found)


class _Launcher:
    def __init__(self, parent: int, grace: float, argv: list[str]) -> None:
        self.parent = _Parent(parent)
        self.grace = grace
        self.argv = argv
        self.libc = _libc()
        self.child = 0
        self.status: int | None = None
        self.stops = 0
        self.wake_r, wake_w = os.pipe()
        for fd in (self.wake_r, wake_w):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)  # a full pipe already means "wake up"
        signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so SIGCHLD reaches the wakeup fd
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._on_stop)

    def _on_stop(self, signum: int, frame: Any) -> None:
        self.stops += 1

    def start(self) -> None:
        if self.libc is not None:
            self.libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        me = os.getpid()
        if os.getpgrp() != me:
            # A group of our own that CMD shares: if the launcher is ever KILLed, the bridge can still KILL
            # the group by the launcher's pid, as it always could.
            os.setpgid(0, 0)
        pid = os.fork()
        if pid == 0:
            self._exec(me)
        self.child = pid
        # Hold no copy of the bridge's pipes: EOF must follow CMD's side closing, not ours.
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.close(null)

    def _exec(self, launcher: int) -> NoReturn:
        try:
            for sig in (*STOP_SIGNALS, signal.SIGCHLD):
                signal.signal(sig, signal.SIG_DFL)
            signal.set_wakeup_fd(-1)
            if self.libc is not None:
                self.libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
                if os.getppid() != launcher:  # the launcher died before the death signal was armed
                    os._exit(1)
            os.execvp(self.argv[0], self.argv)
        except OSError as exc:
            os.write(2, f"{self.argv[0]}: {exc.strerror}\n".encode())
            os._exit(127 if exc.errno == errno.ENOENT else 126)
        except BaseException:
            os._exit(126)

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.child:
                self.status = status

    def run(self) -> NoReturn:
        self.start()
        watched = [self.wake_r] + ([self.parent.fd] if self.parent.fd is not None else [])
        while True:
            self.reap()
            if self.parent.gone() or self.stops or self.status is not None:
                break
            with contextlib.suppress(InterruptedError):
                select.select(watched, [], [], POLL_S)
            with contextlib.suppress(BlockingIOError, OSError):
                os.read(self.wake_r, 4096)
        self.teardown()
        self.exit()

    def _signal_all(self, sig: int) -> list[int]:
        pids = _tree(os.getpid())
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
                if sig == signal.SIGTERM:
                    os.kill(pid, signal.SIGCONT)  # a stopped process would never see the TERM
        return pids

    def teardown(self) -> None:
        """TERM the tree, give it `grace` (cut short by another stop signal), then KILL what is left."""
        stops = self.stops
        if self.grace > 0 and self._signal_all(signal.SIGTERM):
            deadline = time.monotonic() + self.grace
            while time.monotonic() < deadline and self.stops == stops:
                self.reap()
                if not _tree(os.getpid()):
                    break
                time.sleep(0.02)
        deadline = time.monotonic() + KILL_DEADLINE_S
        while time.monotonic() < deadline:
            self.reap()
            if not self._signal_all(signal.SIGKILL):
                break
            time.sleep(0.01)
        self.reap()

    def exit(self) -> NoReturn:
        status = self.status
        if status is not None and os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            if sig not in (signal.SIGKILL, signal.SIGSTOP):
                with contextlib.suppress(OSError, ValueError):
                    signal.signal(sig, signal.SIG_DFL)
                    signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
            with contextlib.suppress(OSError):
                os.kill(os.getpid(), sig)  # die the way CMD died, so the bridge sees the same
            os._exit(128 + sig)
        os._exit(os.WEXITSTATUS(status) if status is not None else 1)


def main(args: list[str]) -> NoReturn:
    try:
        split = args.index("--")
        options = dict(zip(args[:split:2], args[1:split:2], strict=True))
        parent, grace, argv = int(options["--parent"]), float(options.get("--grace", "1")), args[split + 1:]
    except (ValueError, KeyError):
        os.write(2, b"usage: lifeline.py --parent PID [--grace SECONDS] -- COMMAND [ARGS...]\n")
        os._exit(2)
    if not argv:
        os._exit(2)
    launcher = _Launcher(parent, grace, argv)
    if launcher.parent.gone():  # the bridge died before we got here: start nothing
        os._exit(1)
    launcher.run()


if __name__ == "__main__":
    main(sys.argv[1:])
