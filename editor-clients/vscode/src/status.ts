/** The status bar item: agent, session and turn state; click to switch session (or see the log when down). */
import * as vscode from "vscode";
import type { BridgeState } from "./core/state";
import { statusView } from "./core/statusText";

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
