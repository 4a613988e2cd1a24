"""Hostile repository content must not break the bridge (issue: the trust boundary).

A buffer the user has open under `.git/` (git's COMMIT_EDITMSG while writing a commit message, say) used to
make every new session fail: the snapshot of unsaved buffers refused its path as unsafe and the prompt failed
with an internal error. Such buffers are git's, not the project's: snapshots leave them out.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from lsprotocol import types as T

from bridge import protocol as wire
from bridge.config import BridgeSettings
from tests.security.hostile_agent import FLOOD_MB
from tests.support import REPO_ROOT
from tests.support.core import running_core, say
from tests.support.daemons import wait_daemon_gone
from tests.support.lsp_harness import Editor, start_editor


async def test_a_buffer_open_under_dot_git_does_not_break_new_sessions(editor: Editor, repo: Path) -> None:
    (repo / ".git" / "COMMIT_EDITMSG").write_text("wip\n")
    editor.open(".git/COMMIT_EDITMSG", "wip: half-written message\n")
    sid, _, result = await editor.run("@say still works")
    assert result["status"] == "completed", result
    sessions = await editor.cmd("agentBridge.sessions", {})
    worktree = Path(next(s["worktree"] for s in sessions if s["sessionId"] == sid))
    # Nothing of git's own files reached the session's snapshot.
    assert not (worktree / ".git").is_dir()
    assert (repo / ".git" / "COMMIT_EDITMSG").read_text() == "wip\n"


async def test_diff_of_a_planted_symlink_shows_the_link_not_the_target(
    editor: Editor, repo: Path, tmp_path: Path
) -> None:
    """An agent plants a symlink to a secret outside its worktree. `agentBridge.diff` used to read through it
    and show the secret (and what apply wrote, the link, differed from what was reviewed)."""
    secret = tmp_path / "id_rsa"
    secret.write_text("-----BEGIN PRIVATE KEY----- not for the agent\n")
    editor.answers = ["Allow"]
    sid, _, result = await editor.run(f"@run ln -s {secret} key.txt")
    assert result["status"] == "completed", result
    uri = editor.uri("key.txt")
    versions = await editor.cmd("agentBridge.diff", {"sessionId": sid, "uri": uri})
    assert "PRIVATE KEY" not in json.dumps(versions)
    assert versions["agentText"] == str(secret)  # what git records for a link, and what apply writes


async def test_a_huge_answer_is_stored_cut_with_a_note(repo: Path, tmp_path: Path) -> None:
    """A 50 MB answer used to be stored whole (state.db grew by 105 MB). The history keeps maxStoredAnswer
    characters and says how much was cut; the editor still got the whole stream."""
    settings = BridgeSettings(max_stored_answer=1000)
    async with running_core(tmp_path / "state", [say("x" * 200_000)], settings) as (core, _, editor):
        started = await core.prompt(wire.PromptArgs(wire.NonEmptyStr("talk a lot")), repo, lambda uri: None)
        assert (await core.await_turn(started.session_id, started.turn_id, 30)).status == "completed"
        [entry] = await core.history(started.session_id)
        assert entry.answer is not None and entry.answer.startswith("x" * 1000)
        assert len(entry.answer) < 1200 and "199000 more characters were not kept" in entry.answer
        streamed = "".join(e.text for e in editor.events if isinstance(e, wire.TextEvent))
        assert len(streamed) == 200_000


NON_UTF8 = "@run printf 'x\\n' > \"$(printf 'caf\\351.txt')\""  # an agent's file named b"caf\xe9.txt"


async def test_a_file_name_that_is_not_utf8_keeps_the_session_working(repo: Path, tmp_path: Path) -> None:
    """One file named b"caf\\xe9.txt" used to fail every later turn of its session (SQLite cannot hold the
    name as text) and, after a restart, drop the session's pending hunks from review."""
    state = tmp_path / "state"
    editor = await start_editor(repo, state, tmp_path / "agent.log")
    try:
        editor.answers = ["Allow"]
        sid, _, result = await editor.run(NON_UTF8)
        assert result["status"] == "completed", result
        _, _, again = await editor.run("@write notes.txt\nhello\n@end", sessionId=sid)
        assert again["status"] == "completed", again
        uris = sorted(f["uri"] for f in await editor.pending(sid))
        # The URI names the very bytes of the file: percent-encoded, nothing replaced.
        assert uris == [editor.uri(os.fsdecode(b"caf\xe9.txt")), editor.uri("notes.txt")], uris
        assert "%E9" in uris[0]
        diff = await editor.cmd("agentBridge.diff", {"sessionId": sid, "uri": uris[0]})
        assert diff["agentText"] == "x\n"
        # Where the name is shown, it is shown escaped (valid UTF-8 for every editor's JSON parser).
        mine = repo / os.fsdecode(b"caf\xe9.txt")
        mine.write_text("mine\n")
        applied = await editor.cmd("agentBridge.apply", {"sessionId": sid, "uri": uris[0]})
        assert applied["applied"] == 0 and "caf\\xe9.txt already exists" in applied["conflicts"][0]["reason"]
        mine.unlink()
    finally:
        await editor.client.shutdown_session()
    editor = await start_editor(repo, state, tmp_path / "agent.log")
    try:
        assert len(await editor.pending(sid)) == 2, "pending hunks were lost over a restart"
        [hunk] = (await editor.pending(sid, uris[0]))[0]["hunks"]
        rejected = await editor.cmd("agentBridge.reject", {"sessionId": sid, "uri": uris[0], "hunkId": hunk["hunkId"]})
        assert rejected["rejected"] == 1, rejected
        assert [f["uri"] for f in await editor.pending(sid)] == [editor.uri("notes.txt")]
        assert not any(p.name.startswith("caf") for p in repo.iterdir())  # the user's checkout never got it
    finally:
        await editor.client.shutdown_session()


