"""A scripted fake LLM server for driving real coding agents offline.

Stdlib only, so it can run anywhere the tests run, and stand alone:
``python tests/support/scripted_llm.py --port N`` (``--port 0``: a free port; the first line of stdout names
the URL), where ``--record FILE`` appends each model request to FILE as a JSON line.

APIs spoken (query strings ignored, any key and any model accepted, requests served concurrently):

* OpenAI chat completions: ``POST /v1/chat/completions`` (SSE when ``stream`` is true, JSON otherwise);
  ``GET /v1/models``.
* Anthropic messages: ``POST /v1/messages`` (SSE with ``event:`` names when ``stream`` is true) and
  ``POST /v1/messages/count_tokens``.
* Gemini: ``POST /v1beta/models/{m}:streamGenerateContent`` (SSE), ``:generateContent`` and ``:countTokens``.

The script lives in the prompt itself. The user message that drives a turn is the LAST user message whose
text contains directive lines (tool results never count); within it, the last content part (text block)
holding directives wins. Text around the directives is ignored, so an agent may wrap the prompt in its own
context. Directives, one per line:

* ``@write <path>`` then content lines up to ``@end`` -> a write tool call. The content is the lines joined
  with ``\\n`` plus a trailing newline (``"@write a\\nx\\n@end"`` writes ``"x\\n"``); a missing ``@end``
  runs to the end of the message. One line also works: ``@write <path> "<JSON string>"`` writes the decoded
  string (no ``@end``), for prompts that can only be one line, such as a comment prompt in an editor.
* ``@edit <path> "<JSON string>"`` -> a read tool call, then a write of the decoded string (agents that refuse
  to overwrite a file they have not read, such as qwen, accept it).
* ``@read <path>`` -> a read tool call.
* ``@tool <name> <json object>`` -> a call of any tool, arguments passed verbatim.
* ``@say <text>`` -> a text-only answer, which ends the agent's turn (so put it last).
* ``@sleep <seconds>`` -> delay the reply of the next step (handy for cancellation tests); not a step itself.

Step k (k = number of assistant messages after the driving user message) answers with the k-th step; past the
last step the answer is the text ``"done"``. Requests that carry no tools (title generation, topic checks) get
``no_tools_text`` instead, whatever their content.

Tool and argument names come from the request's ``tools`` schema: ``write``/``write_file``/``Write``/
``mcp__acp__Write`` with ``filePath`` or ``file_path`` (or ``path``) and ``content``; likewise for read.
Relative paths are made absolute against the working directory the agent states in its system prompt or
context (``Primary working directory: ...`` for Claude Code, ``Working directory: ...`` for opencode,
``I'm currently working in the directory: ...`` for qwen and gemini); if none is found the path is passed
through as given (agents then resolve it against their own cwd; all tested ones accept absolute paths).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "Conversation",
    "RecordedRequest",
    "Reply",
    "ScriptedLLM",
    "Step",
    "ToolCall",
    "Turn",
    "parse_script",
]

# ----------------------------------------------------------------------------------------------------
# Script parsing

_DIRECTIVE_RE = re.compile(r"^\s*@(write|edit|read|say|tool|sleep)(?:[ \t]+(.*?))?\s*$")
_END_RE = re.compile(r"^\s*@end\s*$")


@dataclass
class Step:
    """One scripted LLM reply."""

    kind: Literal["write", "read", "say", "tool"]
    path: str = ""
    content: str = ""
    text: str = ""
    tool: str = ""
    args: dict[str, Any] = field(default_factory=dict)
    delay: float = 0.0


def parse_script(text: str) -> list[Step]:
    """Extract the directive steps from a prompt; an empty list means the text holds no script."""
    steps: list[Step] = []
    delay = 0.0
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _DIRECTIVE_RE.match(lines[i])
        i += 1
        if not m:
            continue
        kind, arg = m.group(1), (m.group(2) or "")
        if kind == "sleep":
            try:
                delay += float(arg)
            except ValueError:
                pass
            continue
        step: Step
        path, _, inline = arg.partition(" ")
        if kind == "edit" or (kind == "write" and inline.lstrip().startswith('"')):
            # The one-line forms, for prompts that are a single line (a comment prompt in an editor).
            try:
                content = json.loads(inline)
            except json.JSONDecodeError:
                content = inline
            if kind == "edit":  # as a model does it: read the file, then write it whole
                steps.append(Step("read", path=path, delay=delay))
                delay = 0.0
            step = Step("write", path=path, content=content if isinstance(content, str) else inline)
        elif kind == "write":
            body: list[str] = []
            while i < len(lines) and not _END_RE.match(lines[i]):
                body.append(lines[i])
                i += 1
            i += 1  # skip @end
            step = Step("write", path=arg, content="\n".join(body) + "\n" if body else "")
        elif kind == "read":
            step = Step("read", path=arg)
        elif kind == "say":
            step = Step("say", text=arg)
        else:
            name, _, raw = arg.partition(" ")
            try:
                args = json.loads(raw) if raw.strip() else {}
            except json.JSONDecodeError:
                args = {"_unparsed": raw}
            step = Step("tool", tool=name, args=args if isinstance(args, dict) else {"value": args})
        step.delay, delay = delay, 0.0
        steps.append(step)
    if delay and steps:
        # A trailing @sleep delays the final "done" reply, so it rides on an explicit final-text step.
        steps.append(Step("say", text="done", delay=delay))
    return steps


# ----------------------------------------------------------------------------------------------------
# Request normalisation (one shape for the three APIs)


@dataclass
class Turn:
    role: Literal["user", "assistant"]
    texts: list[str]
    # True when the message only carries tool results, so it can never hold the driving prompt.
    tool_result: bool = False

    @property
    def text(self) -> str:
        return "\n".join(self.texts)

    def script(self) -> list[Step]:
        """The steps of the last content part that holds directives.

        Per part, not per message: after a cancelled turn Claude Code folds the interrupted prompt,
        "[Request interrupted by user]" and the next prompt into ONE user message as separate text blocks,
        and only the newest prompt may drive the reply.
        """
        if self.role != "user" or self.tool_result:
            return []
        for part in reversed(self.texts):
            steps = parse_script(part)
            if steps:
                return steps
        return []


@dataclass
class Conversation:
    api: Literal["openai", "anthropic", "gemini"]
    model: str
    stream: bool
    system: str
    turns: list[Turn]
    # tool name -> JSON-schema "properties" of its parameters
    tools: dict[str, dict[str, Any]]

    def driving_index(self) -> int | None:
        for idx in range(len(self.turns) - 1, -1, -1):
            if self.turns[idx].script():
                return idx
        return None

    def script(self) -> tuple[list[Step], int]:
        """(steps, k): the driving script and how many assistant turns already answered it."""
        idx = self.driving_index()
        if idx is None:
            return [], 0
        k = sum(1 for t in self.turns[idx + 1 :] if t.role == "assistant")
        return self.turns[idx].script(), k

    def working_directory(self) -> str | None:
        haystack = "\n".join([self.system, *(t.text for t in self.turns if t.role == "user")])
        for pattern in _CWD_PATTERNS:
            m = pattern.search(haystack)
            if m:
                return m.group(1).rstrip(".,;:`'\")")
        return None


_CWD_PATTERNS = [
    # Claude Code: "Primary working directory: /x"; opencode: "Working directory: /x"
    re.compile(r"working directory:\s*(/\S+)", re.IGNORECASE),
    re.compile(r"working in the directory:?\s*(/\S+)", re.IGNORECASE),
    re.compile(r"<cwd>\s*(/[^<\s]+)\s*</cwd>"),
    re.compile(r"current working directory(?: is)?:?\s*`?(/[^\s`]+)", re.IGNORECASE),
]


def _text_of(content: Any) -> tuple[list[str], bool]:
    """Texts of an OpenAI/Anthropic message content, and whether it consisted only of tool results."""
    if isinstance(content, str):
        return [content], False
    texts: list[str] = []
    saw_result = False
    saw_other = False
    for part in content or []:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "tool_result":
            saw_result = True
        elif part.get("type") == "text":
            texts.append(str(part.get("text", "")))
            saw_other = True
        else:
            saw_other = True
    return texts, saw_result and not saw_other


def _schema_props(schema: Any) -> dict[str, Any]:
    props = schema.get("properties") if isinstance(schema, dict) else None
    return props if isinstance(props, dict) else {}


def parse_openai(body: dict[str, Any]) -> Conversation:
    system: list[str] = []
    turns: list[Turn] = []
    for msg in body.get("messages") or []:
        role = msg.get("role")
        texts, _ = _text_of(msg.get("content"))
        if role in ("system", "developer"):
            system.extend(texts)
        elif role == "user":
            turns.append(Turn("user", texts))
        elif role == "assistant":
            turns.append(Turn("assistant", texts))
        elif role in ("tool", "function"):
            turns.append(Turn("user", [], tool_result=True))
    tools: dict[str, dict[str, Any]] = {}
    for tool in body.get("tools") or []:
        fn = tool.get("function") or tool
        if fn.get("name"):
            tools[fn["name"]] = _schema_props(fn.get("parameters"))
    return Conversation("openai", str(body.get("model", "")), bool(body.get("stream")), "\n".join(system), turns, tools)


def parse_anthropic(body: dict[str, Any]) -> Conversation:
    system, _ = _text_of(body.get("system") or [])
    turns: list[Turn] = []
    for msg in body.get("messages") or []:
        texts, only_results = _text_of(msg.get("content"))
        role: Literal["user", "assistant"] = "assistant" if msg.get("role") == "assistant" else "user"
        turns.append(Turn(role, texts, tool_result=only_results))
    tools = {t["name"]: _schema_props(t.get("input_schema")) for t in body.get("tools") or [] if t.get("name")}
    return Conversation(
        "anthropic", str(body.get("model", "")), bool(body.get("stream")), "\n".join(system), turns, tools
    )


def parse_gemini(body: dict[str, Any], model: str, stream: bool) -> Conversation:
    sys_parts = (body.get("systemInstruction") or body.get("system_instruction") or {}).get("parts") or []
    system = [str(p.get("text", "")) for p in sys_parts if isinstance(p, dict) and "text" in p]
    turns: list[Turn] = []
    for content in body.get("contents") or []:
        parts = [p for p in content.get("parts") or [] if isinstance(p, dict)]
        texts = [str(p["text"]) for p in parts if "text" in p and not p.get("thought")]
        only_results = bool(parts) and all("functionResponse" in p for p in parts)
        role: Literal["user", "assistant"] = "assistant" if content.get("role") == "model" else "user"
        turns.append(Turn(role, texts, tool_result=only_results))
    tools: dict[str, dict[str, Any]] = {}
    for tool in body.get("tools") or []:
        for decl in tool.get("functionDeclarations") or tool.get("function_declarations") or []:
            if decl.get("name"):
                schema = decl.get("parametersJsonSchema") or decl.get("parameters")
                tools[decl["name"]] = _schema_props(schema)
    return Conversation("gemini", model, stream, "\n".join(system), turns, tools)


# ----------------------------------------------------------------------------------------------------
# Deciding the reply


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any]
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:24])


@dataclass
class Reply:
    """What the fake model answers: a text, or a single tool call."""

    text: str = ""
    tool_call: ToolCall | None = None
    delay: float = 0.0


_WRITE_NAMES = ("write", "write_file", "Write", "mcp__acp__Write", "create_file", "writeFile")
_READ_NAMES = ("read", "read_file", "Read", "mcp__acp__Read", "readFile", "view")
_PATH_ARGS = ("file_path", "filePath", "absolute_path", "absolutePath", "path", "filename", "file")
_CONTENT_ARGS = ("content", "contents", "file_text", "text")


def _pick_tool(tools: dict[str, dict[str, Any]], preferred: tuple[str, ...], word: str) -> str | None:
    for name in preferred:
        if name in tools:
            return name
    for name in tools:
        low = name.lower()
        if word in low and "todo" not in low and "many" not in low:
            return name
    return None


def _pick_arg(props: dict[str, Any], preferred: tuple[str, ...], word: str, default: str) -> str:
    for name in preferred:
        if name in props:
            return name
    return next((n for n in props if word in n.lower()), default)


def decide_reply(conv: Conversation, no_tools_text: str) -> Reply:
    if not conv.tools:
        return Reply(text=no_tools_text)
    steps, k = conv.script()
    if k >= len(steps):
        return Reply(text="done")
    step = steps[k]
    if step.kind == "say":
        return Reply(text=step.text, delay=step.delay)
    if step.kind == "tool":
        return Reply(tool_call=ToolCall(step.tool, step.args), delay=step.delay)

    preferred, word = (_WRITE_NAMES, "write") if step.kind == "write" else (_READ_NAMES, "read")
    name = _pick_tool(conv.tools, preferred, word)
    if name is None:
        return Reply(text=f"scripted-llm: no {word} tool among {sorted(conv.tools)}", delay=step.delay)
    props = conv.tools[name]
    path = step.path
    if path and not os.path.isabs(path):
        cwd = conv.working_directory()
        if cwd:
            path = os.path.normpath(os.path.join(cwd, path))
    args: dict[str, Any] = {_pick_arg(props, _PATH_ARGS, "path", "file_path"): path}
    if step.kind == "write":
        args[_pick_arg(props, _CONTENT_ARGS, "content", "content")] = step.content
    return Reply(tool_call=ToolCall(name, args), delay=step.delay)


# ----------------------------------------------------------------------------------------------------
# Wire encodings


def _chunks(text: str, n: int = 3) -> list[str]:
    """Split into a few pieces so clients really exercise their delta handling."""
    if not text:
        return [""]
    size = max(1, -(-len(text) // n))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"{head}data: {payload}\n\n".encode()


def _estimate_tokens(body: Any) -> int:
    return max(1, len(json.dumps(body)) // 4)


def openai_events(reply: Reply, model: str, prompt_tokens: int, include_usage: bool) -> Iterator[bytes]:
    cid = f"chatcmpl-{uuid.uuid4().hex[:16]}"
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        return _sse(
            {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
        )

    yield chunk({"role": "assistant", "content": ""})
    if reply.tool_call:
        tc = reply.tool_call
        yield chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": f"call_{tc.id}",
                        "type": "function",
                        "function": {"name": tc.name, "arguments": ""},
                    }
                ]
            }
        )
        for frag in _chunks(json.dumps(tc.arguments)):
            yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": frag}}]})
        finish = "tool_calls"
    else:
        for piece in _chunks(reply.text):
            yield chunk({"content": piece})
        finish = "stop"
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": 10, "total_tokens": prompt_tokens + 10}
    yield chunk({}, finish, usage=usage)
    if include_usage:
        yield _sse(
            {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": usage,
            }
        )
    yield _sse("[DONE]")


def openai_json(reply: Reply, model: str, prompt_tokens: int) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
    if reply.tool_call:
        tc = reply.tool_call
        message["tool_calls"] = [
            {
                "id": f"call_{tc.id}",
                "type": "function",
                "function": {"name": tc.name, "arguments": json.dumps(tc.arguments)},
            }
        ]
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:16]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if reply.tool_call else "stop"}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": 10,
            "total_tokens": prompt_tokens + 10,
        },
    }


def _anthropic_usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def anthropic_events(reply: Reply, model: str, input_tokens: int) -> Iterator[bytes]:
    message: dict[str, Any] = {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": _anthropic_usage(input_tokens, 1),
    }
    yield _sse({"type": "message_start", "message": message}, "message_start")
    if reply.tool_call:
        tc = reply.tool_call
        block = {"type": "tool_use", "id": f"toolu_{tc.id}", "name": tc.name, "input": {}}
        yield _sse({"type": "content_block_start", "index": 0, "content_block": block}, "content_block_start")
        for frag in _chunks(json.dumps(tc.arguments)):
            yield _sse(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "input_json_delta", "partial_json": frag},
                },
                "content_block_delta",
            )
        stop_reason = "tool_use"
    else:
        yield _sse(
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            "content_block_start",
        )
        for piece in _chunks(reply.text):
            yield _sse(
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
                "content_block_delta",
            )
        stop_reason = "end_turn"
    yield _sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
    yield _sse(
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": 10},
        },
        "message_delta",
    )
    yield _sse({"type": "message_stop"}, "message_stop")


def anthropic_json(reply: Reply, model: str, input_tokens: int) -> dict[str, Any]:
    if reply.tool_call:
        tc = reply.tool_call
        content: list[dict[str, Any]] = [
            {"type": "tool_use", "id": f"toolu_{tc.id}", "name": tc.name, "input": tc.arguments}
        ]
    else:
        content = [{"type": "text", "text": reply.text}]
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "tool_use" if reply.tool_call else "end_turn",
        "stop_sequence": None,
        "usage": _anthropic_usage(input_tokens, 10),
    }


def _gemini_candidate(parts: list[dict[str, Any]], finish: bool) -> dict[str, Any]:
    cand: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        cand["finishReason"] = "STOP"
    return cand


def _gemini_usage(prompt_tokens: int) -> dict[str, Any]:
    return {
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": 10,
        "totalTokenCount": prompt_tokens + 10,
    }


def gemini_events(reply: Reply, model: str, prompt_tokens: int) -> Iterator[bytes]:
    if reply.tool_call:
        # Gemini sends a function call whole, never in fragments.
        parts = [{"functionCall": {"name": reply.tool_call.name, "args": reply.tool_call.arguments}}]
        yield _sse(
            {
                "candidates": [_gemini_candidate(parts, True)],
                "usageMetadata": _gemini_usage(prompt_tokens),
                "modelVersion": model,
            }
        )
        return
    pieces = _chunks(reply.text)
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1
        out: dict[str, Any] = {
            "candidates": [_gemini_candidate([{"text": piece}], last)],
            "modelVersion": model,
        }
        if last:
            out["usageMetadata"] = _gemini_usage(prompt_tokens)
        yield _sse(out)


def gemini_json(reply: Reply, model: str, prompt_tokens: int) -> dict[str, Any]:
    parts: list[dict[str, Any]]
    if reply.tool_call:
        parts = [{"functionCall": {"name": reply.tool_call.name, "args": reply.tool_call.arguments}}]
    else:
        parts = [{"text": reply.text}]
    return {
        "candidates": [_gemini_candidate(parts, True)],
        "usageMetadata": _gemini_usage(prompt_tokens),
        "modelVersion": model,
    }


# ----------------------------------------------------------------------------------------------------
# HTTP server


@dataclass
class RecordedRequest:
    method: str
    path: str  # without the query string
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any  # parsed JSON, or None
    api: str = ""  # "openai" | "anthropic" | "gemini" | "" for anything else
    conversation: Conversation | None = None
    reply: Reply | None = None


Responder = Callable[[Conversation], Reply | None]

_GEMINI_RE = re.compile(r"/models/([^/:]+):(\w+)$")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: agents reuse connections across steps
    # SSE events are small separate writes; with Nagle each waits ~40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True
    timeout = 60  # idle keep-alive connections must not pin handler threads forever
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.llm.verbose:
            sys.stderr.write(f"scripted-llm: {format % args}\n")

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(self, obj: Any, status: int = 200) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_sse(self, events: Iterator[bytes]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        delay = self.server.llm.chunk_delay
        for ev in events:
            self.wfile.write(f"{len(ev):x}\r\n".encode() + ev + b"\r\n")
            self.wfile.flush()
            if delay:
                time.sleep(delay)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _dispatch(self) -> None:
        llm = self.server.llm
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        raw = self._read_body() if self.command == "POST" else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        rec = RecordedRequest(self.command, path, parse_qs(url.query), dict(self.headers.items()), body)
        llm._record(rec)
        try:
            self._route(rec, body if isinstance(body, dict) else {})
        except (BrokenPipeError, ConnectionResetError):
            # The agent hung up mid-stream (cancellation); nothing left to tell it.
            self.close_connection = True
        except Exception as exc:
            sys.stderr.write(f"scripted-llm: error serving {self.command} {path}: {exc!r}\n")
            try:
                self._send_json({"error": {"message": f"scripted-llm: {exc!r}", "type": "server_error"}}, 500)
            except OSError:
                self.close_connection = True

    def _route(self, rec: RecordedRequest, body: dict[str, Any]) -> None:
        llm = self.server.llm
        path = rec.path
        if self.command == "GET":
            if path.endswith("/models"):
                self._send_json(
                    {
                        "object": "list",
                        "data": [{"id": "fake-model", "object": "model", "owned_by": "scripted-llm"}],
                    }
                )
            else:
                self._send_json({"ok": True, "service": "scripted-llm"})
            return
        if path.endswith("/chat/completions"):
            conv = parse_openai(body)
            reply = llm._reply(rec, conv)
            tokens = _estimate_tokens(body)
            if conv.stream:
                include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
                self._send_sse(openai_events(reply, conv.model or "fake-model", tokens, include_usage))
            else:
                self._send_json(openai_json(reply, conv.model or "fake-model", tokens))
            return
        if path.endswith("/messages/count_tokens"):
            rec.api = "anthropic"
            self._send_json({"input_tokens": _estimate_tokens(body)})
            return
        if path.endswith("/messages"):
            conv = parse_anthropic(body)
            reply = llm._reply(rec, conv)
            tokens = _estimate_tokens(body)
            if conv.stream:
                self._send_sse(anthropic_events(reply, conv.model or "fake-model", tokens))
            else:
                self._send_json(anthropic_json(reply, conv.model or "fake-model", tokens))
            return
        m = _GEMINI_RE.search(path)
        if m:
            model, action = m.group(1), m.group(2)
            rec.api = "gemini"
            if action == "countTokens":
                self._send_json({"totalTokens": _estimate_tokens(body)})
                return
            stream = action == "streamGenerateContent"
            conv = parse_gemini(body, model, stream)
            reply = llm._reply(rec, conv)
            tokens = _estimate_tokens(body)
            if stream:
                self._send_sse(gemini_events(reply, model, tokens))
            else:
                self._send_json(gemini_json(reply, model, tokens))
            return
        self._send_json({"error": {"message": f"scripted-llm: no route for {path}", "type": "not_found"}}, 404)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    llm: ScriptedLLM


class ScriptedLLM:
    """The fake LLM server. ``with ScriptedLLM() as llm:`` serves on a free port until the block ends.

    * ``base_url``: ``http://127.0.0.1:PORT`` (the Anthropic and Gemini base URL); ``openai_base_url``
      adds ``/v1``.
    * ``requests``: every request received, in arrival order (``RecordedRequest``; ``conversation`` and
      ``reply`` are filled in for model calls).
    * ``no_tools_text``: the answer to requests that carry no tools.
    * ``chunk_delay``: seconds between SSE events, to make streams slow.
    * ``responder``: optional hook called with the parsed ``Conversation``; a ``Reply`` it returns overrides
      the script, ``None`` falls back to it.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        no_tools_text: str = "Scripted title",
        chunk_delay: float = 0.0,
        responder: Responder | None = None,
        verbose: bool = False,
    ) -> None:
        self.host = host
        self.requested_port = port
        self.no_tools_text = no_tools_text
        self.chunk_delay = chunk_delay
        self.responder = responder
        self.verbose = verbose
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Condition()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle --------------------------------------------------------------------------------
    def start(self) -> ScriptedLLM:
        if self._server is not None:
            return self
        server = _Server((self.host, self.requested_port), _Handler)
        server.llm = self
        self._server = server
        # A short poll interval keeps stop() (and so test teardown) from waiting up to half a second.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="scripted-llm", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> ScriptedLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("ScriptedLLM is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.base_url}/v1"

    # recording --------------------------------------------------------------------------------
    def _record(self, rec: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(rec)
            self._lock.notify_all()

    def _reply(self, rec: RecordedRequest, conv: Conversation) -> Reply:
        rec.api = conv.api
        rec.conversation = conv
        reply = self.responder(conv) if self.responder else None
        if reply is None:
            reply = decide_reply(conv, self.no_tools_text)
        rec.reply = reply
        if reply.delay:
            time.sleep(reply.delay)
        return reply

    def model_requests(self) -> list[RecordedRequest]:
        """Requests that asked for a completion (title generation included)."""
        with self._lock:
            return [r for r in self.requests if r.reply is not None]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def wait_for_requests(self, n: int, timeout: float = 10.0) -> list[RecordedRequest]:
        """Block until at least ``n`` requests arrived (for tests driving an agent from another thread)."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.requests) >= n, timeout):
                raise TimeoutError(f"scripted-llm: {len(self.requests)} requests after {timeout} s, wanted {n}")
            return list(self.requests)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Scripted fake LLM (OpenAI / Anthropic / Gemini streaming).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--chunk-delay", type=float, default=0.0)
    parser.add_argument("--dump", action="store_true", help="print each request body to stderr")
    parser.add_argument(
        "--record",
        metavar="PATH",
        help="append each model request to PATH as a JSON line {api, model, tools, turns: [{role, text}]}: "
        "what a test in another language (the VS Code e2e) reads instead of ScriptedLLM.requests",
    )
    args = parser.parse_args(argv)
    record_lock = threading.Lock()

    def record(conv: Conversation) -> None:
        if args.record:
            turns = [{"role": t.role, "text": t.text} for t in conv.turns]
            line = json.dumps({"api": conv.api, "model": conv.model, "tools": sorted(conv.tools), "turns": turns})
            with record_lock, open(args.record, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")

    def dump(conv: Conversation) -> None:
        if args.dump:
            steps, k = conv.script()
            sys.stderr.write(
                f"scripted-llm: {conv.api} model={conv.model} tools={len(conv.tools)} "
                f"turns={len(conv.turns)} step={k}/{len(steps)}\n"
            )

    def responder(conv: Conversation) -> None:
        dump(conv)
        record(conv)

    with ScriptedLLM(args.host, args.port, chunk_delay=args.chunk_delay, responder=responder, verbose=True) as llm:
        print(f"scripted-llm listening on {llm.base_url} (OpenAI base URL {llm.openai_base_url})", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
