"""Real Emacs (eglot, headless batch) drives the real bridge with a real ACP agent (qwen) through a user's loop.

The README's eglot recipe, with the agent configured in ``:initializationOptions``, runs in ``emacs -q --batch``;
``tests/support/emacs/driver.el`` plays the user: opens ``calc.py`` in a git repository with eglot managing it,
writes a comment prompt (``# <instruction> AI!``) above ``def add`` and runs its "Ask agent: ..." code action
through ``eglot-code-actions``, so qwen (against ``tests/support/scripted_llm.py``) rewrites the file in two places
far apart and drops the comment; waits for the answer eglot shows (``window/showMessage``: eglot declares no
``agentBridge.events``, so it gets plain messages) and for the two hint diagnostics in flymake, applies each hunk
by running ``eglot-code-actions`` on its hint and picking "Apply agent change (qwen: ...)" (eglot applies the
action's WorkspaceEdit itself), prompts again with ``eglot-execute-command`` as the README shows (no session id:
the same session, served by the same warm qwen process), and shuts down with ``eglot-shutdown``. It writes a JSON
verdict that this test asserts on; a failure prints Emacs's output, the verdict, eglot's events buffer and the
bridge's logs.

Emacs comes from ``scripts/install-editors.sh`` (Debian's ``emacs-nox`` + ``elpa-eglot``), qwen from
``scripts/install-agents.sh``. Either missing skips, unless ``AGENT_BRIDGE_REQUIRE_REAL_AGENTS`` is set (CI sets
it): then it fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.real.test_acp_agents import (
    AFTER_FIRST_HUNK,
    CHANGED,
    FILE,
    NOTES,
    NOTES_TEXT,
    ORIGINAL,
    REQUIRE_ENV,
    require_agent,
    script,
    write_directive,
)
from tests.real.test_neovim_lsp import processes_with_env
from tests.support import REPO_ROOT
from tests.support.editors import VENV_BIN, isolated_env
from tests.support.lsp_harness import make_repo
from tests.support.real_agents import agent_env
from tests.support.scripted_llm import ScriptedLLM

pytestmark = [pytest.mark.real_agent, pytest.mark.timeout(300)]

AGENT = "qwen"
DRIVER = REPO_ROOT / "tests" / "support" / "emacs" / "driver.el"
WAIT = 90  # seconds for each wait inside Emacs (a cold qwen start plus a turn takes a few seconds)
RUN_TIMEOUT = 240.0  # the whole Emacs run (it reports and exits by itself 15 s before)
LEFTOVER_GRACE = 5.0  # seconds the bridge and its agent may take to be gone once Emacs has exited

# The first prompt is a comment the user writes above `def add` (unsaved): its instruction is the scripted LLM's
# one-line edit (read, then write), so qwen rewrites the file without the comment, as a comment prompt asks.
# Comment prompts collapse runs of spaces (the instruction is also the action's one-line title), so the JSON spells
# them as escapes.
INSTRUCTION = f"@edit {FILE} {json.dumps(CHANGED).replace(' ', chr(92) + 'u0020')}"
COMMENT = f"# {INSTRUCTION} AI!"
WITH_COMMENT = f"{COMMENT}\n{ORIGINAL}"
SECOND_PROMPT = script(*write_directive(NOTES, NOTES_TEXT), "@say again")
# 1-based lines of the two hunks: the comment with the `def add` line after it, and `sub`'s return, far apart.
HUNK_LINES = [1, WITH_COMMENT.splitlines().index("    return a - b") + 1]


def missing(problem: str) -> NoReturn:
    """Skip, or fail when real editors are required."""
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"{problem}; {REQUIRE_ENV} is set, so real editors are required")
    pytest.skip(problem)


def emacs_feature(emacs: str, feature: str) -> str | None:
    """Emacs's version if `feature` loads in `emacs -q` (which, unlike -Q, sees Debian's elpa packages)."""
    probe = subprocess.run(
        [emacs, "-q", "--batch", "--eval", f"(princ (if (require '{feature} nil t) emacs-version \"no\"))"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    return probe.stdout if probe.returncode == 0 and probe.stdout != "no" else None


def require_emacs(feature: str = "eglot") -> tuple[str, str]:
    """(path, version line) of an Emacs with `feature`; skips without it, unless real editors are required."""
    emacs = shutil.which("emacs")
    if emacs is None:
        missing("emacs is not installed (run scripts/install-editors.sh)")
    version = emacs_feature(emacs, feature)
    if version is None:
        missing(f"emacs has no {feature} (run scripts/install-editors.sh)")
    return emacs, f"GNU Emacs {version}"


def emacs_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """This process's environment without Emacs/XDG/bridge settings, isolated under `tmp_path` (HOME too: Emacs
    keeps its native-compilation cache and project list there), the venv's `agent-bridge` first on PATH (eglot
    starts it by name, as in the README), plus `extra`."""
    (tmp_path / "home").mkdir()
    env = isolated_env(tmp_path, ("EMACS",), [str(VENV_BIN)], HOME=str(tmp_path / "home"), **extra)
    assert shutil.which("agent-bridge", path=env["PATH"]), "agent-bridge is not installed in the venv"
    return env


def run_emacs(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> tuple[str, float]:
    """Run batch Emacs in its own process group (a timeout ends it); its output and how long it took."""
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
        status = f"exit code {proc.returncode}"
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        status = f"timed out after {timeout}s"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    elapsed = time.monotonic() - started
    return f"{status} after {elapsed:.1f} s\nstdout:\n{stdout}\nstderr:\n{stderr}", elapsed


def leftovers(marker: str) -> dict[int, str]:
    """This run's processes (the bridge and its agents carry its state dir in their environment) still alive
    after a grace period."""
    deadline = time.monotonic() + LEFTOVER_GRACE
    while (left := processes_with_env(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def kill(pids: dict[int, str]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def tail(path: Path, limit: int) -> str:
    return path.read_text(errors="replace")[-limit:] if path.exists() else "(missing)"


def failure_report(version: str, output: str, tmp_path: Path, verdict: dict[str, Any] | None) -> str:
    state = tmp_path / "state"
    parts = [
        version,
        output,
        "verdict:\n" + (json.dumps(verdict, indent=1) if verdict is not None else "(no verdict)"),
        "eglot events buffer (tail):\n" + tail(tmp_path / "eglot-events.log", 20000),
        "bridge.log (tail):\n" + tail(state / "bridge.log", 6000),
    ]
    parts += [f"{p.name} (tail):\n{tail(p, 3000)}" for p in sorted((state / "logs").glob("*.stderr.log"))]
    return "\n\n".join(parts)


def test_emacs_eglot_prompts_qwen_and_applies_both_hunks(tmp_path: Path) -> None:
    emacs, version = require_emacs()
    cmd = require_agent(AGENT)
    repo = make_repo(tmp_path / "project", {FILE: ORIGINAL, "README.md": "# project\n"})
    verdict_path = tmp_path / "verdict.json"
    home = tmp_path / "agent-home"

    with ScriptedLLM() as llm:
        init_options = {
            "agents": {AGENT: {"protocol": "acp", "command": cmd, "env": agent_env(AGENT, llm.base_url, home)}},
            "defaultAgent": AGENT,
        }
        env = emacs_env(
            tmp_path,
            AB_EMACS_VERDICT=str(verdict_path),
            AB_EMACS_EVENTS=str(tmp_path / "eglot-events.log"),
            AB_EMACS_FILE=str(repo / FILE),
            AB_EMACS_INIT_OPTIONS=json.dumps(init_options),
            AB_EMACS_LOG_FILE=str(tmp_path / "state" / "bridge.log"),
            AB_EMACS_AGENT=AGENT,
            AB_EMACS_COMMENT=COMMENT,
            AB_EMACS_PROMPT2=SECOND_PROMPT,
            AB_EMACS_TIMEOUT=str(WAIT),
            AB_EMACS_DEADLINE=str(RUN_TIMEOUT - 15),
        )
        marker = f"AGENT_BRIDGE_STATE_DIR={env['AGENT_BRIDGE_STATE_DIR']}"
        try:
            output, elapsed = run_emacs([emacs, "-q", "--batch", "-l", str(DRIVER)], repo, env, RUN_TIMEOUT)
        finally:
            left = leftovers(marker)
            kill(left)
        print(f"emacs run took {elapsed:.1f} s")
        second_turn_calls = [
            json.dumps(r.body) for r in llm.model_requests() if "@say again" in json.dumps(r.body)
        ]

    verdict = json.loads(verdict_path.read_text()) if verdict_path.exists() else None

    def report() -> str:
        return failure_report(version, output, tmp_path, verdict)

    assert verdict is not None, report()
    assert verdict["ok"] is True and "error" not in verdict, report()
    print(f"{verdict['emacs_version']} eglot {verdict['eglot_version']}: connected in "
          f"{verdict['connect_seconds']:.1f} s, shut down in {verdict['shutdown_seconds']:.1f} s")
    assert verdict["server_name"] == "agent-bridge", report()

    # Turn 1, from the comment: eglot's code actions on the comment line offered "Ask agent: <instruction>", and
    # running it prompted qwen with the instruction, where it came from and the lines around it (unsaved buffer).
    assert verdict["with_comment"] == WITH_COMMENT, report()
    assert f"Ask agent: {INSTRUCTION}" in verdict["comment_picked_from"], report()
    first_prompt = verdict["first_prompt"]
    assert first_prompt.startswith(INSTRUCTION) and "remove that comment" in first_prompt, report()
    # eglot declares no agentBridge.events capability: it got the streamed text as window/logMessage and the answer,
    # with the changes to review, as window/showMessage; no events.
    assert verdict["first_turn"]["status"] == "completed", report()
    assert verdict["first_turn"]["stopReason"] == "end_turn", report()
    assert "done" in verdict["first_streamed"], report()
    answer = verdict["first_answer"]
    assert answer.startswith(f"{AGENT}: ") and "done" in answer, report()
    assert answer.endswith(" — 2 pending changes: use code actions to apply or reject"), report()
    assert verdict["event_kinds"] == [], report()
    # Two hunks, shown by flymake as hints on their lines, pending in the bridge.
    assert verdict["hint_lines"] == HUNK_LINES, report()
    assert verdict["pending_before"] == 2, report()

    # Each hunk applied through eglot's code-action picker: eglot applied the WorkspaceEdit, one hunk at a time.
    assert len(verdict["picked_from"]) == 2, report()
    for titles in verdict["picked_from"]:
        # eglot keeps the server's order: Apply first, as in Neovim and (since it is preferred) VS Code.
        assert titles[0].startswith(f"Apply agent change ({AGENT}: "), report()
        assert any(t.startswith(f"Reject agent change ({AGENT}: ") for t in titles), report()
    assert verdict["before"] == ORIGINAL, report()
    assert verdict["after_hunk_1"] == AFTER_FIRST_HUNK, report()  # the comment went with the first hunk
    assert verdict["pending_after_hunk_1"] == 1, report()
    assert verdict["after_hunk_2"] == CHANGED, report()
    # The buffer is the agent's version; the bridge re-baselined; nothing is saved until the user saves.
    assert verdict["after"] == CHANGED, report()
    assert verdict["pending_after_hunk_2"] == 0, report()
    assert verdict["modified"] is True, report()
    assert (repo / FILE).read_text() == ORIGINAL, report()

    # Turn 2, prompted the README's way (no session id), continues the same session, served by the same warm qwen
    # process and ACP session.
    assert verdict["second_reply"]["sessionId"] == verdict["first_reply"]["sessionId"], report()
    assert verdict["second_reply"]["turnId"] != verdict["first_reply"]["turnId"], report()
    assert verdict["second_turn"]["status"] == "completed", report()
    assert "again" in verdict["second_streamed"], report()
    assert "again" in verdict["second_answer"], report()
    agents = verdict["agents_after_first"]
    assert len(agents) == 1 and "qwen" in agents[0]["args"], report()
    assert verdict["agents_after_second"] == agents, report()
    assert verdict["statuses_after_first"] == [[f"{AGENT}:idle"]], report()
    assert verdict["statuses_after_second"] == [[f"{AGENT}:idle"]], report()
    assert verdict["sessions"] == [verdict["first_reply"]["sessionId"]], report()
    assert second_turn_calls, report()
    assert all(f"@edit {FILE}" in body for body in second_turn_calls), "the second turn lost the first one's history"

    # Nothing asked the user; eglot-shutdown ended the server, and neither it nor the agent outlived the run.
    # eglot (jsonrpc.el) deletes the server process right after sending `exit`, i.e. SIGKILLs its process group
    # (so "signal" with eglot 1.9): the bridge has answered `shutdown` and begun stopping its agent by then, and
    # the agent, in the bridge's process group, goes with it.
    assert verdict["questions"] == [], report()
    assert verdict["bridge_status"] in {"exit", "signal"}, report()
    assert verdict["managed_after_shutdown"] is False, report()
    assert left == {}, f"still running {LEFTOVER_GRACE} s after Emacs exited (killed now): {left}\n{report()}"


def test_missing_emacs_skips_or_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """The skip/fail rule itself, without Emacs."""
    monkeypatch.setattr("tests.real.test_emacs_eglot.shutil.which", lambda name, **_: None)
    monkeypatch.delenv(REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="install-editors"):
        require_emacs()
    monkeypatch.setenv(REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match=REQUIRE_ENV):
        require_emacs()
