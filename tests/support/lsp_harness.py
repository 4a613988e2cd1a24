"""An LSP client that plays the editor against a real `agent-bridge serve` over stdio.

It keeps its own copy of open documents, applies `workspace/applyEdit` to them (and reports the change
back with didChange, as editors do), answers permission questions from a script, and records every
`agentBridge/event`.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import attrs
from lsprotocol import types as T
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient, make_test_lsp_client

from bridge import protocol
from bridge.protocol import plain


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True, capture_output=True, text=True,
    ).stdout


def make_repo(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


def offset_at(text: str, pos: T.Position) -> int:
    """Offset of an LSP position (UTF-16 columns) in `text`, whose lines end as LSP says: at "\\r\\n", "\\n" or
    a lone "\\r" (Python's splitlines also ends them at form feeds, U+2028 and others)."""
    lines = re.findall(r"[^\r\n]*(?:\r\n|\n|\r)|[^\r\n]+$", text)
    before = sum(len(line) for line in lines[: pos.line])
    line = lines[pos.line] if pos.line < len(lines) else ""
    units = 0
    for i, ch in enumerate(line):
        if units >= pos.character:
            return before + i
        units += 2 if ord(ch) > 0xFFFF else 1
    return before + len(line)


def apply_edits(text: str, edits: list[T.TextEdit]) -> str:
    ordered = sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True)
    for edit in ordered:
        start, end = offset_at(text, edit.range.start), offset_at(text, edit.range.end)
        text = text[:start] + edit.new_text + text[end:]
    return text


