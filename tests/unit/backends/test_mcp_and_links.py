"""What each transport is handed: MCP servers (ACP session/new, opencode's config) and resource links."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from acp import schema

from backends.acp.outbound import to_acp_blocks, to_acp_mcp_servers
from backends.base import AgentStartError, McpRemoteServer, McpStdioServer, ResourceLinkPart, ResourcePart, TextPart
from backends.opencode.server import OpencodeServer
from backends.opencode.wire import mcp_config, to_opencode_parts, with_mcp
from tests.unit.backends.test_opencode_backend import FAKE

SERVERS = (
    McpStdioServer("fs", "mcp-fs", ("--root", "."), (("A", "1"),)),
    McpStdioServer("abs", "/opt/mcp/server"),
    McpRemoteServer("web", "https://h/mcp", "http", (("Authorization", "Bearer t"),)),
    McpRemoteServer("old", "http://h/sse", "sse"),
)


def dumped(servers: list[object]) -> list[dict[str, object]]:
    return [s.model_dump(by_alias=True, exclude_none=True) for s in servers]  # type: ignore[attr-defined]


def test_acp_shapes_with_the_command_found_on_the_agents_path(tmp_path: Path) -> None:
    program = tmp_path / "mcp-fs"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    caps = schema.McpCapabilities(http=True, sse=True)
    servers, left_out = to_acp_mcp_servers(SERVERS, caps, str(tmp_path))
    assert left_out == []
    assert dumped(servers) == [
        {"name": "fs", "command": str(program), "args": ["--root", "."], "env": [{"name": "A", "value": "1"}]},
        {"name": "abs", "command": "/opt/mcp/server", "args": [], "env": []},
        {"type": "http", "name": "web", "url": "https://h/mcp",
         "headers": [{"name": "Authorization", "value": "Bearer t"}]},
        {"type": "sse", "name": "old", "url": "http://h/sse", "headers": []},
    ]
    # Not on PATH: passed as given (the agent reports what it cannot start).
    servers, _ = to_acp_mcp_servers(SERVERS[:1], caps, os.devnull)
    assert dumped(servers)[0]["command"] == "mcp-fs"


@pytest.mark.parametrize(
    ("caps", "kept", "left_out"),
    [
        (None, ["fs", "abs"], ["web (http)", "old (sse)"]),
        (schema.McpCapabilities(http=True), ["fs", "abs", "web"], ["old (sse)"]),
        (schema.McpCapabilities(sse=True), ["fs", "abs", "old"], ["web (http)"]),
    ],
)
def test_acp_remote_servers_only_where_the_agent_says_it_speaks_them(
    caps: schema.McpCapabilities | None, kept: list[str], left_out: list[str]
) -> None:
    servers, skipped = to_acp_mcp_servers(SERVERS, caps, None)
    assert [s.name for s in servers] == kept and skipped == left_out


def test_acp_blocks_for_resources_and_links() -> None:
    blocks = to_acp_blocks([
        TextPart("hi"),
        ResourcePart("file:///wt/a.py", "x = 1\n", "text/x-python"),
        ResourceLinkPart("file:///wt/b.md", "b.md", "text/markdown"),
    ])
    assert [b.model_dump(by_alias=True, exclude_none=True) for b in blocks] == [
        {"type": "text", "text": "hi"},
        {"type": "resource",
         "resource": {"uri": "file:///wt/a.py", "text": "x = 1\n", "mimeType": "text/x-python"}},
        {"type": "resource_link", "name": "b.md", "uri": "file:///wt/b.md", "mimeType": "text/markdown"},
    ]


def test_opencode_mcp_config() -> None:
    assert mcp_config(SERVERS) == {
        "fs": {"type": "local", "command": ["mcp-fs", "--root", "."], "enabled": True, "environment": {"A": "1"}},
        "abs": {"type": "local", "command": ["/opt/mcp/server"], "enabled": True},
        "web": {"type": "remote", "url": "https://h/mcp", "enabled": True, "headers": {"Authorization": "Bearer t"}},
        "old": {"type": "remote", "url": "http://h/sse", "enabled": True},
    }


def test_opencode_servers_join_the_config_content_already_given() -> None:
    given = {"model": "fake/m", "mcp": {"mine": {"type": "remote", "url": "http://x"}, "fs": {"type": "local"}}}
    env = with_mcp({"OPENCODE_CONFIG_CONTENT": json.dumps(given), "OTHER": "1"}, SERVERS[:1])
    config = json.loads(env["OPENCODE_CONFIG_CONTENT"])
    assert config["model"] == "fake/m" and set(config["mcp"]) == {"mine", "fs"}
    assert config["mcp"]["fs"]["command"] == ["mcp-fs", "--root", "."]  # the agent's entry wins by name
    assert set(env) == {"OPENCODE_CONFIG_CONTENT"}
    assert json.loads(with_mcp({}, SERVERS[3:])["OPENCODE_CONFIG_CONTENT"]) == {"mcp": mcp_config(SERVERS[3:])}
    for bad in ("{not json", "[1]"):
        with pytest.raises(ValueError, match="OPENCODE_CONFIG_CONTENT is not"):
            with_mcp({"OPENCODE_CONFIG_CONTENT": bad}, SERVERS[:1])


def test_opencode_gets_a_link_as_a_file_part() -> None:
    assert to_opencode_parts([ResourceLinkPart("file:///wt/b.md", "b.md", "text/markdown")]) == [
        {"type": "file", "mime": "text/markdown", "url": "file:///wt/b.md", "filename": "b.md"}
    ]


async def test_the_opencode_server_starts_with_the_servers_in_its_config(tmp_path: Path) -> None:
    given = json.dumps({"mcp": {"mine": {"type": "remote", "url": "http://x"}}})
    server = OpencodeServer(FAKE, {"OPENCODE_CONFIG_CONTENT": given}, tmp_path / "s", tmp_path / "s.log",
                            start_timeout=20, mcp_servers=SERVERS[:1])
    try:
        await server.ensure()
        config = (await server.request("GET", "/config", str(tmp_path))).json()
        assert config["mcp"] == {"mine": {"type": "remote", "url": "http://x"}, **mcp_config(SERVERS[:1])}
    finally:
        await server.close()
    broken = OpencodeServer(FAKE, {"OPENCODE_CONFIG_CONTENT": "{oops"}, tmp_path / "b", tmp_path / "b.log",
                            mcp_servers=SERVERS[:1])
    with pytest.raises(AgentStartError, match="OPENCODE_CONFIG_CONTENT is not JSON"):
        await broken.ensure()
    assert not broken.running
