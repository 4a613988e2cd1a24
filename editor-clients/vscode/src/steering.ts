/**
 * The agent's mode and model for the current session: fetched with `agentBridge.agentState` when the session,
 * the agent or the server changes, kept current from `modeChanged` / `configChanged` / `availableCommands`
 * events, and changed with `agentBridge.setMode` / `setOption` from the chat header, the status bar or the
 * palette (QuickPicks).
 */
import * as vscode from "vscode";
import type { BridgeApi } from "./core/api";
import type { AgentStateResult, BridgeEvent } from "./core/protocol";
import type { BridgeState } from "./core/state";
import type { Choice } from "./core/steering";
import {
  currentModel, modeChoices, modelChoices, modelOption, optionValueName, selectValues, SteeringModel,
} from "./core/steering";

const STEERING_EVENTS: ReadonlySet<string> = new Set(["modeChanged", "configChanged", "availableCommands"]);
/** Events of an agent whose state is not known yet ask for it, once per burst. */
const REFRESH_DELAY_MS = 200;

export class Steering implements vscode.Disposable {
  readonly model = new SteeringModel();
  private readonly emitter = new vscode.EventEmitter<void>();
  readonly onDidChange = this.emitter.event;
  /** What the shown state is for (session, agent, server up): a change asks the server again. */
  private shownKey = "";
  /** Answers to older requests are dropped: the session may have changed meanwhile. */
  private requests = 0;
  private timer?: ReturnType<typeof setTimeout>;
  private readonly subscription: { dispose(): void };

  constructor(
    private readonly api: BridgeApi,
    private readonly state: BridgeState,
    private readonly output: vscode.LogOutputChannel,
  ) {
    this.subscription = state.onChange(() => {
      const key = this.key();
      if (key !== this.shownKey) {
        this.shownKey = key;
        void this.refresh();
      }
    });
  }

  /** The agent the next prompt goes to; undefined lets the server pick (the session's last, else its default). */
  private get agent(): string | undefined {
    return this.state.chosenAgent || this.state.defaultAgent || undefined;
  }

  private key(): string {
    return JSON.stringify([this.state.currentSessionId, this.agent, this.state.server]);
  }

  /** Asks the server for the current session's agent state (starting the agent if it is not running). */
  async refresh(): Promise<void> {
    const sessionId = this.state.currentSessionId;
    const request = ++this.requests;
    if (sessionId === undefined || this.state.server !== "running") {
      if (this.model.state !== undefined) {
        this.model.clear();
        this.emitter.fire();
      }
      return;
    }
    try {
      const result = await this.api.agentState(sessionId, this.agent);
      if (request === this.requests) {
        this.model.set(sessionId, result);
        this.emitter.fire();
      }
    } catch (error) {
      this.output.warn(`agent state of ${sessionId}: ${message(error)}`);
      if (request === this.requests && this.model.state !== undefined) {
        this.model.clear();
        this.emitter.fire();
      }
    }
  }

  /** A steering event of the current session updates what is shown, or asks again when it is not known. */
  handleEvent(event: BridgeEvent): void {
    if (!STEERING_EVENTS.has(event.kind) || event.sessionId !== this.state.currentSessionId) {
      return;
    }
    if (this.model.applyEvent(event)) {
      this.emitter.fire();
    } else if (this.model.state === undefined || this.model.sessionId !== event.sessionId) {
      this.scheduleRefresh();
    }
  }

