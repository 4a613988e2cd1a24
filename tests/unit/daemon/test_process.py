"""The daemon's front door: greeting, version replacement, control requests, lingering out."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest

from bridge.daemon.lock import is_locked
from bridge.daemon.process import linger_from_env, parse_hello
from tests.unit.daemon.conftest import EchoHub, StartDaemon, open_client, say

HELLO = 'AGENT-BRIDGE 1 {"version": "1.0", "config": "/x/config.toml"}'


async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: str = HELLO) -> str:
    writer.write(line.encode() + b"\n")
    await writer.drain()
    return (await asyncio.wait_for(reader.readline(), 5)).decode().rstrip("\n")


async def test_a_greeted_client_gets_the_hub_with_its_hello(start_daemon: StartDaemon, state_dir: Path) -> None:
    daemon = await start_daemon()
    async with open_client(state_dir) as (reader, writer):
        assert await greet(reader, writer) == "OK 1.0"
        message = b'Content-Length: 2\r\n\r\n{}'
        writer.write(message)
        await writer.drain()
        assert await asyncio.wait_for(reader.readexactly(len(message)), 5) == message
        status = json.loads(await say(state_dir, "STATUS"))
        assert status == {"pid": os.getpid(), "socket": str(state_dir / "daemon.sock"), "clients": 1,
                          "sessions": 7, "version": "1.0"}
    assert daemon.hub.hellos == [{"version": "1.0", "config": "/x/config.toml"}]
    for _ in range(100):
        if json.loads(await say(state_dir, "STATUS"))["clients"] == 0:
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the client that left is still counted")
    assert not daemon.task.done()


@pytest.mark.parametrize("line", ["hello", "AGENT-BRIDGE 2 {}", 'AGENT-BRIDGE 1 {"config": 1}', "AGENT-BRIDGE 1 [1"])
async def test_a_bad_greeting_is_refused_and_the_daemon_keeps_serving(
    start_daemon: StartDaemon, state_dir: Path, line: str
) -> None:
    daemon = await start_daemon()
    assert (await say(state_dir, line)).startswith("ERROR ")
    assert daemon.hub.hellos == []
    async with open_client(state_dir) as (reader, writer):
        assert await greet(reader, writer) == "OK 1.0"


def test_hello_parsing() -> None:
    assert parse_hello('AGENT-BRIDGE 1 {"version": "2"}') == {"version": "2"}
    assert parse_hello('AGENT-BRIDGE 1 "version"') is None


async def test_stop_answers_then_tears_down_and_releases_the_state_dir(
    start_daemon: StartDaemon, state_dir: Path
) -> None:
    daemon = await start_daemon()
    async with open_client(state_dir) as (reader, writer):
        assert await greet(reader, writer) == "OK 1.0"
        assert await say(state_dir, "STOP") == "OK"
        assert await daemon.finished() is True
        # The attached client's connection ends with the daemon.
        assert await asyncio.wait_for(reader.read(), 5) == b""
    assert daemon.hub.stopped == 1
    assert not (state_dir / "daemon.sock").exists()
    assert not is_locked(state_dir)


async def test_a_second_daemon_for_the_same_state_dir_gives_way(start_daemon: StartDaemon, state_dir: Path) -> None:
    first = await start_daemon()
    second = await start_daemon()
    assert await second.finished() is False
    assert second.hub.stopped == 0
    assert not first.task.done()
    async with open_client(state_dir) as (reader, writer):
        assert await greet(reader, writer) == "OK 1.0"


async def test_an_idle_daemon_of_another_version_makes_way(start_daemon: StartDaemon, state_dir: Path) -> None:
    daemon = await start_daemon(version="0.9")
    assert await say(state_dir, HELLO) == "REPLACE"
    assert await daemon.finished() is True
    assert daemon.hub.stopped == 1 and daemon.hub.hellos == []
    assert not is_locked(state_dir)


async def test_a_busy_daemon_of_another_version_keeps_serving(start_daemon: StartDaemon, state_dir: Path) -> None:
    daemon = await start_daemon(version="0.9", hub=EchoHub(idle=False))
    async with open_client(state_dir) as (reader, writer):
        assert await greet(reader, writer) == "OK 0.9"
    # Idle hub, but an editor of its own version is attached: replacing would cut it off.
    daemon.hub.idle = True
    async with open_client(state_dir) as (reader, writer):
        assert await greet(reader, writer, HELLO.replace("1.0", "0.9")) == "OK 0.9"
        async with open_client(state_dir) as (reader2, writer2):
            assert await greet(reader2, writer2) == "OK 0.9"
    assert not daemon.task.done()


async def test_it_lingers_out_only_when_nobody_is_attached_and_nothing_runs(
    start_daemon: StartDaemon, state_dir: Path
) -> None:
    daemon = await start_daemon(linger=0.3, hub=EchoHub(idle=False))
    await asyncio.sleep(0.8)
    assert not daemon.task.done()  # a turn is running
    daemon.hub.idle = True
    async with open_client(state_dir) as (reader, writer):
        assert await greet(reader, writer) == "OK 1.0"
        await asyncio.sleep(0.8)
        assert not daemon.task.done()  # an editor is attached
    left = time.monotonic()
    assert await daemon.finished() is True
    assert 0.25 <= time.monotonic() - left < 3
    assert daemon.hub.stopped == 1
    assert not is_locked(state_dir)


async def test_a_silent_connection_does_not_block_others(start_daemon: StartDaemon, state_dir: Path) -> None:
    await start_daemon()
    async with open_client(state_dir):
        async with open_client(state_dir) as (reader, writer):
            assert await greet(reader, writer) == "OK 1.0"


def test_linger_setting() -> None:
    assert linger_from_env({}) == 600
    assert linger_from_env({"AGENT_BRIDGE_DAEMON_LINGER": "1.5"}) == 1.5
    assert linger_from_env({"AGENT_BRIDGE_DAEMON_LINGER": "inf"}) == float("inf")
    assert linger_from_env({"AGENT_BRIDGE_DAEMON_LINGER": "soon"}) == 600
    assert linger_from_env({"AGENT_BRIDGE_DAEMON_LINGER": "-1"}) == 600
