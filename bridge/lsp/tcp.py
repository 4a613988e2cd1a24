"""`agent-bridge serve --tcp`: a listener that serves one attached editor at a time, each connection with a
server of its own, admitted only with the token from `<state dir>/tcp-token`.

Anyone who can open a connection could otherwise prompt an agent that writes files as the user. So the
listener binds loopback unless told otherwise, every connection authenticates in `initialize` before any
message reaches a feature (bridge.lsp.server.GatedProtocol), and a connection never shares a protocol,
output or workspace with another: a newcomer cannot read the editor's replies or answer its permission
questions, and one leaving stops only its own agents.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import os
import secrets
import signal
import stat
import tempfile
import threading
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path

from lsprotocol import types as T
from pygls.io_ import run_async

from bridge.errors import BridgeError
from bridge.lsp.server import AUTH_TOKEN, BridgeServer

log = logging.getLogger(__name__)

TOKEN_FILE = "tcp-token"
HANDSHAKE_TIMEOUT = 30.0  # seconds a connection may stay without an admitted `initialize`
PRE_AUTH_MAX_BODY = 1 << 20  # bytes; initializationOptions with agents fit, a flood from a stranger does not
TEARDOWN_WAIT = 25.0  # seconds a newcomer waits for the previous editor's agents to stop (< HANDSHAKE_TIMEOUT)
STOP_WAIT = 60.0  # seconds SIGTERM waits for the connections' teardown before giving up on them


class TcpSetupError(BridgeError):
    """The TCP transport cannot start safely; the message says why and what to do."""


class AddressNotAllowed(TcpSetupError):
    """A non-loopback address without --allow-remote, or HOST:PORT that does not parse."""


class UnsafeTokenFile(TcpSetupError):
    """The token file exists but others may know or change the token."""


def parse_address(text: str) -> tuple[str, int]:
    """HOST:PORT (IPv6 as [::1]:PORT) -> (host, port); port 0 lets the system choose."""
    host, _, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not host or not port.isdigit() or int(port) > 65535:
        raise AddressNotAllowed(f"--tcp expects HOST:PORT (e.g. 127.0.0.1:7070), got {text!r}")
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # any other name may resolve to an address others can reach


def check_bind_host(host: str, allow_remote: bool) -> None:
    if not allow_remote and not is_loopback(host):
        raise AddressNotAllowed(
            f"--tcp {host}: refusing to listen on a non-loopback address. Anyone who can reach it and learns the "
            "token can run agents that write files as you, and the protocol is not encrypted. Use 127.0.0.1, ::1 "
            "or localhost, or pass --allow-remote if you really mean it."
        )


def ensure_token(state_dir: Path) -> tuple[str, Path]:
    """The token TCP clients must send, created on first use; and the file it is in."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    mode = state_dir.stat().st_mode
    if mode & 0o022:
        log.warning("%s: others can write to the state dir (mode %03o); consider chmod 700", state_dir, mode & 0o777)
    path = state_dir / TOKEN_FILE
    token = _read_token(path)
    if token is None:
        _create_token(path)
        token = _read_token(path)
        assert token is not None
    return token, path


def _read_token(path: Path) -> str | None:
    try:
        # O_NOFOLLOW: a symlink planted in the state dir must not choose which file holds the token.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UnsafeTokenFile(f"{path}: cannot open the TCP token file ({exc.strerror}); it must be a regular "
                              "file (not a symlink) that you own; remove it and the bridge creates a new one") from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        remedy = "remove it and the bridge creates a new token"
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeTokenFile(f"{path}: the TCP token file is not a regular file; {remedy}")
        if st.st_uid != os.getuid():
            raise UnsafeTokenFile(f"{path}: the TCP token file is owned by uid {st.st_uid}, not by you "
                                  f"(uid {os.getuid()}); refusing to use it; {remedy}")
        if st.st_mode & 0o077:
            raise UnsafeTokenFile(f"{path}: the TCP token file is accessible to other users (mode "
                                  f"{st.st_mode & 0o777:03o}, must be 600); refusing a token others may know; {remedy}")
        raw = fh.read(4096)
    try:
        token = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        token = ""
    if not token:
        raise UnsafeTokenFile(f"{path}: the TCP token file holds no token; {remedy}")
    return token


def _create_token(path: Path) -> None:
    """Write a new token atomically: written to a private temporary file, then linked into place, so a
    bridge starting at the same moment reads either nothing or the whole token, and the first one wins."""
    fd, tmp = tempfile.mkstemp(prefix=f".{TOKEN_FILE}-", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_urlsafe(32) + "\n")
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)


