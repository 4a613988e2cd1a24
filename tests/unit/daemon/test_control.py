"""`agent-bridge daemon status` and `daemon stop` against a daemon in this process."""

from __future__ import annotations

import asyncio
import io
import json
import os
from pathlib import Path

import pytest

from bridge.daemon import control
from bridge.daemon.lock import StateLock, is_locked
from tests.unit.daemon.conftest import StartDaemon


async def test_status_in_text_and_json(start_daemon: StartDaemon, state_dir: Path) -> None:
    await start_daemon()
    out = io.StringIO()
    assert await asyncio.to_thread(control.status, state_dir, out=out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0] == f"daemon   pid {os.getpid()}, version 1.0"
    assert lines[1:] == [f"socket   {state_dir / 'daemon.sock'}", "clients  0", "sessions 7"]
    out = io.StringIO()
    assert await asyncio.to_thread(control.status, state_dir, as_json=True, out=out) == 0
    assert json.loads(out.getvalue())["pid"] == os.getpid()


async def test_stop_waits_until_the_state_dir_is_free(start_daemon: StartDaemon, state_dir: Path) -> None:
    daemon = await start_daemon()
    out = io.StringIO()
    assert await asyncio.to_thread(control.stop, state_dir, out=out) == 0
    assert out.getvalue() == f"stopped the daemon (pid {os.getpid()})\n"
    assert daemon.task.done() and daemon.hub.stopped == 1 and not is_locked(state_dir)


def test_with_no_daemon(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert control.status(state_dir) == 1
    assert "no daemon running for" in capsys.readouterr().err
    assert control.stop(state_dir) == 0
    assert "no daemon running for" in capsys.readouterr().out


def test_a_daemon_that_holds_the_state_dir_but_does_not_answer(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state_dir.mkdir(parents=True)
    lock = StateLock.try_acquire(state_dir)
    assert lock is not None
    try:
        assert control.status(state_dir) == 1
        err = capsys.readouterr().err
        assert f"(pid {os.getpid()})" in err and "not answering" in err
    finally:
        lock.release()
