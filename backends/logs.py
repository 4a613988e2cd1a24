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
import threading
from pathlib import Path

DEFAULT_CAP = 10 * 1024 * 1024  # bytes kept per run of an agent

_CHUNK = 64 * 1024


class CappedLog:
    """One run's log: `fd` is what the child gets as its stderr (and stdout, for servers)."""

    def __init__(self, path: Path, cap: int = DEFAULT_CAP) -> None:
        self.path = path
        self.cap = cap
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_size >= cap:
                path.replace(path.with_name(path.name + ".1"))
        self._file = path.open("ab")
        self.start = self._file.tell()  # where this run's output begins, for quoting it alone
        read_end, self.fd = os.pipe()
        self._thread = threading.Thread(target=self._copy, args=(read_end,), name=f"log {path.name}", daemon=True)
        self._thread.start()

    def write(self, text: str) -> None:
        """A line of the bridge's own (e.g. the command it starts), written before the child writes."""
        self._file.write(text.encode("utf-8", "replace"))
        self._file.flush()

    def child_started(self) -> None:
        """Close the bridge's copy of the write end: the pipe ends when the child and its descendants exit."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def close(self, timeout: float = 2.0) -> None:
        """Wait for what the child wrote to be copied (briefly: a descendant may hold the pipe open)."""
        self.child_started()
        self._thread.join(timeout)

    def _copy(self, read_end: int) -> None:
        kept = dropped = 0
        try:
            while chunk := os.read(read_end, _CHUNK):
                room = self.cap - kept
                if room > 0:
                    self._file.write(chunk[:room])
                    self._file.flush()
                kept += min(room, len(chunk)) if room > 0 else 0
                dropped += max(len(chunk) - max(room, 0), 0)
        except OSError:
            pass
        finally:
            os.close(read_end)
            if dropped:
                self._file.write(f"\n[agent-bridge: output cut here; {dropped} more bytes were not kept]\n".encode())
            self._file.close()
