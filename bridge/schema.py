"""The state database's schema, as migrations: migration N takes `PRAGMA user_version` from N-1 to N.

Never edit a released migration; add one. `bridge.store` runs them at open, each in one transaction.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: the initial schema.
    """
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        workspace TEXT NOT NULL,
        repo_root TEXT NOT NULL,
        title TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'open',
        created_at REAL NOT NULL,
        closed_at REAL
    );
    CREATE TABLE worktrees (
        session_id TEXT PRIMARY KEY REFERENCES sessions(id),
        path TEXT NOT NULL,
        branch TEXT NOT NULL,
        base_commit TEXT NOT NULL,
        base_ref TEXT NOT NULL
    );
    CREATE TABLE agent_sessions (
        session_id TEXT NOT NULL REFERENCES sessions(id),
        agent TEXT NOT NULL,
        backend TEXT NOT NULL,
        agent_session_id TEXT,
        status TEXT NOT NULL,
        config_hash TEXT NOT NULL,
        input_tokens INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        cost REAL NOT NULL DEFAULT 0,
        updated_at REAL NOT NULL,
        PRIMARY KEY (session_id, agent)
    );
    CREATE TABLE turns (
        id TEXT PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions(id),
        agent TEXT NOT NULL,
        prompt TEXT NOT NULL,
        status TEXT NOT NULL,
        stop_reason TEXT,
        error TEXT,
        commit_sha TEXT,
        queued_at REAL NOT NULL,
        started_at REAL,
        ended_at REAL
    );
    CREATE INDEX turns_by_session ON turns(session_id, queued_at);
    CREATE TABLE hunks (
        session_id TEXT NOT NULL REFERENCES sessions(id),
        path TEXT NOT NULL,
        hunk_id TEXT NOT NULL,
        agent TEXT NOT NULL,
        turn_id TEXT,
        status TEXT NOT NULL,
        old_text TEXT NOT NULL DEFAULT '',
        new_text TEXT NOT NULL DEFAULT '',
        reported INTEGER NOT NULL DEFAULT 0,
        updated_at REAL NOT NULL,
        PRIMARY KEY (session_id, path, hunk_id)
    );
    CREATE TABLE permission_rules (
        agent TEXT NOT NULL,
        command TEXT NOT NULL,
        answer TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (agent, command)
    );
    """,
    # 2: what the agent answered in each turn, so editors can show a session's history after a reload.
    """
    ALTER TABLE turns ADD COLUMN answer TEXT NOT NULL DEFAULT '';
    """,
    # 3: "Always allow" answers are scoped to (agent, workspace, command). The old per-agent answers covered
    # every repository the agent was ever used in; their workspace is unknown, so they are dropped (the user
    # is asked once more) rather than widened. The user's answers about trusting a repository's own
    # configuration file, per path and exact content.
    """
    DROP TABLE IF EXISTS permission_rules;
    CREATE TABLE command_rules (
        agent TEXT NOT NULL,
        workspace TEXT NOT NULL,
        command TEXT NOT NULL,
        answer TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (agent, workspace, command)
    );
    CREATE TABLE config_trust (
        path TEXT NOT NULL,
        digest TEXT NOT NULL,
        trusted INTEGER NOT NULL,
        decided_at REAL NOT NULL,
        PRIMARY KEY (path, digest)
    );
    """,
    # 4: what each turn did besides answering (tool calls, plan, usage, permission questions; JSON), so an editor
    # can draw the conversation again; and whether the turn's changes were undone since.
    """
    ALTER TABLE turns ADD COLUMN details TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE turns ADD COLUMN rewound INTEGER NOT NULL DEFAULT 0;
    """,
    # 5: living sessions. Where each turn started (base and worktree head, so it can be rewound), which pending
    # hunks collide with the user's own edits (and why), and notes the agents are owed with their next prompt.
    """
    ALTER TABLE turns ADD COLUMN base_before TEXT;
    ALTER TABLE turns ADD COLUMN head_before TEXT;
    ALTER TABLE hunks ADD COLUMN conflict TEXT;
    CREATE TABLE agent_notes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id TEXT NOT NULL REFERENCES sessions(id),
        agent TEXT NOT NULL,
        kind TEXT NOT NULL,
        body TEXT NOT NULL,
        reported INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL
    );
    CREATE INDEX agent_notes_by_agent ON agent_notes(session_id, agent, reported);
    """,
    # 6: what the user chose to steer each agent of a session (JSON {mode?, options: {id: value}, model?}), put
    # back whenever that agent starts again (after an eviction, a crash or a restart of the bridge).
    """
    ALTER TABLE agent_sessions ADD COLUMN steering TEXT NOT NULL DEFAULT '{}';
    """,
)
