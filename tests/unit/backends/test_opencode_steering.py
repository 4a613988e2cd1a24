"""Steering an opencode session: its primary agents as modes, its models as the `model` option, its slash
commands; what the backend reports, what the next prompts send, and the events editors follow.

The catalog functions are checked on payloads shaped like real opencode 1.18's; the backend runs against
`tests/support/fake_opencode.py` (a real process speaking opencode's HTTP API) and the prompt bodies it receives.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from backends.base import BackendError, ModeInfo, ResourcePart, SteeringError, TextPart
from backends.events import AvailableCommands, ConfigChanged, ModeChanged
from backends.opencode.server import OpencodeServer
from backends.opencode.steering import (
    Steering,
    agent_models,
    model_choices,
    primary_agents,
    restrictions,
    slash_commands,
)
from backends.opencode.wire import SESSION_PERMISSIONS
from tests.unit.backends.test_opencode_backend import Host, control, prompt, server, started, wait_for, worktree

pytestmark = pytest.mark.timeout(60)
__all__ = ["server"]  # the fixture, shared with the backend's own tests

# Trimmed from what `opencode serve` 1.18.33 answers.
REAL_AGENTS: list[dict[str, Any]] = [
    {"name": "build", "description": "The default agent. Executes tools based on configured permissions.",
     "mode": "primary", "native": True, "permission": [], "options": {}},
    {"name": "compaction", "mode": "primary", "native": True, "hidden": True, "permission": [], "prompt": "..."},
    {"name": "explore", "description": "Fast agent specialized for exploring codebases.", "mode": "subagent",
     "native": True},
    {"name": "general", "description": "General-purpose agent.", "mode": "subagent", "native": True},
    {"name": "plan", "description": "Plan mode. Disallows all edit tools.", "mode": "primary", "native": True},
    {"name": "summary", "mode": "primary", "native": True, "hidden": True},
    {"name": "title", "mode": "primary", "native": True, "hidden": True, "temperature": 0.5},
]
REAL_PROVIDERS: dict[str, Any] = {
    "providers": [
        {"id": "fake", "name": "Scripted LLM", "models": {
            "fake-model": {"id": "fake-model", "providerID": "fake", "name": "Fake Model"},
            "other-model": {"id": "other-model", "providerID": "fake", "name": "Other Model"}}},
        {"id": "opencode", "name": "OpenCode Zen",
         "models": {"big-pickle": {"id": "big-pickle", "name": "Big Pickle"}}},
    ],
    "default": {"opencode": "big-pickle", "fake": "other-model"},
}
REAL_COMMANDS: list[dict[str, Any]] = [
    {"name": "init", "description": "guided AGENTS.md setup", "source": "command", "template": "...",
     "hints": ["$ARGUMENTS"]},
    {"name": "customize-opencode", "description": "Use ONLY when ...", "source": "skill", "hints": []},
]


# The catalog, from opencode's own payloads


def test_primary_agents_are_the_modes() -> None:
    assert primary_agents(REAL_AGENTS) == (
        ModeInfo("build", "Build", "The default agent. Executes tools based on configured permissions."),
        ModeInfo("plan", "Plan", "Plan mode. Disallows all edit tools."),
    )
    assert primary_agents({"error": "not a list"}) == ()
    assert agent_models([{"name": "docs", "model": {"providerID": "alt", "modelID": "m"}}, *REAL_AGENTS]) == {
        "docs": "alt/m"}


def test_models_and_commands_as_acp_shapes() -> None:
    assert model_choices(REAL_PROVIDERS) == [
        {"value": "fake/fake-model", "name": "Fake Model", "description": "Scripted LLM"},
        {"value": "fake/other-model", "name": "Other Model", "description": "Scripted LLM"},
        {"value": "opencode/big-pickle", "name": "Big Pickle", "description": "OpenCode Zen"},
    ]
    assert slash_commands(REAL_COMMANDS) == (
        {"name": "init", "description": "guided AGENTS.md setup"},
        {"name": "customize-opencode", "description": "Use ONLY when ..."},
    )


async def test_catalog_defaults_follow_opencodes_config() -> None:
    payloads = {"/agent": REAL_AGENTS, "/config/providers": REAL_PROVIDERS, "/command": REAL_COMMANDS,
                "/config": {"default_agent": "plan"}}

    async def get(path: str) -> Any:
        return payloads[path]

    steering = Steering()
    await steering.load(get, "fake/fake-model")
    assert steering.mode == "plan"  # opencode's configured default agent
    assert steering.prompt_fields() == {"agent": "plan", "model": {"providerID": "fake", "modelID": "fake-model"}}
    # A model opencode reaches but does not list (written as provider/model in a config) is still offered.
    steering.chosen_model = "local/unlisted"
    option = steering.options()[0]
    assert option["currentValue"] == "local/unlisted" and option["options"][0]["value"] == "local/unlisted"

    async def refused(path: str) -> Any:
        return None

    empty = Steering()
    await empty.load(refused, None)
    assert empty.state().modes == () and empty.state().config_options == () and empty.prompt_fields() == {}
    with pytest.raises(SteeringError, match="no agents"):
        empty.set_mode("build")
    with pytest.raises(SteeringError, match="no models"):
        empty.set_option("model", "fake/fake-model")


# The backend, against the fake server


async def prompt_bodies(server: OpencodeServer) -> list[dict[str, Any]]:
    return [r["body"] for r in await control(server, "requests") if r["path"].endswith("/prompt_async")]


async def test_state_before_the_first_prompt(server: OpencodeServer, tmp_path: Path) -> None:
    host = Host(worktree(tmp_path))
    backend = await started(server, host)
    state = backend.state()
    assert [(m.id, m.name) for m in state.modes] == [("build", "Build"), ("plan", "Plan"), ("docs", "Docs")]
    assert state.current_mode_id == "build"
    (option,) = state.config_options
    assert {k: v for k, v in option.items() if k != "options"} == {
        "id": "model", "name": "Model", "description": "The model opencode prompts", "category": "model",
        "type": "select", "currentValue": "fake/fake-model"}
    assert [o["value"] for o in option["options"]] == ["alt/alt-model", "fake/fake-model", "fake/other-model"]
    assert [c["name"] for c in state.commands] == ["init", "review", "broken"]
    assert state.embedded_context
    assert host.events == [AvailableCommands(state.commands)]  # announced once the session is open
    await backend.close()


async def test_mode_and_model_reach_the_next_prompts(server: OpencodeServer, tmp_path: Path) -> None:
    host = Host(worktree(tmp_path))
    backend = await started(server, host)
    await backend.prompt(prompt("say one"))
    await backend.set_mode("plan")
    await backend.set_option("model", "fake/other-model")
    assert backend.state().current_mode_id == "plan"
    assert backend.state().config_options[0]["currentValue"] == "fake/other-model"
    assert [e for e in host.events if isinstance(e, ModeChanged | ConfigChanged)] == [
        ModeChanged("plan"), ConfigChanged(backend.state().config_options)]
    await backend.prompt(prompt("say two"))
    # Setting what is already chosen changes nothing and tells nobody.
    before = len(host.events)
    await backend.set_mode("plan")
    await backend.set_option("model", "fake/other-model")
    assert len(host.events) == before
    await backend.set_mode("build")
    await backend.prompt(prompt("say three"))
    bodies = await prompt_bodies(server)
    assert [(b["agent"], b["model"]) for b in bodies] == [
        ("build", {"providerID": "fake", "modelID": "fake-model"}),
        ("plan", {"providerID": "fake", "modelID": "other-model"}),
        ("build", {"providerID": "fake", "modelID": "other-model"}),  # the chosen model outlives the mode
    ]
    assert host.text() == "onetwothree"
    await backend.close()


async def test_an_agent_that_pins_its_model(server: OpencodeServer, tmp_path: Path) -> None:
    host = Host(worktree(tmp_path))
    backend = await started(server, host)
    await backend.set_mode("docs")
    assert backend.state().config_options[0]["currentValue"] == "alt/alt-model"
    assert host.events[-2:] == [ModeChanged("docs"), ConfigChanged(backend.state().config_options)]
    await backend.prompt(prompt("say docs"))
    # A model the user chose wins over the agent's own.
    await backend.set_option("model", "fake/other-model")
    await backend.set_mode("build")
    await backend.set_mode("docs")
    await backend.prompt(prompt("say chosen"))
    assert [(b["agent"], b["model"]["modelID"]) for b in await prompt_bodies(server)] == [
        ("docs", "alt-model"), ("docs", "other-model")]
    await backend.close()


async def test_configured_model_is_the_starting_choice(server: OpencodeServer, tmp_path: Path) -> None:
    backend = await started(server, Host(worktree(tmp_path)), model="other-model")
    assert backend.state().config_options[0]["currentValue"] == "fake/other-model"
    await backend.set_mode("docs")  # the agent's `model` setting is a choice: it holds across modes
    assert backend.state().config_options[0]["currentValue"] == "fake/other-model"
    await backend.close()


@pytest.mark.parametrize(("call", "message"), [
    (("mode", "explore"), "no primary agent 'explore'; it offers: build, plan, docs"),  # a sub-agent
    (("mode", "title"), "no primary agent 'title'"),  # opencode's hidden internals
    (("option", "mode", "plan"), "no option 'mode'; it offers: model"),
    (("option", "model", "nobody/nothing"), "offers no model 'nobody/nothing'; models are written provider/model"),
    (("option", "model", "fake-model"), "offers no model 'fake-model'"),  # the list's values are provider/model
    (("option", "model", True), "offers no model True"),
])
async def test_what_opencode_does_not_offer_is_refused(server: OpencodeServer, tmp_path: Path,
                                                       call: tuple[Any, ...], message: str) -> None:
    host = Host(worktree(tmp_path))
    backend = await started(server, host)
    before = backend.state()
    with pytest.raises(SteeringError, match=message.replace("(", r"\(")):
        if call[0] == "mode":
            await backend.set_mode(call[1])
        else:
            await backend.set_option(call[1], call[2])
    assert backend.state() == before
    assert not [e for e in host.events if isinstance(e, ModeChanged | ConfigChanged)]
    assert (await backend.prompt(prompt("say still fine"))).stop_reason == "end_turn"
    assert (await prompt_bodies(server))[0]["agent"] == "build"
    await backend.close()



# Slash commands


def test_a_slash_command_is_recognized_only_for_what_opencode_lists() -> None:
    steering = Steering(commands=({"name": "init", "description": ""}, {"name": "review", "description": ""}))
    assert steering.command_call([TextPart("/init")]) == ("init", "")
    assert steering.command_call([TextPart("  /review HEAD~1\nand more  ")]) == ("review", "HEAD~1\nand more")
    # The bridge's notes before it and a selection after it ride along with the arguments.
    parts = [TextPart("(note)"), TextPart("/review this"), ResourcePart("file:///wt/a.py", "x = 1")]
    assert steering.command_call(parts) == ("review", 'this\n\n(note)\n\n<file uri="file:///wt/a.py">\nx = 1\n</file>')
    assert steering.command_call([TextPart("/usr/bin is odd")]) is None  # not a command opencode offers
    assert steering.command_call([TextPart("please /init")]) is None
    assert steering.command_call([]) is None


async def test_a_slash_command_runs_as_opencodes_command(server: OpencodeServer, tmp_path: Path) -> None:
    host = Host(worktree(tmp_path))
    backend = await started(server, host)
    await backend.set_mode("plan")
    outcome = await backend.prompt(prompt("/review say reviewed"))
    assert outcome.stop_reason == "end_turn" and host.text() == "reviewed"
    requests = await control(server, "requests")
    (command,) = [r["body"] for r in requests if r["method"] == "POST" and r["path"].endswith("/command")]
    assert {k: v for k, v in command.items() if k != "messageID"} == {
        "command": "review", "arguments": "say reviewed", "agent": "plan", "model": "fake/fake-model"}
    assert command["messageID"].startswith("msg_")
    assert not [r for r in requests if r["path"].endswith("/prompt_async")]
    # Something that only looks like a command is an ordinary prompt.
    await backend.prompt(prompt("/nothing", "say plain"))
    assert host.text() == "reviewedplain"
    assert [b["parts"][0]["text"] for b in await prompt_bodies(server)] == ["/nothing\nsay plain"]
    with pytest.raises(BackendError, match="opencode refused the command /broken: Unexpected server error"):
        await backend.prompt(prompt("/broken"))
    assert (await backend.prompt(prompt("say next"))).stop_reason == "end_turn"
    await backend.close()


async def test_a_slash_command_turn_can_be_cancelled(server: OpencodeServer, tmp_path: Path) -> None:
    host = Host(worktree(tmp_path))
    backend = await started(server, host, abort_grace=0.5)
    turn = asyncio.ensure_future(backend.prompt(prompt("/init say started", "hang")))

    async def running() -> bool:
        return host.text() == "started"

    await wait_for(running, "the command's turn to stream")
    await backend.cancel()
    assert (await turn).stop_reason == "cancelled"
    assert (await backend.prompt(prompt("say after"))).stop_reason == "end_turn"
    assert host.text() == "startedafter"
    await backend.close()


# The chosen agent's own denials


def test_an_agents_own_denials_are_restated_after_the_bridges_rules() -> None:
    build = [("*", "*", "allow"), ("question", "*", "deny"), ("plan_enter", "*", "deny"), ("plan_enter", "*", "allow"),
             ("*", "*", "ask"), ("edit", "*", "allow"), ("question", "*", "deny")]
    plan = [("*", "*", "allow"), ("question", "*", "deny"), ("plan_enter", "*", "deny"), ("plan_exit", "*", "allow"),
            ("task", "general", "deny"), ("edit", "*", "deny"), ("edit", ".opencode/plans/*.md", "allow"),
            ("*", "*", "ask"), ("edit", "*", "allow"), ("question", "*", "deny")]
    assert restrictions(plan, build) == [
        {"permission": "task", "pattern": "general", "action": "deny"},
        {"permission": "edit", "pattern": "*", "action": "deny"},
        {"permission": "edit", "pattern": ".opencode/plans/*.md", "action": "allow"},
    ]
    assert restrictions(build, build) == []
    # A deny of everything is not restated: it would silence the bridge's asks too.
    assert restrictions([("*", "*", "deny"), ("read", "*", "allow")], build) == []


async def test_plan_gets_its_denials_back_and_build_loses_them(server: OpencodeServer, tmp_path: Path) -> None:
    host = Host(worktree(tmp_path))
    backend = await started(server, host)

    async def patches() -> list[Any]:
        return [r["body"]["permission"] for r in await control(server, "requests") if r["method"] == "PATCH"]

    await backend.prompt(prompt("say built"))
    assert await patches() == []  # a new session was created with the bridge's rules
    await backend.set_mode("plan")
    await backend.prompt(prompt("say planned"))
    await backend.prompt(prompt("/review say reviewed"))  # a command turn has them too, and nothing changed
    await backend.set_mode("build")
    await backend.prompt(prompt("say built again"))
    assert await patches() == [
        [*SESSION_PERMISSIONS, {"permission": "task", "pattern": "general", "action": "deny"},
         {"permission": "edit", "pattern": "*", "action": "deny"},
         {"permission": "edit", "pattern": ".opencode/plans/*.md", "action": "allow"}],
        SESSION_PERMISSIONS,
    ]
    session_id = backend.session_id
    await backend.close()
    # A resumed session may carry an earlier run's restrictions: its first turn states the rules again.
    resumed = await started(server, Host(worktree(tmp_path)), resume=session_id)
    await resumed.prompt(prompt("say resumed"))
    assert (await patches())[-1] == SESSION_PERMISSIONS
    await resumed.close()
