"""The shared `opencode serve` process: started lazily, authenticated, watched, restarted, stopped.

One server serves every bridge session whose agent has the same command and environment (opencode reads
providers and credentials from its environment at start, so different environments need different servers).
It listens on 127.0.0.1 on a free port, with a random `OPENCODE_SERVER_PASSWORD` so every request must carry
HTTP Basic credentials that only the bridge knows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from backends import lifeline, sandbox
from backends.base import AgentCrashed, AgentStartError, BackendError, McpServer
from backends.logs import DEFAULT_CAP, CappedLog, tail
from backends.opencode.stream import EventHub
from backends.opencode.wire import models_from_providers, permission_env, with_mcp

log = logging.getLogger(__name__)
# httpx logs every request at INFO; a warm opencode session makes many, and the bridge log is for people.
logging.getLogger("httpx").setLevel(logging.WARNING)

USERNAME = "opencode"
READY_LINE = re.compile(rb"listening on (https?://\S+)")
REQUEST_TIMEOUT = 30.0
STOP_GRACE = 5.0  # how long the server (and its tool processes) get to exit after TERM, before KILL


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_argv(command: tuple[str, ...], port: int) -> list[str]:
    """The command line of the server: the agent's command plus `serve` and where to listen."""
    args = list(command)
    if "acp" in args[1:]:
        raise AgentStartError(
            f"{' '.join(command)} speaks ACP, not opencode's HTTP API: set protocol = \"acp\" for it "
            "(the built-in `opencode-acp` agent does)"
        )
    if "serve" not in args[1:]:
        args.append("serve")
    return [*args, "--hostname", "127.0.0.1", "--port", str(port)]


def restart_delay(crashes: int, base: float) -> float:
    """How long to wait before starting again after `crashes` crashes in a row (none after a clean stop)."""
    return 0.0 if crashes <= 0 else float(min(30.0, base * 2 ** (crashes - 1)))


