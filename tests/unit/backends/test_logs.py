"""backends.logs: an agent's output log keeps at most `cap` bytes of a run and never blocks the agent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from backends.logs import CappedLog

FLOOD = "import sys\nfor _ in range(80):\n    sys.stderr.write('x' * 65536)\nsys.stderr.write('END')\n"


def test_a_flood_is_cut_with_a_note_and_the_agent_is_not_blocked(tmp_path: Path) -> None:
    """An agent writing 5 MB to stderr used to get all of it kept (a hostile one: without end)."""
    log = CappedLog(tmp_path / "agent.log", cap=1000, header="--- starting flood\n")
    proc = subprocess.Popen([sys.executable, "-c", FLOOD], stderr=log.fd, stdin=subprocess.DEVNULL)
    log.child_started()
    assert proc.wait(timeout=30) == 0  # it never blocked on a full pipe
    log.close()
    data = (tmp_path / "agent.log").read_bytes()
    assert data.startswith(b"--- starting flood\n" + b"x" * 1000 + b"\n[agent-bridge: output cut here; ")
    assert f"{80 * 65536 + 3 - 1000} more bytes were not kept".encode() in data
    assert len(data) < 1200


def test_a_short_run_is_kept_whole(tmp_path: Path) -> None:
    log = CappedLog(tmp_path / "agent.log", cap=1000)
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stderr.write('oops')"], stderr=log.fd)
    log.child_started()
    proc.wait(timeout=30)
    log.close()
    assert (tmp_path / "agent.log").read_bytes() == b"oops"


def test_what_the_bridge_feeds_counts_against_the_same_cap(tmp_path: Path) -> None:
    log = CappedLog(tmp_path / "server.log", cap=10)
    log.child_started()
    log.feed(b"ready on 127.0.0.1\n")
    log.close()
    assert (tmp_path / "server.log").read_bytes().startswith(b"ready on 1\n[agent-bridge: output cut here; 9 more")


def test_a_log_past_the_cap_is_moved_aside_when_a_run_starts(tmp_path: Path) -> None:
    path = tmp_path / "agent.log"
    path.write_bytes(b"old" * 500)
    log = CappedLog(path, cap=1000)
    assert log.start == 0
    log.close()
    assert (tmp_path / "agent.log.1").read_bytes() == b"old" * 500
    assert path.read_bytes() == b""
