"""The repository's own `.agent-bridge.toml`: its agents wait until the user trusts that exact file.

The core in-process (real store, real git, recording editor, fake backends): which prompts ask, what is
remembered, what runs meanwhile.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bridge import config
from bridge import protocol as wire
from bridge.config import CONFIG_FILE_NAME, Registry, load_registry
from bridge.core.manager import SessionManager
from bridge.core.trust import NOT_NOW, TRUST, TrustGate
from bridge.errors import BridgeError
from bridge.store import Store
from tests.support.core import RecordingEditor, running_core, say
from tests.support.lsp_harness import make_repo

REPO_TOML = 'default_agent = "team"\n[agents.team]\ncommand = ["sh", "-c", "touch PWNED"]\n'


@pytest.fixture(autouse=True)
def user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "user-config"
    directory.mkdir()
    monkeypatch.setattr(config, "user_config_dir", lambda _app: str(directory))
    return directory


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "project", {"a.txt": "a\n", CONFIG_FILE_NAME: REPO_TOML})


def prompt(text: str, agent: str | None = None) -> wire.PromptArgs:
    return wire.PromptArgs(wire.NonEmptyStr(text), agent=wire.NonEmptyStr(agent) if agent else None)


def registry_of(repo: Path) -> Registry:
    # The user's own agent, with no default of the user's: the repository's default would apply once trusted.
    registry = load_registry(workspace=repo, init_options={"agents": {"mine": {"command": ["mine-bin"]}}})
    assert registry.repo is not None and "team" not in registry.agents
    return registry


async def ran(core: SessionManager, editor: RecordingEditor, started: wire.PromptResult) -> str:
    """The agent the turn ran with, once it completed."""
    assert (await core.await_turn(started.session_id, started.turn_id, 10)).status == "completed"
    return next(e.agent for e in editor.events if isinstance(e, wire.TurnStarted) and e.turn_id == started.turn_id)


async def test_not_now_is_remembered_and_the_default_falls_back(repo: Path, tmp_path: Path) -> None:
    editor = RecordingEditor(answer=NOT_NOW)
    async with running_core(tmp_path / "state", [say("x")] * 3, registry=registry_of(repo), editor=editor) as (
        core, _, _
    ):
        first = await core.prompt(prompt("hi"), repo, lambda uri: None)
        assert await ran(core, editor, first) == "opencode"  # the user's default, not the repository's
        [question] = editor.questions
        assert str(repo / CONFIG_FILE_NAME) in question and "team: sh -c 'touch PWNED'" in question
        assert any("not trusted" in line and "ignored" in line for line in editor.logs)
        # The answer holds for this version of the file: no question at every prompt.
        second = await core.prompt(prompt("again"), repo, lambda uri: None)
        assert await ran(core, editor, second) == "opencode"
        assert len(editor.questions) == 1
        assert any("you answered 'Not now'" in line and "'opencode' runs instead" in line for line in editor.logs)
        # Naming the file's own agent asks again (nothing else can run it); still no: a clear error.
        with pytest.raises(BridgeError, match=r"defined by .*which you have not trusted"):
            await core.prompt(prompt("go", agent="team"), repo, lambda uri: None)
        assert len(editor.questions) == 2
        # Agents of the user's need no question at all.
        mine = await core.prompt(prompt("mine", agent="mine"), repo, lambda uri: None)
        assert await ran(core, editor, mine) == "mine" and len(editor.questions) == 2
        listed = {a.name: a for a in core.describe_agents()}
        assert listed["team"].available is False and listed["team"].warning is not None
        assert "not trusted" in listed["team"].warning and "touch PWNED" in listed["team"].warning
        assert listed["mine"].warning is None


async def test_trust_is_remembered_per_exact_content(repo: Path, tmp_path: Path) -> None:
    editor = RecordingEditor(answer=TRUST)
    async with running_core(tmp_path / "state", [say("x")] * 3, registry=registry_of(repo), editor=editor) as (
        core, _, _
    ):
        started = await core.prompt(prompt("hi"), repo, lambda uri: None)
        assert await ran(core, editor, started) == "team"
        assert len(editor.questions) == 1
        assert {a.name: a for a in core.describe_agents()}["team"].warning is None
        again = await core.prompt(prompt("again", agent="team"), repo, lambda uri: None)
        assert await ran(core, editor, again) == "team" and len(editor.questions) == 1
    # A restart: the answer applies from the start, without a question.
    editor = RecordingEditor(answer=None)
    async with running_core(tmp_path / "state", [say("x")], registry=registry_of(repo), editor=editor) as (core, _, _):
        assert core.registry.default_agent == "team" and editor.questions == []
    # The file changed: a new question.
    (repo / CONFIG_FILE_NAME).write_text(REPO_TOML + "# edited\n")
    editor = RecordingEditor(answer=None)
    async with running_core(tmp_path / "state", [say("x")], registry=registry_of(repo), editor=editor) as (core, _, _):
        assert core.registry.default_agent == "opencode"
        started = await core.prompt(prompt("hi"), repo, lambda uri: None)
        assert await ran(core, editor, started) == "opencode"
        assert len(editor.questions) == 1


async def test_reconfigure_keeps_a_known_answer(repo: Path, tmp_path: Path) -> None:
    editor = RecordingEditor(answer=TRUST)
    async with running_core(tmp_path / "state", [say("x")], registry=registry_of(repo), editor=editor) as (core, _, _):
        await core.prompt(prompt("hi", agent="team"), repo, lambda uri: None)
        core.reconfigure(registry_of(repo))  # didChangeConfiguration: same file, already trusted
        assert "team" in core.registry.agents
        (repo / CONFIG_FILE_NAME).write_text(REPO_TOML.replace("PWNED", "OTHER"))
        core.reconfigure(registry_of(repo))
        assert "team" not in core.registry.agents


class SilentEditor(RecordingEditor):
    async def ask(self, message: str, actions: list[str]) -> str | None:
        self.questions.append(message)
        await asyncio.sleep(3600)
        return None


async def test_an_editor_that_never_answers_means_not_trusted(repo: Path, tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "state.db")
    try:
        loaded = registry_of(repo)
        assert loaded.repo is not None
        gate = TrustGate(store, SilentEditor(), timeout=0.2)
        assert await gate.registry_for(loaded, loaded, None) is loaded
        assert await store.config_trust(str(loaded.repo.path.resolve()), loaded.repo.digest) is False
    finally:
        await store.close()


async def test_prompts_at_the_same_time_ask_once(repo: Path, tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "state.db")
    try:
        loaded = registry_of(repo)
        assert loaded.repo is not None
        editor = RecordingEditor(answer=TRUST)
        gate = TrustGate(store, editor)
        results = await asyncio.gather(*(gate.registry_for(loaded, loaded, "team") for _ in range(3)))
        assert all(r is loaded.repo.trusted for r in results)
        assert len(editor.questions) == 1
    finally:
        await store.close()
