"""`agent-bridge demo`: the whole product in one run, with no agent or model installed.

It plays the editor: starts `agent-bridge serve` over stdio in a temporary git repository, opens a file,
prompts the bundled scripted agent, prints the streamed turn, the pending hunks, applies one through its
code action and rejects another, and shows the document before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from lsprotocol import types as T
from pygls.lsp.client import LanguageClient

from bridge.protocol import plain

ORIGINAL = textwrap.dedent(
    """\
    def greet(name):
        print("hello " + name)


    def farewell(name):
        print("bye " + name)
    """
)

UPDATED = textwrap.dedent(
    """\
    def greet(name: str) -> None:
        print(f"hello {name}")


    def farewell(name: str) -> None:
        print(f"goodbye {name}")
    """
)

PROMPT = "\n".join([
    "Add type hints and use f-strings in greet.py.",
    "@think The user wants modern Python; two small edits.",
    "@plan Read greet.py | Rewrite both functions | Summarize",
    "@say Updating greet.py with type hints and f-strings.",
    "@write greet.py",
    *UPDATED.splitlines(),
    "@end",
    "@usage 1200 340",
    "@say Done: both functions now have type hints.",
])


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def make_repo(root: Path) -> Path:
    repo = root / "project"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "greet.py").write_text(ORIGINAL)
    _git(repo, "add", "greet.py")
    _git(repo, "-c", "user.name=demo", "-c", "user.email=demo@localhost", "commit", "-q", "-m", "initial")
    return repo


def apply_text_edits(text: str, edits: list[T.TextEdit]) -> str:
    """Apply LSP edits the way an editor does (UTF-16 columns; fine for this ASCII demo)."""
    lines = text.splitlines(keepends=True)

    def offset(pos: T.Position) -> int:
        return sum(len(line) for line in lines[: pos.line]) + pos.character

    for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        text = text[: offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end) :]
        lines = text.splitlines(keepends=True)
    return text


class DemoEditor:
    def __init__(self, out: Any) -> None:
        self.out = out
        self.client = LanguageClient("agent-bridge-demo", "1")
        self.docs: dict[str, tuple[str, int]] = {}
        self.pending_changed = asyncio.Event()
        self._last_kind: str | None = None
        self._register()

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def _register(self) -> None:
        @self.client.feature("agentBridge/event")
        def on_event(params: Any) -> None:
            self.show_event(plain(params))

        @self.client.feature(T.WORKSPACE_APPLY_EDIT)
        def apply_edit(params: T.ApplyWorkspaceEditParams) -> T.ApplyWorkspaceEditResult:
            self.apply_workspace_edit(params.edit)
            return T.ApplyWorkspaceEditResult(applied=True)

        @self.client.feature(T.WINDOW_SHOW_MESSAGE_REQUEST)
        def ask(params: T.ShowMessageRequestParams) -> T.MessageActionItem | None:
            self.say(f"\n  [editor] question: {params.message} -> answering 'Allow'")
            return T.MessageActionItem(title="Allow")

        @self.client.feature(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def diagnostics(params: T.PublishDiagnosticsParams) -> None:
            return None

        @self.client.feature(T.WINDOW_LOG_MESSAGE)
        def log_message(params: T.LogMessageParams) -> None:
            return None

    def show_event(self, ev: dict[str, Any]) -> None:
        kind = ev.get("kind")
        if kind in ("text", "reasoning"):
            if self._last_kind != kind:
                self.say()
                print("  agent> " if kind == "text" else "  (thinking) ", end="", file=self.out)
            print(str(ev.get("text", "")).replace("\n", " "), end="", file=self.out, flush=True)
            self._last_kind = kind
            return
        self._last_kind = None
        if kind == "turnStarted":
            self.say(f"  turn {ev['turnId']} started with agent {ev.get('agent')}")
        elif kind == "plan":
            self.say()
            for entry in ev.get("entries", []):
                mark = {"completed": "x", "in_progress": ">"}.get(entry.get("status"), " ")
                self.say(f"  [{mark}] {entry.get('content')}")
        elif kind == "toolCall":
            self.say(f"\n  tool: {ev.get('title')} [{ev.get('status')}]")
        elif kind == "permission":
            self.say(f"\n  permission: {ev.get('title')} -> {ev.get('outcome')} ({ev.get('reason')})")
        elif kind == "usage":
            self.say(f"\n  usage: {ev.get('contextUsed')} tokens in context")
        elif kind == "pendingChanged":
            self.pending_changed.set()
            self.say(f"\n  pending changes: {ev.get('hunks')} hunk(s) in {ev.get('files')} file(s)")
        elif kind == "turnEnded":
            self.say(f"\n  turn ended: {ev.get('status')} ({ev.get('stopReason') or ev.get('error')})")

    def apply_workspace_edit(self, edit: T.WorkspaceEdit) -> None:
        for change in edit.document_changes or []:
            if isinstance(change, T.TextDocumentEdit):
                uri = change.text_document.uri
                text, version = self.docs[uri]
                new = apply_text_edits(text, [e for e in change.edits if isinstance(e, T.TextEdit)])
                self.docs[uri] = (new, version + 1)
                self.client.text_document_did_change(T.DidChangeTextDocumentParams(
                    text_document=T.VersionedTextDocumentIdentifier(uri=uri, version=version + 1),
                    content_changes=[T.TextDocumentContentChangeWholeDocument(text=new)],
                ))

    async def command(self, name: str, arg: dict[str, Any]) -> Any:
        return plain(await self.client.workspace_execute_command_async(
            T.ExecuteCommandParams(command=name, arguments=[arg])
        ))


async def _run(args: argparse.Namespace, out: Any) -> int:
    with tempfile.TemporaryDirectory(prefix="agent-bridge-demo-") as tmp:
        root = Path(tmp)
        repo = make_repo(root)
        state = args.state_dir or root / "state"
        editor = DemoEditor(out)
        cmd = [sys.executable, "-m", "bridge.cli", "serve", "--state-dir", str(state),
               "--log-file", str(root / "bridge.log")]
        if args.state_dir is None:
            # A throwaway state dir, deleted at the end: a bridge of its own, not a daemon left on it.
            cmd.append("--no-daemon")
        if args.config:
            cmd += ["--config", str(args.config)]
        editor.say(f"agent-bridge demo: a temporary git repository at {repo}")
        await editor.client.start_io(*cmd)
        caps = T.ClientCapabilities(
            workspace=T.WorkspaceClientCapabilities(
                apply_edit=True,
                workspace_edit=T.WorkspaceEditClientCapabilities(
                    document_changes=True,
                    resource_operations=[T.ResourceOperationKind.Create, T.ResourceOperationKind.Delete],
                ),
            ),
            experimental={"agentBridge": {"events": True}},  # it draws the events itself
        )
        await editor.client.initialize_async(T.InitializeParams(
            capabilities=caps, root_uri=repo.as_uri(),
            workspace_folders=[T.WorkspaceFolder(uri=repo.as_uri(), name="project")],
        ))
        editor.client.initialized(T.InitializedParams())
        uri = (repo / "greet.py").as_uri()
        editor.docs[uri] = (ORIGINAL, 1)
        editor.client.text_document_did_open(T.DidOpenTextDocumentParams(
            T.TextDocumentItem(uri=uri, language_id="python", version=1, text=ORIGINAL)
        ))
        try:
            editor.say("\n1. The editor opens greet.py:\n" + textwrap.indent(ORIGINAL, "   | "))
            editor.say(f"2. Prompting agent '{args.agent}' (agentBridge.prompt)...")
            started = await editor.command("agentBridge.prompt", {"text": PROMPT, "agent": args.agent})
            session_id = started['sessionId']
            result = await editor.command("agentBridge.awaitTurn", {"sessionId": session_id,
                                                                     "turnId": started['turnId']})
            editor.say(f"\n3. The turn finished: {json.dumps(result)}")
            if result['status'] != "completed":
                editor.say("   the turn did not complete; see the error above")
                return 1
            pending = await editor.command("agentBridge.pending", {"sessionId": session_id})
            editor.say("\n4. Pending hunks (agentBridge.pending), none applied yet:")
            hunks = []
            for entry in pending:
                for hunk in entry["hunks"]:
                    hunks.append(hunk)
                    start, end = hunk["range"]["start"]["line"], hunk["range"]["end"]["line"]
                    editor.say(f"   {hunk['hunkId']} by {hunk['agent']}, lines {start + 1}-{end}:")
                    editor.say(textwrap.indent(hunk["oldText"], "     - ").rstrip())
                    editor.say(textwrap.indent(hunk["newText"], "     + ").rstrip())
            if len(hunks) < 2:
                editor.say("   expected two hunks")
                return 1
            first, second = hunks[0], hunks[1]
            editor.say(f"\n5. Applying {first['hunkId']} through its code action (textDocument/codeAction):")
            line = first["range"]["start"]["line"]
            actions = await editor.client.text_document_code_action_async(T.CodeActionParams(
                text_document=T.TextDocumentIdentifier(uri=uri),
                range=T.Range(T.Position(line, 0), T.Position(line, 0)),
                context=T.CodeActionContext(diagnostics=[]),
            ))
            action = next(a for a in actions or [] if isinstance(a, T.CodeAction) and a.title.startswith("Apply"))
            editor.say(f"   action: {action.title}")
            assert action.edit is not None
            editor.pending_changed.clear()
            editor.apply_workspace_edit(action.edit)
            # The bridge sees the document reach the planned text and re-baselines the hunk.
            await asyncio.wait_for(editor.pending_changed.wait(), 10)
            editor.say("   the document now reads:\n" + textwrap.indent(editor.docs[uri][0], "   | "))
            editor.say(f"6. Rejecting {second['hunkId']} (agentBridge.reject): reverted in the agent's worktree.")
            rejected = await editor.command("agentBridge.reject", {"sessionId": session_id, "uri": uri,
                                                                   "hunkId": second['hunkId']})
            editor.say(f"   rejected: {rejected['rejected']}; the agent is told with its next prompt.")
            left = await editor.command("agentBridge.pending", {"sessionId": session_id})
            editor.say(f"\n7. Pending hunks left: {sum(len(e['hunks']) for e in left)}")
            on_disk = (repo / "greet.py").read_text()
            editor.say("   your file on disk is untouched until you save: "
                       + ("yes" if on_disk == ORIGINAL else "NO"))
            await editor.command("agentBridge.closeSession", {"sessionId": session_id})
            editor.say("8. Session closed; its worktree is removed.")
            return 0
        finally:
            await editor.client.shutdown_async(None)
            editor.client.exit(None)
            await editor.client.stop()


def run_demo(args: argparse.Namespace, out: Any = None) -> int:
    return asyncio.run(_run(args, out or sys.stdout))
