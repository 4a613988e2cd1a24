"""Steering an agent: its modes and config options, and the user's choices of them, kept per (session, agent).

The agent reports what it offers (`AgentBackend.state`); the user's choices are stored (`agent_sessions.steering`)
and put back each time that agent starts again for the session, after an eviction, a crash or a restart of the
bridge, since a new process (or even a resumed session) need not remember them. A choice the agent no longer
offers is dropped, with a notice saying so.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from backends.base import AgentBackend, AgentState, BackendError, SteeringError
from bridge import protocol as wire
from bridge.config import AgentConfig
from bridge.core.host import TurnHost
from bridge.core.pool import AgentPool, Key
from bridge.core.session import Session
from bridge.errors import BridgeError
from bridge.store import Store

MODEL_CATEGORY = "model"


@dataclass
class Choice:
    """What the user chose for one agent of one session. `model` repeats the model option's value, so
    `agentBridge.sessions` can show it while the agent is stopped."""

    mode: str | None = None
    options: dict[str, str | bool] = field(default_factory=dict)
    model: str | None = None


def load(text: str) -> Choice:
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return Choice()
    if not isinstance(data, dict):
        return Choice()
    mode, model, options = data.get("mode"), data.get("model"), data.get("options")
    return Choice(
        mode if isinstance(mode, str) else None,
        {k: v for k, v in options.items() if isinstance(v, str | bool)} if isinstance(options, dict) else {},
        model if isinstance(model, str) else None,
    )


def dump(choice: Choice) -> str:
    data: dict[str, Any] = {"options": choice.options}
    if choice.mode is not None:
        data["mode"] = choice.mode
    if choice.model is not None:
        data["model"] = choice.model
    return json.dumps(data, sort_keys=True)


def model_option(options: tuple[dict[str, Any], ...]) -> dict[str, Any] | None:
    """The option that picks the model: the one of category "model", else the one with id "model"."""
    by_category = next((o for o in options if o.get("category") == MODEL_CATEGORY), None)
    return by_category or next((o for o in options if o.get("id") == MODEL_CATEGORY), None)


def shown(state: AgentState) -> tuple[str | None, str | None]:
    """The mode and model `agentBridge.sessions` shows for a running agent."""
    option = model_option(state.config_options)
    model = option.get("currentValue") if option is not None else None
    return state.current_mode_id, str(model) if model is not None else None


def result(agent: str, state: AgentState) -> wire.AgentStateResult:
    modes = None
    if state.modes:
        modes = wire.Modes(
            state.current_mode_id, [wire.ModeInfo(m.id, m.name, m.description) for m in state.modes]
        )
    return wire.AgentStateResult(agent, modes, list(state.config_options), list(state.commands))


def _values(option: dict[str, Any]) -> list[str]:
    values = []
    for item in option.get("options", ()):
        for entry in item.get("options", ()) if "group" in item else [item]:
            values.append(str(entry.get("value")))
    return values


def offered(state: AgentState, option_id: str, value: str | bool) -> bool:
    option = next((o for o in state.config_options if o.get("id") == option_id), None)
    if option is None:
        return False
    if option.get("type") == "boolean":
        return isinstance(value, bool)
    return isinstance(value, str) and value in _values(option)


class Steering:
    """`agentBridge.agentState`, `setMode` and `setOption` for the SessionManager: which agent, started if need
    be (`start`: the manager's warm backend of (session, agent)), and its state after the change."""

    def __init__(
        self,
        store: Store,
        pool: AgentPool,
        start: Callable[[Session, AgentConfig], Awaitable[tuple[AgentBackend, TurnHost]]],
        agent: Callable[[Session, str | None], Awaitable[AgentConfig]],
    ) -> None:
        self._store, self._pool, self._start, self._agent = store, pool, start, agent

    async def state(self, live: Session, name: str | None) -> wire.AgentStateResult:
        backend, agent = await self._steered(live, name)
        return result(agent, backend.state())

    async def set_mode(self, live: Session, name: str | None, mode_id: str) -> wire.AgentStateResult:
        backend, agent = await self._steered(live, name)
        await set_mode(backend, self._store, live.id, agent, mode_id)
        return result(agent, backend.state())

    async def set_option(
        self, live: Session, name: str | None, option_id: str, value: str | bool
    ) -> wire.AgentStateResult:
        backend, agent = await self._steered(live, name)
        await set_option(backend, self._store, live.id, agent, option_id, value)
        return result(agent, backend.state())

    async def _steered(self, live: Session, name: str | None) -> tuple[AgentBackend, str]:
        """The warm backend of agent `name` (None: the one of the session's last turn, else the default), started
        if need be; one running a turn is used as it is (even if its configuration changed since)."""
        explicit = name is not None
        if name is None:
            turns = await self._store.turns(live.id)
            name = turns[-1].agent if turns else None
        try:
            agent = await self._agent(live, name)
        except BridgeError:
            if explicit or name is None:
                raise
            agent = await self._agent(live, None)  # the last turn's agent is not configured any more
        key: Key = (live.id, agent.name)
        backend = self._pool.get(key)
        if backend is None or not backend.alive or not self._pool.is_busy(key):
            try:
                backend, _ = await self._start(live, agent)
            except BackendError as exc:
                raise BridgeError(str(exc)) from None
        self._pool.touch(key)
        return backend, agent.name


async def set_mode(backend: AgentBackend, store: Store, session_id: str, agent: str, mode_id: str) -> None:
    """Switch the mode and remember it as the user's choice."""
    await _steer(backend.set_mode(mode_id))
    row = await store.agent_session(session_id, agent)
    choice = load(row.steering if row else "{}")
    choice.mode = mode_id
    await store.set_steering(session_id, agent, dump(choice))


async def set_option(
    backend: AgentBackend, store: Store, session_id: str, agent: str, option_id: str, value: str | bool
) -> None:
    """Set one option and remember it as the user's choice."""
    await _steer(backend.set_option(option_id, value))
    row = await store.agent_session(session_id, agent)
    choice = load(row.steering if row else "{}")
    choice.options[option_id] = value
    option = model_option(backend.state().config_options)
    if option is not None and option.get("id") == option_id:
        choice.model = str(value)
    await store.set_steering(session_id, agent, dump(choice))


async def _steer(call: Any) -> None:
    try:
        await call
    except BackendError as exc:  # not offered, refused, or the agent died meanwhile: the user is told why
        raise BridgeError(str(exc)) from None


async def reapply(backend: AgentBackend, host: TurnHost, store: Store, session_id: str, agent: str,
                  saved: str) -> None:
    """Put the user's choices back on a backend that just started, where what it reports differs; drop (with a
    notice) those it no longer offers or refuses. An agent that dies meanwhile raises (AgentCrashed)."""
    choice = load(saved)
    kept = Choice()
    state = backend.state()
    if choice.mode is not None:
        if choice.mode == state.current_mode_id:
            kept.mode = choice.mode
        elif choice.mode not in {m.id for m in state.modes}:
            now = f"it is in mode {state.current_mode_id!r} now" if state.modes else "it offers no modes now"
            host.notice(f"{agent} no longer offers the mode {choice.mode!r} you chose ({now}); dropped it")
        elif await _again(host, backend.set_mode(choice.mode), f"the mode {choice.mode!r}"):
            kept.mode = choice.mode
    for option_id, value in choice.options.items():
        state = backend.state()  # an option set may change the others
        current = next((o.get("currentValue") for o in state.config_options if o.get("id") == option_id), None)
        if not offered(state, option_id, value):
            host.notice(f"{agent} no longer offers {value!r} for {option_id!r} (your earlier choice); dropped it")
        elif current == value or await _again(host, backend.set_option(option_id, value), f"{option_id!r}"):
            kept.options[option_id] = value
    option = model_option(backend.state().config_options)
    if option is not None and option.get("id") in kept.options:
        kept.model = str(kept.options[option["id"]])
    if dump(kept) != dump(choice):
        await store.set_steering(session_id, agent, dump(kept))


async def _again(host: TurnHost, call: Any, what: str) -> bool:
    try:
        await call
    except SteeringError as exc:
        host.notice(f"could not set {what} again after the agent restarted: {exc}; dropped that choice")
        return False
    return True
