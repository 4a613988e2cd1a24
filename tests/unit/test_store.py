"""bridge.store: the state database on a real SQLite file."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bridge.store import MIGRATIONS, HunkRow, SessionRow, Store, WorktreeRow


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "bridge.sqlite3"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(db_path)
    try:
        yield s
    finally:
        await s.close()


def session_row(sid: str = "s1", created_at: float = 100.0, title: str = "Fix parser") -> SessionRow:
    return SessionRow(sid, "/ws", "/repo", title, "open", created_at)


def worktree_row(sid: str = "s1") -> WorktreeRow:
    return WorktreeRow(sid, f"/state/wt/{sid}", f"agent-bridge/{sid}", "base0", f"refs/agent-bridge/{sid}/base")


async def add_session(store: Store, sid: str = "s1", created_at: float = 100.0) -> None:
    await store.add_session(session_row(sid, created_at), worktree_row(sid))


def hunk(path: str, hid: str, agent: str = "qwen", turn: str | None = "t1", sid: str = "s1",
         old: str = "o\n", new: str = "n\n") -> HunkRow:
    return HunkRow(sid, path, hid, agent, turn, "pending", old, new, False)


# Schema and migrations


async def test_open_creates_file_in_wal_mode(store: Store, db_path: Path) -> None:
    assert db_path.exists()
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_schema_version_matches_migrations(store: Store, db_path: Path) -> None:
    assert len(MIGRATIONS) >= 1
    assert await store.schema_version() == len(MIGRATIONS)
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"sessions", "worktrees", "agent_sessions", "turns", "hunks", "command_rules", "config_trust"} <= tables
    assert "permission_rules" not in tables


async def test_reopen_does_not_rerun_migrations_and_keeps_data(db_path: Path) -> None:
    first = await Store.open(db_path)
    await add_session(first)
    await first.close()
    # Re-running the CREATE TABLE script would raise; reopening must just work and see the data.
    second = await Store.open(db_path)
    try:
        assert await second.schema_version() == len(MIGRATIONS)
        assert [s.id for s in await second.sessions()] == ["s1"]
    finally:
        await second.close()


async def test_foreign_keys_enforced(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        await store.add_turn("t1", "no-such-session", "qwen", "hi")


# Sessions and worktrees


async def test_session_and_worktree_round_trip(store: Store) -> None:
    await add_session(store, "s1", 100.0)
    await add_session(store, "s0", 50.0)
    assert await store.session("s1") == session_row("s1", 100.0)
    assert await store.session("nope") is None
    assert [s.id for s in await store.sessions()] == ["s0", "s1"]  # by creation time
    assert await store.worktree("s1") == worktree_row("s1")
    assert await store.worktree("nope") is None
    assert sorted(w.session_id for w in await store.all_worktrees()) == ["s0", "s1"]


async def test_set_title_and_base(store: Store) -> None:
    await add_session(store)
    await store.set_session_title("s1", "Renamed")
    await store.set_base("s1", "base1")
    session = await store.session("s1")
    worktree = await store.worktree("s1")
    assert session is not None and session.title == "Renamed"
    assert worktree is not None and worktree.base_commit == "base1"


async def test_close_session_filters_and_closes_agent_sessions(store: Store) -> None:
    await add_session(store, "s1", 1.0)
    await add_session(store, "s2", 2.0)
    await store.upsert_agent_session("s1", "qwen", "acp", "q-1", "ready", "h")
    await store.close_session("s1")
    assert [s.id for s in await store.sessions()] == ["s2"]
    assert [s.id for s in await store.sessions("closed")] == ["s1"]
    assert [s.id for s in await store.sessions(None)] == ["s1", "s2"]
    agent = await store.agent_session("s1", "qwen")
    assert agent is not None and agent.status == "closed"


# Agent sessions


async def test_agent_session_upsert_round_trip(store: Store) -> None:
    await add_session(store)
    await store.upsert_agent_session("s1", "qwen", "acp", "q-1", "ready", "hash1")
    await store.upsert_agent_session("s1", "codex", "acp", None, "starting", "hash2")
    rows = await store.agent_sessions("s1")
    assert [r.agent for r in rows] == ["codex", "qwen"]
    qwen = await store.agent_session("s1", "qwen")
    assert qwen is not None
    assert (qwen.backend, qwen.agent_session_id, qwen.status, qwen.config_hash) == ("acp", "q-1", "ready", "hash1")
    assert (qwen.input_tokens, qwen.output_tokens, qwen.cost) == (0, 0, 0.0)

    await store.upsert_agent_session("s1", "qwen", "acp", "q-2", "busy", "hash3")
    qwen = await store.agent_session("s1", "qwen")
    assert qwen is not None
    assert (qwen.agent_session_id, qwen.status, qwen.config_hash) == ("q-2", "busy", "hash3")
    assert len(await store.agent_sessions("s1")) == 2
    assert await store.agent_session("s1", "gemini") is None


async def test_set_agent_status(store: Store) -> None:
    await add_session(store)
    await store.upsert_agent_session("s1", "qwen", "acp", "q", "ready", "h")
    await store.set_agent_status("s1", "qwen", "crashed")
    row = await store.agent_session("s1", "qwen")
    assert row is not None and row.status == "crashed"


async def test_add_usage_accumulates(store: Store) -> None:
    await add_session(store)
    await store.upsert_agent_session("s1", "qwen", "acp", "q", "ready", "h")
    await store.upsert_agent_session("s1", "codex", "acp", "c", "ready", "h")
    await store.add_usage("s1", "qwen", 100, 20, 0.25)
    await store.add_usage("s1", "qwen", 50, 5, 0.5)
    qwen = await store.agent_session("s1", "qwen")
    codex = await store.agent_session("s1", "codex")
    assert qwen is not None and (qwen.input_tokens, qwen.output_tokens, qwen.cost) == (150, 25, 0.75)
    assert codex is not None and (codex.input_tokens, codex.output_tokens, codex.cost) == (0, 0, 0.0)
    # Re-upserting (e.g. after a restart) keeps the totals.
    await store.upsert_agent_session("s1", "qwen", "acp", "q2", "ready", "h")
    qwen = await store.agent_session("s1", "qwen")
    assert qwen is not None and (qwen.input_tokens, qwen.output_tokens) == (150, 25)


# Turns


async def test_turn_lifecycle(store: Store) -> None:
    await add_session(store)
    await store.add_turn("t1", "s1", "qwen", "do it")
    queued = await store.turn("t1")
    assert queued is not None
    assert (queued.session_id, queued.agent, queued.prompt, queued.status) == ("s1", "qwen", "do it", "queued")
    assert queued.started_at is None and queued.ended_at is None

    await store.start_turn("t1")
    running = await store.turn("t1")
    assert running is not None and running.status == "running" and running.started_at is not None

    await store.end_turn("t1", "completed", stop_reason="end_turn")
    await store.set_turn_commit("t1", "abc")
    done = await store.turn("t1")
    assert done is not None
    assert (done.status, done.stop_reason, done.error, done.commit_sha) == ("completed", "end_turn", None, "abc")
    assert done.ended_at is not None
    assert await store.turn("nope") is None


async def test_turns_listed_in_queue_order(store: Store) -> None:
    await add_session(store)
    for tid in ("t1", "t2", "t3"):
        await store.add_turn(tid, "s1", "qwen", tid)
    assert [t.id for t in await store.turns("s1")] == ["t1", "t2", "t3"]
    assert await store.turns("other") == []


async def test_fail_unfinished_turns(store: Store) -> None:
    await add_session(store)
    for tid in ("queued", "running", "done", "failed"):
        await store.add_turn(tid, "s1", "qwen", tid)
    await store.start_turn("running")
    await store.end_turn("done", "completed", "end_turn")
    await store.end_turn("failed", "failed", error="earlier")
    assert await store.fail_unfinished_turns("the bridge restarted") == 2
    turns = {t.id: t for t in await store.turns("s1")}
    assert turns["queued"].status == "failed" and turns["queued"].error == "the bridge restarted"
    assert turns["running"].status == "failed" and turns["running"].ended_at is not None
    assert turns["done"].status == "completed" and turns["done"].error is None
    assert turns["failed"].error == "earlier"
    assert await store.fail_unfinished_turns("again") == 0


async def test_a_turns_details_are_stored_and_it_can_be_marked_rewound(store: Store) -> None:
    await add_session(store)
    await add_session(store, "s2", 200.0)
    for tid in ("t1", "t2", "t3"):
        await store.add_turn(tid, "s1", "qwen", tid)
    await store.add_turn("other", "s2", "qwen", "other")
    assert [(t.details, t.rewound) for t in await store.turns("s1")] == [("{}", False)] * 3
    details = '{"toolCalls": [{"toolCallId": "c1", "title": "caf\u00e9"}], "plan": null}'
    await store.end_turn("t1", "completed", "end_turn", answer="done", details=details)
    assert (await store.turn("t1")).details == details  # type: ignore[union-attr]
    assert await store.mark_rewound("s1", ["t2", "t3", "other"]) == 2  # another session's turn is not touched
    assert await store.mark_rewound("s1", ["t2"]) == 0  # already rewound
    assert [(t.id, t.rewound) for t in await store.turns("s1")] == [("t1", False), ("t2", True), ("t3", True)]
    assert (await store.turn("other")).rewound is False  # type: ignore[union-attr]


async def test_a_version_3_database_gets_turn_details_and_keeps_its_turns(tmp_path: Path) -> None:
    path = tmp_path / "v3.db"
    with sqlite3.connect(path) as raw:
        raw.executescript("".join(MIGRATIONS[:3]) + "\nPRAGMA user_version=3;")
        raw.execute("INSERT INTO sessions VALUES ('s1', '/w', '/r', 'old', 'open', 1.0, NULL)")
        raw.execute("INSERT INTO turns (id, session_id, agent, prompt, status, queued_at, answer) "
                    "VALUES ('t1', 's1', 'qwen', 'hi', 'completed', 2.0, 'hello')")
    store = await Store.open(path)
    try:
        assert await store.schema_version() == len(MIGRATIONS) >= 4
        (turn,) = await store.turns("s1")
        assert (turn.id, turn.answer, turn.details, turn.rewound) == ("t1", "hello", "{}", False)
        await store.end_turn("t1", "completed", "end_turn", answer="hello", details='{"toolCalls": []}')
        await store.mark_rewound("s1", ["t1"])
        again = await store.turn("t1")
        assert again is not None and (again.details, again.rewound) == ('{"toolCalls": []}', True)
    finally:
        await store.close()


# Hunks


async def test_record_pending_round_trip(store: Store) -> None:
    await add_session(store)
    await store.record_pending([hunk("b.py", "h2"), hunk("a.py", "h1", agent="codex", turn="t0")])
    rows = await store.hunks("s1")
    assert rows == [
        HunkRow("s1", "a.py", "h1", "codex", "t0", "pending", "o\n", "n\n", False),
        HunkRow("s1", "b.py", "h2", "qwen", "t1", "pending", "o\n", "n\n", False),
    ]
    assert await store.hunks("s1", "rejected") == []


async def test_record_pending_keeps_attribution_of_known_pending(store: Store) -> None:
    await add_session(store)
    await store.record_pending([hunk("a.py", "h1", agent="qwen", turn="t1")])
    # The next turn (by another agent) recomputes the diff: the same hunk is still there.
    await store.record_pending([hunk("a.py", "h1", agent="codex", turn="t2"), hunk("a.py", "h2", "codex", "t2")])
    rows = {r.hunk_id: r for r in await store.hunks("s1")}
    assert (rows["h1"].agent, rows["h1"].turn_id, rows["h1"].status) == ("qwen", "t1", "pending")
    assert (rows["h2"].agent, rows["h2"].turn_id) == ("codex", "t2")


async def test_rejected_hunk_that_reappears_is_pending_with_new_attribution(store: Store) -> None:
    await add_session(store)
    await store.record_pending([hunk("a.py", "h1", agent="qwen", turn="t1")])
    await store.set_hunk_status("s1", [("a.py", "h1")], "rejected")
    await store.mark_reported("s1", [("a.py", "h1")])
    # An agent makes the very same change again in a later turn.
    await store.record_pending([hunk("a.py", "h1", agent="codex", turn="t5")])
    [row] = await store.hunks("s1")
    assert (row.status, row.agent, row.turn_id, row.reported) == ("pending", "codex", "t5", False)


async def test_set_hunk_status_only_touches_named_hunks(store: Store) -> None:
    await add_session(store)
    await store.record_pending([hunk("a.py", "h1"), hunk("a.py", "h2"), hunk("b.py", "h1")])
    await store.set_hunk_status("s1", [("a.py", "h1")], "applied")
    status = {(r.path, r.hunk_id): r.status for r in await store.hunks("s1")}
    assert status == {("a.py", "h1"): "applied", ("a.py", "h2"): "pending", ("b.py", "h1"): "pending"}
    assert [(r.path, r.hunk_id) for r in await store.hunks("s1", "applied")] == [("a.py", "h1")]


async def test_drop_vanished_forgets_only_pending_not_in_diff(store: Store) -> None:
    await add_session(store)
    await add_session(store, "s2", 200.0)
    await store.record_pending([hunk("a.py", "keep"), hunk("a.py", "gone"), hunk("b.py", "rej")])
    await store.record_pending([hunk("a.py", "gone", sid="s2")])
    await store.set_hunk_status("s1", [("b.py", "rej")], "rejected")
    await store.drop_vanished("s1", {("a.py", "keep")})
    assert sorted((r.path, r.hunk_id, r.status) for r in await store.hunks("s1")) == [
        ("a.py", "keep", "pending"),
        ("b.py", "rej", "rejected"),  # rejections stay, to be reported to the agent
    ]
    assert [r.hunk_id for r in await store.hunks("s2")] == ["gone"]  # other sessions untouched


async def test_unreported_rejections_and_mark_reported(store: Store) -> None:
    await add_session(store)
    await store.record_pending([
        hunk("a.py", "q1", agent="qwen"),
        hunk("a.py", "q2", agent="qwen"),
        hunk("a.py", "c1", agent="codex"),
        hunk("a.py", "q3", agent="qwen"),
    ])
    await store.set_hunk_status("s1", [("a.py", "q1"), ("a.py", "q2"), ("a.py", "c1")], "rejected")
    unreported = await store.unreported_rejections("s1", "qwen")
    assert [r.hunk_id for r in unreported] == ["q1", "q2"]  # not codex's, not the still-pending q3
    assert all(r.status == "rejected" and r.reported is False for r in unreported)

    await store.mark_reported("s1", [("a.py", "q1")])
    assert [r.hunk_id for r in await store.unreported_rejections("s1", "qwen")] == ["q2"]
    assert [r.hunk_id for r in await store.unreported_rejections("s1", "codex")] == ["c1"]
    await store.mark_reported("s1", [("a.py", "q2")])
    assert await store.unreported_rejections("s1", "qwen") == []
    q1 = next(r for r in await store.hunks("s1") if r.hunk_id == "q1")
    assert q1.reported is True


# Remembered permission answers


async def test_remembered_commands_per_agent_workspace_and_answer(store: Store) -> None:
    await store.remember_command("qwen", "/w1", "ls -la", "allow")
    await store.remember_command("qwen", "/w1", "make", "allow")
    await store.remember_command("qwen", "/w1", "rm -rf /", "reject")
    await store.remember_command("qwen", "/w2", "pytest", "allow")
    await store.remember_command("codex", "/w1", "pytest", "allow")
    assert await store.remembered_commands("qwen", "/w1") == frozenset({"ls -la", "make"})
    assert await store.remembered_commands("qwen", "/w1", "reject") == frozenset({"rm -rf /"})
    assert await store.remembered_commands("qwen", "/w2") == frozenset({"pytest"})
    assert await store.remembered_commands("codex", "/w1") == frozenset({"pytest"})
    assert await store.remembered_commands("codex", "/w2") == frozenset()
    assert await store.remembered_commands("gemini", "/w1") == frozenset()


async def test_remember_command_overwrites_answer(store: Store) -> None:
    await store.remember_command("qwen", "/w", "make", "allow")
    await store.remember_command("qwen", "/w", "make", "reject")
    assert await store.remembered_commands("qwen", "/w") == frozenset()
    assert await store.remembered_commands("qwen", "/w", "reject") == frozenset({"make"})


async def test_remembered_commands_and_trust_survive_reopen(db_path: Path) -> None:
    first = await Store.open(db_path)
    await first.remember_command("qwen", "/w", "make", "allow")
    await first.set_config_trust("/r/.agent-bridge.toml", "d1", True)
    await first.close()
    second = await Store.open(db_path)
    try:
        assert await second.remembered_commands("qwen", "/w") == frozenset({"make"})
        assert await second.config_trust("/r/.agent-bridge.toml", "d1") is True
    finally:
        await second.close()


async def test_config_trust_is_per_path_and_digest(store: Store) -> None:
    assert await store.config_trust("/r/.agent-bridge.toml", "d1") is None
    await store.set_config_trust("/r/.agent-bridge.toml", "d1", False)
    assert await store.config_trust("/r/.agent-bridge.toml", "d1") is False
    assert await store.config_trust("/r/.agent-bridge.toml", "d2") is None
    assert await store.config_trust("/other/.agent-bridge.toml", "d1") is None
    await store.set_config_trust("/r/.agent-bridge.toml", "d1", True)
    assert await store.config_trust("/r/.agent-bridge.toml", "d1") is True


async def test_a_version_2_database_drops_unscoped_always_answers(tmp_path: Path) -> None:
    """An "Always allow" stored before answers had a workspace covered every repository: asked again."""
    import sqlite3

    from bridge.store import MIGRATIONS

    path = tmp_path / "v2.db"
    with sqlite3.connect(path) as raw:
        raw.executescript(MIGRATIONS[0] + MIGRATIONS[1] + "\nPRAGMA user_version=2;")
        raw.execute("INSERT INTO permission_rules VALUES ('qwen', 'sh build.sh', 'allow', 1.0)")
        raw.execute("INSERT INTO sessions VALUES ('s1', '/w', '/r', 'old', 'open', 1.0, NULL)")
    store = await Store.open(path)
    try:
        assert await store.schema_version() == len(MIGRATIONS) >= 3
        assert await store.remembered_commands("qwen", "/w") == frozenset()
        assert [s.id for s in await store.sessions()] == ["s1"]
    finally:
        await store.close()


async def test_a_version_1_database_is_migrated_and_keeps_its_turns(tmp_path: Path) -> None:
    import sqlite3

    from bridge.store import MIGRATIONS

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as raw:
        raw.executescript(MIGRATIONS[0] + "\nPRAGMA user_version=1;")
        raw.execute("INSERT INTO sessions VALUES ('s1', '/w', '/r', 'old', 'open', 1.0, NULL)")
        raw.execute("INSERT INTO turns (id, session_id, agent, prompt, status, queued_at) "
                    "VALUES ('t1', 's1', 'qwen', 'hi', 'completed', 2.0)")
    store = await Store.open(path)
    try:
        assert await store.schema_version() == len(MIGRATIONS) >= 2
        (turn,) = await store.turns("s1")
        assert (turn.id, turn.prompt, turn.status, turn.answer) == ("t1", "hi", "completed", "")
        await store.end_turn("t1", "completed", "end_turn", answer="hello there")
        assert (await store.turn("t1")).answer == "hello there"  # type: ignore[union-attr]
    finally:
        await store.close()


async def test_texts_sqlite_cannot_hold_are_kept_exactly(tmp_path: Path) -> None:
    """A file name that is not UTF-8 used to fail every write of its session's hunks."""
    name = os.fsdecode(b"caf\xe9.txt")
    store = await Store.open(tmp_path / "state.db")
    try:
        await store.add_session(SessionRow("s1", "/ws", "/ws", "t", "open", 1.0),
                                WorktreeRow("s1", "/wt", "b", "c", "r"))
        rows = [HunkRow("s1", name, "h1", "agent", None, "pending", "", "x\udcff\n", False),
                HunkRow("s1", "plain.txt", "h2", "agent", None, "pending", "", "y\n", False)]
        await store.record_pending(rows)
        assert sorted(await store.hunks("s1"), key=lambda r: r.hunk_id) == rows
        await store.set_hunk_status("s1", [(name, "h1")], "rejected")
        assert [r.path for r in await store.hunks("s1", "rejected")] == [name]
    finally:
        await store.close()
