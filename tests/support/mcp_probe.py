"""A tiny stdio MCP server for tests: one tool, `probe_ping` (no arguments), answering ``pong-from-probe``.

Stdlib only (the agents start it with whatever Python runs the tests): newline-delimited JSON-RPC 2.0 over
stdin/stdout, as MCP's stdio transport specifies. It answers ``initialize`` (echoing the client's protocol
version), ``ping``, ``tools/list`` and ``tools/call``, ignores notifications, and refuses any other request with
"method not found". ``--log FILE`` appends each message received as a JSON line, so a test can tell the agent
started it and what it asked.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

TOOL = "probe_ping"
PONG = "pong-from-probe"
TOOLS = [
    {
        "name": TOOL,
        "description": "Answers with a fixed word; proves the MCP server is reachable.",
        "inputSchema": {"type": "object", "properties": {}},
    }
]


def answer(method: str, params: dict[str, Any]) -> dict[str, Any]:
    """The result of a request; KeyError for a method this server does not have."""
    if method == "initialize":
        return {
            "protocolVersion": params.get("protocolVersion", "2025-06-18"),
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": {"name": "mcp-probe", "version": "1.0.0"},
        }
    if method == "ping":
        return {}
    if method == "tools/list":
        return {"tools": TOOLS}
    if method == "tools/call":
        if params.get("name") != TOOL:
            return {"content": [{"type": "text", "text": f"no tool {params.get('name')!r}"}], "isError": True}
        return {"content": [{"type": "text", "text": PONG}], "isError": False}
    raise KeyError(method)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--log", help="append each message received to this file as a JSON line")
    log_path = parser.parse_args().log
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            reply: dict[str, Any] = {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}}
            print(json.dumps(reply), flush=True)
            continue
        if log_path:
            with open(log_path, "a", encoding="utf-8") as log:
                log.write(json.dumps(message) + "\n")
        if not isinstance(message, dict) or "id" not in message or "method" not in message:
            continue  # a notification (notifications/initialized, cancellations) or a response: nothing to say
        reply = {"jsonrpc": "2.0", "id": message["id"]}
        try:
            reply["result"] = answer(message["method"], message.get("params") or {})
        except KeyError:
            reply["error"] = {"code": -32601, "message": f"method not found: {message['method']}"}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
