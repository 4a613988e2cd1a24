/** Routes `agentBridge/event` notifications to the state, the chat transcript and the review views. */
import * as vscode from "vscode";
import type { BridgeEvent } from "./core/protocol";
import { asBridgeEvent } from "./core/protocol";
import type { BridgeState } from "./core/state";
import type { Transcripts } from "./core/transcript";

export interface EventSinks {
  /** The chat view re-renders the session (throttled on its side). */
  transcriptChanged(sessionId: string): void;
  /** Pending hunks of a session changed: the tree and open diff documents refresh. */
  pendingChanged(sessionId: string): void;
  /** Every event: the mode and model pickers and the `/` completions follow the agent's steering events. */
  steering(event: BridgeEvent): void;
}

export class EventRouter {
  constructor(
    private readonly state: BridgeState,
    private readonly transcripts: Transcripts,
    private readonly sinks: EventSinks,
    private readonly output: vscode.LogOutputChannel,
  ) {}

  handle(params: unknown): void {
    const event = asBridgeEvent(params);
    if (event === undefined) {
      this.output.debug(`ignored event ${JSON.stringify(params).slice(0, 200)}`);
      return;
    }
    this.state.applyEvent(event);
    this.sinks.steering(event);
    if (this.transcripts.apply(event)) {
      this.sinks.transcriptChanged(event.sessionId);
    }
    // A rewind and a catch-up recompute the pending hunks (a catch-up may turn some into conflicts).
    if (event.kind === "pendingChanged" || event.kind === "turnEnded" || event.kind === "rewound" || event.kind === "synced") {
      this.sinks.pendingChanged(event.sessionId);
    }
    this.notify(event);
  }

  private notify(event: BridgeEvent): void {
    if (event.kind === "turnEnded" && event.status === "failed") {
      const message = `Agent Bridge: the ${event.agent ?? "agent"} turn failed${event.error ? `: ${event.error}` : ""}`;
      this.output.warn(message);
      void vscode.window.showErrorMessage(message, "Show Chat").then((choice) => {
        if (choice === "Show Chat") {
          void vscode.commands.executeCommand("agentBridge.chat.focus");
        }
      });
    } else if (event.kind === "notice") {
      this.output.info(`notice: ${event.message}`);
      void vscode.window.showInformationMessage(`Agent Bridge: ${event.message}`);
    }
  }
}
