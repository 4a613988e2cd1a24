"""Real headless Neovim and a second editor share one session through the bridge daemon.

The other editor (pytest-lsp) prompts; Neovim, attached to the same workspace, watches the turn stream in and
applies the hunk through its own code action; the other editor then no longer sees it pending. One bridge per
window used to mean window B applying A's session while A still listed it.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO_ROOT
from tests.support.lsp_harness import make_repo, start_editor
from tests.support.neovim import nvim_env, require_nvim

pytestmark = pytest.mark.timeout(180)

DRIVER = REPO_ROOT / "tests" / "support" / "neovim_lua" / "shared_driver.lua"
ORIGINAL = "def greet(name):\n    print('hello ' + name)\n"
AGENT_TEXT = "def greet(name):\n    \"\"\"Say hello.\"\"\"\n    print('hello ' + name)\n"


async def test_neovim_and_another_editor_share_one_session(tmp_path: Path) -> None:
    nvim, version = require_nvim()
    repo = make_repo(tmp_path / "project", {"greet.py": ORIGINAL})
    state = tmp_path / "state"  # where nvim_env points the bridge too
    linger = {"AGENT_BRIDGE_DAEMON_LINGER": "60"}
    other = await start_editor(repo, state, tmp_path / "agent.log", extra_env=linger)
    verdict_path, ready = tmp_path / "verdict.json", tmp_path / "nvim.ready"
    env = nvim_env(
        tmp_path,
        AB_NVIM_VERDICT=str(verdict_path),
        AB_NVIM_READY=str(ready),
        AB_NVIM_FILE=str(repo / "greet.py"),
        AB_NVIM_ROOT=str(repo),
        AB_NVIM_SERVE=json.dumps([sys.executable, "-m", "bridge.cli", "serve"]),
        SCRIPTED_AGENT_LOG=str(tmp_path / "agent.log"),
    )
    proc = await asyncio.create_subprocess_exec(
        nvim, "--headless", "-n", "-i", "NONE", "--clean", "-c", f"luafile {DRIVER}",
        cwd=repo, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        async def attached() -> None:
            while not ready.exists():
                assert proc.returncode is None, "nvim quit before attaching"
                await asyncio.sleep(0.05)

        await asyncio.wait_for(attached(), 60)
        sid, tid, result = await other.run(f"@write greet.py\n{AGENT_TEXT}@end\n@say rewrote greet")
        assert result["status"] == "completed", result
        output, _ = await asyncio.wait_for(proc.communicate(), 120)
        verdict = json.loads(verdict_path.read_text())
        report = f"nvim {version}: {json.dumps(verdict, indent=1)}\n{output.decode(errors='replace')[-3000:]}"
        assert verdict["ok"], report
        # Neovim watched the other editor's turn, and applied its hunk in its own buffer.
        assert (verdict["session"], verdict["turn"]) == (sid, tid), report
        assert verdict["streamed"] == "rewrote greet\n", report
        assert verdict["after"] == AGENT_TEXT, report
        # The other editor sees it applied: nothing pending, nothing edited on its side, disk untouched.
        assert await other.pending(sid) == [], report
        assert other.edits_applied == 0
        assert (repo / "greet.py").read_text() == ORIGINAL
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await other.client.shutdown_session()
        await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "bridge.cli", "daemon", "stop", "--state-dir", str(state)],
            capture_output=True, timeout=90, check=False,
        )