@dataclass
class Editor:
    """The test's editor: documents, answers to questions, recorded events."""

    client: LanguageClient
    repo: Path
    state_dir: Path
    agent_log: Path
    docs: dict[str, tuple[str, int]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)
    answers: list[str | None] = field(default_factory=list)
    edits_applied: int = 0
    refuse_edits: bool = False
    server_capabilities: T.ServerCapabilities | None = None
    _waiters: list[tuple[Callable[[dict[str, Any]], bool], asyncio.Future[dict[str, Any]]]] = field(
        default_factory=list
    )

    def uri(self, rel: str) -> str:
        return (self.repo / rel).as_uri()

    def on_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        for pred, fut in list(self._waiters):
            if not fut.done() and pred(event):
                fut.set_result(event)

    async def wait_event(self, pred: Callable[[dict[str, Any]], bool], timeout: float = 30) -> dict[str, Any]:
        for event in self.events:
            if pred(event):
                return event
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append((pred, fut))
        return await asyncio.wait_for(fut, timeout)

    def kinds(self, turn_id: str) -> list[str]:
        return [e["kind"] for e in self.events if e.get("turnId") == turn_id]

    def text_of(self, turn_id: str, kind: str = "text") -> str:
        return "".join(e["text"] for e in self.events if e.get("turnId") == turn_id and e["kind"] == kind)

    # Documents
    def open(self, rel: str, text: str | None = None) -> str:
        uri = self.uri(rel)
        if text is None:
            text = (self.repo / rel).read_text()
        self.docs[uri] = (text, 1)
        self.client.text_document_did_open(T.DidOpenTextDocumentParams(
            T.TextDocumentItem(uri=uri, language_id="plaintext", version=1, text=text)
        ))
        return uri

    def change(self, uri: str, text: str) -> None:
        _, version = self.docs[uri]
        self.docs[uri] = (text, version + 1)
        self.client.text_document_did_change(T.DidChangeTextDocumentParams(
            text_document=T.VersionedTextDocumentIdentifier(uri=uri, version=version + 1),
            content_changes=[T.TextDocumentContentChangeWholeDocument(text=text)],
        ))

    def text(self, uri: str) -> str:
        return self.docs[uri][0]

    def apply_workspace_edit(self, edit: T.WorkspaceEdit) -> tuple[bool, str | None]:
        if self.refuse_edits:
            return False, "refused by the test editor"
        ops = list(edit.document_changes or [])
        for uri, text_edits in (edit.changes or {}).items():
            ops.append(T.TextDocumentEdit(T.OptionalVersionedTextDocumentIdentifier(uri, None), list(text_edits)))
        for op in ops:
            if isinstance(op, T.TextDocumentEdit):
                uri = op.text_document.uri
                if uri not in self.docs:
                    path = Path(uri.removeprefix("file://"))
                    self.open(str(path.relative_to(self.repo)), path.read_text() if path.exists() else "")
                text, version = self.docs[uri]
                if op.text_document.version is not None and op.text_document.version != version:
                    return False, f"version mismatch for {uri}: {op.text_document.version} != {version}"
                self.change(uri, apply_edits(text, [e for e in op.edits if isinstance(e, T.TextEdit)]))
            elif isinstance(op, T.CreateFile):
                if op.uri not in self.docs:
                    rel = str(Path(op.uri.removeprefix("file://")).relative_to(self.repo))
                    self.open(rel, "")
            elif isinstance(op, T.DeleteFile):
                path = Path(op.uri.removeprefix("file://"))
                self.docs.pop(op.uri, None)
                if path.exists():
                    path.unlink()
            elif isinstance(op, T.RenameFile):
                # Editors rename the file on disk and carry an open buffer along.
                old, new = Path(op.old_uri.removeprefix("file://")), Path(op.new_uri.removeprefix("file://"))
                if old.exists():
                    old.rename(new)
                if op.old_uri in self.docs:
                    self.docs[op.new_uri] = self.docs.pop(op.old_uri)
        self.edits_applied += 1
        return True, None

    def save(self, uri: str) -> None:
        Path(uri.removeprefix("file://")).write_text(self.text(uri))

    # Commands
    async def cmd(self, name: str, arg: Any = None, raw_args: list[Any] | None = None) -> Any:
        args = raw_args if raw_args is not None else ([] if arg is None else [arg])
        return plain(await self.client.workspace_execute_command_async(
            T.ExecuteCommandParams(command=name, arguments=args)
        ))

    async def cmd_error(self, name: str, arg: Any = None, raw_args: list[Any] | None = None) -> JsonRpcException:
        try:
            result = await self.cmd(name, arg, raw_args)
        except JsonRpcException as exc:
            return exc
        raise AssertionError(f"{name} succeeded unexpectedly: {result!r}")

    async def prompt(self, text: str, **fields: Any) -> tuple[str, str]:
        started = await self.cmd("agentBridge.prompt", {"text": text, "agent": "scripted", **fields})
        return started["sessionId"], started["turnId"]

    async def run(self, text: str, timeout: float = 60, **fields: Any) -> tuple[str, str, dict[str, Any]]:
        sid, tid = await self.prompt(text, **fields)
        result = await asyncio.wait_for(self.cmd("agentBridge.awaitTurn", {"sessionId": sid, "turnId": tid}),
                                        timeout)
        return sid, tid, result

    async def pending(self, session_id: str | None = None, uri: str | None = None) -> list[dict[str, Any]]:
        arg: dict[str, Any] = {}
        if session_id:
            arg["sessionId"] = session_id
        if uri:
            arg["uri"] = uri
        return list(await self.cmd("agentBridge.pending", arg))

    async def code_actions(self, uri: str, line: int) -> list[T.CodeAction]:
        actions = await self.client.text_document_code_action_async(T.CodeActionParams(
            text_document=T.TextDocumentIdentifier(uri=uri),
            range=T.Range(T.Position(line, 0), T.Position(line, 0)),
            context=T.CodeActionContext(diagnostics=[]),
        ))
        return [_as_code_action(a) for a in actions or []]

    def agent_log_lines(self) -> list[dict[str, Any]]:
        if not self.agent_log.exists():
            return []
        return [json.loads(line) for line in self.agent_log.read_text().splitlines() if line.strip()]


def _as_code_action(item: T.CodeAction | T.Command) -> T.CodeAction:
    """Undo lsprotocol's client-side parse of a CodeAction carrying a `command` as a Command.

    The client library's structure hook takes any object with a `command` key for a Command and stringifies
    the nested command; servers are unaffected, real editors too.
    """
    if isinstance(item, T.CodeAction):
        return item
    nested = ast.literal_eval(item.command)
    return T.CodeAction(
        title=item.title,
        kind=T.CodeActionKind.QuickFix,
        command=T.Command(title=nested["title"], command=nested["command"], arguments=nested.get("arguments")),
    )


