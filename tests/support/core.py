"""Running the core in-process: a SessionManager with a real store and real git, a recording editor, and a
scripted backend passed in through the factory (no server, no agent process)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from backends.base import AgentCrashed, AgentState, BackendHost, PromptPart, StartInfo, SteeringError, TextPart
from backends.events import TextDelta, TurnOutcome, Usage
from bridge import protocol as wire
from bridge.config import AgentConfig, BridgeSettings, Registry
from bridge.core.manager import SessionManager
from bridge.core.plans import EditOp
from bridge.store import Store

# What a fake agent does with one prompt: gets the host and the prompt's text, returns a stop reason.
Step = Callable[[BackendHost, str], Awaitable[str]]


def write(path: str, text: str, answer: str = "done") -> Step:
    """A turn that writes `text` to `path` (through the host's path guard) and answers `answer`."""

    async def step(host: BackendHost, prompt: str) -> str:
        target = host.resolve_path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        await host.on_event(TextDelta(answer))
        return "end_turn"

    return step


def say(answer: str) -> Step:
    async def step(host: BackendHost, prompt: str) -> str:
        await host.on_event(TextDelta(answer))
        return "end_turn"

    return step


def hang_until_cancelled() -> Step:
    async def step(host: BackendHost, prompt: str) -> str:
        await asyncio.sleep(3600)
        return "end_turn"

    return step


class FakeBackend:
    """An AgentBackend that runs the next scripted step for each prompt and records what it was sent."""

    def __init__(self, host: BackendHost, steps: list[Step], offers: AgentState | None = None) -> None:
        self.host = host
        self.steps = steps
        # What it offers to steer it, as it starts; it takes embedded resources, as most agents do.
        self.offers = offers or AgentState(embedded_context=True)
        self.steered: list[tuple[str, str | bool]] = []  # (mode or option id, value) set, in order
        self.prompts: list[str] = []
        self.closed = False
        self.crashed = False
        self._task: asyncio.Task[str] | None = None

    @property
    def pid(self) -> int | None:
        return None

    @property
    def alive(self) -> bool:
        return not self.closed and not self.crashed

    async def start(self, resume_id: str | None = None) -> StartInfo:
        return StartInfo("fake-session", resumed=resume_id is not None)

    async def prompt(self, parts: list[PromptPart]) -> TurnOutcome:
        text = "\n".join(p.text for p in parts if isinstance(p, TextPart))
        self.prompts.append(text)
        if not self.steps:
            self.crashed = True
            raise AgentCrashed("the fake agent has no more steps and exited")
        self._task = asyncio.ensure_future(self.steps.pop(0)(self.host, text))
        try:
            stop = await self._task
        except asyncio.CancelledError:
            stop = "cancelled"
        return TurnOutcome(stop, Usage(input_tokens=len(text), output_tokens=1))  # type: ignore[arg-type]

    async def cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def close(self) -> None:
        self.closed = True

    def state(self) -> AgentState:
        return self.offers

    async def set_mode(self, mode_id: str) -> None:
        if mode_id not in {m.id for m in self.offers.modes}:
            raise SteeringError(f"no mode {mode_id!r}")
        self.steered.append(("mode", mode_id))
        self.offers = replace(self.offers, current_mode_id=mode_id)

    async def set_option(self, option_id: str, value: str | bool) -> None:
        if option_id not in {o["id"] for o in self.offers.config_options}:
            raise SteeringError(f"no option {option_id!r}")
        self.steered.append((option_id, value))
        options = tuple({**o, "currentValue": value} if o["id"] == option_id else o for o in self.offers.config_options)
        self.offers = replace(self.offers, config_options=options)


@dataclass
class FakeFactory:
    """A BackendFactory handing out FakeBackends that share one list of steps."""

    steps: list[Step] = field(default_factory=list)
    created: list[FakeBackend] = field(default_factory=list)
    offers: AgentState = field(default_factory=AgentState)  # what each new backend offers to steer it
    prewarmed: list[str] = field(default_factory=list)  # agents whose start was asked for ahead of a prompt

    def create(
        self, agent: AgentConfig, host: BackendHost, session_id: str, git_dir: Path | None = None,
        repo_root: Path | None = None,
    ) -> FakeBackend:
        backend = FakeBackend(host, self.steps, self.offers)
        self.created.append(backend)
        return backend

    def prewarm(self, agent: AgentConfig) -> None:
        self.prewarmed.append(agent.name)

    def kind(self, agent: AgentConfig) -> str:
        return "fake"

    def describe(self, agent: AgentConfig) -> dict[str, Any]:
        return {}

    async def close(self) -> None:
        pass


@dataclass
class RecordingEditor:
    """The Editor port, recording everything the core tells it; permission questions get `answer`."""

    events: list[wire.Event] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    answer: str | None = None
    unsaved: dict[str, str] = field(default_factory=dict)
    questions: list[str] = field(default_factory=list)

    def notify_event(self, event: wire.Event) -> None:
        self.events.append(event)

    async def progress_begin(self, turn_id: str, title: str) -> None:
        pass

    def progress_report(self, turn_id: str, message: str) -> None:
        pass

    def progress_end(self, turn_id: str, message: str) -> None:
        pass

    async def ask(self, message: str, actions: list[str]) -> str | None:
        self.questions.append(message)
        return self.answer

    def pending_changed(self, session_id: str) -> None:
        pass

    def unsaved_texts(self, repo_root: Path) -> dict[str, str]:
        return dict(self.unsaved)

    def log(self, message: str, error: bool = False) -> None:
        self.logs.append(message)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]


class FakeEditorBuffer:
    """Applies the core's edit operations to in-memory documents, as an editor applies a workspace edit."""

    def __init__(self, docs: dict[str, str]) -> None:
        self.docs = docs
        self.labels: list[str] = []

    async def send_edit(self, operations: Sequence[EditOp], label: str) -> tuple[bool, str | None]:
        from bridge.core.plans import ReplaceText
        from bridge.textlines import split_lines

        self.labels.append(label)
        for op in operations:
            if isinstance(op, ReplaceText):
                lines = split_lines(self.docs.get(op.uri, ""))
                start, end = op.start[0], op.end[0]  # whole-line edits (character 0) in these tests
                lines[start:end] = split_lines(op.new_text)
                self.docs[op.uri] = "".join(lines)
        return True, None


@asynccontextmanager
async def running_core(
    state_dir: Path,
    steps: list[Step],
    settings: BridgeSettings | None = None,
    registry: Registry | None = None,
    editor: RecordingEditor | None = None,
) -> AsyncIterator[tuple[SessionManager, FakeFactory, RecordingEditor]]:
    if registry is None:
        agent = AgentConfig("fake", "acp", ("fake-agent",))
        registry = Registry({"fake": agent}, "fake", settings or BridgeSettings())
    store = await Store.open(state_dir / "state.db")
    factory = FakeFactory(steps)
    editor = editor if editor is not None else RecordingEditor()
    manager = SessionManager(store, state_dir, registry, editor, factory)
    await manager.start()
    try:
        yield manager, factory, editor
    finally:
        await manager.shutdown()
        await store.close()