class OpencodeServer:
    """One `opencode serve` process and the authenticated HTTP client that talks to it."""

    def __init__(
        self,
        command: tuple[str, ...],
        env: Mapping[str, str],
        workdir: Path,
        log_path: Path,
        start_timeout: float = 60.0,
        backoff: float = 0.5,
        stable_after: float = 60.0,
        log_cap: int = DEFAULT_CAP,
        mcp_servers: tuple[McpServer, ...] = (),
        sandbox: sandbox.SandboxSpec | None = None,
    ) -> None:
        self.command = command
        # Sandboxed: a server of one session, run with `workdir` (that session's worktree) as the only place it
        # may write; its tools run inside the same sandbox.
        self.sandbox = sandbox
        self.mcp_servers = mcp_servers
        self.log_cap = log_cap
        self.env = dict(env)
        self.workdir = workdir
        self.log_path = log_path
        self.start_timeout = start_timeout
        self.backoff = backoff
        self.stable_after = stable_after  # a server that ran this long resets the crash count
        self.generation = 0
        self.starts = 0
        self.exit_message: str | None = None
        self.models: list[str] | None = None
        self.default_model: str | None = None
        self.hub = EventHub(lambda: self._client)
        self._process: asyncio.subprocess.Process | None = None
        self._client: httpx.AsyncClient | None = None
        self._log: CappedLog | None = None
        self._lock = asyncio.Lock()
        self._models_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._crashes = 0
        self._exited_at: float | None = None
        self._started_at = 0.0
        self._stopping = False
        self.url: str | None = None
        self.password: str | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        return self._client is not None and self._process is not None and self._process.returncode is None

    def _spawn_task(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def ensure(self) -> None:
        """Start the server unless it runs; after a crash, wait out the backoff first."""
        async with self._lock:
            if self.running:
                return
            self._stopping = False
            if self._exited_at is not None:
                wait = restart_delay(self._crashes, self.backoff) - (time.monotonic() - self._exited_at)
                if wait > 0:
                    log.info("restarting the opencode server in %.1f s", wait)
                    await asyncio.sleep(wait)
            await self._start()

    async def _start(self) -> None:
        port = free_port()
        password = secrets.token_urlsafe(24)
        argv = serve_argv(self.command, port)
        env = {**os.environ, **self.env, **permission_env(),
               "OPENCODE_SERVER_PASSWORD": password, "OPENCODE_SERVER_USERNAME": USERNAME}
        if self.mcp_servers:  # opencode takes MCP servers from its config only, read once at start
            try:
                env.update(with_mcp(env, self.mcp_servers))
            except ValueError as exc:
                raise AgentStartError(f"the opencode server ({' '.join(self.command)}): {exc}") from None
        self.workdir.mkdir(parents=True, exist_ok=True)
        policy = None
        if self.sandbox is not None:  # refuses to start (AgentStartError) where no sandbox can be made
            policy = await asyncio.to_thread(self.sandbox.prepare, argv, env, self.workdir, self.workdir)
            try:
                lifeline.check_runnable(argv[0], env.get("PATH", os.defpath), self.workdir)
            except FileNotFoundError:
                raise AgentStartError(f"{argv[0]}: command not found (is opencode installed and on PATH?)") from None
            except OSError as exc:
                raise AgentStartError(f"{argv[0]} could not start: {exc}") from exc
        if self._log is not None:  # the previous run's
            await asyncio.to_thread(self._log.close)
        # Through a pipe, capped: the server runs the agent's tools, and its log is on the user's disk.
        self._log = log = CappedLog(self.log_path, self.log_cap, f"--- starting {' '.join(argv)}\n")
        try:
            # Under a lifeline, in a session of its own: the server and every tool process it starts die with
            # it, and with the bridge however the bridge dies.
            process = await asyncio.create_subprocess_exec(
                *lifeline.wrap(sandbox.wrap(argv, policy), STOP_GRACE, env, self.workdir), cwd=self.workdir, env=env,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=log.fd,
                start_new_session=True,
            )
        except FileNotFoundError:
            raise AgentStartError(f"{argv[0]}: command not found (is opencode installed and on PATH?)") from None
        except OSError as exc:
            raise AgentStartError(f"{argv[0]} could not start: {exc}") from exc
        finally:
            log.child_started()
        self._process = process
        self.starts += 1
        url = f"http://127.0.0.1:{port}"
        auth = httpx.BasicAuth(USERNAME, password)
        try:
            await asyncio.wait_for(self._wait_ready(process, url, auth), self.start_timeout)
        except TimeoutError:
            await self._kill(process)
            raise AgentStartError(self._failure(f"did not get ready within {self.start_timeout:g} s")) from None
        except AgentStartError:
            await self._kill(process)
            raise
        self.url, self.password = url, password
        self._client = httpx.AsyncClient(base_url=url, auth=auth, trust_env=False,
                                         timeout=httpx.Timeout(REQUEST_TIMEOUT))
        self.generation += 1
        self.exit_message = None
        self.models = None
        self._started_at = time.monotonic()
        self._spawn_task(self._watch(process, self.generation))
        self._spawn_task(self.load_models())

    async def _wait_ready(self, process: asyncio.subprocess.Process, url: str, auth: httpx.Auth) -> None:
        """Ready when it prints its ready line or its health endpoint answers, whichever comes first."""
        assert process.stdout is not None
        ready = asyncio.get_running_loop().create_future()
        reader = asyncio.ensure_future(self._read_stdout(process.stdout, ready))
        self._tasks.add(reader)
        reader.add_done_callback(self._tasks.discard)
        exited = asyncio.ensure_future(process.wait())
        async with httpx.AsyncClient(trust_env=False, timeout=2.0) as probe:
            try:
                while not ready.done():
                    if exited.done():
                        raise AgentStartError(self._failure(f"exited (exit code {process.returncode}) while starting"))
                    with contextlib.suppress(httpx.HTTPError):
                        response = await probe.get(f"{url}/global/health", auth=auth)
                        if response.status_code == 401:
                            raise AgentStartError(self._failure("rejected the bridge's credentials"))
                        if response.status_code == 200:
                            return
                    await asyncio.wait({ready, exited}, timeout=0.2)
            finally:
                if not exited.done():
                    exited.cancel()
        # The ready line names the URL; confirm the credentials before anyone relies on them.
        async with httpx.AsyncClient(trust_env=False, timeout=5.0) as probe:
            try:
                response = await probe.get(f"{url}/global/health", auth=auth)
            except httpx.HTTPError as exc:
                raise AgentStartError(self._failure(f"did not answer its health check ({exc})")) from exc
        if response.status_code == 401:
            raise AgentStartError(self._failure("rejected the bridge's credentials"))

    async def _read_stdout(self, stream: asyncio.StreamReader, ready: asyncio.Future[None]) -> None:
        """Watch for the ready line, and keep draining stdout into the log so the pipe never fills."""
        while line := await stream.readline():
            if self._log is not None:
                self._log.feed(line)
            if not ready.done() and READY_LINE.search(line):
                ready.set_result(None)

    def _failure(self, what: str) -> str:
        if self._log is not None:
            self._log.settle()
        last = tail(self.log_path, start=self._log.start if self._log else 0)
        advice = sandbox.hint(last) if self.sandbox is not None and last else ""
        output = f"; its last output: {last}" if last else ""
        return f"the opencode server ({' '.join(self.command)}) {what}{output}{advice}"

    async def _watch(self, process: asyncio.subprocess.Process, generation: int) -> None:
        code = await process.wait()
        if self._stopping or generation != self.generation:
            return
        ran = time.monotonic() - self._started_at
        self._crashes = 1 if ran >= self.stable_after else self._crashes + 1
        self._exited_at = time.monotonic()
        self.exit_message = self._failure(f"exited (exit code {code})")
        log.warning("%s", self.exit_message)
        client, self._client = self._client, None
        await self.hub.server_exited(self.exit_message)
        if client is not None:
            await client.aclose()

    async def request(
        self, method: str, path: str, directory: str, json: Any = None, params: Mapping[str, Any] | None = None,
        timeout: float | None = REQUEST_TIMEOUT,
    ) -> httpx.Response:
        """One authenticated call scoped to `directory`. Raises AgentCrashed when the server is gone.
        `timeout` None: a call that lasts as long as a turn (the turn's own watchdog bounds it)."""
        client = self._client
        if client is None or not self.running:
            raise AgentCrashed(self.exit_message or "the opencode server is not running")
        try:
            response = await client.request(method, path, params={"directory": directory, **(params or {})},
                                            json=json, timeout=timeout)
        except httpx.TransportError as exc:
            # A broken connection is often the first sign of a dying server: give its exit a moment to show.
            process = self._process
            if process is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(process.wait()), 1.0)
            if not self.running or self.exit_message:
                raise AgentCrashed(self.exit_message or self._failure("stopped")) from exc
            raise BackendError(f"the opencode server did not answer {method} {path}: {exc!r}") from exc
        if response.status_code == 401:
            raise BackendError("the opencode server rejected the bridge's credentials")
        return response

    async def load_models(self) -> list[str] | None:
        """The `provider/model` ids the server can reach, and its default model (cached per server run)."""
        async with self._models_lock:  # the start-up prefetch and a backend resolving its model ask at once
            if self.models is None:
                await self._fetch_models()
            return self.models

    async def _fetch_models(self) -> None:
        try:
            providers = await self.request("GET", "/config/providers", str(self.workdir))
            config = await self.request("GET", "/config", str(self.workdir))
        except BackendError as exc:
            log.info("could not read opencode's models: %s", exc)
            return
        if config.status_code == 200 and isinstance(config.json(), dict):
            model = config.json().get("model")
            self.default_model = model if isinstance(model, str) else None
        if providers.status_code == 200:
            self.models = models_from_providers(providers.json())

    async def _kill(self, process: asyncio.subprocess.Process, grace: float = STOP_GRACE) -> None:
        """TERM the server and its tool processes, then KILL them if they are still there after `grace` s."""
        await lifeline.stop(process, grace)

    async def close(self) -> None:
        """Stop the server (TERM, then KILL) and its streams; a later `ensure` starts a fresh one."""
        async with self._lock:
            self._stopping = True
            await self.hub.close()
            client, self._client = self._client, None
            if client is not None:
                await client.aclose()
            if self._process is not None:
                await self._kill(self._process)
            for task in list(self._tasks):
                task.cancel()
            for task in list(self._tasks):
                with contextlib.suppress(BaseException):
                    await task
            self._crashes = 0
            self._exited_at = None
            if self._log is not None:
                await asyncio.to_thread(self._log.close)
                self._log = None
