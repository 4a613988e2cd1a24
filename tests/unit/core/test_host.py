"""bridge.core.host.TurnHost: the policy applied with the user's remembered answers and the session's
unreviewed files, and the check just before an allowed command runs (real store, recording editor)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backends.base import PermissionRequest
from backends.events import Plan, PlanEntry, TextDelta, ToolCall
from bridge import protocol as wire
from bridge.config import AgentConfig
from bridge.core.host import TurnHost
from bridge.core.transcript import TurnDetails, dump, load
from bridge.store import Store
from tests.support.core import RecordingEditor


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "state.db")
    yield opened
    await opened.close()


class Worktree:
    """A worktree directory and the set of files the agent changed that the user has not reviewed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.changed: set[str] = set()
        root.mkdir()
        (root / "build.sh").write_text("echo building\n")

    def rewrite(self, rel: str, text: str) -> None:
        (self.root / rel).write_text(text)
        self.changed.add(rel)

    async def unreviewed(self) -> frozenset[str]:
        return frozenset(self.changed)


def host_for(wt: Worktree, store: Store, editor: RecordingEditor, workspace: str = "/ws") -> TurnHost:
    agent = AgentConfig("qwen", "acp", ("qwen",))
    return TurnHost("s1", wt.root, wt.root, agent, editor, store, workspace=workspace, unreviewed=wt.unreviewed)


def run(command: str) -> PermissionRequest:
    return PermissionRequest(
        tool_call_id="t", title=command, kind="execute", paths=(), command=command, cwd=None, options=()
    )


async def test_an_allowed_command_runs_once_as_it_was(tmp_path: Path, store: Store) -> None:
    wt = Worktree(tmp_path / "wt")
    host = host_for(wt, store, RecordingEditor(answer="Allow"))
    assert await host.ask_permission(run("sh build.sh")) == "allow_once"
    assert await host.confirm_run("sh  build.sh", wt.root)
    assert not await host.confirm_run("sh build.sh", wt.root)  # once
    assert not await host.confirm_run("sh other.sh", wt.root)  # never allowed


async def test_a_file_rewritten_after_the_answer_fails_the_check(tmp_path: Path, store: Store) -> None:
    wt = Worktree(tmp_path / "wt")
    host = host_for(wt, store, RecordingEditor(answer="Allow"))
    await host.ask_permission(run("sh build.sh"))
    wt.rewrite("build.sh", "touch PWNED\n")
    assert not await host.confirm_run("sh build.sh", wt.root)


async def test_an_unreviewed_file_rewritten_again_fails_the_check(tmp_path: Path, store: Store) -> None:
    wt = Worktree(tmp_path / "wt")
    wt.rewrite("build.sh", "echo v2\n")
    editor = RecordingEditor(answer="Allow")
    host = host_for(wt, store, editor)
    await host.ask_permission(run("sh build.sh"))
    assert "build.sh was changed by the agent and not reviewed" in editor.questions[0]
    wt.rewrite("build.sh", "touch PWNED\n")
    assert not await host.confirm_run("sh build.sh", wt.root)
    await host.ask_permission(run("sh build.sh"))
    assert await host.confirm_run("sh build.sh", wt.root)  # what the user was asked about, unchanged


async def test_always_allow_holds_in_its_workspace_only(tmp_path: Path, store: Store) -> None:
    wt = Worktree(tmp_path / "wt")
    first = RecordingEditor(answer="Always allow")
    assert await host_for(wt, store, first, "/ws-a").ask_permission(run("make")) == "allow_once"
    again = RecordingEditor(answer=None)
    assert await host_for(wt, store, again, "/ws-a").ask_permission(run("make")) == "allow_once"
    assert again.questions == []
    elsewhere = RecordingEditor(answer="Reject")
    assert await host_for(wt, store, elsewhere, "/ws-b").ask_permission(run("make")) == "reject_once"
    assert len(elsewhere.questions) == 1


async def test_the_turns_record_is_kept_for_that_turn_only(tmp_path: Path, store: Store) -> None:
    """A turn cancelled before it began on a warm host must not be given the previous turn's answer and record."""
    wt = Worktree(tmp_path / "wt")
    host = host_for(wt, store, RecordingEditor(answer="Reject"))
    host.begin("t1", None)  # type: ignore[arg-type]
    await host.on_event(TextDelta("working"))
    await host.on_event(ToolCall("c1", "Run make", "execute", "pending", (), "make"))
    await host.on_event(Plan((PlanEntry("build", "in_progress"),)))
    assert await host.ask_permission(run("make")) == "reject_once"
    await host.on_event(ToolCall("c1", "Run make", "execute", "failed"))
    recorded = host.recorded()
    assert recorded is not None and recorded[0] == "t1"
    assert [(c.tool_call_id, c.status, c.command) for c in recorded[1].tool_calls] == [("c1", "failed", "make")]
    await host.flush()
    host.end()
    answer, details = host.kept("t1", wire.Usage(input_tokens=5))
    stored = load(details)
    assert answer == "working" and stored.usage == wire.Usage(input_tokens=5)
    assert [p.outcome for p in stored.permissions] == ["rejected"] and stored.plan is not None
    assert host.kept("t2", None) == ("", dump(TurnDetails()))  # never began here
    await host.on_event(ToolCall("c2", "Read", "read", "completed"))  # outside a turn: not the last turn's
    assert [c.tool_call_id for c in load(host.kept("t1", None)[1]).tool_calls] == ["c1"]
