"""The state dir lock and socket: one owner, private files, stale sockets, paths longer than sun_path."""

from __future__ import annotations

import os
import socket
import stat
import threading
import time
from pathlib import Path

from bridge.daemon.lock import (
    DaemonListener,
    StateLock,
    answers,
    claim_or_defer,
    connect,
    is_locked,
    recorded_pid,
    short_address,
)


def leave_stale_socket(state_dir: Path) -> None:
    """What a SIGKILLed daemon leaves: a socket file nobody listens on."""
    state_dir.mkdir(parents=True, exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with short_address(state_dir / "daemon.sock") as address:
        sock.bind(address)
    sock.close()


def test_one_owner_with_private_files(state_dir: Path) -> None:
    assert len(os.fsencode(state_dir / "daemon.sock")) > 108
    first = DaemonListener.claim(state_dir)
    assert first is not None
    try:
        assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
        assert stat.S_IMODE((state_dir / "daemon.sock").stat().st_mode) == 0o600
        assert stat.S_IMODE((state_dir / "daemon.lock").stat().st_mode) == 0o600
        assert recorded_pid(state_dir) == os.getpid()
        assert is_locked(state_dir)
        assert DaemonListener.claim(state_dir) is None  # a second claimant, even in the same process
        with connect(state_dir, timeout=2) as client:
            server_side, _ = first.sock.accept()
            client.sendall(b"ping")
            assert server_side.recv(4) == b"ping"
            server_side.close()
    finally:
        first.close()
    assert not (state_dir / "daemon.sock").exists()
    assert (state_dir / "daemon.lock").exists()  # kept: see StateLock.release
    assert not is_locked(state_dir)
    again = DaemonListener.claim(state_dir)
    assert again is not None
    again.close()


def test_an_existing_state_dir_is_made_private(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o755)
    os.chmod(state_dir, 0o755)
    listener = DaemonListener.claim(state_dir)
    assert listener is not None
    listener.close()
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700


def test_a_stale_socket_is_replaced_by_the_lock_holder(state_dir: Path) -> None:
    leave_stale_socket(state_dir)
    assert (state_dir / "daemon.sock").exists() and not answers(state_dir)
    listener = DaemonListener.claim(state_dir)
    assert listener is not None
    try:
        assert answers(state_dir)
    finally:
        listener.close()


def test_a_probe_does_not_steal_the_lock(state_dir: Path) -> None:
    listener = DaemonListener.claim(state_dir)
    assert listener is not None
    try:
        for _ in range(5):
            assert is_locked(state_dir)
        assert DaemonListener.claim(state_dir) is None
    finally:
        listener.close()


def test_a_starter_waits_for_a_stopping_owner_and_defers_to_a_serving_one(state_dir: Path) -> None:
    state_dir.mkdir(parents=True)
    # Held but not answering: an owner on its way out. The starter waits for it and then takes over.
    stopping = StateLock.try_acquire(state_dir)
    assert stopping is not None
    threading.Timer(0.3, stopping.release).start()
    started = time.monotonic()
    listener = claim_or_defer(state_dir, wait=5)
    assert listener is not None
    assert time.monotonic() - started >= 0.25
    try:
        # Held and answering: a live daemon. The starter gives way at once.
        started = time.monotonic()
        assert claim_or_defer(state_dir, wait=5) is None
        assert time.monotonic() - started < 1
    finally:
        listener.close()


def test_connecting_to_nothing_fails_plainly(state_dir: Path) -> None:
    state_dir.mkdir(parents=True)
    for setup in (lambda: None, lambda: leave_stale_socket(state_dir)):
        setup()
        try:
            connect(state_dir, timeout=1).close()
        except OSError:
            pass
        else:
            raise AssertionError("connected to no daemon")
