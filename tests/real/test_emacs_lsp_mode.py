"""Real Emacs with lsp-mode (Debian's ``elpa-lsp-mode``, batch) prompts qwen with an ``AI!`` comment and applies
both hunks through lsp-mode's code actions: the README's lsp-mode recipe, run by
``tests/support/emacs/lsp_mode_driver.el`` (see ``test_emacs_eglot.py`` for the eglot flow this mirrors).

Skips without lsp-mode unless ``AGENT_BRIDGE_REQUIRE_REAL_AGENTS`` is set (CI installs it with
``scripts/install-editors.sh``): then it fails.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.real.test_acp_agents import AFTER_FIRST_HUNK, CHANGED, FILE, ORIGINAL, require_agent
from tests.real.test_emacs_eglot import (
    COMMENT,
    HUNK_LINES,
    INSTRUCTION,
    WITH_COMMENT,
    emacs_env,
    failure_report,
    kill,
    leftovers,
    require_emacs,
    run_emacs,
)
from tests.support import REPO_ROOT
from tests.support.lsp_harness import make_repo
from tests.support.real_agents import agent_env
from tests.support.scripted_llm import ScriptedLLM

pytestmark = [pytest.mark.real_agent, pytest.mark.timeout(300)]

AGENT = "qwen"
DRIVER = REPO_ROOT / "tests" / "support" / "emacs" / "lsp_mode_driver.el"


def test_lsp_mode_comment_prompt_and_code_actions(tmp_path: Path) -> None:
    emacs, version = require_emacs("lsp-mode")
    cmd = require_agent(AGENT)
    repo = make_repo(tmp_path / "project", {FILE: ORIGINAL, "README.md": "# project\n"})
    verdict_path = tmp_path / "verdict.json"
    with ScriptedLLM() as llm:
        init_options = {
            "agents": {AGENT: {"protocol": "acp", "command": cmd,
                               "env": agent_env(AGENT, llm.base_url, tmp_path / "agent-home")}},
            "defaultAgent": AGENT,
        }
        env = emacs_env(
            tmp_path,
            AB_EMACS_VERDICT=str(verdict_path),
            AB_EMACS_FILE=str(repo / FILE),
            AB_EMACS_INIT_OPTIONS=json.dumps(init_options),
            AB_EMACS_LOG_FILE=str(tmp_path / "state" / "bridge.log"),
            AB_EMACS_AGENT=AGENT,
            AB_EMACS_COMMENT=COMMENT,
            AB_EMACS_TIMEOUT="90",
        )
        marker = f"AGENT_BRIDGE_STATE_DIR={env['AGENT_BRIDGE_STATE_DIR']}"
        try:
            output, elapsed = run_emacs([emacs, "-q", "--batch", "-l", str(DRIVER)], repo, env, 240.0)
        finally:
            kill(leftovers(marker))
    print(f"emacs run took {elapsed:.1f} s")
    verdict = json.loads(verdict_path.read_text()) if verdict_path.exists() else None

    def report() -> str:
        return failure_report(version, output, tmp_path, verdict)

    assert verdict is not None and verdict["ok"] is True and "error" not in verdict, report()
    assert "agent-bridge" in verdict["servers"], report()
    assert verdict["with_comment"] == WITH_COMMENT, report()
    assert f"Ask agent: {INSTRUCTION}" in verdict["comment_actions"], report()
    assert verdict["answer"].endswith(" — 2 pending changes: use code actions to apply or reject"), report()
    assert verdict["hint_lines"] == HUNK_LINES, report()
    for n in (1, 2):
        assert verdict[f"apply_actions_{n}"][0].startswith(f"Apply agent change ({AGENT}: "), report()
    assert verdict["after_hunk_1"] == AFTER_FIRST_HUNK, report()
    assert verdict["after"] == CHANGED and verdict["modified"] is True, report()
    assert (repo / FILE).read_text() == ORIGINAL, report()
    assert verdict["questions"] == [], report()
