"""The bridge's state: one SQLite file (WAL) under the state dir, with versioned migrations.

The worktree on disk is the source of truth for edits; this file records who did what, so a crash of the
bridge or of an agent loses nothing that was written.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from bridge.schema import MIGRATIONS as MIGRATIONS  # re-exported: the schema lives in bridge.schema


@dataclass(frozen=True)
class SessionRow:
    id: str
    workspace: str
    repo_root: str
    title: str
    status: str
    created_at: float


@dataclass(frozen=True)
class WorktreeRow:
    session_id: str
    path: str
    branch: str
    base_commit: str
    base_ref: str


@dataclass(frozen=True)
class AgentSessionRow:
    session_id: str
    agent: str
    backend: str
    agent_session_id: str | None
    status: str
    config_hash: str
    input_tokens: int
    output_tokens: int
    cost: float
    steering: str = "{}"  # JSON: the user's choices of mode and options for this agent (bridge.core.steering)


@dataclass(frozen=True)
class TurnRow:
    id: str
    session_id: str
    agent: str
    prompt: str
    status: str
    stop_reason: str | None
    error: str | None
    commit_sha: str | None
    queued_at: float
    started_at: float | None
    ended_at: float | None
    answer: str = ""
    details: str = "{}"  # what the turn did besides answering, as JSON (bridge.core.transcript reads it)
    rewound: bool = False  # its changes were undone (agentBridge.rewind)


@dataclass(frozen=True)
class HunkRow:
    session_id: str
    path: str
    hunk_id: str
    agent: str
    turn_id: str | None
    status: str
    old_text: str
    new_text: str
    reported: bool
    conflict: str | None = None  # why this hunk collides with the user's own edit of the same lines


@dataclass(frozen=True)
class AgentNote:
    """Something an agent is owed with its next prompt (the user's changes, a rewind)."""

    seq: int
    kind: str
    body: str


_TURN_COLUMNS = (
    "id, session_id, agent, prompt, status, stop_reason, error, commit_sha, queued_at, started_at, ended_at, answer,"
    " details, rewound"
)


def _turn_row(row: Sequence[Any]) -> TurnRow:
    return TurnRow(
        id=row[0], session_id=row[1], agent=row[2], prompt=row[3], status=row[4], stop_reason=row[5], error=row[6],
        commit_sha=row[7], queued_at=row[8], started_at=row[9], ended_at=row[10], answer=row[11], details=row[12],
        rewound=bool(row[13]),
    )


def _hunk_row(row: Sequence[Any]) -> HunkRow:
    return HunkRow(
        session_id=row[0], path=row[1], hunk_id=row[2], agent=row[3], turn_id=row[4], status=row[5],
        old_text=row[6], new_text=row[7], reported=bool(row[8]), conflict=row[9],
    )


def to_db(value: Any) -> Any:
    """Text as SQLite can hold it, losslessly.

    Paths and texts come from agents and repositories: a file name that is not UTF-8 (git hands it over as
    surrogate escapes) or a lone surrogate an agent sent as a JSON escape cannot be encoded as SQLite TEXT.
    Those values are stored as the BLOB of their `surrogatepass` encoding instead, and `from_db` restores
    them exactly; everything else stays TEXT, so existing rows and keys compare as before.
    """
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogatepass")
    return value


def from_db(value: Any) -> Any:
    return value.decode("utf-8", "surrogatepass") if isinstance(value, bytes) else value


def _db_args(args: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(to_db(a) for a in args)


class Store:
    """Async access to the state database. Open with `await Store.open(path)`."""

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self.path = path

    @classmethod
    async def open(cls, path: Path) -> Store:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path)
        await db.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL syncs at checkpoints, not at every commit: a power cut may lose the last commits
        # but never corrupts the file, and a turn records several rows (an fsync each cost ~1 ms per turn row).
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.execute("PRAGMA foreign_keys=ON")
        await db.execute("PRAGMA busy_timeout=5000")
        store = cls(db, path)
        await store._migrate()
        return store

    async def close(self) -> None:
        await self._db.close()

    async def schema_version(self) -> int:
        async with self._db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def _migrate(self) -> None:
        version = await self.schema_version()
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            await self._db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version={number};\nCOMMIT;")

    async def _fetchall(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        async with self._db.execute(sql, _db_args(args)) as cur:
            return [tuple(from_db(v) for v in row) for row in await cur.fetchall()]

    async def _execute_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._db.executemany(sql, [_db_args(row) for row in rows])

    async def _write(self, sql: str, args: Sequence[Any] = ()) -> int:
        cur = await self._db.execute(sql, _db_args(args))
        await self._db.commit()
        return cur.rowcount

    # Sessions and worktrees
    async def add_session(self, row: SessionRow, worktree: WorktreeRow) -> None:
        await self._db.execute(
            "INSERT INTO sessions (id, workspace, repo_root, title, status, created_at) VALUES (?,?,?,?,?,?)",
            _db_args((row.id, row.workspace, row.repo_root, row.title, row.status, row.created_at)),
        )
        await self._db.execute(
            "INSERT INTO worktrees (session_id, path, branch, base_commit, base_ref) VALUES (?,?,?,?,?)",
            _db_args((worktree.session_id, worktree.path, worktree.branch, worktree.base_commit, worktree.base_ref)),
        )
        await self._db.commit()

    async def sessions(self, status: str | None = "open") -> list[SessionRow]:
        sql = "SELECT id, workspace, repo_root, title, status, created_at FROM sessions"
        args: tuple[Any, ...] = ()
        if status is not None:
            sql += " WHERE status = ?"
            args = (status,)
        rows = await self._fetchall(sql + " ORDER BY created_at", args)
        return [SessionRow(*row) for row in rows]

    async def session(self, session_id: str) -> SessionRow | None:
        rows = await self._fetchall(
            "SELECT id, workspace, repo_root, title, status, created_at FROM sessions WHERE id = ?", (session_id,)
        )
        return SessionRow(*rows[0]) if rows else None

    async def set_session_title(self, session_id: str, title: str) -> None:
        await self._write("UPDATE sessions SET title = ? WHERE id = ?", (title, session_id))

    async def close_session(self, session_id: str) -> None:
        await self._write(
            "UPDATE sessions SET status = 'closed', closed_at = ? WHERE id = ?", (time.time(), session_id)
        )
        await self._write(
            "UPDATE agent_sessions SET status = 'closed', updated_at = ? WHERE session_id = ?",
            (time.time(), session_id),
        )

    async def worktree(self, session_id: str) -> WorktreeRow | None:
        rows = await self._fetchall(
            "SELECT session_id, path, branch, base_commit, base_ref FROM worktrees WHERE session_id = ?",
            (session_id,),
        )
        return WorktreeRow(*rows[0]) if rows else None

    async def all_worktrees(self) -> list[WorktreeRow]:
        rows = await self._fetchall("SELECT session_id, path, branch, base_commit, base_ref FROM worktrees")
        return [WorktreeRow(*row) for row in rows]

    async def set_base(self, session_id: str, base_commit: str) -> None:
        await self._write("UPDATE worktrees SET base_commit = ? WHERE session_id = ?", (base_commit, session_id))

    # Agent sessions
    async def upsert_agent_session(
        self,
        session_id: str,
        agent: str,
        backend: str,
        agent_session_id: str | None,
        status: str,
        config_hash: str,
    ) -> None:
        await self._write(
            """INSERT INTO agent_sessions (session_id, agent, backend, agent_session_id, status, config_hash,
                   updated_at) VALUES (?,?,?,?,?,?,?)
               ON CONFLICT (session_id, agent) DO UPDATE SET backend = excluded.backend,
                   agent_session_id = excluded.agent_session_id, status = excluded.status,
                   config_hash = excluded.config_hash, updated_at = excluded.updated_at""",
            (session_id, agent, backend, agent_session_id, status, config_hash, time.time()),
        )

    async def set_agent_status(self, session_id: str, agent: str, status: str) -> None:
        await self._write(
            "UPDATE agent_sessions SET status = ?, updated_at = ? WHERE session_id = ? AND agent = ?",
            (status, time.time(), session_id, agent),
        )

    async def add_usage(
        self, session_id: str, agent: str, input_tokens: int, output_tokens: int, cost: float
    ) -> None:
        await self._write(
            """UPDATE agent_sessions SET input_tokens = input_tokens + ?, output_tokens = output_tokens + ?,
                   cost = cost + ?, updated_at = ? WHERE session_id = ? AND agent = ?""",
            (input_tokens, output_tokens, cost, time.time(), session_id, agent),
        )

    async def agent_sessions(self, session_id: str) -> list[AgentSessionRow]:
        rows = await self._fetchall(
            """SELECT session_id, agent, backend, agent_session_id, status, config_hash, input_tokens,
                   output_tokens, cost, steering FROM agent_sessions WHERE session_id = ? ORDER BY agent""",
            (session_id,),
        )
        return [AgentSessionRow(*row) for row in rows]

    async def agent_session(self, session_id: str, agent: str) -> AgentSessionRow | None:
        rows = [r for r in await self.agent_sessions(session_id) if r.agent == agent]
        return rows[0] if rows else None

    async def set_steering(self, session_id: str, agent: str, steering: str) -> None:
        await self._write(
            "UPDATE agent_sessions SET steering = ?, updated_at = ? WHERE session_id = ? AND agent = ?",
            (steering, time.time(), session_id, agent),
        )

    # Turns
    async def add_turn(
        self, turn_id: str, session_id: str, agent: str, prompt: str, queued_at: float | None = None
    ) -> None:
        await self._write(
            "INSERT INTO turns (id, session_id, agent, prompt, status, queued_at) VALUES (?,?,?,?,?,?)",
            (turn_id, session_id, agent, prompt, "queued", time.time() if queued_at is None else queued_at),
        )

    async def start_turn(self, turn_id: str) -> None:
        await self._write(
            "UPDATE turns SET status = 'running', started_at = ? WHERE id = ?", (time.time(), turn_id)
        )

    async def set_turn_commit(self, turn_id: str, commit_sha: str) -> None:
        """The commit holding a turn's work (made just after the turn ended)."""
        await self._write("UPDATE turns SET commit_sha = ? WHERE id = ?", (commit_sha, turn_id))

    async def end_turn(
        self,
        turn_id: str,
        status: str,
        stop_reason: str | None = None,
        error: str | None = None,
        answer: str = "",
        details: str = "{}",
    ) -> None:
        """A turn's end; the commit holding its work follows (set_turn_commit)."""
        await self._write(
            """UPDATE turns SET status = ?, stop_reason = ?, error = ?, ended_at = ?, answer = ?, details = ?
                   WHERE id = ?""",
            (status, stop_reason, error, time.time(), answer, details, turn_id),
        )

    async def mark_rewound(self, session_id: str, turn_ids: Iterable[str]) -> int:
        """Mark turns of the session as rewound (their changes undone); how many were not already."""
        cur = await self._db.executemany(
            "UPDATE turns SET rewound = 1 WHERE session_id = ? AND id = ? AND rewound = 0",
            [_db_args((session_id, turn_id)) for turn_id in turn_ids],
        )
        await self._db.commit()
        return cur.rowcount

    async def turn(self, turn_id: str) -> TurnRow | None:
        rows = await self._fetchall(f"SELECT {_TURN_COLUMNS} FROM turns WHERE id = ?", (turn_id,))
        return _turn_row(rows[0]) if rows else None

    async def turns(self, session_id: str) -> list[TurnRow]:
        rows = await self._fetchall(
            f"SELECT {_TURN_COLUMNS} FROM turns WHERE session_id = ? ORDER BY queued_at, rowid", (session_id,)
        )
        return [_turn_row(row) for row in rows]

    async def latest_turns(self) -> dict[str, float]:
        """When each session's latest turn was queued (sessions without turns are left out)."""
        rows = await self._fetchall("SELECT session_id, MAX(queued_at) FROM turns GROUP BY session_id")
        return {row[0]: row[1] for row in rows}

    async def set_turn_start(self, turn_id: str, base: str, head: str) -> None:
        """Where the turn started: the base and the worktree's head, so it can be rewound."""
        await self._write("UPDATE turns SET base_before = ?, head_before = ? WHERE id = ?", (base, head, turn_id))

    async def turn_starts(self, session_id: str) -> dict[str, tuple[str, str]]:
        rows = await self._fetchall(
            """SELECT id, base_before, head_before FROM turns
               WHERE session_id = ? AND base_before IS NOT NULL AND head_before IS NOT NULL""",
            (session_id,),
        )
        return {row[0]: (row[1], row[2]) for row in rows}

    async def fail_unfinished_turns(self, message: str) -> int:
        """Turns left queued or running by a bridge that died: they cannot go on."""
        return await self._write(
            """UPDATE turns SET status = 'failed', error = ?, ended_at = ?
               WHERE status IN ('queued', 'running')""",
            (message, time.time()),
        )

    # Hunks
    async def hunks(self, session_id: str, status: str | None = None) -> list[HunkRow]:
        sql = """SELECT session_id, path, hunk_id, agent, turn_id, status, old_text, new_text, reported, conflict
                 FROM hunks WHERE session_id = ?"""
        args: tuple[Any, ...] = (session_id,)
        if status is not None:
            sql += " AND status = ?"
            args += (status,)
        rows = await self._fetchall(sql + " ORDER BY path, rowid", args)
        return [_hunk_row(row) for row in rows]

    async def record_pending(self, rows: Iterable[HunkRow]) -> None:
        """Insert newly seen pending hunks; hunks already known keep their attribution."""
        now = time.time()
        await self._execute_many(
            """INSERT INTO hunks (session_id, path, hunk_id, agent, turn_id, status, old_text, new_text,
                   reported, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)
               ON CONFLICT (session_id, path, hunk_id) DO UPDATE SET
                   agent = CASE WHEN hunks.status = 'pending' THEN hunks.agent ELSE excluded.agent END,
                   turn_id = CASE WHEN hunks.status = 'pending' THEN hunks.turn_id ELSE excluded.turn_id END,
                   status = 'pending', reported = 0, updated_at = excluded.updated_at""",
            [
                (r.session_id, r.path, r.hunk_id, r.agent, r.turn_id, r.status, r.old_text, r.new_text, 0, now)
                for r in rows
            ],
        )
        await self._db.commit()

    async def set_hunk_status(self, session_id: str, keys: Iterable[tuple[str, str]], status: str) -> None:
        now = time.time()
        await self._execute_many(
            "UPDATE hunks SET status = ?, updated_at = ? WHERE session_id = ? AND path = ? AND hunk_id = ?",
            [(status, now, session_id, path, hunk_id) for path, hunk_id in keys],
        )
        await self._db.commit()

    async def set_conflicts(self, session_id: str, keys: Iterable[tuple[str, str]], reason: str) -> None:
        await self._execute_many(
            "UPDATE hunks SET conflict = ? WHERE session_id = ? AND path = ? AND hunk_id = ?",
            [(reason, session_id, path, hunk_id) for path, hunk_id in keys],
        )
        await self._db.commit()

    async def drop_vanished(self, session_id: str, live: set[tuple[str, str]]) -> None:
        """Pending hunks that are no longer in the diff (an agent undid them) are forgotten."""
        rows = await self.hunks(session_id, "pending")
        gone = [(r.path, r.hunk_id) for r in rows if (r.path, r.hunk_id) not in live]
        await self._execute_many(
            "DELETE FROM hunks WHERE session_id = ? AND path = ? AND hunk_id = ?",
            [(session_id, path, hunk_id) for path, hunk_id in gone],
        )
        await self._db.commit()

    # Notes owed to agents
    async def add_notes(self, session_id: str, agents: Iterable[str], kind: str, body: str) -> None:
        now = time.time()
        await self._execute_many(
            "INSERT INTO agent_notes (session_id, agent, kind, body, created_at) VALUES (?,?,?,?,?)",
            [(session_id, agent, kind, body, now) for agent in agents],
        )
        await self._db.commit()

    async def unreported_notes(self, session_id: str, agent: str) -> list[AgentNote]:
        rows = await self._fetchall(
            """SELECT seq, kind, body FROM agent_notes WHERE session_id = ? AND agent = ? AND reported = 0
               ORDER BY seq""",
            (session_id, agent),
        )
        return [AgentNote(*row) for row in rows]

    async def mark_notes_reported(self, seqs: Iterable[int]) -> None:
        await self._execute_many("UPDATE agent_notes SET reported = 1 WHERE seq = ?", [(seq,) for seq in seqs])
        await self._db.commit()

    async def unreported_rejections(self, session_id: str, agent: str) -> list[HunkRow]:
        rows = await self.hunks(session_id, "rejected")
        return [r for r in rows if r.agent == agent and not r.reported]

    async def mark_reported(self, session_id: str, keys: Iterable[tuple[str, str]]) -> None:
        await self._execute_many(
            "UPDATE hunks SET reported = 1 WHERE session_id = ? AND path = ? AND hunk_id = ?",
            [(session_id, path, hunk_id) for path, hunk_id in keys],
        )
        await self._db.commit()

    # Remembered permission answers
    async def remember_command(self, agent: str, workspace: str, command: str, answer: str) -> None:
        await self._write(
            """INSERT INTO command_rules (agent, workspace, command, answer, created_at) VALUES (?,?,?,?,?)
               ON CONFLICT (agent, workspace, command) DO UPDATE SET answer = excluded.answer""",
            (agent, workspace, command, answer, time.time()),
        )

    async def remembered_commands(self, agent: str, workspace: str, answer: str = "allow") -> frozenset[str]:
        rows = await self._fetchall(
            "SELECT command FROM command_rules WHERE agent = ? AND workspace = ? AND answer = ?",
            (agent, workspace, answer),
        )
        return frozenset(row[0] for row in rows)

    # Trust in a repository's own configuration file
    async def config_trust(self, path: str, digest: str) -> bool | None:
        """The user's answer for this exact file content, or None if never asked."""
        rows = await self._fetchall("SELECT trusted FROM config_trust WHERE path = ? AND digest = ?", (path, digest))
        return bool(rows[0][0]) if rows else None

    async def set_config_trust(self, path: str, digest: str, trusted: bool) -> None:
        await self._write(
            """INSERT INTO config_trust (path, digest, trusted, decided_at) VALUES (?,?,?,?)
               ON CONFLICT (path, digest) DO UPDATE SET trusted = excluded.trusted, decided_at = excluded.decided_at""",
            (path, digest, int(trusted), time.time()),
        )
