"""The core's steering in-process: the user's choice of mode and options is stored, put back on a backend that
starts again, and dropped (with a notice) when the agent no longer offers it. A fake backend, a real store and
real git."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from backends.base import AgentState, ModeInfo
from bridge import protocol as wire
from bridge.core import steering
from bridge.errors import BridgeError
from tests.support.core import running_core, say
from tests.support.lsp_harness import make_repo


def select(option_id: str, values: list[str], current: str, category: str | None = None) -> dict[str, Any]:
    option: dict[str, Any] = {
        "id": option_id, "name": option_id.title(), "type": "select", "currentValue": current,
        "options": [{"value": v, "name": v.title()} for v in values],
    }
    if category:
        option["category"] = category
    return option


OFFERS = AgentState(
    modes=(ModeInfo("default", "Default"), ModeInfo("plan", "Plan")),
    current_mode_id="default",
    config_options=(select("llm", ["fast", "deep"], "fast", "model"),
                    {"id": "think", "name": "Think", "type": "boolean", "currentValue": False}),
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "project", {"a.txt": "a\n"})


async def test_the_choice_is_put_back_when_the_agent_starts_again(repo: Path, tmp_path: Path) -> None:
    async with running_core(tmp_path / "state", [say("one")]) as (core, factory, editor):
        factory.offers = OFFERS
        live = await core.create_session(repo, "t")
        state = await core.agent_state(live.id, None, None)  # starts the default agent: no turn yet
        assert state.agent == "fake" and state.modes == wire.Modes(
            "default", [wire.ModeInfo("default", "Default"), wire.ModeInfo("plan", "Plan")]
        )
        await core.set_mode(live.id, None, "plan", None)
        state = await core.set_option(live.id, "fake", "llm", "deep", None)
        assert state.config_options[0]["currentValue"] == "deep"
        await core.set_option(live.id, "fake", "think", True, None)
        [first] = factory.created
        assert first.steered == [("mode", "plan"), ("llm", "deep"), ("think", True)]
        row = await core.store.agent_session(live.id, "fake")
        assert row is not None and json.loads(row.steering) == {
            "mode": "plan", "model": "deep", "options": {"llm": "deep", "think": True}
        }

        first.crashed = True  # the next use starts a fresh process that knows nothing of the choice
        (summary,) = await core.describe_sessions()
        assert (summary.agents[0].mode, summary.agents[0].model) == ("plan", "deep")  # as chosen, while stopped
        started = await core.prompt(wire.PromptArgs(wire.NonEmptyStr("go"), session_id=wire.NonEmptyStr(live.id)),
                                    repo, lambda uri: None)
        assert (await core.await_turn(live.id, started.turn_id, 10)).status == "completed"
        second = factory.created[1]
        assert second.steered == [("mode", "plan"), ("llm", "deep"), ("think", True)]
        assert second.state().current_mode_id == "plan"
        assert not [e for e in editor.events if isinstance(e, wire.NoticeEvent)]

        # Started again with the choice already in place (a resumed session): nothing is sent.
        factory.offers = second.state()
        second.crashed = True
        await core.agent_state(live.id, None, None)
        assert factory.created[2].steered == []


async def test_a_choice_no_longer_offered_is_dropped_with_a_notice(repo: Path, tmp_path: Path) -> None:
    async with running_core(tmp_path / "state", []) as (core, factory, editor):
        factory.offers = OFFERS
        live = await core.create_session(repo, "t")
        await core.set_mode(live.id, None, "plan", None)
        await core.set_option(live.id, None, "llm", "deep", None)
        await core.set_option(live.id, None, "think", True, None)
        factory.created[0].crashed = True
        # The agent's new version: no plan mode, other models; the boolean is still there.
        factory.offers = AgentState(
            modes=(ModeInfo("default", "Default"),), current_mode_id="default",
            config_options=(select("llm", ["fast", "turbo"], "fast", "model"), OFFERS.config_options[1]),
        )
        state = await core.agent_state(live.id, None, None)
        assert state.modes is not None and state.modes.current_mode_id == "default"
        assert factory.created[1].steered == [("think", True)]
        notices = [e.message for e in editor.events if isinstance(e, wire.NoticeEvent)]
        assert len(notices) == 2, notices
        assert "no longer offers the mode 'plan'" in notices[0]
        assert "no longer offers 'deep' for 'llm'" in notices[1]
        row = await core.store.agent_session(live.id, "fake")
        assert row is not None and json.loads(row.steering) == {"options": {"think": True}}


async def test_steering_errors_are_clear(repo: Path, tmp_path: Path) -> None:
    async with running_core(tmp_path / "state", []) as (core, factory, _):
        factory.offers = OFFERS
        live = await core.create_session(repo, "t")
        with pytest.raises(BridgeError, match="no mode 'yolo'"):
            await core.set_mode(live.id, None, "yolo", None)
        with pytest.raises(BridgeError, match="nobody"):
            await core.agent_state(live.id, "nobody", None)
        row = await core.store.agent_session(live.id, "fake")
        assert row is not None and row.steering == "{}"  # a refused change is not remembered


def test_stored_choices_are_read_defensively() -> None:
    assert steering.load("not json") == steering.Choice()
    assert steering.load('["a"]') == steering.Choice()
    assert steering.load('{"mode": 3, "options": {"a": 1, "b": "x", "c": false}}') == steering.Choice(
        None, {"b": "x", "c": False}
    )
    choice = steering.Choice("plan", {"model": "deep"}, "deep")
    assert steering.load(steering.dump(choice)) == choice


def test_the_model_shown_is_the_model_category_option_else_the_one_called_model() -> None:
    by_category = AgentState(config_options=(select("model", ["a"], "a"), select("llm", ["b"], "b", "model")))
    assert steering.shown(by_category) == (None, "b")
    by_id = AgentState(current_mode_id="plan", config_options=(select("model", ["a"], "a"),))
    assert steering.shown(by_id) == ("plan", "a")
