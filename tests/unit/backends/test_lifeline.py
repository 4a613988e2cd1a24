"""The lifeline launcher, with real processes: it is invisible to its command's stdio and exit status, and
nothing its command started outlives it, its command, or the process that started it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backends import lifeline

pytestmark = pytest.mark.skipif(not Path("/proc/self").exists(), reason="reads the process table from /proc")

REPO = Path(__file__).resolve().parents[3]


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_gone(pids: list[int], timeout: float = 10) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := [p for p in pids if alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return left


def read_pid(path: Path, timeout: float = 10) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.02)
    raise AssertionError(f"{path} never written")


def daemon_script(tmp_path: Path, then: str) -> str:
    """A shell command that leaves a double-forked daemon in a session of its own, then runs `then`."""
    return f"( setsid sh -c 'echo $$ > {tmp_path}/daemon.pid; exec sleep 300' & ); {then}"


def test_stdio_exit_code_and_signal_pass_through() -> None:
    done = subprocess.run(lifeline.wrap(["sh", "-c", "cat; echo err >&2; exit 3"], 1), input=b"ping\n",
                          capture_output=True, timeout=30)
    assert (done.stdout, done.stderr, done.returncode) == (b"ping\n", b"err\n", 3)
    killed = subprocess.run(lifeline.wrap(["sh", "-c", "kill -TERM $$"], 1), timeout=30)
    assert killed.returncode == -signal.SIGTERM


def test_a_missing_command_fails_like_exec(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        lifeline.wrap(["no-such-command-anywhere"], 1)
    with pytest.raises(FileNotFoundError):
        lifeline.wrap(["./missing.sh"], 1, cwd=tmp_path)
    (tmp_path / "plain.txt").write_text("not executable")
    with pytest.raises(PermissionError):
        lifeline.wrap(["./plain.txt"], 1, cwd=tmp_path)


def test_what_the_command_left_behind_dies_when_it_exits(tmp_path: Path) -> None:
    wait_for_daemon = f"while [ ! -s {tmp_path}/daemon.pid ]; do sleep 0.01; done; exit 0"
    done = subprocess.run(lifeline.wrap(["sh", "-c", daemon_script(tmp_path, wait_for_daemon)], 1), timeout=30)
    assert done.returncode == 0
    assert wait_gone([read_pid(tmp_path / "daemon.pid")], timeout=2) == []


def test_the_tree_dies_when_the_starting_process_is_sigkilled(tmp_path: Path) -> None:
    starter = (
        "import subprocess, sys, time\n"
        "from backends import lifeline\n"
        "subprocess.Popen(lifeline.wrap(['sh', '-c', sys.argv[1]], 1), start_new_session=True)\n"
        "time.sleep(300)\n"
    )
    command = daemon_script(tmp_path, f"echo $$ > {tmp_path}/cmd.pid; exec sleep 300")
    parent = subprocess.Popen([sys.executable, "-c", starter, command], cwd=REPO,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        pids = [read_pid(tmp_path / "cmd.pid"), read_pid(tmp_path / "daemon.pid")]
        assert all(alive(p) for p in pids)
    finally:
        parent.kill()
        parent.wait()
    assert wait_gone(pids) == [], "outlived the process that started them"


async def test_stop_kills_a_tree_that_ignores_term(tmp_path: Path) -> None:
    command = daemon_script(tmp_path, f"trap '' TERM; echo $$ > {tmp_path}/cmd.pid; while :; do sleep 1; done")
    process = await asyncio.create_subprocess_exec(*lifeline.wrap(["sh", "-c", command], 30))
    pids = [await asyncio.to_thread(read_pid, tmp_path / "cmd.pid"),
            await asyncio.to_thread(read_pid, tmp_path / "daemon.pid")]
    started = time.monotonic()
    await lifeline.stop(process, grace=0.3)  # the bridge's grace, shorter than the launcher's own
    assert time.monotonic() - started < 20  # not the launcher's own 30 s
    assert process.returncode == -signal.SIGKILL
    assert wait_gone(pids, timeout=2) == []
