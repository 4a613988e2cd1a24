"""The provider registry: built-in agents, TOML files and `initializationOptions`, merged without ever failing.

A bad entry is dropped with a warning that says what was wrong; the valid entries and the built-ins survive.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from platformdirs import user_config_dir

Protocol = Literal["acp", "opencode"]
PROTOCOLS: tuple[Protocol, ...] = ("acp", "opencode")
CONFIG_FILE_NAME = ".agent-bridge.toml"


@dataclass(frozen=True)
class AgentConfig:
    """How to start one agent."""

    name: str
    protocol: Protocol
    command: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    builtin: bool = False
    model: str | None = None  # `provider/model` (or a bare model id); used by the opencode transport

    def config_hash(self) -> str:
        """Identifies the settings a warm agent session was started with (to know when it is stale)."""
        fields: dict[str, object] = {
            "protocol": self.protocol, "command": self.command, "env": sorted(self.env.items())
        }
        if self.model is not None:  # only when set, so hashes recorded before the field existed stay valid
            fields["model"] = self.model
        payload = json.dumps(fields)
        return hashlib.sha1(payload.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class BridgeSettings:
    """Server-wide options; each has a default a user never needs to touch."""

    hint_diagnostics: bool = True
    max_live_agents: int = 8
    idle_timeout: float = 900.0  # seconds before an idle warm agent is stopped
    turn_watchdog: float = 600.0  # seconds without any agent activity before a turn is failed
    # opencode turns: seconds without activity before the turn is reconciled from the server, then failed
    opencode_watchdog: float = 180.0
    # characters of an agent's answer kept in the session history (state.db); the rest is cut with a note
    max_stored_answer: int = 1_000_000


@dataclass
class Registry:
    agents: dict[str, AgentConfig]
    default_agent: str
    settings: BridgeSettings = field(default_factory=BridgeSettings)
    warnings: list[str] = field(default_factory=list)

    def get(self, name: str | None) -> AgentConfig:
        """The named agent (default when None). Raises KeyError with the known names."""
        key = name or self.default_agent
        if key not in self.agents:
            known = ", ".join(sorted(self.agents)) or "none"
            raise KeyError(f"unknown agent {key!r} (configured: {known})")
        return self.agents[key]


def builtin_agents() -> dict[str, AgentConfig]:
    """Agents known without any configuration; each is available when its command is on PATH."""
    specs: dict[str, tuple[Protocol, tuple[str, ...]]] = {
        # `opencode serve` over HTTP (the backend adds `serve --hostname 127.0.0.1 --port N`); one server
        # per bridge process serves every session. `opencode-acp` keeps the same agent over ACP.
        "opencode": ("opencode", ("opencode",)),
        "opencode-acp": ("acp", ("opencode", "acp")),
        "qwen": ("acp", ("qwen", "--acp")),
        "gemini": ("acp", ("gemini", "--acp")),
        "claude": ("acp", ("claude-agent-acp",)),
        "codex": ("acp", ("codex-acp",)),
        "goose": ("acp", ("goose", "acp")),
        # Ships with the bridge: follows `@say`/`@write` directives, needs no model. For trying things out.
        "scripted": ("acp", (sys.executable, "-m", "bridge.scripted_agent")),
    }
    return {
        name: AgentConfig(name=name, protocol=proto, command=cmd, builtin=True)
        for name, (proto, cmd) in specs.items()
    }


DEFAULT_AGENT = "opencode"


def parse_agent(name: str, raw: Any, base: AgentConfig | None = None) -> AgentConfig:
    """One agent entry from TOML or JSON. Raises ValueError saying what is wrong.

    Fields left out are taken from `base` (a built-in of the same name), so `[agents.qwen] env = {...}`
    only adds an environment to the built-in qwen.
    """
    if not isinstance(raw, Mapping):
        raise ValueError(f"agent {name!r}: expected a table/object, got {type(raw).__name__}")
    unknown = set(raw) - {"protocol", "command", "env", "model"}
    if unknown:
        raise ValueError(f"agent {name!r}: unknown field(s) {', '.join(sorted(unknown))}")
    protocol = raw.get("protocol", base.protocol if base else "acp")
    if protocol not in PROTOCOLS:
        raise ValueError(f"agent {name!r}: protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    command_raw = raw.get("command", list(base.command) if base else None)
    if isinstance(command_raw, str):
        command_raw = [command_raw]
    if (
        not isinstance(command_raw, list | tuple)
        or not command_raw
        or not all(isinstance(c, str) and c for c in command_raw)
    ):
        raise ValueError(f"agent {name!r}: command must be a non-empty list of strings")
    env_raw = raw.get("env", dict(base.env) if base else {})
    if not isinstance(env_raw, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in env_raw.items()
    ):
        raise ValueError(f"agent {name!r}: env must map names to strings")
    model = raw.get("model", base.model if base else None)
    if model is not None and (not isinstance(model, str) or not model.strip() or model.strip() != model):
        raise ValueError(f"agent {name!r}: model must be a non-empty string like 'provider/model'")
    return AgentConfig(name=name, protocol=protocol, command=tuple(command_raw), env=dict(env_raw), model=model)


def _merge_agents(
    agents: dict[str, AgentConfig], raw: Any, source: str, warnings: list[str]
) -> dict[str, AgentConfig]:
    if raw is None:
        return agents
    if not isinstance(raw, Mapping):
        warnings.append(f"{source}: 'agents' must be a table/object; ignored")
        return agents
    merged = dict(agents)
    for name, entry in raw.items():
        try:
            merged[str(name)] = parse_agent(str(name), entry, agents.get(str(name)))
        except ValueError as exc:
            warnings.append(f"{source}: {exc}; entry ignored")
    return merged


def _merge_settings(settings: BridgeSettings, raw: Any, source: str, warnings: list[str]) -> BridgeSettings:
    if raw is None:
        return settings
    if not isinstance(raw, Mapping):
        warnings.append(f"{source}: settings must be a table/object; ignored")
        return settings
    keys = {
        "hintDiagnostics": ("hint_diagnostics", bool),
        "hint_diagnostics": ("hint_diagnostics", bool),
        "maxLiveAgents": ("max_live_agents", int),
        "max_live_agents": ("max_live_agents", int),
        "idleTimeout": ("idle_timeout", float),
        "idle_timeout": ("idle_timeout", float),
        "turnWatchdog": ("turn_watchdog", float),
        "turn_watchdog": ("turn_watchdog", float),
        "opencodeWatchdog": ("opencode_watchdog", float),
        "opencode_watchdog": ("opencode_watchdog", float),
        "maxStoredAnswer": ("max_stored_answer", int),
        "max_stored_answer": ("max_stored_answer", int),
    }
    for key, value in raw.items():
        if key not in keys:
            warnings.append(f"{source}: unknown setting {key!r}; ignored")
            continue
        attr, kind = keys[key]
        ok = isinstance(value, bool) if kind is bool else (
            isinstance(value, int | float) and not isinstance(value, bool) and value > 0
            # int(0.5) would silently become 0 (a cap of zero live agents): only whole numbers fit an int.
            and (kind is not int or float(value).is_integer())
        )
        if not ok:
            expected = "true/false" if kind is bool else "a positive integer" if kind is int else "a positive number"
            warnings.append(f"{source}: setting {key!r} must be {expected}")
            continue
        settings = replace(settings, **{attr: kind(value)})
    return settings


def apply_layer(registry: Registry, data: Any, source: str) -> Registry:
    """Merge one configuration layer (a parsed TOML file or initializationOptions) over `registry`."""
    warnings = list(registry.warnings)
    if data is None:
        return registry
    if not isinstance(data, Mapping):
        warnings.append(f"{source}: expected a table/object at the top level; ignored")
        return replace(registry, warnings=warnings)
    known = {"agents", "default_agent", "defaultAgent", "settings"}
    for key in sorted(set(data) - known):
        warnings.append(f"{source}: unknown key {key!r} ignored (expected one of {', '.join(sorted(known))})")
    agents = _merge_agents(registry.agents, data.get("agents"), source, warnings)
    default = data.get("default_agent", data.get("defaultAgent"))
    settings = _merge_settings(registry.settings, data.get("settings"), source, warnings)
    default_agent = registry.default_agent
    if default is not None:
        if isinstance(default, str) and default in agents:
            default_agent = default
        else:
            warnings.append(f"{source}: default agent {default!r} is not a configured agent; kept {default_agent!r}")
    return Registry(agents=agents, default_agent=default_agent, settings=settings, warnings=warnings)


def read_toml(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The parsed file, or None and a warning (never raises)."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh), None
    except FileNotFoundError:
        return None, None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        return None, f"{path}: cannot read configuration ({exc}); using built-ins"


def config_file_candidates(explicit: Path | None, workspace: Path | None) -> list[Path]:
    """Where configuration is looked for, first match wins: --config, the workspace, the user config dir."""
    if explicit is not None:
        return [explicit]
    found = []
    if workspace is not None:
        found.append(workspace / CONFIG_FILE_NAME)
    found.append(Path(user_config_dir("agent-bridge")) / "config.toml")
    return found


def load_registry(
    explicit: Path | None = None,
    workspace: Path | None = None,
    init_options: Any = None,
    changed: Any = None,
) -> Registry:
    """Built-ins, then the first config file found, then `initializationOptions`, then the settings of the
    last `workspace/didChangeConfiguration` (later layers win)."""
    registry = Registry(agents=builtin_agents(), default_agent=DEFAULT_AGENT)
    for path in config_file_candidates(explicit, workspace):
        data, warning = read_toml(path)
        if warning:
            registry.warnings.append(warning)
        if data is not None or warning:
            registry = apply_layer(registry, data, str(path))
            break
    if explicit is not None and not explicit.exists():
        registry.warnings.append(f"{explicit}: configuration file not found; using built-ins")
    if init_options is not None:
        registry = apply_layer(registry, init_options, "initializationOptions")
    if changed is not None:
        registry = apply_layer(registry, changed, "workspace/didChangeConfiguration")
    return registry


def settings_layer(settings: Any) -> Any:
    """The part of `workspace/didChangeConfiguration` settings that is ours, or None.

    Clients send their whole configuration (`{"agentBridge": {...}, "python": {...}}`) or, configured for this
    server alone, just ours (`{"agents": ..., "defaultAgent": ..., "settings": ...}`).
    """
    if not isinstance(settings, Mapping):
        return None
    if "agentBridge" in settings:
        return settings["agentBridge"]
    if any(key in settings for key in ("agents", "defaultAgent", "default_agent", "settings")):
        return settings
    return None


def env_config_path() -> Path | None:
    value = os.environ.get("AGENT_BRIDGE_CONFIG")
    return Path(value) if value else None
