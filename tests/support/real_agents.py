"""Helpers for tests that drive real ACP agents (installed by ``scripts/install-agents.sh``) against
``tests/support/scripted_llm.py``.

Supported agents (names are the binary names): ``qwen`` (``@qwen-code/qwen-code``, run as ``qwen --acp``),
``claude-agent-acp`` (``@zed-industries/claude-agent-acp``; alias ``claude``), ``gemini`` (``@google/gemini-cli``,
run as ``gemini --acp -m fake-model``; alias ``gemini-cli``) and ``opencode`` (``opencode-ai``;
``agent_command`` gives the bare binary, as the bridge's opencode transport wants it: it adds ``serve ...``).

Typical use::

    with ScriptedLLM() as llm:
        cmd = agent_command("qwen")          # None -> pytest.skip
        env = agent_env("qwen", llm.base_url, tmp_path / "home")
        async with acp.spawn_agent_process(client, *cmd, cwd=wt, env=env,
                                           transport_kwargs={"stderr": stderr_file}) as (conn, proc): ...
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from tests.support import REPO_ROOT

__all__ = ["AGENTS", "REPO_ROOT", "agent_bin", "agent_command", "agent_env", "canonical_name"]

AGENTS_BIN = REPO_ROOT / ".agents" / "node_modules" / ".bin"

# name -> extra argv after the binary
AGENTS: dict[str, tuple[str, ...]] = {
    "qwen": ("--acp",),
    "claude-agent-acp": (),
    # gemini asks the API for the model named here (its default is a real Gemini model's name).
    "gemini": ("--acp", "-m", "fake-model"),
    "opencode": (),
}
# Agents installed into a prefix of their own (see scripts/install-agents.sh).
LOCAL_BINS: dict[str, Path] = {"opencode": REPO_ROOT / ".agents" / "opencode" / "node_modules" / ".bin"}
OPENCODE_MODEL = "fake/fake-model"
_ALIASES = {"claude": "claude-agent-acp", "qwen-code": "qwen", "gemini-cli": "gemini"}


def canonical_name(name: str) -> str:
    name = _ALIASES.get(name, name)
    if name not in AGENTS:
        raise ValueError(f"unknown agent {name!r}; known: {sorted(AGENTS)}")
    return name


def agent_bin(name: str) -> Path | None:
    """The agent's executable: the repo-local install first (pinned versions), then PATH."""
    name = canonical_name(name)
    local = LOCAL_BINS.get(name, AGENTS_BIN) / name
    if local.is_file() and os.access(local, os.X_OK):
        return local
    found = shutil.which(name)
    return Path(found) if found else None


def agent_command(name: str) -> list[str] | None:
    """Full argv to start the agent in ACP mode, or None when it is not installed."""
    exe = agent_bin(name)
    if exe is None:
        return None
    return [str(exe), *AGENTS[canonical_name(name)]]


def _search_path() -> str:
    # The SDK's child env carries the caller's PATH, but these bins are `#!/usr/bin/env node` scripts, so the
    # node that installed them must be findable even when the tests run from a venv with a minimal PATH.
    dirs: list[str] = [str(AGENTS_BIN), *map(str, LOCAL_BINS.values())]
    node = shutil.which("node")
    if node:
        dirs.append(str(Path(node).resolve().parent))
        dirs.append(str(Path(node).parent))
    dirs += ["/usr/local/bin", "/usr/bin", "/bin"]
    seen: list[str] = []
    for d in dirs:
        if d not in seen:
            seen.append(d)
    return os.pathsep.join(seen)


