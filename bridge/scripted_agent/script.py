"""The scripted agent's script: directives parsed from the prompt, its session state and constants."""

from __future__ import annotations

import asyncio
import json
import os
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, TypeVar, get_args

import acp
from acp.schema import (
    AudioContentBlock,
    AvailableCommand,
    AvailableCommandInput,
    AvailableCommandsUpdate,
    ContentToolCallContent,
    EmbeddedResourceContentBlock,
    FileEditToolCallContent,
    ImageContentBlock,
    PermissionOption,
    PermissionOptionKind,
    ResourceContentBlock,
    SessionConfigOptionBoolean,
    SessionConfigOptionSelect,
    SessionConfigSelectOption,
    SessionMode,
    StopReason,
    TerminalToolCallContent,
    TextContentBlock,
    TextResourceContents,
    UnstructuredCommandInput,
    Usage,
)

T = TypeVar("T")

ToolCallContent = ContentToolCallContent | FileEditToolCallContent | TerminalToolCallContent

ContentBlock = (
    TextContentBlock
    | ImageContentBlock
    | AudioContentBlock
    | ResourceContentBlock
    | EmbeddedResourceContentBlock
)

AGENT_NAME = "scripted-agent"
AGENT_VERSION = "0.1.0"
CONTEXT_WINDOW = 200_000
# After session/cancel the client must answer our pending requests (permission -> cancelled);
# this bounds how long a non-conforming client can keep the turn alive.
CANCEL_GRACE_S = 5.0
STOP_REASONS: frozenset[str] = frozenset(get_args(StopReason))
SESSION_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
# Directives that take a body of lines terminated by "@end".
BLOCK_DIRECTIVES = frozenset({"write", "write-disk", "ask-write"})
KNOWN_DIRECTIVES = BLOCK_DIRECTIVES | frozenset(
    {
        "say",
        "think",
        "plan",
        "delete",
        "read",
        "cat",
        "run",
        "usage",
        "sleep",
        "hang",
        "crash",
        "stop",
        "stderr",
        "echo-prompt",
        "echo-state",
        "commands",
        "mode",
        "duplicate-tool-call",
        "slow-exit",
    }
)
MODES = (
    SessionMode(id="default", name="Default", description="Ask before every edit and command"),
    SessionMode(id="plan", name="Plan", description="Only plan, never edit"),
)
# Config options, as agents offer models and switches (ACP session/set_config_option).
MODELS = (
    SessionConfigSelectOption(value="fast", name="Fast", description="Answers at once"),
    SessionConfigSelectOption(value="deep", name="Deep", description="Thinks it over"),
)
MODEL_OPTION = "model"
THINKING_OPTION = "thinking"

# Deliberately allow_always first (like qwen) so that clients have to choose by kind, not position;
# the ids are opaque on purpose too.
PERMISSION_OPTIONS: tuple[PermissionOption, ...] = (
    PermissionOption(option_id="always", name="Always allow", kind="allow_always"),
    PermissionOption(option_id="once", name="Allow", kind="allow_once"),
    PermissionOption(option_id="reject", name="Reject", kind="reject_once"),
)
_OPTION_KINDS: dict[str, PermissionOptionKind] = {o.option_id: o.kind for o in PERMISSION_OPTIONS}

HELP_TEXT = """\
Hello! I am the scripted agent that ships with agent-bridge. There is no LLM behind me: \
I only follow directive lines (lines starting with @) in your prompt, in order.

  @say TEXT              stream TEXT
  @think TEXT            send a thought
  @plan A | B | C        publish a plan
  @write PATH ... @end   edit a file (asks permission, writes through the editor)
  @write-disk PATH ... @end   write straight to disk without asking
  @ask-write PATH ... @end    edit announced only inside the permission request
  @delete PATH           delete a file from disk
  @read PATH             read a file through the editor
  @cat PATH              read a file through the editor and say what it holds
  @run CMD               run a shell command in an editor terminal (asks permission)
  @usage IN OUT          report token usage
  @sleep SECONDS / @hang wait (cancellable)
  @stop REASON           end the turn with that stop reason
  @crash                 die mid-turn
  @stderr N              write N bytes to stderr
  @echo-prompt           repeat the prompt I received
  @echo-state            say my mode and options (mode=... model=... thinking=...)
  @commands / @mode NAME publish slash commands / switch mode
  @duplicate-tool-call   send the same tool call twice
  @slow-exit SECONDS     once my input ends, take that long to exit (ignoring SIGTERM)
"""


class _TurnCancelled(Exception):
    """The client sent session/cancel (or answered a permission request with cancelled)."""


class _TurnStop(Exception):
    def __init__(self, reason: StopReason) -> None:
        super().__init__(reason)
        self.reason: StopReason = reason


