"""Reviewing in place with the Neovim plugin, in real headless Neovim 0.11 against the real bridge and its scripted
agent (``editor-clients/neovim/tests/review_test.lua`` plays the user; the README's minimal configuration is the
init file).

What it covers: a hunk appended at the end of a file is reached from the last line and applied without an extra
blank line; the inline preview (removed lines highlighted in place, added lines as virtual lines) toggled per
buffer and redrawn on ``pendingChanged``; next/previous pending hunk across files; apply / reject for a file, for
the whole session and from inside the diff view; a reject reported with how to undo it and undone by
``:AgentUnreject``; the chat's and the prompt buffer's default mappings (and ``mappings = false``); the prompt
buffer under the chat; the chat following its output past a reasoning fold unless the user scrolled up; a prompt
sent before the bridge has attached is queued, not dropped; ``--new`` reusing the one chat window; ``:help
agent_bridge``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.real.test_neovim_plugin import readme_minimal_config
from tests.support import REPO_ROOT
from tests.support.lsp_harness import make_repo
from tests.support.neovim import nvim_env, require_nvim, run_nvim
from tests.support.neovim import report as nvim_report

pytestmark = pytest.mark.timeout(240)

RUN_TIMEOUT = 200.0
DRIVER = REPO_ROOT / "editor-clients" / "neovim" / "tests" / "review_test.lua"

GREET = "def greet(name):\n    print('hello ' + name)\n"
OTHER = "one\ntwo\nthree\nfour\n"

# Every check the driver must have made (and passed); a renamed or dropped check fails here.
EXPECTED_CHECKS = [
    "the bridge is not attached yet when the first prompt goes",
    "a prompt sent while the bridge starts is not dropped",
    "the last line reaches the hunk appended after it",
    "the appended hunk applies without an extra blank line",
    "the chat window is open",
    "the prompt buffer opens under the chat with it",
    "the chat shows the turn's end after a reasoning fold",
    "the chat stays where the user scrolled up to",
    "back at the end, the chat follows again",
    "chat maps q",
    "chat maps i",
    "chat maps <C-c>",
    "compose uses the prompt window already there",
    "the prompt buffer opens under the chat",
    "prompt buffer maps n <CR>",
    "prompt buffer maps n <C-s>",
    "prompt buffer maps i <C-s>",
    "prompt buffer maps n <C-c>",
    "prompt buffer maps i <C-c>",
    "prompt buffer maps n q",
    "<CR> sent the prompt and emptied the buffer",
    "<C-c> in the prompt buffer cancelled the turn",
    "--new reuses the one chat window",
    "the chat window keeps its width",
    "the prompt window follows the chat's session",
    "q in the chat closes the chat and the prompt window",
    "mappings = false sets none",
    "preview highlights the removed line in place",
    "preview shows the added line as a virtual line under it",
    "preview shows an inserted line above the line it goes before",
    "preview is per buffer",
    "next: the hunk below in this file",
    "next: the file's next hunk",
    "next: the next file's first hunk",
    "preview shows lines appended at the end under the last line",
    "preview is off in buffers not toggled",
    "next: the appended hunk on the last line",
    "next wraps around to the first file",
    "prev: the previous file's last hunk",
    "prev: the hunk above in this file",
    "reject says how many and how to undo",
    "unreject says what came back",
    "reject of the file rejects both hunks",
    "unreject restores the file's hunks",
    "reject in the diff view rejects the hunk under the cursor",
    "apply in the diff view applies the hunk under the cursor to the file's buffer",
    "reject-all rejects the session's three hunks",
    "apply-all applies every hunk of the session",
    "apply-all says how many",
    "stale help tags are generated again",
    ":help agent_bridge lands on the plugin's main tag",
    ":help agent-bridge lands on the plugin's main tag",
    ":help :AgentUnreject",
    ":help :AgentNext",
    ":help :AgentPreview",
    ":help :AgentApplyAll",
    ":help :AgentRejectAll",
    ":help agent_bridge-mappings",
]


def test_neovim_review_in_place(tmp_path: Path) -> None:
    nvim, version = require_nvim()
    repo = make_repo(tmp_path / "project", {"greet.py": GREET, "other.txt": OTHER})
    init = tmp_path / "init.lua"
    init.write_text(readme_minimal_config())
    verdict_path = tmp_path / "verdict.json"
    env = nvim_env(tmp_path, AB_TEST_VERDICT=str(verdict_path), AB_TEST_REPO=str(repo))
    cmd = [nvim, "--headless", "-n", "-i", "NONE", "-u", str(init), "-c", f"luafile {DRIVER}"]
    output = run_nvim(cmd, repo, env, RUN_TIMEOUT)
    report = nvim_report(version, output, tmp_path, verdict_path)
    assert verdict_path.exists(), report
    verdict = json.loads(verdict_path.read_text())
    failed = [c for c in verdict["checks"] if not c["ok"]]
    assert not failed, f"failed checks: {json.dumps(failed, indent=1)}\n{report}"
    assert verdict["ok"], f"the driver stopped: {verdict.get('error')}\nsteps: {verdict['steps']}\n{report}"
    missing = [n for n in EXPECTED_CHECKS if n not in {c["name"] for c in verdict["checks"]}]
    assert not missing, f"checks never made: {missing}\n{report}"
    errors = [n for n in verdict["notifications"] if (n.get("level") or 0) >= 4]
    assert not errors, f"error notifications: {errors}\n{report}"
    # Applying edits buffers only: the user's files on disk are as they were.
    assert (repo / "other.txt").read_text() == OTHER, report
