"""The state dir's owner: an exclusive lock (`daemon.lock`, holding the owner's pid) and the Unix socket
(`daemon.sock`) it listens on. Only the process holding the lock binds the socket or removes a stale one.

Unix socket addresses are limited to about 107 bytes and state dirs can be longer, so binding and
connecting go through a short alias of the directory (`/proc/self/fd/N`, else a temporary chdir).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path

LOCK_NAME = "daemon.lock"
# Who holds the lock: the daemon, or a server serving its editors in-process (`serve --no-daemon`, `--tcp`);
# either is the only process that may use the state dir's database and worktrees.
DAEMON = "daemon"
IN_PROCESS = "in-process"
SOCKET_NAME = "daemon.sock"
# sun_path holds 108 bytes on Linux (104 on macOS) including the terminating NUL.
_MAX_ADDRESS = 100


def lock_path(state_dir: Path) -> Path:
    return state_dir / LOCK_NAME


def socket_path(state_dir: Path) -> Path:
    return state_dir / SOCKET_NAME


def prepare_state_dir(state_dir: Path) -> None:
    """Create the state dir private to the user (0700): the socket inside it accepts whoever can reach it."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if state_dir.stat().st_uid == os.getuid():
        os.chmod(state_dir, 0o700)


@contextlib.contextmanager
def short_address(path: Path) -> Iterator[str]:
    """An address for bind/connect that names `path` in at most ~100 bytes, valid inside the block."""
    if len(os.fsencode(path)) <= _MAX_ADDRESS:
        yield str(path)
        return
    if os.path.isdir("/proc/self/fd"):
        # The kernel resolves the directory through the descriptor, so the address stays short at any depth.
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            yield f"/proc/self/fd/{fd}/{path.name}"
        finally:
            os.close(fd)
        return
    # No /proc (macOS): a relative name from inside the directory. Only the short-lived CLI processes (the
    # daemon, which owns its cwd, and the relay) get here.
    previous = os.open(".", os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.chdir(path.parent)
        yield path.name
    finally:
        os.fchdir(previous)
        os.close(previous)


def connect(state_dir: Path, timeout: float | None = None) -> socket.socket:
    """Connect to the daemon's socket (blocking). Raises OSError (FileNotFoundError, ConnectionRefusedError)
    when no daemon listens."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        with short_address(socket_path(state_dir)) as address:
            sock.connect(address)
    except BaseException:
        sock.close()
        raise
    return sock


def answers(state_dir: Path) -> bool:
    """Whether some process listens on the state dir's socket right now."""
    try:
        connect(state_dir, timeout=2.0).close()
    except OSError:
        return False
    return True


class StateLock:
    """The exclusive flock on `<state>/daemon.lock`; the kernel releases it when the holder dies, however."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def try_acquire(cls, state_dir: Path, role: str = DAEMON) -> StateLock | None:
        """Take the lock and write our pid and role into it, or None when another process holds it."""
        path = lock_path(state_dir)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return None
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n{role}\n".encode())
        return cls(path, fd)

    def release(self) -> None:
        # The file stays: removing it would let a new daemon lock a fresh inode while another waits on this one.
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def is_locked(state_dir: Path) -> bool:
    """Whether a daemon holds the lock. Probing takes a shared lock for an instant; a daemon starting at that
    moment waits and retries (see `DaemonListener.claim`), so the probe never costs a start."""
    path = lock_path(state_dir)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing drops the probe's shared lock too
    return False


def _recorded(state_dir: Path) -> list[str]:
    try:
        return lock_path(state_dir).read_text(encoding="ascii").split()
    except (OSError, UnicodeDecodeError):
        return []


def recorded_pid(state_dir: Path) -> int | None:
    fields = _recorded(state_dir)
    return int(fields[0]) if fields and fields[0].isdigit() else None


def recorded_role(state_dir: Path) -> str:
    """Who holds (or last held) the lock: DAEMON, or IN_PROCESS (`serve --no-daemon`, `serve --tcp`)."""
    fields = _recorded(state_dir)
    return fields[1] if len(fields) > 1 else DAEMON


class DaemonListener:
    """The lock plus the listening socket: what makes a process the state dir's daemon."""

    def __init__(self, state_dir: Path, lock: StateLock, sock: socket.socket) -> None:
        self.state_dir = state_dir
        self.path = socket_path(state_dir)
        self.lock = lock
        self.sock = sock
        self._inode = os.stat(self.path).st_ino

    @classmethod
    def claim(cls, state_dir: Path) -> DaemonListener | None:
        """Take the lock, remove a stale socket, bind (mode 0600) and listen; None if another daemon owns it."""
        prepare_state_dir(state_dir)
        lock = StateLock.try_acquire(state_dir)
        if lock is None:
            return None
        try:
            path = socket_path(state_dir)
            # Whatever is there was left by a daemon that died (we hold the lock): remove it, but only a socket.
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISSOCK(os.lstat(path).st_mode):
                    path.unlink()
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                with short_address(path) as address:
                    sock.bind(address)
                # Restrict before listen(): until then nobody can connect.
                os.chmod(path, 0o600)
                sock.listen(64)
            except BaseException:
                sock.close()
                raise
            return cls(state_dir, lock, sock)
        except BaseException:
            lock.release()
            raise

    def remove_socket(self) -> None:
        """Unlink our socket file (not one a later daemon bound) so new clients stop finding us."""
        with contextlib.suppress(OSError):
            if os.stat(self.path).st_ino == self._inode:
                self.path.unlink()

    def close(self) -> None:
        """Stop listening, remove the socket, then release the lock (in that order: a successor binds only
        after taking the lock, so it never sees our socket)."""
        self.remove_socket()
        with contextlib.suppress(OSError):
            self.sock.close()
        self.lock.release()


def claim_or_defer(state_dir: Path, wait: float = 30.0) -> DaemonListener | None:
    """Become the daemon, or return None when another daemon answers on the socket.

    A lock held by a process whose socket does not answer belongs to a daemon that is stopping (its socket is
    already gone) or to a probe (`is_locked`): wait for it rather than give up, so a client that asked for a
    fresh daemon gets one. Gives up (None) after `wait` seconds.
    """
    deadline = time.monotonic() + wait
    while True:
        listener = DaemonListener.claim(state_dir)
        if listener is not None:
            return listener
        if answers(state_dir) or time.monotonic() >= deadline:
            return None
        time.sleep(0.05)
