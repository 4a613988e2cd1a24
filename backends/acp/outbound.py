"""What the bridge sends an ACP agent, as the SDK's types: prompt blocks and the MCP servers it may use."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from typing import Any

import acp
from acp import schema

from backends.base import McpRemoteServer, McpServer, PromptPart, ResourceLinkPart, ResourcePart, TextPart


def to_acp_blocks(parts: list[PromptPart]) -> list[Any]:
    blocks: list[Any] = []
    for part in parts:
        if isinstance(part, TextPart):
            blocks.append(acp.text_block(part.text))
        elif isinstance(part, ResourcePart):
            blocks.append(acp.resource_block(acp.embedded_text_resource(part.uri, part.text, mime_type=part.mime_type)))
        elif isinstance(part, ResourceLinkPart):
            blocks.append(acp.resource_link_block(part.name, part.uri, mime_type=part.mime_type))
    return blocks


AcpMcpServer = schema.HttpMcpServer | schema.SseMcpServer | schema.AcpMcpServer | schema.McpServerStdio


def to_acp_mcp_servers(
    servers: Sequence[McpServer], caps: schema.McpCapabilities | None, path: str | None
) -> tuple[list[AcpMcpServer], list[str]]:
    """The servers as session/new and session/load take them, and the names of those left out because the agent
    does not say it speaks their transport (ACP forbids sending those). A stdio command without a directory is
    looked up on the agent's PATH: ACP wants an absolute path, and agents differ in resolving one."""
    out: list[AcpMcpServer] = []
    left_out: list[str] = []
    for server in servers:
        if isinstance(server, McpRemoteServer):
            headers = [schema.HttpHeader(name=k, value=v) for k, v in server.headers]
            if server.transport == "http" and caps is not None and caps.http:
                out.append(schema.HttpMcpServer(type="http", name=server.name, url=server.url, headers=headers))
            elif server.transport == "sse" and caps is not None and caps.sse:
                out.append(schema.SseMcpServer(type="sse", name=server.name, url=server.url, headers=headers))
            else:
                left_out.append(f"{server.name} ({server.transport})")
            continue
        command = server.command
        if os.sep not in command:
            command = shutil.which(command, path=path) or command
        env = [schema.EnvVariable(name=k, value=v) for k, v in server.env]
        out.append(schema.McpServerStdio(name=server.name, command=command, args=list(server.args), env=env))
    return out, left_out
