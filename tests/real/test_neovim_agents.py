"""Real agents inside real Neovim: the plugin, qwen and claude-agent-acp against the scripted LLM.

The user's path, each agent: the plugin (README setup, the agent in `agents`) starts the bridge; open a file;
prompt so the agent reads the file and rewrites it in two places; apply both hunks with Neovim's own
`vim.lsp.buf.code_action()`; the buffer holds the agent's text; a second prompt in the same session is served
by the same warm agent process and conversation. ``tests/support/neovim_lua/agents_driver.lua`` plays the user.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.real.test_acp_agents import AGENTS, CHANGED, FILE, ORIGINAL, require_agent, script, write_directive
from tests.support import REPO_ROOT
from tests.support.lsp_harness import make_repo
from tests.support.neovim import nvim_env, require_nvim, run_nvim
from tests.support.neovim import report as nvim_report
from tests.support.real_agents import agent_env
from tests.support.scripted_llm import ScriptedLLM

pytestmark = [pytest.mark.real_agent, pytest.mark.timeout(300)]

DRIVER = REPO_ROOT / "tests" / "support" / "neovim_lua" / "agents_driver.lua"
PLUGIN = REPO_ROOT / "editor-clients" / "neovim"
RUN_TIMEOUT = 240.0


def init_lua(name: str, command: list[str], env: dict[str, str]) -> str:
    """The README's minimal plugin setup, with the agent configured as a user would."""
    agent = {"command": command, "env": env}
    return (
        f"vim.opt.rtp:append({json.dumps(str(PLUGIN))})\n"
        f"require('agent_bridge').setup({{ default_agent = {json.dumps(name)}, chat = {{ open = 'never' }},\n"
        f"  agents = {{ [{json.dumps(name)}] = vim.json.decode({json.dumps(json.dumps(agent))}) }} }})\n"
    )


@pytest.mark.parametrize("name", sorted(AGENTS))
def test_real_agent_in_neovim_edit_apply_and_warm_second_turn(name: str, tmp_path: Path) -> None:
    nvim, version = require_nvim()
    command = require_agent(AGENTS[name])
    repo = make_repo(tmp_path / "project", {FILE: ORIGINAL, "README.md": "# project\n"})
    verdict_path = tmp_path / "verdict.json"
    with ScriptedLLM() as llm:
        init = tmp_path / "init.lua"
        init.write_text(init_lua(name, command, agent_env(AGENTS[name], llm.base_url, tmp_path / "agent-home")))
        env = nvim_env(
            tmp_path,
            AB_VERDICT=str(verdict_path),
            AB_FILE=str(repo / FILE),
            AB_FIRST_PROMPT=script(f"@read {FILE}", *write_directive(FILE, CHANGED), "@say finished"),
            AB_SECOND_PROMPT=script("@say again"),
        )
        cmd = [nvim, "--headless", "-n", "-i", "NONE", "-u", str(init), "-c", f"luafile {DRIVER}"]
        started = time.monotonic()
        output = run_nvim(cmd, repo, env, RUN_TIMEOUT)
        print(f"{name} in Neovim: {time.monotonic() - started:.1f} s")
        model_calls = [json.dumps(r.body) for r in llm.model_requests() if "@say again" in json.dumps(r.body)]

    def report() -> str:
        logs = "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted((tmp_path / "state" / "logs").glob("*.log"))
        ) if (tmp_path / "state" / "logs").is_dir() else ""
        return nvim_report(version, output, tmp_path, verdict_path) + "\n" + logs

    assert verdict_path.exists(), report()
    verdict = json.loads(verdict_path.read_text())
    assert verdict["ok"], report()
    assert verdict["first_result"]["status"] == "completed", report()
    assert verdict["before"] == ORIGINAL, report()
    # Both hunks applied through Neovim's code action, each offering Apply first and Reject.
    assert verdict["hunks_before"] == 2 and len(verdict["applied"]) == 2, report()
    for applied in verdict["applied"]:
        assert applied["titles"][0].startswith(f"Apply agent change ({name}"), report()
        assert any(t.startswith(f"Reject agent change ({name}") for t in applied["titles"]), report()
    assert verdict["after"] == CHANGED and verdict["modified"], report()
    assert (repo / FILE).read_text() == ORIGINAL, report()  # the user saves, not the bridge
    # The second turn: same session, same warm agent and conversation.
    assert verdict["second_session"] == verdict["session"], report()
    assert verdict["second_result"]["status"] == "completed", report()
    assert [(a["agent"], a["status"]) for a in verdict["agents_after_second"]] == [(name, "idle")], report()
    starts = [e for e in verdict["events"] if e["kind"] == "turnStarted"]
    assert len(starts) == 2 and {e["agent"] for e in starts} == {name}, report()
    assert not [e for e in verdict["events"] if e["kind"] == "notice"], report()  # no restart or resume
    assert model_calls and all("@say finished" in body for body in model_calls), "the second turn lost the first"
