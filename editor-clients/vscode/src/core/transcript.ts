/**
 * The chat transcript: folds the stream of `agentBridge/event` notifications into one view model per
 * session (turns with their text, reasoning, tool calls, permissions, plan and usage). Pure: no VS Code.
 */
import type { Entry } from "./entries";
import { permissionEntry, syncedMessage, toolEntry, usageOf } from "./entries";
import { mergeHistory } from "./history";
import type { BridgeEvent, HistoryEntry, HistoryStatus, PermissionRecord, PlanEntry, ToolCallFields, Usage } from "./protocol";

export type { Entry } from "./entries";

export interface TurnView {
  turnId: string;
  agent: string;
  prompt: string;
  status: HistoryStatus;
  stopReason?: string;
  error?: string;
  entries: Entry[];
  plan: PlanEntry[];
  usage: Usage;
  /** The turn's changes were undone by a rewind (`agentBridge.rewind`). */
  rewound: boolean;
}

export interface SessionTranscript {
  sessionId: string;
  title?: string;
  turns: TurnView[];
  /** Events outside any turn (notices on start, resumption problems). */
  notices: string[];
  pending: { files: number; hunks: number };
}

/** Turns kept per session; older ones are dropped from the view (the agent keeps its own history). */
export const MAX_TURNS = 100;

export class Transcripts {
  private readonly sessions = new Map<string, SessionTranscript>();

  get(sessionId: string): SessionTranscript | undefined {
    return this.sessions.get(sessionId);
  }

  /** Records a prompt the user just sent, before the server's `turnStarted` arrives. */
  startTurn(sessionId: string, turnId: string, agent: string, prompt: string): void {
    const turn = this.turn(this.session(sessionId), turnId);
    turn.agent = turn.agent || agent;
    turn.prompt = turn.prompt || prompt;
  }

  /** Redraws a session from `agentBridge.history` (after a reload, or on switching to it). Turns this window
   * streamed keep what it saw (reasoning and the order of text and tools are not in the history). */
  loadHistory(sessionId: string, entries: HistoryEntry[]): void {
    const session = this.session(sessionId);
    session.turns = mergeHistory(session.turns, entries);
    if (session.turns.length > MAX_TURNS) {
      session.turns.splice(0, session.turns.length - MAX_TURNS);
    }
  }

  forget(sessionId: string): void {
    this.sessions.delete(sessionId);
  }

  /** Folds one event in; returns whether the view changed. */
  apply(event: BridgeEvent): boolean {
    const session = this.session(event.sessionId);
    if (event.kind === "pendingChanged") {
      session.pending = { files: event.files, hunks: event.hunks };
      return true;
    }
    if (event.kind === "sessionInfo") {
      session.title = event.title;
      return true;
    }
    if (event.kind === "rewound") {
      // Marks only the turns this window knows; one it never saw has nothing to draw the mark on.
      const undone = new Set(event.turnIds);
      for (const turn of session.turns) {
        turn.rewound ||= undone.has(turn.turnId);
      }
      return true;
    }
    if (event.kind === "synced") {
      const message = syncedMessage(event.files.length, event.conflicts);
      if (event.turnId === null) {
        session.notices.push(message);
      } else {
        this.turn(session, event.turnId).entries.push({ type: "notice", message });
      }
      return true;
    }
    if (event.turnId === null) {
      if (event.kind === "notice") {
        session.notices.push(event.message);
        return true;
      }
      return false;
    }
    const turn = this.turn(session, event.turnId);
    if (event.agent && !turn.agent) {
      turn.agent = event.agent;
    }
    switch (event.kind) {
      case "turnStarted":
        turn.prompt = event.prompt;
        if (turn.status === "queued") {
          turn.status = "running";
        }
        if (event.agent) {
          turn.agent = event.agent;
        }
        return true;
      case "text":
      case "reasoning":
        appendText(turn, event.kind, event.text);
        return true;
      case "toolCall":
        upsertTool(turn, event);
        return true;
      case "permission":
        upsertPermission(turn, event);
        return true;
      case "plan":
        turn.plan = event.entries.map((e) => ({ ...e }));
        return true;
      case "usage":
        turn.usage = { ...turn.usage, ...usageOf(event) };
        return true;
      case "notice":
        turn.entries.push({ type: "notice", message: event.message });
        return true;
      case "turnEnded":
        turn.status = event.status;
        turn.stopReason = event.stopReason;
        turn.error = event.error;
        return true;
      default:
        return false;
    }
  }

  private session(sessionId: string): SessionTranscript {
    let session = this.sessions.get(sessionId);
    if (session === undefined) {
      session = { sessionId, turns: [], notices: [], pending: { files: 0, hunks: 0 } };
      this.sessions.set(sessionId, session);
    }
    return session;
  }

  private turn(session: SessionTranscript, turnId: string): TurnView {
    let turn = session.turns.find((t) => t.turnId === turnId);
    if (turn === undefined) {
      turn = { turnId, agent: "", prompt: "", status: "running", entries: [], plan: [], usage: {}, rewound: false };
      session.turns.push(turn);
      if (session.turns.length > MAX_TURNS) {
        session.turns.splice(0, session.turns.length - MAX_TURNS);
      }
    }
    return turn;
  }
}

function appendText(turn: TurnView, type: "text" | "reasoning", text: string): void {
  const last = turn.entries[turn.entries.length - 1];
  if (last !== undefined && last.type === type) {
    last.text += text;
  } else {
    turn.entries.push({ type, text });
  }
}

function upsertTool(turn: TurnView, event: ToolCallFields): void {
  const entry = toolEntry(event);
  const index = turn.entries.findIndex((e) => e.type === "tool" && e.call.toolCallId === event.toolCallId);
  if (index >= 0) {
    turn.entries[index] = entry;
  } else {
    turn.entries.push(entry);
  }
}

function upsertPermission(turn: TurnView, event: PermissionRecord): void {
  const entry = permissionEntry(event);
  const index = event.toolCallId === undefined ? -1 : turn.entries.findIndex(
    (e) => e.type === "permission" && e.toolCallId === event.toolCallId,
  );
  if (index >= 0) {
    turn.entries[index] = entry;
  } else {
    turn.entries.push(entry);
  }
}
