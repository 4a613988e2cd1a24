"""Spare worktrees in the core (in-process core, fake backend, real git and SQLite): an editor attaching fills
one, a new session takes it and holds exactly the snapshot of what the user sees then, a spare is never a
session, leftovers go at start without an archive, and a spare that cannot be used falls back to a checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.core.manager import SessionManager
from bridge.git import spares as git_spares
from tests.support.core import running_core, write
from tests.support.lsp_harness import make_repo
from tests.unit.core.test_manager import ORIGINAL, no_docs, prompt
from tests.unit.git.test_spares import files_of, files_on_disk
from tests.unit.git.test_worktrees import git

AGENT_TEXT = "def agent():\n    pass\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "project", {"greet.py": ORIGINAL, "old.txt": "old\n", "pkg": "a file\n"})


async def attach(core: SessionManager, repo: Path) -> Path:
    """What an editor attaching to `repo` does; returns the spare it made."""
    await core.configure(str(repo), core.registry)
    await core.spares.settled()
    [spare] = list(core.spares.root.iterdir())
    return spare


def worktrees_of(repo: Path) -> list[str]:
    return [line[len("worktree ") :] for line in git(repo, "worktree", "list", "--porcelain").splitlines()
            if line.startswith("worktree ")]


async def test_a_session_from_a_spare_holds_exactly_the_snapshot_and_its_edits_are_pending(
    repo: Path, tmp_path: Path
) -> None:
    async with running_core(tmp_path / "state", [write("agent.py", AGENT_TEXT)]) as (core, _, editor):
        spare = await attach(core, repo)
        # Since the spare was made: an uncommitted edit, an untracked file, a deletion, a file that became a
        # directory, and an unsaved buffer.
        (repo / "greet.py").write_text(ORIGINAL + "# mine\n")
        (repo / "notes.txt").write_text("untracked\n")
        (repo / "old.txt").unlink()
        (repo / "pkg").unlink()
        (repo / "pkg").mkdir()
        (repo / "pkg" / "mod.py").write_text("x = 1\n")
        editor.unsaved["greet.py"] = ORIGINAL + "# unsaved\n"

        started = await core.prompt(prompt("go", None), repo, no_docs)
        assert (await core.await_turn(started.session_id, started.turn_id, 30)).status == "completed"
        live = core.session(started.session_id)
        assert not spare.exists(), "the spare was not taken"
        await live.settled()  # the turn's commit follows its end
        assert git(live.path, "rev-parse", "HEAD^").strip() == live.base_commit
        on_disk = files_on_disk(live.path)
        assert on_disk.pop("agent.py") == AGENT_TEXT.encode()
        assert on_disk == files_of(repo, live.base_commit)
        assert on_disk["greet.py"] == (ORIGINAL + "# unsaved\n").encode()
        assert "old.txt" not in on_disk and on_disk["pkg/mod.py"] == b"x = 1\n" and "notes.txt" in on_disk
        assert [c.path for c in live.pending] == ["agent.py"]
        # Another spare is made for the next session; it is never listed as a session.
        await core.spares.settled()
        assert len(list(core.spares.root.iterdir())) == 1
        assert [s.session_id for s in await core.describe_sessions()] == [started.session_id]


async def test_leftover_spares_are_removed_at_start_without_an_archive(repo: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with running_core(state, []) as (core, _, _):
        spare = await attach(core, repo)
    assert spare.is_dir()  # left by that run, as after a crash
    async with running_core(state, []) as (core, _, editor):
        await core.spares.settled()
        assert not spare.exists()
        assert await core.describe_sessions() == []
        assert not any("orphaned" in line for line in editor.logs)
    assert worktrees_of(repo) == [str(repo)]
    assert git(repo, "for-each-ref", "refs/agent-bridge", "refs/heads/agent-bridge") == ""


async def test_a_spare_that_cannot_be_used_falls_back_to_a_checkout(repo: Path, tmp_path: Path) -> None:
    async with running_core(tmp_path / "state", [write("agent.py", AGENT_TEXT)]) as (core, _, editor):
        spare = await attach(core, repo)
        (spare / "stray.txt").write_text("written into the spare\n")  # a spare is clean, or it is not used
        started = await core.prompt(prompt("go", None), repo, no_docs)
        assert (await core.await_turn(started.session_id, started.turn_id, 30)).status == "completed"
        live = core.session(started.session_id)
        on_disk = files_on_disk(live.path)
        assert "stray.txt" not in on_disk
        assert on_disk.pop("agent.py") == AGENT_TEXT.encode()
        assert on_disk == files_of(repo, live.base_commit)
        assert [c.path for c in live.pending] == ["agent.py"]
        await core.spares.settled()
        assert not spare.exists()
        # What failed would fail again: no more spares for that repository (the user is told why once).
        assert list(core.spares.root.iterdir()) == []
        assert sorted(worktrees_of(repo)) == sorted([str(repo), str(live.path)])
        assert any("could not be used" in line and "written to" in line for line in editor.logs)


async def test_a_failing_spare_never_fails_the_session(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_core(tmp_path / "state", [write("agent.py", AGENT_TEXT)]) as (core, _, _):
        await attach(core, repo)

        def broken(*args: object) -> None:
            raise RuntimeError("disk on fire")

        monkeypatch.setattr(git_spares, "adopt_spare", broken)
        started = await core.prompt(prompt("go", None), repo, no_docs)
        assert (await core.await_turn(started.session_id, started.turn_id, 30)).status == "completed"
        assert [c.path for c in core.session(started.session_id).pending] == ["agent.py"]


async def test_a_session_from_a_spare_is_restored_and_closed_as_any_other(repo: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with running_core(state, [write("agent.py", AGENT_TEXT)]) as (core, _, _):
        await attach(core, repo)
        started = await core.prompt(prompt("go", None), repo, no_docs)
        assert (await core.await_turn(started.session_id, started.turn_id, 30)).status == "completed"
        path = core.session(started.session_id).path
    async with running_core(state, []) as (core, _, editor):
        live = core.session(started.session_id)  # found again from the repository's record, not reaped
        assert live.path == path and [c.path for c in live.pending] == ["agent.py"]
        assert not any("orphaned" in line or "missing" in line for line in editor.logs)
        assert await core.close_session(started.session_id)
        await core.spares.settled()
    assert not path.exists() and worktrees_of(repo) == [str(repo)]
    # Its unreviewed work is kept as any closed session's.
    assert git(repo, "for-each-ref", "--format=%(refname)").split() == [
        f"refs/agent-bridge/archive/{started.session_id}", "refs/heads/main"]
