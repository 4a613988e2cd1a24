"""`agent-bridge serve` (stdio) end to end: real relays, a real detached daemon, real LSP through both."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from lsprotocol import types as T
from pytest_lsp import make_test_lsp_client

from bridge.daemon.lock import is_locked, short_address
from tests.support.lsp_harness import CLIENT_CAPABILITIES, Editor


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    # Deeper than a socket address can name: the daemon and the relays must still find each other.
    return tmp_path / ("nested-" * 16) / "state"


@pytest.fixture
def env(state_dir: Path, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "AGENT_BRIDGE_STATE_DIR": str(state_dir), "SCRIPTED_AGENT_LOG": str(tmp_path / "agent.log"),
            "AGENT_BRIDGE_DAEMON_LINGER": "60"}


def daemon_pids(state_dir: Path) -> list[int]:
    """Every `daemon run` process for this state dir (started by this test's relays)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"run" in argv and b"daemon" in argv and os.fsencode(state_dir) in argv:
            pids.append(int(entry.name))
    return pids


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bridge.cli", *args], env=env, capture_output=True, text=True,
                          timeout=90, check=False)


def status(env: dict[str, str]) -> dict[str, object]:
    done = cli(env, "daemon", "status", "--json")
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def wait_gone(pid: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and Path(f"/proc/{pid}/status").read_text().find("zombie") < 0:
        assert time.monotonic() < deadline, f"process {pid} is still running"
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def no_daemon_survives(state_dir: Path, env: dict[str, str]) -> Iterator[None]:
    yield
    cli(env, "daemon", "stop")
    deadline = time.monotonic() + 5  # it releases the state dir, then exits
    while daemon_pids(state_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = daemon_pids(state_dir)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left == []


async def attach_editor(repo: Path, state_dir: Path, env: dict[str, str], *serve: str) -> Editor:
    """An editor on `agent-bridge serve` plus `serve` (e.g. `--daemon`, still accepted; `--no-daemon`)."""
    client = make_test_lsp_client()

    @client.feature(T.WORKSPACE_CODE_LENS_REFRESH)
    def on_lens_refresh(params: None) -> None:
        return None

    editor = Editor(client, repo, state_dir, Path(env["SCRIPTED_AGENT_LOG"]))
    await client.start_io(sys.executable, "-m", "bridge.cli", "serve", *serve, "--log-file",
                          str(state_dir.parent / "daemon.log"), env=env)
    await client.initialize_session(T.InitializeParams(
        capabilities=CLIENT_CAPABILITIES, root_uri=repo.as_uri(),
        workspace_folders=[T.WorkspaceFolder(uri=repo.as_uri(), name=repo.name)],
    ))
    return editor


async def close(editor: Editor) -> int | None:
    """shutdown + exit: the relay must end (0) while the daemon stays."""
    await asyncio.wait_for(editor.client.shutdown_session(), 30)
    server = editor.client._server
    assert server is not None
    return server.returncode


@pytest.fixture
async def editors() -> AsyncIterator[list[Editor]]:
    opened: list[Editor] = []
    yield opened
    for editor in opened:
        server = editor.client._server
        if server is not None and server.returncode is None:
            server.kill()
            await server.wait()


async def test_two_editors_started_at_once_share_one_daemon(
    repo: Path, state_dir: Path, env: dict[str, str], editors: list[Editor]
) -> None:
    assert cli(env, "daemon", "status").returncode == 1  # nothing yet: "no daemon running"
    first, second = await asyncio.gather(*(attach_editor(repo, state_dir, env) for _ in range(2)))
    editors += [first, second]
    info = await asyncio.to_thread(status, env)
    assert info["clients"] == 2 and info["socket"] == str(state_dir / "daemon.sock")
    assert daemon_pids(state_dir) == [info["pid"]]
    # Real LSP through the relay: a whole turn with the scripted agent.
    _, _, result = await first.run("@say hello through the daemon")
    assert result["status"] == "completed"
    assert isinstance(await second.cmd("agentBridge.sessions", {}), list)
    assert await close(first) == 0
    assert await close(second) == 0
    # The daemon outlives its editors (it lingers), and says so.
    info = await asyncio.to_thread(status, env)
    assert info["clients"] == 0 and daemon_pids(state_dir) == [info["pid"]]
    stopped = await asyncio.to_thread(cli, env, "daemon", "stop")
    assert stopped.returncode == 0 and f"pid {info['pid']}" in stopped.stdout
    assert daemon_pids(state_dir) == [] and not is_locked(state_dir)
    assert not (state_dir / "daemon.sock").exists()
    again = await asyncio.to_thread(cli, env, "daemon", "stop")
    assert again.returncode == 0 and "no daemon running" in again.stdout


async def test_a_stale_socket_does_not_stop_the_next_editor(
    repo: Path, state_dir: Path, env: dict[str, str], editors: list[Editor]
) -> None:
    state_dir.mkdir(parents=True)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with short_address(state_dir / "daemon.sock") as address:
        stale.bind(address)
    stale.close()
    editor = await attach_editor(repo, state_dir, env)
    editors.append(editor)
    assert isinstance(await editor.cmd("agentBridge.sessions", {}), list)
    assert await close(editor) == 0


async def test_after_the_daemon_is_killed_the_next_editor_starts_a_new_one(
    repo: Path, state_dir: Path, env: dict[str, str], editors: list[Editor]
) -> None:
    editor = await attach_editor(repo, state_dir, env)
    editors.append(editor)
    old = int(str((await asyncio.to_thread(status, env))["pid"]))
    os.kill(old, signal.SIGKILL)
    server = editor.client._server
    assert server is not None
    # The relay notices the connection is gone and ends.
    assert await asyncio.wait_for(server.wait(), 20) == 0
    assert (state_dir / "daemon.sock").exists()  # left behind: nobody removed it
    editor = await attach_editor(repo, state_dir, env)
    editors.append(editor)
    assert isinstance(await editor.cmd("agentBridge.sessions", {}), list)
    new = int(str((await asyncio.to_thread(status, env))["pid"]))
    assert new != old and daemon_pids(state_dir) == [new]
    assert await close(editor) == 0


async def test_sigterm_stops_the_daemon_and_its_editors_relays_end(
    repo: Path, state_dir: Path, env: dict[str, str], editors: list[Editor]
) -> None:
    editor = await attach_editor(repo, state_dir, env)
    editors.append(editor)
    pid = int(str((await asyncio.to_thread(status, env))["pid"]))
    os.kill(pid, signal.SIGTERM)
    server = editor.client._server
    assert server is not None
    assert await asyncio.wait_for(server.wait(), 20) == 0
    await asyncio.to_thread(wait_gone, pid)
    assert not is_locked(state_dir) and not (state_dir / "daemon.sock").exists()


async def test_the_daemon_lingers_out_after_the_last_editor(
    repo: Path, state_dir: Path, env: dict[str, str], editors: list[Editor]
) -> None:
    env = {**env, "AGENT_BRIDGE_DAEMON_LINGER": "1"}
    editor = await attach_editor(repo, state_dir, env)
    editors.append(editor)
    pid = int(str((await asyncio.to_thread(status, env))["pid"]))
    await asyncio.sleep(1.5)
    assert daemon_pids(state_dir) == [pid]  # attached: it stays
    assert await close(editor) == 0
    await asyncio.to_thread(wait_gone, pid)
    assert not is_locked(state_dir)
    done = await asyncio.to_thread(cli, env, "daemon", "status", "--json")
    assert done.returncode == 1 and done.stdout == "" and "no daemon running" in done.stderr


async def test_serve_daemon_is_still_accepted_and_no_daemon_serves_in_process(
    repo: Path, state_dir: Path, env: dict[str, str], editors: list[Editor]
) -> None:
    """`serve` attaches by default; `--daemon` (the opt-in of earlier versions) means the same, `--no-daemon`
    serves in-process and starts no daemon, and the two together are refused."""
    editor = await attach_editor(repo, state_dir, env, "--daemon")
    editors.append(editor)
    info = await asyncio.to_thread(status, env)
    assert info["clients"] == 1 and daemon_pids(state_dir) == [info["pid"]]
    assert await close(editor) == 0
    await asyncio.to_thread(cli, env, "daemon", "stop")
    alone = await attach_editor(repo, state_dir, env, "--no-daemon")
    editors.append(alone)
    _, _, result = await alone.run("@say served in-process")
    assert result["status"] == "completed", result
    assert daemon_pids(state_dir) == [] and not (state_dir / "daemon.sock").exists()
    assert await close(alone) == 0
    both = await asyncio.to_thread(cli, env, "serve", "--daemon", "--no-daemon")
    assert both.returncode == 2 and "not allowed with argument" in both.stderr


async def test_an_in_process_server_does_not_start_on_a_state_dir_a_daemon_serves(
    repo: Path, state_dir: Path, env: dict[str, str], editors: list[Editor]
) -> None:
    """The daemon is the only process that uses its state dir: `--no-daemon` and `--tcp` there would open the
    same database and worktrees beside it. They exit 1 and say what to do instead."""
    editor = await attach_editor(repo, state_dir, env)
    editors.append(editor)
    pid = (await asyncio.to_thread(status, env))["pid"]
    for args in (["--no-daemon"], ["--tcp", "127.0.0.1:0"]):
        done = await asyncio.to_thread(cli, env, "serve", *args)
        assert done.returncode == 1, (args, done.stderr)
        assert f"a daemon (pid {pid}) serves {state_dir}" in done.stderr and "daemon stop" in done.stderr
    assert isinstance(await editor.cmd("agentBridge.sessions", {}), list)  # the daemon is untouched
    assert await close(editor) == 0


async def test_no_daemon_starts_on_a_state_dir_an_in_process_server_serves(
    repo: Path, state_dir: Path, env: dict[str, str], editors: list[Editor]
) -> None:
    """The other way round: `serve --no-daemon` holds the state dir while it runs; plain `serve` there says so at
    once instead of starting a daemon beside it, and a second in-process server is refused too."""
    editor = await attach_editor(repo, state_dir, env, "--no-daemon")
    editors.append(editor)
    await editor.cmd("agentBridge.sessions", {})
    done = await asyncio.to_thread(cli, env, "serve")
    assert done.returncode == 1 and "an in-process bridge (pid" in done.stderr, done.stderr
    again = await asyncio.to_thread(cli, env, "serve", "--no-daemon")
    assert again.returncode == 1 and "another in-process bridge (pid" in again.stderr, again.stderr
    assert daemon_pids(state_dir) == []
    assert isinstance(await editor.cmd("agentBridge.sessions", {}), list)  # the in-process server is untouched
