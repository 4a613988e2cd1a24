"""Everything the bridge starts dies with it, even when the bridge is SIGKILLed (issue: the trust boundary).

A bridge killed with SIGKILL cannot stop anything itself. Its agents' terminal commands and the opencode server
(both in sessions of their own) used to keep running, as did anything they had detached with `setsid`.

The bridge that owns the agents is the state dir's daemon (`agent-bridge serve` only relays the editor's stdio
to it): killing the daemon must take every agent with it, while killing a relay alone leaves its turns running,
by design (a window closing does not end the work it started).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.support import REPO_ROOT
from tests.support.daemons import daemon_pid, wait_daemon_gone
from tests.support.lsp_harness import Editor, make_repo, start_editor

pytestmark = pytest.mark.skipif(not Path("/proc/self").exists(), reason="reads the process table from /proc")

FAKE_OPENCODE = REPO_ROOT / "tests" / "support" / "fake_opencode.py"
# The fake opencode server, after first starting a "tool process" that detaches into a session of its own.
OPENCODE_WITH_A_DETACHED_TOOL = (
    "import os, subprocess, sys\n"
    "subprocess.Popen(['sh', '-c', 'echo $$ > \"$TOOL_PID_FILE\"; exec sleep 300'], start_new_session=True)\n"
    f"os.execv(sys.executable, [sys.executable, {str(FAKE_OPENCODE)!r}, *sys.argv[1:]])\n"
)


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited; it only waits to be reaped


def argv(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_text().split("\0")


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], list(children.get(root, ()))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


async def read_pid(path: Path, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError, ValueError):
            return int(path.read_text().strip())
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path.name} was never written")


async def kill_bridge_and_check(editor: Editor, processes: dict[str, int], extra: list[int]) -> None:
    """SIGKILL the bridge (the daemon); then every process it started, named or not, must be gone soon after."""
    bridge = await asyncio.to_thread(daemon_pid, editor.state_dir)
    relay = editor.client._server
    assert relay is not None
    survivors: dict[str, int] = {}
    try:
        os.kill(bridge, signal.SIGKILL)
        await asyncio.wait_for(relay.wait(), 30)  # the relay ends with its daemon's connection
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            survivors = {name: pid for name, pid in processes.items() if alive(pid)}
            survivors |= {f"descendant {pid}": pid for pid in extra if alive(pid)}
            if not survivors:
                break
            await asyncio.sleep(0.1)
        assert not survivors, f"outlived the SIGKILLed bridge: {survivors}"
    finally:
        for pid in [*processes.values(), *extra]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            await editor.client.stop()


async def test_an_acp_agent_and_its_terminal_commands_die_with_a_killed_bridge(repo: Path, tmp_path: Path) -> None:
    editor = await start_editor(repo, tmp_path / "state", tmp_path / "agent.log")
    term, daemon = tmp_path / "term.pid", tmp_path / "daemon.pid"
    # A long command, which also leaves a daemon behind: a double fork into a session of its own.
    command = (f"echo $$ > {term}; ( setsid sh -c 'echo $$ > {daemon}; exec sleep 300' & ); exec sleep 300")
    editor.answers = ["Allow"]
    await editor.prompt(f"@run {command}")
    processes = {"terminal command": await read_pid(term), "daemon it started": await read_pid(daemon)}
    agent = next(e["pid"] for e in editor.agent_log_lines() if e["method"] == "session/prompt")
    processes["agent"] = agent
    assert all(alive(pid) for pid in processes.values()), processes
    await kill_bridge_and_check(editor, processes, descendants(daemon_pid(editor.state_dir)))


async def test_the_opencode_server_and_its_tools_die_with_a_killed_bridge(repo: Path, tmp_path: Path) -> None:
    tool = tmp_path / "tool.pid"
    agent = {"protocol": "opencode", "command": [sys.executable, "-c", OPENCODE_WITH_A_DETACHED_TOOL],
             "env": {"TOOL_PID_FILE": str(tool)}}
    options = {"agents": {"fakecode": agent}, "defaultAgent": "fakecode"}
    editor = await start_editor(repo, tmp_path / "state", tmp_path / "agent.log", init_options=options)
    _, _, result = await editor.run("say warm", agent="fakecode")
    assert result["status"] == "completed", result
    tree = descendants(daemon_pid(editor.state_dir))
    opencode = [pid for pid in tree if argv(pid)[1:2] == [str(FAKE_OPENCODE)]]
    assert len(opencode) == 1, tree
    processes = {"opencode server": opencode[0], "its detached tool": await read_pid(tool)}
    await kill_bridge_and_check(editor, processes, tree)


async def test_a_killed_relay_leaves_its_turn_running_and_the_agent_dies_with_the_daemon(tmp_path: Path) -> None:
    """By design: the editor's `agent-bridge serve` is only a relay, so SIGKILLing it (an editor that crashed)
    ends that window, not its turn. The turn completes in the daemon, a window that comes back finds its result,
    and the agent still dies with the daemon."""
    repo = make_repo(tmp_path / "project", {"README.md": "# project\n"})
    state = tmp_path / "state"
    keep = {"AGENT_BRIDGE_DAEMON_LINGER": "60"}  # the daemon waits for the next window once the turn is done
    first = await start_editor(repo, state, tmp_path / "agent.log", extra_env=keep)
    relay = first.client._server
    assert relay is not None
    sid, tid = await first.prompt("@sleep 3\n@write later.txt\nwritten after the window died\n@end")
    deadline = time.monotonic() + 30
    while not (prompted := [e["pid"] for e in first.agent_log_lines() if e["method"] == "session/prompt"]):
        assert time.monotonic() < deadline, "the agent never got the prompt"
        await asyncio.sleep(0.05)
    agent = prompted[0]
    bridge = await asyncio.to_thread(daemon_pid, state)
    os.kill(relay.pid, signal.SIGKILL)
    await relay.wait()
    with contextlib.suppress(Exception):
        await first.client.stop()
    assert alive(bridge) and alive(agent)
    second = await start_editor(repo, state, tmp_path / "agent.log", extra_env=keep)
    try:
        result = await asyncio.wait_for(second.cmd("agentBridge.awaitTurn", {"sessionId": sid, "turnId": tid}), 60)
        assert result["status"] == "completed", result
        [pending] = await second.pending(sid)
        assert pending["uri"] == second.uri("later.txt")
        assert await asyncio.to_thread(daemon_pid, state) == bridge and alive(agent)
        await kill_bridge_and_check(second, {"agent": agent}, descendants(bridge))
    finally:
        with contextlib.suppress(Exception):
            await second.client.stop()
    await wait_daemon_gone(state, timeout=5)
