"""A sandboxed agent cannot touch anything but its worktree, even straight from disk (issue: agents in a sandbox).

An agent is a program running as the user: a prompt-injected one wrote outside its worktree and read the
user's SSH key straight from disk, with no tool call the bridge could refuse. The hostile agent below does
exactly that from its own process (and through a terminal it is allowed); with `sandbox = true` every such
write and read fails while its worktree write still becomes a pending hunk. The same test without the sandbox
shows the attack working, so it is the sandbox that stops it.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from backends import sandbox
from tests.security.test_orphans import argv, descendants, kill_bridge_and_check
from tests.support import REPO_ROOT
from tests.support.daemons import daemon_pid
from tests.support.lsp_harness import Editor, make_repo, start_editor

HOSTILE = [sys.executable, str(REPO_ROOT / "tests" / "security" / "hostile_agent.py"), "escape"]
SECRET = "-----BEGIN OPENSSH PRIVATE KEY----- test key, never for the agent\n"
OTHER = "the other project's private notes\n"

# Where no sandbox can be made these skip, unless CI requires them (it installs bubblewrap): then they fail.
needs_bwrap = pytest.mark.skipif(
    sandbox.problem() is not None and not os.environ.get("AGENT_BRIDGE_REQUIRE_REAL_AGENTS"),
    reason=f"no sandbox here: {sandbox.problem()}",
)


def fake_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_test").write_text(SECRET)
    return home


async def hostile_turn(
    editor: Editor, orders: dict[str, Any], session_id: str | None = None
) -> tuple[str, dict[str, Any]]:
    editor.answers = ["Allow"]
    fields = {"sessionId": session_id} if session_id else {}
    sid, tid, result = await editor.run(json.dumps(orders), agent="hostile", **fields)
    assert result["status"] == "completed", result
    return sid, json.loads(editor.text_of(tid))


@needs_bwrap
@pytest.mark.parametrize("sandboxed", [True, False], ids=["sandboxed", "plain"])
async def test_a_hostile_agent_cannot_write_outside_or_read_a_home_secret(
    tmp_path: Path, sandboxed: bool
) -> None:
    repo = make_repo(tmp_path / "project", {"README.md": "# project\n"})
    other = make_repo(tmp_path / "other", {"notes.txt": OTHER})
    home = fake_home(tmp_path)
    state = tmp_path / "state"
    outside = [repo / "ESCAPED", state / "ESCAPED", other / "ESCAPED", home / ".ssh" / "authorized_keys",
               tmp_path / "ESCAPED"]
    secrets = [home / ".ssh" / "id_test", other / "notes.txt"]
    term_marker = repo / "TERMINAL_ESCAPED"
    agent: dict[str, Any] = {"command": HOSTILE, "env": {"HOME": str(home)}, "sandbox": sandboxed}
    editor = await start_editor(repo, state, tmp_path / "agent.log", init_options={"agents": {"hostile": agent}})
    try:
        # Its own shell tries to lift what hides the secrets: unmounting works for root unless capabilities go.
        key = home / ".ssh" / "id_test"
        orders = {"write": [str(p) for p in outside], "read": [str(p) for p in secrets],
                  "shell": f"umount -l /tmp; umount -l {home}; mount -o remount,rw /; cat {key}",
                  "run": f"echo pwned > {term_marker}; cat {key}"}
        sid, report = await hostile_turn(editor, orders)
        # Next turn, git's admin dir for its worktree (in the user's repository): its `commondir` or `index`
        # would steer the git the bridge runs outside the sandbox.
        worktree = next(s["worktree"] for s in await editor.cmd("agentBridge.sessions", {}) if s["sessionId"] == sid)
        # (the others are spare worktrees the bridge keeps ready for new sessions)
        [admin] = [d for d in (repo / ".git" / "worktrees").iterdir()
                   if (d / "gitdir").read_text().strip() == str(Path(worktree) / ".git")]
        _, steer = await hostile_turn(editor, {"write": [str(admin / "ESCAPED")]}, sid)
        outside.append(admin / "ESCAPED")
        escaped = [p for p in outside if p.exists()]
        leaked = [path for path, text in report["read"].items() if text in (SECRET, OTHER)]
        ran = report["ran"]
        if not sandboxed:  # the attack works without the sandbox: the assertions below can fail
            assert escaped == outside and len(leaked) == 2 and term_marker.exists(), report
            assert SECRET in ran["output"] and SECRET in report["shell"]
            return
        assert SECRET not in report["shell"], report["shell"]
        assert steer["wrote"][str(admin / "ESCAPED")].startswith("error"), steer
        assert escaped == [], f"the agent wrote outside its worktree: {escaped}; {report}"
        assert leaked == [], f"the agent read {leaked}"
        assert not term_marker.exists() and SECRET not in json.dumps(ran), ran
        assert ran["exit"] != 0, ran
        # Writes into hidden places fail outright (not into a throwaway copy), except in /tmp's scratch space.
        for path in (repo / "ESCAPED", state / "ESCAPED", other / "ESCAPED", home / ".ssh" / "authorized_keys"):
            assert report["wrote"][str(path)].startswith("error"), report
        assert (home / ".ssh" / "id_test").read_text() == SECRET
        # What it wrote in its worktree is a pending hunk, as ever.
        pending = await editor.pending(sid)
        assert [p["uri"] for p in pending] == [editor.uri("inside.txt")], pending
    finally:
        await editor.client.shutdown_session()


@needs_bwrap
async def test_the_sandbox_home_is_seeded_and_kept_apart_from_the_real_one(tmp_path: Path) -> None:
    """The agent reads its own settings (seeded into its sandbox home), and what it writes in its home stays
    there: the real home gets nothing."""
    repo = make_repo(tmp_path / "project", {"README.md": "# project\n"})
    home = fake_home(tmp_path)
    (home / ".qwen").mkdir()
    (home / ".qwen" / "settings.json").write_text('{"seeded": true}\n')
    # Named like qwen, so its settings file is seeded: the hostile agent under another name.
    qwen = tmp_path / "bin" / "qwen"
    qwen.parent.mkdir()
    qwen.write_text(f"#!/bin/sh\nexec {sys.executable} {HOSTILE[1]} escape\n")
    qwen.chmod(0o755)
    # What the wrapper runs is not on its command line: its Python install is named as an extra (read-only)
    # path, in case it lives in a hidden place (a home).
    agent = {"command": [str(qwen)], "env": {"HOME": str(home)}, "sandbox": True,
             "sandboxPaths": [sys.base_prefix, {"path": str(Path(sys.prefix).resolve()), "write": False}]}
    editor = await start_editor(repo, tmp_path / "state", tmp_path / "agent.log",
                                init_options={"agents": {"hostile": agent}})
    try:
        orders = {"write": [str(home / "left-behind")], "read": [str(home / ".qwen" / "settings.json")]}
        _, report = await hostile_turn(editor, orders)
        assert report["read"][str(home / ".qwen" / "settings.json")] == '{"seeded": true}\n', report
        assert report["wrote"][str(home / "left-behind")] == "ok", report
        assert not (home / "left-behind").exists()
        assert (tmp_path / "state" / "sandbox" / "hostile" / "home" / "left-behind").exists()
    finally:
        await editor.client.shutdown_session()


async def test_without_bubblewrap_a_sandboxed_agent_refuses_to_start(repo: Path, tmp_path: Path) -> None:
    """Never silently unsandboxed: the turn fails and says how to enable the sandbox; nothing ran."""
    agent = {"command": HOSTILE, "sandbox": True}
    editor = await start_editor(repo, tmp_path / "state", tmp_path / "agent.log",
                                init_options={"agents": {"hostile": agent}},
                                extra_env={sandbox.BWRAP_ENV: str(tmp_path / "no-such-bwrap")})
    try:
        marker = tmp_path / "RAN"
        _, _, result = await editor.run(json.dumps({"write": [str(marker)]}), agent="hostile")
        assert result["status"] == "failed", result
        assert "set to run sandboxed" in result["error"] and "apt install bubblewrap" in result["error"], result
        assert not marker.exists()
        [info] = [a for a in await editor.cmd("agentBridge.agents", {}) if a["name"] == "hostile"]
        assert info["sandbox"] is True and "not installed" in info["sandboxProblem"], info
    finally:
        await editor.client.shutdown_session()


@needs_bwrap
async def test_a_sandboxed_agent_and_its_terminal_die_with_a_killed_bridge(repo: Path, tmp_path: Path) -> None:
    """The sandbox (its own PID namespace, a session of its own) does not let anything outlive the bridge: the
    launcher still finds and kills the whole tree, detached daemons included."""
    state = tmp_path / "state"
    editor = await start_editor(repo, state, tmp_path / "agent.log",
                                init_options={"agents": {"hostile": {"command": HOSTILE, "sandbox": True}}})
    editor.answers = ["Allow"]
    command = "( setsid sh -c 'exec sleep 300' & ); echo started > started.txt; exec sleep 300"
    sid, _ = await editor.prompt(json.dumps({"run": command}), agent="hostile")
    worktree = Path(next(s["worktree"] for s in await editor.cmd("agentBridge.sessions", {}) if s["sessionId"] == sid))
    deadline = time.monotonic() + 30
    while not (worktree / "started.txt").exists():
        assert time.monotonic() < deadline, "the terminal command never started"
        await asyncio.sleep(0.05)
    tree = descendants(daemon_pid(state))
    sleepers = [pid for pid in tree if argv(pid)[:1] == ["sleep"]]
    assert len(sleepers) == 2 and any(Path(argv(pid)[0]).name == "bwrap" for pid in tree), tree
    await kill_bridge_and_check(editor, {f"sleep {pid}": pid for pid in sleepers}, tree)


def test_agent_bridge_agents_says_whether_sandboxing_is_available(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[agents.qwen]\nsandbox = true\n")
    run = [sys.executable, "-m", "bridge.cli", "agents", "--config", str(config), "--workspace", str(tmp_path)]
    env = {**os.environ, sandbox.BWRAP_ENV: str(tmp_path / "no-such-bwrap")}
    shown = subprocess.run([*run, "--json"], env=env, capture_output=True, text=True, check=True).stdout
    listed = json.loads(shown)
    assert listed["sandbox"]["available"] is False and "apt install bubblewrap" in listed["sandbox"]["problem"]
    assert {a["name"]: a["sandbox"] for a in listed["agents"]}["qwen"] is True
    text = subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout
    assert "sandbox: not available (sandboxed agents will refuse to start)" in text
