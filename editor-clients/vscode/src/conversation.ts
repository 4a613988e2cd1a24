/**
 * The current session's conversation across reloads and windows: the chat is drawn again from
 * `agentBridge.history` when the extension starts (or the server restarts) and when you switch sessions, and
 * "Rewind to before this turn" undoes the agent's changes of that turn and every later one.
 */
import * as vscode from "vscode";
import type { BridgeApi } from "./core/api";
import { relativePath } from "./core/pendingModel";
import { rewindableTurns, rewindQuestion, rewindSummary, turnsUndoneBy } from "./core/rewind";
import type { BridgeState } from "./core/state";
import { firstLine } from "./core/state";
import type { Transcripts, TurnView } from "./core/transcript";

export interface ConversationDeps {
  api: BridgeApi;
  state: BridgeState;
  transcripts: Transcripts;
  /** The chat re-renders the session. */
  changed(sessionId: string): void;
  /** Pending changes were recomputed (after a rewind). */
  pendingChanged(sessionId: string): void;
  output: vscode.LogOutputChannel;
}

export class Conversation implements vscode.Disposable {
  /** The session whose history was last asked for: a change of the current session asks again. */
  private shown?: string;
  private readonly subscription: { dispose(): void };

  constructor(private readonly d: ConversationDeps) {
    // The first drawing waits for the server (serverReady); later changes of the current session load here.
    this.shown = d.state.currentSessionId;
    this.subscription = d.state.onChange(() => {
      if (d.state.currentSessionId !== this.shown) {
        this.shown = d.state.currentSessionId;
        if (this.shown !== undefined) {
          void this.load(this.shown);
        }
      }
    });
  }

  /** The server is (again) up: draw the current session from its history. */
  async serverReady(): Promise<void> {
    this.shown = this.d.state.currentSessionId;
    if (this.shown !== undefined) {
      await this.load(this.shown);
    }
  }

  /** Fetches the session's history and merges it into the chat; failures only log (the live stream goes on). */
  async load(sessionId: string): Promise<void> {
    try {
      const entries = await this.d.api.history(sessionId);
      this.d.output.debug(`history of ${sessionId}: ${entries.length} turns`);
      this.d.transcripts.loadHistory(sessionId, entries);
      this.d.changed(sessionId);
    } catch (error) {
      this.d.output.warn(`loading the history of ${sessionId}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /** Rewinds the current session to before `turnId` (asked for with a QuickPick when not given). */
  async rewind(turnId?: string): Promise<void> {
    const sessionId = this.d.state.currentSessionId;
    if (sessionId === undefined) {
      void vscode.window.showInformationMessage("Agent Bridge: no current session to rewind.");
      return;
    }
    await this.load(sessionId);
    const turns = this.d.transcripts.get(sessionId)?.turns ?? [];
    const target = turnId ?? (await this.pickTurn(turns));
    if (target === undefined) {
      return;
    }
    const turn = turns.find((t) => t.turnId === target);
    const undone = turnsUndoneBy(turns, target);
    const ok = await vscode.window.showWarningMessage(
      rewindQuestion(turn ?? { prompt: "" }, Math.max(undone, 1)),
      { modal: true },
      "Rewind",
    );
    if (ok !== "Rewind") {
      return;
    }
    const result = await this.d.api.rewind(sessionId, target);
    const roots = (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath);
    const summary = rewindSummary(result, (uri) => relativePath(uri, roots));
    this.d.output.info(`rewind ${sessionId} to before ${target}: ${summary}`);
    void vscode.window.showInformationMessage(`Agent Bridge: ${summary}`);
    // The `rewound` event marks the turns too; the history makes sure even if this window missed it.
    await this.load(sessionId);
    this.d.pendingChanged(sessionId);
  }

  private async pickTurn(turns: TurnView[]): Promise<string | undefined> {
    const candidates = rewindableTurns(turns);
    if (candidates.length === 0) {
      void vscode.window.showInformationMessage("Agent Bridge: no turn of this session to rewind.");
      return undefined;
    }
    // Newest first: rewinding usually undoes the last turn or two.
    const items = [...candidates].reverse().map((t) => {
      const n = turnsUndoneBy(turns, t.turnId);
      return {
        label: firstLine(t.prompt) || t.turnId,
        description: `${t.agent} · ${t.status}`,
        detail: `undoes ${n} turn${n === 1 ? "" : "s"}`,
        turnId: t.turnId,
      };
    });
    const pick = await vscode.window.showQuickPick(items, { placeHolder: "Rewind to before which turn?" });
    return pick?.turnId;
  }

  dispose(): void {
    this.subscription.dispose();
  }
}
