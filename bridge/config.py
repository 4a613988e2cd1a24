"""The provider registry: built-in agents, TOML files and `initializationOptions`, merged without ever failing.

A bad entry is dropped with a warning that says what was wrong; the valid entries and the built-ins survive.

Two kinds of source: the user's own (`--config`/`AGENT_BRIDGE_CONFIG` or the user config dir file,
`initializationOptions`, `workspace/didChangeConfiguration`), always trusted, and the repository's
`.agent-bridge.toml`, which came with a clone and may have been written by anyone. The repository's file
may set harmless things at once (settings, which existing agent is the default); its agents, which say what
program to run with what environment, are held back until the user trusts that exact file (see `RepoConfig`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from platformdirs import user_config_dir

from backends.base import McpServer
from backends.sandbox import SandboxPath
from bridge.mcp_servers import describe_mcp, parse_mcp_servers
from bridge.sandbox_config import parse_sandbox, parse_sandbox_paths

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
    mcp_servers: tuple[McpServer, ...] = ()  # handed to the agent at session/new and session/load
    # Run it in a bubblewrap sandbox; None: as the top-level `sandbox` says (settled when the registry is built).
    sandbox: bool | None = None
    sandbox_paths: tuple[SandboxPath, ...] = ()  # what else a sandboxed agent may read (or write)

    @property
    def sandboxed(self) -> bool:
        return bool(self.sandbox)

    def config_hash(self) -> str:
        """Identifies the settings a warm agent session was started with (to know when it is stale).

        `mcp_servers` are left out on purpose: a changed list restarts the warm agent (the config differs), and
        the restarted agent gets the new list through session/load, keeping the conversation."""
        fields: dict[str, object] = {
            "protocol": self.protocol, "command": self.command, "env": sorted(self.env.items())
        }
        if self.model is not None:  # only when set, so hashes recorded before the field existed stay valid
            fields["model"] = self.model
        if self.sandboxed:  # a sandboxed agent keeps its sessions in its sandbox home: none to resume across
            fields["sandbox"] = [[p.path, p.write] for p in self.sandbox_paths]
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
    # bytes of an agent's (or opencode server's) output kept in its log per run; the rest is cut with a note
    max_agent_log: int = 10_000_000


@dataclass
class Registry:
    agents: dict[str, AgentConfig]
    default_agent: str
    settings: BridgeSettings = field(default_factory=BridgeSettings)
    warnings: list[str] = field(default_factory=list)
    # The repository's file, when it defines agents that are held back until the user trusts it.
    repo: RepoConfig | None = None
    # Top-level `sandbox`: every agent that does not say otherwise runs sandboxed.
    sandbox_default: bool = False

    def get(self, name: str | None) -> AgentConfig:
        """The named agent (default when None). Raises KeyError with the known names."""
        key = name or self.default_agent
        if key not in self.agents:
            known = ", ".join(sorted(self.agents)) or "none"
            raise KeyError(f"unknown agent {key!r} (configured: {known})")
        return self.agents[key]


@dataclass(frozen=True)
class RepoConfig:
    """The repository's `.agent-bridge.toml` as read, with what it would add once trusted.

    `digest` is the SHA-256 of the exact bytes parsed: a trust answer covers that content only. `agents` are
    the names it defines or changes (valid entries only); `trusted` is the whole registry with them let in.
    """

    path: Path
    digest: str
    agents: tuple[str, ...]
    trusted: Registry

    def needed_for(self, name: str | None) -> bool:
        """Whether running `name` (None: the default agent) would run something this file defined."""
        return (name if name is not None else self.trusted.default_agent) in self.agents

    def commands(self) -> list[str]:
        """What trusting the file would run, one line per agent, as the user should see it."""
        return [describe_agent(self.trusted.agents[name]) for name in self.agents]


def describe_agent(agent: AgentConfig) -> str:
    """`name: command` plus everything else that decides where it runs and what it talks to."""
    line = f"{agent.name}: {shlex.join(agent.command)}"
    if agent.protocol == "opencode":
        line += " (opencode server)"
    if agent.env:
        line += " with " + " ".join(f"{key}={value}" for key, value in sorted(agent.env.items()))
    if agent.model:
        line += f", model {agent.model}"
    if agent.mcp_servers:  # programs the agent starts, or places it connects to, on the bridge's word
        line += ", MCP servers " + "; ".join(describe_mcp(server) for server in agent.mcp_servers)
    if agent.sandboxed:
        line += ", sandboxed"
        if agent.sandbox_paths:
            line += " (also " + ", ".join(
                f"{p.path}{' writable' if p.write else ''}" for p in agent.sandbox_paths
            ) + ")"
    elif agent.sandbox is False:  # said so, perhaps against the top-level `sandbox = true`
        line += ", not sandboxed"
    return line


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


def parse_agent(
    name: str, raw: Any, base: AgentConfig | None = None, warnings: list[str] | None = None
) -> AgentConfig:
    """One agent entry from TOML or JSON. Raises ValueError saying what is wrong.

    Fields left out are taken from `base` (a built-in of the same name), so `[agents.qwen] env = {...}`
    only adds an environment to the built-in qwen. A bad `sandbox` or `sandbox_paths` value does not drop the
    entry (that would fall back to an unsandboxed built-in): it goes into `warnings`, the agent stays sandboxed.
    """
    warnings = warnings if warnings is not None else []
    if not isinstance(raw, Mapping):
        raise ValueError(f"agent {name!r}: expected a table/object, got {type(raw).__name__}")
    unknown = set(raw) - {
        "protocol", "command", "env", "model", "mcpServers", "mcp_servers", "sandbox", "sandbox_paths",
        "sandboxPaths",
    }
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
    if "mcpServers" in raw and "mcp_servers" in raw:
        raise ValueError(f"agent {name!r}: give mcpServers or mcp_servers, not both")
    mcp_raw = raw.get("mcpServers", raw.get("mcp_servers"))
    try:
        mcp_servers = parse_mcp_servers(mcp_raw) if mcp_raw is not None else (base.mcp_servers if base else ())
    except ValueError as exc:
        raise ValueError(f"agent {name!r}: {exc}") from None
    what = f"agent {name!r}"
    sandbox = parse_sandbox(raw["sandbox"], what, warnings) if "sandbox" in raw else (base.sandbox if base else None)
    paths_raw = raw.get("sandboxPaths", raw.get("sandbox_paths"))
    sandbox_paths = (
        parse_sandbox_paths(paths_raw, what, warnings) if paths_raw is not None
        else (base.sandbox_paths if base else ())
    )
    return AgentConfig(
        name=name, protocol=protocol, command=tuple(command_raw), env=dict(env_raw), model=model,
        mcp_servers=mcp_servers, sandbox=sandbox, sandbox_paths=sandbox_paths,
    )


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
            notes: list[str] = []
            merged[str(name)] = parse_agent(str(name), entry, agents.get(str(name)), notes)
            warnings.extend(f"{source}: {note}" for note in notes)
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
        "maxAgentLog": ("max_agent_log", int),
        "max_agent_log": ("max_agent_log", int),
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
    known = {"agents", "default_agent", "defaultAgent", "settings", "sandbox"}
    for key in sorted(set(data) - known):
        warnings.append(f"{source}: unknown key {key!r} ignored (expected one of {', '.join(sorted(known))})")
    sandbox_default = registry.sandbox_default
    if "sandbox" in data:
        sandbox_default = parse_sandbox(data["sandbox"], source, warnings)
    agents = _merge_agents(registry.agents, data.get("agents"), source, warnings)
    default = data.get("default_agent", data.get("defaultAgent"))
    settings = _merge_settings(registry.settings, data.get("settings"), source, warnings)
    default_agent = registry.default_agent
    if default is not None:
        if isinstance(default, str) and default in agents:
            default_agent = default
        else:
            warnings.append(f"{source}: default agent {default!r} is not a configured agent; kept {default_agent!r}")
    return Registry(agents=agents, default_agent=default_agent, settings=settings, warnings=warnings,
                    sandbox_default=sandbox_default)


def settle_sandbox(registry: Registry) -> None:
    """Every agent that does not say whether it is sandboxed follows the top-level `sandbox` setting."""
    if not registry.sandbox_default:  # None stays None: describe_agent tells "not sandboxed" only when asked for
        return
    registry.agents = {
        name: agent if agent.sandbox is not None else replace(agent, sandbox=True)
        for name, agent in registry.agents.items()
    }


def read_toml(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The parsed file, or None and a warning (never raises)."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh), None
    except FileNotFoundError:
        return None, None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        return None, f"{path}: cannot read configuration ({exc}); using built-ins"


def user_config_file(explicit: Path | None) -> Path:
    """The user's own file: `--config`/`AGENT_BRIDGE_CONFIG` when given, else the one in the user config dir."""
    return explicit if explicit is not None else Path(user_config_dir("agent-bridge")) / "config.toml"


