"""Agent output logs that cannot fill the disk.

An agent's stderr (and the opencode server's output) goes to a log file the bridge quotes when the agent
fails. An agent is untrusted: one that writes without end used to grow its log without end. The child now
writes into a pipe; a thread copies at most `cap` bytes of each run into the file, notes where it cut, and
keeps draining the pipe so the child never blocks on a full one. A file already past `cap` when a run starts
is moved to `<name>.1` (replacing the previous one), so a log and its predecessor hold at most twice `cap`.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from pathlib import Path

DEFAULT_CAP = 10 * 1024 * 1024  # bytes kept per run of an agent

_CHUNK = 64 * 1024


def tail(path: Path, limit: int = 2000, start: int = 0) -> str:
    """The end of a log, from `start` on at most (so an error quotes only the current run's output)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(start, fh.tell() - limit))
            return fh.read().decode("utf-8", errors="replace").strip()
    except OSError:
        return ""


class CappedLog:
    """One run's log. `fd` is what the child gets as its stderr; `feed` adds what the bridge reads from the
    child itself (a server's stdout), under the same cap."""

    def __init__(self, path: Path, cap: int = DEFAULT_CAP, header: str = "") -> None:
        self.path = path
        self.cap = cap
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_size >= cap:
                path.replace(path.with_name(path.name + ".1"))
        self._file = path.open("ab")
        self._file.write(header.encode("utf-8", "replace"))
        self._file.flush()
        self.start = self._file.tell()  # where this run's output begins, for quoting it alone
        read_end, self.fd = os.pipe()
        self._read_end = read_end
        self._idle = threading.Event()  # set while the thread is not between reading a chunk and writing it
        self._idle.set()
        self._feed = os.dup(self.fd)
        self._thread = threading.Thread(target=self._copy, args=(read_end,), name=f"log {path.name}", daemon=True)
        self._thread.start()

    def feed(self, data: bytes) -> None:
        if self._feed >= 0:
            with contextlib.suppress(OSError):
                os.write(self._feed, data)

    def settle(self, timeout: float = 0.2) -> None:
        """Wait (briefly) until what the child has written so far is in the file: before quoting its end."""
        deadline = time.monotonic() + timeout
        while self._thread.is_alive() and time.monotonic() < deadline:
            try:
                readable, _, _ = select.select([self._read_end], [], [], 0)
            except (OSError, ValueError):
                return  # the copy just ended
            if not readable and self._idle.is_set():
                return
            time.sleep(0.005)

    def child_started(self) -> None:
        """Close the bridge's copy of the child's write end: the pipe ends when the child and its descendants
        have exited and the log is closed."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def close(self, timeout: float = 2.0) -> None:
        """Wait for what the child wrote to be copied (briefly: a descendant may hold the pipe open)."""
        self.child_started()
        if self._feed >= 0:
            os.close(self._feed)
            self._feed = -1
        self._thread.join(timeout)

    def _copy(self, read_end: int) -> None:
        kept = dropped = 0
        try:
            while chunk := os.read(read_end, _CHUNK):
                self._idle.clear()
                take = max(min(self.cap - kept, len(chunk)), 0)
                if take:
                    self._file.write(chunk[:take])
                    self._file.flush()
                kept += take
                dropped += len(chunk) - take
                self._idle.set()
        except OSError:
            pass
        finally:
            os.close(read_end)
            if dropped:
                self._file.write(f"\n[agent-bridge: output cut here; {dropped} more bytes were not kept]\n".encode())
            self._file.close()