# What our own clients declare: they draw `agentBridge/event` themselves (without it, turns come as messages).
EVENTS_CAPABILITY = {"agentBridge": {"events": True}}

CLIENT_CAPABILITIES = T.ClientCapabilities(
    workspace=T.WorkspaceClientCapabilities(
        apply_edit=True,
        workspace_edit=T.WorkspaceEditClientCapabilities(
            document_changes=True,
            resource_operations=[T.ResourceOperationKind.Create, T.ResourceOperationKind.Rename,
                                 T.ResourceOperationKind.Delete],
        ),
        code_lens=T.CodeLensWorkspaceClientCapabilities(refresh_support=True),
    ),
    window=T.WindowClientCapabilities(
        work_done_progress=True, show_document=T.ShowDocumentClientCapabilities(support=True)
    ),
    experimental=EVENTS_CAPABILITY,
)

# Any LSP client without our extension (eglot, Helix, Zed, Kate).
PLAIN_CAPABILITIES = attrs.evolve(CLIENT_CAPABILITIES, experimental=None)


async def start_editor(
    repo: Path, state_dir: Path, agent_log: Path, init_options: Any = None, extra_env: dict[str, str] | None = None,
    daemon: bool = True, command: list[str] | None = None, plain: bool = False,
) -> Editor:
    """An editor on `agent-bridge serve` over stdio: a relay to the state dir's daemon (what editors run), or with
    `daemon=False` a server of its own (`serve --no-daemon`); `command` replaces the whole server command line
    (e.g. ssh to a bridge elsewhere).

    The daemon stops as soon as the last window has left and nothing runs (`AGENT_BRIDGE_DAEMON_LINGER=0`, unless
    `extra_env` says otherwise), so a test's daemon ends with its editors, as the in-process server does.

    `plain=True`: a client without our extension (no experimental `agentBridge.events`); pytest-lsp keeps the
    `window/showMessage` and `window/logMessage` it gets in `client.messages` and `client.log_messages` (and
    every client the `window/showDocument` requests, answered with success, in `client.shown_documents`)."""
    client = make_test_lsp_client()
    editor = Editor(client, repo, state_dir, agent_log)

    @client.feature("agentBridge/event")
    def on_event(params: Any) -> None:
        editor.on_event(protocol.plain(params))  # `plain` here is the argument

    @client.feature(T.WORKSPACE_APPLY_EDIT)
    def on_apply(params: T.ApplyWorkspaceEditParams) -> T.ApplyWorkspaceEditResult:
        ok, reason = editor.apply_workspace_edit(params.edit)
        return T.ApplyWorkspaceEditResult(applied=ok, failure_reason=reason)

    @client.feature(T.WINDOW_SHOW_MESSAGE_REQUEST)
    def on_question(params: T.ShowMessageRequestParams) -> T.MessageActionItem | None:
        editor.questions.append(params.message)
        answer = editor.answers.pop(0) if editor.answers else None
        return T.MessageActionItem(title=answer) if answer else None

    @client.feature(T.WORKSPACE_CODE_LENS_REFRESH)
    def on_lens_refresh(params: None) -> None:
        return None

    env = {**os.environ, "AGENT_BRIDGE_STATE_DIR": str(state_dir), "SCRIPTED_AGENT_LOG": str(agent_log),
           "AGENT_BRIDGE_DAEMON_LINGER": "0", **(extra_env or {})}
    serve = ["serve"] if daemon else ["serve", "--no-daemon"]
    # With the daemon this is its log (the relay hands it over when it starts one).
    log_file = state_dir / "bridge.log"
    argv = command or [sys.executable, "-m", "bridge.cli", *serve, "--log-file", str(log_file)]
    await client.start_io(*argv, env=env)
    initialized = await client.initialize_session(T.InitializeParams(
        capabilities=PLAIN_CAPABILITIES if plain else CLIENT_CAPABILITIES,
        root_uri=repo.as_uri(),
        workspace_folders=[T.WorkspaceFolder(uri=repo.as_uri(), name=repo.name)],
        initialization_options=init_options,
    ))
    editor.server_capabilities = initialized.capabilities
    return editor