def repo_config_file(workspace: Path | None, user_file: Path) -> Path | None:
    """The repository's file, unless there is no workspace or it is the user's own file (`--config` on it)."""
    if workspace is None:
        return None
    path = workspace / CONFIG_FILE_NAME
    try:
        if path.exists() and user_file.exists() and path.samefile(user_file):
            return None
    except OSError:
        pass
    return path


def _read_repo(path: Path | None) -> tuple[Any, str, str | None]:
    """(parsed data or None, SHA-256 of the bytes parsed, warning). Hash and content come from one read."""
    if path is None:
        return None, "", None
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, "", None
    except OSError as exc:
        return None, "", f"{path}: cannot read configuration ({exc}); ignored"
    digest = hashlib.sha256(raw).hexdigest()
    try:
        return tomllib.loads(raw.decode("utf-8")), digest, None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return None, digest, f"{path}: cannot read configuration ({exc}); ignored"


def _named_default(data: Any) -> Any:
    return data.get("default_agent", data.get("defaultAgent")) if isinstance(data, Mapping) else None


def _build(repo: Any, repo_source: str, user_layers: list[tuple[Any, str]], with_repo_agents: bool) -> Registry:
    """Built-ins, the repository's layer, then the user's layers (later wins), then the repository's default
    unless the user named one. Without `with_repo_agents` the repository's `agents` are left out."""
    registry = Registry(agents=builtin_agents(), default_agent=DEFAULT_AGENT)
    repo_default = None
    if isinstance(repo, Mapping):
        layer = {key: value for key, value in repo.items() if key not in ("default_agent", "defaultAgent")}
        if not with_repo_agents:
            layer.pop("agents", None)
        if layer.get("sandbox") is False:  # a cloned file may ask for more confinement, never for less
            layer.pop("sandbox")
            registry.warnings.append(f"{repo_source}: sandbox = false is for your own configuration; ignored")
        registry = apply_layer(registry, layer, repo_source)
        repo_default = _named_default(repo)
    elif repo is not None:
        registry = apply_layer(registry, repo, repo_source)
    user_default = False
    for data, source in user_layers:
        registry = apply_layer(registry, data, source)
        named = _named_default(data)
        user_default = user_default or (named is not None and named == registry.default_agent)
    if repo_default is not None and not user_default:
        repo_agents = repo.get("agents") if isinstance(repo, Mapping) else None
        if isinstance(repo_default, str) and repo_default in registry.agents:
            registry.default_agent = repo_default
        elif not with_repo_agents and isinstance(repo_agents, Mapping) and repo_default in repo_agents:
            registry.warnings.append(
                f"{repo_source}: default agent {repo_default!r} is defined by this file, which is not trusted; "
                f"kept {registry.default_agent!r}"
            )
        else:
            registry.warnings.append(
                f"{repo_source}: default agent {repo_default!r} is not a configured agent; "
                f"kept {registry.default_agent!r}"
            )
    settle_sandbox(registry)
    return registry


