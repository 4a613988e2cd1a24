"""bridge.config: built-ins, TOML layering, initializationOptions, and never failing on a bad config."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.sandbox import SandboxPath
from bridge import config
from bridge.config import (
    CONFIG_FILE_NAME,
    AgentConfig,
    BridgeSettings,
    Registry,
    apply_layer,
    builtin_agents,
    load_registry,
    parse_agent,
    repo_config_file,
    user_config_file,
)

BUILTINS = {"opencode", "opencode-acp", "qwen", "gemini", "claude", "codex", "goose", "scripted"}


@pytest.fixture(autouse=True)
def user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the user config dir at an empty scratch dir so the developer's own config never leaks in."""
    directory = tmp_path / "user-config"
    directory.mkdir()
    monkeypatch.setattr(config, "user_config_dir", lambda _app: str(directory))
    return directory


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def assert_builtins_intact(registry: Registry) -> None:
    assert BUILTINS <= set(registry.agents)
    assert registry.agents["qwen"].command == ("qwen", "--acp")
    assert registry.agents["opencode"].command == ("opencode",)
    assert registry.agents["opencode-acp"].command == ("opencode", "acp")


# Built-ins


def test_builtins_present_without_any_configuration(tmp_path: Path) -> None:
    registry = load_registry(workspace=tmp_path / "ws")
    assert set(registry.agents) == BUILTINS
    assert registry.default_agent == "opencode"
    assert registry.warnings == []
    assert registry.settings == BridgeSettings()
    for name, agent in registry.agents.items():
        assert agent.name == name
        assert agent.builtin is True
        assert agent.protocol == ("opencode" if name == "opencode" else "acp")
        assert agent.model is None
        assert agent.command and all(isinstance(c, str) and c for c in agent.command)
    assert registry.agents["claude"].command == ("claude-agent-acp",)
    assert registry.agents["scripted"].command[1:] == ("-m", "bridge.scripted_agent")


def test_builtin_agents_returns_fresh_copies() -> None:
    first = builtin_agents()
    first.pop("qwen")
    assert "qwen" in builtin_agents()


# TOML layering