def agent_env(name: str, llm_base_url: str, home: Path) -> dict[str, str]:
    """A complete, isolated environment for the agent talking to the scripted LLM at ``llm_base_url``.

    ``llm_base_url`` is the server root (``ScriptedLLM.base_url``); a trailing ``/v1`` is tolerated. ``home``
    is created and receives the agent's settings file. The result does not inherit ``os.environ`` (so the
    host's real keys, proxies or ``IS_SANDBOX=yes`` cannot leak in) and is usable both with
    ``acp.spawn_agent_process(env=...)`` and ``subprocess``.
    """
    name = canonical_name(name)
    root = llm_base_url.rstrip("/")
    root = root.removesuffix("/v1")
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    env: dict[str, str] = {
        "HOME": str(home),
        "USER": os.environ.get("USER", "tester"),
        "LOGNAME": os.environ.get("LOGNAME", "tester"),
        "SHELL": "/bin/bash" if Path("/bin/bash").exists() else "/bin/sh",
        "PATH": _search_path(),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "NO_COLOR": "1",
        "CI": "1",
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        # Agents may shell out to npm/npx; keep that inside the sandbox home too.
        "npm_config_cache": str(home / ".npm"),
        "npm_config_update_notifier": "false",
    }
    if name == "qwen":
        qwen_dir = home / ".qwen"
        qwen_dir.mkdir(exist_ok=True)
        settings = {
            # Otherwise qwen posts usage statistics to Alibaba's RUM endpoint (a failed flush offline).
            "privacy": {"usageStatisticsEnabled": False},
            "general": {"enableAutoUpdate": False},
            "telemetry": {"enabled": False},
        }
        (qwen_dir / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")
        env |= {
            "OPENAI_API_KEY": "fake-key",
            "OPENAI_BASE_URL": f"{root}/v1",
            "OPENAI_MODEL": "fake-model",
            "QWEN_TELEMETRY_ENABLED": "false",
        }
    elif name == "opencode":
        env |= opencode_env(root)
    elif name == "gemini":
        env |= gemini_env(root, home)
    else:
        claude_dir = home / ".claude"
        claude_dir.mkdir(exist_ok=True)
        env |= {
            "ANTHROPIC_BASE_URL": root,
            "ANTHROPIC_API_KEY": "fake-key",
            "ANTHROPIC_MODEL": "fake-model",
            "ANTHROPIC_SMALL_FAST_MODEL": "fake-model",
            "ANTHROPIC_DEFAULT_HAIKU_MODEL": "fake-model",
            "ANTHROPIC_DEFAULT_SONNET_MODEL": "fake-model",
            "ANTHROPIC_DEFAULT_OPUS_MODEL": "fake-model",
            "CLAUDE_CONFIG_DIR": str(claude_dir),
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
            # As root the adapter passes --allow-dangerously-skip-permissions whenever IS_SANDBOX is set, and
            # the Claude CLI then refuses to start unless it is exactly "1" (this host exports "yes").
            "IS_SANDBOX": "1",
        }
    return env


GEMINI_SETTINGS = {
    # Without a chosen auth method gemini stops at "Invalid auth method selected." (it does not infer it from
    # GEMINI_API_KEY); with folder trust on, an untrusted worktree overrides the approval mode.
    "security": {"auth": {"selectedType": "gemini-api-key"}, "folderTrust": {"enabled": False}},
    "privacy": {"usageStatisticsEnabled": False},
    "general": {"enableAutoUpdate": False},
}


def gemini_env(root: str, home: Path) -> dict[str, str]:
    """gemini-cli on the scripted LLM's Gemini API (plain http is allowed for localhost), settings in its home."""
    gemini_dir = home / ".gemini"
    gemini_dir.mkdir(exist_ok=True)
    (gemini_dir / "settings.json").write_text(json.dumps(GEMINI_SETTINGS, indent=2) + "\n")
    return {
        "GEMINI_API_KEY": "fake-key",
        "GOOGLE_GEMINI_BASE_URL": root,
        "GEMINI_CLI_TRUST_WORKSPACE": "true",
    }


def opencode_env(root: str) -> dict[str, str]:
    """opencode offline: a "fake" OpenAI-compatible provider at the scripted LLM, nothing fetched or installed."""
    provider, model = OPENCODE_MODEL.split("/")
    config = {
        "provider": {provider: {
            "npm": "@ai-sdk/openai-compatible",  # compiled into the binary: nothing is installed for it
            "name": "Scripted LLM",
            "options": {"baseURL": f"{root}/v1", "apiKey": "fake-key"},
            "models": {model: {"name": "Fake Model", "tool_call": True, "limit": {"context": 128000, "output": 8192}}},
        }},
        "model": OPENCODE_MODEL,
        "small_model": OPENCODE_MODEL,
        "autoupdate": False,
        "share": "disabled",
    }
    return {
        "OPENCODE_CONFIG_CONTENT": json.dumps(config),
        "OPENCODE_DISABLE_AUTOUPDATE": "1",
        "OPENCODE_DISABLE_MODELS_FETCH": "1",
        "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
        "OPENCODE_DISABLE_SHARE": "1",
        "OPENCODE_DISABLE_DEFAULT_PLUGINS": "1",
        "OPENCODE_DISABLE_CLAUDE_CODE": "1",
        "OPENCODE_DISABLE_EXTERNAL_SKILLS": "1",
        # At start opencode tries to `npm install @opencode-ai/plugin` into its config dir (63 MB when the
        # registry answers); a registry that refuses at once keeps the test offline and fast.
        "npm_config_registry": "http://127.0.0.1:9/",
    }