def load_registry(
    explicit: Path | None = None,
    workspace: Path | None = None,
    init_options: Any = None,
    changed: Any = None,
) -> Registry:
    """Built-ins, the repository's `.agent-bridge.toml` (its agents held back, see `RepoConfig`), the user's
    own file, `initializationOptions`, then the settings of the last `workspace/didChangeConfiguration`
    (later layers win; the repository's default applies only if no layer of the user's names one)."""
    user_file = user_config_file(explicit)
    user_data, user_warning = read_toml(user_file)
    user_layers: list[tuple[Any, str]] = []
    if user_data is not None:
        user_layers.append((user_data, str(user_file)))
    if init_options is not None:
        user_layers.append((init_options, "initializationOptions"))
    if changed is not None:
        user_layers.append((changed, "workspace/didChangeConfiguration"))
    repo_path = repo_config_file(workspace, user_file)
    repo_data, digest, repo_warning = _read_repo(repo_path)
    source = str(repo_path)
    registry = _build(repo_data, source, user_layers, with_repo_agents=False)
    early = [w for w in (repo_warning, user_warning) if w]
    if explicit is not None and not explicit.exists():
        early.append(f"{explicit}: configuration file not found; using built-ins")
    registry.warnings[:0] = early
    agents_raw = repo_data.get("agents") if isinstance(repo_data, Mapping) else None
    if repo_path is not None and isinstance(agents_raw, Mapping) and agents_raw:
        trusted = _build(repo_data, source, user_layers, with_repo_agents=True)
        trusted.warnings[:0] = early
        # Only entries that change what would run: one your own configuration fully overrides asks nothing.
        names = tuple(sorted(
            str(name) for name in agents_raw
            if str(name) in trusted.agents and trusted.agents[str(name)] != registry.agents.get(str(name))
        ))
        if names:
            repo = RepoConfig(repo_path, digest, names, trusted)
            registry.repo = repo
            registry.warnings.append(
                f"{source}: agents from the repository are held back until you trust this file (asked at the "
                f"first prompt that needs them): {'; '.join(repo.commands())}"
            )
        else:  # nothing valid to hold back: its entries' problems are worth seeing all the same
            registry.warnings.extend(w for w in trusted.warnings if w not in registry.warnings)
    return registry


def settings_layer(settings: Any) -> Any:
    """The part of `workspace/didChangeConfiguration` settings that is ours, or None.

    Clients send their whole configuration (`{"agentBridge": {...}, "python": {...}}`) or, configured for this
    server alone, just ours (`{"agents": ..., "defaultAgent": ..., "settings": ..., "sandbox": ...}`).
    """
    if not isinstance(settings, Mapping):
        return None
    if "agentBridge" in settings:
        return settings["agentBridge"]
    if any(key in settings for key in ("agents", "defaultAgent", "default_agent", "settings", "sandbox")):
        return settings
    return None


def env_config_path() -> Path | None:
    value = os.environ.get("AGENT_BRIDGE_CONFIG")
    return Path(value) if value else None