@dataclass
class Directive:
    name: str
    arg: str
    body: str | None = None


@dataclass
class Turn:
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    said: list[str] = field(default_factory=list)
    usage: Usage | None = None


@dataclass
class Session:
    session_id: str
    cwd: str
    history: list[dict[str, str]] = field(default_factory=list)
    mode: str = "default"
    model: str = "fast"
    thinking: bool = False
    # Kinds the user answered allow_always for: like qwen switching to auto-edit, we stop asking.
    always_allowed: set[str] = field(default_factory=set)
    turn: Turn | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def parse_directives(text: str) -> list[Directive]:
    """Split prompt text into directives; non-directive lines and unknown @words are ignored.

    Unknown ``@word`` lines are ignored rather than reported because editors put ``@file``
    mentions in prompts.
    """
    directives: list[Directive] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        i += 1
        if not stripped.startswith("@"):
            continue
        name, _, arg = stripped[1:].partition(" ")
        name = name.lower()
        arg = arg.strip()
        if name not in KNOWN_DIRECTIVES:
            continue
        body: str | None = None
        if name in BLOCK_DIRECTIVES:
            body_lines: list[str] = []
            while i < len(lines) and lines[i].strip() != "@end":
                body_lines.append(lines[i])
                i += 1
            i += 1  # the "@end" line (or past the end when it is missing)
            body = "\n".join(body_lines) + "\n" if body_lines else ""
        directives.append(Directive(name, arg, body))
    return directives


def prompt_text(prompt: list[ContentBlock]) -> str:
    return "\n".join(block.text for block in prompt if isinstance(block, TextContentBlock))


def echo_text(prompt: list[ContentBlock]) -> str:
    """Everything the client sent, in a form tests can assert on."""
    parts: list[str] = []
    for block in prompt:
        if isinstance(block, TextContentBlock):
            parts.append(block.text)
        elif isinstance(block, EmbeddedResourceContentBlock):
            res = block.resource
            if isinstance(res, TextResourceContents):
                parts.append(f"<resource uri={res.uri}>\n{res.text}\n</resource>")
            else:
                parts.append(f"<resource uri={res.uri} blob>")
        elif isinstance(block, ResourceContentBlock):
            parts.append(f"<resource_link uri={block.uri}>")
        else:
            parts.append(f"<{block.type} {block.mime_type}>")
    return "\n".join(parts)


def word_chunks(text: str) -> list[str]:
    # Splitting at whitespace->non-whitespace boundaries keeps every character, so the
    # concatenation of the chunks is exactly ``text``.
    return [c for c in re.split(r"(?<=\s)(?=\S)", text) if c]


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, acp.RequestError) and exc.data:
        return f"{exc} {json.dumps(exc.data)}"
    return str(exc) or type(exc).__name__


def _log(record: dict[str, Any]) -> None:
    path = os.environ.get("SCRIPTED_AGENT_LOG")
    if not path:
        return
    record = {"pid": os.getpid(), **record}
    # One O_APPEND write per line keeps lines whole when several agent processes share the log.
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()


def _commands_update() -> AvailableCommandsUpdate:
    return AvailableCommandsUpdate(
        session_update="available_commands_update",
        available_commands=[
            AvailableCommand(name="help", description="List the directives the scripted agent understands"),
            AvailableCommand(
                name="say",
                description="Repeat some text",
                input=AvailableCommandInput(root=UnstructuredCommandInput(hint="text to repeat")),
            ),
        ],
    )


def config_options(session: Session) -> list[SessionConfigOptionSelect | SessionConfigOptionBoolean]:
    """The session's config options with their current values (ACP sends all of them every time)."""
    return [
        SessionConfigOptionSelect(
            id=MODEL_OPTION, name="Model", category="model", type="select", current_value=session.model,
            options=list(MODELS),
        ),
        SessionConfigOptionBoolean(
            id=THINKING_OPTION, name="Thinking", description="Show my reasoning", type="boolean",
            current_value=session.thinking,
        ),
    ]


def state_text(session: Session) -> str:
    return f"mode={session.mode} model={session.model} thinking={str(session.thinking).lower()}"


def _new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:12]}"


def _disk_read_strict(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def _disk_read(path: str) -> str | None:
    try:
        return _disk_read_strict(path)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def _disk_write(path: str, content: str) -> None:
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(content)


def _write_stderr(n: int) -> None:
    """Exactly ``n`` bytes, blocking: a client that never drains stderr deadlocks us, on purpose."""
    line = b"e" * 79 + b"\n"
    data = (line * (n // len(line) + 1))[:n]
    view = memoryview(data)
    while view:
        written = os.write(2, view)
        view = view[written:]
