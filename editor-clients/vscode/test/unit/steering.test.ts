import assert from "node:assert/strict";
import { test } from "node:test";
import type { AgentStateResult, ConfigOption } from "../../src/core/protocol";
import { steeringStatus } from "../../src/core/statusText";
import {
  currentMode, currentModel, modeChoices, modelChoices, modelOption, optionValueName, selectValues, SteeringModel, steeringSummary, steeringView,
} from "../../src/core/steering";

const MODEL: ConfigOption = {
  id: "model", name: "Model", category: "model", type: "select", currentValue: "fast",
  options: [{ value: "fast", name: "Fast", description: "Answers at once" }, { value: "deep", name: "Deep" }],
};
const THINKING: ConfigOption = { id: "thinking", name: "Thinking", type: "boolean", currentValue: false };

function agentState(partial: Partial<AgentStateResult> = {}): AgentStateResult {
  return {
    agent: "scripted",
    modes: { currentModeId: "default", availableModes: [{ id: "default", name: "Default" }, { id: "plan", name: "Plan", description: "Only plan" }] },
    configOptions: [THINKING, MODEL],
    commands: [{ name: "help", description: "List the directives" }],
    ...partial,
  };
}

test("the model is the select option of category model, else the one with id model", () => {
  assert.equal(modelOption([THINKING, MODEL])?.id, "model");
  const byCategory: ConfigOption = { ...MODEL, id: "llm" };
  assert.equal(modelOption([{ ...MODEL, category: null }, byCategory])?.id, "llm");
  assert.equal(modelOption([{ ...MODEL, category: null }])?.id, "model");
  // A boolean called "model" is no model picker.
  assert.equal(modelOption([{ ...THINKING, id: "model" }]), undefined);
  assert.equal(modelOption([]), undefined);
});

test("grouped select values are flattened in order", () => {
  const grouped: ConfigOption = {
    ...MODEL,
    options: [
      { group: "anthropic", name: "Anthropic", options: [{ value: "a/sonnet", name: "Sonnet" }] },
      { group: "openai", name: "OpenAI", options: [{ value: "o/gpt", name: "GPT" }] },
    ],
    currentValue: "o/gpt",
  };
  assert.deepEqual(selectValues(grouped).map((v) => v.value), ["a/sonnet", "o/gpt"]);
  assert.deepEqual(currentModel(agentState({ configOptions: [grouped] })), { optionId: "model", value: "o/gpt", name: "GPT" });
});

test("current mode and model read as their names; choices mark the current one", () => {
  const s = agentState();
  assert.equal(currentMode(s)?.name, "Default");
  assert.equal(currentModel(s)?.name, "Fast");
  assert.deepEqual(modeChoices(s).map((c) => [c.id, c.label, c.picked]), [["default", "Default", true], ["plan", "Plan", false]]);
  assert.deepEqual(modelChoices(s).map((c) => [c.id, c.picked, c.description]), [["fast", true, "Answers at once"], ["deep", false, undefined]]);
  assert.equal(steeringSummary(s), "Mode: Default · Model: Fast");
  // A value the agent does not list (e.g. set in its config) still shows, as itself.
  assert.equal(currentModel(agentState({ configOptions: [{ ...MODEL, currentValue: "custom/x" }] }))?.name, "custom/x");
});

test("an agent without modes or models shows no pickers and no summary", () => {
  const bare = agentState({ modes: null, configOptions: [] });
  assert.deepEqual(steeringView(bare), { agent: "scripted", modes: [], models: [], modelOptionId: undefined, summary: "" });
  assert.deepEqual(steeringView(undefined), { agent: undefined, modes: [], models: [], modelOptionId: undefined, summary: "" });
  assert.deepEqual(steeringStatus(bare), { mode: undefined, model: undefined });
});

test("the status bar items say the mode and model, their tooltips which agent", () => {
  const status = steeringStatus(agentState({ modes: { currentModeId: "plan", availableModes: [{ id: "plan", name: "Plan", description: "Only plan" }] } }));
  assert.equal(status.mode?.text, "Mode: Plan");
  assert.match(status.mode?.tooltip ?? "", /^scripted's mode: Plan \(Only plan\)\. Click to change it\.$/);
  assert.equal(status.model?.text, "Model: Fast");
  assert.match(status.model?.tooltip ?? "", /scripted's model: Fast \(fast\)/);
});

test("steering events of the shown session and agent update the state; others are ignored", () => {
  const model = new SteeringModel();
  const event = { sessionId: "s1", turnId: null, agent: "scripted" };
  assert.equal(model.applyEvent({ ...event, kind: "modeChanged", modeId: "plan" }), false, "nothing shown yet");
  model.set("s1", agentState());
  assert.equal(model.applyEvent({ ...event, kind: "modeChanged", modeId: "plan" }), true);
  assert.equal(currentMode(model.state)?.id, "plan");
  assert.equal(model.applyEvent({ ...event, kind: "modeChanged", modeId: "plan" }), false, "no change");
  assert.equal(model.applyEvent({ ...event, kind: "configChanged", options: [{ ...MODEL, currentValue: "deep" }] }), true);
  assert.equal(currentModel(model.state)?.value, "deep");
  assert.equal(model.applyEvent({ ...event, agent: undefined, kind: "availableCommands", commands: [{ name: "say" }] }), true);
  assert.deepEqual(model.commands.map((c) => c.name), ["say"]);
  // Another session's or another agent's events are not this picker's.
  assert.equal(model.applyEvent({ ...event, sessionId: "s2", kind: "modeChanged", modeId: "default" }), false);
  assert.equal(model.applyEvent({ ...event, agent: "claude", kind: "modeChanged", modeId: "default" }), false);
  assert.equal(model.applyEvent({ ...event, kind: "text", text: "hi" }), false);
  assert.equal(currentMode(model.state)?.id, "plan");
  model.clear();
  assert.deepEqual(model.commands, []);
});

test("option values read as on/off or the value's name", () => {
  assert.equal(optionValueName(THINKING), "off");
  assert.equal(optionValueName({ ...THINKING, currentValue: true }), "on");
  assert.equal(optionValueName(MODEL), "Fast");
  assert.equal(optionValueName({ ...MODEL, currentValue: "other" }), "other");
});