def test_workspace_toml_agents_are_held_back_until_trusted(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    path = write(
        ws / CONFIG_FILE_NAME,
        """
default_agent = "local"
[agents.local]
protocol = "opencode"
command = ["opencode", "serve"]
env = { OPENAI_BASE_URL = "http://127.0.0.1:8080/v1" }
""",
    )
    registry = load_registry(workspace=ws)
    assert "local" not in registry.agents
    assert registry.default_agent == "opencode"
    assert registry.repo is not None and registry.repo.path == path and registry.repo.agents == ("local",)
    assert registry.repo.needed_for(None) and registry.repo.needed_for("local")
    assert not registry.repo.needed_for("qwen")
    assert registry.repo.commands() == [
        "local: opencode serve (opencode server) with OPENAI_BASE_URL=http://127.0.0.1:8080/v1"
    ]
    assert any("held back until you trust this file" in w and "opencode serve" in w for w in registry.warnings)
    assert any("'local' is defined by this file, which is not trusted" in w for w in registry.warnings)
    assert_builtins_intact(registry)
    trusted = registry.repo.trusted
    local = trusted.agents["local"]
    assert local == AgentConfig(
        name="local",
        protocol="opencode",
        command=("opencode", "serve"),
        env={"OPENAI_BASE_URL": "http://127.0.0.1:8080/v1"},
    )
    assert local.builtin is False
    assert trusted.default_agent == "local"
    assert trusted.get(None) is local
    assert trusted.warnings == [] and trusted.repo is None
    assert_builtins_intact(trusted)


def test_repo_digest_is_of_the_exact_bytes(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    write(ws / CONFIG_FILE_NAME, '[agents.x]\ncommand = ["x"]\n')
    first = load_registry(workspace=ws).repo
    write(ws / CONFIG_FILE_NAME, '[agents.x]\ncommand = ["x"]  # same, but not the same file\n')
    second = load_registry(workspace=ws).repo
    assert first is not None and second is not None
    assert len(first.digest) == 64 and first.digest != second.digest


def test_repo_cannot_change_a_builtin_until_trusted(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    write(ws / CONFIG_FILE_NAME, '[agents.qwen]\ncommand = ["sh", "-c", "curl evil"]\nenv = { A = "1" }\n')
    registry = load_registry(workspace=ws)
    assert registry.agents["qwen"].command == ("qwen", "--acp") and registry.agents["qwen"].builtin
    assert registry.repo is not None and registry.repo.agents == ("qwen",)
    assert registry.repo.needed_for("qwen") and not registry.repo.needed_for(None)
    assert registry.repo.trusted.agents["qwen"].command == ("sh", "-c", "curl evil")


def test_repo_settings_and_default_among_existing_agents_apply_untrusted(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    write(ws / CONFIG_FILE_NAME, 'default_agent = "qwen"\n[settings]\nmax_live_agents = 3\n')
    registry = load_registry(workspace=ws)
    assert registry.default_agent == "qwen"
    assert registry.settings.max_live_agents == 3
    assert registry.repo is None and registry.warnings == []


def test_user_file_and_repo_file_merge_and_the_user_wins(tmp_path: Path, user_config: Path) -> None:
    ws = tmp_path / "ws"
    write(
        ws / CONFIG_FILE_NAME,
        'default_agent = "qwen"\n[agents.mine]\ncommand = ["repo-mine"]\n[agents.team]\ncommand = ["team"]\n'
        "[settings]\nmax_live_agents = 3\nidle_timeout = 5\n",
    )
    write(
        user_config / "config.toml",
        'default_agent = "mine"\n[agents.mine]\ncommand = ["user-mine"]\n[settings]\nmax_live_agents = 2\n',
    )
    registry = load_registry(workspace=ws)
    assert registry.agents["mine"].command == ("user-mine",)  # never hidden by the repository's file
    assert "team" not in registry.agents
    assert registry.default_agent == "mine"  # the user's default wins over the repository's
    assert registry.settings.max_live_agents == 2 and registry.settings.idle_timeout == 5
    trusted = registry.repo.trusted if registry.repo else registry
    assert trusted.agents["mine"].command == ("user-mine",)  # the user's own fields win, trusted or not
    assert trusted.agents["team"].command == ("team",)
    assert trusted.default_agent == "mine"


def test_explicit_replaces_the_user_dir_file_and_merges_with_the_repo(tmp_path: Path, user_config: Path) -> None:
    ws = tmp_path / "ws"
    write(ws / CONFIG_FILE_NAME, '[agents.from_ws]\ncommand = ["ws"]\n')
    write(user_config / "config.toml", '[agents.from_user]\ncommand = ["user"]\n')
    explicit = write(tmp_path / "explicit.toml", '[agents.from_explicit]\ncommand = ["explicit"]\n')
    registry = load_registry(explicit=explicit, workspace=ws)
    assert "from_explicit" in registry.agents
    assert "from_user" not in registry.agents
    assert "from_ws" not in registry.agents
    assert registry.repo is not None and registry.repo.agents == ("from_ws",)
    assert "from_ws" in registry.repo.trusted.agents


def test_explicit_config_on_the_repo_file_is_the_users(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    path = write(ws / CONFIG_FILE_NAME, '[agents.from_ws]\ncommand = ["ws"]\n')
    registry = load_registry(explicit=path, workspace=ws)
    assert registry.agents["from_ws"].command == ("ws",)
    assert registry.repo is None


def test_config_file_locations(tmp_path: Path, user_config: Path) -> None:
    explicit = tmp_path / "x.toml"
    assert user_config_file(explicit) == explicit
    assert user_config_file(None) == user_config / "config.toml"
    assert repo_config_file(tmp_path, user_config / "config.toml") == tmp_path / CONFIG_FILE_NAME
    assert repo_config_file(None, explicit) is None


def test_user_dir_used_when_workspace_has_no_file(tmp_path: Path, user_config: Path) -> None:
    write(user_config / "config.toml", '[agents.from_user]\ncommand = ["user"]\n')
    registry = load_registry(workspace=tmp_path / "ws")
    assert registry.agents["from_user"].command == ("user",)
    assert registry.warnings == []


def test_init_options_win_over_toml(tmp_path: Path) -> None:
    explicit = write(
        tmp_path / "c.toml",
        """
default_agent = "a"
[agents.a]
command = ["from-toml"]
[agents.b]
command = ["b-toml"]
""",
    )
    registry = load_registry(
        explicit=explicit,
        init_options={"agents": {"a": {"command": ["from-init"]}}, "defaultAgent": "b"},
    )
    assert registry.agents["a"].command == ("from-init",)
    assert registry.agents["b"].command == ("b-toml",)
    assert registry.default_agent == "b"
    assert registry.warnings == []


def test_init_options_partial_override_keeps_toml_command(tmp_path: Path) -> None:
    explicit = write(tmp_path / "c.toml", '[agents.a]\nprotocol = "opencode"\ncommand = ["a-bin", "serve"]\n')
    registry = load_registry(explicit=explicit, init_options={"agents": {"a": {"env": {"K": "V"}}}})
    a = registry.agents["a"]
    assert a.command == ("a-bin", "serve")
    assert a.protocol == "opencode"
    assert dict(a.env) == {"K": "V"}


def test_partial_override_of_builtin_keeps_command(tmp_path: Path) -> None:
    explicit = write(tmp_path / "c.toml", '[agents.qwen]\nenv = { OPENAI_BASE_URL = "http://x/v1" }\n')
    registry = load_registry(explicit=explicit)
    qwen = registry.agents["qwen"]
    assert qwen.command == ("qwen", "--acp")
    assert qwen.protocol == "acp"
    assert dict(qwen.env) == {"OPENAI_BASE_URL": "http://x/v1"}
    assert registry.warnings == []


def test_command_given_as_single_string_becomes_tuple() -> None:
    assert parse_agent("x", {"command": "solo"}).command == ("solo",)


# Bad entries: a warning each, valid entries and built-ins kept, never raises


def load_with(tmp_path: Path, toml: str) -> Registry:
    explicit = write(tmp_path / "bad.toml", toml)
    return load_registry(explicit=explicit)


GOOD = '[agents.good]\ncommand = ["good-bin"]\n'


@pytest.mark.parametrize(
    ("entry", "needle"),
    [
        ('[agents.bad]\nprotocol = "http"\ncommand = ["x"]\n', "protocol must be one of acp, opencode"),
        ("[agents.bad]\ncommand = []\n", "command must be a non-empty list of strings"),
        ('[agents.bad]\ncommand = ""\n', "command must be a non-empty list of strings"),
        ('[agents.bad]\ncommand = ["x", ""]\n', "command must be a non-empty list of strings"),
        ("[agents.bad]\ncommand = [1, 2]\n", "command must be a non-empty list of strings"),
        ('[agents.bad]\nprotocol = "acp"\n', "command must be a non-empty list of strings"),
        ('[agents.bad]\ncommand = ["x"]\nenv = { K = 1 }\n', "env must map names to strings"),
        ('[agents.bad]\ncommand = ["x"]\nenv = "K=V"\n', "env must map names to strings"),
        ('[agents.bad]\ncommand = ["x"]\nargs = ["y"]\n', "unknown field(s) args"),
        ('[agents]\nbad = "qwen --acp"\n', "expected a table/object, got str"),
    ],
)
def test_bad_agent_entry_is_dropped_with_warning(tmp_path: Path, entry: str, needle: str) -> None:
    registry = load_with(tmp_path, GOOD + entry)
    assert "bad" not in registry.agents
    assert registry.agents["good"].command == ("good-bin",)
    assert_builtins_intact(registry)
    assert len(registry.warnings) == 1
    warning = registry.warnings[0]
    assert "'bad'" in warning
    assert needle in warning
    assert "bad.toml" in warning
    assert "entry ignored" in warning


def test_bad_override_of_builtin_keeps_builtin(tmp_path: Path) -> None:
    registry = load_with(tmp_path, '[agents.qwen]\nprotocol = "grpc"\n')
    assert registry.agents["qwen"] == builtin_agents()["qwen"]
    assert len(registry.warnings) == 1 and "'qwen'" in registry.warnings[0]


def test_agents_not_a_table(tmp_path: Path) -> None:
    registry = load_with(tmp_path, 'agents = ["qwen"]\n')
    assert set(registry.agents) == BUILTINS
    assert len(registry.warnings) == 1
    assert "'agents' must be a table/object" in registry.warnings[0]


def test_bad_default_agent_keeps_previous_default(tmp_path: Path) -> None:
    registry = load_with(tmp_path, 'default_agent = "nosuch"\n' + GOOD)
    assert registry.default_agent == "opencode"
    assert "good" in registry.agents
    assert len(registry.warnings) == 1
    assert "default agent 'nosuch' is not a configured agent" in registry.warnings[0]
    assert "'opencode'" in registry.warnings[0]


def test_default_agent_naming_a_dropped_entry_is_refused(tmp_path: Path) -> None:
    registry = load_with(tmp_path, 'default_agent = "bad"\n[agents.bad]\ncommand = []\n')
    assert registry.default_agent == "opencode"
    assert len(registry.warnings) == 2
    assert any("default agent 'bad'" in w for w in registry.warnings)


def test_default_agent_not_a_string(tmp_path: Path) -> None:
    registry = load_with(tmp_path, "default_agent = 3\n")
    assert registry.default_agent == "opencode"
    assert len(registry.warnings) == 1 and "default agent 3" in registry.warnings[0]


def test_broken_toml_syntax_warns_and_uses_builtins(tmp_path: Path) -> None:
    registry = load_with(tmp_path, "[agents.x\ncommand = \n")
    assert set(registry.agents) == BUILTINS
    assert registry.default_agent == "opencode"
    assert len(registry.warnings) == 1
    assert "bad.toml" in registry.warnings[0]
    assert "cannot read configuration" in registry.warnings[0]


def test_broken_workspace_toml_does_not_hide_the_user_dir(tmp_path: Path, user_config: Path) -> None:
    ws = tmp_path / "ws"
    write(ws / CONFIG_FILE_NAME, "= nonsense\n")
    write(user_config / "config.toml", '[agents.from_user]\ncommand = ["user"]\n')
    registry = load_registry(workspace=ws)
    assert registry.agents["from_user"].command == ("user",)
    assert len(registry.warnings) == 1 and CONFIG_FILE_NAME in registry.warnings[0]


def test_missing_explicit_file_warns(tmp_path: Path, user_config: Path) -> None:
    write(user_config / "config.toml", '[agents.from_user]\ncommand = ["user"]\n')
    missing = tmp_path / "nope.toml"
    registry = load_registry(explicit=missing, workspace=tmp_path)
    assert set(registry.agents) == BUILTINS
    assert registry.warnings == [f"{missing}: configuration file not found; using built-ins"]


def test_explicit_path_is_a_directory_warns(tmp_path: Path) -> None:
    directory = tmp_path / "dir.toml"
    directory.mkdir()
    registry = load_registry(explicit=directory)
    assert set(registry.agents) == BUILTINS
    assert len(registry.warnings) == 1 and "cannot read configuration" in registry.warnings[0]


def test_init_options_not_an_object() -> None:
    registry = load_registry(init_options=["agents"])
    assert set(registry.agents) == BUILTINS
    assert registry.warnings == ["initializationOptions: expected a table/object at the top level; ignored"]


def test_init_options_bad_entry_keeps_toml_entry(tmp_path: Path) -> None:
    explicit = write(tmp_path / "c.toml", '[agents.a]\ncommand = ["a-bin"]\n')
    registry = load_registry(
        explicit=explicit,
        init_options={"agents": {"a": {"command": 7}, "b": {"command": ["b-bin"]}}},
    )
    assert registry.agents["a"].command == ("a-bin",)
    assert registry.agents["b"].command == ("b-bin",)
    assert len(registry.warnings) == 1
    assert registry.warnings[0].startswith("initializationOptions: agent 'a'")


def test_warnings_from_all_layers_accumulate(tmp_path: Path) -> None:
    explicit = write(tmp_path / "c.toml", "[agents.x]\ncommand = []\n")
    registry = load_registry(explicit=explicit, init_options={"agents": {"y": {"protocol": "z", "command": ["y"]}}})
    assert len(registry.warnings) == 2
    assert "c.toml" in registry.warnings[0] and "'x'" in registry.warnings[0]
    assert registry.warnings[1].startswith("initializationOptions") and "'y'" in registry.warnings[1]


# Settings


def test_settings_parsed_in_both_spellings(tmp_path: Path) -> None:
    explicit = write(
        tmp_path / "c.toml",
        "[settings]\nhint_diagnostics = false\nmax_live_agents = 3\nidle_timeout = 60\nturn_watchdog = 1.5\n",
    )
    registry = load_registry(explicit=explicit)
    assert registry.settings == BridgeSettings(
        hint_diagnostics=False, max_live_agents=3, idle_timeout=60.0, turn_watchdog=1.5
    )
    assert isinstance(registry.settings.idle_timeout, float)
    assert registry.warnings == []

    camel = load_registry(
        init_options={"settings": {"hintDiagnostics": False, "maxLiveAgents": 2, "idleTimeout": 5,
                                   "turnWatchdog": 30}}
    )
    assert camel.settings == BridgeSettings(
        hint_diagnostics=False, max_live_agents=2, idle_timeout=5.0, turn_watchdog=30.0
    )


def test_init_settings_override_toml_settings_one_key_at_a_time(tmp_path: Path) -> None:
    explicit = write(tmp_path / "c.toml", "[settings]\nmax_live_agents = 3\nidle_timeout = 60\n")
    registry = load_registry(explicit=explicit, init_options={"settings": {"maxLiveAgents": 5}})
    assert registry.settings.max_live_agents == 5
    assert registry.settings.idle_timeout == 60.0


@pytest.mark.parametrize(
    ("settings", "needle"),
    [
        ({"hintDiagnostics": "yes"}, "'hintDiagnostics' must be true/false"),
        ({"hintDiagnostics": 1}, "'hintDiagnostics' must be true/false"),
        ({"maxLiveAgents": 0}, "'maxLiveAgents' must be a positive"),
        ({"maxLiveAgents": -2}, "'maxLiveAgents' must be a positive"),
        ({"maxLiveAgents": True}, "'maxLiveAgents' must be a positive"),
        ({"maxLiveAgents": "4"}, "'maxLiveAgents' must be a positive"),
        ({"maxLiveAgents": 0.5}, "'maxLiveAgents' must be a positive integer"),
        ({"maxLiveAgents": 2.5}, "'maxLiveAgents' must be a positive integer"),
        ({"idleTimeout": 0}, "'idleTimeout' must be a positive number"),
        ({"turnWatchdog": None}, "'turnWatchdog' must be a positive number"),
        ({"colour": "blue"}, "unknown setting 'colour'"),
    ],
)
def test_bad_setting_warns_and_keeps_default(settings: dict[str, object], needle: str) -> None:
    registry = load_registry(init_options={"settings": settings})
    assert registry.settings == BridgeSettings()
    assert len(registry.warnings) == 1
    assert needle in registry.warnings[0]
    assert registry.warnings[0].startswith("initializationOptions")


def test_integral_float_for_int_setting_is_accepted() -> None:
    registry = load_registry(init_options={"settings": {"maxLiveAgents": 4.0}})
    assert registry.settings.max_live_agents == 4
    assert isinstance(registry.settings.max_live_agents, int)
    assert registry.warnings == []


def test_settings_not_a_table_warns() -> None:
    registry = load_registry(init_options={"settings": 3})
    assert registry.settings == BridgeSettings()
    assert registry.warnings == ["initializationOptions: settings must be a table/object; ignored"]


def test_bad_setting_does_not_drop_good_settings() -> None:
    registry = load_registry(init_options={"settings": {"maxLiveAgents": -1, "idleTimeout": 10}})
    assert registry.settings.max_live_agents == BridgeSettings().max_live_agents
    assert registry.settings.idle_timeout == 10.0
    assert len(registry.warnings) == 1


def test_apply_layer_none_is_identity() -> None:
    base = Registry(agents=builtin_agents(), default_agent="opencode")
    assert apply_layer(base, None, "x") is base


# config_hash


def test_config_hash_stable_and_sensitive_to_command_and_env() -> None:
    a = AgentConfig("a", "acp", ("bin", "--acp"), {"K": "1", "L": "2"})
    same = AgentConfig("a", "acp", ("bin", "--acp"), {"L": "2", "K": "1"}, builtin=True)
    renamed = AgentConfig("other", "acp", ("bin", "--acp"), {"K": "1", "L": "2"})
    assert a.config_hash() == a.config_hash()
    assert a.config_hash() == same.config_hash()  # env order and the builtin flag do not matter
    assert a.config_hash() == renamed.config_hash()
    assert len(a.config_hash()) == 16
    assert AgentConfig("a", "acp", ("bin",), {"K": "1", "L": "2"}).config_hash() != a.config_hash()
    assert AgentConfig("a", "acp", ("bin", "--acp"), {"K": "1"}).config_hash() != a.config_hash()
    assert AgentConfig("a", "acp", ("bin", "--acp"), {"K": "9", "L": "2"}).config_hash() != a.config_hash()
    assert AgentConfig("a", "opencode", ("bin", "--acp"), {"K": "1", "L": "2"}).config_hash() != a.config_hash()


def test_config_hash_changes_when_override_adds_env(tmp_path: Path) -> None:
    plain = load_registry().agents["qwen"]
    explicit = write(tmp_path / "c.toml", '[agents.qwen]\nenv = { K = "V" }\n')
    with_env = load_registry(explicit=explicit).agents["qwen"]
    assert plain.config_hash() != with_env.config_hash()
    assert load_registry().agents["qwen"].config_hash() == plain.config_hash()


# Registry.get


def test_registry_get_unknown_names_known_agents() -> None:
    registry = load_registry(init_options={"agents": {"mine": {"command": ["m"]}}})
    with pytest.raises(KeyError) as info:
        registry.get("nosuch")
    message = str(info.value)
    assert "nosuch" in message
    for name in [*BUILTINS, "mine"]:
        assert name in message


def test_registry_get_default_and_named() -> None:
    registry = load_registry()
    assert registry.get(None) is registry.agents["opencode"]
    assert registry.get("") is registry.agents["opencode"]
    assert registry.get("gemini").command == ("gemini", "--acp")


def test_registry_get_with_no_agents_says_none() -> None:
    with pytest.raises(KeyError, match="configured: none"):
        Registry(agents={}, default_agent="x").get(None)


# opencode: the model field and its watchdog


def test_model_field_parsed_inherited_and_hashed(tmp_path: Path) -> None:
    explicit = write(tmp_path / "c.toml", '[agents.opencode]\nmodel = "fake/fake-model"\n')
    registry = load_registry(explicit=explicit, init_options={"agents": {"opencode": {"env": {"K": "V"}}}})
    assert registry.warnings == []
    agent = registry.agents["opencode"]
    assert (agent.protocol, agent.command, agent.model) == ("opencode", ("opencode",), "fake/fake-model")
    assert agent.config_hash() != AgentConfig("opencode", "opencode", ("opencode",), {"K": "V"}).config_hash()
    # Hashes of agents without a model are what they were before the field existed.
    plain = AgentConfig("a", "acp", ("bin",), {})
    assert plain.config_hash() == AgentConfig("a", "acp", ("bin",), {}, model=None).config_hash()
    for bad in (7, "", " padded "):
        with pytest.raises(ValueError, match="model"):
            parse_agent("x", {"command": ["x"], "model": bad})


def test_opencode_watchdog_setting() -> None:
    assert BridgeSettings().opencode_watchdog == 180.0
    registry = load_registry(init_options={"settings": {"opencodeWatchdog": 30}})
    assert registry.settings.opencode_watchdog == 30.0 and registry.warnings == []


def test_settings_layer_takes_our_section_or_our_keys() -> None:
    ours = {"agents": {"x": {"command": ["x"]}}}
    assert config.settings_layer({"agentBridge": ours, "python": {}}) == ours
    assert config.settings_layer({"defaultAgent": "qwen"}) == {"defaultAgent": "qwen"}
    assert config.settings_layer({"python": {"analysis": {}}}) is None
    assert config.settings_layer(None) is None
    assert config.settings_layer([1, 2]) is None


def test_changed_settings_are_the_last_layer() -> None:
    registry = config.load_registry(None, None, {"defaultAgent": "qwen"}, {"defaultAgent": "claude",
                                                                          "settings": {"idleTimeout": 5}})
    assert registry.default_agent == "claude" and registry.settings.idle_timeout == 5
    broken = config.load_registry(None, None, None, {"defaultAgent": 3})
    assert any("workspace/didChangeConfiguration" in w for w in broken.warnings)


def test_a_repo_entry_the_user_fully_overrides_holds_nothing_back(tmp_path: Path, user_config: Path) -> None:
    ws = tmp_path / "ws"
    write(ws / CONFIG_FILE_NAME, '[agents.mine]\ncommand = ["repo-mine"]\n')
    write(user_config / "config.toml", '[agents.mine]\ncommand = ["user-mine"]\n')
    registry = load_registry(workspace=ws)
    assert registry.repo is None and registry.agents["mine"].command == ("user-mine",)


# The sandbox


def test_sandbox_per_agent_and_top_level_default_with_an_agent_opting_out(tmp_path: Path) -> None:
    user = write(tmp_path / "user.toml", """
sandbox = true
[agents.qwen]
sandbox_paths = ["~/.gitconfig", { path = "/data", write = true }]
[agents.gemini]
sandbox = false
""")
    registry = load_registry(explicit=user)
    assert registry.warnings == []
    assert registry.agents["qwen"].sandboxed and registry.agents["claude"].sandboxed
    assert registry.agents["qwen"].sandbox_paths == (SandboxPath("~/.gitconfig"), SandboxPath("/data", True))
    assert not registry.agents["gemini"].sandboxed
    # initializationOptions, camelCase: one agent sandboxed, the others not.
    registry = load_registry(init_options={"agents": {"qwen": {"sandbox": True, "sandboxPaths": ["/opt/x"]}}})
    assert registry.agents["qwen"].sandboxed and not registry.agents["claude"].sandboxed
    assert registry.agents["qwen"].sandbox_paths == (SandboxPath("/opt/x"),)
    # A later layer's top-level default reaches agents an earlier layer defined.
    registry = load_registry(explicit=user, init_options={"sandbox": False})
    assert not registry.agents["claude"].sandboxed and registry.agents["gemini"].sandbox is False


def test_bad_sandbox_values_warn_and_stay_on_the_safe_side() -> None:
    registry = load_registry(init_options={
        "sandbox": "yes",
        "agents": {"qwen": {"sandbox": 1, "sandboxPaths": ["relative/path", {"path": "/ok"}, {"path": 3}, 7]}},
    })
    assert registry.agents["qwen"].sandboxed and registry.agents["claude"].sandboxed  # never less confined
    assert registry.agents["qwen"].sandbox_paths == (SandboxPath("/ok"),)
    assert any("sandbox must be true or false, got 'yes'" in w for w in registry.warnings), registry.warnings
    assert any("agent 'qwen': sandbox must be true or false, got 1" in w for w in registry.warnings)
    assert sum("left out" in w for w in registry.warnings) == 3, registry.warnings
    registry = load_registry(init_options={"agents": {"qwen": {"sandboxPaths": "/not/a/list"}}})
    assert "qwen" in registry.agents and any("must be a list" in w for w in registry.warnings)


def test_a_repository_file_may_turn_the_sandbox_on_but_not_off(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    write(ws / CONFIG_FILE_NAME, "sandbox = false\n")
    user = write(tmp_path / "user.toml", "sandbox = true\n")
    registry = load_registry(explicit=user, workspace=ws)
    assert registry.agents["qwen"].sandboxed
    write(ws / CONFIG_FILE_NAME, "sandbox = false\n")
    registry = load_registry(workspace=ws)
    assert not registry.agents["qwen"].sandboxed
    assert any("sandbox = false is for your own configuration" in w for w in registry.warnings)
    write(ws / CONFIG_FILE_NAME, "sandbox = true\n")
    assert load_registry(workspace=ws).agents["qwen"].sandboxed


def test_sandbox_changes_the_config_hash_and_shows_in_the_description() -> None:
    plain = AgentConfig(name="q", protocol="acp", command=("qwen",))
    boxed = AgentConfig(name="q", protocol="acp", command=("qwen",), sandbox=True,
                        sandbox_paths=(SandboxPath("/data", True),))
    assert plain.config_hash() == AgentConfig(name="q", protocol="acp", command=("qwen",), sandbox=False).config_hash()
    assert plain.config_hash() != boxed.config_hash()
    assert config.describe_agent(boxed).endswith(", sandboxed (also /data writable)")
    assert config.describe_agent(AgentConfig(name="q", protocol="acp", command=("q",), sandbox=False)).endswith(
        ", not sandboxed"
    )
