"""What an ACP session offers to steer it (modes, config options, slash commands), kept as the agent reports it.

Pure: fed the session/new or session/load answer and then every `session/update`, so the state is tested on its
own and the backend stays about the transport. Requests are checked here before they reach the agent, so a mode
or value it does not offer gets the bridge's clear message instead of whatever the agent answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from acp import schema

from backends.base import AgentState, ModeInfo, SteeringError

# ACP's category of a config option that stands for the session's mode (agents that offer no `modes`, e.g.
# opencode over ACP, offer their build/plan switch only this way).
MODE_CATEGORY = "mode"


def option_json(option: Any) -> dict[str, Any]:
    """A SessionConfigOption as the wire carries it: camelCase, without what the agent left out or `_meta`."""
    data: dict[str, Any] = option.model_dump(by_alias=True, exclude_none=True)
    data.pop("_meta", None)
    return data


def select_values(option: dict[str, Any]) -> list[str]:
    """The values a select option offers, its groups flattened."""
    return [str(item["value"]) for item in _flat(option) if "value" in item]


def _command_json(command: schema.AvailableCommand) -> dict[str, Any]:
    data: dict[str, Any] = {"name": command.name, "description": command.description}
    if command.input is not None:
        data["input"] = command.input.model_dump(by_alias=True, exclude_none=True)
    return data


class SteeringState:
    """The session's modes, config options and commands as last reported."""

    def __init__(self) -> None:
        self.modes: tuple[ModeInfo, ...] = ()
        self.current_mode_id: str | None = None
        self.options: tuple[dict[str, Any], ...] = ()
        self.commands: tuple[dict[str, Any], ...] = ()
        self.embedded_context = False

    def on_initialize(self, response: schema.InitializeResponse) -> None:
        caps = response.agent_capabilities
        prompt = caps.prompt_capabilities if caps is not None else None
        self.embedded_context = bool(prompt and prompt.embedded_context)

    def on_session(self, response: schema.NewSessionResponse | schema.LoadSessionResponse) -> None:
        """The answer to session/new or session/load: what the session starts with."""
        if response.modes is not None:
            self._set_modes(response.modes)
        if response.config_options is not None:
            self.set_options(response.config_options)

    def _set_modes(self, modes: schema.SessionModeState) -> None:
        self.modes = tuple(ModeInfo(m.id, m.name, m.description) for m in modes.available_modes)
        self.current_mode_id = modes.current_mode_id

    def set_options(self, options: Sequence[Any]) -> None:
        """The whole set of config options (ACP always sends all of them, with their current values)."""
        self.options = tuple(option_json(o) for o in options)

    def on_update(self, update: Any) -> None:
        """One `session/update`; kinds that do not change what the session offers are ignored."""
        kind = getattr(update, "session_update", None)
        if kind == "current_mode_update":
            self.current_mode_id = update.current_mode_id
        elif kind == "config_option_update":
            self.set_options(update.config_options)
        elif kind == "available_commands_update":
            self.commands = tuple(_command_json(c) for c in update.available_commands)

    # Reading
    def mode_option(self) -> dict[str, Any] | None:
        """The select option that stands for the mode, used only when the agent offers no `modes`."""
        if self.modes:
            return None
        return next((o for o in self.options if o.get("category") == MODE_CATEGORY and o.get("type") == "select"),
                    None)

    def state(self) -> AgentState:
        modes, current = self.modes, self.current_mode_id
        option = self.mode_option()
        if option is not None:
            # Shown as modes too, so a client's mode picker works the same for every agent.
            modes = tuple(ModeInfo(str(v["value"]), str(v["name"]), v.get("description"))
                          for v in _flat(option))
            current = str(option.get("currentValue"))
        return AgentState(modes, current, self.options, self.commands, self.embedded_context)

    def option(self, option_id: str) -> dict[str, Any] | None:
        return next((o for o in self.options if o.get("id") == option_id), None)

    # Checking a request before it goes to the agent
    def check_mode(self, mode_id: str, agent: str) -> dict[str, Any] | None:
        """None when `mode_id` is one of the session's modes; the mode option to set instead, for agents that
        offer modes only as a config option. SteeringError if it is not offered."""
        option = self.mode_option()
        offered = [m.id for m in self.modes] if option is None else select_values(option)
        if not offered:
            raise SteeringError(f"{agent} offers no modes")
        if mode_id not in offered:
            raise SteeringError(f"{agent} offers no mode {mode_id!r} (its modes: {', '.join(offered)})")
        return option

    def check_option(self, option_id: str, value: str | bool, agent: str) -> None:
        if not self.options:
            raise SteeringError(f"{agent} offers no options")
        option = self.option(option_id)
        if option is None:
            ids = ", ".join(str(o.get("id")) for o in self.options)
            raise SteeringError(f"{agent} offers no option {option_id!r} (its options: {ids})")
        if option.get("type") == "boolean":
            if not isinstance(value, bool):
                raise SteeringError(f"{agent}'s option {option_id!r} takes true or false, not {value!r}")
            return
        values = select_values(option)
        if not isinstance(value, str) or value not in values:
            raise SteeringError(
                f"{agent}'s option {option_id!r} has no value {value!r} (its values: {', '.join(values)})"
            )


def _flat(option: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for item in option.get("options", ()):
        items.extend(item.get("options", ()) if "group" in item else [item])
    return items
