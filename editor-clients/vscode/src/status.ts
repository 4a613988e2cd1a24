/**
 * The status bar: agent, session and turn state (click to switch session, or see the log when down), and the
 * agent's mode and model (click to choose another).
 */
import * as vscode from "vscode";
import type { BridgeState } from "./core/state";
import type { StatusView } from "./core/statusText";
import { statusView, steeringStatus } from "./core/statusText";
import type { Steering } from "./steering";

export class StatusItem implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem("agentBridge.status", vscode.StatusBarAlignment.Left, 50);
  private readonly subscription: { dispose(): void };

  constructor(private readonly state: BridgeState) {
    this.item.name = "Agent Bridge";
    this.subscription = state.onChange(() => this.update());
    this.update();
    this.item.show();
  }

  private update(): void {
    const view = statusView(this.state);
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
    const down = this.state.server === "restarting" || this.state.server === "stopped";
    this.item.command = down ? "agentBridge.ui.showLog" : "agentBridge.ui.switchSession";
    this.item.backgroundColor = down ? new vscode.ThemeColor("statusBarItem.warningBackground") : undefined;
  }

  dispose(): void {
    this.subscription.dispose();
    this.item.dispose();
  }
}

export class SteeringStatus implements vscode.Disposable {
  // Right of the main item (lower priority sits further right on the left side).
  private readonly mode = vscode.window.createStatusBarItem("agentBridge.mode", vscode.StatusBarAlignment.Left, 49);
  private readonly model = vscode.window.createStatusBarItem("agentBridge.model", vscode.StatusBarAlignment.Left, 48);
  private readonly subscription: { dispose(): void };

  constructor(private readonly steering: Steering) {
    this.mode.name = "Agent Bridge: Mode";
    this.mode.command = "agentBridge.ui.chooseMode";
    this.model.name = "Agent Bridge: Model";
    this.model.command = "agentBridge.ui.chooseModel";
    this.subscription = steering.onDidChange(() => this.update());
    this.update();
  }

  private update(): void {
    const view = steeringStatus(this.steering.model.state);
    show(this.mode, view.mode);
    show(this.model, view.model);
  }

  dispose(): void {
    this.subscription.dispose();
    this.mode.dispose();
    this.model.dispose();
  }
}

function show(item: vscode.StatusBarItem, view: StatusView | undefined): void {
  if (view === undefined) {
    item.hide();
    return;
  }
  item.text = view.text;
  item.tooltip = view.tooltip;
  item.show();
}