LONE_CR = "a\rb\nc\nd\n"  # git: 3 lines; LSP (and every editor): 4, "a" and "b" on lines of their own


async def test_a_lone_carriage_return_does_not_move_an_applied_edit(editor: Editor, repo: Path) -> None:
    """A lone "\\r" ends a line for LSP but not for git. The edit for "d" -> "D" was placed by git's count,
    one line too high: applying it rewrote "c" instead, silently, and was reported as applied."""
    for name in ("cr.txt", "cr2.txt"):
        (repo / name).write_bytes(LONE_CR.encode())
    editor.answers = ["Allow"]
    sid, _, result = await editor.run("@run for f in cr.txt cr2.txt; do printf 'a\\rb\\nc\\nD\\n' > $f; done")
    assert result["status"] == "completed", result
    # A code action's edit, applied by the editor.
    uri = editor.open("cr.txt", LONE_CR)
    [pending] = await editor.pending(sid, uri)
    assert pending["hunks"][0]["range"]["start"]["line"] == 3  # "d" is on LSP line 3
    action = (await editor.code_actions(uri, 3))[0]
    assert action.edit is not None and editor.apply_workspace_edit(action.edit)[0]
    assert editor.text(uri) == "a\rb\nc\nD\n"
    # agentBridge.apply, which sends the edit itself.
    uri2 = editor.open("cr2.txt", LONE_CR)
    applied = await editor.cmd("agentBridge.apply", {"sessionId": sid, "uri": uri2})
    assert applied["applied"] == 1, applied
    assert editor.text(uri2) == "a\rb\nc\nD\n"


async def test_incremental_edits_after_a_form_feed_land_where_the_user_typed(editor: Editor, repo: Path) -> None:
    """pygls split documents at form feeds and U+2028 as well as at line ends, so every incremental change
    below such a character was applied a line off, and the session's snapshot of the unsaved buffer (what the
    agent works on, what hunks are reviewed against) was a text the user never had."""
    text = "x\x0cy\nsep\u2028arated\nz\nw\n"
    (repo / "ff.c").write_text(text)
    uri = editor.open("ff.c", text)
    typed = T.TextDocumentContentChangePartial(range=T.Range(T.Position(2, 0), T.Position(2, 0)), text="Z")
    editor.client.text_document_did_change(T.DidChangeTextDocumentParams(
        text_document=T.VersionedTextDocumentIdentifier(uri=uri, version=2), content_changes=[typed],
    ))
    sid, _, result = await editor.run("@say looked")
    assert result["status"] == "completed", result
    worktree = Path(next(s["worktree"] for s in await editor.cmd("agentBridge.sessions", {})
                         if s["sessionId"] == sid))
    assert (worktree / "ff.c").read_text() == "x\x0cy\nsep\u2028arated\nZz\nw\n"


async def test_an_agent_flooding_its_output_cannot_fill_the_disk(repo: Path, tmp_path: Path) -> None:
    """An agent's stderr went whole into its log under the state dir: 40 MB from one prompt, without end from a
    hostile agent. The log keeps maxAgentLog bytes of a run and says how much it cut; the turn is unharmed."""
    hostile = [sys.executable, str(REPO_ROOT / "tests" / "security" / "hostile_agent.py"), "flood"]
    options = {"agents": {"hostile": {"command": hostile}}, "settings": {"maxAgentLog": 100_000}}
    state = tmp_path / "state"
    editor = await start_editor(repo, state, tmp_path / "agent.log", init_options=options)
    try:
        _, tid, result = await editor.run("flood", agent="hostile")
        assert result["status"] == "completed", result
        assert editor.text_of(tid) == "flooded"
    finally:
        await editor.client.shutdown_session()
    # The agent's run (and its log) ends when the daemon, its last window gone, has stopped it.
    await wait_daemon_gone(state)
    [log] = (state / "logs").glob("*hostile.stderr.log")
    data = log.read_bytes()
    assert len(data) < 101_000, len(data)
    assert f"output cut here; {FLOOD_MB * (1 << 20) - 100_000} more bytes were not kept".encode() in data
