"""The core in-process: sessions, turns, warm backends, apply / reject / undo, with a fake backend passed in
through the factory, a real git repository and a real SQLite store (no LSP server, no agent process)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from bridge import protocol as wire
from bridge.core.plans import EditorCaps, LiveDoc
from bridge.errors import BridgeError, UnknownSession
from tests.support.core import FakeEditorBuffer, hang_until_cancelled, running_core, say, write
from tests.support.lsp_harness import make_repo

ORIGINAL = "def greet(name):\n    print('hello ' + name)\n"
EDITED = "def greet(name):\n    print('hi ' + name)\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "project", {"greet.py": ORIGINAL})


def prompt(text: str, session_id: str | None = None) -> wire.PromptArgs:
    return wire.PromptArgs(wire.NonEmptyStr(text), session_id=wire.NonEmptyStr(session_id) if session_id else None)


def no_docs(uri: str) -> LiveDoc | None:
    return None


def git_out(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, check=True).stdout


async def test_a_turn_streams_events_and_leaves_attributed_pending_hunks(repo: Path, tmp_path: Path) -> None:
    async with running_core(tmp_path / "state", [write("greet.py", EDITED, "changed greet")]) as (core, _, editor):
        started = await core.prompt(prompt("make it friendlier"), repo, no_docs)
        result = await core.await_turn(started.session_id, started.turn_id, 10)
        assert result.status == "completed"
        assert editor.kinds() == ["turnStarted", "text", "pendingChanged", "turnEnded"]
        text = editor.events[1]
        assert isinstance(text, wire.TextEvent) and text.text == "changed greet" and text.agent == "fake"
        ended = editor.events[-1]
        assert isinstance(ended, wire.TurnEnded) and ended.usage is not None and ended.usage.output_tokens == 1
        session = core.session(started.session_id)
        [change] = session.pending
        assert change.path == "greet.py"
        [(key, row)] = session.attribution.items()
        assert key[0] == "greet.py" and row.agent == "fake" and row.turn_id == started.turn_id
        assert (repo / "greet.py").read_text() == ORIGINAL  # the user's checkout is never written
        assert (session.path / "greet.py").read_text() == EDITED


async def test_the_second_turn_reuses_the_warm_backend(repo: Path, tmp_path: Path) -> None:
    async with running_core(tmp_path / "state", [say("one"), say("two")]) as (core, factory, _):
        first = await core.prompt(prompt("first"), repo, no_docs)
        await core.await_turn(first.session_id, first.turn_id, 10)
        second = await core.prompt(prompt("second", first.session_id), repo, no_docs)
        assert (await core.await_turn(second.session_id, second.turn_id, 10)).status == "completed"
        assert len(factory.created) == 1
        assert factory.created[0].prompts == ["first", "second"]


async def test_apply_moves_the_base_and_undo_makes_the_hunk_pending_again(repo: Path, tmp_path: Path) -> None:
    async with running_core(tmp_path / "state", [write("greet.py", EDITED)]) as (core, _, _):
        started = await core.prompt(prompt("edit"), repo, no_docs)
        await core.await_turn(started.session_id, started.turn_id, 10)
        session = core.session(started.session_id)
        uri = (repo / "greet.py").as_uri()
        buffer = FakeEditorBuffer({uri: ORIGINAL})

        def lookup(u: str) -> LiveDoc | None:
            return LiveDoc(buffer.docs[u], 1) if u in buffer.docs else None

        base_before = session.base_commit
        result, watches = await session.apply(uri, None, lookup, EditorCaps(), "utf-16", buffer.send_edit)
        assert result == wire.ApplyResult(1, [])
        assert buffer.docs[uri] == EDITED
        assert session.pending == () and session.base_commit != base_before
        [watch] = watches
        assert await session.unapply(watch) is True
        # The base is rewritten to hold the file as before the apply, so the hunk is pending again.
        assert len(session.pending) == 1 and session.pending[0].path == "greet.py"
        assert session.base_commit != watch.applied


async def test_reject_reverts_the_worktree_and_the_agent_hears_of_it(repo: Path, tmp_path: Path) -> None:
    steps = [write("greet.py", EDITED), say("noted")]
    async with running_core(tmp_path / "state", steps) as (core, factory, _):
        started = await core.prompt(prompt("edit"), repo, no_docs)
        await core.await_turn(started.session_id, started.turn_id, 10)
        session = core.session(started.session_id)
        assert (await session.reject((repo / "greet.py").as_uri(), None)).rejected == 1
        assert (session.path / "greet.py").read_text() == ORIGINAL and session.pending == ()
        again = await core.prompt(prompt("next", started.session_id), repo, no_docs)
        await core.await_turn(again.session_id, again.turn_id, 10)
        told = factory.created[0].prompts[1]
        assert "REJECTED" in told and "print('hi ' + name)" in told


async def test_a_crashed_agent_fails_its_turn_and_the_next_turn_gets_a_new_backend(
    repo: Path, tmp_path: Path
) -> None:
    steps: list = []  # no step: the fake agent "exits" on the first prompt
    async with running_core(tmp_path / "state", steps) as (core, factory, _):
        started = await core.prompt(prompt("go"), repo, no_docs)
        failed = await core.await_turn(started.session_id, started.turn_id, 10)
        assert failed.status == "failed" and "exited" in (failed.error or "")
        steps.append(say("back"))
        again = await core.prompt(prompt("again", started.session_id), repo, no_docs)
        assert (await core.await_turn(again.session_id, again.turn_id, 10)).status == "completed"
        assert len(factory.created) == 2 and factory.created[0].closed


async def test_cancel_stops_the_running_turn(repo: Path, tmp_path: Path) -> None:
    async with running_core(tmp_path / "state", [hang_until_cancelled()]) as (core, _, editor):
        started = await core.prompt(prompt("long"), repo, no_docs)
        await core.prepared(started.session_id)  # the new session's worktree is made after the prompt returned
        for _ in range(100):
            if core.session(started.session_id).current is not None and "turnStarted" in editor.kinds():
                break
            await asyncio.sleep(0.02)
        assert core.session(started.session_id).cancel() is True
        result = await core.await_turn(started.session_id, started.turn_id, 10)
        assert result.status == "cancelled"


async def test_unknown_sessions_and_agents_are_clear_errors(repo: Path, tmp_path: Path) -> None:
    async with running_core(tmp_path / "state", []) as (core, _, _):
        with pytest.raises(UnknownSession):
            core.session("nope")
        with pytest.raises(BridgeError, match="unknown agent 'other'"):
            await core.prompt(wire.PromptArgs(wire.NonEmptyStr("x"), agent=wire.NonEmptyStr("other")), repo, no_docs)
        with pytest.raises(BridgeError, match="not inside a git repository"):
            await core.prompt(prompt("x"), tmp_path, no_docs)


async def test_closing_a_session_keeps_unreviewed_work_at_an_archive_ref(repo: Path, tmp_path: Path) -> None:
    async with running_core(tmp_path / "state", [write("greet.py", EDITED)]) as (core, factory, editor):
        started = await core.prompt(prompt("edit"), repo, no_docs)
        await core.await_turn(started.session_id, started.turn_id, 10)
        worktree = core.session(started.session_id).path
        assert await core.close_session(started.session_id) is True
        assert not worktree.exists() and factory.created[0].closed
        assert any("unapplied changes kept at refs/agent-bridge/archive/" in line for line in editor.logs)


# Sticky sessions: a prompt without a session continues the workspace's latest open one


def fresh(text: str) -> wire.PromptArgs:
    return wire.PromptArgs(wire.NonEmptyStr(text), new_session=wire.StrictBool(True))


async def test_a_prompt_without_a_session_continues_the_latest_and_new_session_starts_another(
    repo: Path, tmp_path: Path
) -> None:
    async with running_core(tmp_path / "state", [say("x")] * 6) as (core, _, _):
        first = await core.prompt(prompt("one"), repo, no_docs)
        again = await core.prompt(prompt("two"), repo, no_docs)
        assert again.session_id == first.session_id
        other = await core.prompt(fresh("three"), repo, no_docs)
        assert other.session_id != first.session_id
        assert (await core.prompt(prompt("four"), repo, no_docs)).session_id == other.session_id
        # Prompting the older one by id makes it the latest again.
        await core.prompt(prompt("five", first.session_id), repo, no_docs)
        assert (await core.prompt(prompt("six"), repo, no_docs)).session_id == first.session_id
        for sid in {first.session_id, other.session_id}:
            await core.await_turn(sid, None, 10)


async def test_a_closed_session_is_never_continued(repo: Path, tmp_path: Path) -> None:
    async with running_core(tmp_path / "state", [say("x")] * 2) as (core, _, _):
        first = await core.prompt(prompt("one"), repo, no_docs)
        await core.await_turn(first.session_id, first.turn_id, 10)
        assert await core.close_session(first.session_id)
        after = await core.prompt(prompt("two"), repo, no_docs)
        assert after.session_id != first.session_id
        await core.await_turn(after.session_id, after.turn_id, 10)


async def test_prompts_at_once_into_a_workspace_without_sessions_share_one(repo: Path, tmp_path: Path) -> None:
    async with running_core(tmp_path / "state", [say("x")] * 3) as (core, _, _):
        started = await asyncio.gather(*(core.prompt(prompt(f"p{i}"), repo, no_docs) for i in range(3)))
        await core.prepared(started[0].session_id)
        assert len({s.session_id for s in started}) == 1 and len(core.sessions) == 1
        await core.await_turn(started[0].session_id, started[-1].turn_id, 10)


async def test_the_latest_session_survives_a_restart(repo: Path, tmp_path: Path) -> None:
    async with running_core(tmp_path / "state", [say("x")] * 3) as (core, _, _):
        older = await core.prompt(prompt("one"), repo, no_docs)
        newer = await core.prompt(fresh("two"), repo, no_docs)
        # The older session was created first but prompted last.
        last = await core.prompt(prompt("three", older.session_id), repo, no_docs)
        for started in (newer, last):
            await core.await_turn(started.session_id, started.turn_id, 10)
    async with running_core(tmp_path / "state", [say("x")]) as (core, _, _):
        started = await core.prompt(prompt("after the restart"), repo, no_docs)
        assert started.session_id == older.session_id
        await core.await_turn(started.session_id, started.turn_id, 10)


async def test_a_window_without_a_folder_continues_only_a_session_of_the_documents_repository(
    repo: Path, tmp_path: Path
) -> None:
    other = make_repo(tmp_path / "other", {"b.py": "x = 1\n"})
    async with running_core(tmp_path / "state", [say("x")] * 4) as (core, _, _):
        mine = await core.prompt(prompt("one"), repo, no_docs)
        await core.prompt(prompt("two"), other, no_docs)  # the latest session overall, of another repository
        in_repo = wire.PromptArgs(wire.NonEmptyStr("three"), uri=wire.FileUri((repo / "greet.py").as_uri()))
        assert (await core.prompt(in_repo, None, no_docs)).session_id == mine.session_id
        with pytest.raises(BridgeError, match="no workspace folder is open"):
            await core.prompt(prompt("four"), None, no_docs)
        for live in list(core.sessions.values()):
            await core.await_turn(live.id, None, 10)


async def test_configuring_a_workspace_prewarms_its_default_agent(repo: Path, tmp_path: Path) -> None:
    async with running_core(tmp_path / "state", []) as (core, factory, _):
        await core.configure(str(repo), core.registry)
        assert factory.prewarmed == ["fake"]


async def test_a_turn_ends_with_its_hunks_recorded_and_its_commit_follows_before_the_next_turn(
    repo: Path, tmp_path: Path
) -> None:
    second_text = EDITED.replace("hi", "hey")
    steps = [write("greet.py", EDITED), write("greet.py", second_text)]
    async with running_core(tmp_path / "state", steps) as (core, _, editor):
        seen_at_end: list[tuple[int, str]] = []
        record = editor.notify_event

        def on_event(event: wire.Event) -> None:
            if isinstance(event, wire.TurnEnded):
                live = core.session(event.session_id)
                head = git_out(live.path, "rev-parse", "HEAD").strip()
                seen_at_end.append((len(live.pending), head))
            record(event)

        editor.notify_event = on_event  # type: ignore[method-assign]
        first = await core.prompt(prompt("edit"), repo, no_docs)
        assert (await core.await_turn(first.session_id, first.turn_id, 10)).status == "completed"
        live = core.session(first.session_id)
        base = live.base_commit
        # When the editor heard of the end, the hunk was pending already and the commit not made yet.
        assert seen_at_end == [(1, base)]
        second = await core.prompt(prompt("again", first.session_id), repo, no_docs)
        assert (await core.await_turn(second.session_id, second.turn_id, 10)).status == "completed"
        await live.settled()  # the second turn's commit follows its end
        turns = {row.id: row for row in await core.store.turns(first.session_id)}
        first_commit = turns[first.turn_id].commit_sha
        second_commit = turns[second.turn_id].commit_sha
        assert first_commit and second_commit
        # The second turn's commit sits on the first's: the worker took it only once the first was committed.
        log = git_out(live.path, "log", "--format=%H", "-3").split()
        assert log[:2] == [second_commit, first_commit]
        assert (live.path / "greet.py").read_text() == second_text
        assert seen_at_end[1] == (1, first_commit)


async def test_stopping_a_session_lets_the_ended_turns_commit_finish(repo: Path, tmp_path: Path) -> None:
    async with running_core(tmp_path / "state", [write("greet.py", EDITED)]) as (core, _, _):
        started = await core.prompt(prompt("edit"), repo, no_docs)
        await core.await_turn(started.session_id, started.turn_id, 10)
        live = core.session(started.session_id)
        await live.stop("closing")
        [row] = [r for r in await core.store.turns(started.session_id) if r.id == started.turn_id]
        assert row.commit_sha is not None
        show = git_out(live.path, "show", f"{row.commit_sha}:greet.py")
        assert show == EDITED
