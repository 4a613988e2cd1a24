"""A new session's worktree is made after the prompt returned: turns queue until it exists, in order, a second
prompt joins the session in the making, cancel and failures reach the turns (in-process core, fake backend, real
git and SQLite; the snapshot is held back with an event so "before the worktree exists" is a fact, not a timing)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.errors import GitError
from bridge.git import worktrees
from tests.support.core import running_core, say
from tests.support.lsp_harness import make_repo
from tests.unit.core.test_manager import ORIGINAL, no_docs, prompt


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "project", {"greet.py": ORIGINAL})


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Snapshots wait for this event: the session stays in the making until the test sets it."""
    release = threading.Event()
    real = worktrees.snapshot_base

    def slow(*args: object, **kwargs: object) -> str:
        assert release.wait(30), "the test never released the snapshot"
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(worktrees, "snapshot_base", slow)
    yield release
    release.set()


async def test_prompt_returns_before_the_worktree_exists_and_turns_run_in_order(
    repo: Path, tmp_path: Path, held: threading.Event
) -> None:
    async with running_core(tmp_path / "state", [say("one"), say("two")]) as (core, factory, editor):
        first = await core.prompt(prompt("first"), repo, no_docs)
        assert first.session_id not in core.sessions  # returned while the snapshot is held back
        assert not (tmp_path / "state" / "worktrees" / first.session_id).exists()
        # A prompt without a session continues the session in the making; nothing has started yet.
        second = await core.prompt(prompt("second"), repo, no_docs)
        assert second.session_id == first.session_id
        assert "turnStarted" not in editor.kinds()
        # Listed at once, as being prepared, with its history: the ids a prompt returned are always found.
        [listed] = await core.describe_sessions()
        assert listed.session_id == first.session_id and listed.preparing and listed.queued_turns == 2
        assert [(h.turn_id, h.status) for h in await core.history(first.session_id)] == [
            (first.turn_id, "queued"), (second.turn_id, "queued")]
        waiting = asyncio.create_task(core.await_turn(second.session_id, second.turn_id, 30))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        held.set()
        assert (await waiting).status == "completed"
        assert (await core.await_turn(first.session_id, first.turn_id, 5)).status == "completed"
        assert factory.created[0].prompts == ["first", "second"]
        assert [s.session_id for s in await core.describe_sessions()] == [first.session_id]


async def test_cancel_before_the_worktree_exists_cancels_the_turn(
    repo: Path, tmp_path: Path, held: threading.Event
) -> None:
    async with running_core(tmp_path / "state", [say("never")]) as (core, _, _):
        started = await core.prompt(prompt("go"), repo, no_docs)
        assert await core.cancel(started.session_id) is True
        held.set()
        assert (await core.await_turn(started.session_id, started.turn_id, 30)).status == "cancelled"


async def test_a_session_that_cannot_be_made_fails_its_turns_with_the_reason(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> str:
        raise GitError("git write-tree failed: disk full")

    monkeypatch.setattr(worktrees, "snapshot_base", broken)
    async with running_core(tmp_path / "state", [say("never")]) as (core, _, editor):
        started = await core.prompt(prompt("go"), repo, no_docs)
        result = await core.await_turn(started.session_id, started.turn_id, 30)
        assert result.status == "failed" and "disk full" in (result.error or "")
        ended = [e for e in editor.events if getattr(e, "kind", None) == "turnEnded"]
        assert ended and "disk full" in (getattr(ended[0], "error", "") or "")
        assert await core.describe_sessions() == []
        # The bridge goes on: the next prompt makes a new session once git works again.
        monkeypatch.undo()
        again = await core.prompt(prompt("again"), repo, no_docs)
        assert again.session_id != started.session_id