def format_address(address: tuple[str, int]) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _Client:
    """One connection: its own server, and the stream that is its only way out."""

    def __init__(self, server: BridgeServer, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.writer = writer
        self.closed = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.writer.close()  # the reader then sees EOF: the connection's loop ends and tears down


class _GuardedReader:
    """Until `initialize` is admitted a message may not exceed PRE_AUTH_MAX_BODY: a stranger must not make
    the bridge buffer whatever Content-Length it claims."""

    def __init__(self, reader: asyncio.StreamReader, admitted: Callable[[], bool]) -> None:
        self._reader = reader
        self._admitted = admitted

    async def readline(self) -> bytes:
        return await self._reader.readline()

    async def readexactly(self, n: int) -> bytes:
        if n > PRE_AUTH_MAX_BODY and not self._admitted():
            raise ConnectionError(f"a {n}-byte message before initialize")
        return await self._reader.readexactly(n)


class TcpListener:
    """Serves one attached editor at a time; the listener outlives every client.

    Each connection gets a fresh server from `make_server`. A connection is attached once its `initialize`
    carries the token and no other editor is attached; it stays attached until its teardown (agents stopped,
    store closed) is over, so the next editor finds the sessions persisted and nothing running.
    """

    def __init__(self, make_server: Callable[[], BridgeServer], token: str) -> None:
        self.make_server = make_server
        self._token = token.encode()
        self._attached: _Client | None = None
        self._released = asyncio.Event()
        self._clients: dict[asyncio.Task[None], _Client] = {}
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def serve(self, host: str, port: int, allow_remote: bool,
                    on_listening: Callable[[list[tuple[str, int]]], None]) -> None:
        """Listen until SIGTERM/SIGHUP (or stop()); then close every connection and wait for its teardown."""
        tcp = await asyncio.start_server(self._connection, host, port)
        addresses = [(str(sock.getsockname()[0]), int(sock.getsockname()[1])) for sock in tcp.sockets]
        if not allow_remote and not all(is_loopback(address[0]) for address in addresses):
            # A name such as "localhost" resolved to something else: refuse rather than listen there.
            tcp.close()
            raise AddressNotAllowed(f"--tcp {host}: resolved to {', '.join(a[0] for a in addresses)}, not only "
                                    "loopback; pass --allow-remote to listen there anyway")
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._on_signal, sig)
        on_listening(addresses)
        try:
            await self._stopping.wait()
        finally:
            tcp.close()
            for client in list(self._clients.values()):
                client.close()
            if self._clients:
                await asyncio.wait(list(self._clients), timeout=STOP_WAIT)

    def _on_signal(self, sig: int) -> None:
        log.info("%s: stopping every client's agents, then exiting", signal.Signals(sig).name)
        self.stop()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = _Client(self.make_server(), writer)
        task = asyncio.current_task()
        assert task is not None
        self._clients[task] = client
        server = client.server
        server.admission = partial(self._admit, client)
        server.finish = lambda code: client.close()  # `exit` ends this connection, never the listener
        server.close_connection = client.close
        server.protocol.set_writer(writer)
        stop = threading.Event()
        peer = writer.get_extra_info("peername")
        expiry = asyncio.get_running_loop().call_later(HANDSHAKE_TIMEOUT, self._expire, client)
        log.info("connection from %s", peer)
        try:
            await run_async(stop_event=stop, reader=_GuardedReader(reader, lambda: server.protocol.admitted),
                            protocol=server.protocol, logger=log, error_handler=server.report_server_error)
        except (OSError, ValueError, asyncio.IncompleteReadError) as exc:  # ConnectionError is an OSError
            log.info("connection from %s dropped: %s", peer, exc)
        finally:
            expiry.cancel()
            stop.set()
            client.close()
            try:
                await server.teardown()
            finally:
                server.shutdown()  # pygls' own: its thread pool, if one was started
                if self._attached is client:
                    self._attached = None
                    self._released.set()
                del self._clients[task]
                log.info("connection from %s closed", peer)

    def _expire(self, client: _Client) -> None:
        if not client.server.protocol.admitted:
            log.warning("closing a connection that sent no admitted initialize within %.0f s", HANDSHAKE_TIMEOUT)
            client.close()

    async def _admit(self, client: _Client, params: T.InitializeParams) -> str | None:
        options = params.initialization_options
        given = options.get(AUTH_TOKEN) if isinstance(options, Mapping) else None
        if not isinstance(given, str) or not hmac.compare_digest(given.encode("utf-8", "surrogatepass"), self._token):
            return (f"authentication failed: initializationOptions.{AUTH_TOKEN} must be the token in the bridge's "
                    f"state dir (file {TOKEN_FILE})")
        if self._attached is not None and self._attached.closed:
            # The previous editor has just left: wait for its agents to stop and its store to close.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released.wait(), TEARDOWN_WAIT)
        if client.closed:
            return "the connection closed"
        if self._attached is not None:
            return ("another editor is attached to this bridge; close it first, or start another "
                    "`agent-bridge serve --tcp` with its own --state-dir and port")
        self._attached = client
        self._released.clear()
        return None