  private scheduleRefresh(): void {
    if (this.timer === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.refresh();
      }, REFRESH_DELAY_MS);
    }
  }

  async setMode(modeId: string): Promise<void> {
    const sessionId = this.requireSession();
    if (sessionId === undefined) {
      return;
    }
    await this.change(sessionId, `mode ${modeId}`, () => this.api.setMode(sessionId, modeId, this.agent));
  }

  async setOption(optionId: string, value: string | boolean): Promise<void> {
    const sessionId = this.requireSession();
    if (sessionId === undefined) {
      return;
    }
    await this.change(sessionId, `${optionId} ${String(value)}`, () => this.api.setOption(sessionId, optionId, value, this.agent));
  }

  /** The QuickPick of the agent's modes (status bar, palette). */
  async chooseMode(): Promise<void> {
    await this.ensureState();
    const choices = modeChoices(this.model.state);
    const pick = await this.pick(choices, "modes", "Mode for the next prompts");
    if (pick !== undefined) {
      await this.setMode(pick);
    }
  }

  /** The QuickPick of the agent's models (status bar, palette). */
  async chooseModel(): Promise<void> {
    await this.ensureState();
    const option = this.model.state === undefined ? undefined : modelOption(this.model.state.configOptions);
    const pick = await this.pick(modelChoices(this.model.state), "models", `Model for the next prompts (now ${currentModel(this.model.state)?.name ?? "unknown"})`);
    if (pick !== undefined && option !== undefined) {
      await this.setOption(option.id, pick);
    }
  }

  /** Any of the agent's config options (e.g. a thinking switch): a boolean flips, a select offers its values. */
  async chooseOption(): Promise<void> {
    await this.ensureState();
    if (this.requireSession() === undefined) {
      return;
    }
    const options = this.model.state?.configOptions ?? [];
    if (options.length === 0) {
      void vscode.window.showInformationMessage(`Agent Bridge: ${this.model.state?.agent ?? "the agent"} offers no options.`);
      return;
    }
    const option = (await vscode.window.showQuickPick(
      options.map((o) => ({ label: o.name || o.id, description: optionValueName(o), detail: o.description ?? undefined, option: o })),
      { placeHolder: "Agent option to change" },
    ))?.option;
    if (option === undefined) {
      return;
    }
    if (typeof option.currentValue === "boolean") {
      await this.setOption(option.id, !option.currentValue);
      return;
    }
    const choices = selectValues(option).map((v) => ({
      label: `${v.value === option.currentValue ? "$(check) " : ""}${v.name || v.value}`, description: v.description ?? undefined, id: v.value,
    }));
    const pick = await vscode.window.showQuickPick(choices, { placeHolder: option.name || option.id });
    if (pick !== undefined) {
      await this.setOption(option.id, pick.id);
    }
  }

  private async ensureState(): Promise<void> {
    if (this.model.state === undefined || this.model.sessionId !== this.state.currentSessionId) {
      await this.refresh();
    }
  }

  private async pick(choices: Choice[], what: string, placeHolder: string): Promise<string | undefined> {
    if (this.requireSession() === undefined) {
      return undefined;
    }
    if (choices.length === 0) {
      void vscode.window.showInformationMessage(`Agent Bridge: ${this.model.state?.agent ?? "the agent"} offers no ${what}.`);
      return undefined;
    }
    const items = choices.map((c) => ({
      label: `${c.picked ? "$(check) " : ""}${c.label}`, description: c.description, id: c.id,
    }));
    return (await vscode.window.showQuickPick(items, { placeHolder }))?.id;
  }

  private requireSession(): string | undefined {
    const sessionId = this.state.currentSessionId;
    if (sessionId === undefined) {
      void vscode.window.showInformationMessage(
        "Agent Bridge: the mode and model belong to a session; send a first prompt (or switch to a session) to choose them.",
      );
    }
    return sessionId;
  }

  /** Runs a change; its result is the state shown. A refusal is shown as an error and the state asked again. */
  private async change(sessionId: string, what: string, call: () => Promise<AgentStateResult>): Promise<void> {
    const request = ++this.requests;
    try {
      const result = await call();
      this.output.info(`${sessionId}: ${result.agent} set to ${what}`);
      if (request === this.requests) {
        this.model.set(sessionId, result);
        this.emitter.fire();
      }
    } catch (error) {
      this.output.error(`setting ${what} in ${sessionId}: ${message(error)}`);
      void vscode.window.showErrorMessage(`Agent Bridge: ${message(error)}`);
      await this.refresh();
    }
  }

  dispose(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
    }
    this.subscription.dispose();
    this.emitter.dispose();
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
