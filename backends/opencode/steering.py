"""What steers an opencode session: its primary agents (the bridge's modes), its models (one `model` option)
and its slash commands, read from the server once per session start, and the choices the bridge sends with
every prompt.

opencode keeps no per-session agent and falls back to the session's LAST model when a prompt names none, so
the bridge names both on every prompt: what it reports is then exactly what the next turn uses.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from backends.base import AgentState, BackendError, ModeInfo, PromptPart, SteeringError, TextPart
from backends.opencode.wire import SESSION_PERMISSIONS, as_dict, as_list, as_str, error_text, to_opencode_parts

MODEL_OPTION = "model"
PRIMARY = ("primary", "all")  # agents a user prompts directly; `subagent`s only run through the task tool
DEFAULT_AGENT = "build"  # opencode's own default when its config names none
_SLASH = re.compile(r"/(\S+)(?:\s+(.*))?\Z", re.DOTALL)  # `/name`, then its arguments (any lines)

Get = Callable[[str], Awaitable[Any]]  # GET path -> the JSON body, or None when the server refused
Call = Callable[..., Awaitable[Any]]  # (method, path, json=...) -> the HTTP response


def primary_agents(data: Any) -> tuple[ModeInfo, ...]:
    """The agents of `GET /agent` a prompt may name: primary ones, minus opencode's hidden internals
    (title, summary, compaction)."""
    modes: list[ModeInfo] = []
    for agent in as_list(data):
        agent = as_dict(agent)
        name = as_str(agent.get("name"))
        if name is None or agent.get("hidden") or agent.get("mode", "all") not in PRIMARY:
            continue
        modes.append(ModeInfo(name, name[:1].upper() + name[1:], as_str(agent.get("description"))))
    return tuple(modes)


def agent_models(data: Any) -> dict[str, str]:
    """`provider/model` for each agent whose config pins a model."""
    out: dict[str, str] = {}
    for agent in as_list(data):
        agent = as_dict(agent)
        model = as_dict(agent.get("model"))
        name, provider, model_id = as_str(agent.get("name")), as_str(model.get("providerID")), as_str(
            model.get("modelID"))
        if name and provider and model_id:
            out[name] = f"{provider}/{model_id}"
    return out


Rule = tuple[str, str, str]  # (permission, pattern, action), as opencode's rulesets list them


def agent_rules(data: Any) -> dict[str, list[Rule]]:
    """Each agent's permission ruleset from `GET /agent` (opencode's defaults, the agent's own rules, then the
    configured ones, the bridge's included)."""
    out: dict[str, list[Rule]] = {}
    for agent in as_list(data):
        agent = as_dict(agent)
        if (name := as_str(agent.get("name"))) is None:
            continue
        rules = [as_dict(r) for r in as_list(agent.get("permission"))]
        out[name] = [(str(r.get("permission")), str(r.get("pattern")), str(r.get("action"))) for r in rules
                     if r.get("permission") and r.get("pattern") and r.get("action")]
    return out


def restrictions(rules: list[Rule], baseline: list[Rule]) -> list[dict[str, str]]:
    """The denials an agent adds to opencode's default agent (plan: no edits but its plan files, no general
    task), each followed by its own exceptions, as session rules.

    The bridge's permission config comes after every agent's own rules, so its `edit: allow` would undo plan's
    `edit: deny`; restated after the bridge's session rules (opencode takes the last matching rule) the agent's
    denials hold again. Only denials: the bridge's asks stay in force whatever the agent would allow.
    """
    known = set(baseline)
    out: list[Rule] = []
    for index, (permission, pattern, action) in enumerate(rules):
        if action != "deny" or permission == "*" or (permission, pattern, action) in known:
            continue  # a deny of everything would silence the bridge's asks as well: opencode's own agents have none
        out.append((permission, pattern, action))
        out.extend(rule for rule in rules[index + 1:] if rule[0] == permission and rule[1] != pattern
                   and rule[2] != "deny" and rule not in known)
    return [{"permission": p, "pattern": pat, "action": a} for p, pat, a in dict.fromkeys(out)]


