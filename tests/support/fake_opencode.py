"""A fake `opencode serve`: the subset of opencode's HTTP + SSE API the bridge uses, scriptable per test.

Run as the agent's command (``[sys.executable, this file]``; the bridge appends ``serve --hostname H --port N``).
Like the real server it prints ``opencode server listening on http://H:N``, demands HTTP Basic auth with
``OPENCODE_SERVER_PASSWORD``, scopes everything by ``?directory=``, streams ``GET /event`` per directory, and
emits the event orders real opencode 1.18 emits (user message, busy, assistant message, parts with deltas,
step-finish, idle; on abort an error, idle, then a late second idle; a failed turn sends its error twice).

What a turn does is scripted by the prompt's text, one directive per line:

``say TEXT`` streamed text (deltas, then the final part) · ``think TEXT`` reasoning · ``quiet TEXT`` text sent
only as a final part · ``tool NAME JSON`` a tool call (``write`` really writes ``filePath``) · ``ask PERMISSION
JSON`` a ``permission.asked`` with those properties, then waits for the reply · ``sleep S`` · ``gate NAME``
waits until the test opens the gate (before the user message when it is the first line) · ``error TEXT``
fails the turn · ``hang`` never ends (until aborted) · ``drop`` closes the directory's streams and refuses new
ones until the turn ends (its events are lost) · ``silent`` the rest of the turn emits no events ·
``crash`` exits the process with a message on stderr.

Agents (``GET /agent``) and slash commands (``GET /command``) are fixed lists shaped like opencode's; a
command (``POST /session/{id}/command``) runs its arguments as the script and answers when the turn has ended.

Test controls (authenticated): ``POST /_fake/emit {directory, event}``, ``POST /_fake/open {gate}``,
``POST /_fake/drop {directory}``, ``GET /_fake/requests`` (each with its JSON body). ``FAKE_OPENCODE_MODE`` =
``exit`` (fail at start), ``no-ready-line``, ``wrong-password``, ``ignore-term``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

CHUNK = 3  # characters per streamed delta

# `GET /agent` as opencode 1.18 lists its agents (trimmed): primary ones (plan denies edits), a sub-agent, a
# hidden internal one, and one whose config pins a model.
def _rules(*rules: tuple[str, str, str]) -> list[dict[str, str]]:
    # opencode's defaults, the agent's own rules, then the configured ones (here: the bridge's edit allow)
    own = [("*", "*", "allow"), ("question", "*", "deny"), *rules, ("*", "*", "ask"), ("edit", "*", "allow")]
    return [{"permission": p, "pattern": pattern, "action": a} for p, pattern, a in own]


AGENTS: list[dict[str, Any]] = [
    {"name": "build", "description": "The default agent.", "mode": "primary", "native": True,
     "permission": _rules(("plan_enter", "*", "allow"))},
    {"name": "explore", "description": "Fast codebase explorer.", "mode": "subagent", "native": True},
    {"name": "plan", "description": "Plan mode. Disallows all edit tools.", "mode": "primary", "native": True,
     "permission": _rules(("task", "general", "deny"), ("edit", "*", "deny"),
                          ("edit", ".opencode/plans/*.md", "allow"))},
    {"name": "title", "mode": "primary", "native": True, "hidden": True},
    {"name": "docs", "description": "Writes docs.", "mode": "all",
     "model": {"providerID": "alt", "modelID": "alt-model"}},
]
COMMANDS: list[dict[str, Any]] = [
    {"name": "init", "description": "guided AGENTS.md setup", "source": "command", "template": "...",
     "hints": ["$ARGUMENTS"]},
    {"name": "review", "description": "review changes", "source": "command", "template": "...", "subtask": True},
    {"name": "broken", "description": "listed, but opencode fails to run it", "source": "mcp"},
]


def new_id(prefix: str) -> str:
    new_id.counter = getattr(new_id, "counter", 0) + 1  # type: ignore[attr-defined]
    value = (int(time.time() * 1000) * 0x1000 + new_id.counter) & ((1 << 48) - 1)  # type: ignore[attr-defined]
    return f"{prefix}_{value:012x}{os.urandom(7).hex()}"


@dataclass
class Session:
    id: str
    directory: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    busy: bool = False
    task: asyncio.Task[None] | None = None


class Fake:
    def __init__(self, password: str) -> None:
        self.password = password
        self.sessions: dict[str, Session] = {}
        self.streams: dict[str, set[asyncio.Queue[dict[str, Any] | None]]] = {}
        self.refused: set[str] = set()
        self.gates: dict[str, asyncio.Event] = {}
        self.permissions: dict[str, tuple[dict[str, Any], asyncio.Future[str]]] = {}
        self.requests: list[dict[str, Any]] = []

    # Events
    def emit(self, directory: str, event_type: str, properties: dict[str, Any]) -> None:
        self.push(directory, {"id": new_id("evt"), "type": event_type, "properties": properties})

    def push(self, directory: str, event: dict[str, Any]) -> None:
        for queue in self.streams.get(directory, set()):
            queue.put_nowait(event)

    def drop(self, directory: str) -> None:
        for queue in self.streams.get(directory, set()):
            queue.put_nowait(None)

    def gate(self, name: str) -> asyncio.Event:
        return self.gates.setdefault(name, asyncio.Event())

    # Turns
    async def run_turn(self, session: Session, message_id: str, text: str) -> None:
        d, sid = session.directory, session.id
        lines = [line.lstrip() for line in text.splitlines() if line.strip()]
        if lines and lines[0].startswith("gate "):
            await self.gate(lines.pop(0)[5:].strip()).wait()
        state = {"silent": False}

        def emit(event_type: str, props: dict[str, Any]) -> None:
            if not state["silent"]:
                self.emit(d, event_type, props)

        user = {"id": message_id, "role": "user", "sessionID": sid, "time": {"created": int(time.time() * 1000)}}
        user_part = {"id": new_id("prt"), "type": "text", "text": text, "messageID": message_id, "sessionID": sid}
        session.messages.append({"info": user, "parts": [user_part]})
        emit("message.updated", {"sessionID": sid, "info": user})
        emit("message.part.updated", {"sessionID": sid, "part": user_part})
        session.busy = True
        emit("session.status", {"sessionID": sid, "status": {"type": "busy"}})
        aid = new_id("msg")
        info: dict[str, Any] = {"id": aid, "parentID": message_id, "role": "assistant", "sessionID": sid,
                                "time": {"created": int(time.time() * 1000)}}
        parts: list[dict[str, Any]] = []
        session.messages.append({"info": info, "parts": parts})
        emit("message.updated", {"sessionID": sid, "info": dict(info)})

        def part(p: dict[str, Any]) -> dict[str, Any]:
            p = {"id": new_id("prt"), "messageID": aid, "sessionID": sid, **p}
            parts.append(p)
            return p

        def update(p: dict[str, Any]) -> None:
            emit("message.part.updated", {"sessionID": sid, "part": dict(p)})

        try:
            update(part({"type": "step-start"}))
            for line in lines:
                word, _, rest = line.partition(" ")
                if word in ("say", "think", "quiet"):
                    p = part({"type": "reasoning" if word == "think" else "text", "text": "",
                              "time": {"start": 1}})
                    if word != "quiet":
                        update(p)
                        for i in range(0, len(rest), CHUNK):
                            p["text"] += rest[i:i + CHUNK]
                            emit("message.part.delta", {"sessionID": sid, "messageID": aid, "partID": p["id"],
                                                        "field": "text", "delta": rest[i:i + CHUNK]})
                            await asyncio.sleep(0)
                    p["text"], p["time"] = rest, {"start": 1, "end": 2}
                    update(p)
                elif word == "tool":
                    name, _, raw = rest.partition(" ")
                    args = json.loads(raw or "{}")
                    p = part({"type": "tool", "tool": name, "callID": new_id("call"),
                              "state": {"status": "pending", "input": {}}})
                    update(p)
                    p["state"] = {"status": "running", "input": args}
                    update(p)
                    if name == "write":
                        target = Path(args["filePath"])
                        target = target if target.is_absolute() else Path(d) / target
                        target.write_text(args.get("content", ""))
                        emit("file.edited", {"file": str(target)})
                    p["state"] = {"status": "completed", "input": args, "output": "ok", "title": args.get("title")}
                    update(p)
                elif word == "ask":
                    permission, _, raw = rest.partition(" ")
                    pid = new_id("per")
                    props = {"id": pid, "sessionID": sid, "permission": permission, **json.loads(raw or "{}")}
                    reply: asyncio.Future[str] = asyncio.get_running_loop().create_future()
                    self.permissions[pid] = (props, reply)
                    emit("permission.asked", props)
                    answer = await reply
                    emit("permission.replied", {"sessionID": sid, "requestID": pid, "reply": answer})
                    quiet = part({"type": "text", "text": f"permission {answer}", "time": {"start": 1, "end": 2}})
                    update(quiet)
                elif word == "sleep":
                    await asyncio.sleep(float(rest))
                elif word == "gate":
                    await self.gate(rest).wait()
                elif word == "error":
                    error = {"name": "UnknownError", "data": {"message": rest}}
                    info["error"] = error
                    emit("session.error", {"sessionID": sid, "error": error})
                    self.idle(session, emit)
                    emit("session.error", {"sessionID": sid, "error": error})  # opencode 1.18 says it twice
                    return
                elif word == "hang":
                    await asyncio.Event().wait()
                elif word == "drop":
                    self.refused.add(d)
                    self.drop(d)
                    await asyncio.sleep(0.05)
                elif word == "silent":
                    state["silent"] = True
                elif word == "crash":
                    print("fake opencode: crashing as scripted", file=sys.stderr, flush=True)
                    os._exit(7)
            update(part({"type": "step-finish", "reason": "stop", "cost": 0.01,
                         "tokens": {"input": 10, "output": 5, "reasoning": 0, "cache": {"read": 2, "write": 0}}}))
            info["finish"] = "stop"
            info["time"] = {**info["time"], "completed": int(time.time() * 1000)}
            emit("message.updated", {"sessionID": sid, "info": dict(info)})
            self.idle(session, emit)
            emit("message.updated", {"sessionID": sid, "info": {**user, "summary": {"diffs": []}}})
        except asyncio.CancelledError:
            error = {"name": "MessageAbortedError", "data": {"message": "Aborted"}}
            info["error"] = error
            self.emit(d, "session.error", {"sessionID": sid, "error": error})
            self.idle(session, self.emit_to(d))
            asyncio.get_running_loop().call_later(0.05, self.late_idle, session, dict(info))
        finally:
            self.refused.discard(d)

    def emit_to(self, directory: str) -> Any:
        return lambda event_type, props: self.emit(directory, event_type, props)

    def idle(self, session: Session, emit: Any) -> None:
        session.busy = False
        emit("session.status", {"sessionID": session.id, "status": {"type": "idle"}})
        emit("session.idle", {"sessionID": session.id})

    def late_idle(self, session: Session, info: dict[str, Any]) -> None:
        """What opencode 1.18 sends once more after an abort: the message, then idle again."""
        self.emit(session.directory, "message.updated", {"sessionID": session.id, "info": info})
        self.idle(session, self.emit_to(session.directory))

    # HTTP
    async def route(self, method: str, path: str, query: dict[str, str], body: Any, writer: Any) -> tuple[int, Any]:
        d = query.get("directory", os.getcwd())
        parts = path.strip("/").split("/")
        if path == "/global/health":
            return 200, {"healthy": True, "version": "fake"}
        if path == "/event":
            await self.stream(d, writer)
            return -1, None
        if path == "/config/providers":
            return 200, {"providers": [{"id": "fake", "models": {"fake-model": {}, "other-model": {}}},
                                       {"id": "alt", "models": {"alt-model": {}}}], "default": {"fake": "fake-model"}}
        if path == "/config":  # like opencode, the config it was given in OPENCODE_CONFIG_CONTENT
            given = json.loads(os.environ.get("OPENCODE_CONFIG_CONTENT") or "{}")
            return 200, {**given, "model": os.environ.get("FAKE_OPENCODE_DEFAULT_MODEL", "fake/fake-model")}
        if path == "/agent":
            return 200, AGENTS
        if path == "/command":
            return 200, COMMANDS
        if path == "/session" and method == "POST":
            session = Session(new_id("ses"), d)
            self.sessions[session.id] = session
            return 200, {"id": session.id, "directory": d, "permission": (body or {}).get("permission")}
        if path == "/session/status":
            return 200, {s.id: {"type": "busy"} for s in self.sessions.values() if s.busy and s.directory == d}
        if path == "/permission" and method == "GET":
            return 200, [props for props, fut in self.permissions.values() if not fut.done()]
        if len(parts) == 3 and parts[0] == "permission" and parts[2] == "reply":
            entry = self.permissions.get(parts[1])
            if entry is None or entry[1].done():
                return 404, {"_tag": "PermissionNotFoundError"}
            entry[1].set_result(body["reply"])
            return 200, True
        if parts[0] == "session" and len(parts) >= 2:
            session = self.sessions.get(parts[1])
            if session is None:
                return 404, {"name": "NotFoundError", "data": {"message": f"Session not found: {parts[1]}"}}
            if len(parts) == 2:
                return 200, {"id": session.id, "directory": session.directory}
            if parts[2] == "message":
                return 200, session.messages
            if parts[2] == "prompt_async":
                text = "\n".join(p.get("text", "") for p in body["parts"] if p.get("type") == "text")
                message_id = body.get("messageID") or new_id("msg")
                session.task = asyncio.create_task(self.run_turn(session, message_id, text))
                return 204, None
            if parts[2] == "command":
                # Like opencode: the command's template with its arguments becomes the user message, and the
                # answer comes once the turn has ended. Here the arguments are the turn's script.
                if body["command"] not in {c["name"] for c in COMMANDS if c["name"] != "broken"}:
                    return 500, {"name": "UnknownError", "data": {"message": "Unexpected server error."}}
                message_id = body.get("messageID") or new_id("msg")
                session.task = asyncio.create_task(self.run_turn(session, message_id, body["arguments"]))
                with contextlib.suppress(asyncio.CancelledError):
                    await session.task
                return 200, {"info": session.messages[-1]["info"], "parts": session.messages[-1]["parts"]}
            if parts[2] == "abort":
                if session.task is not None and not session.task.done():
                    session.task.cancel()
                return 200, True
        if parts[0] == "_fake":
            return self.control(parts[1], body)
        return 404, {"name": "NotFoundError"}

    def control(self, what: str, body: Any) -> tuple[int, Any]:
        if what == "emit":
            self.push(body["directory"], body["event"])
        elif what == "open":
            self.gate(body["gate"]).set()
        elif what == "drop":
            self.drop(body["directory"])
        elif what == "requests":
            return 200, self.requests
        return 200, True

    async def stream(self, directory: str, writer: Any) -> None:
        if directory in self.refused:
            writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.streams.setdefault(directory, set()).add(queue)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                     b"Connection: close\r\n\r\n")
        # What real opencode says first, and noise the bridge must ignore.
        for event_type in ("server.connected", "plugin.added", "file.watcher.updated", "server.heartbeat"):
            queue.put_nowait({"id": new_id("evt"), "type": event_type, "properties": {}})
        try:
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), 10)
                except TimeoutError:  # as opencode does, so a silent stream is not taken for a dead one
                    event = {"id": new_id("evt"), "type": "server.heartbeat", "properties": {}}
                if event is None:
                    break
                writer.write(b"data: " + json.dumps(event).encode() + b"\n\n")
                await writer.drain()
        finally:
            self.streams[directory].discard(queue)

    def authorized(self, headers: dict[str, str]) -> bool:
        expected = base64.b64encode(f"opencode:{self.password}".encode()).decode()
        return headers.get("authorization") == f"Basic {expected}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while line := await reader.readline():
                method, target, _ = line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (h := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    key, _, value = h.decode().partition(":")
                    headers[key.strip().lower()] = value.strip()
                raw = await reader.readexactly(int(headers.get("content-length", "0")))
                url = urlsplit(target)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                ok = self.authorized(headers)
                body = json.loads(raw) if raw else None
                if url.path != "/_fake/requests":
                    self.requests.append({"method": method, "path": url.path, "query": query, "authorized": ok,
                                          "body": body})
                if not ok:
                    writer.write(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n")
                    await writer.drain()
                    continue
                status, payload = await self.route(method, url.path, query, body, writer)
                if status < 0:
                    break
                data = b"" if status == 204 else json.dumps(payload).encode()
                writer.write(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                             f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
                await writer.drain()
        writer.close()


async def serve(host: str, port: int) -> None:
    mode = os.environ.get("FAKE_OPENCODE_MODE", "")
    password = os.environ.get("OPENCODE_SERVER_PASSWORD", "")
    if mode == "exit":
        print("fake opencode: cannot start (scripted failure)", file=sys.stderr, flush=True)
        sys.exit(3)
    if mode == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    fake = Fake(password + "-not" if mode == "wrong-password" else password)
    server = await asyncio.start_server(fake.handle, host, port)
    if mode != "no-ready-line":
        print(f"opencode server listening on http://{host}:{port}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "serve":
        print("usage: fake_opencode.py serve --hostname H --port N", file=sys.stderr)
        return 2
    host = argv[argv.index("--hostname") + 1] if "--hostname" in argv else "127.0.0.1"
    port = int(argv[argv.index("--port") + 1]) if "--port" in argv else 4096
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(host, port))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
