"""End to end: the watchdog, eviction of warm agents, the CLI and the TCP transport."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from lsprotocol import types as T
from pytest_lsp import make_test_lsp_client

from bridge.protocol import plain
from tests.support import REPO_ROOT
from tests.support.daemons import daemon_pid, daemon_pids_under, wait_daemon_gone
from tests.support.lsp_harness import CLIENT_CAPABILITIES, start_editor


async def test_watchdog_fails_a_silent_turn_and_marks_the_agent_crashed(repo: Path, tmp_path: Path) -> None:
    options = {"settings": {"turnWatchdog": 1}}
    ed = await start_editor(repo, tmp_path / "state", tmp_path / "agent.log", init_options=options)
    try:
        sid, _, result = await ed.run("@say going quiet\n@hang")
        assert result["status"] == "failed" and "no activity for 1 s" in result["error"]
        sessions = await ed.cmd("agentBridge.sessions", {})
        assert sessions[0]["agents"][0]["status"] == "crashed"
        _, _, again = await ed.run("@say fresh", sessionId=sid)
        assert again["status"] == "completed"
        news = [e for e in ed.agent_log_lines() if e["method"] == "session/new"]
        assert len(news) == 2  # not resumed after being marked crashed
    finally:
        await ed.client.shutdown_session()


async def test_live_cap_stops_the_least_recently_used_idle_agent(repo: Path, tmp_path: Path) -> None:
    options = {"settings": {"maxLiveAgents": 1}}
    ed = await start_editor(repo, tmp_path / "state", tmp_path / "agent.log", init_options=options)
    try:
        s1, _, _ = await ed.run("@say one")
        s2, _, _ = await ed.run("@say two", newSession=True)
        status = {s["sessionId"]: s["agents"][0]["status"] for s in await ed.cmd("agentBridge.sessions", {})}
        assert status == {s1: "stopped", s2: "idle"}
        _, _, again = await ed.run("@say one again", sessionId=s1)
        assert again["status"] == "completed"
        status = {s["sessionId"]: s["agents"][0]["status"] for s in await ed.cmd("agentBridge.sessions", {})}
        assert status == {s1: "idle", s2: "stopped"}
        # The evicted agent's conversation was resumed, not restarted.
        loads = [e for e in ed.agent_log_lines() if e["method"] == "session/load"]
        assert len(loads) == 1
    finally:
        await ed.client.shutdown_session()


async def test_busy_agent_is_never_evicted(repo: Path, tmp_path: Path) -> None:
    options = {"settings": {"maxLiveAgents": 1, "idleTimeout": 0.5}}
    ed = await start_editor(repo, tmp_path / "state", tmp_path / "agent.log", init_options=options)
    try:
        sid, tid = await ed.prompt("@sleep 2\n@say survived")
        await asyncio.sleep(1.5)  # several janitor rounds while the turn runs
        result = await ed.cmd("agentBridge.awaitTurn", {"sessionId": sid, "turnId": tid})
        assert result["status"] == "completed" and ed.text_of(tid) == "survived\n"
        await asyncio.sleep(1.5)
        status = (await ed.cmd("agentBridge.sessions", {}))[0]["agents"][0]["status"]
        assert status == "stopped"  # idle past the timeout once the turn ended
    finally:
        await ed.client.shutdown_session()


def test_agents_cli_lists_configured_agents(tmp_path: Path) -> None:
    config = tmp_path / "agents.toml"
    config.write_text('default_agent = "mine"\n[agents.mine]\ncommand = ["sh", "-c", "true"]\n'
                      '[agents.bad]\nprotocol = "nope"\ncommand = ["x"]\n')
    proc = subprocess.run(
        [sys.executable, "-m", "bridge.cli", "agents", "--json", "--config", str(config)],
        capture_output=True, text=True, check=True,
    )
    data = json.loads(proc.stdout)
    rows = {row["name"]: row for row in data["agents"]}
    assert rows["mine"]["installed"] and rows["mine"]["default"]
    assert rows["scripted"]["installed"] and "bad" not in rows
    assert any("protocol must be one of" in w for w in data["warnings"])


def test_demo_runs_the_whole_flow(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bridge.cli", "demo"], capture_output=True, text=True, timeout=120,
        env={**os.environ, "AGENT_BRIDGE_STATE_DIR": str(tmp_path / "state"), "TMPDIR": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Its state dir is a temporary one, deleted at the end: no daemon is left serving it.
    assert daemon_pids_under(tmp_path) == []
    out = proc.stdout
    assert "agent> Updating greet.py" in out
    assert "Pending hunks (agentBridge.pending)" in out and out.count(" by scripted, lines ") == 2
    assert "def greet(name: str) -> None:" in out.split("the document now reads:")[1]
    assert "Pending hunks left: 0" in out and "untouched until you save: yes" in out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_tcp_transport_serves_a_client(repo: Path, tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "AGENT_BRIDGE_STATE_DIR": str(tmp_path / "state")}
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge.cli", "serve", "--tcp", f"127.0.0.1:{port}", env=env,
        stderr=asyncio.subprocess.DEVNULL,
    )
    client = make_test_lsp_client()
    try:
        for _ in range(100):
            try:
                await client.start_tcp("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.1)
        token = (tmp_path / "state" / "tcp-token").read_text().strip()  # written before the bridge listens
        await client.initialize_session(T.InitializeParams(capabilities=CLIENT_CAPABILITIES,
                                                           root_uri=repo.as_uri(),
                                                           initialization_options={"authToken": token}))
        agents = plain(await client.workspace_execute_command_async(
            T.ExecuteCommandParams(command="agentBridge.agents", arguments=[{}])
        ))
        assert any(a["name"] == "scripted" for a in agents)
        await client.shutdown_async(None)
        client.exit(None)
    finally:
        await client.stop()
        if server.returncode is None:
            server.terminate()
        await server.wait()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue
        if stat and int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("daemon", [True, False], ids=["daemon", "no-daemon"])
async def test_sigterm_stops_the_agents_before_the_server_exits(repo: Path, tmp_path: Path, daemon: bool) -> None:
    """A bridge stopped with SIGTERM (a supervisor, a client that kills instead of sending `exit`) stops its
    agents first. The opencode server runs in a session of its own: without this it outlived the bridge.
    The bridge is the daemon (whose connection closing ends the editor's relay), or `serve --no-daemon`."""
    fake = [sys.executable, str(REPO_ROOT / "tests" / "support" / "fake_opencode.py")]
    options = {"agents": {"fakecode": {"protocol": "opencode", "command": fake}}, "defaultAgent": "fakecode"}
    state = tmp_path / "state"
    ed = await start_editor(repo, state, tmp_path / "agent.log", init_options=options, daemon=daemon)
    server = ed.client._server
    assert server is not None
    agents: list[int] = []
    try:
        _, _, result = await ed.run("say warm")
        assert result["status"] == "completed", result
        bridge = await asyncio.to_thread(daemon_pid, state) if daemon else server.pid
        agents = _children(bridge)
        assert agents, "the opencode server runs"
        os.kill(bridge, signal.SIGTERM)
        if daemon:
            await wait_daemon_gone(state)
        await asyncio.wait_for(server.wait(), 30)
        assert [p for p in agents if _alive(p)] == [], "an agent outlived the bridge"
        assert server.returncode == 0  # a clean stop, not death by the signal
    finally:
        if server.returncode is None:
            await ed.client.shutdown_session()
        for pid in agents:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


async def test_orphaned_worktrees_are_reaped_after_a_safety_check(repo: Path, tmp_path: Path) -> None:
    from bridge.git import worktrees

    state = tmp_path / "state"
    orphans = state / "worktrees"
    base = worktrees.snapshot_base(repo, {})
    for name, edit in (("withwork", True), ("clean", False)):
        worktrees.set_ref(repo, f"refs/agent-bridge/base/{name}", base)
        worktrees.create_worktree(repo, orphans / name, f"agent-bridge/{name}", base)
        if edit:
            (orphans / name / "unreviewed.txt").write_text("keep me\n")
    (orphans / "stray").mkdir()
    (orphans / "stray" / "file.txt").write_text("not a worktree\n")

    ed = await start_editor(repo, state, tmp_path / "agent.log")
    try:
        await ed.cmd("agentBridge.sessions", {})  # answered once start-up (and reaping) is done
        assert not (orphans / "withwork").exists() and not (orphans / "clean").exists()
        assert (orphans / "stray" / "file.txt").exists()  # not a worktree: never deleted
        from tests.support.lsp_harness import git

        assert git(repo, "show", "refs/agent-bridge/archive/withwork:unreviewed.txt") == "keep me\n"
        refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/agent-bridge/")
        assert "refs/agent-bridge/archive/clean" not in refs  # nothing to keep
        assert "refs/agent-bridge/base/" not in refs
        assert "agent-bridge/withwork" not in git(repo, "branch", "--list")
    finally:
        await ed.client.shutdown_session()


def _frame(payload: dict[str, object]) -> bytes:
    body = json.dumps(payload).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


async def test_server_exits_when_the_client_goes_away_without_exit(repo: Path, tmp_path: Path) -> None:
    env = {**os.environ, "AGENT_BRIDGE_STATE_DIR": str(tmp_path / "state"), "AGENT_BRIDGE_DAEMON_LINGER": "0"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge.cli", "serve", env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(_frame({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                             "params": {"processId": None, "rootUri": repo.as_uri(), "capabilities": {}}}))
    proc.stdin.write(_frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
    proc.stdin.write(_frame({"jsonrpc": "2.0", "id": 2, "method": "workspace/executeCommand",
                             "params": {"command": "agentBridge.sessions", "arguments": [{}]}}))
    await proc.stdin.drain()
    seen = b""
    while b'"id": 2' not in seen and b'"id":2' not in seen:
        seen += await asyncio.wait_for(proc.stdout.read(4096), 20)
    proc.stdin.close()  # like an editor quitting without shutdown/exit
    code = await asyncio.wait_for(proc.wait(), 15)
    assert code == 0
    await wait_daemon_gone(tmp_path / "state")  # and the daemon, with no window left and nothing running
