"""Unit tests for the scripted fake LLM (tests/support/scripted_llm.py), over real HTTP with httpx."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.scripted_llm import ScriptedLLM, parse_script

CWD = "/tmp/project"
SCRIPT = "@write notes/a.txt\nline 1\nline 2\n@end\n@read /etc/hostname\n@say all done"

OPENAI_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "write_file",
            "parameters": {"type": "object", "properties": {"file_path": {}, "content": {}}},
        },
    },
    {"type": "function", "function": {"name": "read_file", "parameters": {"properties": {"file_path": {}}}}},
]
ANTHROPIC_TOOLS = [
    {"name": "Write", "input_schema": {"type": "object", "properties": {"file_path": {}, "content": {}}}},
    {"name": "Read", "input_schema": {"type": "object", "properties": {"file_path": {}}}},
]


@pytest.fixture(scope="module")
def llm() -> Iterator[ScriptedLLM]:
    with ScriptedLLM() as server:
        yield server


@pytest.fixture
def http(llm: ScriptedLLM) -> Iterator[httpx.Client]:
    llm.clear()
    with httpx.Client(base_url=llm.base_url, timeout=10) as client:
        yield client


def sse_events(resp: httpx.Response) -> list[tuple[str | None, str]]:
    """(event name, data) pairs of an SSE body."""
    events: list[tuple[str | None, str]] = []
    for block in resp.text.split("\n\n"):
        name: str | None = None
        data: list[str] = []
        for line in block.splitlines():
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data.append(line[len("data: ") :])
        if data:
            events.append((name, "\n".join(data)))
    return events


# --- OpenAI -------------------------------------------------------------------------------------------


def openai_body(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "whatever",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "system", "content": f"I'm currently working in the directory: {CWD}"}, *messages],
    }
    if tools is not None:
        body["tools"] = tools
    return body


def openai_stream(http: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    """Reassemble an OpenAI stream the way a client SDK does."""
    resp = http.post("/v1/chat/completions?api-version=x", json=body, headers={"Authorization": "Bearer k"})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/event-stream")
    events = [data for _, data in sse_events(resp)]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(d) for d in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    # include_usage -> a final chunk with no choices, carrying usage
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    text = ""
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for c in chunks[:-1]:
        choice = c["choices"][0]
        delta = choice["delta"]
        text += delta.get("content") or ""
        for tc in delta.get("tool_calls") or []:
            slot = calls.setdefault(tc["index"], {"id": "", "name": "", "arguments": ""})
            slot["id"] += tc.get("id", "")
            slot["name"] += tc.get("function", {}).get("name", "")
            slot["arguments"] += tc.get("function", {}).get("arguments", "")
        finish = choice["finish_reason"] or finish
    return {"text": text, "calls": list(calls.values()), "finish": finish}


def test_openai_text_reply(http: httpx.Client, llm: ScriptedLLM) -> None:
    out = openai_stream(http, openai_body([{"role": "user", "content": "hi\n@say hello there"}], OPENAI_TOOLS))
    assert out == {"text": "hello there", "calls": [], "finish": "stop"}
    assert llm.requests[-1].path == "/v1/chat/completions"
    assert llm.requests[-1].body["model"] == "whatever"


def test_openai_tool_call_reply(http: httpx.Client) -> None:
    out = openai_stream(http, openai_body([{"role": "user", "content": SCRIPT}], OPENAI_TOOLS))
    assert out["finish"] == "tool_calls"
    [call] = out["calls"]
    assert call["id"].startswith("call_")
    assert call["name"] == "write_file"
    # relative path resolved against the directory named in the system prompt
    assert json.loads(call["arguments"]) == {"file_path": f"{CWD}/notes/a.txt", "content": "line 1\nline 2\n"}


def test_openai_step_counting(http: httpx.Client) -> None:
    tool_turn: list[dict[str, Any]] = [
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function"}]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
    ]
    history: list[dict[str, Any]] = [
        {"role": "user", "content": "context"},
        {"role": "assistant", "content": "Got it."},
    ]
    msgs = [*history, {"role": "user", "content": SCRIPT}]

    step1 = openai_stream(http, openai_body([*msgs, *tool_turn], OPENAI_TOOLS))
    assert step1["calls"][0]["name"] == "read_file"
    assert json.loads(step1["calls"][0]["arguments"]) == {"file_path": "/etc/hostname"}

    step2 = openai_stream(http, openai_body([*msgs, *tool_turn, *tool_turn], OPENAI_TOOLS))
    assert step2 == {"text": "all done", "calls": [], "finish": "stop"}

    past_end = openai_stream(
        http, openai_body([*msgs, *tool_turn, *tool_turn, {"role": "assistant", "content": "x"}], OPENAI_TOOLS)
    )
    assert past_end["text"] == "done"

    # a later prompt with its own directives restarts the count
    later = [*msgs, *tool_turn, {"role": "assistant", "content": "all done"}, {"role": "user", "content": "@say 2nd"}]
    assert openai_stream(http, openai_body(later, OPENAI_TOOLS))["text"] == "2nd"

    # no tools (title generation) -> plain text whatever the prompt says
    title = openai_stream(http, openai_body([{"role": "user", "content": SCRIPT}]))
    assert title["text"] == "Scripted title" and title["calls"] == []


def test_openai_non_streaming(http: httpx.Client) -> None:
    body = openai_body([{"role": "user", "content": "@say plain"}], OPENAI_TOOLS) | {"stream": False}
    resp = http.post("/v1/chat/completions", json=body)
    assert resp.json()["choices"][0]["message"]["content"] == "plain"


# --- Anthropic ----------------------------------------------------------------------------------------


def anthropic_body(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "fake-model",
        "stream": True,
        "max_tokens": 1000,
        "system": [{"type": "text", "text": f"Here is useful information:\n - Primary working directory: {CWD}\n"}],
        "messages": messages,
    }
    if tools is not None:
        body["tools"] = tools
    return body


def anthropic_stream(http: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    resp = http.post(
        "/v1/messages?beta=true",
        json=body,
        headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
    )
    assert resp.status_code == 200
    events = sse_events(resp)
    names = [name for name, _ in events]
    datas = [json.loads(d) for _, d in events]
    assert all(d["type"] == n for n, d in zip(names, datas, strict=True))
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert names[1] == "content_block_start" and names[-3] == "content_block_stop"
    assert set(names[2:-3]) == {"content_block_delta"}
    block = datas[1]["content_block"]
    deltas = [d["delta"] for d in datas[2:-3]]
    if block["type"] == "text":
        payload: Any = "".join(d["text"] for d in deltas if d["type"] == "text_delta")
    else:
        payload = json.loads("".join(d["partial_json"] for d in deltas if d["type"] == "input_json_delta"))
    return {"block": block, "payload": payload, "stop": datas[-2]["delta"]["stop_reason"]}


def test_anthropic_text_reply(http: httpx.Client, llm: ScriptedLLM) -> None:
    msgs = [{"role": "user", "content": [{"type": "text", "text": "<reminder/>"}, {"type": "text", "text": "@say yo"}]}]
    out = anthropic_stream(http, anthropic_body(msgs, ANTHROPIC_TOOLS))
    assert out["block"]["type"] == "text"
    assert out["payload"] == "yo"
    assert out["stop"] == "end_turn"
    rec = llm.requests[-1]
    assert rec.path == "/v1/messages" and rec.query == {"beta": ["true"]} and rec.api == "anthropic"


def test_anthropic_tool_call_and_steps(http: httpx.Client) -> None:
    prompt = {"role": "user", "content": SCRIPT}
    out = anthropic_stream(http, anthropic_body([prompt], ANTHROPIC_TOOLS))
    assert out["stop"] == "tool_use"
    assert out["block"]["type"] == "tool_use" and out["block"]["name"] == "Write"
    assert out["block"]["id"].startswith("toolu_")
    assert out["payload"] == {"file_path": f"{CWD}/notes/a.txt", "content": "line 1\nline 2\n"}

    tool_turn = [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Write", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "@say not me"}]},
    ]
    out = anthropic_stream(http, anthropic_body([prompt, *tool_turn], ANTHROPIC_TOOLS))
    assert out["block"]["name"] == "Read" and out["payload"] == {"file_path": "/etc/hostname"}
    out = anthropic_stream(http, anthropic_body([prompt, *tool_turn, *tool_turn], ANTHROPIC_TOOLS))
    assert out["payload"] == "all done"


def test_anthropic_interrupted_prompt_merge(http: httpx.Client) -> None:
    # After a cancel Claude Code folds old prompt + interruption marker + new prompt into one message.
    merged = {
        "role": "user",
        "content": [
            {"type": "text", "text": "@write x.txt\nX\n@end"},
            {"type": "text", "text": "[Request interrupted by user]\n"},
            {"type": "text", "text": "@say fresh"},
        ],
    }
    assert anthropic_stream(http, anthropic_body([merged], ANTHROPIC_TOOLS))["payload"] == "fresh"


def test_anthropic_count_tokens_and_no_tools(http: httpx.Client) -> None:
    resp = http.post("/v1/messages/count_tokens?beta=true", json=anthropic_body([{"role": "user", "content": "x"}]))
    assert resp.status_code == 200 and resp.json()["input_tokens"] > 0
    out = anthropic_stream(http, anthropic_body([{"role": "user", "content": SCRIPT}]))
    assert out["payload"] == "Scripted title"


# --- Gemini and script parsing --------------------------------------------------------------------------


def test_gemini_stream_tool_call(http: httpx.Client) -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "@write /abs/g.txt\ng\n@end"}]}],
        "tools": [
            {
                "functionDeclarations": [
                    {"name": "write_file", "parametersJsonSchema": {"properties": {"file_path": {}}}}
                ]
            }
        ],
    }
    resp = http.post("/v1beta/models/fake-model:streamGenerateContent?alt=sse", json=body)
    [(_, data)] = sse_events(resp)
    cand = json.loads(data)["candidates"][0]
    assert cand["finishReason"] == "STOP"
    assert cand["content"]["parts"][0]["functionCall"] == {
        "name": "write_file",
        "args": {"file_path": "/abs/g.txt", "content": "g\n"},
    }


def test_parse_script() -> None:
    steps = parse_script('wrapped:\n@sleep 0.5\n@write a\n@say inside content\n@end\n@tool bash {"cmd": "ls"}')
    assert [s.kind for s in steps] == ["write", "tool"]
    assert steps[0].content == "@say inside content\n" and steps[0].delay == 0.5
    assert steps[1].tool == "bash" and steps[1].args == {"cmd": "ls"}
    assert parse_script("no directives here, mail me @someone") == []


def test_wait_for_requests(http: httpx.Client, llm: ScriptedLLM) -> None:
    http.get("/v1/models")
    assert llm.wait_for_requests(1, timeout=1)[0].path == "/v1/models"
    with pytest.raises(TimeoutError):
        llm.wait_for_requests(5, timeout=0.1)


def test_standalone_port_0_and_record(tmp_path: Path) -> None:
    """Run as a program (as the VS Code e2e does): --port 0 names its URL on stdout; --record logs requests."""
    record = tmp_path / "requests.jsonl"
    script = Path(__file__).resolve().parents[1] / "support" / "scripted_llm.py"
    proc = subprocess.Popen(
        [sys.executable, str(script), "--port", "0", "--record", str(record)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = re.search(r"listening on (http://\S+)", proc.stdout.readline())
        assert url, "no URL on the first line"
        body = openai_body([{"role": "user", "content": "@say recorded"}], OPENAI_TOOLS)
        with httpx.Client(base_url=url.group(1), timeout=10) as client:
            assert openai_stream(client, body)["text"] == "recorded"
            client.get("/v1/models")  # not a model request: not recorded
        lines = [json.loads(line) for line in record.read_text().splitlines()]
        assert len(lines) == 1
        assert lines[0]["api"] == "openai" and lines[0]["tools"] == ["read_file", "write_file"]
        assert lines[0]["turns"] == [{"role": "user", "text": "@say recorded"}]
    finally:
        proc.terminate()
        proc.wait(10)


def test_one_line_write_takes_a_json_string() -> None:
    steps = parse_script('@write calc.py "a\\nb\\n"\n@write other.py\nx\n@end\n@edit c.py "z\\n"')
    assert [(s.kind, s.path, s.content) for s in steps] == [
        ("write", "calc.py", "a\nb\n"), ("write", "other.py", "x\n"), ("read", "c.py", ""), ("write", "c.py", "z\n"),
    ]
