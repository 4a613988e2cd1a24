"""opencode as a warm backend: one opencode session per (bridge session, agent) on the shared server.

A turn is `POST /session/{id}/prompt_async` with a user message id the bridge chooses, then the session's
events (from its directory's stream) until opencode says the session is idle or failed. The mapping and the
settlement decisions are pure (`opencode_events`); this module does the I/O around them: it posts, consumes
the stream in order, answers permissions through the bridge's policy, reconciles from the session's messages
after a dropped stream or a silent spell, and fails the turn when the server dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from backends.base import (
    AgentCrashed,
    AgentStartError,
    AgentState,
    BackendError,
    BackendHost,
    PromptPart,
    StartInfo,
    choose_option,
)
from backends.events import AvailableCommands, ConfigChanged, ModeChanged, TurnOutcome
from backends.opencode.events import (
    Mapped,
    OpencodeMapper,
    PermissionAsk,
    Settle,
    TurnGuard,
    reconcile_events,
)
from backends.opencode.server import OpencodeServer
from backends.opencode.steering import Steering
from backends.opencode.stream import StreamItem, Subscription
from backends.opencode.wire import (
    SESSION_PERMISSIONS,
    ModelError,
    error_text,
    new_message_id,
    permission_request,
    reply_for,
    resolve_model,
    to_opencode_parts,
)

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 15.0  # for the directory's event stream to open before a prompt is posted


@dataclass
class _Turn:
    message_id: str
    done: asyncio.Future[Settle]
    last_activity: float = field(default_factory=time.monotonic)
    cancel_requested: bool = False
    cancelled_at: float | None = None
    abort_raced: bool = False  # aborted before it showed activity: opencode may not have started it yet
    active: bool = False  # has shown activity of its own
    retry: str | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)  # the waiter's deadlines changed (a cancel)


class OpencodeBackend:
    """One opencode session, prompted for every turn of its bridge session."""

    kind = "opencode"
    ORPHAN_CHECK = 1.0  # seconds after a swallowed idle/error before checking the messages

    def __init__(
        self,
        server: OpencodeServer,
        host: BackendHost,
        model: str | None = None,
        stall_timeout: float = 180.0,
        abort_grace: float = 5.0,
        owns_server: bool = False,
    ) -> None:
        self.server = server
        self.owns_server = owns_server  # a server of this session alone (sandboxed): it stops with the session
        self.host = host
        self.model = model
        self.stall_timeout = stall_timeout
        self.abort_grace = abort_grace  # after an abort, how long to wait for opencode to say so itself
        self.directory = str(host.cwd)
        self.guard = TurnGuard()
        self.session_id: str | None = None
        self.mapper: OpencodeMapper | None = None
        self.steering = Steering()
        self._generation = 0
        self._sub: Subscription | None = None
        self._consumer: asyncio.Task[None] | None = None
        self._turn: _Turn | None = None
        self._permissions: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Held while the mapper is fed and its events are delivered (stream items, reconciliations), so the
        # editor sees one ordered story even when a reconciliation runs beside the stream.
        self._feed = asyncio.Lock()
        self._closed = False

    @property
    def pid(self) -> int | None:
        return self.server.pid

    @property
    def alive(self) -> bool:
        return (
            not self._closed and self.server.running and self.server.generation == self._generation
            and self._consumer is not None and not self._consumer.done()
        )

    async def _call(self, method: str, path: str, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        return await self.server.request(method, path, self.directory, json=json, params=params)

    # Start
    async def start(self, resume_id: str | None = None) -> StartInfo:
        await self.server.ensure()
        self._generation = self.server.generation
        try:
            if self.model is not None and self.steering.chosen_model is None:
                self.steering.chosen_model = await self._resolve_model(self.model)
            session_id, resumed, note = await self._open_session(resume_id)
            await self.steering.load(self._get_json, self.server.default_model)
        except (BackendError, ModelError) as exc:
            raise AgentStartError(str(exc)) from exc
        self.session_id = session_id
        self.steering.applied = None if resumed else []  # a resumed session may carry an earlier run's rules
        self.mapper = OpencodeMapper(session_id, self.directory)
        self._sub = self.server.hub.subscribe(self.directory, session_id)
        self._consumer = asyncio.create_task(self._consume(self._sub), name=f"opencode {session_id}")
        if self.steering.commands:  # as an ACP agent announces its commands once its session is open
            await self.host.on_event(AvailableCommands(self.steering.commands))
        return StartInfo(session_id, resumed=resumed, note=note, pid=self.server.pid)

    async def _resolve_model(self, spec: str) -> str:
        models = await self.server.load_models() or []
        provider, model = resolve_model(spec, self.server.default_model, models)
        return f"{provider}/{model}"

    async def _get_json(self, path: str) -> Any:
        """A GET's JSON body, or None if opencode refused it: a catalog it cannot list is simply empty."""
        try:
            response = await self._call("GET", path)
            return response.json() if response.status_code == 200 else None
        except ValueError:
            return None
        except AgentCrashed:
            raise
        except BackendError as exc:
            log.info("opencode session %s: could not read %s: %s", self.session_id, path, exc)
            return None

    async def _open_session(self, resume_id: str | None) -> tuple[str, bool, str | None]:
        note = None
        if resume_id:
            response = await self._call("GET", f"/session/{resume_id}")
            if response.status_code == 200:
                return resume_id, True, None
            note = (f"could not resume the agent's earlier opencode session ({error_text(response)}); "
                    "started a new one")
        response = await self._call("POST", "/session", json={"permission": SESSION_PERMISSIONS})
        if response.status_code != 200:
            raise BackendError(f"opencode could not create a session: {error_text(response)}")
        return str(response.json()["id"]), False, note

    # Turns
    async def prompt(self, parts: list[PromptPart]) -> TurnOutcome:
        if not self.alive or self.session_id is None or self._sub is None or self.mapper is None:
            raise AgentCrashed(self.server.exit_message or "the opencode server is not running")
        turn = _Turn(new_message_id(int(time.time() * 1000)), asyncio.get_running_loop().create_future())
        self._turn = turn
        self.mapper.begin_turn(turn.message_id)
        self.guard.arm()  # whatever idle/error comes before this turn's own activity is an earlier turn's
        try:
            if not await self._sub.wait_connected(CONNECT_TIMEOUT):
                self._raise_if_dead()
                raise BackendError(f"could not open opencode's event stream within {CONNECT_TIMEOUT:g} s")
            if turn.cancel_requested:  # cancelled before it reached opencode
                return TurnOutcome(stop_reason="cancelled")
            await self.steering.sync_rules(self._call, self.session_id)
            if (command := self.steering.command_call(parts)) is not None:
                self._command(turn, *command)
            else:
                body: dict[str, Any] = {"messageID": turn.message_id, "parts": to_opencode_parts(parts),
                                        **self.steering.prompt_fields()}
                response = await self._call("POST", f"/session/{self.session_id}/prompt_async", json=body)
                if response.status_code >= 400:
                    raise BackendError(f"opencode refused the prompt: {error_text(response)}")
            turn.last_activity = time.monotonic()
            settle = await self._wait(turn)
        finally:
            self._turn = None
            self._cancel_permissions()
        if settle.outcome == "failed":
            raise BackendError(settle.error or "opencode failed the turn")
        usage = self.mapper.usage if self.mapper.usage.total_tokens or self.mapper.usage.cost else None
        return TurnOutcome(stop_reason=settle.stop_reason, usage=usage)

    def _command(self, turn: _Turn, name: str, arguments: str) -> None:
        """Run a slash command as the turn. opencode answers that request only when the turn has ended, so it
        runs beside the turn, which the event stream settles as any other; a refusal fails the turn."""
        body = {"messageID": turn.message_id, "command": name, "arguments": arguments,
                **self.steering.command_fields()}

        async def run() -> None:
            try:
                response = await self.server.request("POST", f"/session/{self.session_id}/command", self.directory,
                                                     json=body, timeout=None)
            except BackendError as exc:
                error: BaseException | None = exc
            else:
                error = None if response.status_code < 400 else BackendError(
                    f"opencode refused the command /{name}: {error_text(response)}")
            if error is not None and not turn.cancel_requested and not turn.done.done():
                turn.done.set_exception(error)

        task = asyncio.create_task(run(), name=f"opencode /{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _raise_if_dead(self) -> None:
        if not self.server.running or self.server.generation != self._generation:
            raise AgentCrashed(self.server.exit_message or "the opencode server stopped")

    async def _wait(self, turn: _Turn) -> Settle:
        """Until the turn settles; a silent spell past the watchdog is reconciled once, then fails the turn."""
        while True:
            now = time.monotonic()
            if self._permissions:
                turn.last_activity = now  # waiting for the user is not the agent hanging
            deadline = turn.last_activity + self.stall_timeout
            if turn.cancelled_at is not None:
                deadline = min(deadline, turn.cancelled_at + self.abort_grace)
            turn.wake.clear()
            woken = asyncio.ensure_future(turn.wake.wait())
            try:
                waiters: set[asyncio.Future[Any]] = {turn.done, woken}
                await asyncio.wait(waiters, timeout=max(0.0, deadline - now), return_when=asyncio.FIRST_COMPLETED)
            finally:
                woken.cancel()
            if turn.done.done():
                return turn.done.result()
            if turn.cancelled_at is not None and time.monotonic() >= turn.cancelled_at + self.abort_grace:
                # opencode did not report the abort (it may have been idle already): ask it directly.
                turn.cancelled_at = None
                with contextlib.suppress(BackendError):
                    if not await self._busy():
                        self._resolve(turn, Settle("cancelled", stop_reason="cancelled"))
                continue
            if self._permissions or time.monotonic() - turn.last_activity < self.stall_timeout:
                continue
            with contextlib.suppress(BackendError):
                await self._reconcile_now(turn)
            if turn.done.done():
                return turn.done.result()
            with contextlib.suppress(BackendError):  # the server's errors arrive translated (server.request)
                await self._call("POST", f"/session/{self.session_id}/abort")
            why = f" (it kept retrying the model: {turn.retry})" if turn.retry else ""
            raise AgentCrashed(
                f"opencode showed no activity for {self.stall_timeout:g} s{why}; the turn was stopped"
            )

    def _resolve(self, turn: _Turn, settle: Settle) -> None:
        if not turn.done.done():
            turn.done.set_result(settle)

    async def _busy(self) -> bool:
        response = await self._call("GET", "/session/status")
        status = response.json() if response.status_code == 200 else {}
        entry = status.get(self.session_id) if isinstance(status, dict) else None
        return isinstance(entry, dict) and entry.get("type") not in (None, "idle")

    # Steering: the agent and model the next prompts name (a running turn keeps the ones it started with).
    def state(self) -> AgentState:
        return self.steering.state()  # embedded context: resources go to opencode as text (to_opencode_parts)

    async def set_mode(self, mode_id: str) -> None:
        model = self.steering.current_model
        if self.steering.set_mode(mode_id):
            await self.host.on_event(ModeChanged(mode_id))
        if self.steering.current_model != model:  # the new agent pins a model of its own
            await self.host.on_event(ConfigChanged(self.steering.options()))

    async def set_option(self, option_id: str, value: str | bool) -> None:
        if self.steering.set_option(option_id, value):
            await self.host.on_event(ConfigChanged(self.steering.options()))

    async def cancel(self) -> None:
        turn = self._turn
        if turn is None or self.session_id is None:
            return
        turn.cancel_requested = True
        if turn.cancelled_at is None:  # a repeated cancel keeps the first one's grace period
            turn.cancelled_at = time.monotonic()
            turn.wake.set()
        self.guard.arm()  # the aborted turn's trailing idle/error must not settle the next one
        turn.abort_raced = not turn.active
        self._cancel_permissions()
        await self._abort()

    async def _abort(self) -> None:
        with contextlib.suppress(BackendError):
            await self._call("POST", f"/session/{self.session_id}/abort")

    # Events
    async def _consume(self, sub: Subscription) -> None:
        while True:
            item = await sub.queue.get()
            try:
                async with self._feed:
                    await self._on_item(item)
            except AgentCrashed as exc:
                self._fail_turn(exc)
            except Exception:
                log.exception("opencode session %s: could not handle %s", self.session_id, item.kind)
            if item.kind == "exit":
                return

    async def _on_item(self, item: StreamItem) -> None:
        if item.kind == "exit":
            self._fail_turn(AgentCrashed(item.message))
        elif item.kind == "connected" and item.reconnect:
            await self._catch_up()
        elif item.kind == "event" and self.mapper is not None:
            await self._apply(self.mapper.feed(item.data))

    def _later(self, delay: float, turn: _Turn) -> None:
        """Reconcile `turn` in `delay` seconds (if it is still running then)."""
        async def run() -> None:
            await asyncio.sleep(delay)
            if self._turn is turn and not turn.done.done():
                with contextlib.suppress(BackendError):
                    await self._reconcile_now(turn)

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _fail_turn(self, exc: BaseException) -> None:
        turn = self._turn
        if turn is not None and not turn.done.done():
            turn.done.set_exception(exc)

    async def _apply(self, mapped: Mapped) -> None:
        turn = self._turn
        if mapped.child_session and self._sub is not None:
            self._sub.add_session(mapped.child_session)
        if mapped.permission is not None:
            self._ask(mapped.permission)
        if turn is not None:
            if mapped.stale and not turn.cancel_requested:
                self.guard.arm()
            if mapped.activity:
                turn.active = True
                turn.last_activity = time.monotonic()
                self.guard.heal()
                if turn.abort_raced:
                    # The abort raced the start of the turn and may have found nothing to stop: stop it now.
                    turn.abort_raced = False
                    await self._abort()
            if mapped.retry:
                turn.retry = mapped.retry
        for event in mapped.events:
            await self.host.on_event(event)
        if mapped.settle is not None and turn is not None and not turn.done.done():
            if turn.cancel_requested:
                self._resolve(turn, Settle("cancelled", stop_reason="cancelled"))
            elif self.guard.admit():
                self._resolve(turn, mapped.settle)
            elif turn.active:
                # Swallowed while the turn runs: if it was really this turn's end, the messages will say so.
                self._later(self.ORPHAN_CHECK, turn)

    async def _catch_up(self) -> None:
        """After the stream reconnected: what was missed of the running turn, and unanswered permissions."""
        if self._turn is not None:
            await self._reconcile(self._turn)
        response = await self._call("GET", "/permission")
        if response.status_code == 200 and isinstance(response.json(), list) and self.mapper is not None:
            for props in response.json():
                if isinstance(props, dict):
                    await self._apply(self.mapper.feed({"type": "permission.asked", "properties": props}))

    async def _reconcile_now(self, turn: _Turn) -> None:
        async with self._feed:
            await self._reconcile(turn)

    async def _reconcile(self, turn: _Turn) -> None:
        """Bring the turn up to date from the session's messages; settle it if they say it ended."""
        if self.mapper is None:
            return
        response = await self._call("GET", f"/session/{self.session_id}/message")
        if response.status_code != 200:
            return
        busy = await self._busy()
        messages = response.json() if isinstance(response.json(), list) else []
        replayed, settle, _ = reconcile_events(self.mapper, messages, busy)
        for mapped in replayed:
            # History replays earlier turns' answers too; they are not finishing now, so nothing re-arms.
            mapped.settle, mapped.stale = None, False
            await self._apply(mapped)
        if settle is not None:
            self._resolve(turn, Settle("cancelled", stop_reason="cancelled") if turn.cancel_requested else settle)

    # Permissions
    def _ask(self, ask: PermissionAsk) -> None:
        if ask.request_id in self._permissions:
            return
        task = asyncio.create_task(self._answer(ask))
        self._permissions[ask.request_id] = task
        task.add_done_callback(lambda _: self._permissions.pop(ask.request_id, None))

    async def _answer(self, ask: PermissionAsk) -> None:
        request = permission_request(ask.properties, self.directory)
        try:
            choice = await self.host.ask_permission(request)
        except asyncio.CancelledError:
            choice = None
        option = choose_option(request.options, choice) if choice is not None else None
        reply = reply_for(next((o.kind for o in request.options if o.option_id == option), None))
        with contextlib.suppress(BackendError, AgentCrashed):
            await self._call("POST", f"/permission/{ask.request_id}/reply", json={"reply": reply})

    def _cancel_permissions(self) -> None:
        for task in list(self._permissions.values()):
            task.cancel()

    async def close(self) -> None:
        self._closed = True
        self._cancel_permissions()
        self._fail_turn(AgentCrashed("the opencode session was closed"))
        for task in list(self._tasks):
            task.cancel()
        if self._sub is not None:
            sub, self._sub = self._sub, None
            await self.server.hub.unsubscribe(sub)
        if self._consumer is not None:
            self._consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._consumer
        if self.owns_server:
            await self.server.close()
