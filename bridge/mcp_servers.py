"""An agent's `mcpServers` entries: ACP's two shapes, read from TOML or JSON and checked field by field.

stdio: `{name, command, args?, env?}` (the agent starts `command`); remote: `{type = "http"|"sse", name, url,
headers?}`. Every problem raises ValueError naming the entry and the field, so the agent's configuration is
refused with a message the user can act on instead of reaching the agent half right.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from backends.base import McpRemoteServer, McpServer, McpStdioServer

STDIO_FIELDS = frozenset({"type", "name", "command", "args", "env"})
REMOTE_FIELDS = frozenset({"type", "name", "url", "headers"})
REMOTE_TYPES = ("http", "sse")


def parse_mcp_servers(raw: Any) -> tuple[McpServer, ...]:
    """The list of entries; raises ValueError (`mcpServers[i] ...: what is wrong`)."""
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        raise ValueError("mcpServers must be a list of tables/objects")
    servers: list[McpServer] = []
    for index, entry in enumerate(raw):
        server = _parse_one(index, entry)
        if any(s.name == server.name for s in servers):
            raise ValueError(f"mcpServers[{index}]: the name {server.name!r} is used twice")
        servers.append(server)
    return tuple(servers)


def _parse_one(index: int, entry: Any) -> McpServer:
    where = f"mcpServers[{index}]"
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: expected a table/object, got {type(entry).__name__}")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{where}: 'name' must be a non-empty string")
    where = f"{where} ({name!r})"
    kind = entry.get("type", "stdio")
    if kind != "stdio" and kind not in REMOTE_TYPES:
        raise ValueError(f"{where}: 'type' must be \"http\" or \"sse\" (or left out for a stdio server), got {kind!r}")
    allowed = STDIO_FIELDS if kind == "stdio" else REMOTE_FIELDS
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)} (a {kind} server takes "
                         f"{', '.join(sorted(allowed))})")
    if kind == "stdio":
        command = entry.get("command")
        if not isinstance(command, str) or not command.strip():
            raise ValueError(f"{where}: 'command' must be a non-empty string (the program; its arguments go in 'args')")
        args = entry.get("args", [])
        if not isinstance(args, Sequence) or isinstance(args, str) or not all(isinstance(a, str) for a in args):
            raise ValueError(f"{where}: 'args' must be a list of strings")
        return McpStdioServer(name, command, tuple(args), _pairs(where, "env", entry.get("env", {})))
    url = entry.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(f"{where}: 'url' must be an http:// or https:// URL, got {url!r}")
    headers = _pairs(where, "headers", entry.get("headers", {}))
    return McpRemoteServer(name, url, "http" if kind == "http" else "sse", headers)


def _pairs(where: str, field: str, raw: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, Mapping) or not all(isinstance(k, str) and k and isinstance(v, str) for k, v in raw.items()):
        raise ValueError(f"{where}: '{field}' must map names to strings")
    return tuple(sorted(raw.items()))


def describe_mcp(server: McpServer) -> str:
    """One server as the user should see it before trusting it: what it runs or where it connects."""
    if isinstance(server, McpStdioServer):
        line = f"{server.name}: {shlex.join([server.command, *server.args])}"
        if server.env:
            line += " with " + " ".join(f"{k}={v}" for k, v in server.env)
        return line
    line = f"{server.name}: {server.url} ({server.transport})"
    if server.headers:
        line += " with headers " + ", ".join(name for name, _ in server.headers)
    return line

