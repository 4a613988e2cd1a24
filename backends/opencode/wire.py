"""Pure translations between the bridge and opencode's HTTP shapes: prompt parts, tools, permissions, models."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from typing import Any, Literal

from backends.base import (
    McpServer,
    McpStdioServer,
    OptionKind,
    PermissionOption,
    PermissionRequest,
    PromptPart,
    ResourceLinkPart,
    ResourcePart,
    TextPart,
)

Reply = Literal["once", "always", "reject"]

# opencode tool name -> the bridge's tool kind (as ACP names them)
TOOL_KINDS: dict[str, str] = {
    "read": "read", "write": "edit", "edit": "edit", "multiedit": "edit", "patch": "edit", "apply_patch": "edit",
    "bash": "execute", "glob": "search", "grep": "search", "list": "search", "codesearch": "search",
    "webfetch": "fetch", "websearch": "fetch", "todowrite": "think", "todoread": "think", "task": "other",
}

# opencode permission name -> the bridge's request kind
_PERMISSION_KINDS: dict[str, str] = {
    "edit": "edit", "write": "edit", "read": "read", "bash": "execute", "external_directory": "read",
    "glob": "search", "grep": "search", "list": "search",
    # codesearch sends its query to a web service: it leaves the worktree like a fetch does.
    "webfetch": "fetch", "websearch": "fetch", "codesearch": "fetch", "todowrite": "think", "todoread": "think",
}

# The answers opencode takes, as options the bridge's policy chooses among by kind.
PERMISSION_OPTIONS: tuple[PermissionOption, ...] = (
    PermissionOption("once", "Allow once", "allow_once"),
    PermissionOption("always", "Always allow", "allow_always"),
    PermissionOption("reject", "Reject", "reject_once"),
)

# opencode's `permission` config, as the bridge sets it: every tool that can reach outside the worktree asks
# (so the bridge's policy, and through it the user, decides), and only file tools that stay inside it run
# unasked (their edits come back as hunks to review; a path outside asks as `external_directory` first).
# opencode evaluates the LAST matching rule, so the catch-all comes first: it covers every tool not named
# here, MCP tools (named `<server>_<tool>`) and any added in later opencode versions included.
PERMISSION_CONFIG: dict[str, str | dict[str, str]] = {
    "*": "ask",
    "read": {"*": "allow", "*.env": "ask", "*.env.*": "ask", "*.env.example": "allow"},  # opencode's own
    "edit": "allow", "glob": "allow", "grep": "allow", "list": "allow", "lsp": "allow",
    "todowrite": "allow", "todoread": "allow",
    "task": "allow",  # a sub-agent: its own tools are held to these same rules
    "bash": "ask", "webfetch": "ask", "websearch": "ask", "codesearch": "ask", "external_directory": "ask",
    "question": "deny",  # opencode's questions have no way to the user through the bridge; ask in text
}


def permission_env() -> dict[str, str]:
    """The environment that makes `opencode serve` apply PERMISSION_CONFIG to every agent and session.

    opencode merges `OPENCODE_PERMISSION` over all its config files (the user's, the project's,
    `OPENCODE_CONFIG_CONTENT`), and each agent's rules put the configured ones last: this reaches the
    sub-agent sessions the `task` tool creates too, which inherit no `ask` rule from their parent session.
    """
    return {"OPENCODE_PERMISSION": json.dumps(PERMISSION_CONFIG)}


def session_rules(config: Mapping[str, str | Mapping[str, str]]) -> list[dict[str, str]]:
    """A `permission` config as the ordered ruleset `POST /session` takes (what opencode's fromConfig does)."""
    rules: list[dict[str, str]] = []
    for permission, value in config.items():
        patterns = {"*": value} if isinstance(value, str) else value
        rules.extend({"permission": permission, "pattern": p, "action": a} for p, a in patterns.items())
    return rules


# The same rules on every bridge-created session: a session's rules are evaluated after all configured ones, so
# they hold for the session even against an agent-specific `permission` in the user's opencode config.
SESSION_PERMISSIONS: list[dict[str, str]] = session_rules(PERMISSION_CONFIG)


def error_text(response: Any) -> str:
    """opencode's message in an error response (its shapes vary), for the bridge's own error text."""
    try:
        data = response.json()
    except ValueError:
        return str(response.text)[:500]
    if isinstance(data, dict):
        inner = as_dict(data.get("data"))
        return str(inner.get("message") or data.get("message") or data.get("name") or data)[:500]
    return str(data)[:500]


def as_dict(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one: opencode's payloads are read defensively."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def to_opencode_parts(parts: list[PromptPart]) -> list[dict[str, Any]]:
    """Prompt parts for `prompt_async`. A selection travels as text: opencode would re-read a `file` part from
    disk, and the bridge wants the agent to see exactly the text the user selected."""
    out: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, TextPart):
            out.append({"type": "text", "text": part.text})
        elif isinstance(part, ResourcePart):
            out.append({"type": "text", "text": f"<file uri=\"{part.uri}\">\n{part.text}\n</file>"})
        elif isinstance(part, ResourceLinkPart):  # opencode reads the file itself (the worktree's copy)
            out.append({"type": "file", "mime": part.mime_type or "text/plain", "url": part.uri, "filename": part.name})
    return out


def mcp_config(servers: list[McpServer] | tuple[McpServer, ...]) -> dict[str, Any]:
    """The servers as opencode's `mcp` config: `local` (command and arguments in one list) or `remote` (opencode
    tries streamable HTTP, then SSE, so both ACP transports map to it)."""
    config: dict[str, Any] = {}
    for server in servers:
        if isinstance(server, McpStdioServer):
            entry: dict[str, Any] = {"type": "local", "command": [server.command, *server.args], "enabled": True}
            if server.env:
                entry["environment"] = dict(server.env)
        else:
            entry = {"type": "remote", "url": server.url, "enabled": True}
            if server.headers:
                entry["headers"] = dict(server.headers)
        config[server.name] = entry
    return config


def with_mcp(env: Mapping[str, str], servers: list[McpServer] | tuple[McpServer, ...]) -> dict[str, str]:
    """`OPENCODE_CONFIG_CONTENT` for the server's environment `env` with the servers added under `mcp` (over
    any of the same name the content already has). Raises ValueError when that content is not a JSON object."""
    raw = env.get("OPENCODE_CONFIG_CONTENT")
    try:
        config = json.loads(raw) if raw else {}
    except ValueError as exc:
        raise ValueError(f"OPENCODE_CONFIG_CONTENT is not JSON ({exc}); cannot add the MCP servers to it") from None
    if not isinstance(config, dict):
        raise ValueError("OPENCODE_CONFIG_CONTENT is not a JSON object; cannot add the MCP servers to it")
    mcp = config.get("mcp")
    config["mcp"] = {**(mcp if isinstance(mcp, dict) else {}), **mcp_config(servers)}
    return {"OPENCODE_CONFIG_CONTENT": json.dumps(config)}


def _absolute(path: str, cwd: str) -> str:
    return os.path.normpath(path if os.path.isabs(path) else os.path.join(cwd, path))


def tool_paths(raw_input: Mapping[str, Any], cwd: str) -> tuple[str, ...]:
    """Files a tool call names in its input, made absolute against the session directory."""
    found: list[str] = []
    for key in ("filePath", "file_path", "path"):
        value = raw_input.get(key)
        if isinstance(value, str) and value:
            path = _absolute(value, cwd)
            if path not in found:
                found.append(path)
    return tuple(found)


def permission_request(props: Mapping[str, Any], cwd: str) -> PermissionRequest:
    """A `permission.asked` as the bridge's normalized request, so the one policy decides it."""
    permission = str(props.get("permission") or "other")
    patterns = [p for p in as_list(props.get("patterns")) if isinstance(p, str)]
    metadata = as_dict(props.get("metadata"))
    tool = as_dict(props.get("tool"))
    kind = _PERMISSION_KINDS.get(permission, "other")
    command: str | None = None
    workdir: str | None = None
    paths: list[str] = []
    if kind == "execute":
        command = as_str(metadata.get("command")) or " ".join(patterns)
        named = as_str(metadata.get("workdir")) or as_str(metadata.get("cwd"))
        workdir = _absolute(named, cwd) if named else cwd
    elif kind in ("edit", "read"):
        for key in ("filepath", "filePath", "path"):
            if (value := as_str(metadata.get(key))) is not None:
                paths.append(_absolute(value, cwd))
        # Patterns name the files (relative to the session directory); external_directory ones are `dir/*`.
        for pattern in patterns:
            bare = pattern.removesuffix("/*").removesuffix("*") or "/"
            paths.append(_absolute(bare, cwd))
    elif kind == "search":
        named = as_str(metadata.get("path"))
        paths.append(_absolute(named, cwd) if named else cwd)
    shown = [p for p in patterns if p != "*"]  # a bare `*` says nothing to the user
    title = f"{permission} {', '.join(shown)}".strip()
    if kind == "other":
        title = f"use the tool {title}"  # an MCP tool or one the bridge does not know: say it is a tool
    return PermissionRequest(
        tool_call_id=str(tool.get("callID") or props.get("id") or ""),
        title=title,
        kind=kind,
        paths=tuple(dict.fromkeys(paths)),
        command=command,
        cwd=workdir,
        options=PERMISSION_OPTIONS,
    )


def reply_for(choice: OptionKind | None) -> Reply:
    """opencode's answer for the option kind the policy (or the user) chose; no answer rejects."""
    if choice == "allow_once":
        return "once"
    if choice == "allow_always":
        return "always"
    return "reject"


def models_from_providers(data: Any) -> list[str]:
    """`provider/model` ids from `GET /config/providers` (`{providers: [{id, models: {id: ...}}], default}`)."""
    out: list[str] = []
    for provider in as_list(as_dict(data).get("providers")):
        provider = as_dict(provider)
        out.extend(f"{provider.get('id')}/{model}" for model in as_dict(provider.get("models")))
    return sorted(out)


class ModelError(ValueError):
    """A configured model that the opencode server does not know how to reach."""


def resolve_model(spec: str, default_model: str | None, models: list[str]) -> tuple[str, str]:
    """(providerID, modelID) for an agent's `model` setting.

    `provider/model` is taken as written (model ids may themselves hold slashes). A bare id takes the provider
    of opencode's configured default model, or else the one provider that offers a model of that id.
    """
    if "/" in spec:
        provider, _, model = spec.partition("/")
        if provider and model:
            return provider, model
        raise ModelError(f"model {spec!r}: expected provider/model")
    if default_model and "/" in default_model:
        return default_model.partition("/")[0], spec
    offering = sorted({m.partition("/")[0] for m in models if m.partition("/")[2] == spec})
    if len(offering) == 1:
        return offering[0], spec
    if not offering:
        raise ModelError(f"model {spec!r}: no configured provider offers it; write it as provider/model")
    raise ModelError(f"model {spec!r} is offered by {', '.join(offering)}; write it as provider/model")


def route_session_id(event: dict[str, Any]) -> str | None:
    """The session an event is about, wherever this event type keeps it."""
    props = event.get("properties")
    if not isinstance(props, dict):
        return None
    sid = props.get("sessionID")
    if isinstance(sid, str):
        return sid
    for key in ("part", "info"):
        inner = props.get(key)
        if isinstance(inner, dict) and isinstance(inner.get("sessionID"), str):
            return str(inner["sessionID"])
    return None


def new_message_id(now_ms: int, counter: int = 0) -> str:
    """An id in opencode's own ascending format (`msg_` + 12 hex of time + 14 random), so the bridge's user
    message sorts where opencode would have put it in the session history."""
    value = (now_ms * 0x1000 + counter) & ((1 << 48) - 1)
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    return f"msg_{value:012x}" + "".join(secrets.choice(alphabet) for _ in range(14))
