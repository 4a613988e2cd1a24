"""Finding and ending the bridge daemons a test started (`agent-bridge serve` attaches editors to one per state
dir). Every test has state dirs of its own, so a daemon is told apart by the state dir on its command line."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def _cmdline(pid: str) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited; it only waits to be reaped


def daemon_pids_under(root: Path) -> list[int]:
    """Every running `daemon run` whose state dir is `root` or inside it."""
    if not Path("/proc/self").exists():
        return []
    prefix = os.fsencode(root)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        argv = _cmdline(entry.name)
        if b"daemon" not in argv or b"run" not in argv or b"--state-dir" not in argv:
            continue
        state = argv[argv.index(b"--state-dir") + 1] if argv.index(b"--state-dir") + 1 < len(argv) else b""
        if (state == prefix or state.startswith(prefix + b"/")) and _alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def daemon_pid(state_dir: Path) -> int:
    """The pid of the daemon serving `state_dir`, as `agent-bridge daemon status --json` reports it."""
    done = subprocess.run([sys.executable, "-m", "bridge.cli", "daemon", "status", "--json", "--state-dir",
                           str(state_dir)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"no daemon serves {state_dir}: {done.stdout}{done.stderr}"
    return int(json.loads(done.stdout)["pid"])


async def wait_daemon_gone(state_dir: Path, timeout: float = 30) -> None:
    """Poll until no daemon serves `state_dir` (with AGENT_BRIDGE_DAEMON_LINGER=0 it stops as soon as the last
    window has left and nothing runs)."""
    deadline = time.monotonic() + timeout
    while left := daemon_pids_under(state_dir):
        assert time.monotonic() < deadline, f"the daemon of {state_dir} is still running: {left}"
        await asyncio.sleep(0.05)


def end_daemons_under(root: Path, timeout: float = 10) -> list[int]:
    """Stop (SIGTERM: the daemon stops its agents first), then kill, every daemon under `root`; what was left."""
    left = daemon_pids_under(root)
    for pid in left:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while daemon_pids_under(root) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in daemon_pids_under(root):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left
