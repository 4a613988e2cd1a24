"""Pure mapping of ACP `session/update` payloads and permission requests onto the bridge's events.

Kept free of I/O so every quirk of real agents (duplicate tool_call ids, edits announced only inside a
permission request, partial tool_call_update payloads) is tested on its own.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from acp import schema

from backends.base import PermissionOption, PermissionRequest
from backends.events import (
    AgentEvent,
    AvailableCommands,
    ConfigChanged,
    ModeChanged,
    Plan,
    PlanEntry,
    ReasoningDelta,
    SessionInfo,
    TextDelta,
    ToolCall,
    Usage,
)


def content_text(block: Any) -> str:
    """The readable text of an ACP content block (text, resource or link); '' for media."""
    kind = getattr(block, "type", None)
    if kind == "text":
        return str(block.text)
    if kind == "resource":
        return str(getattr(block.resource, "text", "") or "")
    if kind == "resource_link":
        return str(block.uri)
    return ""


def _tool_paths(
    locations: Sequence[Any] | None, content: Sequence[Any] | None, cwd: str | None = None
) -> tuple[str, ...]:
    """Paths a tool call names, made absolute against `cwd` (ACP wants absolute paths; qwen sends some
    relative ones), so one file is not listed twice."""
    named = [loc.path for loc in locations or ()]
    named += [item.path for item in content or () if getattr(item, "type", None) == "diff"]
    paths: list[str] = []
    for path in named:
        if cwd is not None and not os.path.isabs(path):
            path = os.path.normpath(os.path.join(cwd, path))
        if path not in paths:
            paths.append(path)
    return tuple(paths)


def _tool_output(content: Sequence[Any] | None) -> str | None:
    texts = [content_text(item.content) for item in content or () if getattr(item, "type", None) == "content"]
    joined = "\n".join(t for t in texts if t)
    return joined or None


def command_of(raw_input: Any) -> tuple[str | None, str | None]:
    """The shell command and working directory an execute tool call carries, if it says."""
    if not isinstance(raw_input, dict):
        return None, None
    command = raw_input.get("command") or raw_input.get("cmd")
    if isinstance(command, list):
        command = " ".join(str(c) for c in command)
    args = raw_input.get("args")
    if isinstance(command, str) and isinstance(args, list) and args:
        command = " ".join([command, *map(str, args)])
    cwd = raw_input.get("cwd") or raw_input.get("workdir") or raw_input.get("directory")
    return (command if isinstance(command, str) else None), (cwd if isinstance(cwd, str) else None)


class ToolCallMerger:
    """Merges partial tool call updates by id into whole states.

    Agents send a `tool_call` then `tool_call_update`s carrying only what changed; some send `tool_call`
    twice with the same id, some send only updates (the start was inside a permission request).
    """

    def __init__(self, cwd: str | None = None) -> None:
        self._calls: dict[str, ToolCall] = {}
        self.cwd = cwd

    def merge(self, update: schema.ToolCallStart | schema.ToolCallProgress | schema.ToolCallUpdate) -> ToolCall:
        previous = self._calls.get(update.tool_call_id)
        paths = _tool_paths(update.locations, update.content, self.cwd)
        command, _ = command_of(update.raw_input)
        merged = ToolCall(
            tool_call_id=update.tool_call_id,
            title=update.title or (previous.title if previous else "") or "tool call",
            kind=update.kind or (previous.kind if previous else "other"),
            status=update.status or (previous.status if previous else "pending"),
            paths=tuple(dict.fromkeys((*(previous.paths if previous else ()), *paths))),
            command=command or (previous.command if previous else None),
            output=_tool_output(update.content) or (previous.output if previous else None),
            raw_input=update.raw_input if update.raw_input is not None else (
                previous.raw_input if previous else None
            ),
        )
        self._calls[update.tool_call_id] = merged
        return merged

    def get(self, tool_call_id: str) -> ToolCall | None:
        return self._calls.get(tool_call_id)


def map_update(update: Any, tools: ToolCallMerger) -> list[AgentEvent]:
    """The bridge events for one `session/update` payload (unknown kinds map to nothing)."""
    kind = getattr(update, "session_update", None)
    if kind == "agent_message_chunk":
        text = content_text(update.content)
        return [TextDelta(text)] if text else []
    if kind == "agent_thought_chunk":
        text = content_text(update.content)
        return [ReasoningDelta(text)] if text else []
    if kind in ("tool_call", "tool_call_update"):
        return [tools.merge(update)]
    if kind == "plan":
        return [
            Plan(tuple(PlanEntry(e.content, e.status, e.priority) for e in update.entries))
        ]
    if kind == "usage_update":
        cost = update.cost
        return [
            Usage(
                context_used=update.used,
                context_size=update.size,
                cost=cost.amount if cost else None,
                currency=cost.currency if cost else None,
            )
        ]
    if kind == "available_commands_update":
        return [
            AvailableCommands(
                tuple({"name": c.name, "description": c.description} for c in update.available_commands)
            )
        ]
    if kind == "current_mode_update":
        return [ModeChanged(update.current_mode_id)]
    if kind == "config_option_update":
        return [
            ConfigChanged(tuple(o.model_dump(by_alias=True, exclude_none=True) for o in update.config_options))
        ]
    if kind == "session_info_update":
        return [SessionInfo(title=update.title)]
    # user_message_chunk (history replay on load) and newer plan_* variants carry nothing a turn needs.
    return []


def map_usage(usage: schema.Usage | None) -> Usage | None:
    if usage is None:
        return None
    return Usage(
        input_tokens=usage.input_tokens, output_tokens=usage.output_tokens, total_tokens=usage.total_tokens
    )


def permission_request(
    tool_call: schema.ToolCallUpdate,
    options: Sequence[schema.PermissionOption],
    known: ToolCall | None,
    cwd: str | None = None,
) -> PermissionRequest:
    """Normalize a `session/request_permission`, filling gaps from the tool call already seen."""
    paths = _tool_paths(tool_call.locations, tool_call.content, cwd) or (known.paths if known else ())
    command, cwd = command_of(tool_call.raw_input)
    if command is None and known is not None:
        command = known.command
    if cwd is None and known is not None:
        # Without it the policy could not refuse a command announced to run outside the worktree.
        cwd = command_of(known.raw_input)[1]
    kind = tool_call.kind or (known.kind if known else None) or ("execute" if command else "other")
    return PermissionRequest(
        tool_call_id=tool_call.tool_call_id,
        title=tool_call.title or (known.title if known else "") or kind,
        kind=kind,
        paths=paths,
        command=command,
        cwd=cwd,
        options=tuple(
            PermissionOption(option_id=o.option_id, name=o.name, kind=o.kind) for o in options
        ),
    )
