/**
 * Steering the agent of the current session: its modes, its model (an ACP config option) and its slash
 * commands, as `agentBridge.agentState` reports them and `modeChanged` / `configChanged` / `availableCommands`
 * events keep them current. Pure: no VS Code; the chat header, the status bar and the pickers read it.
 */
import type { AgentCommand, AgentStateResult, BridgeEvent, ConfigOption, ConfigValue, ModeInfo } from "./protocol";

/** One entry of a mode or model picker. */
export interface Choice {
  id: string;
  label: string;
  description?: string;
  picked: boolean;
}

/** The option that chooses the model: category "model" (ACP's hint), else the one with id "model". */
export function modelOption(options: readonly ConfigOption[]): ConfigOption | undefined {
  const selects = options.filter((o) => o.type === "select");
  return selects.find((o) => o.category === "model") ?? selects.find((o) => o.id === "model");
}

/** A select option's values, its groups (ACP allows grouping them) flattened in order. */
export function selectValues(option: ConfigOption): ConfigValue[] {
  const values: ConfigValue[] = [];
  for (const entry of option.options ?? []) {
    if ("group" in entry && Array.isArray(entry.options)) {
      values.push(...entry.options);
    } else if ("value" in entry && typeof entry.value === "string") {
      values.push(entry);
    }
  }
  return values;
}

export function currentMode(state: AgentStateResult | undefined): ModeInfo | undefined {
  const modes = state?.modes;
  if (!modes) {
    return undefined;
  }
  return modes.availableModes.find((m) => m.id === modes.currentModeId)
    ?? (modes.currentModeId ? { id: modes.currentModeId, name: modes.currentModeId } : undefined);
}

/** The model chosen now: its value and display name (the value itself when the agent names no such value). */
export function currentModel(state: AgentStateResult | undefined): { optionId: string; value: string; name: string } | undefined {
  const option = state === undefined ? undefined : modelOption(state.configOptions);
  if (option === undefined || typeof option.currentValue !== "string") {
    return undefined;
  }
  const value = option.currentValue;
  const name = selectValues(option).find((v) => v.value === value)?.name || value;
  return { optionId: option.id, value, name };
}

export function modeChoices(state: AgentStateResult | undefined): Choice[] {
  const modes = state?.modes;
  if (!modes) {
    return [];
  }
  return modes.availableModes.map((m) => ({
    id: m.id, label: m.name || m.id, description: m.description ?? undefined, picked: m.id === modes.currentModeId,
  }));
}

export function modelChoices(state: AgentStateResult | undefined): Choice[] {
  const option = state === undefined ? undefined : modelOption(state.configOptions);
  if (option === undefined) {
    return [];
  }
  return selectValues(option).map((v) => ({
    id: v.value, label: v.name || v.value, description: v.description ?? undefined, picked: v.value === option.currentValue,
  }));
}

/** An option's current value as the user reads it: a boolean's "on" / "off", a select value's name. */
export function optionValueName(option: ConfigOption): string {
  if (typeof option.currentValue === "boolean") {
    return option.currentValue ? "on" : "off";
  }
  return selectValues(option).find((v) => v.value === option.currentValue)?.name || option.currentValue;
}

/** "Mode: Plan · Model: Deep": the header line and the status bar read the same words. */
export function steeringSummary(state: AgentStateResult | undefined): string {
  const parts: string[] = [];
  const mode = currentMode(state);
  const model = currentModel(state);
  if (mode !== undefined) {
    parts.push(`Mode: ${mode.name}`);
  }
  if (model !== undefined) {
    parts.push(`Model: ${model.name}`);
  }
  return parts.join(" · ");
}

/** What the chat header's pickers show: the agent, its modes and models (empty lists hide a picker). */
export interface SteeringView {
  agent?: string;
  modes: Choice[];
  models: Choice[];
  modelOptionId?: string;
  summary: string;
}

export function steeringView(state: AgentStateResult | undefined): SteeringView {
  return {
    agent: state?.agent,
    modes: modeChoices(state),
    models: modelChoices(state),
    modelOptionId: state === undefined ? undefined : modelOption(state.configOptions)?.id,
    summary: steeringSummary(state),
  };
}

/**
 * The agent state of one session and agent, as last reported. `applyEvent` folds the steering events of that
 * session in (an event naming another agent is ignored: its state is not the one shown).
 */
export class SteeringModel {
  sessionId?: string;
  state?: AgentStateResult;

  set(sessionId: string, state: AgentStateResult): void {
    this.sessionId = sessionId;
    this.state = state;
  }

  clear(): void {
    this.sessionId = undefined;
    this.state = undefined;
  }

  get commands(): AgentCommand[] {
    return this.state?.commands ?? [];
  }

  /** Returns whether the event changed what is shown. */
  applyEvent(event: BridgeEvent): boolean {
    const state = this.state;
    if (state === undefined || event.sessionId !== this.sessionId || (event.agent !== undefined && event.agent !== state.agent)) {
      return false;
    }
    switch (event.kind) {
      case "modeChanged":
        if (state.modes === null || state.modes.currentModeId === event.modeId) {
          return false;
        }
        this.state = { ...state, modes: { ...state.modes, currentModeId: event.modeId } };
        return true;
      case "configChanged":
        if (!Array.isArray(event.options)) {
          return false;
        }
        this.state = { ...state, configOptions: event.options };
        return true;
      case "availableCommands":
        if (!Array.isArray(event.commands)) {
          return false;
        }
        this.state = { ...state, commands: event.commands };
        return true;
      default:
        return false;
    }
  }
}
