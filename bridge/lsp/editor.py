"""The `Editor` the core talks to, implemented over an LSP connection (pygls)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import Callable
from pathlib import Path

from lsprotocol import types as T
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from bridge.lsp.plain import PlainReporter, declares_events
from bridge.protocol import EVENT_NOTIFICATION, Event, to_json
from bridge.uris import printable

log = logging.getLogger(__name__)

# What a request to the client can fail with: an error answer, or a connection that is gone.
CLIENT_ERRORS = (JsonRpcException, OSError)


class LspEditor:
    """Sends events, progress, questions and refreshes to the connected LSP client."""

    def __init__(
        self, ls: LanguageServer, on_pending_changed: Callable[[str], None], pending_hunks: Callable[[str], int]
    ) -> None:
        self._ls = ls
        self._on_pending_changed = on_pending_changed
        # A client without our extension gets turns as plain LSP messages (bridge.lsp.plain).
        self._plain = PlainReporter(self._show_message, self._log_message, pending_hunks)
        self._tokens: dict[str, str] = {}  # turn id -> progress token
        self.token_turns: dict[str, str] = {}  # progress token -> turn id
        # Turns whose progress item is being created; those that ended meanwhile get none (it would never end).
        self._creating: dict[str, bool] = {}  # turn id -> ended while creating

    def _caps(self) -> T.ClientCapabilities:
        return self._ls.client_capabilities

    def notify_event(self, event: Event) -> None:
        if declares_events(self._caps()):
            self._ls.protocol.notify(EVENT_NOTIFICATION, to_json(event))
        else:
            self._plain.event(event)

    def _show_message(self, kind: T.MessageType, message: str) -> None:
        with contextlib.suppress(OSError):  # the client is gone
            self._ls.window_show_message(T.ShowMessageParams(type=kind, message=printable(message)))

    def _log_message(self, kind: T.MessageType, message: str) -> None:
        with contextlib.suppress(OSError):
            self._ls.window_log_message(T.LogMessageParams(type=kind, message=printable(message)))

    async def progress_begin(self, turn_id: str, title: str) -> None:
        window = self._caps().window
        if not (window and window.work_done_progress):
            return
        token = f"agent-bridge-{uuid.uuid4().hex[:12]}"
        self._creating[turn_id] = False
        try:
            await self._ls.work_done_progress.create_async(token)
        except CLIENT_ERRORS as exc:  # a client may refuse; the turn goes on without progress
            log.debug("progress create refused: %s", exc)
            return
        except asyncio.CancelledError:
            # pygls cancels the requests still waiting for an answer when the window sends `shutdown`. Under
            # the daemon the turn outlives the window: only a cancellation of the turn itself may end it here.
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            log.debug("progress create withdrawn: the window is leaving")
            return
        finally:
            ended = self._creating.pop(turn_id, False)
        if ended:
            return
        self._tokens[turn_id] = token
        self.token_turns[token] = turn_id
        self._ls.work_done_progress.begin(token, T.WorkDoneProgressBegin(title=title, cancellable=True))

    def progress_report(self, turn_id: str, message: str) -> None:
        token = self._tokens.get(turn_id)
        if token is not None:
            self._ls.work_done_progress.report(token, T.WorkDoneProgressReport(message=message))

    def progress_end(self, turn_id: str, message: str) -> None:
        if turn_id in self._creating:
            self._creating[turn_id] = True
        token = self._tokens.pop(turn_id, None)
        if token is not None:
            self.token_turns.pop(token, None)
            self._ls.work_done_progress.end(token, T.WorkDoneProgressEnd(message=message))

    async def ask(self, message: str, actions: list[str]) -> str | None:
        params = T.ShowMessageRequestParams(
            type=T.MessageType.Warning,
            message=printable(message),
            actions=[T.MessageActionItem(title=a) for a in actions],
        )
        try:
            answer = await self._ls.window_show_message_request_async(params)
        except CLIENT_ERRORS as exc:
            log.warning("permission question failed: %s", exc)
            return None
        return answer.title if answer else None

    def pending_changed(self, session_id: str) -> None:
        self._on_pending_changed(session_id)

    def unsaved_texts(self, repo_root: Path) -> dict[str, str]:
        texts: dict[str, str] = {}
        root = os.path.realpath(repo_root)
        for uri, doc in self._ls.workspace.text_documents.items():
            path = to_fs_path(uri)
            if not path:
                continue
            real = os.path.realpath(path)
            if real.startswith(root + os.sep):
                texts[os.path.relpath(real, root).replace(os.sep, "/")] = doc.source
        return texts

    def log(self, message: str, error: bool = False) -> None:
        (log.error if error else log.info)(message)
        with contextlib.suppress(OSError):  # the client is gone; the log file still has it
            self._ls.window_log_message(
                T.LogMessageParams(
                    type=T.MessageType.Error if error else T.MessageType.Info, message=printable(message)
                )
            )
