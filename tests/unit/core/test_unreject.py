"""Taking a rejection back: the agent's version returns to the worktree, its hunks are pending again with the same
ids and attribution, and the agent is not told about a rejection that no longer stands (in-process core, fake
backend, real git and SQLite)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge import protocol as wire
from bridge.errors import CannotUnreject
from bridge.git.worktrees import head
from tests.support.core import running_core, say, write
from tests.support.lsp_harness import make_repo
from tests.unit.core.test_manager import no_docs, prompt

ORIGINAL = "".join(f"line {i}\n" for i in range(10))
TWO_EDITS = ORIGINAL.replace("line 1\n", "line one\n").replace("line 8\n", "line eight\n")  # two hunks, far apart
LATER = TWO_EDITS.replace("line one\n", "line uno\n")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "project", {"greet.py": ORIGINAL, "other.py": "x = 1\n"})


async def test_unreject_restores_the_hunks_as_they_were(repo: Path, tmp_path: Path) -> None:
    steps = [write("greet.py", TWO_EDITS, "two edits"), say("noted")]
    async with running_core(tmp_path / "state", steps) as (core, factory, _):
        started = await core.prompt(prompt("edit"), repo, no_docs)
        await core.await_turn(started.session_id, started.turn_id, 10)
        session = core.session(started.session_id)
        uri = (repo / "greet.py").as_uri()
        before = {h.hunk_id for h in session.pending[0].hunks}
        assert len(before) == 2
        one = sorted(before)[0]

        result = await session.reject(uri, one)
        assert result.rejected == 1 and result.rejection_id is not None
        assert {h.hunk_id for h in session.pending[0].hunks} == before - {one}

        assert await session.unreject(result.rejection_id) == 1
        assert (session.path / "greet.py").read_text() == TWO_EDITS
        assert {h.hunk_id for h in session.pending[0].hunks} == before
        row = session.attribution[("greet.py", one)]
        assert row.agent == "fake" and row.turn_id == started.turn_id and row.status == "pending"

        # Taken back once: a second time is refused, and nothing changes.
        with pytest.raises(CannotUnreject, match="already undone"):
            await session.unreject(result.rejection_id)
        assert (session.path / "greet.py").read_text() == TWO_EDITS

        # The agent never hears of the rejection that was undone.
        again = await core.prompt(prompt("next", started.session_id), repo, no_docs)
        await core.await_turn(again.session_id, again.turn_id, 10)
        assert "REJECTED" not in factory.created[0].prompts[1]


async def test_a_whole_session_rejection_comes_back_whole(repo: Path, tmp_path: Path) -> None:
    steps = [write("greet.py", TWO_EDITS), write("other.py", "x = 2\n")]
    async with running_core(tmp_path / "state", steps) as (core, _, _):
        started = await core.prompt(prompt("edit"), repo, no_docs)
        await core.await_turn(started.session_id, started.turn_id, 10)
        more = await core.prompt(prompt("more", started.session_id), repo, no_docs)
        await core.await_turn(more.session_id, more.turn_id, 10)
        session = core.session(started.session_id)
        assert len(session.pending) == 2
        result = await session.reject(None, None)
        assert result.rejected == 3 and session.pending == ()
        assert await session.unreject(wire.NonEmptyStr(result.rejection_id or "")) == 3
        assert sorted(c.path for c in session.pending) == ["greet.py", "other.py"]
        assert (session.path / "other.py").read_text() == "x = 2\n"


async def test_unreject_refuses_when_the_agent_rewrote_those_lines_since(repo: Path, tmp_path: Path) -> None:
    steps = [write("greet.py", TWO_EDITS), write("greet.py", LATER)]
    async with running_core(tmp_path / "state", steps) as (core, _, _):
        started = await core.prompt(prompt("edit"), repo, no_docs)
        await core.await_turn(started.session_id, started.turn_id, 10)
        session = core.session(started.session_id)
        result = await session.reject((repo / "greet.py").as_uri(), None)
        assert result.rejection_id is not None
        again = await core.prompt(prompt("again", started.session_id), repo, no_docs)
        await core.await_turn(again.session_id, again.turn_id, 10)
        with pytest.raises(CannotUnreject, match=r"greet\.py changed since the rejection"):
            await session.unreject(result.rejection_id)
        assert (session.path / "greet.py").read_text() == LATER


async def test_nothing_rejected_has_no_id_and_bad_ids_are_clear_errors(repo: Path, tmp_path: Path) -> None:
    async with running_core(tmp_path / "state", [write("greet.py", TWO_EDITS)]) as (core, _, _):
        started = await core.prompt(prompt("edit"), repo, no_docs)
        await core.await_turn(started.session_id, started.turn_id, 10)
        session = core.session(started.session_id)
        with pytest.raises(CannotUnreject, match="not a rejection id"):
            await session.unreject("HEAD~1..HEAD")
        with pytest.raises(CannotUnreject, match="not a rejection"):
            # A real range of the session's history that is not a rejection (the turn's own commit).
            await session.unreject(f"{session.base_commit}..{head(session.tree)}")
        with pytest.raises(CannotUnreject, match="not in this session's history"):
            await session.unreject(f"{'a' * 40}..{head(session.tree)}")
        assert (session.path / "greet.py").read_text() == TWO_EDITS
