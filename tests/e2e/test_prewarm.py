"""A window that attaches with an opencode default agent starts that agent's server before any prompt, so the
first prompt finds it running (the real server over stdio, through the daemon; `tests/support/fake_opencode.py`
as the agent)."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.e2e.test_policies import _children
from tests.support import REPO_ROOT
from tests.support.daemons import daemon_pid
from tests.support.lsp_harness import start_editor

FAKE = [sys.executable, str(REPO_ROOT / "tests" / "support" / "fake_opencode.py")]


def _servers(bridge: int) -> list[int]:
    """The daemon's children that run the fake opencode server."""
    found = []
    for pid in _children(bridge):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"fake_opencode.py" in argv and b"serve" in argv:
            found.append(pid)
    return found


async def _poll(probe: Callable[[], list[int]], timeout: float) -> list[int]:
    """`probe()` once it finds something, or its last answer after `timeout` seconds (a process appears in /proc,
    which nothing notifies)."""
    deadline = time.monotonic() + timeout
    found = probe()
    while not found and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        found = probe()
    return found


async def test_the_default_opencode_server_starts_when_the_editor_attaches(repo: Path, tmp_path: Path) -> None:
    options = {"agents": {"fakecode": {"protocol": "opencode", "command": FAKE}}, "defaultAgent": "fakecode"}
    state = tmp_path / "state"
    editor = await start_editor(repo, state, tmp_path / "agent.log", init_options=options)
    try:
        bridge = await asyncio.to_thread(daemon_pid, state)
        servers = await _poll(lambda: _servers(bridge), 30)
        assert servers, "no opencode server started before the first prompt"
        assert await editor.cmd("agentBridge.sessions", {}) == []  # no session, no prompt: only the server
        _, _, result = await editor.run("say warm")
        assert result["status"] == "completed", result
        assert _servers(bridge) == servers  # the first turn used the server started ahead
    finally:
        await editor.client.shutdown_session()
