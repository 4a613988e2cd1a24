"""What a window without our extension sees of a turn: plain LSP messages instead of `agentBridge/event`.

A client declares `{"agentBridge": {"events": true}}` in its experimental capabilities when it draws the events
itself (our VS Code and Neovim clients). Any other client (eglot, Helix, Zed, Kate) would drop or warn about an
unknown notification, so it gets none; instead the streamed text goes to `window/logMessage` a line at a time,
and when the turn ends its answer (and how many changes wait for review) pops up as `window/showMessage`.
Running tools already show in the turn's work-done progress.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from lsprotocol import types as T

from bridge.protocol import Event, NoticeEvent, TextEvent, TurnEnded

ANSWER_CAP = 1_000  # characters of the answer a message shows: its end, where agents sum up
LOG_CHUNK = 4_000  # text without a line break is logged once this much has gathered

Send = Callable[[T.MessageType, str], None]


def declares_events(caps: T.ClientCapabilities | None) -> bool:
    """Whether the client draws `agentBridge/event` itself (experimental `agentBridge.events`)."""
    experimental = caps.experimental if caps is not None else None
    bridge = experimental.get("agentBridge") if isinstance(experimental, Mapping) else None
    return isinstance(bridge, Mapping) and bridge.get("events") is True


class PlainReporter:
    """Turns one window's events into `window/showMessage` and `window/logMessage`."""

    def __init__(self, show: Send, log: Send, pending_hunks: Callable[[str], int]) -> None:
        self._show = show
        self._log = log
        self._pending_hunks = pending_hunks
        self._unlogged: dict[str, tuple[str, str]] = {}  # turn id -> (agent, text not logged yet)
        self._answers: dict[str, tuple[str, bool]] = {}  # turn id -> the answer's end, whether it was cut

    def event(self, event: Event) -> None:
        turn = event.turn_id
        if isinstance(event, TextEvent) and turn is not None:
            answer, cut = self._answers.get(turn, ("", False))
            answer += event.text
            keep = ANSWER_CAP + 100  # room for the white space the message trims
            self._answers[turn] = (answer[-keep:], cut or len(answer) > keep)
            _, before = self._unlogged.get(turn, (event.agent, ""))
            self._unlogged[turn] = (event.agent, before + event.text)
            self._log_lines(turn)
            return
        if turn is not None:
            self._log_rest(turn)  # text before a tool call or the end is a thought of its own
        if isinstance(event, NoticeEvent):
            self._log(T.MessageType.Info, f"{event.agent}: {event.message}")
        elif isinstance(event, TurnEnded) and turn is not None:
            self._show(*self._summary(event, *self._answers.pop(turn, ("", False))))

    def _log_lines(self, turn: str) -> None:
        """Log the complete lines gathered (or a long run without a break); keep the unfinished line."""
        agent, text = self._unlogged[turn]
        cut = text.rfind("\n") + 1
        if cut == 0 and len(text) >= LOG_CHUNK:
            cut = len(text)
        if cut:
            self._log(T.MessageType.Info, f"{agent}: {text[:cut].rstrip(chr(10))}")
            self._unlogged[turn] = (agent, text[cut:])

    def _log_rest(self, turn: str) -> None:
        agent, text = self._unlogged.pop(turn, ("", ""))
        if text.strip():
            self._log(T.MessageType.Info, f"{agent}: {text}")

    def _summary(self, ended: TurnEnded, answer: str, cut: bool) -> tuple[T.MessageType, str]:
        answer = answer.strip()
        if cut or len(answer) > ANSWER_CAP:
            answer = "…" + answer[-ANSWER_CAP:]
        if ended.status == "failed":
            kind, said = T.MessageType.Error, f"the turn failed: {ended.error or 'no reason given'}"
            said = f"{said}\n{answer}" if answer else said
        elif ended.status == "cancelled":
            kind, said = T.MessageType.Warning, f"the turn was cancelled{': ' + answer if answer else ''}"
        else:
            kind, said = T.MessageType.Info, answer or f"the turn ended ({ended.stop_reason or ended.status})"
        hunks = self._pending_hunks(ended.session_id)
        if hunks:
            noun = "pending change" if hunks == 1 else "pending changes"
            said += f" — {hunks} {noun}: use code actions to apply or reject"
        return kind, f"{ended.agent}: {said}"
