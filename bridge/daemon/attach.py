"""The client side of `agent-bridge serve` (stdio): find (or start) the state dir's daemon, greet it, then
relay the editor's stdio to it byte for byte. The relay holds no state; the daemon owns everything."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from bridge import __version__
from bridge.daemon.lock import (
    IN_PROCESS,
    connect,
    is_locked,
    prepare_state_dir,
    recorded_pid,
    recorded_role,
    socket_path,
)
from bridge.daemon.process import GREETING, PROTOCOL

START_TIMEOUT = 20.0
_CHUNK = 65536
# A starter that lost the race for the lock exits at once; try again no faster than this.
_RESPAWN_INTERVAL = 0.3

Spawn = Callable[[], "subprocess.Popen[bytes]"]


class AttachError(Exception):
    """No daemon could be reached; the message is for the user."""


def daemon_command(state_dir: Path, config: Path | None, log_file: Path | None) -> list[str]:
    # -P: never import from the current directory (it may be the repository being edited).
    command = [sys.executable, "-P", "-m", "bridge.cli", "daemon", "run", "--state-dir", str(state_dir)]
    if config is not None:
        command += ["--config", str(config)]
    if log_file is not None:
        command += ["--log-file", str(log_file)]
    return command


def spawn_daemon(state_dir: Path, config: Path | None, log_file: Path | None) -> subprocess.Popen[bytes]:
    """Start a daemon detached from the editor (its own session: closing the terminal or the editor's process
    group does not reach it). It exits by itself when another daemon already serves the state dir."""
    stderr: Any = subprocess.DEVNULL
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        stderr = open(log_file, "ab")  # handed to the child, closed below
    try:
        return subprocess.Popen(
            daemon_command(state_dir, config, log_file), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=stderr, start_new_session=True, cwd=state_dir,
        )
    finally:
        if stderr is not subprocess.DEVNULL:
            stderr.close()


def read_line(sock: socket.socket, limit: int = 65536) -> str:
    """One handshake line, read byte by byte so not a byte of the LSP stream behind it is consumed."""
    data = bytearray()
    while not data.endswith(b"\n"):
        byte = sock.recv(1)
        if not byte:
            raise ConnectionResetError("the daemon closed the connection")
        data += byte
        if len(data) > limit:
            raise ConnectionResetError("the daemon's answer is too long")
    return data.decode("utf-8", "replace").rstrip("\r\n")


def request(state_dir: Path, line: str, timeout: float = 10.0) -> str:
    """A control request (`STATUS`, `STOP`): its one-line answer. OSError when no daemon answers."""
    with connect(state_dir, timeout=timeout) as sock:
        sock.sendall(line.encode() + b"\n")
        return read_line(sock)


def wait_released(state_dir: Path, timeout: float) -> bool:
    """Wait until no daemon holds the state dir's lock (a stopping daemon releases it last)."""
    deadline = time.monotonic() + timeout
    while is_locked(state_dir):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def connect_daemon(state_dir: Path, hello: dict[str, Any], spawn: Spawn, *, timeout: float = START_TIMEOUT,
                   err: IO[str] | None = None, log_file: Path | None = None) -> socket.socket:
    """A socket to the daemon, greeted and accepted. Starts a daemon when none answers; two clients racing
    here end up on the same one (the lock picks it; the other starter exits and its client connects to it)."""
    err = err or sys.stderr
    deadline = time.monotonic() + timeout
    greeting = f"{GREETING} {PROTOCOL} {json.dumps(hello)}\n".encode()
    started: subprocess.Popen[bytes] | None = None
    last_spawn = -1e9
    while True:
        remaining = deadline - time.monotonic()
        reply: str | None = None
        try:
            sock = connect(state_dir, timeout=max(remaining, 0.5))
        except OSError:
            sock = None
        if sock is not None:
            try:
                # A daemon that has just started answers once it has finished importing: wait for that.
                sock.sendall(greeting)
                reply = read_line(sock)
            except OSError:
                reply = None  # it was on its way out
            if reply is not None and reply.startswith("OK "):
                sock.settimeout(None)
                theirs = reply[3:]
                if theirs != hello["version"]:
                    print(f"agent-bridge: the running daemon is version {theirs} (this is {hello['version']}) "
                          "and busy; using it. Run `agent-bridge daemon stop` when its work is done to switch.",
                          file=err, flush=True)
                return sock
            sock.close()
            if reply is not None and reply.startswith("ERROR"):
                raise AttachError(f"the daemon refused the connection: {reply[6:]}")
            if reply == "REPLACE":
                # It is stopping for us: its socket is already gone, so the loop below starts our version.
                started = None
        else:
            if is_locked(state_dir) and recorded_role(state_dir) == IN_PROCESS:
                pid = recorded_pid(state_dir)
                raise AttachError(f"an in-process bridge{f' (pid {pid})' if pid else ''} (`serve --no-daemon` or "
                                  f"`--tcp`) serves {state_dir}; stop it, or give one of them another --state-dir")
            if started is not None and started.poll() not in (None, 0):
                raise AttachError(f"the daemon exited with code {started.returncode} before answering"
                                  + (f" (see {log_file})" if log_file else ""))
            if (started is None or started.poll() is not None) and time.monotonic() - last_spawn >= _RESPAWN_INTERVAL:
                started = spawn()
                last_spawn = time.monotonic()
        if time.monotonic() >= deadline:
            raise AttachError(f"no daemon answered on {socket_path(state_dir)} within {timeout:g} s"
                              + (f" (see {log_file})" if log_file else ""))
        time.sleep(0.02)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def relay(sock: socket.socket, stdin_fd: int, stdout_fd: int) -> int:
    """Copy stdin to the socket and the socket to stdout, each chunk as soon as it arrives, until the daemon
    closes the connection. Editor EOF half-closes the socket so the daemon still finishes what it sends."""

    def upstream() -> None:
        try:
            while data := os.read(stdin_fd, _CHUNK):
                sock.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)

    threading.Thread(target=upstream, name="stdin-to-daemon", daemon=True).start()
    try:
        while data := sock.recv(_CHUNK):
            _write_all(stdout_fd, data)
    except OSError:
        pass  # the editor is gone (broken pipe) or the daemon reset the connection: either way, done
    finally:
        sock.close()
    return 0


def attach(state_dir: Path, *, config: Path | None = None, log_file: Path | None = None,
           version: str = __version__, timeout: float = START_TIMEOUT, stdin_fd: int = 0, stdout_fd: int = 1,
           spawn: Spawn | None = None, err: IO[str] | None = None) -> int:
    """`agent-bridge serve`: 0 when the daemon closed the connection, 1 when none could be reached."""
    err = err or sys.stderr
    state_dir = state_dir.absolute()
    config = config.absolute() if config is not None else None
    log_file = log_file.absolute() if log_file is not None else None
    prepare_state_dir(state_dir)
    try:
        cwd: str | None = os.getcwd()
    except OSError:  # started from a directory that has since been removed
        cwd = None
    hello = {"version": version, "config": str(config) if config else None, "pid": os.getpid(), "cwd": cwd}
    try:
        sock = connect_daemon(state_dir, hello, spawn or (lambda: spawn_daemon(state_dir, config, log_file)),
                              timeout=timeout, err=err, log_file=log_file)
    except AttachError as exc:
        print(f"agent-bridge: {exc}", file=err, flush=True)
        return 1
    return relay(sock, stdin_fd, stdout_fd)