def model_choices(data: Any) -> list[dict[str, str]]:
    """ACP select options for every model of `GET /config/providers`, named as opencode names them."""
    choices: list[dict[str, str]] = []
    for provider in as_list(as_dict(data).get("providers")):
        provider = as_dict(provider)
        provider_id = as_str(provider.get("id"))
        if provider_id is None:
            continue
        provider_name = as_str(provider.get("name")) or provider_id
        for model_id, model in as_dict(provider.get("models")).items():
            name = as_str(as_dict(model).get("name")) or model_id
            choices.append({"value": f"{provider_id}/{model_id}", "name": name, "description": provider_name})
    return sorted(choices, key=lambda c: c["value"])


def slash_commands(data: Any) -> tuple[dict[str, Any], ...]:
    """`GET /command` as ACP's available commands (`{name, description}`)."""
    out: list[dict[str, Any]] = []
    for command in as_list(data):
        command = as_dict(command)
        if (name := as_str(command.get("name"))) is not None:
            out.append({"name": name, "description": as_str(command.get("description")) or ""})
    return tuple(out)


def model_ref(spec: str) -> dict[str, str]:
    provider, _, model = spec.partition("/")
    return {"providerID": provider, "modelID": model}


@dataclass
class Steering:
    """The session's catalog (agents, models, commands) and the bridge's current choice of agent and model."""

    modes: tuple[ModeInfo, ...] = ()
    models: list[dict[str, str]] = field(default_factory=list)
    commands: tuple[dict[str, Any], ...] = ()
    agent_models: dict[str, str] = field(default_factory=dict)
    rules: dict[str, list[Rule]] = field(default_factory=dict)
    config_model: str | None = None  # opencode's configured default (`model` in its config)
    mode: str | None = None
    applied: list[dict[str, str]] | None = None  # the agent's restrictions the session has; None: unknown
    chosen_model: str | None = None  # set by the agent's `model` setting or setOption; else the default applies

    async def load(self, get: Get, server_default_model: str | None) -> None:
        """Read the catalog (for the session's directory: a project's own opencode config counts)."""
        agents_data, providers_data, commands_data, config_data = await asyncio.gather(
            get("/agent"), get("/config/providers"), get("/command"), get("/config"))
        self.modes = primary_agents(agents_data)
        self.agent_models = agent_models(agents_data)
        self.rules = agent_rules(agents_data)
        self.models = model_choices(providers_data)
        self.commands = slash_commands(commands_data)
        configured = as_dict(config_data)
        self.config_model = as_str(configured.get("model")) or server_default_model
        ids = [m.id for m in self.modes]
        if self.mode not in ids:  # a choice made before a restart stays if the agent still exists
            wanted = as_str(configured.get("default_agent"))
            self.mode = wanted if wanted in ids else DEFAULT_AGENT if DEFAULT_AGENT in ids else (
                ids[0] if ids else None)

    @property
    def current_model(self) -> str | None:
        """The model the next prompt uses: the bridge's choice, else the agent's own, else opencode's default."""
        return self.chosen_model or (self.agent_models.get(self.mode) if self.mode else None) or self.config_model

    def options(self) -> tuple[dict[str, Any], ...]:
        current = self.current_model
        if current is None and not self.models:
            return ()
        choices = list(self.models)
        if current is not None and all(c["value"] != current for c in choices):
            # A model opencode reaches without listing it (written as provider/model in a config) stays shown.
            choices.insert(0, {"value": current, "name": current})
        return ({
            "id": MODEL_OPTION, "name": "Model", "description": "The model opencode prompts",
            "category": "model", "type": "select",
            "currentValue": current if current is not None else choices[0]["value"], "options": choices,
        },)

    def state(self) -> AgentState:
        # Prompts carry selections as text (see wire.to_opencode_parts), so resources are never sent as links.
        return AgentState(modes=self.modes, current_mode_id=self.mode, config_options=self.options(),
                          commands=self.commands, embedded_context=True)

    def prompt_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if self.mode is not None:
            fields["agent"] = self.mode
        if (current := self.current_model) is not None:
            fields["model"] = model_ref(current)
        return fields

    def mode_rules(self) -> list[dict[str, str]]:
        """Session rules the current agent needs after the bridge's own (see `restrictions`). Without opencode's
        default agent to compare with, an agent's own rules cannot be told from configured ones: none."""
        if self.mode is None or self.mode == DEFAULT_AGENT or DEFAULT_AGENT not in self.rules:
            return []
        return restrictions(self.rules.get(self.mode, []), self.rules[DEFAULT_AGENT])

    async def sync_rules(self, call: Call, session_id: str) -> None:
        """Give the session the permission rules of the chosen agent before its turn (PATCH appends; opencode
        takes the last matching rule, so the bridge's rules again, then the agent's restrictions, decide)."""
        rules = self.mode_rules()
        if rules == self.applied:
            return
        response = await call("PATCH", f"/session/{session_id}", json={"permission": [*SESSION_PERMISSIONS, *rules]})
        if response.status_code >= 400:
            raise BackendError(f"opencode refused the permission rules of agent {self.mode}: {error_text(response)}")
        self.applied = rules

    def command_fields(self) -> dict[str, Any]:
        """The same choices as `POST /session/{id}/command` takes them (its model is one `provider/model`)."""
        fields: dict[str, Any] = {}
        if self.mode is not None:
            fields["agent"] = self.mode
        if (current := self.current_model) is not None:
            fields["model"] = current
        return fields

    def command_call(self, parts: list[PromptPart]) -> tuple[str, str] | None:
        """(command, arguments) when the user's text is `/name args` for a command opencode listed: opencode
        expands those itself (`POST /session/{id}/command`); sent as a plain prompt the model would only read
        the text. That endpoint takes nothing but the arguments, so the prompt's other parts (the bridge's notes
        before it, a selection after it) follow them, as the plain prompt would have carried them."""
        command = next((p for p in parts if isinstance(p, TextPart) and _SLASH.match(p.text.strip())), None)
        if command is None:
            return None
        match = _SLASH.match(command.text.strip())
        assert match is not None
        name = match.group(1)
        if name not in {c["name"] for c in self.commands}:
            return None
        rest = [p["text"] for p in to_opencode_parts([p for p in parts if p is not command]) if "text" in p]
        return name, "\n\n".join([match.group(2) or "", *rest]).strip()

    def set_mode(self, mode_id: str) -> bool:
        """Choose the agent for the next prompts; True if that changed the choice."""
        ids = [m.id for m in self.modes]
        if not ids:
            raise SteeringError("opencode listed no agents to choose from")
        if mode_id not in ids:
            raise SteeringError(f"opencode has no primary agent {mode_id!r}; it offers: {', '.join(ids)}")
        changed = mode_id != self.mode
        self.mode = mode_id
        return changed

    def set_option(self, option_id: str, value: str | bool) -> bool:
        """Choose the model for the next prompts; True if that changed the model they use."""
        if option_id != MODEL_OPTION:
            raise SteeringError(f"opencode has no option {option_id!r}; it offers: {MODEL_OPTION}")
        values = [c["value"] for c in self.options()[0]["options"]] if self.options() else []
        if not values:
            raise SteeringError("opencode listed no models to choose from")
        if not isinstance(value, str) or value not in values:
            raise SteeringError(f"opencode offers no model {value!r}; models are written provider/model, "
                                f"e.g. {values[0]}")
        before = self.current_model
        self.chosen_model = value
        return value != before
